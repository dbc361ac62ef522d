//! Independent readers: every produced feed parses in Python feedparser with `bozo == 0`
//! (hostile source content included), and `/` and `/status` render in headless Chromium.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::header;
use axum::routing::get;
use tidings::app::App;
use tidings::portal::Variant;

use crate::helpers::{TestDir, poll, portal, sample_portal_env, strict};

/// The Python with feedparser (`TIDINGS_PYTHON`, or `.venv/bin/python`), if any.
fn feedparser_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TIDINGS_PYTHON").map(PathBuf::from),
        Some(crate::helpers::repo().join(".venv/bin/python")),
    ];
    for py in candidates.into_iter().flatten() {
        let ok = Command::new(&py)
            .args(["-c", "import feedparser"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py);
        }
    }
    assert!(
        !strict(),
        "TIDINGS_STRICT=1 but no Python with feedparser: run scripts/test"
    );
    eprintln!("skipping: no Python with feedparser (scripts/test installs it)");
    None
}

/// Runs feedparser over files; returns its JSON lines, panicking on any bozo feed.
fn feedparser_check(py: &Path, files: &[PathBuf]) -> Vec<serde_json::Value> {
    let script = crate::helpers::repo().join("tests/support/check_feeds.py");
    let out = Command::new(py)
        .arg(script)
        .args(files)
        .output()
        .expect("run feedparser");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "feedparser found bozo feeds:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn xml_feeds(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rss" || x == "atom") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rss_and_atom_feed_parses_in_feedparser_without_bozo() {
    let Some(py) = feedparser_python() else { return };
    let server = portal(5, 0, Variant::Standard).await;
    let env = sample_portal_env(&server);
    let app = env.app().await;
    poll(&app, "sample-portal").await;
    let out = tempfile::tempdir().unwrap();
    tidings::app::render_site(&app, out.path())
        .await
        .expect("render --out");
    let files = xml_feeds(out.path());
    // all + 12 regions + every tag + 1 source, two XML formats each.
    assert!(files.len() > 2 * 40, "{} feeds", files.len());
    let lines = feedparser_check(&py, &files);
    assert_eq!(lines.len(), files.len());
    let all = lines
        .iter()
        .find(|l| l["feed"].as_str().unwrap().ends_with("all.atom"))
        .unwrap();
    assert_eq!(all["entries"], 50);
}

/// A source serving hostile bytes: control characters, `]]>`, scripts, invalid UTF-8.
async fn hostile_site() -> String {
    let page = |body: &'static [u8]| {
        move || async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body) }
    };
    let mut rss = Vec::new();
    rss.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>h</title>",
    );
    rss.extend_from_slice(
        b"<item><title>A ]]&gt; B &amp; &lt;script&gt;alert(1)&lt;/script&gt; \xF0\x9F\x93\xB0</title>",
    );
    rss.extend_from_slice(
        b"<link>/a.html</link><guid>h-1</guid><pubDate>Wed, 23 Feb 2022 10:43:56 +0800</pubDate>",
    );
    rss.extend_from_slice(
        b"<description><![CDATA[<p>x ]]]]><![CDATA[> y</p><script>alert(2)</script>]]></description></item>",
    );
    rss.extend_from_slice(b"<item><title>bad \xFF\xFE bytes</title><link>/b.html</link><guid>h-2</guid>");
    rss.extend_from_slice(b"<pubDate>Wed, 23 Feb 2022 11:43:56 +0800</pubDate></item></channel></rss>");
    let rss: &'static [u8] = Box::leak(rss.into_boxed_slice());
    let a: &'static [u8] = b"<html><body><div class=\"t\">Ctl \x01 \x0b and \xEF\xBF\xBE ]]> end</div><div class=\"b\"><p>body ]]> here</p><script>alert(3)</script><img src=x onerror=alert(4)><a href=\"javascript:alert(5)\">j</a></div></body></html>";
    let b: &'static [u8] = b"<html><body><div class=\"t\">invalid \xC3\x28 utf8 \xFF</div><div class=\"b\"><p>ok</p></div></body></html>";
    let app = axum::Router::new()
        .route(
            "/feed.xml",
            get(move || async move { ([(header::CONTENT_TYPE, "application/rss+xml")], rss) }),
        )
        .route("/a.html", get(page(a)))
        .route("/b.html", get(page(b)));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_source_content_still_gives_clean_feeds() {
    let site = hostile_site().await;
    let recipe = format!(
        "schedule = \"15m\"\nregion = \"晋中\"\ntags = [\"R&D\", \"<新>\"]\n\
         [[feed]]\nurl = \"{site}/feed.xml\"\nfetch_article = true\n\
         [article]\ntitle = \"div.t\"\nbody = \"div.b\"\n"
    );
    let env = TestDir::new(
        "[fetch]\nhost_interval = \"0s\"\ntimeout = \"3s\"\nallow_private = true\n",
        &[("hostile", recipe)],
    );
    let env_app: App = env.app().await;
    let report = poll(&env_app, "hostile").await;
    assert_eq!(report.new.len(), 2, "{report:?}");
    let out = tempfile::tempdir().unwrap();
    tidings::app::render_site(&env_app, out.path())
        .await
        .expect("render --out");
    let files = xml_feeds(out.path());
    let mut all_bytes = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        feed_rs::parser::parse(bytes.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        all_bytes.extend(bytes);
    }
    let text = String::from_utf8(all_bytes).expect("feeds are UTF-8");
    for active in ["<script", "onerror", "javascript:", "\u{1}", "\u{b}", "\u{fffe}"] {
        assert!(!text.contains(active), "feeds contain {active:?}");
    }
    if let Some(py) = feedparser_python() {
        let lines = feedparser_check(&py, &files);
        assert!(lines.iter().all(|l| l["bozo"] == 0));
    }
}

/// Chromium's binary, if installed.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        for dir in ["/usr/bin", "/usr/local/bin"] {
            let p = Path::new(dir).join(name);
            if p.exists() {
                return Some(p);
            }
        }
    }
    assert!(
        !strict(),
        "TIDINGS_STRICT=1 but chromium is not installed: run scripts/test"
    );
    eprintln!("skipping: chromium not installed (scripts/test installs it)");
    None
}

fn headless(chrome: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_and_status_pages_render_in_headless_chromium() {
    let Some(chrome) = chromium() else { return };
    let server = portal(3, 0, Variant::Standard).await;
    let env = sample_portal_env(&server);
    let app = env.app().await;
    poll(&app, "sample-portal").await;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = tidings::serve::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let profile = tempfile::tempdir().unwrap();
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));

    let dom = headless(&chrome, profile.path(), &["--dump-dom", &format!("{base}/")]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for name in [
        "晋中",
        "太原",
        "吕梁",
        "山西",
        "高质量",
        "sample-portal",
        "/feeds/region/jinzhong.atom",
    ] {
        assert!(dom.contains(name), "index page lacks {name}:\n{dom:.2000}");
    }
    let dom = headless(
        &chrome,
        profile.path(),
        &["--dump-dom", &format!("{base}/status")],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("sample-portal"),
        "status page lacks the source:\n{dom:.2000}"
    );

    for (page, file) in [("/", "index.png"), ("/status", "status.png")] {
        let shot = artifacts.join(file);
        let out = headless(
            &chrome,
            profile.path(),
            &[
                "--window-size=1280,1600",
                &format!("--screenshot={}", shot.display()),
                &format!("{base}{page}"),
            ],
        );
        assert!(
            shot.is_file(),
            "no screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("screenshot: {}", shot.display());
    }
}
