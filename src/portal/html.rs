//! Page templates in the portal's layout: the chrome every page shares, article pages,
//! listing entries (standard and drifted markup), pagination and the home page.

use std::fmt::Write;

use super::Variant;
use super::content::{Block, REGIONS};
use super::model::{Art, Channel, cut};
use super::site::Site;

const SITE_NAME: &str = "山西大院资讯网";

/// Escapes text for HTML and XML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes every byte except RFC 3986 unreserved characters.
pub(crate) fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The percent-encoded path of a tag page.
pub(crate) fn tag_href(tag: &str) -> String {
    format!("/tag/{}.html", pct(tag))
}

/// Which navigation entry is highlighted.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Nav {
    Home,
    Region(usize),
    Channel(Channel),
    Tags,
}

/// A whole page: head, top bar, header, navigation, `left` column, optional sidebar, footer.
pub(crate) fn layout(
    site: &Site,
    title: &str,
    keywords: &str,
    description: &str,
    nav: Nav,
    left: &str,
    with_sidebar: bool,
) -> String {
    let mut out = String::with_capacity(left.len() + 6000);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<meta name=\"keywords\" content=\"{}\">\n<meta name=\"description\" content=\"{}\">\n\
         <link rel=\"stylesheet\" type=\"text/css\" href=\"/static/css/style.css\">\n\
         <link rel=\"alternate\" type=\"application/rss+xml\" title=\"山西要闻\" href=\"/rss/province.xml\">\n\
         <link rel=\"alternate\" type=\"application/atom+xml\" title=\"文化旅游\" href=\"/atom/culture.xml\">\n\
         <script>var _stat = _stat || []; _stat.push(['page', location.pathname]);</script>\n</head>\n<body>\n\
         <div class=\"topbar\"><div class=\"wrap\"><span class=\"welcome\">欢迎访问{SITE_NAME}！</span> \
         <span class=\"user\"><a href=\"javascript:;\" class=\"login\">登录</a> | <a href=\"javascript:;\">注册</a> \
         <i class=\"msg-num\">0</i></span></div></div>\n\
         <div class=\"header\"><div class=\"wrap\"><div class=\"logo\"><a href=\"/\"><img src=\"/static/img/logo.png\" \
         alt=\"{SITE_NAME}\" width=\"180\" height=\"48\"> {SITE_NAME}</a></div></div></div>\n",
        esc(title),
        esc(keywords),
        esc(description)
    );
    out.push_str("<div class=\"nav\"><div class=\"wrap\"><ul>");
    let mut item = |on: bool, href: &str, text: &str| {
        let class = if on { " class=\"on\"" } else { "" };
        let _ = write!(out, "<li{class}><a href=\"{href}\">{text}</a></li>");
    };
    item(nav == Nav::Home, "/", "首页");
    for (r, region) in REGIONS.iter().enumerate().take(site.regions) {
        item(
            nav == Nav::Region(r),
            &format!("/gsyl/{}/", region.slug),
            region.name,
        );
    }
    item(nav == Nav::Channel(Channel::Sxyw), "/sxyw/", "山西要闻");
    item(nav == Nav::Channel(Channel::Wenhua), "/wenhua/", "文化旅游");
    item(nav == Nav::Tags, "/tag/", "标签");
    out.push_str("</ul></div></div>\n<div class=\"wrap main\"><div class=\"left\">\n");
    out.push_str(left);
    out.push_str("</div>\n");
    if with_sidebar {
        out.push_str(&site.sidebar);
    }
    out.push_str(FOOTER);
    out
}

const FOOTER: &str = "</div>\n<div class=\"footer\"><div class=\"wrap\">\n\
<div class=\"about\"><h4>关于本站</h4><p>山西大院资讯网汇集全省各市要闻、文化旅游与便民信息，服务本地网友。</p></div>\n\
<p class=\"copy\">Copyright &copy; 山西大院资讯网 示例站点</p>\n\
<p class=\"mail\">E-mail: <span class=\"__cf_email__\" data-cfemail=\"5e2d3f33\">[email&#160;protected]</span></p>\n\
</div></div>\n<script src=\"/static/js/common.js\"></script>\n\
<script>if (window.portal) { portal.init({ hot: '<a href=\"/\">热点</a>' }); }</script>\n</body>\n</html>\n";

/// The `<div class="right">` "最新文章" sidebar over the newest listed region articles.
pub(crate) fn sidebar(site: &Site) -> String {
    let mut out = String::from("<div class=\"right\"><div class=\"box hot\"><h3>最新文章</h3><ul>");
    for &i in site.listed.iter().take(6) {
        let a = &site.arts[i];
        let _ = write!(out, "<li><a href=\"{}\">{}</a></li>", a.path(), esc(&a.title));
    }
    out.push_str("</ul></div></div>\n");
    out
}

fn region_name(a: &Art) -> &'static str {
    a.region.map_or("山西", |r| REGIONS[r].name)
}

/// A channel page: the region listing for `gsyl`, the channel index otherwise.
fn home_of(a: &Art) -> String {
    match (a.channel, a.region) {
        (Channel::Gsyl, Some(r)) => format!("/gsyl/{}/", REGIONS[r].slug),
        (channel, _) => format!("/{}/", channel.name()),
    }
}

