//! Conformance with the reference fixture (`../shared/fixtures`, present in CI): the shipped
//! `sample-portal` recipe against a copy made by its `gen_site.py`, compared with that copy's
//! `manifest.json` for every article and feed entry. Skipped on a user's clone without
//! `../shared`; a failure under `TIDINGS_STRICT=1`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

use crate::helpers::{FAST_FETCH, TestDir, poll, repo, shipped, source_override, strict};

fn fixtures() -> Option<PathBuf> {
    let dir = repo().join("../shared/fixtures");
    let ok = dir.join("gen_site.py").is_file() && Command::new("python3").arg("--version").output().is_ok();
    if !ok {
        assert!(
            !strict(),
            "TIDINGS_STRICT=1 but ../shared/fixtures/gen_site.py or python3 is missing"
        );
        eprintln!("skipping: ../shared/fixtures or python3 not available");
        return None;
    }
    Some(dir)
}

async fn serve_file(State(root): State<PathBuf>, UrlPath(path): UrlPath<String>) -> impl IntoResponse {
    let mut file = root.join(path.trim_start_matches('/'));
    if file.is_dir() {
        file = file.join("index.html");
    }
    if !file.starts_with(&root) {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            Vec::new(),
        );
    }
    match std::fs::read(&file) {
        Ok(bytes) => {
            let ct = match file.extension().and_then(|e| e.to_str()) {
                Some("xml") => "application/xml; charset=utf-8",
                Some("png") => "image/png",
                Some("txt") => "text/plain; charset=utf-8",
                _ => "text/html; charset=utf-8",
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes)
        }
        Err(_) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            Vec::new(),
        ),
    }
}

/// Binds a port, generates the reference site for that origin, serves it from disk.
async fn reference_site(fixtures: &Path, out: &Path) -> (String, Value) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let status = Command::new("python3")
        .arg(fixtures.join("gen_site.py"))
        .args([
            "--out",
            out.to_str().unwrap(),
            "--per-region",
            "30",
            "--base-url",
            &base,
            "--quiet",
        ])
        .status()
        .expect("python3 gen_site.py");
    assert!(status.success());
    let root = out.to_owned();
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::get(serve_file))
        .with_state(root);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    (base, manifest)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_recipe_matches_the_reference_manifest_for_every_article_and_feed_entry() {
    let Some(fixtures) = fixtures() else { return };
    let out = tempfile::tempdir().unwrap();
    let (base, manifest) = reference_site(&fixtures, out.path()).await;
    let env = TestDir::new(
        &format!("{FAST_FETCH}{}", source_override("sample-portal", &base)),
        &[("sample-portal", shipped("sample-portal"))],
    );
    let app = env.app().await;
    let report = poll(&app, "sample-portal").await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let items = app.store.items(None, 100_000).await.unwrap();
    let by_url: HashMap<&str, &tidings::domain::Item> =
        items.iter().map(|i| (i.article.url.as_str(), i)).collect();

    // (url, title, author, region slug, published, tags) expected for every entry.
    let mut want: Vec<(String, String, String, String, String, BTreeSet<String>)> = Vec::new();
    let tags = |v: &Value| -> BTreeSet<String> { v.as_array().unwrap().iter().map(s).collect() };
    for a in manifest["articles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["listed"] == true)
    {
        want.push((
            s(&a["canonical_url"]),
            s(&a["title"]),
            s(&a["author"]),
            s(&a["region_slug"]),
            s(&a["published"]),
            tags(&a["tags"]),
        ));
    }
    let pages: HashMap<String, &Value> = manifest["feed_pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (s(&p["url"]), p))
        .collect();
    for feed in manifest["feeds"].as_array().unwrap() {
        for i in feed["items"].as_array().unwrap() {
            let page = pages[&s(&i["page"])];
            want.push((
                s(&i["link"]),
                s(&i["title"]),
                s(&i["author"]),
                s(&page["region_slug"]),
                s(&i["published"]),
                tags(&i["categories"]),
            ));
        }
    }
    assert!(want.len() > 330, "{} entries", want.len());
    let mut bad = Vec::new();
    for (url, title, author, region, published, tags) in &want {
        let Some(item) = by_url.get(url.as_str()) else {
            bad.push(format!("{url}: not stored"));
            continue;
        };
        let a = &item.article;
        let got = (
            a.title.clone(),
            a.author.clone().unwrap_or_default(),
            a.region.as_ref().map(|r| r.slug.clone()).unwrap_or_default(),
            a.published.map(|p| p.to_rfc3339()).unwrap_or_default(),
            a.tags.iter().cloned().collect::<BTreeSet<_>>(),
        );
        let exp = (
            title.clone(),
            author.clone(),
            region.clone(),
            published.clone(),
            tags.clone(),
        );
        if got != exp {
            bad.push(format!("{url}: got {got:?}, want {exp:?}"));
        }
        let body = a.body_html.as_deref().unwrap_or_default();
        if body.is_empty() || body.contains("<script") {
            bad.push(format!("{url}: body missing or unsafe"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} entries differ:\n{}",
        bad.len(),
        want.len(),
        bad.join("\n")
    );
}
