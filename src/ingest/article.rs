//! Merging what a page, its feed item and its listing entry say into one [`Article`].

use crate::domain::{Article, RegionTable, split_tags};
use crate::source::html::{ArticleDraft, summary_from_body};

use super::gather::Entry;

/// Why an entry did not become an item.
#[derive(Debug, thiserror::Error)]
pub enum ArticleError {
    /// The article page could not be fetched.
    #[error("{0}")]
    Fetch(String),
    /// The page has no title anywhere: an error page or a layout the selectors miss.
    #[error(
        "no title found on the page or in its listing entry (error page, or check the article selectors)"
    )]
    NoTitle,
}

/// Builds the article: the page's fields first, then the feed item's, then the listing's.
///
/// For feed items the feed's own title wins (the publisher's structured data).
pub fn build_article(
    e: &Entry,
    draft: Option<ArticleDraft>,
    regions: &RegionTable,
) -> Result<Article, ArticleError> {
    let d = draft.unwrap_or_default();
    let f = e.feed.as_ref();
    let title = match f {
        Some(f) => f.title.clone().or(d.title).or_else(|| e.title.clone()),
        None => d.title.or_else(|| e.title.clone()),
    }
    .ok_or(ArticleError::NoTitle)?;
    let url = match d.canonical {
        Some(c) if c.host() == e.url.host() => c.to_string(),
        _ => e.url.to_string(),
    };
    let region_name = d.region.or_else(|| e.region.clone());
    let region = region_name.as_deref().and_then(|n| regions.resolve(n));
    if let Some(r) = region.as_ref().filter(|r| !r.known) {
        tracing::warn!(url = %url, region = %r.name, slug = %r.slug, "unknown region kept by name; add it to [[regions]] with its aliases");
    }
    let mut tag_parts: Vec<&str> = d.tags.iter().map(String::as_str).collect();
    if let Some(f) = f {
        tag_parts.extend(f.categories.iter().map(String::as_str));
    }
    tag_parts.extend(e.tags.iter().map(String::as_str));
    let tags = split_tags(tag_parts);
    let body_html = d.body_html.or_else(|| f.and_then(|f| f.content_html.clone()));
    let summary = d
        .summary
        .or_else(|| f.and_then(|f| f.summary.clone()))
        .or_else(|| e.summary.clone())
        .or_else(|| d.body_text.as_deref().map(summary_from_body));
    Ok(Article {
        url,
        guid: f.map(|f| f.guid.clone()),
        title,
        author: d.author.or_else(|| f.and_then(|f| f.author.clone())),
        region,
        published: d.published.or(e.date),
        tags,
        summary,
        body_html,
        images: d.images,
        comments: d.comments,
    })
}
