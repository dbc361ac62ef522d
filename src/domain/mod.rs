//! Values parsed at the edge and shared by every layer: regions, tags, canonical URLs, items.

mod region;
mod text;
mod url;

pub use region::{Region, RegionRef, RegionTable};
pub use text::{normalize_space, split_tags, truncate_chars};
pub use url::canonical_url;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

/// Everything extracted about one article, ready to be stored.
///
/// `published` keeps the offset the article was published in (for the portal, `+08:00`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// Canonical URL: absolute, no fragment, no tracking parameters.
    pub url: String,
    /// The publisher's guid, for feed inputs.
    pub guid: Option<String>,
    /// Headline.
    pub title: String,
    /// Byline, if the page shows one.
    pub author: Option<String>,
    /// Region, resolved through the configured aliases.
    pub region: Option<RegionRef>,
    /// Publish time with its offset.
    pub published: Option<DateTime<FixedOffset>>,
    /// Tags in page order, de-duplicated.
    pub tags: Vec<String>,
    /// Plain-text summary.
    pub summary: Option<String>,
    /// Sanitized HTML body with absolute links.
    pub body_html: Option<String>,
    /// Absolute image URLs in page order.
    pub images: Vec<String>,
    /// Comment count, when the page shows one.
    pub comments: Option<u32>,
}

impl Article {
    /// A hash of the fields whose change means "the article was edited".
    ///
    /// The comment count is left out: it moves without the article changing.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let region = self.region.as_ref().map(|r| r.slug.as_str());
        let published = self.published.map(|p| p.to_rfc3339());
        let parts: [Option<&str>; 7] = [
            Some(&self.title),
            self.author.as_deref(),
            region,
            published.as_deref(),
            self.summary.as_deref(),
            self.body_html.as_deref(),
            Some(&self.url),
        ];
        for p in parts {
            h.update(p.unwrap_or("\u{0}").as_bytes());
            h.update([0x1f]);
        }
        for t in self.tags.iter().chain(self.images.iter()) {
            h.update(t.as_bytes());
            h.update([0x1e]);
        }
        hex(&h.finalize()[..16])
    }
}

/// A stored item: an [`Article`] with its identity and bookkeeping times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stable id, never changes once published.
    pub id: String,
    /// Source id (recipe file stem).
    pub source: String,
    /// The extracted article.
    pub article: Article,
    /// When the item was first stored.
    pub created: DateTime<Utc>,
    /// When its extracted fields last changed (equals `created` until edited).
    pub updated: DateTime<Utc>,
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The stable item id for an identity key within a source.
pub fn item_id(source: &str, identity_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0]);
    h.update(identity_key.as_bytes());
    hex(&h.finalize()[..12])
}
