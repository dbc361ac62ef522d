//! Chinese legacy encodings end to end: a GBK listing and GBK articles (one labelled
//! `gb2312` with GBK-only characters, one whose charset is only in the HTTP header) become
//! correctly decoded items.

use std::net::SocketAddr;

use axum::http::header;
use axum::routing::get;
use encoding_rs::GBK;

use crate::helpers::{TestDir, poll};

fn gbk(s: &str) -> Vec<u8> {
    GBK.encode(s).0.into_owned()
}

#[tokio::test]
async fn gbk_pages_become_correctly_decoded_items() {
    let listing = gbk("<html><head><meta charset=\"gbk\"></head><body><ul>\
         <li><a href=\"/a.html\">甲</a></li><li><a href=\"/b.html\">乙</a></li></ul></body></html>");
    let a = gbk(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head>\
         <body><h1>王喆与李堃的故事</h1><span class=\"t\">2022年02月23日 10:43</span><div class=\"c\"><p>晋中新闻</p></div></body></html>",
    );
    let b = gbk(
        "<html><body><h1>太原市春耕备耕</h1><span class=\"t\">2022/02/24</span><div class=\"c\"><p>正文</p></div></body></html>",
    );
    let app = axum::Router::new()
        .route(
            "/list.html",
            get(move || async move { ([(header::CONTENT_TYPE, "text/html")], listing) }),
        )
        .route(
            "/a.html",
            get(move || async move { ([(header::CONTENT_TYPE, "text/html")], a) }),
        )
        .route(
            "/b.html",
            get(move || async move { ([(header::CONTENT_TYPE, "text/html; charset=GBK")], b) }),
        );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let recipe = format!(
        "region = \"晋中\"\n[[listing]]\nurls = [\"{site}/list.html\"]\nentry = \"li\"\nlink = {{ selector = \"a\", attr = \"href\" }}\n\
         [article]\ntitle = \"h1\"\npublished = \"span.t\"\nbody = \"div.c\"\n"
    );
    let env = TestDir::new(
        "[fetch]\nhost_interval = \"0s\"\nallow_private = true\n",
        &[("gbk", recipe)],
    );
    let app = env.app().await;
    let report = poll(&app, "gbk").await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let items = app.store.items(None, 10).await.unwrap();
    let titles: Vec<&str> = items.iter().map(|i| i.article.title.as_str()).collect();
    assert_eq!(titles, ["太原市春耕备耕", "王喆与李堃的故事"]);
    let a = &items[1].article;
    assert_eq!(a.published.unwrap().to_rfc3339(), "2022-02-23T10:43:00+08:00");
    assert_eq!(a.region.as_ref().unwrap().slug, "jinzhong");
    assert!(a.body_html.as_deref().unwrap().contains("晋中新闻"));
}
