//! Extraction throughput on sample-portal pages: article pages and listing pages per second.
//!
//! `cargo bench --bench extract`

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidings::config::{RecipeDefaults, load_recipe_file};
use tidings::portal::{PortalParams, generate};
use tidings::source::dates::DateParser;
use tidings::source::html::{extract_article, extract_listing};
use url::Url;

fn pages(prefix: &str, listing: bool) -> Vec<(Url, String)> {
    let portal = generate(&PortalParams {
        per_region: 20,
        ..PortalParams::default()
    });
    portal
        .files
        .iter()
        .filter(|(p, _)| p.starts_with(prefix) && p.ends_with(".html") && p.contains("index") == listing)
        .map(|(p, b)| {
            let url = Url::parse(&format!("http://www.shanxidayuan.com{p}")).expect("url");
            (url, String::from_utf8_lossy(b).into_owned())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let defaults = RecipeDefaults {
        schedule: "*/10 * * * *".into(),
        revisit: Duration::from_secs(86_400),
        max_pages: 5,
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds/sample-portal.toml");
    let recipe = load_recipe_file(&path, &defaults, false).expect("recipe");
    let dates = DateParser::new(recipe.timezone, recipe.date_formats.clone());
    let selectors = recipe.article.clone().expect("article selectors");
    let articles = pages("/gsyl/", false);
    let listings = pages("/gsyl/", true);

    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(articles.len() as u64));
    g.bench_function("article_pages", |b| {
        b.iter(|| {
            for (url, html) in &articles {
                black_box(extract_article(html, url, &selectors, &dates));
            }
        })
    });
    g.throughput(Throughput::Elements(listings.len() as u64));
    g.bench_function("listing_pages", |b| {
        b.iter(|| {
            for (url, html) in &listings {
                black_box(extract_listing(html, url, &recipe.listings[0], &dates));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
