//! Scale-out on PostgreSQL: `tidings migrate` from a populated SQLite database gives the
//! same feeds ([`migrate`]); several `tidings run` instances on one database share the
//! work ([`instances`]) and serve the same feeds, fresh within a second ([`feeds`]). Here: what they share.

mod feeds;
mod instances;
mod migrate;

use std::net::SocketAddr;

use tidings::app::App;

/// Serves `app` on a loopback port; the base URL.
pub(crate) async fn serve(app: &App) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = tidings::serve::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

/// Body and ETag of `GET base + path` (identity encoding).
pub(crate) async fn fetch(client: &reqwest::Client, base: &str, path: &str) -> (Vec<u8>, String) {
    let r = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(r.status().as_u16(), 200, "{path}");
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.bytes().await.unwrap().to_vec(), etag)
}
