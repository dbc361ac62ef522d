//! Generation tests: determinism, the seed article, epochs, listings, tags and variants.

use scraper::{ElementRef, Html, Selector};

use super::*;

fn params(per_region: usize, epoch: u32) -> PortalParams {
    PortalParams {
        per_region,
        epoch,
        ..PortalParams::default()
    }
}

fn page(portal: &Portal, path: &str) -> Html {
    let bytes = portal.files.get(path).unwrap_or_else(|| panic!("{path} missing"));
    Html::parse_document(std::str::from_utf8(bytes).unwrap())
}

fn text(doc: &Html, selector: &str) -> Vec<String> {
    let selector = Selector::parse(selector).unwrap();
    doc.select(&selector)
        .map(|e| e.text().collect::<String>())
        .collect()
}

fn attrs(doc: &Html, selector: &str, attr: &str) -> Vec<String> {
    let selector = Selector::parse(selector).unwrap();
    doc.select(&selector)
        .map(|e: ElementRef| e.value().attr(attr).unwrap().to_string())
        .collect()
}

fn article(truth: &Truth, id: u64) -> &ArticleTruth {
    truth
        .articles
        .iter()
        .chain(&truth.feed_pages)
        .find(|a| a.id == id)
        .unwrap()
}

#[test]
fn same_params_give_byte_identical_sites() {
    let p = params(12, 2);
    let (a, b) = (generate(&p), generate(&p));
    assert_eq!(a.files, b.files);
    assert_eq!(a.truth, b.truth);
    let other = generate(&PortalParams { seed: 7, ..p });
    assert_ne!(a.files, other.files);
}

#[test]
fn seed_article_page_shows_the_documented_facts() {
    let portal = generate(&PortalParams::default());
    let doc = page(&portal, "/gsyl/jinzhong/1453.html");
    assert_eq!(
        text(&doc, "div.article > h1"),
        ["我市经济社会各项事业成绩突出亮点纷呈"]
    );
    assert_eq!(text(&doc, "div.info > span.author"), ["网络编辑"]);
    assert_eq!(text(&doc, "div.info > span.region"), ["晋中"]);
    assert_eq!(text(&doc, "div.info > span.time"), ["2022-02-23 10:43:56"]);
    assert_eq!(text(&doc, "div.info > span.comment em"), ["0"]);
    assert_eq!(text(&doc, "div.info > span.tags > a"), ["晋中", "高质量", "我市"]);
    assert_eq!(
        attrs(&doc, "div.content img", "src"),
        ["../../uploads/allimg/220223/1453-1.png"]
    );
    assert!(portal.files.contains_key("/uploads/allimg/220223/1453-1.png"));
    assert!(
        text(&doc, "div.copyright")
            .concat()
            .contains("http://www.shanxidayuan.com/gsyl/jinzhong/1453.html")
    );
    let seed = article(&portal.truth, 1453);
    assert_eq!(seed.published.to_rfc3339(), "2022-02-23T10:43:56+08:00");
    assert_eq!(
        (seed.path.as_str(), seed.region_slug.as_str()),
        ("/gsyl/jinzhong/1453.html", "jinzhong")
    );
    // Absent without 晋中 or without articles (another article may then carry id 1453).
    let six = generate(&PortalParams {
        regions: 6,
        ..PortalParams::default()
    });
    assert!(!six.files.contains_key("/gsyl/jinzhong/1453.html"));
    assert!(!six.truth.articles.iter().any(|a| a.title == content::SEED_TITLE));
    assert!(generate(&params(0, 0)).truth.articles.is_empty());
}

#[test]
fn ids_grow_with_publish_time_across_channels() {
    let truth = generate(&params(30, 3)).truth;
    let mut all: Vec<&ArticleTruth> = truth.articles.iter().chain(&truth.feed_pages).collect();
    all.sort_by_key(|a| a.id);
    assert!(
        all.windows(2)
            .all(|w| w[0].published <= w[1].published && w[0].id < w[1].id)
    );
    let base = all.iter().filter(|a| a.epoch_added == 0);
    assert!(
        base.clone()
            .all(|a| a.published.format("%Y-%m-%d").to_string().as_str() >= "2022-01-15")
    );
    assert!(
        base.clone()
            .all(|a| a.published.format("%Y-%m-%d").to_string().as_str() <= "2022-03-31")
    );
    let (ours, others): (Vec<&ArticleTruth>, Vec<&ArticleTruth>) =
        all.iter().partition(|a| a.author == "网络编辑");
    assert!(ours.len() * 3 > others.len() && others.len() * 3 > ours.len());
    assert!(others.iter().any(|a| a.author.contains(' ')));
}

