//! A full first poll of the sample portal with 100 articles per region (1,100 articles plus
//! 50 feed entries), served from loopback with a per-host interval of 0: wall time and peak
//! memory of the `tidings poll` process, measured with `/usr/bin/time`.
//!
//! `cargo bench --bench first_poll`

use std::net::SocketAddr;
use std::process::Command;

use tidings::portal::{PortalParams, PortalServer};

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs a quick smoke test.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Articles per region: 100 in the measured run.
fn params_per_region() -> usize {
    if full_run() { 100 } else { 5 }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let params = PortalParams {
        per_region: params_per_region(),
        ..PortalParams::default()
    };
    let server = runtime
        .block_on(PortalServer::start_generated(
            params,
            SocketAddr::from(([127, 0, 0, 1], 0)),
        ))
        .expect("portal");
    let recipe = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/feeds/sample-portal.toml"))
        .expect("recipe");
    let mut results = Vec::new();
    let runs = if full_run() { 3 } else { 1 };
    for run in 0..runs {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("feeds")).expect("feeds");
        std::fs::write(dir.path().join("feeds/sample-portal.toml"), &recipe).expect("write recipe");
        let config = format!(
            "[storage]\nurl = \"sqlite://{}/bench.db\"\n[fetch]\nhost_interval = \"0s\"\n\
             [sources.sample-portal]\norigin = \"{}\"\nallow_private = true\n",
            dir.path().display(),
            server.base_url()
        );
        std::fs::write(dir.path().join("config.toml"), config).expect("write config");
        let out = Command::new("/usr/bin/time")
            .args(["-f", "TIME %e %M"])
            .arg(env!("CARGO_BIN_EXE_tidings"))
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .arg("poll")
            .env("TIDINGS_LOG", "warn")
            .output()
            .expect("run /usr/bin/time tidings poll (install GNU time: apt-get install time)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "poll failed:\n{stdout}\n{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("TIME "))
            .expect("time output");
        let mut parts = line.split_whitespace().skip(1);
        let secs: f64 = parts.next().and_then(|s| s.parse().ok()).expect("seconds");
        let kib: f64 = parts.next().and_then(|s| s.parse().ok()).expect("max RSS");
        let new = stdout
            .lines()
            .find(|l| l.contains("sample-portal"))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("?")
            .to_owned();
        println!(
            "run {}: {secs:.2} s wall, {:.1} MB peak RSS, {new} new items",
            run + 1,
            kib / 1024.0
        );
        results.push((secs, kib / 1024.0));
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (secs, mb) = results[runs / 2];
    let articles = params_per_region() * 11;
    println!(
        "first_poll: median {secs:.2} s wall, {mb:.1} MB peak RSS ({articles} articles + 50 feed entries)"
    );
}
