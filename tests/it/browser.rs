//! A real browser for the subscribe pages: `tests/support/browser.py` drives headless Chromium
//! over the DevTools Protocol to fill a form, submit it, screenshot the answer and report the
//! page's URL, title and text. The tests at the bottom prove it on a tiny form server of their
//! own, independently of the crate's pages.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::helpers::{repo, strict};
use crate::smtp::python_with;

/// Chromium's binary (`TIDINGS_CHROMIUM`, else `chromium`/`chromium-browser` in `/usr/bin` or
/// `/usr/local/bin`), or `None` after saying so — a failure instead under `TIDINGS_STRICT=1`.
pub fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("TIDINGS_CHROMIUM").map(PathBuf::from);
    let installed = ["chromium", "chromium-browser"]
        .into_iter()
        .flat_map(|name| ["/usr/bin", "/usr/local/bin"].map(|dir| Path::new(dir).join(name)));
    if let Some(found) = named.into_iter().chain(installed).find(|p| p.exists()) {
        return Some(found);
    }
    assert!(
        !strict(),
        "TIDINGS_STRICT=1 but chromium is not installed: run scripts/test"
    );
    eprintln!("skipping: chromium not installed (scripts/test installs it)");
    None
}

/// What to do on a page: fields to set, then the element to click.
#[derive(Debug, Clone, Default)]
pub struct Form {
    fills: Vec<(String, String)>,
    checks: Vec<(String, String)>,
    selects: Vec<(String, String)>,
    submit: String,
    wait_text: Option<String>,
}

impl Form {
    /// A form submitted by clicking the element matching the CSS `submit` selector.
    pub fn new(submit: &str) -> Form {
        Form {
            submit: submit.to_owned(),
            ..Form::default()
        }
    }