#[test]
fn epoch_one_adds_edits_and_removes_articles() {
    let (e0, e1) = (generate(&params(10, 0)).truth, generate(&params(10, 1)).truth);
    let max0 = e0
        .articles
        .iter()
        .chain(&e0.feed_pages)
        .map(|a| a.id)
        .max()
        .unwrap();
    let new: Vec<&ArticleTruth> = e1.articles.iter().filter(|a| a.epoch_added == 1).collect();
    for region in &e1.regions {
        let n = new.iter().filter(|a| a.region_slug == region.slug).count();
        assert!((1..=3).contains(&n), "{} got {n}", region.slug);
    }
    assert!(
        new.iter()
            .all(|a| a.id > max0 && a.published.format("%m-%d").to_string().as_str() >= "04-01")
    );
    let edited: Vec<_> = e1.articles.iter().filter(|a| a.edited_epoch == Some(1)).collect();
    let removed: Vec<_> = e1.articles.iter().filter(|a| !a.listed).collect();
    assert_eq!((edited.len(), removed.len()), (1, 1));
    let before = article(&e0, edited[0].id);
    assert_eq!(edited[0].original_title.as_deref(), Some(before.title.as_str()));
    assert!(edited[0].title.starts_with(&before.title) && edited[0].title.len() > before.title.len());
    assert!(edited[0].id != 1453 && removed[0].id != 1453);
    assert!(e1.regions.iter().all(|r| !r.listed_ids.contains(&removed[0].id)));
    // Everything else that existed is unchanged.
    for a in e0
        .articles
        .iter()
        .filter(|a| a.id != edited[0].id && a.id != removed[0].id)
    {
        assert_eq!(a, article(&e1, a.id));
    }
    let portal1 = generate(&params(10, 1));
    assert!(portal1.files.contains_key(&removed[0].path));
    let home = String::from_utf8(portal1.files["/index.html"].clone()).unwrap();
    assert!(!home.contains(&format!("\"{}\"", removed[0].path)));
    // Feeds: 3 new RSS items, 2 new Atom entries, one updated Atom entry still in the feed.
    let (rss0, rss1) = (&e0.feeds[0].items, &e1.feeds[0].items);
    assert_eq!((rss0.len(), rss1.len()), (30, 30));
    assert_eq!(rss1[3..], rss0[..27]);
    let atom1 = &e1.feeds[1].items;
    assert_eq!(atom1.len(), 20);
    assert!(atom1[..2].iter().all(|i| i.id > max0));
    assert_eq!(atom1.iter().filter(|i| i.title.ends_with("（更新）")).count(), 1);
    let atom = String::from_utf8(portal1.files["/atom/culture.xml"].clone()).unwrap();
    assert!(atom.contains("<updated>2022-04-02T23:30:00+08:00</updated>"));
}

