//! Source recipes (`feeds/<id>.toml`): the raw TOML shape and its validated, compiled form.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use encoding_rs::Encoding;
use regex::Regex;
use scraper::Selector;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::field::{Field, FieldSpec};
use super::located::Doc;
use crate::schedule::Schedule;

/// How an article is recognised when seen again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityPolicy {
    /// The publisher's guid (feeds); HTML entries fall back to the canonical URL.
    Guid,
    /// The canonical URL.
    Url,
    /// Title plus publish date, for publishers that rewrite URLs and guids.
    TitleDate,
}

/// A validated recipe with its overrides from `config.toml` applied.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Source id: the file stem.
    pub id: String,
    /// Display name.
    pub title: String,
    /// The recipe file.
    pub file: PathBuf,
    /// Whether `run` and `poll` poll it.
    pub enabled: bool,
    /// When it is polled.
    pub schedule: Schedule,
    /// The pages' time zone, for dates without an offset.
    pub timezone: Tz,
    /// How a known article is recognised.
    pub identity: IdentityPolicy,
    /// How long a known, unchanged article goes without being fetched again.
    pub revisit: Duration,
    /// Whether robots.txt is honoured.
    pub respect_robots: bool,
    /// Whether loopback/private addresses may be fetched.
    pub allow_private: bool,
    /// A charset forced over what pages declare.
    pub charset: Option<&'static Encoding>,
    /// Date formats (chrono `strftime`) tried in order.
    pub date_formats: Vec<String>,
    /// Region for items whose page names none.
    pub region: Option<String>,
    /// Tags added to every item.
    pub tags: Vec<String>,
    /// HTML listing inputs.
    pub listings: Vec<Listing>,
    /// Feed inputs.
    pub feeds: Vec<FeedInput>,
    /// Selectors on article pages.
    pub article: Option<ArticleSelectors>,
}

/// An HTML listing input: one or more listing URLs sharing selectors.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Page 1 of each listing; each URL is judged as its own input.
    pub urls: Vec<Url>,
    /// One element per entry.
    pub entry: Selector,
    /// The article link within an entry.
    pub link: Field,
    /// Title within an entry (fallback for the article page).
    pub title: Option<Field>,
    /// Date within an entry (fallback).
    pub date: Option<Field>,
    /// Summary within an entry (fallback).
    pub summary: Option<Field>,
    /// The "next page" link on the listing page.
    pub next: Option<Field>,
    /// At most this many listing pages per poll.
    pub max_pages: u32,
    /// Region for this listing's items when their page names none.
    pub region: Option<String>,
    /// Tags added to this listing's items.
    pub tags: Vec<String>,
}

/// An RSS, Atom or JSON Feed input.
#[derive(Debug, Clone)]
pub struct FeedInput {
    /// The feed URL.
    pub url: Url,
    /// Fetch each item's page to fill body, region and tags with the article selectors.
    pub fetch_article: bool,
    /// Region for this feed's items when nothing else names one.
    pub region: Option<String>,
    /// Tags added to this feed's items.
    pub tags: Vec<String>,
}

