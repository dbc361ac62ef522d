//! Round trips through independent readers (feed-rs, roxmltree, serde_json) with realistic and
//! hostile items.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

use super::*;
use crate::domain::{Article, RegionRef};

const BASE: &str = "https://news.example";

fn meta(format: Format) -> FeedMeta {
    FeedMeta {
        title: "晋中 · Tidings".to_owned(),
        description: "晋中的新闻 & 更多".to_owned(),
        self_url: format!("{BASE}{}", FeedKind::Region("jinzhong".into()).path(format)),
        home_url: format!("{BASE}/"),
        language: "zh-CN".to_owned(),
    }
}

fn cst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<FixedOffset> {
    let tz = FixedOffset::east_opt(8 * 3600).expect("offset");
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0).single().expect("time")
}

fn item(n: u32, title: &str, body: &str) -> Item {
    let published = cst(2025, 3, 10 + n, 8, 30);
    let created = published.with_timezone(&Utc) + chrono::Duration::minutes(7);
    Item {
        id: format!("{n:024x}"),
        source: "sample-portal".to_owned(),
        article: Article {
            url: format!("http://www.shanxidayuan.com/gsyl/jinzhong/{}.html", 1400 + n),
            guid: None,
            title: title.to_owned(),
            author: Some("记者 王芳".to_owned()),
            region: Some(RegionRef {
                slug: "jinzhong".to_owned(),
                name: "晋中".to_owned(),
                known: true,
            }),
            published: Some(published),
            tags: vec!["R&D".to_owned(), "<新>".to_owned(), "5G".to_owned()],
            summary: Some(format!("摘要{n}：榆次区举办春季招聘会。")),
            body_html: Some(body.to_owned()),
            images: vec![format!("http://www.shanxidayuan.com/uploads/{n}.jpg")],
            comments: Some(n),
        },
        created,
        // The second item was edited later than the first was created.
        updated: created + chrono::Duration::hours(i64::from(n)),
    }
}

/// Three items, newest first.
fn items() -> Vec<Item> {
    vec![
        item(
            3,
            "晋中市举行2025年春季招聘会",
            "<p>榆次区<b>春季</b>招聘会今日开幕。</p>",
        ),
        item(
            2,
            "太谷饼入选非遗名录",
            "<p>太谷饼制作技艺。</p><p><img src=\"http://www.shanxidayuan.com/uploads/2.jpg\"></p>",
        ),
        item(1, "5G基站覆盖全部乡镇", "<p>截至3月，全市建成5G基站。</p>"),
    ]
}

fn parse(bytes: &[u8]) -> feed_rs::model::Feed {
    feed_rs::parser::parse(bytes).expect("feed-rs parses the feed")
}

fn xml_doc(bytes: &[u8]) -> roxmltree::Document<'_> {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    roxmltree::Document::parse(text).expect("well-formed XML")
}

/// Text of every descendant element called `name` (any namespace), in document order.
fn texts(doc: &roxmltree::Document<'_>, name: &str) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == name)
        .map(|n| n.text().unwrap_or("").to_owned())
        .collect()
}

fn terms(e: &feed_rs::model::Entry) -> Vec<&str> {
    e.categories.iter().map(|c| c.term.as_str()).collect()
}