#[test]
fn listing_pages_paginate_newest_first_with_relative_next_links() {
    let portal = generate(&PortalParams {
        per_region: 45,
        ..PortalParams::default()
    });
    let region = portal
        .truth
        .regions
        .iter()
        .find(|r| r.slug == "jinzhong")
        .unwrap();
    assert_eq!((region.pages, region.listed_ids.len()), (3, 45));
    let mut seen = Vec::new();
    for (n, name) in ["index.html", "index_2.html", "index_3.html"].iter().enumerate() {
        let doc = page(&portal, &format!("/gsyl/jinzhong/{name}"));
        let next = attrs(&doc, "div.pagelist a.next", "href");
        assert_eq!(
            next,
            if n < 2 {
                vec![format!("index_{}.html", n + 2)]
            } else {
                vec![]
            }
        );
        let hrefs = attrs(&doc, "ul.news-list > li h3 > a", "href");
        assert_eq!(hrefs.len(), if n < 2 { 20 } else { 5 });
        let titles = attrs(&doc, "ul.news-list > li h3 > a", "title");
        let shown = text(&doc, "ul.news-list > li h3 > a");
        let dates = text(&doc, "ul.news-list > li span.date");
        let descs = text(&doc, "ul.news-list > li p.desc");
        for (k, href) in hrefs.iter().enumerate() {
            let id: u64 = href
                .trim_start_matches("/gsyl/jinzhong/")
                .trim_end_matches(".html")
                .parse()
                .unwrap();
            let a = article(&portal.truth, id);
            assert_eq!(
                (&titles[k], &dates[k], &descs[k]),
                (&a.title, &a.published.format("%Y-%m-%d").to_string(), &a.summary)
            );
            let cut = if a.title.chars().count() > 24 {
                format!("{}…", a.title.chars().take(24).collect::<String>())
            } else {
                a.title.clone()
            };
            assert_eq!(shown[k], cut);
            assert!(a.summary.chars().count() <= 57);
            seen.push(id);
        }
    }
    assert_eq!(seen, region.listed_ids);
    assert!(portal.truth.articles.iter().any(|a| a.title.chars().count() > 24));
    let dates: Vec<_> = seen
        .iter()
        .map(|&id| article(&portal.truth, id).published)
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
    assert!(portal.files.contains_key("/gsyl/index.html") && portal.files.contains_key("/robots.txt"));
    assert_eq!(portal.files["/robots.txt"], b"User-agent: *\nDisallow: /plus/\n");
}

#[test]
fn hostile_tags_are_on_region_articles_and_escaped_everywhere() {
    let portal = generate(&params(5, 0));
    for tag in ["5G", "AI", "R&D", "<新>"] {
        let a = portal
            .truth
            .articles
            .iter()
            .find(|a| a.tags.iter().any(|t| t == tag))
            .unwrap();
        let doc = page(&portal, &a.path);
        assert!(text(&doc, "div.info > span.tags > a").contains(&tag.to_string()));
        assert!(portal.files.contains_key(&format!("/tag/{tag}.html")), "{tag}");
    }
    let tag = portal.truth.tags.iter().find(|t| t.tag == "<新>").unwrap();
    assert_eq!(tag.path, "/tag/%3C%E6%96%B0%3E.html");
    assert!(tag.listed_count >= 1);
    let rd = portal
        .truth
        .articles
        .iter()
        .find(|a| a.tags.iter().any(|t| t == "R&D"))
        .unwrap();
    let html = String::from_utf8(portal.files[&rd.path].clone()).unwrap();
    assert!(html.contains("<a href=\"/tag/R%26D.html\" rel=\"tag\">R&amp;D</a>"));
    let rss = String::from_utf8(portal.files["/rss/province.xml"].clone()).unwrap();
    assert!(
        rss.contains("<title>山西省R&amp;D经费投入强度创历史新高</title>")
            && rss.contains("<category>R&amp;D</category>")
    );
    let atom = String::from_utf8(portal.files["/atom/culture.xml"].clone()).unwrap();
    assert!(atom.contains("<category term=\"&lt;新&gt;\" label=\"&lt;新&gt;\"/>"));
    // Both feeds parse, with the documented sizes.
    let rss = feed_rs::parser::parse(portal.files["/rss/province.xml"].as_slice()).unwrap();
    let atom = feed_rs::parser::parse(portal.files["/atom/culture.xml"].as_slice()).unwrap();
    assert_eq!((rss.entries.len(), atom.entries.len()), (30, 20));
    assert!(
        rss.entries
            .iter()
            .any(|e| e.categories.iter().any(|c| c.term == "R&D"))
    );
    assert!(
        atom.entries
            .iter()
            .any(|e| e.categories.iter().any(|c| c.term == "<新>"))
    );
}

