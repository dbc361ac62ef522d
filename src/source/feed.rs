//! Feed inputs: RSS 0.9x/1.0/2.0, Atom and JSON Feed, read with feed-rs.

use chrono::{DateTime, FixedOffset};
use chrono_tz::Tz;
use url::Url;

use super::html::sanitize;
use crate::domain::{canonical_url, normalize_space};

/// One entry of a feed, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    /// The publisher's id (`guid` / `id`).
    pub guid: String,
    /// Canonical link to the article page.
    pub url: Option<Url>,
    /// Title.
    pub title: Option<String>,
    /// Publish time, in the recipe's zone (feed-rs keeps only UTC).
    pub published: Option<DateTime<FixedOffset>>,
    /// Last update time.
    pub updated: Option<DateTime<FixedOffset>>,
    /// Plain-text summary.
    pub summary: Option<String>,
    /// Sanitized content HTML.
    pub content_html: Option<String>,
    /// First author's name.
    pub author: Option<String>,
    /// Category labels (or terms) in feed order.
    pub categories: Vec<String>,
}

/// Why a feed could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a readable RSS, Atom or JSON feed: {0}")]
pub struct FeedError(String);

/// Parses a feed already decoded to text.
pub fn parse_feed(text: &str, feed_url: &Url, tz: Tz) -> Result<Vec<FeedEntry>, FeedError> {
    let text = declare_utf8(text);
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        .build()
        .parse(text.as_bytes())
        .map_err(|e| FeedError(e.to_string()))?;
    let local = |d: DateTime<chrono::Utc>| d.with_timezone(&tz).fixed_offset();
    Ok(feed
        .entries
        .into_iter()
        .map(|e| {
            let link = e
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or(e.links.first())
                .and_then(|l| canonical_url(feed_url, &l.href));
            let content_html = e
                .content
                .as_ref()
                .and_then(|c| c.body.as_deref())
                .map(|b| sanitize(b, link.as_ref().unwrap_or(feed_url)));
            FeedEntry {
                guid: e.id.clone(),
                title: e
                    .title
                    .as_ref()
                    .map(|t| plain_text(&t.content))
                    .filter(|t| !t.is_empty()),
                published: e.published.or(e.updated).map(local),
                updated: e.updated.map(local),
                summary: e
                    .summary
                    .as_ref()
                    .map(|t| plain_text(&t.content))
                    .filter(|t| !t.is_empty()),
                content_html: content_html.filter(|c| !c.is_empty()),
                author: e
                    .authors
                    .iter()
                    .filter_map(|p| p.name.as_deref())
                    .map(normalize_space)
                    .find(|a| !a.is_empty()),
                categories: e
                    .categories
                    .iter()
                    .map(|c| normalize_space(c.label.as_deref().unwrap_or(&c.term)))
                    .filter(|c| !c.is_empty())
                    .collect(),
                url: link,
            }
        })
        .collect())
}

/// Text of an HTML or plain fragment, whitespace-normalised.
fn plain_text(s: &str) -> String {
    if s.contains('<') || s.contains('&') {
        let frag = scraper::Html::parse_fragment(&ammonia::clean(s));
        normalize_space(&frag.root_element().text().collect::<String>())
    } else {
        normalize_space(s)
    }
}

/// The text is already decoded: make the XML declaration say so, or a `GBK` label would
/// make the parser decode it a second time.
fn declare_utf8(text: &str) -> std::borrow::Cow<'_, str> {
    let text = text.trim_start_matches('\u{feff}');
    if let Some(end) = text.starts_with("<?xml").then(|| text.find("?>")).flatten() {
        let decl = &text[..end];
        if let Some(pos) = decl.find("encoding") {
            return format!("{}{}", &decl[..pos], &text[end..]).into();
        }
    }
    text.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_declared_feed_text_is_not_decoded_twice() {
        let xml = r#"<?xml version="1.0" encoding="GBK"?><rss version="2.0"><channel><title>t</title>
<item><title>晋中&amp;太原</title><link>http://example.com/a.html?utm_source=rss</link><guid>g1</guid>
<pubDate>Wed, 23 Feb 2022 10:43:56 +0800</pubDate><category>R&amp;D</category>
<description><![CDATA[<p>摘要</p><script>x</script>]]></description></item></channel></rss>"#;
        let url = Url::parse("http://example.com/rss.xml").unwrap();
        let entries = parse_feed(xml, &url, chrono_tz::Asia::Shanghai).unwrap();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.title.as_deref(), Some("晋中&太原"));
        assert_eq!(e.url.as_ref().unwrap().as_str(), "http://example.com/a.html");
        assert_eq!(e.published.unwrap().to_rfc3339(), "2022-02-23T10:43:56+08:00");
        assert_eq!(e.categories, ["R&D"]);
        assert_eq!(e.summary.as_deref(), Some("摘要"));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let url = Url::parse("http://example.com/rss.xml").unwrap();
        let e = parse_feed("<html><body>502 Bad Gateway</body></html>", &url, chrono_tz::UTC).unwrap_err();
        assert!(e.to_string().starts_with("not a readable RSS"), "{e}");
    }
}