/// Selectors applied to an article page.
#[derive(Debug, Clone)]
pub struct ArticleSelectors {
    /// Headline.
    pub title: Option<Field>,
    /// Byline.
    pub author: Option<Field>,
    /// Region name.
    pub region: Option<Field>,
    /// Publish time.
    pub published: Option<Field>,
    /// Comment count.
    pub comments: Option<Field>,
    /// Tags (every match, split on separators).
    pub tags: Option<Field>,
    /// Summary.
    pub summary: Option<Field>,
    /// Body element.
    pub body: Option<Field>,
    /// Images (every match).
    pub images: Option<Field>,
    /// One element whose text a regex with named groups splits into fields
    /// (`title`, `author`, `region`, `published`, `comments`, `tags`, `summary`).
    pub meta: Option<Field>,
    /// `<link rel="canonical">` or equivalent.
    pub canonical: Field,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    title: Option<String>,
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    identity: Option<Spanned<String>>,
    revisit: Option<Spanned<String>>,
    robots: Option<bool>,
    charset: Option<Spanned<String>>,
    date_formats: Option<Vec<String>>,
    region: Option<String>,
    tags: Option<Vec<String>>,
    #[serde(default)]
    listing: Vec<RawListing>,
    #[serde(default)]
    feed: Vec<RawFeed>,
    article: Option<RawArticle>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListing {
    urls: Vec<Spanned<String>>,
    entry: Spanned<String>,
    link: Spanned<FieldSpec>,
    title: Option<Spanned<FieldSpec>>,
    date: Option<Spanned<FieldSpec>>,
    summary: Option<Spanned<FieldSpec>>,
    next: Option<Spanned<FieldSpec>>,
    max_pages: Option<u32>,
    region: Option<String>,
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: Spanned<String>,
    fetch_article: Option<bool>,
    region: Option<String>,
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArticle {
    title: Option<Spanned<FieldSpec>>,
    author: Option<Spanned<FieldSpec>>,
    region: Option<Spanned<FieldSpec>>,
    published: Option<Spanned<FieldSpec>>,
    comments: Option<Spanned<FieldSpec>>,
    tags: Option<Spanned<FieldSpec>>,
    summary: Option<Spanned<FieldSpec>>,
    body: Option<Spanned<FieldSpec>>,
    images: Option<Spanned<FieldSpec>>,
    meta: Option<Spanned<FieldSpec>>,
    canonical: Option<Spanned<FieldSpec>>,
}

/// What a recipe falls back to when it does not say.
#[derive(Debug, Clone)]
pub struct RecipeDefaults {
    /// Default schedule.
    pub schedule: String,
    /// Default revisit period.
    pub revisit: Duration,
    /// Default listing page limit.
    pub max_pages: u32,
}

/// Overrides from `[sources.<id>]` in config.toml.
#[derive(Debug, Clone, Default)]
pub struct SourceOverride {
    /// Re-bases every URL of the recipe onto this origin.
    pub origin: Option<Url>,
    /// Enables or disables the source.
    pub enabled: Option<bool>,
    /// Replaces the recipe's schedule.
    pub schedule: Option<Spanned<String>>,
    /// Permits private/loopback addresses for this source.
    pub allow_private: Option<bool>,
}

/// The named groups a `meta` regex may use.
pub const META_GROUPS: [&str; 7] = [
    "title",
    "author",
    "region",
    "published",
    "comments",
    "tags",
    "summary",
];

const DEFAULT_DATE_FORMATS: [&str; 6] = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y/%m/%d",
    "%Y-%m-%d",
];

/// Parses and validates one recipe file, recording every mistake in `doc`.
pub fn parse_recipe(
    path: &Path,
    text: &str,
    doc: &mut Doc<'_>,
    defaults: &RecipeDefaults,
    global_allow_private: bool,
    ov: &SourceOverride,
) -> Option<Recipe> {
    let raw: RawRecipe = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            doc.toml_error(&e);
            return None;
        }
    };
    let id = path.file_stem()?.to_string_lossy().into_owned();
    let before = doc.count();

    let schedule_src = ov.schedule.as_ref().or(raw.schedule.as_ref());
    let schedule = match schedule_src {
        Some(s) => Schedule::parse(s.get_ref())
            .map_err(|e| doc.error(Some(s.span()), "schedule", e.to_string()))
            .ok(),
        None => Schedule::parse(&defaults.schedule).ok(),
    };
    let timezone = match &raw.timezone {
        Some(tz) => tz
            .get_ref()
            .parse::<Tz>()
            .map_err(|_| {
                let msg = format!(
                    "unknown time zone `{}`; use an IANA name such as `Asia/Shanghai`",
                    tz.get_ref()
                );
                doc.error(Some(tz.span()), "timezone", msg)
            })
            .ok(),
        None => Some(chrono_tz::Asia::Shanghai),
    };
    let identity = match raw.identity.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("url", _)) => Some(IdentityPolicy::Url),
        Some(("guid", _)) => Some(IdentityPolicy::Guid),
        Some(("title_date", _)) => Some(IdentityPolicy::TitleDate),
        Some((other, span)) => {
            let msg = format!("unknown identity policy `{other}`; use `url`, `guid` or `title_date`");
            doc.error(Some(span), "identity", msg);
            None
        }
    };
    let revisit = match &raw.revisit {
        Some(r) => humantime::parse_duration(r.get_ref())
            .map_err(|e| {
                doc.error(
                    Some(r.span()),
                    "revisit",
                    format!("`{}`: {e} (e.g. `7d`)", r.get_ref()),
                )
            })
            .ok(),
        None => Some(defaults.revisit),
    };
    let charset = match &raw.charset {
        Some(c) => match Encoding::for_label(c.get_ref().as_bytes()) {
            Some(enc) => Some(Some(enc)),
            None => {
                doc.error(
                    Some(c.span()),
                    "charset",
                    format!("unknown charset `{}` (e.g. `gbk`, `utf-8`)", c.get_ref()),
                );
                None
            }
        },
        None => Some(None),
    };

    let listings: Vec<Listing> = raw
        .listing
        .iter()
        .enumerate()
        .filter_map(|(i, l)| compile_listing(l, i, doc, defaults, ov))
        .collect();
    let feeds: Vec<FeedInput> = raw
        .feed
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let url = parse_url(&f.url, &format!("feed[{i}].url"), doc, ov)?;
            Some(FeedInput {
                url,
                fetch_article: f.fetch_article.unwrap_or(false),
                region: f.region.clone(),
                tags: f.tags.clone().unwrap_or_default(),
            })
        })
        .collect();
    let article = raw.article.as_ref().and_then(|a| compile_article(a, doc));
    if raw.listing.is_empty() && raw.feed.is_empty() {
        doc.error(
            None,
            "listing",
            "the recipe has no inputs: add a [[listing]] or a [[feed]] table",
        );
    }
    if !raw.listing.is_empty() && raw.article.is_none() {
        doc.error(
            None,
            "article",
            "[[listing]] inputs need an [article] table of selectors",
        );
    }
    if raw.feed.iter().any(|f| f.fetch_article == Some(true)) && raw.article.is_none() {
        doc.error(
            None,
            "article",
            "fetch_article = true needs an [article] table of selectors",
        );
    }
    if doc.count() > before {
        return None;
    }
    Some(Recipe {
        title: raw.title.clone().unwrap_or_else(|| id.clone()),
        id,
        file: path.to_owned(),
        enabled: ov.enabled.unwrap_or(true),
        schedule: schedule?,
        timezone: timezone?,
        identity: identity?,
        revisit: revisit?,
        respect_robots: raw.robots.unwrap_or(true),
        allow_private: ov.allow_private.unwrap_or(global_allow_private),
        charset: charset?,
        date_formats: raw
            .date_formats
            .clone()
            .unwrap_or_else(|| DEFAULT_DATE_FORMATS.iter().map(|s| (*s).to_owned()).collect()),
        region: raw.region.clone(),
        tags: raw.tags.clone().unwrap_or_default(),
        listings,
        feeds,
        article,
    })
}