#[test]
fn rss_round_trips_titles_links_guids_dates_and_categories() {
    let items = items();
    let bytes = render(Format::Rss, &meta(Format::Rss), &items);
    let feed = parse(&bytes);
    assert_eq!(feed.title.expect("title").content, "晋中 · Tidings");
    assert_eq!(feed.entries.len(), 3);
    for (e, i) in feed.entries.iter().zip(&items) {
        assert_eq!(e.title.as_ref().expect("title").content, i.article.title);
        assert_eq!(e.links[0].href, i.article.url);
        assert_eq!(e.id, format!("urn:tidings:item:{}", i.id));
        assert_eq!(e.published, i.article.published.map(|p| p.with_timezone(&Utc)));
        assert_eq!(terms(e), ["R&D", "<新>", "5G", "晋中"]);
        assert_eq!(e.categories[3].scheme.as_deref(), Some("region"));
        assert_eq!(e.authors[0].name.as_deref(), Some("记者 王芳"));
        assert_eq!(
            e.summary.as_ref().expect("summary").content,
            i.article.summary.as_deref().unwrap()
        );
        let body = e
            .content
            .as_ref()
            .and_then(|c| c.body.as_deref())
            .expect("content");
        assert!(
            body.contains("招聘会") || body.contains("太谷饼") || body.contains("5G"),
            "{body}"
        );
    }

    let doc = xml_doc(&bytes);
    assert_eq!(texts(&doc, "pubDate")[0], "Thu, 13 Mar 2025 08:30:00 +0800");
    assert_eq!(texts(&doc, "lastBuildDate"), ["Thu, 13 Mar 2025 03:37:00 +0000"]);
    assert_eq!(texts(&doc, "generator"), ["Tidings"]);
    assert_eq!(texts(&doc, "language"), ["zh-CN"]);
    let guid = doc.descendants().find(|n| n.has_tag_name("guid")).expect("guid");
    assert_eq!(guid.attribute("isPermaLink"), Some("false"));
    let creator = doc
        .descendants()
        .find(|n| n.has_tag_name(("http://purl.org/dc/elements/1.1/", "creator")))
        .expect("dc:creator");
    assert_eq!(creator.text(), Some("记者 王芳"));
    let content = doc
        .descendants()
        .find(|n| n.has_tag_name(("http://purl.org/rss/1.0/modules/content/", "encoded")))
        .expect("content:encoded");
    assert!(content.text().unwrap_or("").starts_with("<p>榆次区<b>春季</b>"));
    let self_link = doc
        .descendants()
        .find(|n| n.has_tag_name(("http://www.w3.org/2005/Atom", "link")))
        .expect("atom:link");
    assert_eq!(self_link.attribute("rel"), Some("self"));
    assert_eq!(
        self_link.attribute("href"),
        Some("https://news.example/feeds/region/jinzhong.rss")
    );
    assert_eq!(self_link.attribute("type"), Some("application/rss+xml"));
}

#[test]
fn rss_pub_date_falls_back_to_created_and_omits_missing_author() {
    let mut i = item(1, "无日期", "<p>x</p>");
    i.article.published = None;
    i.article.author = None;
    i.created = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).single().expect("time");
    let bytes = render(Format::Rss, &meta(Format::Rss), &[i]);
    let doc = xml_doc(&bytes);
    assert_eq!(texts(&doc, "pubDate"), ["Thu, 2 Jan 2025 03:04:05 +0000"]);
    assert!(texts(&doc, "creator").is_empty());
}

#[test]
fn atom_round_trips_ids_links_dates_authors_and_categories() {
    let items = items();
    let bytes = render(Format::Atom, &meta(Format::Atom), &items);
    let feed = parse(&bytes);
    assert_eq!(feed.id, "https://news.example/feeds/region/jinzhong.atom");
    assert_eq!(feed.updated, Some(last_modified(&items)));
    let rels: Vec<_> = feed
        .links
        .iter()
        .map(|l| (l.rel.as_deref(), l.href.as_str()))
        .collect();
    assert_eq!(
        rels,
        [
            (Some("self"), "https://news.example/feeds/region/jinzhong.atom"),
            (Some("alternate"), "https://news.example/")
        ]
    );
    for (e, i) in feed.entries.iter().zip(&items) {
        assert_eq!(e.id, format!("urn:tidings:item:{}", i.id));
        assert_eq!(e.title.as_ref().expect("title").content, i.article.title);
        assert_eq!(e.links[0].href, i.article.url);
        assert_eq!(e.links[0].rel.as_deref(), Some("alternate"));
        assert_eq!(e.updated, Some(i.updated));
        assert_eq!(e.published, i.article.published.map(|p| p.with_timezone(&Utc)));
        assert_eq!(e.authors[0].name.as_deref(), Some("记者 王芳"));
        assert_eq!(terms(e), ["R&D", "<新>", "5G", "jinzhong"]);
        let region = &e.categories[3];
        assert_eq!(region.label.as_deref(), Some("晋中"));
        assert_eq!(
            region.scheme.as_deref(),
            Some("https://news.example/feeds/region")
        );
        assert_eq!(e.categories[1].label.as_deref(), Some("<新>"));
        assert!(e.content.as_ref().and_then(|c| c.body.as_deref()).is_some());
    }
    let doc = xml_doc(&bytes);
    assert_eq!(texts(&doc, "published")[0], "2025-03-13T08:30:00+08:00");
    let content = doc
        .descendants()
        .find(|n| n.has_tag_name("content"))
        .expect("content");
    assert_eq!(content.attribute("type"), Some("html"));
}