/// One article page of any channel.
pub(crate) fn article_page(site: &Site, i: usize) -> String {
    let a = &site.arts[i];
    let mut left = String::with_capacity(8000);
    let crumbs = match (a.channel, a.region) {
        (Channel::Gsyl, Some(r)) => format!(
            "<a href=\"/gsyl/\">各市要闻</a> &gt; <a href=\"{}\">{}</a>",
            home_of(a),
            REGIONS[r].name
        ),
        (Channel::Sxyw, _) => "<a href=\"/sxyw/\">山西要闻</a>".to_string(),
        _ => "<a href=\"/wenhua/\">文化旅游</a>".to_string(),
    };
    let _ = write!(
        left,
        "<div class=\"crumbs\">当前位置：<a href=\"/\">首页</a> &gt; {crumbs} &gt; 正文</div>\n<div class=\"article\">\n\
         <h1>{}</h1>\n<div class=\"info\">\n<span class=\"author\">{}</span>\n\
         <span class=\"region\"><a href=\"{}\">{}</a></span>\n<span class=\"time\">{}</span>\n\
         <span class=\"comment\"><a href=\"#comments\" title=\"评论数\"><em>{}</em></a></span>\n<span class=\"tags\">",
        esc(&a.title),
        esc(&a.author),
        home_of(a),
        region_name(a),
        a.published.format("%Y-%m-%d %H:%M:%S"),
        a.comments
    );
    let tags: Vec<String> = a
        .tags
        .iter()
        .map(|t| format!("<a href=\"{}\" rel=\"tag\">{}</a>", tag_href(t), esc(t)))
        .collect();
    left.push_str(&tags.join(" "));
    left.push_str("</span>\n</div>\n<div class=\"content\">\n");
    let depth = a.path().matches('/').count() - 1;
    for block in &a.body {
        match block {
            Block::Paragraph { lead, text } => {
                let indent = if a.indented { "\u{3000}\u{3000}" } else { "" };
                let lead = lead
                    .as_deref()
                    .map(|l| format!("<strong>{}</strong>", esc(l)))
                    .unwrap_or_default();
                let _ = writeln!(left, "<p>{indent}{lead}{}</p>", esc(text));
            }
            Block::Heading(h) => {
                let _ = writeln!(
                    left,
                    "<p style=\"text-align:center;\"><strong>{}</strong></p>",
                    esc(h)
                );
            }
            Block::Image { n, relative, alt } => {
                let url = a.image_url(*n);
                let src = if *relative {
                    format!("{}{}", "../".repeat(depth), &url[1..])
                } else {
                    url
                };
                let _ = writeln!(
                    left,
                    "<p style=\"text-align:center;\"><img src=\"{src}\" alt=\"{}\" width=\"600\" height=\"400\" border=\"0\"></p>",
                    esc(alt)
                );
            }
        }
    }
    let url = format!("{}{}", site.base, a.path());
    let _ = write!(
        left,
        "</div>\n<div class=\"digg\"><a href=\"javascript:;\" class=\"diggit\">赞 <span class=\"diggnum\">0</span></a></div>\n\
         <div class=\"copyright\">\n<p><strong>版权声明</strong></p>\n<p>本文仅代表作者观点，不代表本站立场。<br>\
         本文地址：<a href=\"{url}\">{url}</a></p>\n</div>\n{}\n\
         <div class=\"comments\" id=\"comments\">\n<h3>留言与评论（共有 <span id=\"comment-count\"></span> 条评论）</h3>\n\
         <ul class=\"comment-list\"></ul>\n<form class=\"comment-form\" action=\"/plus/feedback.php\" method=\"post\">\n\
         <input type=\"hidden\" name=\"aid\" value=\"{}\">\n<textarea name=\"msg\" rows=\"4\" placeholder=\"说点什么吧...\"></textarea>\n\
         <div class=\"vcode\">验证码：<input type=\"text\" name=\"validate\" size=\"4\"> \
         <img src=\"/static/img/vcode.png\" alt=\"验证码\" width=\"60\" height=\"24\"></div>\n\
         <button type=\"submit\">发表评论</button>\n</form>\n</div>\n</div>\n",
        pre_next(site, i),
        a.id
    );
    let title = format!("{}_{}_{SITE_NAME}", a.title, region_name(a));
    let nav = match (a.channel, a.region) {
        (Channel::Gsyl, Some(r)) => Nav::Region(r),
        (channel, _) => Nav::Channel(channel),
    };
    layout(
        site,
        &title,
        &a.tags.join(","),
        &site.summaries[i],
        nav,
        &left,
        true,
    )
}

fn pre_next(site: &Site, i: usize) -> String {
    let (older, newer) = site.neighbours(i);
    let link = |j: Option<usize>| match j {
        Some(j) => format!(
            "<a href=\"{}\">{}</a>",
            site.arts[j].path(),
            esc(&site.arts[j].title)
        ),
        None => "没有了".to_string(),
    };
    format!(
        "<div class=\"pre-next\"><p class=\"pre\">上一篇：{}</p><p class=\"next\">下一篇：{}</p></div>",
        link(older),
        link(newer)
    )
}

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

/// A small page for unknown paths.
pub(crate) const NOT_FOUND: &str = "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<title>404 页面不存在</title></head><body><h1>404</h1><p>您访问的页面不存在。<a href=\"/\">返回首页</a></p></body></html>\n";
