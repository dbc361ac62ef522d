//! Feeds as bytes: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from stored items, plus OPML.
//!
//! Rendering is deterministic: the same items and [`FeedMeta`] give the same bytes on every
//! instance and run (no "now"; the feed's time is the greatest item `updated`).

mod atom;
mod json;
mod opml;
mod prepared;
mod rss;
mod xml;

use chrono::{DateTime, Utc};

use crate::domain::Item;
use prepared::Prepared;

/// A feed format, named by its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RSS 2.0 (`.rss`).
    Rss,
    /// Atom 1.0 (`.atom`).
    Atom,
    /// JSON Feed 1.1 (`.json`).
    Json,
}

impl Format {
    /// Every format, in link order.
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    /// `rss`, `atom` or `json`.
    pub fn from_ext(ext: &str) -> Option<Format> {
        match ext {
            "rss" => Some(Format::Rss),
            "atom" => Some(Format::Atom),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The file extension.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Rss => "rss",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    /// The Content-Type, with charset.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }
}

/// Which items a feed is about (its path).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// `/feeds/all.*`
    All,
    /// `/feeds/region/{slug}.*`
    Region(String),
    /// `/feeds/tag/{tag}.*` (percent-encoded in the path)
    Tag(String),
    /// `/feeds/source/{id}.*`
    Source(String),
}

impl FeedKind {
    /// The URL path of this feed in a format, e.g. `/feeds/tag/%E9%AB%98%E8%B4%A8%E9%87%8F.atom`.
    pub fn path(&self, format: Format) -> String {
        let enc = |s: &str| {
            url::form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        };
        match self {
            FeedKind::All => format!("/feeds/all.{}", format.ext()),
            FeedKind::Region(r) => format!("/feeds/region/{}.{}", enc(r), format.ext()),
            FeedKind::Tag(t) => format!("/feeds/tag/{}.{}", enc(t), format.ext()),
            FeedKind::Source(s) => format!("/feeds/source/{}.{}", enc(s), format.ext()),
        }
    }
}

/// What a feed says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedMeta {
    /// Feed title, e.g. `晋中 · Tidings`.
    pub title: String,
    /// One-line description.
    pub description: String,
    /// Absolute URL of this feed in this format (the self link; also the Atom feed id).
    pub self_url: String,
    /// Absolute URL of the HTML page for humans (the index page).
    pub home_url: String,
    /// Language tag, e.g. `zh-CN`.
    pub language: String,
}

/// The feed's own time: the greatest `updated` of its items, or 1970-01-01 when empty.
pub fn last_modified(items: &[Item]) -> DateTime<Utc> {
    items
        .iter()
        .map(|i| i.updated)
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// Renders `items` (already ordered newest first) in `format`.
///
/// Whatever the items contain, the output is well-formed: text loses the characters XML 1.0
/// forbids, titles and summaries stay plain text (escaped, never markup), and bodies are
/// sanitized again. Item ids are `urn:tidings:item:{id}` in every format.
pub fn render(format: Format, meta: &FeedMeta, items: &[Item]) -> Vec<u8> {
    let updated = prepared::utc(last_modified(items));
    let items: Vec<Prepared<'_>> = items.iter().map(Prepared::new).collect();
    match format {
        Format::Rss => rss::render(meta, &items, updated),
        Format::Atom => atom::render(meta, &items, updated),
        Format::Json => json::render(meta, &items),
    }
}

/// One group of feeds in the OPML export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlGroup {
    /// Group title, e.g. `地区`.
    pub title: String,
    /// Its feeds.
    pub feeds: Vec<OpmlFeed>,
}

/// One feed in the OPML export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// Feed title.
    pub title: String,
    /// Absolute feed URL.
    pub xml_url: String,
    /// Absolute URL of the human page.
    pub html_url: String,
    /// The feed's format.
    pub format: Format,
}

/// OPML 2.0 listing every feed, grouped.
///
/// Each group is an outline holding one `type="rss"` outline per feed (`text`, `title`,
/// `xmlUrl`, `htmlUrl`; RSS feeds also carry `version="RSS2"`).
pub fn opml(title: &str, groups: &[OpmlGroup]) -> Vec<u8> {
    opml::render(title, groups)
}

#[cfg(test)]
mod tests;
