//! Daily digest fan-out by `tidings deliver` to 10,000 confirmed email subscribers against the
//! test suite's SMTP server (`tests/support/smtp_sink.py`, aiosmtpd, count-only), with
//! `[email] connections` at 8 (the default) and 16.
//!
//! Prints mails/s from the spawn of `tidings deliver` to its exit (target ≥ 500/s, or ≥ 0.8×
//! a minimal SMTP client's rate against the same server in the same run when the server is
//! the bottleneck) and the process's peak RSS (`VmHWM` sampled every 20 ms, target < 100 MB).
//!
//! The minimal client sends one real digest, built once by `digest_mail`, to every subscriber
//! address over as many connections: EHLO once per connection, then MAIL, RCPT, DATA and the
//! body, waiting for each reply (no pipelining, like lettre). It runs twice: ending each
//! message in one write with Nagle off (what the server can take), and on a tenth of the
//! messages with the final `CRLF . CRLF` in a second write with Nagle on, as lettre 0.11.23
//! does. Two in-process phases show where the rest of the time goes: composing every digest,
//! and the store's work per digest (`digest_items` + `finish_digest`, as many at once).
//!
//! `cargo bench --bench digest_mail` (about three minutes); `cargo test --all-targets` runs
//! it with 200 subscribers against a storing sink and checks each got exactly one digest.

#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use futures::StreamExt;
use sqlx::Connection;
use tidings::app::{App, SubscribeInput};
use tidings::config::Config;
use tidings::domain::{Article, RegionRef};
use tidings::notify::digest::{is_due, last_scheduled};
use tidings::notify::email::digest_mail;
use tidings::store::{ItemWrite, PollCommit};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use smtp_sink::{Sink, python_with_aiosmtpd};

/// The signing key (email needs one).
const KEY: &str = "bench-secret-key-0123456789abcdef-0123456789";
/// Items in every digest.
const ITEMS: u32 = 10;
const FROM: &str = "news@example.org";
/// How long one `tidings deliver` may take before the bench gives up.
const LIMIT: Duration = Duration::from_secs(600);

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs a quick smoke test.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let full = full_run();
    let Some(python) = python_with_aiosmtpd() else {
        let strict = std::env::var("TIDINGS_STRICT").is_ok_and(|v| v == "1");
        assert!(
            !full && !strict,
            "digest_mail needs a Python with aiosmtpd (TIDINGS_PYTHON or .venv): run scripts/test"
        );
        eprintln!("digest_mail: skipping, no Python with aiosmtpd (scripts/test installs it)");
        return;
    };
    let subscribers = if full { 10_000 } else { 200 };
    let pools: &[usize] = if full { &[8, 16] } else { &[8] };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let template = tempfile::tempdir().expect("tempdir");
    let setup = runtime.block_on(populate(template.path(), subscribers));
    println!(
        "digest_mail: setup of {subscribers} subscribers through the library: {:.1} s subscribing \
         ({:.2} ms each), {:.2} s storing {ITEMS} items ({} digest entries), {:.2} s copying the \
         database; one digest is {} bytes",
        setup.subscribe.as_secs_f64(),
        setup.subscribe.as_secs_f64() * 1000.0 / subscribers as f64,
        setup.commit.as_secs_f64(),
        subscribers * ITEMS as usize,
        setup.snapshot.as_secs_f64(),
        setup.digest.len()
    );
    let (load, compose) = runtime.block_on(compose_phase(template.path(), setup.now));
    println!(
        "digest_mail: in process: loading every recipient {:.2} s; composing every digest {:.2} s \
         ({:.2} ms a digest, one thread)",
        load.as_secs_f64(),
        compose.as_secs_f64(),
        compose.as_secs_f64() * 1000.0 / subscribers as f64
    );
    let payload = Arc::new(data_payload(&setup.digest));
    for &connections in pools {
        let minimal = |messages, ending| {
            let sink = Sink::start(&python, &sink_options(full));
            let took = runtime.block_on(minimal_client(&sink, connections, messages, &payload, ending));
            assert_eq!(sink.wait_for_count(messages), messages);
            messages as f64 / took.as_secs_f64()
        };
        let minimal_rate = minimal(subscribers, Ending::OneWrite);
        let lettre_like = minimal((subscribers / 10).max(50), Ending::SecondWrite);
        let store = runtime.block_on(store_phase(template.path(), connections, setup.now));

        let sink = Sink::start(&python, &sink_options(full));
        let run = deliver(template.path(), &sink, connections, subscribers);
        assert_eq!(run.digests_reported, Some(subscribers), "{}", run.stdout);
        sink.wait_for_count(subscribers);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(sink.count(), subscribers, "exactly one digest per subscriber");
        if !full {
            sink.assert_one_each(subscribers);
        }
        report(&Report {
            full,
            connections,
            subscribers,
            run,
            opened: sink.connections(),
            minimal: minimal_rate,
            lettre_like,
            store: subscribers as f64 / store.as_secs_f64(),
        });
    }
}

