//! `/metrics` and the logs through the real `tidings run` and `tidings poll`: the page parses
//! with Prometheus's own text-format parser (Python `prometheus_client`,
//! `tests/support/prom_parse.py`), its counters move as a poll, a delivery and requests
//! happen, it can live on a private address alone, it never shows the bot token; and
//! `--log-format json` writes one JSON object per line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tidings::portal::Variant;

use crate::fake_bot::FakeBot;
use crate::helpers::{
    FAST_FETCH, TestDir, portal, repo, sample_portal_env, shipped, source_override, spawn_run, strict, swap,
};
use crate::smtp::python_with;

const SOURCE: &str = "sample-portal";
const TOKEN: &str = "987654321:AAGmetricsSecretTokenNeverShown_xyz";
const CHANNEL: i64 = -1_001_234_567_890;

/// One metric family as `prometheus_client` parsed it.
#[derive(Debug, Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    documentation: String,
    samples: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape.
struct Scrape {
    text: String,
    families: Vec<Family>,
}

impl Scrape {
    /// The value of the sample `name` whose labels include `labels` (the first such).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    /// Like [`Scrape::value`], 0 when the series does not exist yet.
    fn or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    fn family(&self, name: &str) -> &Family {
        self.families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no family {name} in:\n{}", self.text))
    }
}

/// The Python that parses the exposition format, or `None` (skip) when there is none.
fn parser() -> Option<std::path::PathBuf> {
    let py = python_with("prometheus_client");
    if py.is_none() {
        assert!(
            !strict(),
            "TIDINGS_STRICT=1 but no Python with prometheus_client: run scripts/test"
        );
        eprintln!("skipping: no Python with prometheus_client (scripts/test installs it)");
    }
    py
}

