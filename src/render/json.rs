//! JSON Feed 1.1 as small serde structs (no maintained crate), pretty-printed.
//!
//! Tidings-specific fields go in a `_tidings` extension object on each item (JSON Feed lets
//! publishers add `_`-prefixed keys): `{"source": "…", "region": {"slug": "…", "name": "…"}}`.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::Serialize;

use super::FeedMeta;
use super::prepared::Prepared;
use super::xml::clean;

/// The top-level object.
#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    language: &'a str,
    items: Vec<JsonItem<'a>>,
}

/// One item.
#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<&'a str>,
    /// JSON Feed needs `content_html` or `content_text`: the summary stands in for a missing body.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
    #[serde(rename = "_tidings")]
    tidings: Extension<'a>,
}

/// An author.
#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

/// The `_tidings` extension object.
#[derive(Serialize)]
struct Extension<'a> {
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region<'a>>,
}

/// A region in the extension.
#[derive(Serialize)]
struct Region<'a> {
    slug: &'a str,
    name: &'a str,
}

/// RFC 3339 in whole seconds, keeping the offset (`Z` for UTC).
fn rfc3339(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The feed document.
pub(super) fn render(meta: &FeedMeta, items: &[Prepared<'_>]) -> Vec<u8> {
    let (title, home, self_url) = (clean(&meta.title), clean(&meta.home_url), clean(&meta.self_url));
    let (description, language) = (clean(&meta.description), clean(&meta.language));
    let feed = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &title,
        home_page_url: &home,
        feed_url: &self_url,
        description: &description,
        language: &language,
        items: items.iter().map(item).collect(),
    };
    // Plain structs with string keys always serialize.
    serde_json::to_vec_pretty(&feed).expect("serializing a JSON Feed cannot fail")
}

/// One item object.
fn item<'a>(p: &'a Prepared<'_>) -> JsonItem<'a> {
    let content_html = p.body_html.as_deref();
    JsonItem {
        id: &p.guid,
        url: &p.url,
        title: &p.title,
        content_html,
        content_text: match content_html {
            Some(_) => None,
            None => Some(p.summary.as_deref().unwrap_or("")),
        },
        summary: p.summary.as_deref(),
        image: p.image.as_deref(),
        date_published: rfc3339(p.published),
        date_modified: rfc3339(p.updated),
        authors: p
            .author
            .as_deref()
            .map(|name| Author { name })
            .into_iter()
            .collect(),
        tags: p.tags.iter().map(|t| t.as_ref()).collect(),
        tidings: Extension {
            source: &p.source,
            region: p.region.as_ref().map(|(slug, name)| Region { slug, name }),
        },
    }
}