#[test]
fn article_bodies_carry_the_tricky_markup() {
    let portal = generate(&PortalParams::default());
    let pages: Vec<String> = portal
        .truth
        .articles
        .iter()
        .map(|a| String::from_utf8(portal.files[&a.path].clone()).unwrap())
        .collect();
    assert!(pages.iter().any(|p| p.contains("<p>\u{3000}\u{3000}")));
    assert!(
        pages
            .iter()
            .any(|p| p.contains("<p style=\"text-align:center;\"><strong>"))
    );
    assert!(
        pages
            .iter()
            .any(|p| p.contains("<p>\u{3000}\u{3000}<strong>") || p.contains("<p><strong>本报讯"))
    );
    assert!(
        pages
            .iter()
            .all(|p| p.contains("<script>") && p.contains("class=\"pre-next\""))
    );
    for a in &portal.truth.articles {
        assert!(a.image_paths.iter().all(|p| portal.files.contains_key(p)));
        let doc = page(&portal, &a.path);
        let paragraphs = text(&doc, "div.content > p").len() - a.image_paths.len();
        assert!((3..=11).contains(&paragraphs), "{}", a.path);
    }
    let manifest: Truth = serde_json::from_slice(&portal.files["/manifest.json"]).unwrap();
    assert_eq!(manifest, portal.truth);
}

#[test]
fn drifted_listing_hides_entries_from_the_standard_recipe() {
    let portal = generate(&PortalParams {
        variant: Variant::DriftedListing,
        ..params(5, 0)
    });
    let listing = page(&portal, "/gsyl/jinzhong/index.html");
    assert!(text(&listing, "ul.news-list > li").is_empty());
    assert_eq!(
        text(&listing, "div.article-list > div.item h4.item-title > a").len(),
        5
    );
    let standard = generate(&params(5, 0));
    assert_eq!(
        portal.files["/gsyl/jinzhong/1453.html"],
        standard.files["/gsyl/jinzhong/1453.html"]
    );
}

#[test]
fn moved_urls_serve_region_articles_elsewhere_with_the_same_content() {
    let moved = generate(&PortalParams {
        variant: Variant::MovedUrls,
        ..params(5, 0)
    });
    let standard = generate(&params(5, 0));
    assert!(!moved.files.contains_key("/gsyl/jinzhong/1453.html"));
    let seed = moved
        .truth
        .articles
        .iter()
        .find(|a| a.title == content::SEED_TITLE)
        .unwrap();
    assert_eq!(seed.path, "/gsyl/jinzhong/101453.html");
    let doc = page(&moved, &seed.path);
    assert_eq!(text(&doc, "div.info > span.time"), ["2022-02-23 10:43:56"]);
    for (m, s) in moved.truth.articles.iter().zip(&standard.truth.articles) {
        assert_eq!(
            (m.id, &m.title, m.published),
            (s.id + MOVED_ID_OFFSET, &s.title, s.published)
        );
        assert!(moved.files.contains_key(&m.path) && !moved.files.contains_key(&s.path));
    }
    let listing = page(&moved, "/gsyl/jinzhong/index.html");
    assert!(
        attrs(&listing, "ul.news-list > li h3 > a", "href")
            .iter()
            .all(|h| h.contains("/10"))
    );
}

#[test]
fn every_article_page_matches_its_truth() {
    let portal = generate(&params(8, 2));
    for a in portal.truth.articles.iter().chain(&portal.truth.feed_pages) {
        let doc = page(&portal, &a.path);
        assert_eq!(text(&doc, "div.article > h1"), [a.title.as_str()], "{}", a.path);
        assert_eq!(text(&doc, "div.info > span.author"), [a.author.as_str()]);
        assert_eq!(text(&doc, "div.info > span.region"), [a.region.as_str()]);
        let time = a.published.format("%Y-%m-%d %H:%M:%S").to_string();
        assert_eq!(text(&doc, "div.info > span.time"), [time]);
        assert_eq!(text(&doc, "div.info > span.comment em"), [a.comments.to_string()]);
        assert_eq!(text(&doc, "div.info > span.tags > a"), a.tags);
        let resolved: Vec<String> = attrs(&doc, "div.content img[src]", "src")
            .iter()
            .map(|src| {
                url::Url::parse(&a.canonical_url)
                    .unwrap()
                    .join(src)
                    .unwrap()
                    .path()
                    .to_string()
            })
            .collect();
        assert_eq!(resolved, a.image_paths);
    }
}