fn compile_listing(
    l: &RawListing,
    i: usize,
    doc: &mut Doc<'_>,
    defaults: &RecipeDefaults,
    ov: &SourceOverride,
) -> Option<Listing> {
    let key = |k: &str| format!("listing[{i}].{k}");
    let urls: Vec<Option<Url>> = l
        .urls
        .iter()
        .map(|u| parse_url(u, &key("urls"), doc, ov))
        .collect();
    if l.urls.is_empty() {
        doc.error(None, key("urls"), "lists no URL");
    }
    let entry = Selector::parse(l.entry.get_ref())
        .map_err(|e| {
            doc.error(
                Some(l.entry.span()),
                key("entry"),
                format!("bad selector `{}`: {e}", l.entry.get_ref()),
            )
        })
        .ok();
    let link = Field::compile(&l.link, &key("link"), doc);
    let title = opt_field(&l.title, &key("title"), doc);
    let date = opt_field(&l.date, &key("date"), doc);
    let summary = opt_field(&l.summary, &key("summary"), doc);
    let next = opt_field(&l.next, &key("next"), doc);
    Some(Listing {
        urls: urls.into_iter().collect::<Option<Vec<_>>>()?,
        entry: entry?,
        link: link?,
        title: title?,
        date: date?,
        summary: summary?,
        next: next?,
        max_pages: l.max_pages.unwrap_or(defaults.max_pages).max(1),
        region: l.region.clone(),
        tags: l.tags.clone().unwrap_or_default(),
    })
}

