//! A deterministic sample news portal in the layout of 山西大院资讯网, and a server for it.
//!
//! Tests, benchmarks and `tidings demo` need an offline site that the real site's scraping
//! recipe works on: the same paths (`/gsyl/{slug}/{id}.html`, `/gsyl/{slug}/index_2.html`,
//! `/rss/province.xml`, `/atom/culture.xml`, `/tag/{tag}.html`), the same CSS classes and
//! the same tricky bits (hostile tags such as `R&D` and `<新>`, relative image paths,
//! sidebars and scripts around the article). [`generate`] builds the whole site in memory
//! together with its ground truth ([`Truth`], also served as `/manifest.json`);
//! [`PortalServer`] serves it over HTTP with `ETag`/`Last-Modified` and can swap it at run
//! time, which is how tests move the site from one epoch (or [`Variant`]) to the next.
//!
//! ```
//! use tidings::portal::{PortalParams, PortalServer, generate};
//!
//! # async fn demo() -> std::io::Result<()> {
//! // Bind first so the site's absolute links (feeds, guids) point at the server itself.
//! let (listener, base_url) = PortalServer::bind("127.0.0.1:0".parse().unwrap()).await?;
//! let params = PortalParams { base_url, ..PortalParams::default() };
//! let server = PortalServer::serve(listener, generate(&params))?;
//! // … poll server.base_url() + "/gsyl/jinzhong/" …
//! server.replace(generate(&PortalParams { epoch: 1, ..params }));
//! assert_eq!(server.hits("/gsyl/jinzhong/index.html"), 0);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - `content`: the PRNG (splitmix64, so output never changes with a dependency) and the
//!   vocabulary: regions, tags, titles, authors, bodies.
//! - `model`: every page of every channel, built for epoch 0 and then changed epoch by epoch.
//! - `site`: indexes over the model (listings, tags, neighbours) and the file map.
//! - `html`, `listing`, `feeds`, `assets`: article pages and chrome, listings and the
//!   home page, RSS/Atom, static files.
//! - `server`: the axum server with hit counting.

mod assets;
mod content;
mod feeds;
mod html;
mod listing;
mod model;
mod server;
#[cfg(test)]
mod server_tests;
mod site;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};

pub use server::{PortalServer, PortalState, router};

use content::REGIONS;
use model::Channel;
use site::Site;

/// Region article ids are shifted by this much in [`Variant::MovedUrls`].
pub const MOVED_ID_OFFSET: u64 = 100_000;

/// What to generate. The same params always give byte-identical output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalParams {
    /// Seed of all random choices.
    pub seed: u64,
    /// Use the first `regions` of the 11 cities (values above 11 mean 11).
    pub regions: usize,
    /// Base articles per region (capped at 200).
    pub per_region: usize,
    /// Entries per listing page (0 means 1).
    pub per_page: usize,
    /// Simulated time step; epoch K is epoch K−1 plus new, edited and removed articles.
    pub epoch: u32,
    /// Origin for absolute URLs (feed links, guids, the "本文地址" line, `canonical_url`).
    pub base_url: String,
    /// Markup and URL variant.
    pub variant: Variant,
}

impl Default for PortalParams {
    fn default() -> Self {
        PortalParams {
            seed: 1453,
            regions: 11,
            per_region: 30,
            per_page: 20,
            epoch: 0,
            base_url: "http://www.shanxidayuan.com".to_string(),
            variant: Variant::Standard,
        }
    }
}

/// How the site deviates from the standard layout (for selector-drift and flood tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Variant {
    /// The layout described by the fixture README.
    #[default]
    Standard,
    /// Listing entries (region, channel, tag and home lists) use
    /// `div.article-list > div.item` with `h4.item-title > a`, `div.item-intro` and
    /// `em.pubtime` instead of `ul.news-list > li`; article pages are unchanged.
    DriftedListing,
    /// Every region article is served at `/gsyl/{slug}/{id + MOVED_ID_OFFSET}.html` (its id
    /// shifted by [`MOVED_ID_OFFSET`]) with the same title and dates; the old URLs are 404.
    MovedUrls,
}

