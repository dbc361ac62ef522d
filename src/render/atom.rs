//! Atom 1.0 with `atom_syndication`: feed id = self URL, self and alternate links, entries with
//! `urn:tidings:item:` ids, `published` in the article's offset, categories and HTML content.

use atom_syndication::{Category, Content, Entry, Feed, Generator, Link, Person, Text};
use chrono::{DateTime, FixedOffset};

use super::FeedMeta;
use super::prepared::Prepared;
use super::xml::clean;

/// The feed document.
pub(super) fn render(meta: &FeedMeta, items: &[Prepared<'_>], updated: DateTime<FixedOffset>) -> Vec<u8> {
    let self_url = clean(&meta.self_url).into_owned();
    let home_url = clean(&meta.home_url).into_owned();
    let language = clean(&meta.language);
    let description = clean(&meta.description);
    let region_scheme = format!("{}/feeds/region", home_url.trim_end_matches('/'));
    let feed = Feed {
        title: Text::plain(clean(&meta.title)),
        id: self_url.clone(),
        updated,
        generator: Some(Generator {
            value: "Tidings".to_owned(),
            uri: None,
            version: None,
        }),
        links: vec![
            link(self_url, "self", "application/atom+xml"),
            link(home_url, "alternate", "text/html"),
        ],
        subtitle: (!description.is_empty()).then(|| Text::plain(description)),
        lang: (!language.is_empty()).then(|| language.into_owned()),
        entries: items.iter().map(|p| entry(p, &region_scheme)).collect(),
        ..Feed::default()
    };
    // Writing to a Vec performs no I/O that could fail, and every string is valid text.
    feed.write_to(Vec::new())
        .expect("writing Atom to a Vec cannot fail")
}

/// A `<link>` with a media type.
fn link(href: String, rel: &str, mime_type: &str) -> Link {
    Link {
        href,
        rel: rel.to_owned(),
        mime_type: Some(mime_type.to_owned()),
        ..Link::default()
    }
}

/// One `<entry>`.
fn entry(p: &Prepared<'_>, region_scheme: &str) -> Entry {
    let mut categories: Vec<Category> = p
        .tags
        .iter()
        .map(|t| Category {
            term: t.to_string(),
            scheme: None,
            label: Some(t.to_string()),
        })
        .collect();
    if let Some((slug, name)) = &p.region {
        categories.push(Category {
            term: slug.to_string(),
            scheme: Some(region_scheme.to_owned()),
            label: Some(name.to_string()),
        });
    }
    // RFC 4287 wants an author on every entry (the feed has none): the source stands in.
    let author = p.author.as_deref().unwrap_or(&p.source);
    Entry {
        title: Text::plain(p.title.as_ref()),
        id: p.guid.clone(),
        updated: p.updated,
        authors: vec![Person {
            name: author.to_owned(),
            ..Person::default()
        }],
        categories,
        links: vec![link(p.url.to_string(), "alternate", "text/html")],
        published: Some(p.published),
        summary: p.summary.as_deref().map(Text::plain),
        content: p.body_html.as_ref().map(|html| Content {
            value: Some(html.clone()),
            content_type: Some("html".to_owned()),
            ..Content::default()
        }),
        ..Entry::default()
    }
}
