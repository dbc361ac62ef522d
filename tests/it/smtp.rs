//! A real SMTP server for the mail tests: `tests/support/smtp_sink.py` (aiosmtpd) run as a child
//! process on 127.0.0.1, storing every message as `.eml` plus one parsed JSON line. Tests read
//! what arrived, script refusals and dropped connections through a control file, and stop and
//! restart the server on the same port. The tests at the bottom prove the harness with lettre
//! alone, independently of the crate's mail code.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::helpers::{repo, strict};

/// The first Python (`TIDINGS_PYTHON`, then the repo's `.venv/bin/python`) that can `import module`.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TIDINGS_PYTHON").map(PathBuf::from),
        Some(repo().join(".venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|py| {
        Command::new(py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// How the sink behaves beyond storing messages.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Only count messages (`count()`), store nothing: for benchmarks.
    pub count_only: bool,
    /// Wait this long (without blocking other connections) before answering DATA.
    pub latency: Duration,
}

/// One message as the sink received and parsed it (Python's `email`, `policy.default`).
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    /// 1-based arrival number, continuing across restarts.
    pub n: u64,
    /// File name of the raw message inside the sink's directory (see [`SmtpSink::raw`]).
    pub eml: String,
    #[serde(default)]
    pub size: usize,
    /// Envelope sender (MAIL FROM).
    pub mail_from: String,
    /// Envelope recipients (RCPT TO).
    pub rcpt_tos: Vec<String>,
    /// Decoded Subject.
    pub subject: Option<String>,
    /// Subject as on the wire (unfolded), e.g. `=?utf-8?b?…?=`.
    pub subject_raw: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub date: Option<String>,
    pub message_id: Option<String>,
    pub list_unsubscribe: Option<String>,
    pub list_unsubscribe_post: Option<String>,
    /// MIME type of the top part, e.g. `multipart/alternative`.
    #[serde(default)]
    pub content_type: String,
    /// The decoded text/plain body (line endings `\n`).
    pub text: Option<String>,
    /// The decoded text/html body (line endings `\n`).
    pub html: Option<String>,
    /// Every header line of every part is 7-bit ASCII.
    #[serde(default)]
    pub all_headers_ascii: bool,
    /// Top-level headers in order, values decoded.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Set when Python's `email` could not parse the message (the `.eml` is still stored).
    pub parse_error: Option<String>,
}

impl Received {
    /// The first top-level header called `name` (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running `smtp_sink.py`; killed on drop.
pub struct SmtpSink {
    python: PathBuf,
    options: SinkOptions,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl SmtpSink {
    /// Starts a sink that stores every message, or `None` (after saying why) when no Python with
    /// aiosmtpd is available — a failure instead under `TIDINGS_STRICT=1`.
    pub fn start() -> Option<SmtpSink> {
        SmtpSink::start_with(SinkOptions::default())
    }

    /// Like [`SmtpSink::start`] with count-only mode or DATA latency.
    pub fn start_with(options: SinkOptions) -> Option<SmtpSink> {
        let Some(python) = python_with("aiosmtpd") else {
            assert!(
                !strict(),
                "TIDINGS_STRICT=1 but no Python with aiosmtpd: run scripts/test"
            );
            eprintln!("skipping: no Python with aiosmtpd (scripts/test installs it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("sink dir");
        let mut sink = SmtpSink {
            python,
            options,
            dir,
            port: 0,
            child: None,
        };
        sink.spawn();
        Some(sink)
    }

    /// Launches the script on `self.port` (0 at first) and waits for `READY <port>`.
    fn spawn(&mut self) {
        let script = repo().join("tests/support/smtp_sink.py");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("sink log");
        let mut cmd = Command::new(&self.python);
        cmd.arg(script)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--control")
            .arg(self.control_path())
            .args(["--latency-ms", &self.options.latency.as_millis().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if self.options.count_only {
            cmd.arg("--count-only");
        }
        let mut child = cmd.spawn().expect("spawn smtp_sink.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let port = line.trim().strip_prefix("READY ").and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "smtp_sink.py did not start (said {line:?}):\n{}",
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
        };
        self.port = port;
        self.child = Some(child);
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("sink.log")
    }

    fn control_path(&self) -> PathBuf {
        self.dir.path().join("control.json")
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The listening port (kept across [`SmtpSink::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding `NNNNNN.eml`, `received.jsonl`, `count`, `sink.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every message received so far, in arrival order (empty in count-only mode).
    pub fn messages(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(self.dir.path().join("received.jsonl")).unwrap_or_default();
        // A line is complete once its newline is written; a torn last line is skipped.
        text.split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("received.jsonl: {e}: {l}")))
            .collect()
    }

    /// The raw bytes of a received message, as they came over DATA.
    pub fn raw(&self, received: &Received) -> Vec<u8> {
        std::fs::read(self.dir.path().join(&received.eml)).expect("stored .eml")
    }

    /// How many messages were accepted so far (lags up to 10 ms in count-only mode).
    pub fn count(&self) -> usize {
        read_number(&self.dir.path().join("count"))
    }

    /// How many SMTP connections were opened so far (shows pooling).
    pub fn connections(&self) -> usize {
        read_number(&self.dir.path().join("connections"))
    }

    /// Waits (real time, without blocking the tokio runtime or moving a paused clock) until at
    /// least `n` messages arrived; panics with what did arrive on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            self.assert_alive_or_timeout(deadline, n, &got);
            // Real sleep on the blocking pool: a paused test clock does not auto-advance meanwhile.
            tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)))
                .await
                .expect("sleep");
        }
    }

    /// [`SmtpSink::wait_for`] for code outside a runtime (it blocks the calling thread).
    pub fn wait_for_blocking(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            self.assert_alive_or_timeout(deadline, n, &got);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until [`SmtpSink::count`] reaches `n` (count-only mode included).
    pub async fn wait_for_count(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.count();
            if got >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "SMTP sink: {got} of {n} messages after {timeout:?}\n{}",
                self.log()
            );
            tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)))
                .await
                .expect("sleep");
        }
    }

    fn assert_alive_or_timeout(&self, deadline: Instant, n: usize, got: &[Received]) {
        if Instant::now() < deadline {
            return;
        }
        let summary: Vec<String> = got
            .iter()
            .map(|m| format!("#{} to {:?}: {:?}", m.n, m.rcpt_tos, m.subject))
            .collect();
        panic!(
            "SMTP sink: {} of {n} messages arrived in time:\n  {}\nsink log:\n{}",
            got.len(),
            summary.join("\n  "),
            self.log()
        );
    }

    /// The sink's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Replaces the control file, read by the sink on every RCPT and DATA:
    /// `{"reject": {"a@x": 550}, "tempfail": {"a@x": 451}, "stage": "rcpt"|"data",
    /// "drop_after_data": ["a@x"]}` (a drop happens once per address per sink run; the message
    /// is stored, the connection closed without a reply).
    pub fn set_control(&self, json: serde_json::Value) {
        let tmp = self.dir.path().join("control.json.tmp");
        std::fs::write(&tmp, json.to_string()).expect("write control");
        std::fs::rename(&tmp, self.control_path()).expect("install control");
    }

    /// Stops the server (SIGTERM, then SIGKILL after 3 s): connections drop, the port refuses.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let termed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(3);
        while termed && Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops (if running) and starts again on the same port and directory; numbering continues
    /// and `drop_after_data` may drop each address once more.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_number(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

