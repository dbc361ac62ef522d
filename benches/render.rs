//! Feed rendering: a 50-item feed in RSS, Atom and JSON Feed, cold (nothing cached), from
//! items extracted from the sample portal's article pages (Chinese text, real-sized bodies).
//!
//! `cargo bench --bench render`

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidings::config::{RecipeDefaults, load_recipe_file};
use tidings::domain::{Article, Item, RegionTable, item_id};
use tidings::portal::{PortalParams, generate};
use tidings::render::{FeedKind, FeedMeta, Format, render};
use tidings::source::dates::DateParser;
use tidings::source::html::extract_article;
use url::Url;

const ITEMS: usize = 50;

/// The first 50 region articles of the sample portal as stored items, newest first.
fn items() -> Vec<Item> {
    let defaults = RecipeDefaults {
        schedule: "*/10 * * * *".into(),
        revisit: Duration::from_secs(86_400),
        max_pages: 5,
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds/sample-portal.toml");
    let recipe = load_recipe_file(&path, &defaults, false).expect("recipe");
    let dates = DateParser::new(recipe.timezone, recipe.date_formats.clone());
    let selectors = recipe.article.clone().expect("article selectors");
    let regions = RegionTable::shanxi();
    let portal = generate(&PortalParams {
        per_region: 10,
        ..PortalParams::default()
    });
    let mut items: Vec<Item> = portal
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("/gsyl/") && p.ends_with(".html") && !p.contains("index"))
        .take(ITEMS)
        .map(|(p, b)| {
            let url = Url::parse(&format!("http://www.shanxidayuan.com{p}")).expect("url");
            let d = extract_article(&String::from_utf8_lossy(b), &url, &selectors, &dates);
            let published = d.published.expect("published");
            let created = published.with_timezone(&Utc);
            Item {
                id: item_id("sample-portal", url.as_str()),
                source: "sample-portal".to_owned(),
                article: Article {
                    url: url.to_string(),
                    guid: None,
                    title: d.title.expect("title"),
                    author: d.author,
                    region: d.region.as_deref().and_then(|r| regions.resolve(r)),
                    published: Some(published),
                    tags: d.tags,
                    summary: d.summary,
                    body_html: d.body_html,
                    images: d.images,
                    comments: d.comments,
                },
                created,
                updated: created,
            }
        })
        .collect();
    items.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
    assert_eq!(items.len(), ITEMS);
    items
}

fn meta(format: Format) -> FeedMeta {
    FeedMeta {
        title: "全部 · Tidings".to_owned(),
        description: "山西各地新闻".to_owned(),
        self_url: format!("https://news.example{}", FeedKind::All.path(format)),
        home_url: "https://news.example/".to_owned(),
        language: "zh-CN".to_owned(),
    }
}

fn bench(c: &mut Criterion) {
    let items = items();
    let body_bytes: usize = items
        .iter()
        .filter_map(|i| i.article.body_html.as_ref())
        .map(String::len)
        .sum();
    eprintln!("{ITEMS} items, {body_bytes} bytes of body HTML");

    let mut g = c.benchmark_group("render_50");
    g.throughput(Throughput::Elements(ITEMS as u64));
    for format in Format::ALL {
        let meta = meta(format);
        g.bench_function(format.ext(), |b| {
            b.iter(|| black_box(render(format, &meta, &items)))
        });
    }
    // The share of re-sanitizing bodies: the same items without them.
    let bare: Vec<Item> = items
        .iter()
        .cloned()
        .map(|mut i| {
            i.article.body_html = None;
            i
        })
        .collect();
    let meta = meta(Format::Rss);
    g.bench_function("rss_without_bodies", |b| {
        b.iter(|| black_box(render(Format::Rss, &meta, &bare)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
