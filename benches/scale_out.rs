//! Scale-out on PostgreSQL (README, "Scale-out on PostgreSQL"), measured on real `tidings
//! run` processes, in two parts.
//!
//! **Email delivery with 1, 2 and 3 instances.** For each count a fresh database holds 100
//! email recipients × 30 items = 3,000 queued instant deliveries, committed through the
//! library before any instance starts. Each instance sends to an SMTP server of its own
//! (`tests/support/smtp_sink.py --count-only --latency-ms 50`: every DATA is answered 50 ms
//! late while other connections carry on), so that the counts say who sent what. At the
//! default `[email] connections = 8` one instance sends at most 8 / 50 ms = 160 mails/s:
//! the senders, not the two cores, are the limit. Printed: mails/s from the first mail
//! accepted to the last (counts polled every 10 ms) and the ratio to one instance (target:
//! three ≥ 2.2× one), the time from the spawn to the first mail (startup), each instance's
//! share, its stalls (no mail accepted for longer than two latencies: the instance is
//! claiming, or has nothing in hand) and how long it sat idle at the end, the CPU used, and
//! losses, duplicates and retries against the queue. Before that, the store's part alone, in
//! process: claiming 100 deliveries at a time (as the email worker does) and recording each
//! as sent, by one worker and by three at once, each with a pool of its own.
//!
//! **Feeds on PostgreSQL vs SQLite.** The same 500 items committed through the library into a
//! SQLite file and a PostgreSQL database; one `tidings run` on each in turn (SQLite,
//! PostgreSQL, PostgreSQL, SQLite), its cached `/feeds/region/jinzhong.atom` (checked
//! byte-equal on both) driven for 10 s at 64 keep-alive connections by `wrk` when it is on
//! the `PATH` (else by a reqwest loop in this process), plain (200) and with `If-None-Match`
//! (304). Printed: req/s, p99 and the server's CPU time per request (which other work on the
//! machine leaves alone) per backend, and the ratios (target: req/s within 10%).
//!
//! `cargo bench --bench scale_out` (about two and a half minutes); `cargo test --all-targets`
//! runs a smoke version (1 and 2 instances with 200 deliveries and 5 ms latency; 1 s of each
//! feed load per backend, 8 connections, by the reqwest loop). The PostgreSQL server comes
//! from `TIDINGS_TEST_DATABASE_URL` (scripts/test sets it); without it this prints that it
//! skips and exits successfully (a failure under `TIDINGS_STRICT=1`, like the test suite).
//! Each run creates `tidings_b_<pid>_…` databases and drops them; ones left by a bench that
//! died are dropped at the next start.

#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use sqlx::Connection;
use tidings::app::App;
use tidings::config::Config;
use tidings::domain::{Article, RegionRef};
use tidings::store::{DeliveryOutcome, ItemWrite, PollCommit, RecipientSpec, Topic};

use smtp_sink::{Sink, python_with_aiosmtpd};

/// The signing key (email needs one).
const KEY: &str = "bench-secret-key-0123456789abcdef-0123456789";
/// `[email] connections`: the default.
const CONNECTIONS: usize = 8;
/// What the email worker claims per round (`BATCH` in src/notify/outbox/email.rs).
const CLAIM_BATCH: i64 = 100;
/// The feed under load.
const FEED: &str = "/feeds/region/jinzhong.atom";

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs the smoke version.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `TIDINGS_STRICT=1` (CI) turns "prerequisite missing, skipping" into a failure.
fn strict() -> bool {
    std::env::var("TIDINGS_STRICT").is_ok_and(|v| v == "1")
}

/// The sizes of one run: the measurement or the smoke test.
struct Plan {
    full: bool,
    recipients: usize,
    items: u32,
    latency_ms: u64,
    instances: &'static [usize],
    feed_items: u32,
    feed_secs: u64,
    feed_connections: usize,
    feed_order: &'static [Backend],
}

impl Plan {
    fn new(full: bool) -> Plan {
        if full {
            Plan {
                full,
                recipients: 100,
                items: 30,
                latency_ms: 50,
                instances: &[1, 2, 3],
                feed_items: 500,
                feed_secs: 10,
                feed_connections: 64,
                feed_order: &[
                    Backend::Sqlite,
                    Backend::Postgres,
                    Backend::Postgres,
                    Backend::Sqlite,
                ],
            }
        } else {
            Plan {
                full,
                recipients: 20,
                items: 10,
                latency_ms: 5,
                instances: &[1, 2],
                feed_items: 100,
                feed_secs: 1,
                feed_connections: 8,
                feed_order: &[Backend::Sqlite, Backend::Postgres],
            }
        }
    }