/// What `populate` left behind and how long it took.
struct Setup {
    subscribe: Duration,
    commit: Duration,
    snapshot: Duration,
    /// The test clock's time: a day after the setup.
    now: DateTime<Utc>,
    /// One subscriber's digest as `tidings` would send it (headers and body, CRLF lines).
    digest: Vec<u8>,
}

/// Writes `config.toml` (email on, `connections` at once, the database in `dir`) and an
/// empty `feeds/` into `dir`.
fn prepare_dir(dir: &Path, connections: usize) {
    std::fs::create_dir_all(dir.join("feeds")).expect("feeds dir");
    let config = format!(
        "[server]\npublic_url = \"http://127.0.0.1:9/\"\n[email]\nfrom = \"晋中新闻 <{FROM}>\"\n\
         connections = {connections}\n[storage]\nurl = \"sqlite://{}/bench.db\"\n",
        dir.display()
    );
    std::fs::write(dir.join("config.toml"), config).expect("config");
}

/// The app in-process on `dir` (see [`prepare_dir`]), email on. Nothing is sent: each phase
/// that uses it stops before SMTP.
async fn open_app(dir: &Path) -> App {
    let vars = [
        ("TIDINGS_SMTP_URL", "smtp://127.0.0.1:9".to_owned()),
        ("TIDINGS_SECRET_KEY", KEY.to_owned()),
    ];
    let lookup = move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let config = Config::load_with_env(&dir.join("config.toml"), &lookup).expect("config");
    App::open(config).await.expect("app")
}

/// A fresh directory with a copy of the template database and the config for `connections`.
fn copy_of(template: &Path, connections: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    prepare_dir(dir.path(), connections);
    std::fs::copy(template.join("bench.db"), dir.path().join("bench.db")).expect("copy db");
    dir
}

/// A new Jinzhong article `n`, published today (Beijing time).
fn article(n: u32, today: DateTime<FixedOffset>) -> ItemWrite {
    let url = format!("https://news.example.cn/jinzhong/{n}.html");
    ItemWrite {
        id: format!("digest-bench-{n}"),
        keys: vec![url.clone()],
        article: Article {
            url,
            guid: None,
            title: format!("晋中新闻第{n}条：项目建设稳步推进，高质量发展迈出新步伐"),
            author: None,
            region: Some(RegionRef {
                slug: "jinzhong".into(),
                name: "晋中".into(),
                known: true,
            }),
            published: Some(today + chrono::Duration::minutes(i64::from(n))),
            tags: vec!["高质量".into()],
            summary: Some("晋中市各县区持续推进重点项目建设，".repeat(8)),
            body_html: None,
            images: vec![],
            comments: None,
        },
        listing_hash: None,
        push: true,
    }
}

