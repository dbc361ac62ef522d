//! The portal's two feeds: `/rss/province.xml` (RSS 2.0 over `sxyw`) and
//! `/atom/culture.xml` (Atom 1.0 over `wenhua`).

use std::fmt::Write;

use chrono::NaiveDateTime;

use super::html::esc;
use super::model::{ATOM_SIZE, Art, RSS_SIZE};
use super::site::Site;

/// RSS path.
pub(crate) const RSS_PATH: &str = "/rss/province.xml";
/// Atom path.
pub(crate) const ATOM_PATH: &str = "/atom/culture.xml";

/// The `sxyw` pages in the RSS feed, newest first.
pub(crate) fn rss_items(site: &Site) -> &[usize] {
    &site.sxyw[..site.sxyw.len().min(RSS_SIZE)]
}

/// The `wenhua` pages in the Atom feed, newest first.
pub(crate) fn atom_items(site: &Site) -> &[usize] {
    &site.wenhua[..site.wenhua.len().min(ATOM_SIZE)]
}

/// An item's RSS guid: the link or `sxdy-sxyw-{id}`.
pub(crate) fn rss_guid(site: &Site, a: &Art) -> String {
    if a.guid_permalink {
        format!("{}{}", site.base, a.path())
    } else {
        format!("sxdy-sxyw-{}", a.id)
    }
}

/// An entry's Atom id.
pub(crate) fn atom_id(a: &Art) -> String {
    format!("tag:shanxidayuan.com,2022:wenhua/{}", a.id)
}

fn rfc822(t: NaiveDateTime) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0800").to_string()
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+08:00").to_string()
}

/// Summary paragraph plus absolute images, as HTML.
fn rich_html(site: &Site, i: usize) -> String {
    let a = &site.arts[i];
    let mut out = format!("<p>{}</p>", esc(&site.summaries[i]));
    for url in a.image_urls() {
        let _ = write!(out, "<p><img src=\"{}{url}\"></p>", site.base);
    }
    out
}

/// RSS 2.0 with the 30 newest `sxyw` items.
pub(crate) fn rss(site: &Site) -> String {
    let items = rss_items(site);
    let newest = items.first().map(|&i| site.arts[i].published);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n\
         <channel>\n<title>山西大院资讯网 - 山西要闻</title>\n<link>{0}/sxyw/</link>\n\
         <description>山西大院资讯网全省要闻频道</description>\n<language>zh-cn</language>\n{1}<ttl>30</ttl>\n\
         <atom:link href=\"{0}{RSS_PATH}\" rel=\"self\" type=\"application/rss+xml\"/>\n",
        site.base,
        newest
            .map(|t| format!("<lastBuildDate>{}</lastBuildDate>\n", rfc822(t)))
            .unwrap_or_default()
    );
    for &i in items {
        let a = &site.arts[i];
        let link = format!("{}{}", site.base, a.path());
        let _ = write!(
            out,
            "<item>\n<title>{}</title>\n<link>{link}</link>\n<guid isPermaLink=\"{}\">{}</guid>\n\
             <pubDate>{}</pubDate>\n<dc:creator>{}</dc:creator>\n",
            esc(&a.title),
            a.guid_permalink,
            esc(&rss_guid(site, a)),
            rfc822(a.published),
            esc(&a.author)
        );
        for tag in &a.tags {
            let _ = writeln!(out, "<category>{}</category>", esc(tag));
        }
        let _ = if a.rich_feed {
            writeln!(
                out,
                "<description><![CDATA[{}]]></description>",
                rich_html(site, i)
            )
        } else {
            writeln!(out, "<description>{}</description>", esc(&site.summaries[i]))
        };
        out.push_str("</item>\n");
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

/// Atom 1.0 with the 20 newest `wenhua` entries.
pub(crate) fn atom(site: &Site) -> String {
    let items = atom_items(site);
    let updated = items.iter().map(|&i| site.arts[i].updated).max();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"zh-CN\">\n\
         <title>山西大院资讯网 · 文化旅游</title>\n<subtitle>山西各地文化旅游资讯</subtitle>\n\
         <id>tag:shanxidayuan.com,2022:{ATOM_PATH}</id>\n<updated>{1}</updated>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{0}{ATOM_PATH}\"/>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{0}/wenhua/\"/>\n\
         <author><name>山西大院资讯网</name><uri>{0}/</uri></author>\n<generator>tidings sample portal</generator>\n",
        site.base,
        rfc3339(updated.unwrap_or_else(super::model::seed_time))
    );
    for &i in items {
        let a = &site.arts[i];
        let _ = write!(
            out,
            "<entry>\n<title type=\"text\">{}</title>\n<id>{}</id>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{}{}\"/>\n<published>{}</published>\n\
             <updated>{}</updated>\n<author><name>{}</name></author>\n",
            esc(&a.title),
            atom_id(a),
            site.base,
            a.path(),
            rfc3339(a.published),
            rfc3339(a.updated),
            esc(&a.author)
        );
        for tag in &a.tags {
            let _ = writeln!(out, "<category term=\"{0}\" label=\"{0}\"/>", esc(tag));
        }
        let _ = writeln!(
            out,
            "<summary type=\"text\">{}</summary>",
            esc(&site.summaries[i])
        );
        if a.rich_feed {
            let html = rich_html(site, i);
            let _ = if a.id.is_multiple_of(2) {
                writeln!(out, "<content type=\"html\"><![CDATA[{html}]]></content>")
            } else {
                writeln!(out, "<content type=\"html\">{}</content>", esc(&html))
            };
        }
        out.push_str("</entry>\n");
    }
    out.push_str("</feed>\n");
    out
}