fn compile_article(a: &RawArticle, doc: &mut Doc<'_>) -> Option<ArticleSelectors> {
    let f = |spec: &Option<Spanned<FieldSpec>>, k: &str, doc: &mut Doc<'_>| {
        opt_field(spec, &format!("article.{k}"), doc)
    };
    let meta = f(&a.meta, "meta", doc);
    if let Some(Some(m)) = &meta {
        check_meta_groups(m, a.meta.as_ref().map(|s| s.span()), doc);
    }
    let canonical = match &a.canonical {
        Some(c) => Field::compile(c, "article.canonical", doc),
        None => Some(Field::canonical_link()),
    };
    Some(ArticleSelectors {
        title: f(&a.title, "title", doc)?,
        author: f(&a.author, "author", doc)?,
        region: f(&a.region, "region", doc)?,
        published: f(&a.published, "published", doc)?,
        comments: f(&a.comments, "comments", doc)?,
        tags: f(&a.tags, "tags", doc)?,
        summary: f(&a.summary, "summary", doc)?,
        body: f(&a.body, "body", doc)?,
        images: f(&a.images, "images", doc)?,
        meta: meta?,
        canonical: canonical?,
    })
}

fn check_meta_groups(meta: &Field, span: Option<std::ops::Range<usize>>, doc: &mut Doc<'_>) {
    let Some(re) = &meta.regex else {
        doc.error(
            span,
            "article.meta",
            "needs a `regex` with named groups such as (?P<author>…)",
        );
        return;
    };
    let names: Vec<&str> = re.capture_names().flatten().collect();
    if names.is_empty() {
        doc.error(
            span.clone(),
            "article.meta.regex",
            "has no named groups; name them (?P<author>…), (?P<region>…), …",
        );
    }
    for n in names {
        if !META_GROUPS.contains(&n) {
            let msg = format!("unknown group name `{n}`; use {}", META_GROUPS.join(", "));
            doc.error(span.clone(), "article.meta.regex", msg);
        }
    }
}

/// `Some(None)` when absent, `Some(Some(f))` when valid, `None` after recording an error.
fn opt_field(spec: &Option<Spanned<FieldSpec>>, key: &str, doc: &mut Doc<'_>) -> Option<Option<Field>> {
    match spec {
        None => Some(None),
        Some(s) => Field::compile(s, key, doc).map(Some),
    }
}

fn parse_url(raw: &Spanned<String>, key: &str, doc: &mut Doc<'_>, ov: &SourceOverride) -> Option<Url> {
    let url = match Url::parse(raw.get_ref()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        Ok(_) => {
            doc.error(
                Some(raw.span()),
                key,
                format!("`{}` is not an http(s) URL", raw.get_ref()),
            );
            return None;
        }
        Err(e) => {
            doc.error(Some(raw.span()), key, format!("bad URL `{}`: {e}", raw.get_ref()));
            return None;
        }
    };
    Some(match &ov.origin {
        Some(origin) => rebase(&url, origin),
        None => url,
    })
}

/// `url` with its scheme, host and port replaced by those of `origin`.
pub fn rebase(url: &Url, origin: &Url) -> Url {
    let mut out = origin.clone();
    let base_path = origin.path().trim_end_matches('/');
    out.set_path(&format!("{base_path}{}", url.path()));
    out.set_query(url.query());
    out.set_fragment(None);
    out
}

impl Recipe {
    /// Every input's name (its URL path), in order: listing URLs, then feeds.
    pub fn input_names(&self) -> Vec<String> {
        self.listings
            .iter()
            .flat_map(|l| l.urls.iter())
            .chain(self.feeds.iter().map(|f| &f.url))
            .map(input_name)
            .collect()
    }
}

/// The name an input is reported under: its path and query.
pub fn input_name(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// A compiled regex, or a message naming why the pattern is invalid.
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            format!(
                "bad regex `{pattern}`: {}",
                e.to_string().lines().last().unwrap_or("invalid")
            )
        })
}