/// A generated site: every file by path, and its ground truth.
#[derive(Debug, Clone)]
pub struct Portal {
    /// File contents keyed by decoded root path, e.g. `/gsyl/jinzhong/1453.html`,
    /// `/tag/R&D.html`; directory indexes are stored as `…/index.html`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// What a perfect scraper would extract.
    pub truth: Truth,
}

impl Portal {
    /// Writes every file under `dir` (paths keep their raw UTF-8 names, e.g. `tag/<新>.html`).
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<()> {
        for (path, bytes) in &self.files {
            let file = dir.join(path.trim_start_matches('/'));
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(file, bytes)?;
        }
        Ok(())
    }
}

/// Ground truth of a generated site (served as `/manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Origin of every absolute URL.
    pub base_url: String,
    /// The chosen regions, in portal order.
    pub regions: Vec<RegionTruth>,
    /// Region (`gsyl`) articles by id, including those removed from the listings.
    pub articles: Vec<ArticleTruth>,
    /// `sxyw` and `wenhua` pages by id.
    pub feed_pages: Vec<ArticleTruth>,
    /// The RSS feed, then the Atom feed.
    pub feeds: Vec<FeedTruth>,
    /// Every tag page, sorted by tag.
    pub tags: Vec<TagTruth>,
}

/// One region and its listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionTruth {
    /// Display name, e.g. `晋中`.
    pub name: String,
    /// Slug, e.g. `jinzhong`.
    pub slug: String,
    /// Path of listing page 1, e.g. `/gsyl/jinzhong/index.html`.
    pub listing: String,
    /// Number of listing pages (at least 1).
    pub pages: usize,
    /// Ids in listing order, newest first.
    pub listed_ids: Vec<u64>,
}

/// What a scraper should extract from one article page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleTruth {
    /// Numeric id (one sequence across channels, growing with publish time).
    pub id: u64,
    /// Root path of the page.
    pub path: String,
    /// `base_url` + `path`.
    pub canonical_url: String,
    /// `gsyl`, `sxyw` or `wenhua`.
    pub category: String,
    /// Display name of the region (`山西` for `sxyw`).
    pub region: String,
    /// Region slug (`shanxi` for `sxyw`).
    pub region_slug: String,
    /// Current title.
    pub title: String,
    /// Author byline as shown.
    pub author: String,
    /// Publish time in UTC+8.
    pub published: DateTime<FixedOffset>,
    /// Tags in page order.
    pub tags: Vec<String>,
    /// Comment count shown in the meta line.
    pub comments: u32,
    /// The listing summary.
    pub summary: String,
    /// Epoch that added the page.
    pub epoch_added: u32,
    /// Epoch that changed the title, if any.
    pub edited_epoch: Option<u32>,
    /// The title before the edit.
    pub original_title: Option<String>,
    /// Whether the page is on the listings (region articles can be removed; pages stay).
    pub listed: bool,
    /// Root paths of the body's images, in page order.
    pub image_paths: Vec<String>,
}

/// One feed and its items in feed order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedTruth {
    /// `/rss/province.xml` or `/atom/culture.xml`.
    pub path: String,
    /// `rss2` or `atom`.
    pub format: String,
    /// Items, newest first.
    pub items: Vec<FeedItemTruth>,
}

/// One feed item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedItemTruth {
    /// Id of the page the item points at.
    pub id: u64,
    /// RSS guid or Atom id.
    pub guid: String,
    /// Absolute link.
    pub link: String,
    /// Root path of the page.
    pub page: String,
    /// Current title.
    pub title: String,
    /// Author.
    pub author: String,
    /// Publish time in UTC+8.
    pub published: DateTime<FixedOffset>,
    /// Categories (tags) in feed order.
    pub categories: Vec<String>,
}

/// One tag page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagTruth {
    /// The tag as shown.
    pub tag: String,
    /// Percent-encoded path, e.g. `/tag/R%26D.html`.
    pub path: String,
    /// Listed region articles carrying the tag (the length of its page).
    pub listed_count: usize,
}

