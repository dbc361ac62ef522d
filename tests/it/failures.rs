//! Failing sources are recorded with clear errors while the other sources' items arrive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tidings::portal::Variant;

use crate::helpers::{TestDir, poll, portal, shipped, source_override};

/// A server that misbehaves in every way a news site can; counts requests to /busy.
async fn fault_server(busy_hits: Arc<AtomicUsize>) -> String {
    let big = "<p>x</p>".repeat(1_000_000);
    let app = Router::new()
        .route("/missing.xml", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/broken.xml",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/busy.xml",
            get(move || {
                let hits = busy_hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, "3600")],
                        "busy",
                    )
                }
            }),
        )
        .route(
            "/hang.xml",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route(
            "/loop.xml",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop.xml")]).into_response() }),
        )
        .route(
            "/huge.xml",
            get(move || {
                let big = big.clone();
                async move {
                    let mut h = HeaderMap::new();
                    h.insert(header::CONTENT_TYPE, "application/rss+xml".parse().unwrap());
                    (h, big)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn feed_recipe(origin: &str, path: &str) -> String {
    format!("schedule = \"15m\"\n[[feed]]\nurl = \"{origin}{path}\"\n")
}

#[tokio::test]
async fn failing_sources_are_recorded_with_clear_errors_while_others_arrive() {
    let busy = Arc::new(AtomicUsize::new(0));
    // The Retry-After host gets its own server: a back-off covers everything on its host.
    let faults = fault_server(Arc::new(AtomicUsize::new(0))).await;
    let busy_host = fault_server(busy.clone()).await;
    let server = portal(3, 0, Variant::Standard).await;
    let cases = [
        ("missing", "/missing.xml", "404"),
        ("broken", "/broken.xml", "500"),
        ("busy", "/busy.xml", "503"),
        ("hang", "/hang.xml", "timed out"),
        ("loop", "/loop.xml", "redirect"),
        ("huge", "/huge.xml", "limit"),
    ];
    let mut recipes: Vec<(&str, String)> = cases
        .iter()
        .map(|(id, path, _)| {
            let origin = if *id == "busy" { &busy_host } else { &faults };
            (*id, feed_recipe(origin, path))
        })
        .collect();
    recipes.push(("sample-portal", shipped("sample-portal")));
    let config = format!(
        "[fetch]\nhost_interval = \"0s\"\ntimeout = \"2s\"\nmax_body_kib = 1024\nallow_private = true\n{}",
        source_override("sample-portal", &server.base_url())
    );
    let env = TestDir::new(&config, &recipes);
    let app = env.app().await;
    let all = app.select_sources(&[]).unwrap();
    let started = std::time::Instant::now();
    let results = app.poll_round(&all).await;
    // The hanging source cost its own timeout, not everyone's.
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    for (recipe, result) in all.iter().zip(&results) {
        let report = result.as_ref().expect("poll");
        if recipe.id == "sample-portal" {
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            assert!(report.new.len() > 30);
        } else {
            let (_, _, needle) = cases.iter().find(|(id, _, _)| *id == recipe.id).unwrap();
            assert_eq!(report.failed, 1, "{}", recipe.id);
            let state = app.store.source_state(&recipe.id).await.unwrap().expect("state");
            let err = state.last_error.unwrap_or_default();
            assert!(err.contains(needle), "{}: {err}", recipe.id);
            assert_eq!(state.consecutive_failures, 1);
            assert!(state.last_success.is_none());
        }
    }
    // The host that sent Retry-After: 3600 is not asked again.
    let again = poll(&app, "busy").await;
    assert_eq!(busy.load(Ordering::SeqCst), 1);
    assert!(
        again.errors[0].contains("Retry-After") || again.errors[0].contains("wait"),
        "{:?}",
        again.errors
    );
    let state = app.store.source_state("busy").await.unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 2);
    // Error pages never become items.
    assert_eq!(app.store.items(Some("broken"), 10).await.unwrap().len(), 0);
}
