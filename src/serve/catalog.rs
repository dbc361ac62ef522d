//! What feeds exist: the configured and stored regions, the stored tags and the configured
//! sources, with item counts. Names in URLs resolve against it, and the index page, the
//! OPML export and `tidings render` list it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::render::FeedKind;
use crate::store::{Facet, StoreError};

/// One region that has a feed: configured, or found on stored items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionEntry {
    /// Slug, e.g. `jinzhong`.
    pub slug: String,
    /// Display name, e.g. `晋中`.
    pub name: String,
    /// Other names, e.g. `晋中市`.
    pub aliases: Vec<String>,
    /// Whether the region is configured (else it is only known from stored items).
    pub configured: bool,
    /// Stored items.
    pub count: i64,
    /// Latest `updated` among them.
    pub last_updated: Option<DateTime<Utc>>,
}

/// One configured source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceEntry {
    /// Source id.
    pub id: String,
    /// Display name from the recipe.
    pub title: String,
    /// Whether it is polled.
    pub enabled: bool,
    /// Stored items.
    pub count: i64,
    /// Latest `updated` among them.
    pub last_updated: Option<DateTime<Utc>>,
}

/// Every region, tag and source that has a feed, for one store version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// Configured regions in configuration order, then regions known only from items, by slug.
    pub regions: Vec<RegionEntry>,
    /// Tags with stored items, most used first.
    pub tags: Vec<Facet>,
    /// Configured sources, by id.
    pub sources: Vec<SourceEntry>,
    /// Latest `updated` of any item; 1970-01-01 when there are none.
    pub last_updated: DateTime<Utc>,
}

impl Catalog {
    /// Reads the facets from the store and joins them with the configuration.
    pub async fn load(app: &App) -> Result<Catalog, StoreError> {
        let region_facets = app.store.region_facets().await?;
        let tags = app.store.tag_facets().await?;
        let source_facets = app.store.source_facets().await?;
        Ok(Self::assemble(app, region_facets, tags, source_facets))
    }

    fn assemble(
        app: &App,
        region_facets: Vec<Facet>,
        tags: Vec<Facet>,
        source_facets: Vec<Facet>,
    ) -> Catalog {
        let facet = |facets: &[Facet], key: &str| facets.iter().find(|f| f.key == key).cloned();
        let mut regions: Vec<RegionEntry> = app
            .config
            .regions
            .regions()
            .iter()
            .map(|r| {
                let f = facet(&region_facets, &r.slug);
                RegionEntry {
                    slug: r.slug.clone(),
                    name: r.name.clone(),
                    aliases: r.aliases.clone(),
                    configured: true,
                    count: f.as_ref().map_or(0, |f| f.count),
                    last_updated: f.and_then(|f| f.last_updated),
                }
            })
            .collect();
        let unknown: Vec<RegionEntry> = region_facets
            .iter()
            .filter(|f| !regions.iter().any(|r| r.slug == f.key))
            .map(|f| RegionEntry {
                slug: f.key.clone(),
                name: f.name.clone(),
                aliases: Vec::new(),
                configured: false,
                count: f.count,
                last_updated: f.last_updated,
            })
            .collect();
        regions.extend(unknown);
        let sources = app
            .config
            .sources
            .iter()
            .map(|s| {
                let f = facet(&source_facets, &s.id);
                SourceEntry {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    enabled: s.enabled,
                    count: f.as_ref().map_or(0, |f| f.count),
                    last_updated: f.and_then(|f| f.last_updated),
                }
            })
            .collect();
        let last_updated = source_facets
            .iter()
            .filter_map(|f| f.last_updated)
            .max()
            .unwrap_or(DateTime::UNIX_EPOCH);
        Catalog {
            regions,
            tags,
            sources,
            last_updated,
        }
    }

    /// The region named by a slug (ASCII case-insensitive), display name or alias.
    pub fn region(&self, name: &str) -> Option<&RegionEntry> {
        let name = name.trim();
        self.regions.iter().find(|r| {
            r.slug.eq_ignore_ascii_case(name) || r.name == name || r.aliases.iter().any(|a| a == name)
        })
    }

    /// The tag, if stored items carry it.
    pub fn tag(&self, tag: &str) -> Option<&Facet> {
        self.tags.iter().find(|t| t.key == tag)
    }

    /// The configured source with this id.
    pub fn source(&self, id: &str) -> Option<&SourceEntry> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// Every unfiltered feed: all items, each region, each tag, each source, in that order,
    /// with the label its title uses.
    pub fn kinds(&self) -> Vec<(FeedKind, String)> {
        let mut kinds = vec![(FeedKind::All, "全部".to_owned())];
        kinds.extend(
            self.regions
                .iter()
                .map(|r| (FeedKind::Region(r.slug.clone()), r.name.clone())),
        );
        kinds.extend(
            self.tags
                .iter()
                .map(|t| (FeedKind::Tag(t.key.clone()), t.key.clone())),
        );
        kinds.extend(
            self.sources
                .iter()
                .map(|s| (FeedKind::Source(s.id.clone()), s.title.clone())),
        );
        kinds
    }
}