/// Generates the whole site for `params`.
pub fn generate(params: &PortalParams) -> Portal {
    let regions = params.regions.min(REGIONS.len());
    let per_region = params.per_region.min(model::MAX_PER_REGION);
    let mut arts = model::build(params.seed, regions, per_region, params.epoch);
    if params.variant == Variant::MovedUrls {
        for a in arts.iter_mut().filter(|a| a.channel == Channel::Gsyl) {
            a.id += MOVED_ID_OFFSET;
        }
        arts.sort_by_key(|a| a.id);
    }
    let site = Site::new(params, regions, arts);
    let truth = truth(&site);
    let mut files = site.render();
    // Serializing plain structs with string keys cannot fail.
    files.insert(
        "/manifest.json".to_string(),
        serde_json::to_vec_pretty(&truth).unwrap_or_default(),
    );
    Portal { files, truth }
}

/// Converts a UTC+8 wall-clock time.
fn cst(t: NaiveDateTime) -> DateTime<FixedOffset> {
    // 8 hours is well within the ±24 h that FixedOffset accepts.
    let offset = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    DateTime::from_naive_utc_and_offset(t - TimeDelta::hours(8), offset)
}

fn article_truth(site: &Site, i: usize) -> ArticleTruth {
    let a = &site.arts[i];
    let (region, region_slug) = match (a.channel, a.region) {
        (Channel::Sxyw, _) | (_, None) => ("山西", "shanxi"),
        (_, Some(r)) => (REGIONS[r].name, REGIONS[r].slug),
    };
    ArticleTruth {
        id: a.id,
        path: a.path(),
        canonical_url: format!("{}{}", site.base, a.path()),
        category: a.channel.name().to_string(),
        region: region.to_string(),
        region_slug: region_slug.to_string(),
        title: a.title.clone(),
        author: a.author.clone(),
        published: cst(a.published),
        tags: a.tags.clone(),
        comments: a.comments,
        summary: site.summaries[i].clone(),
        epoch_added: a.epoch_added,
        edited_epoch: a.edited_epoch,
        original_title: a.original_title.clone(),
        listed: a.listed(),
        image_paths: a.image_urls(),
    }
}

fn feed_truth(site: &Site, path: &str, format: &str, items: &[usize]) -> FeedTruth {
    let items = items.iter().map(|&i| {
        let a = &site.arts[i];
        let guid = if format == "atom" {
            feeds::atom_id(a)
        } else {
            feeds::rss_guid(site, a)
        };
        FeedItemTruth {
            id: a.id,
            guid,
            link: format!("{}{}", site.base, a.path()),
            page: a.path(),
            title: a.title.clone(),
            author: a.author.clone(),
            published: cst(a.published),
            categories: a.tags.clone(),
        }
    });
    FeedTruth {
        path: path.to_string(),
        format: format.to_string(),
        items: items.collect(),
    }
}

fn truth(site: &Site) -> Truth {
    let regions = site.by_region.iter().enumerate().map(|(r, items)| RegionTruth {
        name: REGIONS[r].name.to_string(),
        slug: REGIONS[r].slug.to_string(),
        listing: format!("/gsyl/{}/index.html", REGIONS[r].slug),
        pages: items.len().div_ceil(site.per_page).max(1),
        listed_ids: items.iter().map(|&i| site.arts[i].id).collect(),
    });
    let pick = |pred: fn(Channel) -> bool| {
        (0..site.arts.len())
            .filter(|&i| pred(site.arts[i].channel))
            .map(|i| article_truth(site, i))
            .collect()
    };
    let tags = site.tags.iter().map(|(tag, items)| TagTruth {
        tag: tag.clone(),
        path: Site::tag_path(tag),
        listed_count: items.len(),
    });
    Truth {
        base_url: site.base.clone(),
        regions: regions.collect(),
        articles: pick(|c| c == Channel::Gsyl),
        feed_pages: pick(|c| c != Channel::Gsyl),
        feeds: vec![
            feed_truth(site, feeds::RSS_PATH, "rss2", feeds::rss_items(site)),
            feed_truth(site, feeds::ATOM_PATH, "atom", feeds::atom_items(site)),
        ],
        tags: tags.collect(),
    }
}
