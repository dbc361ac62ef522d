//! SIGHUP: `tidings run` reads its configuration and recipes again without dropping
//! connections; an invalid one is refused with its located error and the old keeps running.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tidings::portal::Variant;

use crate::helpers::{FAST_FETCH, TestDir, portal, shipped, source_override, spawn_run};

/// Sends `signal` (`-HUP`, `-TERM`) to the child.
fn signal(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

/// One HTTP/1.1 request on an open keep-alive connection; the status code and body.
fn request(conn: &mut BufReader<TcpStream>, path: &str) -> (u16, String) {
    write!(
        conn.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: tidings.test\r\nConnection: keep-alive\r\n\r\n"
    )
    .expect("write");
    let mut status = String::new();
    conn.read_line(&mut status).expect("status line");
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let mut length = 0;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("length");
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).expect("body");
    (code, String::from_utf8_lossy(&body).into_owned())
}

/// Waits until the log contains `needle` (or panics with the log after `limit`).
async fn wait_for_log(log: &Path, needle: &str, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            started.elapsed() < limit,
            "no `{needle}` in the log within {limit:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_keeps_the_old_config_when_the_new_is_broken_and_applies_a_fixed_one() {
    let server = portal(2, 0, Variant::Standard).await;
    let base = format!(
        "{FAST_FETCH}[poll]\njitter = \"0s\"\n{}",
        source_override("sample-portal", &server.base_url())
    );
    let env = TestDir::new(&base, &[("sample-portal", shipped("sample-portal"))]);
    let log = env.dir.path().join("daemon.log");
    let out = std::fs::File::create(&log).expect("log");
    let (mut child, _stdout, base) = spawn_run(&env, &[("TIDINGS_LOG", "info")], out);
    let addr = base.trim_start_matches("http://").to_owned();
    let mut conn = BufReader::new(TcpStream::connect(&addr).expect("connect"));
    conn.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(request(&mut conn, "/healthz").0, 200);
    wait_for_log(&log, "poll done", Duration::from_secs(20)).await;

    // A broken recipe: the located error is logged, the old configuration keeps running.
    let feeds = env.dir.path().join("feeds");
    std::fs::write(
        feeds.join("extra.toml"),
        "title = \"省级要闻\"\nschedule = \"every tuesday\"\n\n[[feed]]\nurl = \"http://www.shanxidayuan.com/rss/province.xml\"\n",
    )
    .unwrap();
    signal(&child, "-HUP");
    let text = wait_for_log(&log, "keeping the running one", Duration::from_secs(10)).await;
    let located = format!("{}:2: key `schedule`", feeds.join("extra.toml").display());
    assert!(text.contains(&located), "no `{located}` in:\n{text}");
    assert!(child.try_wait().unwrap().is_none(), "the daemon exited:\n{text}");
    let (code, body) = request(&mut conn, "/feeds/source/sample-portal.atom");
    assert_eq!(code, 200, "the same connection still works");
    assert!(body.contains("<entry>"));
    assert_eq!(request(&mut conn, "/feeds/source/extra.atom").0, 404);

    // Fixed, with its override (a second portal, so that its articles are new): the new
    // source is polled, and served on the same open connection.
    let other = portal(1, 0, Variant::Standard).await;
    std::fs::write(
        feeds.join("extra.toml"),
        "title = \"省级要闻\"\nschedule = \"*/10 * * * *\"\nidentity = \"guid\"\n\n[[feed]]\nurl = \"http://www.shanxidayuan.com/rss/province.xml\"\n",
    )
    .unwrap();
    std::fs::write(
        env.config_path(),
        format!(
            "{}{}",
            std::fs::read_to_string(env.config_path()).unwrap(),
            source_override("extra", &other.base_url())
        ),
    )
    .unwrap();
    signal(&child, "-HUP");
    wait_for_log(&log, "running the new configuration", Duration::from_secs(20)).await;
    let started = Instant::now();
    loop {
        let (code, body) = request(&mut conn, "/feeds/source/extra.atom");
        if code == 200 && body.contains("<entry>") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the new source was not polled within 20 s ({code}):\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, body) = request(&mut conn, "/status.json");
    assert_eq!(code, 200);
    assert!(body.contains("\"extra\""), "{body}");

    signal(&child, "-TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{}", std::fs::read_to_string(&log).unwrap());
}
