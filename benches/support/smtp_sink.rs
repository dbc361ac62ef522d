//! The test suite's SMTP server (`tests/support/smtp_sink.py`, aiosmtpd) as the email
//! benchmarks run it: found in the repo's venv, started on a free loopback port, killed on
//! drop. Included by each bench with `#[path]`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The first Python (`TIDINGS_PYTHON`, then the repo's `.venv/bin/python`) with aiosmtpd.
pub fn python_with_aiosmtpd() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TIDINGS_PYTHON").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// A running `smtp_sink.py` on 127.0.0.1; killed on drop.
pub struct Sink {
    /// The `smtp_sink.py` process.
    pub child: Child,
    /// Where it writes `count`, `connections` and (unless count-only) `received.jsonl`.
    pub dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
}

impl Sink {
    /// Starts the sink with these extra options (`--count-only`, `--latency-ms N`).
    pub fn start(python: &Path, options: &[String]) -> Sink {
        let dir = tempfile::tempdir().expect("sink dir");
        let log = std::fs::File::create(dir.path().join("sink.log")).expect("sink log");
        let mut child = Command::new(python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py"))
            .args(["--host", "127.0.0.1", "--port", "0", "--dir"])
            .arg(dir.path())
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn smtp_sink.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Some(port) = line.trim().strip_prefix("READY ").and_then(|p| p.parse().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("sink.log")).unwrap_or_default();
            panic!("smtp_sink.py did not start (said {line:?}):\n{log}");
        };
        Sink { child, dir, port }
    }

    /// The number in the sink's file `file` (0 before it exists).
    pub fn number(&self, file: &str) -> usize {
        let text = std::fs::read_to_string(self.dir.path().join(file)).unwrap_or_default();
        text.trim().parse().unwrap_or(0)
    }

    /// Messages accepted so far (lags up to 10 ms in count-only mode).
    pub fn count(&self) -> usize {
        self.number("count")
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