mod harness {
    //! The sink proven with lettre alone.

    use std::time::Duration;

    use lettre::message::{Mailbox, MultiPart};
    use lettre::transport::smtp::Error as SmtpError;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    use super::{SinkOptions, SmtpSink};

    fn mailer(sink: &SmtpSink) -> AsyncSmtpTransport<Tokio1Executor> {
        crate::helpers::tls();
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(sink.port())
            .timeout(Some(Duration::from_secs(10)))
            .build()
    }

    fn letter(to: &str, subject: &str) -> Message {
        Message::builder()
            .from("Tidings <news@tidings.test>".parse::<Mailbox>().unwrap())
            .to(to.parse::<Mailbox>().unwrap())
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                format!("{subject}\n纯文本正文"),
                format!("<p>{subject}</p><p>超文本正文</p>"),
            ))
            .unwrap()
    }

    async fn send(
        mailer: &AsyncSmtpTransport<Tokio1Executor>,
        to: &str,
        subject: &str,
    ) -> Result<(), SmtpError> {
        mailer.send(letter(to, subject)).await.map(|_| ())
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sink_receives_lettre_mail_with_chinese_subject_and_both_parts() {
        let Some(sink) = SmtpSink::start() else { return };
        assert_eq!(sink.url(), format!("smtp://127.0.0.1:{}", sink.port()));
        let mailer = mailer(&sink);
        send(&mailer, "reader@example.test", "晋中新闻 · 今日要闻")
            .await
            .unwrap();
        send(&mailer, "other@example.test", "太原 digest").await.unwrap();

        let got = sink.wait_for(2, WAIT).await;
        assert_eq!(got.len(), 2);
        let first = &got[0];
        assert_eq!(first.n, 1);
        assert_eq!(first.mail_from, "news@tidings.test");
        assert_eq!(first.rcpt_tos, ["reader@example.test"]);
        assert_eq!(first.subject.as_deref(), Some("晋中新闻 · 今日要闻"));
        let raw_subject = first.subject_raw.as_deref().unwrap();
        assert!(
            raw_subject.is_ascii() && raw_subject.contains("=?utf-8?"),
            "{raw_subject}"
        );
        assert!(first.all_headers_ascii, "{:?}", first.headers);
        assert_eq!(first.content_type, "multipart/alternative");
        assert!(first.text.as_deref().unwrap().contains("纯文本正文"), "{first:?}");
        assert!(
            first.html.as_deref().unwrap().contains("<p>超文本正文</p>"),
            "{first:?}"
        );
        assert!(first.from.as_deref().unwrap().contains("news@tidings.test"));
        assert!(first.date.is_some() && first.parse_error.is_none());
        assert_eq!(first.header("MIME-Version"), Some("1.0"));
        assert_eq!(sink.raw(first).len(), first.size);
        assert_eq!(got[1].subject.as_deref(), Some("太原 digest"));
        assert_eq!(sink.count(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn control_file_makes_lettre_see_permanent_transient_and_dropped_replies() {
        let Some(sink) = SmtpSink::start() else { return };
        sink.set_control(serde_json::json!({
            "reject": {"gone@example.test": 550},
            "tempfail": {"busy@example.test": 451},
            "drop_after_data": ["flaky@example.test"],
        }));
        let mailer = mailer(&sink);

        let gone = send(&mailer, "gone@example.test", "x").await.unwrap_err();
        assert!(gone.is_permanent(), "{gone:?}");
        assert_eq!(gone.status().map(u16::from), Some(550));
        let busy = send(&mailer, "busy@example.test", "x").await.unwrap_err();
        assert!(busy.is_transient() && !busy.is_permanent(), "{busy:?}");

        let dropped = send(&mailer, "flaky@example.test", "retry me").await.unwrap_err();
        assert!(
            !dropped.is_permanent() && dropped.status().is_none(),
            "{dropped:?}"
        );
        send(&mailer, "flaky@example.test", "retry me")
            .await
            .expect("the retry succeeds");
        let got = sink.wait_for(2, WAIT).await;
        assert_eq!(got.len(), 2, "refused mail is not stored: {got:?}");
        assert!(got.iter().all(|m| m.rcpt_tos == ["flaky@example.test"]));

        // The same mailer still works for others, and the stage can move to DATA.
        sink.set_control(serde_json::json!({"reject": {"late@example.test": 554}, "stage": "data"}));
        let late = send(&mailer, "late@example.test", "x").await.unwrap_err();
        assert!(late.is_permanent(), "{late:?}");
        send(&mailer, "fine@example.test", "x").await.unwrap();
        assert_eq!(sink.wait_for(3, WAIT).await.len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restarted_sink_keeps_port_and_numbering() {
        let Some(mut sink) = SmtpSink::start() else { return };
        let port = sink.port();
        let mailer = mailer(&sink);
        send(&mailer, "a@example.test", "before").await.unwrap();
        sink.stop();
        let down = send(&mailer, "a@example.test", "while down").await.unwrap_err();
        assert!(!down.is_permanent(), "{down:?}");
        sink.restart();
        assert_eq!(sink.port(), port);
        send(&mailer, "a@example.test", "after").await.unwrap();
        let got = tokio::task::block_in_place(|| sink.wait_for_blocking(2, WAIT));
        assert!(sink.dir().join("000002.eml").is_file());
        let subjects: Vec<_> = got.iter().map(|m| (m.n, m.subject.clone().unwrap())).collect();
        assert_eq!(subjects, [(1, "before".to_owned()), (2, "after".to_owned())]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raw_utf8_headers_are_accepted_and_flagged() {
        let Some(sink) = SmtpSink::start() else { return };
        let envelope = lettre::address::Envelope::new(
            Some("news@tidings.test".parse().unwrap()),
            vec!["reader@example.test".parse().unwrap()],
        )
        .unwrap();
        let raw = "From: news@tidings.test\r\nTo: reader@example.test\r\nSubject: 晋中 raw\r\n\
                   Message-ID: <1@tidings.test>\r\n\
                   List-Unsubscribe: <https://tidings.test/u/t1>\r\n\
                   List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
                   MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: 8bit\r\n\r\n八位正文\r\n";
        mailer(&sink).send_raw(&envelope, raw.as_bytes()).await.unwrap();
        let got = sink.wait_for(1, WAIT).await;
        assert!(!got[0].all_headers_ascii, "{:?}", got[0]);
        assert_eq!(got[0].subject.as_deref(), Some("晋中 raw"));
        assert_eq!(got[0].to.as_deref(), Some("reader@example.test"));
        assert_eq!(got[0].message_id.as_deref(), Some("<1@tidings.test>"));
        assert_eq!(
            got[0].list_unsubscribe.as_deref(),
            Some("<https://tidings.test/u/t1>")
        );
        assert_eq!(
            got[0].list_unsubscribe_post.as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert_eq!(got[0].text.as_deref().map(str::trim_end), Some("八位正文"));
        // lettre ends DATA with "\r\n.\r\n" even after a final CRLF, hence one more line.
        assert!(sink.raw(&got[0]).starts_with(raw.as_bytes()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn count_only_sink_counts_pooled_concurrent_mail_with_latency() {
        let options = SinkOptions {
            count_only: true,
            latency: Duration::from_millis(30),
        };
        let Some(sink) = SmtpSink::start_with(options) else {
            return;
        };
        let mailer = mailer(&sink);
        let started = std::time::Instant::now();
        let sends = (0..64).map(|i| {
            let mailer = mailer.clone();
            async move { send(&mailer, &format!("r{i}@example.test"), "bench").await }
        });
        for result in futures::future::join_all(sends).await {
            result.unwrap();
        }
        assert_eq!(sink.wait_for_count(64, WAIT).await, 64);
        assert!(sink.messages().is_empty());
        // 64 × 30 ms one at a time would take ≥ 1.9 s; the pool sends in parallel.
        assert!(
            started.elapsed() < Duration::from_millis(1900),
            "{:?}",
            started.elapsed()
        );
        assert!(
            (2..=64).contains(&sink.connections()),
            "{} connections",
            sink.connections()
        );
    }
}
