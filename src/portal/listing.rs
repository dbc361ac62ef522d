//! Listing markup: entries (standard `ul.news-list` or the drifted variant), the pager,
//! listing pages (region, channel, tag) and the home page.

use std::fmt::Write;

use super::Variant;
use super::content::{Block, REGIONS, cut};
use super::html::{Nav, SITE_NAME, esc, layout, region_name, tag_href};
use super::site::Site;

/// Listing entries; the drifted variant uses other markup so `ul.news-list > li` finds nothing.
pub(crate) fn entries(site: &Site, items: &[usize], show_region: bool) -> String {
    let drifted = site.variant == Variant::DriftedListing;
    let mut out = String::from(if drifted {
        "<div class=\"article-list\">\n"
    } else {
        "<ul class=\"news-list\">\n"
    });
    for &i in items {
        let a = &site.arts[i];
        let path = a.path();
        let (title, text) = (esc(&a.title), esc(&cut(&a.title, 24)));
        let summary = esc(&site.summaries[i]);
        let date = a.published.format("%Y-%m-%d");
        let region = if show_region {
            format!("<span class=\"region\">{}</span>", region_name(a))
        } else {
            String::new()
        };
        let thumb = a.body.iter().find_map(|b| match b {
            Block::Image { n, alt, .. } => Some((a.image_url(*n), esc(alt))),
            _ => None,
        });
        let _ = if drifted {
            let pic = thumb.map(|(src, alt)| {
                format!("<div class=\"pic\"><a href=\"{path}\"><img src=\"{src}\" alt=\"{alt}\"></a></div>")
            });
            writeln!(
                out,
                "<div class=\"item\">{}<h4 class=\"item-title\"><a href=\"{path}\" title=\"{title}\">{text}</a></h4>\
                 <div class=\"item-intro\">{summary}</div><div class=\"item-foot\"><em class=\"pubtime\">{date}</em>{region}</div></div>",
                pic.unwrap_or_default()
            )
        } else {
            let pic = thumb.map(|(src, alt)| {
                format!("<a class=\"thumb\" href=\"{path}\"><img src=\"{src}\" alt=\"{alt}\"></a>")
            });
            writeln!(
                out,
                "<li>{}<div class=\"txt\"><h3><a href=\"{path}\" title=\"{title}\" target=\"_blank\">{text}</a></h3>\
                 <p class=\"desc\">{summary}</p><div class=\"meta\"><span class=\"date\">{date}</span>{region}</div></div></li>",
                pic.unwrap_or_default()
            )
        };
    }
    out.push_str(if drifted { "</div>\n" } else { "</ul>\n" });
    out
}

/// `div.pagelist`: relative links, `a.next` absent on the last page.
pub(crate) fn pager(page: usize, pages: usize, total: usize) -> String {
    let href = |n: usize| {
        if n == 1 {
            "index.html".to_string()
        } else {
            format!("index_{n}.html")
        }
    };
    let mut parts = vec![format!("<a href=\"{}\">首页</a>", href(1))];
    if page > 1 {
        parts.push(format!(
            "<a href=\"{}\" class=\"prev\">上一页</a>",
            href(page - 1)
        ));
    }
    for n in 1..=pages {
        parts.push(if n == page {
            format!("<span class=\"thisclass\">{n}</span>")
        } else {
            format!("<a href=\"{}\">{n}</a>", href(n))
        });
    }
    if page < pages {
        parts.push(format!(
            "<a href=\"{}\" class=\"next\">下一页</a>",
            href(page + 1)
        ));
    }
    parts.push(format!("<a href=\"{}\">末页</a>", href(pages)));
    parts.push(format!(
        "<span class=\"pageinfo\">共 <strong>{pages}</strong>页<strong>{total}</strong>条</span>"
    ));
    format!("<div class=\"pagelist\">{}</div>", parts.join(" "))
}

/// One listing page (region, channel or tag): crumbs, heading, entries and pager.
pub(crate) struct Listing<'a> {
    pub heading: &'a str,
    pub crumbs: &'a str,
    pub nav: Nav,
    pub show_region: bool,
}

impl Listing<'_> {
    /// Renders page `page` of `pages` holding `items` out of `total`.
    pub(crate) fn render(
        &self,
        site: &Site,
        items: &[usize],
        page: usize,
        pages: usize,
        total: usize,
    ) -> String {
        let list = if items.is_empty() {
            "<p class=\"empty\">暂无内容</p>\n".to_string()
        } else {
            entries(site, items, self.show_region)
        };
        let left = format!(
            "<div class=\"crumbs\">当前位置：<a href=\"/\">首页</a> &gt; {}</div><div class=\"list-box\">\
             <h2 class=\"list-title\">{}</h2>\n{list}{}</div>\n",
            self.crumbs,
            esc(self.heading),
            pager(page, pages, total)
        );
        let title = format!("{}_{SITE_NAME}", self.heading);
        let description = format!("{SITE_NAME}{}频道", self.heading);
        layout(site, &title, self.heading, &description, self.nav, &left, false)
    }
}

/// The home page: 12 newest listed region articles, region blocks, feeds and a tag cloud.
pub(crate) fn home(site: &Site) -> String {
    let newest: Vec<usize> = site.listed.iter().take(12).copied().collect();
    let mut left = format!(
        "<div class=\"box latest\"><h2>最新资讯</h2>\n{}</div>\n",
        entries(site, &newest, true)
    );
    left.push_str("<div class=\"box regions\"><h2>各市要闻</h2>\n");
    for (r, items) in site.by_region.iter().enumerate() {
        let region = &REGIONS[r];
        let _ = write!(
            left,
            "<div class=\"region-block\" id=\"r-{0}\"><h2><a href=\"/gsyl/{0}/index.html\">{1}</a> \
             <a class=\"more\" href=\"/gsyl/{0}/index.html\">更多&gt;&gt;</a></h2><ul class=\"mini-list\">",
            region.slug, region.name
        );
        for &i in items.iter().take(5) {
            let a = &site.arts[i];
            let _ = write!(
                left,
                "<li><a href=\"{}\" title=\"{1}\">{1}</a><span class=\"date\">{2}</span></li>",
                a.path(),
                esc(&a.title),
                a.published.format("%m-%d")
            );
        }
        left.push_str("</ul></div>\n");
    }
    left.push_str("</div>\n<div class=\"box feeds\"><h2>订阅</h2><ul><li><a href=\"/rss/province.xml\">山西要闻 RSS</a></li>\
                   <li><a href=\"/atom/culture.xml\">文化旅游 Atom</a></li></ul></div>\n");
    let _ = writeln!(
        left,
        "<div class=\"box tag-cloud\"><h2>热门标签</h2>{}</div>",
        tag_links(site)
    );
    let keywords: Vec<&str> = REGIONS.iter().take(site.regions).map(|r| r.name).collect();
    layout(
        site,
        SITE_NAME,
        &keywords.join(","),
        "山西各市新闻、全省要闻与文化旅游资讯",
        Nav::Home,
        &left,
        true,
    )
}

/// Every tag with its listed count, most used first.
pub(crate) fn tag_links(site: &Site) -> String {
    let mut tags: Vec<(&String, usize)> = site.tags.iter().map(|(t, v)| (t, v.len())).collect();
    tags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let links: Vec<String> = tags
        .iter()
        .map(|(t, n)| format!("<a href=\"{}\" title=\"{n}篇\">{}</a>", tag_href(t), esc(t)))
        .collect();
    links.join(" ")
}
