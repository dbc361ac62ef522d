//! What a mail shows of an item: cleaned text (no control or bidi characters, whitespace
//! collapsed), trimmed lengths, the time in the recipient's time zone, and only web links.

use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::{Item, RegionRef, RegionTable, normalize_space, truncate_chars};
use crate::store::Recipient;

/// Longest title shown in a body, in characters.
const TITLE_CHARS: usize = 500;
/// Longest subject, in characters.
const SUBJECT_CHARS: usize = 120;
/// Longest region or tag name shown.
const NAME_CHARS: usize = 40;

/// One item as the templates see it; every string is plain text (the HTML templates escape).
#[derive(Debug, Clone, Serialize)]
pub(super) struct ItemView {
    /// Headline.
    pub title: String,
    /// The article's URL, when it is an http(s) URL.
    pub url: Option<String>,
    /// Publish time, `YYYY-MM-DD HH:MM` in the recipient's time zone.
    pub time: Option<String>,
    /// Region display name.
    pub region: Option<String>,
    /// Tags, without the one naming the region.
    pub tags: Vec<String>,
    /// Summary, trimmed with `…`; left out when it only repeats the title.
    pub summary: Option<String>,
}

impl ItemView {
    /// The view of `item` with its summary cut to `summary_chars` characters.
    pub fn new(item: &Item, tz: Tz, regions: &RegionTable, summary_chars: usize) -> ItemView {
        let a = &item.article;
        let title = truncate_chars(&clean_line(&a.title), TITLE_CHARS);
        let region = a.region.as_ref().map(|r| region_name(r, regions));
        let mut tags: Vec<String> = Vec::new();
        for tag in &a.tags {
            let tag = clean_name(tag);
            if !tag.is_empty() && Some(&tag) != region.as_ref() && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let summary = a
            .summary
            .as_deref()
            .map(clean_line)
            .filter(|s| !s.is_empty() && *s != title)
            .map(|s| truncate_chars(&s, summary_chars));
        ItemView {
            url: web_link(&a.url),
            time: a
                .published
                .map(|p| p.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()),
            region,
            tags,
            summary,
            title,
        }
    }

    /// `【晋中】title` (the region, else the first tag, else no prefix), at most
    /// [`SUBJECT_CHARS`] characters.
    pub fn subject(&self) -> String {
        match self.region.as_ref().or(self.tags.first()) {
            Some(prefix) => subject_line(&format!("【{prefix}】{}", self.title)),
            None => subject_line(&self.title),
        }
    }
}

/// A subject: one clean line of at most [`SUBJECT_CHARS`] characters.
pub(super) fn subject_line(s: &str) -> String {
    truncate_chars(&clean_line(s), SUBJECT_CHARS)
}

/// The display name of an item's region: the configured name (it may have been renamed
/// since the item was stored), else the name the item came with.
pub(super) fn region_name(region: &RegionRef, regions: &RegionTable) -> String {
    clean_name(
        regions
            .find(&region.slug)
            .map_or(region.name.as_str(), |r| r.name.as_str()),
    )
}

/// A region or tag name: one clean line of at most [`NAME_CHARS`] characters.
pub(super) fn clean_name(s: &str) -> String {
    truncate_chars(&clean_line(s), NAME_CHARS)
}

/// The recipient's time zone; Beijing time when the stored name is not a known zone.
pub(super) fn recipient_tz(recipient: &Recipient) -> Tz {
    recipient.tz.parse().unwrap_or(chrono_tz::Asia::Shanghai)
}

/// One line of text: control characters and invisible direction overrides removed,
/// whitespace collapsed.
pub(super) fn clean_line(s: &str) -> String {
    let kept: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !is_invisible(*c))
        .collect();
    normalize_space(&kept)
}

/// Zero-width and bidirectional formatting characters, which can disguise a subject.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The URL if it is an absolute http(s) URL, so no `javascript:` link reaches a mail.
fn web_link(url: &str) -> Option<String> {
    url::Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(String::from)
}
