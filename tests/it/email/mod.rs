//! Email end to end against a real SMTP server process (aiosmtpd, see [`crate::smtp`]):
//! double opt-in through the HTTP pages ([`flow`]), digests on a test clock ([`digest`]),
//! SMTP failures ([`failures`]), SIGKILL during a digest fan-out ([`crash`]). Here: the
//! environment they share.

mod crash;
mod digest;
mod failures;
mod flow;

use std::net::SocketAddr;

use chrono::{FixedOffset, TimeZone, Utc};
use tidings::app::App;
use tidings::domain::{Article, RegionRef};
use tidings::store::{ItemWrite, PollCommit};

use crate::helpers::{TestDir, tls};
use crate::smtp::{SinkOptions, SmtpSink};

/// The signing key of these tests.
pub(crate) const KEY: &str = "test-secret-key-0123456789abcdef-0123456789";

/// An app with email on, sending to a fresh SMTP sink, and serving HTTP on loopback.
pub(crate) struct MailEnv {
    pub sink: SmtpSink,
    pub dir: TestDir,
    pub app: App,
    /// `http://127.0.0.1:PORT` (no trailing slash); also the configured public URL.
    pub base: String,
    pub http: reqwest::Client,
}

impl MailEnv {
    /// Starts the sink and the server with `extra` appended to the config; `None` when the
    /// SMTP server cannot run here (a failure under `TIDINGS_STRICT=1`).
    pub async fn start(extra: &str) -> Option<MailEnv> {
        Self::start_with("", extra).await
    }

    /// Like [`MailEnv::start`], with `server` added to `[server]` and `extra` to `[email]`.
    pub async fn start_with(server: &str, extra: &str) -> Option<MailEnv> {
        Self::start_full(server, extra, SinkOptions::default()).await
    }

    /// Like [`MailEnv::start_with`], the SMTP server started with `sink`.
    pub async fn start_full(server: &str, extra: &str, sink: SinkOptions) -> Option<MailEnv> {
        let sink = SmtpSink::start_with(sink)?;
        tls();
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let config = format!(
            "[server]\npublic_url = \"{base}/\"\n{server}[email]\nfrom = \"晋中新闻 <news@example.org>\"\n{extra}"
        );
        let dir = TestDir::new(&config, &[]);
        let app = dir
            .app_with_env(&[("TIDINGS_SMTP_URL", &sink.url()), ("TIDINGS_SECRET_KEY", KEY)])
            .await;
        assert!(app.mail.is_some(), "email should be on");
        let router = tidings::serve::router(app.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Some(MailEnv {
            sink,
            dir,
            app,
            base,
            http,
        })
    }

    /// `POST /subscribe` with these form fields; the status and page text.
    pub async fn subscribe(&self, fields: &[(&str, &str)]) -> (u16, String) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = self
            .http
            .post(format!("{}/subscribe", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST /subscribe");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// GET or POST `url`; the status and body.
    pub async fn request(&self, method: reqwest::Method, url: &str) -> (u16, String) {
        let r = self
            .http
            .request(method, url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// Active email recipients.
    pub async fn subscribers(&self) -> Vec<tidings::store::Recipient> {
        let all = self.app.store.recipients().await.expect("recipients");
        all.into_iter().filter(|r| r.kind == "email").collect()
    }
}

/// A new article `n` of `region` (slug, name) with `tags`, published `n` minutes into
/// 2026-11-20 (Beijing time).
pub(crate) fn item(n: u32, region: (&str, &str), tags: &[&str]) -> ItemWrite {
    let url = format!("https://news.example.cn/{}/{n}.html", region.0);
    let published = FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).single())
        .map(|t| t + chrono::Duration::minutes(i64::from(n)));
    ItemWrite {
        id: format!("mail-{}-{n}", region.0),
        keys: vec![url.clone()],
        article: Article {
            url,
            guid: None,
            title: format!("{}要闻第{n}条：高质量发展<b>", region.1),
            author: None,
            region: Some(RegionRef {
                slug: region.0.into(),
                name: region.1.into(),
                known: true,
            }),
            published,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            summary: Some(format!("{}第{n}条新闻的摘要。", region.1)),
            body_html: None,
            images: vec![],
            comments: None,
        },
        listing_hash: None,
        push: true,
    }
}

/// Stores `writes` in one transaction, as a poll does (deliveries and digest membership
/// queued with them).
pub(crate) async fn commit(app: &App, writes: Vec<ItemWrite>) {
    let n = writes.len();
    let poll = PollCommit {
        source: "mail".into(),
        now: Utc::now(),
        writes,
        ..PollCommit::default()
    };
    let out = app.store.commit_poll(poll).await.expect("commit");
    assert_eq!(out.new.len(), n, "all new");
}

/// The first `http…` URL in `text` whose path contains `marker` (e.g. `/confirm/`).
pub(crate) fn link(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} link in:\n{text}"));
    let start = text[..at].rfind("http").expect("URL start");
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .map_or(text.len(), |e| start + e);
    text[start..end].to_owned()
}

/// A child process killed when dropped (a failing test leaves no daemon behind).
pub(crate) struct Daemon(pub std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tidings run` on `env`'s config with email on (and `clock` as its test clock), its log
/// appended to `log`.
pub(crate) fn spawn_daemon(env: &MailEnv, log: &std::path::Path, clock: Option<&std::path::Path>) -> Daemon {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let err = out.try_clone().expect("log file");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.args([
        "--config",
        env.dir.config_path().to_str().unwrap(),
        "run",
        "--listen",
        "127.0.0.1:0",
    ])
    .env("TIDINGS_SMTP_URL", env.sink.url())
    .env("TIDINGS_SECRET_KEY", KEY)
    .env("TIDINGS_LOG", "info,sqlx=warn")
    .stdout(out)
    .stderr(err);
    if let Some(clock) = clock {
        cmd.env(tidings::notify::clock::TEST_CLOCK_VAR, clock);
    }
    Daemon(cmd.spawn().expect("spawn tidings run"))
}
