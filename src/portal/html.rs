//! Page templates in the portal's layout: escaping, the chrome every page shares (head,
//! navigation, sidebar, footer) and article pages.

use std::fmt::Write;

use super::content::{Block, REGIONS};
use super::model::{Art, Channel};
use super::site::Site;

pub(crate) const SITE_NAME: &str = "山西大院资讯网";

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

pub(crate) fn region_name(a: &Art) -> &'static str {
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

/// A small page for unknown paths.
pub(crate) const NOT_FOUND: &str = "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<title>404 页面不存在</title></head><body><h1>404</h1><p>您访问的页面不存在。<a href=\"/\">返回首页</a></p></body></html>\n";