/// Subscribes `subscribers` addresses to daily Jinzhong digests at 08:00 and stores
/// [`ITEMS`] matching items through the library, then snapshots the database into
/// `template/bench.db` (each run starts from a copy) and sets `template/clock` a day later.
async fn populate(template: &Path, subscribers: usize) -> Setup {
    let work = tempfile::tempdir().expect("tempdir");
    prepare_dir(work.path(), 8);
    let app = open_app(work.path()).await;

    let started = Instant::now();
    let mut first = None;
    for i in 0..subscribers {
        let input = SubscribeInput {
            email: address(i),
            regions: vec!["jinzhong".into()],
            mode: Some("daily".into()),
            at: Some("08:00".into()),
            ..SubscribeInput::default()
        };
        let request = app.check_subscription(&input).expect("valid subscription");
        let id = app.subscribe_confirmed(&request).await.expect("subscribe");
        first.get_or_insert(id);
    }
    let subscribe = started.elapsed();

    let started = Instant::now();
    let today = Utc::now().with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8"));
    let poll = PollCommit {
        source: "bench".into(),
        now: Utc::now(),
        writes: (0..ITEMS).map(|n| article(n, today)).collect(),
        ..PollCommit::default()
    };
    let out = app.store.commit_poll(poll).await.expect("commit");
    assert_eq!(out.new.len(), ITEMS as usize);
    let commit = started.elapsed();

    // After every `created_at`: each subscriber's 08:00 digest of the next day is due.
    let now = Utc::now() + chrono::Duration::days(1);
    std::fs::write(template.join("clock"), now.to_rfc3339()).expect("clock");
    // One digest as `tidings deliver` will build it, for the minimal client to send.
    let first = first.expect("at least one subscriber");
    let recipient = app
        .store
        .recipient(first)
        .await
        .expect("recipient")
        .expect("exists");
    let items = app.store.digest_items(first).await.expect("digest items");
    assert_eq!(items.len(), ITEMS as usize, "every item joined the digest");
    let scheduled = last_scheduled(&recipient, now).expect("daily");
    let mail = app.mail.as_ref().expect("email is on");
    let digest = digest_mail(&mail.context, &recipient, &items, scheduled)
        .expect("digest mail")
        .formatted();
    drop(app);

    // A consistent copy while the app's pool may still be closing.
    let started = Instant::now();
    let url = format!("sqlite://{}/bench.db", work.path().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("open db");
    sqlx::query("VACUUM INTO ?")
        .bind(template.join("bench.db").display().to_string())
        .execute(&mut db)
        .await
        .expect("VACUUM INTO");
    db.close().await.expect("close db");
    Setup {
        subscribe,
        commit,
        snapshot: started.elapsed(),
        now,
        digest,
    }
}

/// Subscriber `i`'s address.
fn address(i: usize) -> String {
    format!("reader{i:05}@example.org")
}

/// How long loading every recipient takes, and composing every due digest (one thread,
/// every digest with the same items, as `tidings deliver` would build them).
async fn compose_phase(template: &Path, now: DateTime<Utc>) -> (Duration, Duration) {
    let dir = copy_of(template, 8);
    let app = open_app(dir.path()).await;
    let started = Instant::now();
    let recipients = app.store.recipients().await.expect("recipients");
    let load = started.elapsed();
    let items = app.store.digest_items(recipients[0].id).await.expect("items");
    let context = &app.mail.as_ref().expect("email is on").context;
    let started = Instant::now();
    let mut bytes = 0;
    for r in recipients.iter().filter(|r| is_due(r, now)) {
        let scheduled = last_scheduled(r, now).unwrap_or(now);
        let mail = digest_mail(context, r, &items, scheduled).expect("digest mail");
        bytes += mail.formatted().len();
    }
    assert!(bytes > 0);
    (load, started.elapsed())
}

/// How long the store's part of every digest takes — `digest_items` then `finish_digest`,
/// `connections` recipients at a time, as the outbox does around each send.
async fn store_phase(template: &Path, connections: usize, now: DateTime<Utc>) -> Duration {
    let dir = copy_of(template, connections);
    let app = open_app(dir.path()).await;
    let started = Instant::now();
    let recipients = app.store.recipients().await.expect("recipients");
    let store = &app.store;
    let mut done = futures::stream::iter(recipients.iter().filter(|r| is_due(r, now)))
        .map(|r| async move {
            let items = store.digest_items(r.id).await.expect("digest items");
            let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
            store.finish_digest(r.id, &ids, now).await.expect("finish digest");
        })
        .buffer_unordered(connections);
    while done.next().await.is_some() {}
    started.elapsed()
}

/// `message` as sent after DATA: lines starting with `.` doubled, then `CRLF . CRLF`.
fn data_payload(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"\r\n.\r\n");
    out
}

/// How the minimal client writes a message after DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Body and `CRLF . CRLF` in one write, Nagle off.
    OneWrite,
    /// The body, then `CRLF . CRLF` in a second write, Nagle on (lettre 0.11.23's way).
    SecondWrite,
}

