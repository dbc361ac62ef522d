//! HTML recipes: entries from listing pages, fields from article pages.
//!
//! `scraper::Html` is `!Send`, so these functions are synchronous and return owned data;
//! callers run them outside of `.await` points.

use chrono::{DateTime, FixedOffset};
use scraper::Html;
use url::Url;

use super::dates::DateParser;
use crate::config::{ArticleSelectors, Listing};
use crate::domain::{canonical_url, normalize_space, split_tags, truncate_chars};

/// One entry of a listing page.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingEntry {
    /// Canonical article URL.
    pub url: Url,
    /// Title shown in the listing.
    pub title: Option<String>,
    /// Date shown in the listing.
    pub date: Option<DateTime<FixedOffset>>,
    /// Summary shown in the listing.
    pub summary: Option<String>,
}

/// What a listing page yields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListingPage {
    /// Entries in page order.
    pub entries: Vec<ListingEntry>,
    /// The next listing page, if the page links one.
    pub next: Option<Url>,
}

/// Fields found on an article page; anything missing stays `None` for fallbacks to fill.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArticleDraft {
    /// `<link rel=canonical>` (or the recipe's canonical field), made canonical.
    pub canonical: Option<Url>,
    /// Headline.
    pub title: Option<String>,
    /// Byline.
    pub author: Option<String>,
    /// Region name as written on the page.
    pub region: Option<String>,
    /// Publish time.
    pub published: Option<DateTime<FixedOffset>>,
    /// Comment count.
    pub comments: Option<u32>,
    /// Tags in page order.
    pub tags: Vec<String>,
    /// Summary from the page.
    pub summary: Option<String>,
    /// Sanitized body HTML with absolute links.
    pub body_html: Option<String>,
    /// Plain text of the body (for a summary when none is given).
    pub body_text: Option<String>,
    /// Absolute image URLs.
    pub images: Vec<String>,
}

/// Summaries derived from a body are cut to this many characters.
pub const SUMMARY_CHARS: usize = 120;

/// Extracts the entries and the next-page link from a listing page.
pub fn extract_listing(html: &str, page_url: &Url, listing: &Listing, dates: &DateParser) -> ListingPage {
    let doc = Html::parse_document(html);
    let mut entries: Vec<ListingEntry> = Vec::new();
    for el in doc.select(&listing.entry) {
        let Some(url) = listing
            .link
            .first(el)
            .and_then(|href| canonical_url(page_url, &href))
        else {
            continue;
        };
        if entries.iter().any(|e| e.url == url) {
            continue;
        }
        entries.push(ListingEntry {
            url,
            title: listing.title.as_ref().and_then(|f| f.first(el)),
            date: listing
                .date
                .as_ref()
                .and_then(|f| f.first(el))
                .and_then(|d| dates.parse(&d)),
            summary: listing.summary.as_ref().and_then(|f| f.first(el)),
        });
    }
    let next = listing
        .next
        .as_ref()
        .and_then(|f| f.first(doc.root_element()))
        .and_then(|href| canonical_url(page_url, &href))
        .filter(|u| u != page_url);
    ListingPage { entries, next }
}

/// Extracts every article field the selectors find, sanitizing the body.
pub fn extract_article(
    html: &str,
    page_url: &Url,
    sel: &ArticleSelectors,
    dates: &DateParser,
) -> ArticleDraft {
    let doc = Html::parse_document(html);
    let root = doc.root_element();
    let first = |f: &Option<crate::config::Field>| f.as_ref().and_then(|f| f.first(root));
    let mut d = ArticleDraft {
        canonical: sel
            .canonical
            .first(root)
            .and_then(|h| canonical_url(page_url, &h)),
        title: first(&sel.title),
        author: first(&sel.author),
        region: first(&sel.region),
        published: first(&sel.published).and_then(|t| dates.parse(&t)),
        comments: first(&sel.comments).and_then(|c| parse_count(&c)),
        tags: sel
            .tags
            .as_ref()
            .map(|f| split_tags(f.values(root).iter().map(String::as_str)))
            .unwrap_or_default(),
        summary: first(&sel.summary),
        ..ArticleDraft::default()
    };
    if let Some(meta) = &sel.meta {
        apply_meta(&mut d, meta, root, dates);
    }
    if let Some(body) = sel.body.as_ref().and_then(|f| root.select(&f.selector).next()) {
        let text = normalize_space(&body.text().collect::<String>());
        d.body_text = (!text.is_empty()).then_some(text);
        d.body_html = Some(sanitize(&body.inner_html(), page_url));
        if sel.images.is_none() {
            d.images = body
                .select(&IMG)
                .filter_map(|i| i.value().attr("src"))
                .filter_map(|src| page_url.join(src.trim()).ok())
                .map(String::from)
                .collect();
        }
    }
    if let Some(images) = &sel.images {
        d.images = images
            .values(root)
            .iter()
            .filter_map(|src| page_url.join(src).ok())
            .map(String::from)
            .collect();
    }
    d.images.dedup();
    d
}

static IMG: std::sync::LazyLock<scraper::Selector> =
    std::sync::LazyLock::new(|| scraper::Selector::parse("img[src]").expect("static selector"));

/// Fills fields still empty from the named groups of the `meta` regex.
fn apply_meta(
    d: &mut ArticleDraft,
    meta: &crate::config::Field,
    root: scraper::ElementRef<'_>,
    dates: &DateParser,
) {
    let Some(re) = &meta.regex else { return };
    for text in meta.raw_values(root) {
        let Some(c) = re.captures(&text) else {
            continue;
        };
        let group = |n: &str| {
            c.name(n)
                .map(|m| m.as_str().trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        d.title = d.title.take().or_else(|| group("title"));
        d.author = d.author.take().or_else(|| group("author"));
        d.region = d.region.take().or_else(|| group("region"));
        d.summary = d.summary.take().or_else(|| group("summary"));
        d.published = d
            .published
            .or_else(|| group("published").and_then(|t| dates.parse(&t)));
        d.comments = d
            .comments
            .or_else(|| group("comments").and_then(|t| parse_count(&t)));
        if d.tags.is_empty() {
            d.tags = group("tags")
                .map(|t| split_tags([t.as_str()]))
                .unwrap_or_default();
        }
        return;
    }
}

/// The first run of digits, e.g. `评论(12)` → 12.
fn parse_count(s: &str) -> Option<u32> {
    let digits: String = s
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Sanitizes body HTML (no scripts, handlers or `javascript:`), making links and images absolute.
pub fn sanitize(html: &str, base: &Url) -> String {
    ammonia::Builder::default()
        .url_relative(ammonia::UrlRelative::RewriteWithBase(base.clone()))
        .clean(html)
        .to_string()
        .trim()
        .to_owned()
}

/// A summary from body text when the page gives none.
pub fn summary_from_body(text: &str) -> String {
    truncate_chars(text, SUMMARY_CHARS)
}