/// Parses `text` with `prometheus_client`, failing on anything it rejects, and checks each
/// family appears once.
fn parse(py: &std::path::Path, text: String) -> Scrape {
    let mut child = Command::new(py)
        .arg(repo().join("tests/support/prom_parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: Vec<Family> = serde_json::from_slice(&out.stdout).unwrap();
    let mut names = BTreeSet::new();
    for f in &families {
        assert!(names.insert(f.name.clone()), "family {} twice:\n{text}", f.name);
        assert!(!f.documentation.is_empty(), "{} has no HELP", f.name);
    }
    Scrape { text, families }
}

async fn scrape(py: &std::path::Path, url: &str) -> Scrape {
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    parse(py, res.text().await.unwrap())
}

/// A `tidings run` child, killed on drop.
struct Daemon {
    child: Child,
    /// Kept open: the daemon's stdout must not become a broken pipe.
    _stdout: BufReader<ChildStdout>,
    /// `http://ADDR` of the main listener.
    base: String,
    /// `http://ADDR/metrics` of the private listener, when configured.
    private_metrics: Option<String>,
}

impl Daemon {
    /// Starts `tidings run --listen 127.0.0.1:0` on `env` with `vars` set and stderr in
    /// `stderr`, and reads its address lines.
    fn start(env: &TestDir, vars: &[(&str, &str)], stderr: std::fs::File, private: bool) -> Daemon {
        let (child, mut stdout, base) = spawn_run(env, vars, stderr);
        let private_metrics = private.then(|| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let url = line
                .trim()
                .strip_prefix("metrics on ")
                .unwrap_or_else(|| panic!("second line: {line:?}"))
                .to_owned();
            assert!(
                url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
                "{url}"
            );
            assert!(!url.contains(":0/"), "the real port: {url}");
            url
        });
        Daemon {
            child,
            _stdout: stdout,
            base,
            private_metrics,
        }
    }

    /// SIGTERM, and a clean exit within 10 s.
    fn stop(mut self) {
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status:?}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon did not stop within 10 s");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Scrapes until `done` holds (or panics after `limit`, showing the last scrape).
async fn scrape_until(
    py: &std::path::Path,
    url: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let started = Instant::now();
    loop {
        let s = scrape(py, url).await;
        if done(&s) {
            return s;
        }
        assert!(
            started.elapsed() < limit,
            "{what} within {limit:?}; last scrape:\n{}",
            s.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_a_poll_a_delivery_and_http_requests() {
    let Some(py) = parser() else { return };
    crate::helpers::tls();
    let bot = FakeBot::start(TOKEN).await;
    bot.enforce_limits(false);
    let server = portal(3, 0, Variant::Standard).await;
    let config = format!(
        "{FAST_FETCH}{}[telegram]\napi_url = \"{}\"\nper_chat = \"10ms\"\ngroup_per_minute = 1000\n\
         [[telegram.channels]]\nchat_id = {CHANNEL}\ntopics = [\"晋中\", \"高质量\", \"tag:5G\"]\n",
        source_override(SOURCE, &server.base_url()),
        bot.api_url()
    );
    let env = TestDir::new(&config, &[(SOURCE, shipped(SOURCE))]);
    let log = env.dir.path().join("daemon.log");
    let daemon = Daemon::start(
        &env,
        &[("TIDINGS_TELEGRAM_TOKEN", TOKEN)],
        std::fs::File::create(&log).unwrap(),
        false,
    );
    let metrics = format!("{}/metrics", daemon.base);

    // The daemon's first poll (within the 5 s first-tick jitter) is counted.
    let ok = [("source", SOURCE), ("outcome", "ok")];
    let first = scrape_until(&py, &metrics, Duration::from_secs(20), "a counted poll", |s| {
        s.or_zero("tidings_polls_total", &ok) >= 1.0
    })
    .await;
    assert_eq!(first.family("tidings_polls").kind, "counter");
    assert!(
        first.or_zero("tidings_items_new_total", &[("source", SOURCE)]) > 0.0,
        "{}",
        first.text
    );
    assert_eq!(
        first.value("tidings_fetch_errors_total", &[("source", SOURCE)]),
        Some(0.0)
    );
    assert_eq!(
        first.value(
            "tidings_polls_total",
            &[("source", SOURCE), ("outcome", "failed")]
        ),
        None
    );
    assert_eq!(first.family("tidings_deliveries").kind, "gauge");
    assert!(first.or_zero("tidings_source_items", &[("source", SOURCE)]) > 0.0);
    let sent = [("channel", "telegram"), ("outcome", "sent")];
    assert_eq!(
        first.or_zero("tidings_delivery_outcomes_total", &sent),
        0.0,
        "the baseline pushes nothing"
    );
    // Both channels are listed before their first delivery.
    for channel in ["telegram", "email"] {
        assert_eq!(
            first.value("tidings_deliveries", &[("channel", channel), ("state", "queued")]),
            Some(0.0),
            "{channel}"
        );
        assert_eq!(
            first.value("tidings_delivery_oldest_queued_seconds", &[("channel", channel)]),
            Some(0.0)
        );
    }

    // New items (stored by a `tidings poll` beside the daemon) are queued for the channel
    // and the daemon's outbox delivers them: its counter moves, the queue drains.
    swap(&server, 3, 1, Variant::Standard);
    let polled = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["--config", env.config_path().to_str().unwrap(), "poll"])
        .output()
        .unwrap();
    assert!(
        polled.status.success(),
        "{}",
        String::from_utf8_lossy(&polled.stderr)
    );
    let queued = [("channel", "telegram"), ("state", "queued")];
    let delivered = scrape_until(&py, &metrics, Duration::from_secs(30), "the queue drained", |s| {
        let counted = s.or_zero("tidings_delivery_outcomes_total", &sent);
        s.value("tidings_deliveries", &queued) == Some(0.0)
            && counted > 0.0
            && counted as usize == bot.sent_count()
    })
    .await;
    let n = bot.sent_count() as f64;
    assert!(bot.sent().iter().all(|m| m.chat_id == CHANNEL));
    assert_eq!(
        delivered.value(
            "tidings_deliveries",
            &[("channel", "telegram"), ("state", "sent")]
        ),
        Some(n),
        "the store's gauge agrees with the counter"
    );
    assert_eq!(
        delivered.value(
            "tidings_delivery_oldest_queued_seconds",
            &[("channel", "telegram")]
        ),
        Some(0.0)
    );
    assert_eq!(
        delivered.or_zero("tidings_delivery_outcomes_total", &[("channel", "email")]),
        0.0
    );

    // A feed request moves its route's counter and histogram; an unknown path is counted
    // as `unmatched`, never under its own path.
    let feed = [("route", "/feeds/{file}"), ("method", "GET"), ("status", "200")];
    let hist = [("route", "/feeds/{file}")];
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    let count = "tidings_http_request_duration_seconds_count";
    let before = scrape(&py, &metrics).await;
    let res = reqwest::get(format!("{}/feeds/all.atom", daemon.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = reqwest::get(format!("{}/no/such/page-xyz", daemon.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let after = scrape(&py, &metrics).await;
    assert_eq!(
        after.family("tidings_http_request_duration_seconds").kind,
        "histogram"
    );
    assert_eq!(
        after.or_zero("tidings_http_requests_total", &feed),
        before.or_zero("tidings_http_requests_total", &feed) + 1.0
    );
    assert_eq!(after.or_zero(count, &hist), before.or_zero(count, &hist) + 1.0);
    let inf = [("route", "/feeds/{file}"), ("le", "+Inf")];
    assert_eq!(
        after.value("tidings_http_request_duration_seconds_bucket", &inf),
        after.value(count, &hist)
    );
    assert_eq!(
        after.or_zero("tidings_http_requests_total", &unmatched),
        before.or_zero("tidings_http_requests_total", &unmatched) + 1.0
    );
    // /metrics counts its own scrapes too.
    assert!(
        after.or_zero(
            "tidings_http_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ) >= 3.0
    );
    assert!(
        !after.text.contains("page-xyz") && !after.text.contains("all.atom"),
        "{}",
        after.text
    );

    // The token is nowhere: not in the page, not in the logs.
    let secret = TOKEN.split(':').nth(1).unwrap();
    for text in [&first.text, &delivered.text, &after.text] {
        assert!(!text.contains(secret), "{text}");
    }
    daemon.stop();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(secret), "{logged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_metrics_address_serves_metrics_and_the_public_one_answers_404() {
    let py = parser();
    crate::helpers::tls();
    let server = portal(2, 0, Variant::Standard).await;
    let config = format!(
        "[server]\nmetrics_listen = \"127.0.0.1:0\"\n{FAST_FETCH}{}",
        source_override(SOURCE, &server.base_url())
    );
    let env = TestDir::new(&config, &[(SOURCE, shipped(SOURCE))]);
    let stderr = std::fs::File::create(env.dir.path().join("daemon.log")).unwrap();
    let daemon = Daemon::start(&env, &[], stderr, true);
    let private = daemon.private_metrics.clone().unwrap();

    let public = reqwest::get(format!("{}/metrics", daemon.base)).await.unwrap();
    assert_eq!(public.status(), 404);
    let health = reqwest::get(format!("{}/healthz", daemon.base)).await.unwrap();
    assert_eq!(health.status(), 200, "the public listener serves the rest");
    let elsewhere = reqwest::get(private.replace("/metrics", "/feeds/all.atom"))
        .await
        .unwrap();
    assert_eq!(
        elsewhere.status(),
        404,
        "the private listener serves /metrics only"
    );

    let res = reqwest::get(&private).await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("# TYPE tidings_deliveries gauge"), "{text}");
    if let Some(py) = py {
        let s = parse(&py, text);
        // Both 404s (public /metrics, private /feeds/…) were counted as unmatched: neither
        // route exists where it was asked for.
        let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
        assert_eq!(
            s.value("tidings_http_requests_total", &unmatched),
            Some(2.0),
            "{}",
            s.text
        );
        assert_eq!(
            s.value(
                "tidings_http_requests_total",
                &[("route", "/healthz"), ("status", "200")]
            ),
            Some(1.0)
        );
    }
    daemon.stop();
}

#[test]
fn a_bad_metrics_listen_is_reported_with_its_line_and_key() {
    for (server, want) in [
        (
            "metrics_listen = \"localhost:9090\"\n",
            "`localhost:9090` is not an address",
        ),
        (
            "listen = \"127.0.0.1:8080\"\nmetrics_listen = \"127.0.0.1:8080\"\n",
            "is also [server] listen",
        ),
    ] {
        let dir = TestDir::new(&format!("[server]\n{server}"), &[]);
        let err = tidings::config::Config::load_with_env(&dir.config_path(), &|_| None)
            .err()
            .unwrap_or_else(|| panic!("{server}: accepted"))
            .to_string();
        let line = 1 + server.lines().count();
        let at = format!(
            "{}:{line}: key `server.metrics_listen`",
            dir.config_path().display()
        );
        assert!(err.contains(&at) && err.contains(want), "{err}");
    }
    let dir = TestDir::new("[server]\nmetrics_listen = \"127.0.0.1:9464\"\n", &[]);
    let config = dir.load();
    assert_eq!(
        config.server.metrics_listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(TestDir::new("", &[]).load().server.metrics_listen, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_level_and_fields() {
    let server = portal(2, 0, Variant::Standard).await;
    let env = sample_portal_env(&server);
    let cfg = env.config_path();
    let poll = |args: &[&str], vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
        cmd.args(["--config", cfg.to_str().unwrap()])
            .args(args)
            .env_remove("TIDINGS_LOG")
            .env_remove("TIDINGS_LOG_FORMAT")
            .env("TIDINGS_TELEGRAM_TOKEN", TOKEN)
            .envs(vars.iter().copied());
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    };
    let baseline = poll(&["--log-format", "json", "poll"], &[]);
    // The listing markup changes: selector drift is logged (a warning) — by the environment
    // variable this time.
    swap(&server, 2, 0, Variant::DriftedListing);
    let drifted = poll(&["poll"], &[("TIDINGS_LOG_FORMAT", "json")]);
    let mut warned = false;
    for line in baseline
        .lines()
        .chain(drifted.lines())
        .filter(|l| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let level = v["level"].as_str().unwrap_or_else(|| panic!("no level: {line}"));
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "{line}"
        );
        assert!(v["fields"]["message"].is_string(), "no fields.message: {line}");
        assert!(v["timestamp"].is_string() && v["target"].is_string(), "{line}");
        if level == "WARN"
            && v["fields"]["message"]
                .as_str()
                .unwrap()
                .contains("selector drift")
        {
            assert_eq!(v["fields"]["source"], SOURCE, "{line}");
            warned = true;
        }
    }
    assert!(warned, "no drift warning in:\n{drifted}");
    assert!(!drifted.contains(TOKEN.split(':').nth(1).unwrap()));

    // Human is the default: the same warning as text.
    swap(&server, 2, 0, Variant::Standard);
    poll(&["poll"], &[]);
    swap(&server, 2, 0, Variant::DriftedListing);
    let human = poll(&["poll"], &[]);
    assert!(
        human.contains("WARN") && human.contains("selector drift"),
        "{human}"
    );
    assert!(!human.trim_start().starts_with('{'), "{human}");
}