#[test]
fn atom_author_falls_back_to_source() {
    let mut i = item(1, "无作者", "<p>x</p>");
    i.article.author = Some("  ".to_owned());
    let feed = parse(&render(Format::Atom, &meta(Format::Atom), &[i]));
    assert_eq!(feed.entries[0].authors[0].name.as_deref(), Some("sample-portal"));
}

#[test]
fn json_feed_round_trips_with_offsets_and_extension() {
    let items = items();
    let bytes = render(Format::Json, &meta(Format::Json), &items);
    let feed = parse(&bytes);
    assert_eq!(feed.title.expect("title").content, "晋中 · Tidings");
    for (e, i) in feed.entries.iter().zip(&items) {
        assert_eq!(e.id, format!("urn:tidings:item:{}", i.id));
        assert_eq!(e.title.as_ref().expect("title").content, i.article.title);
        assert_eq!(e.links[0].href, i.article.url);
        assert_eq!(e.published, i.article.published.map(|p| p.with_timezone(&Utc)));
        assert_eq!(e.updated, Some(i.updated));
        assert_eq!(terms(e), ["R&D", "<新>", "5G"]);
    }

    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(v["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(v["feed_url"], "https://news.example/feeds/region/jinzhong.json");
    assert_eq!(v["home_page_url"], "https://news.example/");
    assert_eq!(v["language"], "zh-CN");
    let first = &v["items"][0];
    assert_eq!(first["date_published"], "2025-03-13T08:30:00+08:00");
    assert_eq!(first["date_modified"], "2025-03-13T03:37:00Z");
    assert_eq!(first["authors"][0]["name"], "记者 王芳");
    assert_eq!(first["image"], "http://www.shanxidayuan.com/uploads/3.jpg");
    assert_eq!(first["_tidings"]["source"], "sample-portal");
    assert_eq!(first["_tidings"]["region"]["slug"], "jinzhong");
    assert_eq!(first["_tidings"]["region"]["name"], "晋中");
    assert!(first["content_html"].as_str().expect("html").contains("招聘会"));
}

#[test]
fn json_feed_item_without_body_has_content_text() {
    let mut i = item(1, "无正文", "");
    i.article.body_html = None;
    let v: serde_json::Value =
        serde_json::from_slice(&render(Format::Json, &meta(Format::Json), &[i])).expect("JSON");
    assert_eq!(v["items"][0]["content_text"], "摘要1：榆次区举办春季招聘会。");
    assert!(v["items"][0].get("content_html").is_none());
}

#[test]
fn same_input_gives_same_bytes() {
    for format in Format::ALL {
        let a = render(format, &meta(format), &items());
        let b = render(format, &meta(format), &items());
        assert_eq!(a, b, "{format:?}");
    }
}

#[test]
fn empty_feed_uses_1970() {
    let rss = render(Format::Rss, &meta(Format::Rss), &[]);
    assert_eq!(
        texts(&xml_doc(&rss), "lastBuildDate"),
        ["Thu, 1 Jan 1970 00:00:00 +0000"]
    );
    assert!(parse(&rss).entries.is_empty());

    let atom = render(Format::Atom, &meta(Format::Atom), &[]);
    let feed = parse(&atom);
    assert!(feed.entries.is_empty());
    assert_eq!(feed.updated, Some(DateTime::UNIX_EPOCH));
    assert_eq!(texts(&xml_doc(&atom), "updated"), ["1970-01-01T00:00:00+00:00"]);

    let json = render(Format::Json, &meta(Format::Json), &[]);
    assert!(parse(&json).entries.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    assert_eq!(v["items"], serde_json::json!([]));
}

const HOSTILE_TITLES: [&str; 7] = [
    "end ]]> of CDATA",
    "R&D & <b>bold</b>",
    "<script>alert(1)</script>",
    "ctl\u{1}x\u{b}y\u{0}z",
    "nonchar\u{fffe}\u{ffff}",
    "📰 新闻 \u{fffd}",
    "quote \" ' done",
];

const HOSTILE_BODIES: [&str; 7] = [
    "<p>a</p><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<p title=\"]]>\">cdata ]]> end</p>",
    "<p>refs &#1;&#xb;&#xFFFE;&#0; gone</p>",
    "<p onclick=\"alert(1)\" style=\"x\">\u{1}raw\u{fffe}</p><iframe src=\"http://evil/\"></iframe>",
    "<svg><a xlink:href=\"javascript:alert(1)\">y</a></svg><math><mi>z</mi></math>",
];

/// The titles as every format must read them back.
const CLEAN_TITLES: [&str; 7] = [
    "end ]]> of CDATA",
    "R&D & <b>bold</b>",
    "<script>alert(1)</script>",
    "ctlxyz",
    "nonchar",
    "📰 新闻 \u{fffd}",
    "quote \" ' done",
];

fn hostile_items() -> Vec<Item> {
    HOSTILE_TITLES
        .iter()
        .zip(HOSTILE_BODIES)
        .enumerate()
        .map(|(n, (title, body))| {
            let mut i = item(n as u32 + 1, title, body);
            i.article.summary = Some(format!("{title} <script>alert(2)</script> ]]> \u{1}"));
            i.article.author = Some(format!("{title}\u{b}"));
            i.article.tags.push(format!("tag{title}"));
            i.article.url = format!("http://example.com/a?x={n}&y=\"q\"<>");
            i
        })
        .collect()
}

/// No script, event handler or `javascript:` URL in a piece of HTML.
fn assert_inert(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in ["<script", "onerror", "onclick", "javascript:", "<iframe"] {
        assert!(!lower.contains(bad), "{bad} in {html}");
    }
}

#[test]
fn hostile_items_give_well_formed_inert_feeds() {
    let items = hostile_items();
    for format in Format::ALL {
        let bytes = render(format, &meta(format), &items);
        let feed = parse(&bytes);
        assert_eq!(feed.entries.len(), items.len(), "{format:?}");
        for (n, e) in feed.entries.iter().enumerate() {
            let title = &e.title.as_ref().expect("title").content;
            assert_eq!(title, CLEAN_TITLES[n], "{format:?}");
            // feed-rs percent-encodes the quote and angle brackets.
            assert!(
                e.links[0]
                    .href
                    .starts_with(&format!("http://example.com/a?x={n}&y="))
            );
            // HTML content must be inert (JSON's `content_text` stand-in is plain text).
            if let Some(c) = e
                .content
                .as_ref()
                .filter(|c| c.content_type.to_string() == "text/html")
            {
                assert_inert(c.body.as_deref().unwrap_or(""));
            }
            let summary = &e.summary.as_ref().expect("summary").content;
            assert!(!summary.contains('\u{1}'));
        }
        // The sanitizer writes the CDATA terminator as `]]&gt;`, in text and attributes.
        let body = feed.entries[3]
            .content
            .as_ref()
            .and_then(|c| c.body.as_deref())
            .expect("body");
        assert_eq!(body, "<p title=\"]]&gt;\">cdata ]]&gt; end</p>", "{format:?}");
        // Character references for forbidden characters are dropped, not passed on.
        let body = feed.entries[4]
            .content
            .as_ref()
            .and_then(|c| c.body.as_deref())
            .expect("body");
        assert!(
            body.contains("refs \u{fffd} gone") || body.contains("refs  gone"),
            "{format:?}: {body}"
        );

        let raw = String::from_utf8(bytes.clone()).expect("UTF-8");
        assert!(
            !raw.contains("onerror") && !raw.contains("javascript:"),
            "{format:?}"
        );
        assert!(
            !raw.contains(['\u{0}', '\u{1}', '\u{b}', '\u{fffe}', '\u{ffff}']),
            "{format:?}"
        );
        match format {
            Format::Rss | Format::Atom => {
                // Titles are text: their `<script>` is escaped, never markup.
                assert!(!raw.contains("<script"), "{format:?}");
                let doc = xml_doc(&bytes);
                assert!(doc.descendants().all(|n| n.tag_name().name() != "script"));
                assert!(doc.descendants().all(|n| n.tag_name().name() != "b"));
            }
            Format::Json => {
                let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
                for item in v["items"].as_array().expect("items") {
                    assert_inert(item["content_html"].as_str().unwrap_or(""));
                }
            }
        }
    }
}

#[test]
fn rss_description_keeps_summary_as_text() {
    let bytes = render(Format::Rss, &meta(Format::Rss), &hostile_items());
    let feed = parse(&bytes);
    // The description holds the summary escaped as HTML: a reader rendering it shows the text.
    let summary = &feed.entries[2].summary.as_ref().expect("summary").content;
    assert!(
        summary.starts_with("&lt;script&gt;alert(1)&lt;/script&gt; &lt;script&gt;"),
        "{summary}"
    );
    assert!(summary.contains("]]&gt;"), "{summary}");
}

#[test]
fn cdata_terminator_in_content_is_split() {
    // The sanitizer escapes `>` everywhere, so a stored body never reaches the RSS writer with
    // `]]>`; check the writer itself with a body that bypasses it.
    let items = items();
    let mut prepared: Vec<_> = items.iter().map(Prepared::new).collect();
    let body = "<p title=\"]]>\">a]]>b]]]]>c</p>";
    prepared[0].body_html = Some(body.to_owned());
    let bytes = rss::render(
        &meta(Format::Rss),
        &prepared,
        prepared::utc(last_modified(&items)),
    );
    let raw = std::str::from_utf8(&bytes).expect("UTF-8");
    assert!(
        raw.contains("<![CDATA[<p title=\"]]]]><![CDATA[>\">a]]]]><![CDATA[>b]]]]]]><![CDATA[>c</p>]]>"),
        "{raw}"
    );
    let doc = xml_doc(&bytes);
    assert_eq!(texts(&doc, "encoded")[0], body);
    let feed = parse(&bytes);
    assert_eq!(
        feed.entries[0].content.as_ref().and_then(|c| c.body.as_deref()),
        Some(body)
    );
}

#[test]
fn out_of_range_dates_do_not_panic() {
    let mut i = item(1, "远古", "<p>x</p>");
    let tz = FixedOffset::east_opt(-3600).expect("offset");
    i.article.published = Some(tz.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single().expect("time"));
    for format in Format::ALL {
        let bytes = render(format, &meta(format), std::slice::from_ref(&i));
        assert_eq!(parse(&bytes).entries.len(), 1);
    }
}

#[test]
fn opml_lists_every_feed_escaped() {
    let groups = vec![
        OpmlGroup {
            title: "地区".to_owned(),
            feeds: Format::ALL
                .iter()
                .map(|&f| OpmlFeed {
                    title: "晋中 · Tidings".to_owned(),
                    xml_url: format!("{BASE}{}", FeedKind::Region("jinzhong".into()).path(f)),
                    html_url: format!("{BASE}/"),
                    format: f,
                })
                .collect(),
        },
        OpmlGroup {
            title: "标签 <R&D>".to_owned(),
            feeds: vec![OpmlFeed {
                title: "R&D \"研发\"\u{1}".to_owned(),
                xml_url: format!("{BASE}{}", FeedKind::Tag("R&D".into()).path(Format::Atom)),
                html_url: format!("{BASE}/?a=1&b=2"),
                format: Format::Atom,
            }],
        },
    ];
    let bytes = opml("Tidings & co", &groups);
    assert_eq!(bytes, opml("Tidings & co", &groups));
    let doc = xml_doc(&bytes);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "opml");
    assert_eq!(root.attribute("version"), Some("2.0"));
    assert_eq!(texts(&doc, "title"), ["Tidings & co"]);
    let body = root.children().find(|n| n.has_tag_name("body")).expect("body");
    let group_titles: Vec<_> = body.children().filter_map(|g| g.attribute("text")).collect();
    assert_eq!(group_titles, ["地区", "标签 <R&D>"]);
    let feeds: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("xmlUrl").is_some())
        .collect();
    assert_eq!(feeds.len(), 4);
    for (f, g) in feeds.iter().zip(groups.iter().flat_map(|g| &g.feeds)) {
        assert_eq!(f.attribute("type"), Some("rss"));
        assert_eq!(f.attribute("xmlUrl"), Some(g.xml_url.as_str()));
        assert_eq!(f.attribute("htmlUrl"), Some(g.html_url.as_str()));
        assert_eq!(f.attribute("text"), Some(g.title.trim_end_matches('\u{1}')));
        assert_eq!(f.attribute("title"), f.attribute("text"));
    }
    assert_eq!(feeds[0].attribute("version"), Some("RSS2"));
    assert_eq!(
        feeds[3].attribute("xmlUrl"),
        Some("https://news.example/feeds/tag/R%26D.atom")
    );
}