/// Sends `messages` copies of `payload` to `sink` over `connections` connections; the time
/// from the first connect to the last reply.
async fn minimal_client(
    sink: &Sink,
    connections: usize,
    messages: usize,
    payload: &Arc<Vec<u8>>,
    ending: Ending,
) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let job = smtp_connection(sink.port, next.clone(), messages, payload.clone(), ending);
            tokio::spawn(job)
        })
        .collect();
    for client in clients {
        client.await.expect("client task").expect("minimal SMTP client");
    }
    started.elapsed()
}

/// One connection of the minimal client, sending until `next` reaches `messages`.
async fn smtp_connection(
    port: u16,
    next: Arc<AtomicUsize>,
    messages: usize,
    payload: Arc<Vec<u8>>,
    ending: Ending,
) -> std::io::Result<()> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(ending == Ending::OneWrite)?;
    let mut smtp = Smtp {
        stream: tokio::io::BufReader::new(stream),
        line: String::new(),
    };
    smtp.reply(220).await?;
    smtp.say(b"EHLO bench.example.org\r\n", 250).await?;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= messages {
            break;
        }
        smtp.say(format!("MAIL FROM:<{FROM}>\r\n").as_bytes(), 250)
            .await?;
        smtp.say(format!("RCPT TO:<{}>\r\n", address(i)).as_bytes(), 250)
            .await?;
        smtp.say(b"DATA\r\n", 354).await?;
        match ending {
            Ending::OneWrite => smtp.say(&payload, 250).await?,
            Ending::SecondWrite => {
                let (body, end) = payload.split_at(payload.len() - b"\r\n.\r\n".len());
                smtp.stream.get_mut().write_all(body).await?;
                smtp.say(end, 250).await?;
            }
        }
    }
    smtp.say(b"QUIT\r\n", 221).await
}

/// A client connection: writes go straight to the socket, replies are read line by line.
struct Smtp {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    line: String,
}

impl Smtp {
    /// Writes `bytes` in one call and checks the reply's code.
    async fn say(&mut self, bytes: &[u8], code: u16) -> std::io::Result<()> {
        self.stream.get_mut().write_all(bytes).await?;
        self.reply(code).await
    }

    /// Reads one (possibly multi-line) reply and checks its code.
    async fn reply(&mut self, code: u16) -> std::io::Result<()> {
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                return Err(std::io::Error::other("the server closed the connection"));
            }
            if self.line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        if self.line.get(..3) == Some(&code.to_string()) {
            Ok(())
        } else {
            let got = self.line.trim_end();
            Err(std::io::Error::other(format!("expected {code}, got {got:?}")))
        }
    }
}

/// One `tidings deliver` and what was seen while it ran.
struct Run {
    /// From the spawn to the exit.
    wall: Duration,
    /// From the spawn until the sink had counted a first digest.
    first_mail: Option<Duration>,
    /// `VmHWM` at the last sample, in kB.
    peak_kb: u64,
    samples: usize,
    /// `digests sent N` from its summary line.
    digests_reported: Option<usize>,
    stdout: String,
}

/// Runs `tidings deliver` on a copy of the template database with `connections`, sampling
/// its peak memory and the sink's count every 20 ms.
fn deliver(template: &Path, sink: &Sink, connections: usize, expected: usize) -> Run {
    let dir = copy_of(template, connections);
    let out = dir.path().join("deliver.out");
    let err = dir.path().join("deliver.err");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .arg("deliver")
        .env("TIDINGS_SMTP_URL", format!("smtp://127.0.0.1:{}", sink.port))
        .env("TIDINGS_SECRET_KEY", KEY)
        .env("TIDINGS_TEST_CLOCK", template.join("clock"))
        .env("TIDINGS_LOG", "warn")
        .env_remove("TIDINGS_DATABASE_URL")
        .env_remove("TIDINGS_TELEGRAM_TOKEN")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("spawn tidings deliver");
    let pid = child.id();
    // The exit is timed by a thread blocked in wait(), not by the sampling interval.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send((Instant::now(), status));
    });
    let (mut first_mail, mut peak_kb, mut samples) = (None, 0, 0);
    let (ended, status) = loop {
        if let Some(kb) = vm_hwm(pid) {
            peak_kb = kb;
            samples += 1;
        }
        if first_mail.is_none() && sink.count() > 0 {
            first_mail = Some(started.elapsed());
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(done) => break done,
            Err(_) => assert!(
                started.elapsed() < LIMIT,
                "tidings deliver: {} of {expected} digests after {LIMIT:?}",
                sink.count()
            ),
        }
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let status = status.expect("wait for tidings deliver");
    assert!(
        status.success(),
        "tidings deliver failed ({status}):\n{stdout}\n{stderr}"
    );
    if !stderr.trim().is_empty() {
        eprintln!("tidings deliver said:\n{}", stderr.trim_end());
    }
    let digests_reported = stdout
        .rsplit_once("digests sent ")
        .and_then(|(_, n)| n.trim().parse().ok());
    Run {
        wall: ended - started,
        first_mail,
        peak_kb,
        samples,
        digests_reported,
        stdout,
    }
}

