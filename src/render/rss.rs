//! RSS 2.0 with the `rss` crate: `guid isPermaLink="false"`, RFC 822 dates with the article's
//! offset, `dc:creator`, categories, `content:encoded` and `atom:link rel="self"`.
//!
//! `description` and `content:encoded` are written as CDATA by the crate, which splits any
//! `]]>` inside (`]]]]><![CDATA[>`) since rss 2.1.2 / quick-xml 0.41 (upstream issue 173):
//! we pass the text unchanged, and the tests check the round trip.

use chrono::{DateTime, FixedOffset};
use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Guid};

use super::FeedMeta;
use super::prepared::Prepared;
use super::xml::{clean, escape};

/// The `domain` of the region category.
const REGION_DOMAIN: &str = "region";

/// RFC 822 date-time as RSS wants it, e.g. `Sat, 15 Mar 2025 08:30:00 +0800`.
fn rfc822(t: DateTime<FixedOffset>) -> String {
    // `Prepared` and the feed time are `sane` (years 1–9999), so this cannot panic.
    t.to_rfc2822()
}

/// The channel document.
pub(super) fn render(meta: &FeedMeta, items: &[Prepared<'_>], updated: DateTime<FixedOffset>) -> Vec<u8> {
    let language = clean(&meta.language);
    let channel = Channel {
        title: clean(&meta.title).into_owned(),
        link: clean(&meta.home_url).into_owned(),
        description: clean(&meta.description).into_owned(),
        language: (!language.is_empty()).then(|| language.into_owned()),
        last_build_date: Some(rfc822(updated)),
        generator: Some("Tidings".to_owned()),
        atom_ext: Some(AtomExtension {
            links: vec![Link {
                href: clean(&meta.self_url).into_owned(),
                rel: "self".to_owned(),
                mime_type: Some("application/rss+xml".to_owned()),
                ..Link::default()
            }],
        }),
        items: items.iter().map(item).collect(),
        ..Channel::default()
    };
    // Writing to a Vec performs no I/O that could fail, and every string is valid text.
    channel
        .write_to(Vec::new())
        .expect("writing RSS to a Vec cannot fail")
}

/// One `<item>`.
fn item(p: &Prepared<'_>) -> rss::Item {
    let mut categories: Vec<Category> = p
        .tags
        .iter()
        .map(|t| Category {
            name: t.to_string(),
            domain: None,
        })
        .collect();
    if let Some((_, name)) = &p.region {
        categories.push(Category {
            name: name.to_string(),
            domain: Some(REGION_DOMAIN.to_owned()),
        });
    }
    rss::Item {
        title: Some(p.title.to_string()),
        link: Some(p.url.to_string()),
        // Readers treat `description` as HTML: escape the plain-text summary so that text
        // such as `<script>` stays text.
        description: p.summary.as_deref().map(|s| escape(s).into_owned()),
        categories,
        guid: Some(Guid {
            value: p.guid.clone(),
            permalink: false,
        }),
        pub_date: Some(rfc822(p.published)),
        content: p.body_html.clone(),
        // `<author>` must be an email address; a byline goes in `dc:creator`.
        dublin_core_ext: p.author.as_ref().map(|a| DublinCoreExtension {
            creators: vec![a.to_string()],
            ..DublinCoreExtension::default()
        }),
        ..rss::Item::default()
    }
}