    /// Sets the text-like input or textarea called `name`.
    pub fn fill(mut self, name: &str, value: &str) -> Form {
        self.fills.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Ticks the checkbox (or radio button) called `name` whose value is `value`.
    pub fn check(mut self, name: &str, value: &str) -> Form {
        self.checks.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Picks the option `value` of the `<select>` called `name`.
    pub fn select(mut self, name: &str, value: &str) -> Form {
        self.selects.push((name.to_owned(), value.to_owned()));
        self
    }

    /// After submitting, also waits until `text` is on the page (and accepts no navigation,
    /// for forms that submit by script).
    pub fn wait_text(mut self, text: &str) -> Form {
        self.wait_text = Some(text.to_owned());
        self
    }
}

/// The page reached by submitting.
#[derive(Debug, Clone, Deserialize)]
pub struct BrowserResult {
    pub url: String,
    pub title: String,
    /// `document.body.innerText`.
    pub text: String,
    /// HTTP status of the last document loaded, when Chromium reported one.
    pub status: Option<u16>,
    /// Uncaught JavaScript exceptions seen on the way.
    #[serde(default)]
    pub errors: Vec<String>,
}

/// Chromium plus a Python with websocket-client: what `browser.py` needs.
#[derive(Debug, Clone)]
pub struct Browser {
    chrome: PathBuf,
    python: PathBuf,
}

impl Browser {
    /// Both prerequisites, or `None` after saying which is missing — a failure instead under
    /// `TIDINGS_STRICT=1`.
    pub fn find() -> Option<Browser> {
        let chrome = chromium()?;
        let Some(python) = python_with("websocket") else {
            assert!(
                !strict(),
                "TIDINGS_STRICT=1 but no Python with websocket-client: run scripts/test"
            );
            eprintln!("skipping: no Python with websocket-client (scripts/test installs it)");
            return None;
        };
        Some(Browser { chrome, python })
    }

    /// Opens `url`, fills and submits `form`, saves a full-page PNG to `screenshot`; panics with
    /// browser.py's explanation when any step fails. Blocks for a second or two: from a tokio
    /// test use [`Browser::submit`], so the server under test keeps running.
    pub fn submit_form(&self, url: &str, form: &Form, screenshot: &Path) -> BrowserResult {
        self.try_submit_form(url, form, screenshot)
            .unwrap_or_else(|e| panic!("browser: {e}"))
    }

    /// [`Browser::submit_form`] returning browser.py's failure message instead of panicking.
    pub fn try_submit_form(
        &self,
        url: &str,
        form: &Form,
        screenshot: &Path,
    ) -> Result<BrowserResult, String> {
        let mut cmd = Command::new(&self.python);
        cmd.arg(repo().join("tests/support/browser.py"))
            .arg("--chrome")
            .arg(&self.chrome)
            .args(["--url", url, "--submit", &form.submit])
            .arg("--screenshot")
            .arg(screenshot);
        for (flag, pairs) in [
            ("--fill", &form.fills),
            ("--check", &form.checks),
            ("--select", &form.selects),
        ] {
            for (name, value) in pairs {
                cmd.arg(flag).arg(format!("{name}={value}"));
            }
        }
        if let Some(text) = &form.wait_text {
            cmd.args(["--wait-text", text]);
        }
        let out = cmd.output().map_err(|e| format!("cannot run browser.py: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("{} ({})", stderr.trim(), out.status));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim()).map_err(|e| format!("browser.py said {stdout:?}: {e}\n{stderr}"))
    }

    /// [`Browser::submit_form`] on the blocking pool, leaving the runtime free to serve the page.
    pub async fn submit(&self, url: &str, form: &Form, screenshot: &Path) -> BrowserResult {
        let (browser, url, form, screenshot) =
            (self.clone(), url.to_owned(), form.clone(), screenshot.to_owned());
        tokio::task::spawn_blocking(move || browser.try_submit_form(&url, &form, &screenshot))
            .await
            .expect("browser task")
            .unwrap_or_else(|e| panic!("browser: {e}"))
    }
}

mod harness {
    //! The browser driver proven on a form server of its own.

    use std::net::SocketAddr;
    use std::path::PathBuf;

    use axum::Form as Posted;
    use axum::response::Html;
    use axum::routing::get;

    use super::{Browser, Form};

    const PAGE: &str = r#"<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>订阅</title></head>
<body><h1>订阅新闻</h1><form method="post" action="/done">
<label>称呼 <input name="name"></label>
<label>邮箱 <input type="email" name="email" required></label>
<label><input type="checkbox" name="region" value="jinzhong"> 晋中</label>
<label><input type="checkbox" name="region" value="taiyuan"> 太原</label>
<select name="frequency"><option value="instant">即时</option><option value="daily">每日</option></select>
<button id="go" type="submit">订阅</button></form></body></html>"#;

    /// Echoes the posted fields, then adds a line by script (for `wait_text`).
    async fn done(Posted(fields): Posted<Vec<(String, String)>>) -> Html<String> {
        let lines: String = fields.iter().map(|(k, v)| format!("<p>{k}={v}</p>")).collect();
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Done</title></head><body>{lines}\
             <script>setTimeout(() => document.body.append('已确认'), 300)</script></body></html>"
        ))
    }

    async fn form_server() -> String {
        let app = axum::Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route("/done", axum::routing::post(done));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn artifact(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn browser_fills_checks_selects_submits_and_screenshots() {
        let Some(browser) = Browser::find() else { return };
        let base = form_server().await;
        let shot = artifact("browser-harness.png");
        let _ = std::fs::remove_file(&shot);
        let form = Form::new("#go")
            .fill("name", "张三")
            .fill("email", "zhang@example.test")
            .check("region", "taiyuan")
            .select("frequency", "daily")
            .wait_text("已确认");
        let page = browser.submit(&format!("{base}/"), &form, &shot).await;

        assert_eq!(page.url, format!("{base}/done"));
        assert_eq!(page.title, "Done");
        assert_eq!(page.status, Some(200));
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        for line in [
            "name=张三",
            "email=zhang@example.test",
            "region=taiyuan",
            "frequency=daily",
            "已确认",
        ] {
            assert!(page.text.contains(line), "no {line:?} in {:?}", page.text);
        }
        assert!(!page.text.contains("jinzhong"), "{:?}", page.text);
        let png = std::fs::read(&shot).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000);
        eprintln!("screenshot: {}", shot.display());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn browser_reports_missing_fields_and_invalid_forms() {
        let Some(browser) = Browser::find() else { return };
        let base = form_server().await;
        let url = format!("{base}/");
        let shot = artifact("browser-harness-unused.png");
        let tries = [
            (
                Form::new("#go").fill("nickname", "x"),
                "no text input named \"nickname\"",
            ),
            (
                Form::new("#go").check("region", "lvliang"),
                "no checkbox or radio",
            ),
            (
                Form::new("#go").select("frequency", "hourly"),
                "has no option \"hourly\"",
            ),
            (
                Form::new("#nope").fill("email", "a@example.test"),
                "nothing matches \"#nope\"",
            ),
            (
                Form::new("#go").fill("email", "not-an-address"),
                "would not submit: email:",
            ),
        ];
        let handles = tries.map(|(form, expected)| {
            let (browser, url, shot) = (browser.clone(), url.clone(), shot.clone());
            tokio::task::spawn_blocking(move || (browser.try_submit_form(&url, &form, &shot), expected))
        });
        for handle in handles {
            let (result, expected) = handle.await.unwrap();
            let err = result.expect_err(expected);
            assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        }
    }

    #[test]
    fn blocking_submit_works_outside_a_runtime() {
        let Some(browser) = Browser::find() else { return };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let base = rt.block_on(form_server());
        let form = Form::new("#go").fill("email", "a@example.test");
        let page = browser.submit_form(&format!("{base}/"), &form, &artifact("browser-blocking.png"));
        assert_eq!(page.title, "Done");
        assert!(page.text.contains("email=a@example.test"), "{:?}", page.text);
    }
}