/// `VmHWM` (peak resident set) of `pid` in kB, while it runs.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The numbers of one `connections` setting.
struct Report {
    /// Under `cargo bench`: the targets are judged.
    full: bool,
    connections: usize,
    subscribers: usize,
    run: Run,
    /// SMTP connections `tidings deliver` opened.
    opened: usize,
    /// Mails/s of the minimal client, one write per message, Nagle off.
    minimal: f64,
    /// Mails/s of the minimal client writing the end of DATA like lettre 0.11.23.
    lettre_like: f64,
    /// Digests/s of the store's work alone.
    store: f64,
}

fn report(r: &Report) {
    let (n, run) = (r.connections, &r.run);
    let rate = r.subscribers as f64 / run.wall.as_secs_f64();
    let ratio = rate / r.minimal;
    let mb = run.peak_kb as f64 / 1024.0;
    let (first, sending) = match run.first_mail {
        Some(first) => (
            format!("{:.2} s", first.as_secs_f64()),
            format!("{:.0}/s", r.subscribers as f64 / (run.wall - first).as_secs_f64()),
        ),
        None => ("?".into(), "?".into()),
    };
    println!(
        "digest_mail: connections = {n}: tidings deliver: {} subscribers got one digest each in \
         {:.2} s (spawn to exit) = {rate:.0} mails/s (first mail after {first}, {sending} from \
         then on) over {} SMTP connections; peak RSS {mb:.1} MB ({} samples)",
        r.subscribers,
        run.wall.as_secs_f64(),
        r.opened,
        run.samples
    );
    println!(
        "digest_mail: connections = {n}: same server, minimal client: {:.0} mails/s with one \
         write per message and Nagle off; {:.0} mails/s ending DATA in a second write with \
         Nagle on, like lettre 0.11.23. tidings/minimal = {ratio:.2}",
        r.minimal, r.lettre_like
    );
    println!(
        "digest_mail: connections = {n}: without SMTP, the store's work per digest \
         (digest_items + finish_digest, {n} at a time): {:.0} digests/s",
        r.store
    );
    if !r.full {
        println!("digest_mail: smoke run (cargo test): every subscriber got one digest; no targets judged");
        return;
    }
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "digest_mail: connections = {n}: ≥ 500 mails/s or ≥ 0.8× the minimal client: {}; \
         peak RSS < 100 MB: {}",
        met(rate >= 500.0 || ratio >= 0.8),
        met(mb < 100.0)
    );
}

/// The sink's options: count-only for the measured run, storing for the test run.
fn sink_options(count_only: bool) -> Vec<String> {
    if count_only {
        vec!["--count-only".into()]
    } else {
        Vec::new()
    }
}

impl Sink {
    /// SMTP connections opened so far.
    fn connections(&self) -> usize {
        self.number("connections")
    }

    /// Waits until `n` messages arrived; returns the count then.
    fn wait_for_count(&self, n: usize) -> usize {
        let started = Instant::now();
        loop {
            let got = self.count();
            if got >= n {
                return got;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "SMTP sink: {got} of {n} messages"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// With a storing sink: every subscriber's address got exactly one message.
    fn assert_one_each(&self, subscribers: usize) {
        let text = std::fs::read_to_string(self.dir.path().join("received.jsonl")).expect("received.jsonl");
        let mut per: HashMap<String, usize> = HashMap::new();
        for line in text.lines() {
            let m: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            for r in m["rcpt_tos"].as_array().expect("rcpt_tos") {
                *per.entry(r.as_str().unwrap_or_default().to_owned()).or_default() += 1;
            }
        }
        let all = (0..subscribers).all(|i| per.get(&address(i)) == Some(&1));
        assert!(
            all && per.len() == subscribers,
            "one digest per subscriber: {per:?}"
        );
    }
}
