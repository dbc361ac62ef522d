//! One item's fields, cleaned once and shared by every format: the guid, safe text, sane times
//! and a re-sanitized body.

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

use super::xml::clean;
use crate::domain::Item;

/// The body sanitizer, built once (the default ammonia policy: no scripts, no event
/// handlers, no `javascript:` URLs).
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(ammonia::Builder::default);

/// The guid / entry id of an item: derived from its stable id only, never from its URL
/// (which can change), so it never changes once published.
pub(crate) fn guid(id: &str) -> String {
    format!("urn:tidings:item:{}", clean(id))
}

/// A time fit for every format: whole seconds (as `Last-Modified` is), years 1–9999 (what
/// RFC 822/3339 can express; chrono panics formatting RFC 822 outside 0–9999).
pub(crate) fn sane(t: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    let t = t.with_nanosecond(0).unwrap_or(t);
    let ok = |y: i32| (1..=9999).contains(&y);
    (ok(t.year()) && ok(t.naive_utc().year())).then_some(t)
}

/// A UTC time as a [`sane`] `+00:00` time, or the Unix epoch when it cannot be expressed.
pub(crate) fn utc(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    sane(t.fixed_offset()).unwrap_or(DateTime::UNIX_EPOCH.fixed_offset())
}

/// A field's cleaned text, or `None` when it is missing or blank.
fn text(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(clean).filter(|s| !s.trim().is_empty())
}

/// An item ready to be written in any format. Every string is free of characters XML forbids.
pub(crate) struct Prepared<'a> {
    /// `urn:tidings:item:{id}`.
    pub guid: String,
    /// Article URL.
    pub url: Cow<'a, str>,
    /// Headline (plain text).
    pub title: Cow<'a, str>,
    /// Byline, when there is one.
    pub author: Option<Cow<'a, str>>,
    /// Source id.
    pub source: Cow<'a, str>,
    /// Publish time with the article's offset; when unknown (or absurd), first-seen time in UTC.
    pub published: DateTime<FixedOffset>,
    /// Last change, UTC.
    pub updated: DateTime<FixedOffset>,
    /// Tags in page order, blanks dropped.
    pub tags: Vec<Cow<'a, str>>,
    /// Region `(slug, display name)`.
    pub region: Option<(Cow<'a, str>, Cow<'a, str>)>,
    /// Plain-text summary.
    pub summary: Option<Cow<'a, str>>,
    /// Body HTML, sanitized again here.
    pub body_html: Option<String>,
    /// First image URL.
    pub image: Option<Cow<'a, str>>,
}

impl<'a> Prepared<'a> {
    /// Cleans `item`'s fields.
    pub(crate) fn new(item: &'a Item) -> Self {
        let a = &item.article;
        Prepared {
            guid: guid(&item.id),
            url: clean(&a.url),
            title: clean(&a.title),
            author: text(a.author.as_deref()),
            source: clean(&item.source),
            published: a.published.and_then(sane).unwrap_or_else(|| utc(item.created)),
            updated: utc(item.updated),
            tags: a.tags.iter().filter_map(|t| text(Some(t))).collect(),
            region: a
                .region
                .as_ref()
                .and_then(|r| Some((text(Some(&r.slug))?, text(Some(&r.name))?))),
            summary: text(a.summary.as_deref()),
            body_html: a.body_html.as_deref().and_then(sanitize),
            image: a.images.first().and_then(|i| text(Some(i))),
        }
    }
}

/// Body HTML through the sanitizer again (defence in depth: ingest already sanitizes), then
/// cleaned, because the sanitizer decodes references such as `&#1;` into raw characters.
fn sanitize(body: &str) -> Option<String> {
    let html = SANITIZER.clean(body).to_string();
    let html = match clean(&html) {
        Cow::Borrowed(_) => html,
        Cow::Owned(cleaned) => cleaned,
    };
    (!html.trim().is_empty()).then_some(html)
}