    fn deliveries(&self) -> usize {
        self.recipients * self.items as usize
    }

    /// Mails/s one instance can send at most: its connections, each waiting out the latency.
    fn ceiling(&self) -> f64 {
        CONNECTIONS as f64 * 1000.0 / self.latency_ms as f64
    }

    /// Longer than this without a mail accepted, an instance's pipeline was empty.
    fn stall(&self) -> Duration {
        Duration::from_millis((2 * self.latency_ms).max(50))
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plan = Plan::new(full_run());
    let base = match std::env::var("TIDINGS_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            assert!(
                !strict(),
                "TIDINGS_STRICT=1 but TIDINGS_TEST_DATABASE_URL is not set: run scripts/test"
            );
            println!("scale_out: skipping, TIDINGS_TEST_DATABASE_URL is not set (scripts/test sets it)");
            return;
        }
    };
    let Some(python) = python_with_aiosmtpd() else {
        assert!(
            !strict(),
            "scale_out needs a Python with aiosmtpd (TIDINGS_PYTHON or .venv): run scripts/test"
        );
        println!("scale_out: skipping, no Python with aiosmtpd (scripts/test installs it)");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(drop_leftovers(&base));
    println!(
        "scale_out: {} run on {} cores, load average {}",
        if plan.full { "measurement" } else { "smoke" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    deliveries(&runtime, &plan, &base, &python);
    feeds(&runtime, &plan, &base);
    println!("scale_out: done, load average {}", load_average());
}

// ---------------------------------------------------------------------------------------
// Part 1: email delivery by 1, 2, 3 instances.

/// What one delivery run saw.
struct DeliveryRun {
    instances: usize,
    /// Mails/s from the first accepted to the last.
    rate: f64,
    /// From the first accepted mail to the last.
    span: Duration,
    /// From the first spawn to the first accepted mail.
    startup: Duration,
}

fn deliveries(runtime: &tokio::runtime::Runtime, plan: &Plan, base: &str, python: &Path) {
    let total = plan.deliveries();
    println!(
        "scale_out: delivery: {} recipients × {} items = {total} instant email deliveries per run, \
         SMTP latency {} ms per mail, connections = {CONNECTIONS}: at most {:.0} mails/s per instance",
        plan.recipients,
        plan.items,
        plan.latency_ms,
        plan.ceiling()
    );
    for workers in [1, 3] {
        runtime.block_on(store_alone(plan, base, workers));
    }
    let mut runs = Vec::new();
    for &n in plan.instances {
        let run = delivery_run(runtime, plan, base, python, n);
        runs.push(run);
    }
    let one = runs[0].rate;
    println!("scale_out: delivery summary (mails/s from the first mail to the last):");
    println!("  instances | mails/s | × one | of N × ceiling | first → last | startup");
    for r in &runs {
        println!(
            "  {:>9} | {:>7.1} | {:>5.2} | {:>13.0}% | {:>10.2} s | {:>5.2} s",
            r.instances,
            r.rate,
            r.rate / one,
            100.0 * r.rate / (r.instances as f64 * plan.ceiling()),
            r.span.as_secs_f64(),
            r.startup.as_secs_f64()
        );
    }
    if !plan.full {
        println!("scale_out: delivery smoke run (cargo test): every delivery sent once; no targets judged");
        return;
    }
    if let Some(three) = runs.iter().find(|r| r.instances == 3) {
        let ratio = three.rate / one;
        println!(
            "scale_out: delivery: 3 instances ≥ 2.2× one: {} ({ratio:.2}×)",
            if ratio >= 2.2 { "met" } else { "MISSED" }
        );
    }
}

/// The store's work per mail without SMTP: `workers` workers at once (each its own pool, as
/// separate instances would be) claim [`CLAIM_BATCH`] at a time and record each as sent, one
/// after another as the email worker's loop does, until the queue is empty.
async fn store_alone(plan: &Plan, base: &str, workers: usize) {
    let db = BenchDb::create(base).await;
    let dir = config_dir(Some(&db.url));
    let app = open_app(dir.path()).await;
    populate_queue(&app, plan).await;
    let mut apps = vec![app];
    for _ in 1..workers {
        apps.push(open_app(dir.path()).await);
    }
    // One worker first claims single deliveries: the fixed cost of a claim, without the
    // per-row reads that follow the UPDATE.
    let single = if workers == 1 {
        let (mut took, rounds) = (Duration::ZERO, 10);
        for _ in 0..rounds {
            let t = Instant::now();
            let claimed = apps[0]
                .store
                .claim_deliveries("email", "probe-single", Utc::now(), Duration::from_secs(120), 1)
                .await
                .expect("claim");
            took += t.elapsed();
            for c in &claimed {
                apps[0]
                    .store
                    .finish_delivery(c.id, "probe-single", &DeliveryOutcome::Sent, Utc::now())
                    .await
                    .expect("finish");
            }
        }
        Some((took / rounds, rounds as usize))
    } else {
        None
    };
    let expected = plan.deliveries() - single.map_or(0, |s| s.1);
    let started = Instant::now();
    let jobs = apps.iter().enumerate().map(|(w, app)| async move {
        let worker = format!("probe-{w}");
        let (mut claims, mut claiming, mut finishing, mut sent) = (0, Duration::ZERO, Duration::ZERO, 0);
        loop {
            let t = Instant::now();
            let claimed = app
                .store
                .claim_deliveries(
                    "email",
                    &worker,
                    Utc::now(),
                    Duration::from_secs(120),
                    CLAIM_BATCH,
                )
                .await
                .expect("claim");
            claiming += t.elapsed();
            if claimed.is_empty() {
                break;
            }
            claims += 1;
            let t = Instant::now();
            for c in &claimed {
                app.store
                    .finish_delivery(c.id, &worker, &DeliveryOutcome::Sent, Utc::now())
                    .await
                    .expect("finish");
            }
            finishing += t.elapsed();
            sent += claimed.len();
        }
        (claims, claiming, finishing, sent)
    });
    let done = futures::future::join_all(jobs).await;
    let wall = started.elapsed();
    let sent: usize = done.iter().map(|d| d.3).sum();
    assert_eq!(sent, expected, "every delivery claimed once");
    let claims: u32 = done.iter().map(|d| d.0).sum();
    let claiming: Duration = done.iter().map(|d| d.1).sum();
    let finishing: Duration = done.iter().map(|d| d.2).sum();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "scale_out: store alone (no SMTP), {workers} worker(s) at once: {sent} deliveries claimed and \
         marked sent in {:.2} s = {:.0}/s; a claim of {CLAIM_BATCH} takes {:.0} ms, recording one \
         as sent {:.2} ms (means over {claims} claims)",
        wall.as_secs_f64(),
        sent as f64 / wall.as_secs_f64(),
        ms(claiming) / f64::from(claims.max(1)),
        ms(finishing) / sent.max(1) as f64
    );
    if let Some((one, _)) = single {
        let batch = claiming / claims.max(1);
        println!(
            "scale_out: store alone: a claim of 1 takes {:.1} ms, so each further row of a claim \
             costs {:.2} ms (its item and recipient are read after the UPDATE)",
            ms(one),
            (ms(batch) - ms(one)) / (CLAIM_BATCH - 1) as f64
        );
    }
}

/// Per instance: what its sink counted over time.
#[derive(Default, Clone)]
struct Progress {
    count: usize,
    first: Option<Duration>,
    last: Duration,
    /// Gaps between accepted mails longer than [`Plan::stall`], and their total.
    stalls: usize,
    stalled: Duration,
}

impl Progress {
    fn see(&mut self, count: usize, at: Duration, stall: Duration) {
        if count <= self.count {
            return;
        }
        if self.first.is_some() {
            let gap = at - self.last;
            if gap > stall {
                self.stalls += 1;
                self.stalled += gap;
            }
        } else {
            self.first = Some(at);
        }
        self.count = count;
        self.last = at;
    }
}

fn delivery_run(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    base: &str,
    python: &Path,
    n: usize,
) -> DeliveryRun {
    let total = plan.deliveries();
    let db = runtime.block_on(BenchDb::create(base));
    let dir = config_dir(Some(&db.url));
    let app = runtime.block_on(open_app(dir.path()));
    runtime.block_on(populate_queue(&app, plan));
    let sinks: Vec<Sink> = (0..n)
        .map(|_| {
            Sink::start(
                python,
                &[
                    "--count-only".into(),
                    "--latency-ms".into(),
                    plan.latency_ms.to_string(),
                ],
            )
        })
        .collect();
    let load = load_average();
    let cpu_before = machine_cpu();
    let pg_before = postgres_ticks();
    let started = Instant::now();
    let instances = Instances(
        (0..n)
            .map(|i| spawn_instance(dir.path(), &db.url, sinks[i].port, i))
            .collect(),
    );
    let limit = Duration::from_secs(if plan.full { 300 } else { 60 });
    let stall = plan.stall();
    let mut progress = vec![Progress::default(); n];
    let mut first: Option<(Duration, usize)> = None;
    let last = loop {
        let at = started.elapsed();
        for (p, sink) in progress.iter_mut().zip(&sinks) {
            p.see(sink.count(), at, stall);
        }
        let sum: usize = progress.iter().map(|p| p.count).sum();
        if first.is_none() && sum > 0 {
            first = Some((at, sum));
        }
        if sum >= total {
            break at;
        }
        if at > limit {
            panic!(
                "{n} instance(s): {sum} of {total} mails after {limit:?}\n{}",
                instances.logs(dir.path())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let cpu = machine_cpu().busy_since(&cpu_before);
    let pg_cpu = ticks_to_secs(postgres_ticks().saturating_sub(pg_before));
    let instance_cpu: Vec<f64> = instances
        .0
        .iter()
        .map(|c| ticks_to_secs(cpu_ticks(c.id())))
        .collect();
    let sink_cpu: f64 = sinks.iter().map(|s| ticks_to_secs(cpu_ticks(s.child.id()))).sum();
    // Anything still in flight (a duplicate) arrives now.
    std::thread::sleep(Duration::from_secs(if plan.full { 2 } else { 1 }));
    let delivered: usize = sinks.iter().map(Sink::count).sum();
    let stats = runtime
        .block_on(app.store.outbox_stats(Utc::now()))
        .expect("outbox stats");
    let logs = instances.logs(dir.path());
    drop(instances);
    drop(app);
    drop(sinks);
    drop(db);

    let (first_at, first_count) = first.expect("a first mail");
    let span = last - first_at;
    let rate = (total - first_count) as f64 / span.as_secs_f64();
    println!(
        "scale_out: {n} instance(s) (load average {load}): {total} mails, {:.2} s from the first \
         accepted to the last = {rate:.1} mails/s ({:.0}% of {n} × {:.0}/s); the first after {:.2} s \
         (startup)",
        span.as_secs_f64(),
        100.0 * rate / (n as f64 * plan.ceiling()),
        plan.ceiling(),
        first_at.as_secs_f64()
    );
    for (i, p) in progress.iter().enumerate() {
        let from = p.first.unwrap_or_default();
        let busy = p.last.saturating_sub(from);
        println!(
            "  bench-{i}: {:>5} mails ({:>4.1}%), first at {:.2} s, last at {:.2} s, {:.1}/s while \
             active; {} stalls > {} ms totalling {:.2} s; idle for the last {:.2} s; {:.1} s CPU",
            p.count,
            100.0 * p.count as f64 / total as f64,
            from.as_secs_f64(),
            p.last.as_secs_f64(),
            p.count as f64 / busy.as_secs_f64().max(1e-3),
            p.stalls,
            stall.as_millis(),
            p.stalled.as_secs_f64(),
            (last - p.last).as_secs_f64(),
            instance_cpu[i]
        );
    }
    println!(
        "  CPU from the spawn to the last mail ({:.1} s): machine {:.0}% busy; postgres processes \
         {pg_cpu:.1} s, SMTP sinks {sink_cpu:.1} s",
        cpu.1,
        100.0 * cpu.0
    );
    let duplicates = delivered.saturating_sub(total);
    let lost = total.saturating_sub(delivered);
    println!(
        "  queue afterwards: {} sent, {} queued, {} failed, {} retried; sinks counted {delivered}: \
         {lost} lost, {duplicates} duplicates",
        stats.sent, stats.queued, stats.failed, stats.retried
    );
    if stats.failed > 0 || lost > 0 || duplicates > 0 {
        println!("{logs}");
    }
    assert_eq!(lost, 0, "no mail lost");
    assert_eq!(stats.sent as usize, total, "every delivery recorded as sent");
    DeliveryRun {
        instances: n,
        rate,
        span,
        startup: first_at,
    }
}

/// `recipients` email addresses subscribed to everything, then `items` new items in one
/// commit, as a poll stores them: one queued delivery per (item, recipient).
async fn populate_queue(app: &App, plan: &Plan) {
    let all = Topic {
        region: None,
        tag: None,
    };
    for i in 0..plan.recipients {
        let spec = RecipientSpec {
            kind: "email".into(),
            address: format!("reader{i:04}@example.org"),
            thread_id: 0,
            origin: "cli".into(),
            topics: vec![all.clone()],
            filters: None,
        };
        app.store
            .save_recipient(&spec, Utc::now())
            .await
            .expect("recipient");
    }
    let poll = PollCommit {
        source: "bench".into(),
        now: Utc::now(),
        writes: (0..plan.items).map(|n| article(n, REGIONS[0])).collect(),
        ..PollCommit::default()
    };
    let out = app.store.commit_poll(poll).await.expect("commit");
    assert_eq!(out.new.len(), plan.items as usize);
    let stats = app.store.outbox_stats(Utc::now()).await.expect("outbox stats");
    assert_eq!(
        stats.queued as usize,
        plan.deliveries(),
        "one delivery per (item, recipient)"
    );
}

/// `tidings run` number `i` on the shared database, sending to the sink on `smtp_port`, its
/// output appended to `instance-<i>.log` in `dir`.
fn spawn_instance(dir: &Path, db_url: &str, smtp_port: u16, i: usize) -> Child {
    let log = std::fs::File::create(dir.join(format!("instance-{i}.log"))).expect("log");
    let err = log.try_clone().expect("log");
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(["run", "--listen", "127.0.0.1:0"])
        .env("TIDINGS_DATABASE_URL", db_url)
        .env("TIDINGS_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
        .env("TIDINGS_SECRET_KEY", KEY)
        .env("TIDINGS_LOG", "info,sqlx=warn")
        // Distinct worker names although they share a host.
        .env("HOSTNAME", format!("bench-{i}"))
        .env_remove("TIDINGS_TELEGRAM_TOKEN")
        .env_remove("TIDINGS_TEST_CLOCK")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .expect("spawn tidings run")
}

/// Running `tidings run` processes, killed when dropped (however the bench ends).
struct Instances(Vec<Child>);

impl Instances {
    /// Every instance's log (the last lines of each).
    fn logs(&self, dir: &Path) -> String {
        (0..self.0.len())
            .map(|i| {
                let text = std::fs::read_to_string(dir.join(format!("instance-{i}.log"))).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                format!("--- bench-{i} (last 20 lines)\n{tail}\n")
            })
            .collect()
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Part 2: feeds served from PostgreSQL vs SQLite.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Requests/s and latency of one load run.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    /// Unexpected statuses and socket errors.
    errors: u64,
    /// The server's CPU time per request, in µs (what other work on the machine leaves alone).
    cpu_us: f64,
}

fn feeds(runtime: &tokio::runtime::Runtime, plan: &Plan, base: &str) {
    let wrk = plan.full && Command::new("wrk").arg("--version").output().is_ok();
    let generator = if wrk {
        "wrk -t2"
    } else {
        "a reqwest loop in this process"
    };
    println!(
        "scale_out: feeds: {} items in SQLite and in PostgreSQL; {FEED} for {} s at {} keep-alive \
         connections by {generator}, one backend at a time in the order {:?}",
        plan.feed_items, plan.feed_secs, plan.feed_connections, plan.feed_order
    );
    let db = runtime.block_on(BenchDb::create(base));
    let dir = config_dir(None);
    let sqlite_url = format!("sqlite://{}/bench.db", dir.path().display());
    runtime.block_on(async {
        let sqlite = open_app(dir.path()).await;
        let pg = open_app_on(dir.path(), &db.url).await;
        populate_feeds(&[&sqlite, &pg], plan.feed_items).await;
    });
    let client = reqwest::Client::builder()
        .http1_only()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .pool_max_idle_per_host(plan.feed_connections)
        .build()
        .expect("client");

    // Per run: the backend, then the 200 and the 304 load.
    let mut results: Vec<(Backend, [Load; 2])> = Vec::new();
    let mut bodies: Vec<(Backend, Vec<u8>, String)> = Vec::new();
    for (run, &backend) in plan.feed_order.iter().enumerate() {
        let url = match backend {
            Backend::Sqlite => &sqlite_url,
            Backend::Postgres => &db.url,
        };
        let server = Server::start(dir.path(), url, run);
        let feed = format!("{}{FEED}", server.base);
        let (body, etag) = runtime.block_on(warm(&client, &feed));
        let load = load_average();
        let pid = server.child.id();
        let measure = |etag: Option<&str>| {
            let before = cpu_ticks(pid);
            let (connections, secs) = (plan.feed_connections, plan.feed_secs);
            let mut load = if wrk {
                run_wrk(&feed, connections, secs, etag)
            } else {
                runtime.block_on(reqwest_load(&client, &feed, connections, secs, etag))
            };
            let cpu = ticks_to_secs(cpu_ticks(pid).saturating_sub(before));
            load.cpu_us = cpu * 1e6 / load.requests.max(1) as f64;
            load
        };
        let full = measure(None);
        let not_modified = measure(Some(&etag));
        drop(server);
        println!(
            "scale_out: feeds run {} on {} (load average {load}): 200 ({} bytes): {:.0} req/s, p50 \
             {:.2} ms, p99 {:.2} ms, server CPU {:.1} µs/request; 304: {:.0} req/s, p50 {:.2} ms, \
             p99 {:.2} ms, {:.1} µs/request; errors {}",
            run + 1,
            backend.name(),
            body.len(),
            full.per_sec,
            full.p50_ms,
            full.p99_ms,
            full.cpu_us,
            not_modified.per_sec,
            not_modified.p50_ms,
            not_modified.p99_ms,
            not_modified.cpu_us,
            full.errors + not_modified.errors
        );
        assert_eq!(full.errors + not_modified.errors, 0, "every answer 200 or 304");
        assert!(full.requests > 0 && not_modified.requests > 0);
        results.push((backend, [full, not_modified]));
        bodies.push((backend, body, etag));
    }
    drop(db);
    let (first, rest) = bodies.split_first().expect("a run");
    for (backend, body, etag) in rest {
        assert!(
            body == &first.1 && etag == &first.2,
            "{} serves the same bytes and ETag as {}",
            backend.name(),
            first.0.name()
        );
    }

    let mean = |backend: Backend, which: usize| {
        let runs: Vec<Load> = results
            .iter()
            .filter(|r| r.0 == backend)
            .map(|r| r.1[which])
            .collect();
        let n = runs.len().max(1) as f64;
        let avg = |f: fn(&Load) -> f64| runs.iter().map(f).sum::<f64>() / n;
        Load {
            per_sec: avg(|l| l.per_sec),
            p50_ms: avg(|l| l.p50_ms),
            p99_ms: avg(|l| l.p99_ms),
            cpu_us: avg(|l| l.cpu_us),
            ..Load::default()
        }
    };
    println!("scale_out: feeds summary (means over each backend's runs; CPU is the server's per request):");
    println!("  response |     SQLite: req/s, p99, CPU |  PostgreSQL: req/s, p99, CPU | PostgreSQL / SQLite");
    let mut ratios = Vec::new();
    for (which, label) in ["200", "304"].into_iter().enumerate() {
        let (s, p) = (mean(Backend::Sqlite, which), mean(Backend::Postgres, which));
        let ratio = p.per_sec / s.per_sec;
        ratios.push((label, ratio));
        println!(
            "  {label:>8} | {:>7.0}, {:>5.2} ms, {:>5.1} µs | {:>7.0}, {:>5.2} ms, {:>6.1} µs | \
             req/s {ratio:.3}, p99 {:.2}, CPU {:.3}",
            s.per_sec,
            s.p99_ms,
            s.cpu_us,
            p.per_sec,
            p.p99_ms,
            p.cpu_us,
            p.p99_ms / s.p99_ms,
            p.cpu_us / s.cpu_us
        );
    }
    if !plan.full {
        println!("scale_out: feeds smoke run (cargo test): same bytes on both backends; no targets judged");
        return;
    }
    for (label, ratio) in ratios {
        println!(
            "scale_out: feeds: {label} on PostgreSQL within 10% of SQLite: {} ({:+.1}%)",
            if (ratio - 1.0).abs() <= 0.10 {
                "met"
            } else {
                "MISSED"
            },
            100.0 * (ratio - 1.0)
        );
    }
}

/// Six regions, Jinzhong first (half the feed items are Jinzhong's).
const REGIONS: [(&str, &str); 6] = [
    ("jinzhong", "晋中"),
    ("taiyuan", "太原"),
    ("jinzhong", "晋中"),
    ("datong", "大同"),
    ("jinzhong", "晋中"),
    ("changzhi", "长治"),
];

/// Commits the same `items` items to every app, 50 per commit as polls would, each commit at
/// the same `now` everywhere so that the feeds come out byte-equal.
async fn populate_feeds(apps: &[&App], items: u32) {
    let start = Utc::now();
    for batch in 0..items.div_ceil(50) {
        let now = start + chrono::Duration::seconds(i64::from(batch));
        let range = batch * 50..((batch + 1) * 50).min(items);
        for app in apps {
            let poll = PollCommit {
                source: "bench".into(),
                now,
                writes: range
                    .clone()
                    .map(|n| article(n, REGIONS[n as usize % REGIONS.len()]))
                    .collect(),
                ..PollCommit::default()
            };
            let out = app.store.commit_poll(poll).await.expect("commit");
            assert_eq!(out.new.len(), range.len());
        }
    }
}

/// A `tidings run` serving HTTP on a loopback port; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `tidings run` on `storage` and waits for its "listening on" line.
    fn start(dir: &Path, storage: &str, run: usize) -> Server {
        let out = dir.join(format!("serve-{run}.out"));
        let err = dir.join(format!("serve-{run}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_tidings"))
            .arg("--config")
            .arg(dir.join("config.toml"))
            .args(["run", "--listen", "127.0.0.1:0"])
            .env("TIDINGS_DATABASE_URL", storage)
            .env("TIDINGS_LOG", "warn")
            .env("HOSTNAME", format!("serve-{run}"))
            .env_remove("TIDINGS_SMTP_URL")
            .env_remove("TIDINGS_TELEGRAM_TOKEN")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("log file"))
            .spawn()
            .expect("spawn tidings run");
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if let Some(rest) = text.split("listening on ").nth(1) {
                let base = rest.split_whitespace().next().unwrap_or_default();
                return Server {
                    child,
                    base: base.trim_end_matches('/').to_owned(),
                };
            }
            if started.elapsed() > Duration::from_secs(30) || child.try_wait().ok().flatten().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&err).unwrap_or_default();
                panic!("tidings run on {storage} did not start:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fetches `url` until it is cached (three times); its body and ETag.
async fn warm(client: &reqwest::Client, url: &str) -> (Vec<u8>, String) {
    let mut got = (Vec::new(), String::new());
    for _ in 0..3 {
        let r = client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(r.status().as_u16(), 200, "{url}");
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        got = (r.bytes().await.expect("body").to_vec(), etag);
    }
    assert!(
        String::from_utf8_lossy(&got.0).matches("<entry>").count() == 50,
        "a full page of Jinzhong entries"
    );
    assert!(!got.1.is_empty(), "an ETag");
    got
}

/// `wrk -t2` on `url` (with `If-None-Match: etag` when given).
fn run_wrk(url: &str, connections: usize, secs: u64, etag: Option<&str>) -> Load {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if let Some(etag) = etag {
        cmd.args(["-H", &format!("If-None-Match: {etag}")]);
    }
    let out = cmd.arg(url).output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed:\n{text}");
    let field = |line: &str, at: usize| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(line))
            .and_then(|l| l.split_whitespace().nth(at).map(str::to_owned))
    };
    let number = |s: Option<String>| s.and_then(|s| s.trim_end_matches(',').parse::<f64>().ok());
    let errors = number(field("Non-2xx or 3xx responses:", 4)).unwrap_or(0.0) as u64
        + text
            .lines()
            .find(|l| l.trim_start().starts_with("Socket errors:"))
            .map_or(0, |l| {
                l.split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum()
            });
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Load {
        per_sec: number(field("Requests/sec:", 1)).unwrap_or(0.0),
        p50_ms: field("50%", 1).and_then(|d| wrk_ms(&d)).unwrap_or(f64::NAN),
        p99_ms: field("99%", 1).and_then(|d| wrk_ms(&d)).unwrap_or(f64::NAN),
        requests,
        errors,
        cpu_us: f64::NAN,
    }
}

/// A wrk duration (`812.00us`, `1.23ms`, `2.01s`) in milliseconds.
fn wrk_ms(d: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = d.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = d.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = d.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (d.strip_suffix('s')?, 1000.0)
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// `connections` tasks each sending one request after another on a keep-alive connection for
/// `secs` seconds (with `If-None-Match: etag` when given, expecting 304, else 200).
async fn reqwest_load(
    client: &reqwest::Client,
    url: &str,
    connections: usize,
    secs: u64,
    etag: Option<&str>,
) -> Load {
    let expect = if etag.is_some() { 304 } else { 200 };
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, etag) = (client.clone(), url.to_owned(), etag.map(str::to_owned));
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < until {
                    let t = Instant::now();
                    let mut request = client.get(&url);
                    if let Some(etag) = &etag {
                        request = request.header("if-none-match", etag);
                    }
                    match request.send().await {
                        Ok(r) if r.status().as_u16() == expect => {
                            if r.bytes().await.is_err() {
                                errors += 1;
                            }
                        }
                        _ => errors += 1,
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.expect("load task");
        all.extend(latencies);
        errors += e;
    }
    let wall = started.elapsed();
    all.sort();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    Load {
        per_sec: all.len() as f64 / wall.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        requests: all.len() as u64,
        errors,
        cpu_us: f64::NAN,
    }
}

// ---------------------------------------------------------------------------------------
// Shared: databases, configs, items, the SMTP sink, CPU accounting.

/// A database created for one run on the server at `TIDINGS_TEST_DATABASE_URL`, dropped
/// (with its connections) when this is dropped.
struct BenchDb {
    url: String,
    name: String,
    base: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl BenchDb {
    /// Creates `tidings_b_<pid>_<n>_<random>`.
    async fn create(base: &str) -> BenchDb {
        let name = format!(
            "tidings_b_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap_or_else(|e| {
            panic!("TIDINGS_TEST_DATABASE_URL is set but PostgreSQL cannot be reached ({e})")
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        let mut url = url::Url::parse(base).expect("TIDINGS_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        BenchDb {
            url: url.to_string(),
            name,
            base: base.to_owned(),
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        // Possibly inside a runtime, which cannot be blocked on: a thread with a runtime of
        // its own drops the database.
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(drop_database(&base, &name));
        });
        let _ = dropper.join();
    }
}

async fn drop_database(base: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(base).await {
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
            eprintln!("scale_out: dropping database {name}: {e}");
        }
        let _ = conn.close().await;
    }
}

/// Drops `tidings_b_<pid>_…` databases whose bench process is gone.
async fn drop_leftovers(base: &str) {
    let Ok(mut conn) = sqlx::PgConnection::connect(base).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'tidings\\_b\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    let _ = conn.close().await;
    for name in names {
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            drop_database(base, &name).await;
        }
    }
}

/// The config of every instance here: public URL, email sender and connections, `storage`.
fn config_text(storage: &str) -> String {
    format!(
        "[server]\npublic_url = \"http://news.example.org/\"\n[email]\nfrom = \"晋中新闻 \
         <news@example.org>\"\nconnections = {CONNECTIONS}\n[storage]\nurl = \"{storage}\"\n"
    )
}

/// A directory with `config.toml` (see [`config_text`]; `storage`, or else `bench.db` in
/// the directory) and an empty `feeds/`: no sources.
fn config_dir(storage: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("feeds")).expect("feeds dir");
    let sqlite = format!("sqlite://{}/bench.db", dir.path().display());
    let config = config_text(storage.unwrap_or(&sqlite));
    std::fs::write(dir.path().join("config.toml"), config).expect("config");
    dir
}

/// The app in process on `dir`'s config, without email (it only stores).
async fn open_app(dir: &Path) -> App {
    let config = Config::load_with_env(&dir.join("config.toml"), &|_| None).expect("config");
    App::open(config).await.expect("app")
}

/// Like [`open_app`], on the store at `url` instead.
async fn open_app_on(dir: &Path, url: &str) -> App {
    let mut config = Config::load_with_env(&dir.join("config.toml"), &|_| None).expect("config");
    config.storage.url = url.to_owned();
    App::open(config).await.expect("app")
}

/// A new article `n` of `region` (slug, name), published `n` minutes after 2026-11-20 08:00
/// Beijing time.
fn article(n: u32, region: (&str, &str)) -> ItemWrite {
    let url = format!("https://news.example.cn/{}/{n}.html", region.0);
    let published = FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).single())
        .map(|t: DateTime<FixedOffset>| t + chrono::Duration::minutes(i64::from(n)));
    ItemWrite {
        id: format!("scale-{}-{n}", region.0),
        keys: vec![url.clone()],
        article: Article {
            url,
            guid: None,
            title: format!("{}新闻第{n}条：项目建设稳步推进，高质量发展迈出新步伐", region.1),
            author: None,
            region: Some(RegionRef {
                slug: region.0.into(),
                name: region.1.into(),
                known: true,
            }),
            published,
            tags: vec![["高质量", "民生", "经济"][n as usize % 3].into()],
            summary: Some(format!("{}各县区持续推进重点项目建设，", region.1).repeat(6)),
            body_html: None,
            images: vec![],
            comments: None,
        },
        listing_hash: None,
        push: true,
    }
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The machine's CPU counters from `/proc/stat`: (busy, all) in clock ticks.
#[derive(Debug, Clone, Copy)]
struct MachineCpu(u64, u64);

fn machine_cpu() -> MachineCpu {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    let all: u64 = fields.iter().sum();
    // idle and iowait
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    MachineCpu(all - idle, all)
}

impl MachineCpu {
    /// The busy fraction since `before`, and the seconds of wall time per core.
    fn busy_since(&self, before: &MachineCpu) -> (f64, f64) {
        let all = self.1.saturating_sub(before.1).max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        (
            self.0.saturating_sub(before.0) as f64 / all as f64,
            ticks_to_secs(all) / cores,
        )
    }
}

/// User plus system CPU of process `pid` so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let at = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    at(11) + at(12)
}

/// CPU of every `postgres` process on the machine (other work on the server included).
fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_ticks)
        .sum()
}

/// Clock ticks in seconds (`USER_HZ` is 100 on Linux).
fn ticks_to_secs(ticks: u64) -> f64 {
    ticks as f64 / 100.0
}
