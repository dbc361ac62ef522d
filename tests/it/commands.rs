//! The short commands through the real binary: `check` (table and JSON), `poll`, `sources`.

use std::process::{Command, Output};

use tidings::portal::Variant;

use crate::helpers::{FAST_FETCH, TestDir, portal, sample_portal_env, shipped, source_override};

/// Runs the `tidings` binary on `env`'s configuration.
pub(crate) fn tidings(env: &TestDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .arg("--config")
        .arg(env.config_path())
        .args(args)
        .env("TIDINGS_LOG", "warn")
        .output()
        .expect("run tidings")
}

/// Bytes as (lossy) UTF-8 text.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_what_a_recipe_extracts_and_flags_empty_fields() {
    let server = portal(2, 0, Variant::Standard).await;
    // A recipe without an author selector: every row must flag `author`.
    let recipe = shipped("sample-portal").replace("author = \"div.info > span.author\"\n", "");
    let env = TestDir::new(
        &format!(
            "{FAST_FETCH}{}",
            source_override("sample-portal", &server.base_url())
        ),
        &[("sample-portal", recipe)],
    );
    let out = tidings(&env, &["check", "sample-portal", "--limit", "4"]);
    let stdout = text(&out.stdout);
    // An empty author is flagged but not fatal; a missing title, date or body would be.
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("input /gsyl/jinzhong/index.html: 2 entries"),
        "{stdout}"
    );
    assert!(stdout.contains("⚠ (empty)"), "{stdout}");
    assert!(
        stdout.contains("4 articles checked, 4 with empty fields or errors"),
        "{stdout}"
    );

    let out = tidings(&env, &["check", "sample-portal", "--limit", "3", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        assert_eq!(row["empty"], serde_json::json!(["author"]), "{row}");
        assert!(row["article"]["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(
            row["article"]["published"]
                .as_str()
                .is_some_and(|t| t.ends_with("+08:00"))
        );
    }
    // The recipe named by its file in the feeds directory is the same source, override
    // included (its real host is not reachable here).
    let file = env.dir.path().join("feeds").join("sample-portal.toml");
    let out = tidings(&env, &["check", file.to_str().unwrap(), "--limit", "2"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("2 articles checked"), "{stdout}");
    // check stores nothing.
    assert!(!env.dir.path().join("t.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_prints_counts_and_sources_prints_state() {
    let server = portal(2, 0, Variant::Standard).await;
    let env = sample_portal_env(&server);
    let out = tidings(&env, &["poll"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let row = stdout.lines().find(|l| l.contains("sample-portal")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[1..6], ["sample-portal", "72", "0", "0", "0"], "{row}");
    assert!(row.contains("baseline"), "{row}");

    let out = tidings(&env, &["sources"]);
    let stdout = text(&out.stdout);
    let row = stdout.lines().find(|l| l.contains("sample-portal")).unwrap();
    assert!(
        row.contains(" yes ") && row.contains(" 72 ") && row.contains(" ok "),
        "{row}"
    );

    let out = tidings(&env, &["sources", "accept", "sample-portal"]);
    assert!(text(&out.stdout).contains("nothing is held"));
    let out = tidings(&env, &["poll", "nope"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no source `nope`; known sources: sample-portal"));
}
