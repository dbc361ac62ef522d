//! A malformed recipe or config is reported with file, line and key.

use tidings::config::Config;

use crate::helpers::{TestDir, shipped};

fn errors_of(dir: &TestDir, env: &[(&str, &str)]) -> String {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match Config::load_with_env(&dir.config_path(), &lookup) {
        Ok(_) => panic!("config unexpectedly valid"),
        Err(e) => e.to_string(),
    }
}

const BAD_RECIPE: &str = r#"title = "bad"
schedule = "61 * * * *"

[[listing]]
urls = ["http://exa mple.com/news/"]
entry = "ul.news-list >> li"
link = { selector = "a", attr = "href", regex = "(unclosed" }

[article]
title = "h1"
"#;

#[test]
fn every_mistake_in_a_recipe_is_located_by_file_line_and_key() {
    let dir = TestDir::new("", &[("bad", BAD_RECIPE.to_owned())]);
    let msg = errors_of(&dir, &[]);
    let file = dir.dir.path().join("feeds/bad.toml");
    let f = file.display();
    assert!(
        msg.contains(&format!("{f}:2: key `schedule`: `61 * * * *` is neither")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "{f}:5: key `listing[0].urls`: bad URL `http://exa mple.com/news/`"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "{f}:6: key `listing[0].entry`: bad selector `ul.news-list >> li`"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "{f}:7: key `listing[0].link.regex`: bad regex `(unclosed`"
        )),
        "{msg}"
    );
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let recipe = shipped("sample-portal").replace("entry = ", "entyr = ");
    let line = recipe.lines().position(|l| l.starts_with("entyr")).unwrap() + 1;
    let dir = TestDir::new("", &[("sample-portal", recipe)]);
    let msg = errors_of(&dir, &[]);
    let want = format!(
        "{}:{line}: key `listing.entyr`: unknown field `entyr`",
        dir.dir.path().join("feeds/sample-portal.toml").display()
    );
    assert!(msg.contains(&want), "{msg}");
}

#[test]
fn config_mistakes_and_malformed_secrets_are_reported_together() {
    let config =
        "[server]\nlisten = \"localhost\"\n[poll]\njitter = \"soon\"\n[sources.nope]\norigin = \"ftp://x\"\n";
    let dir = TestDir::new(config, &[("sample-portal", shipped("sample-portal"))]);
    let msg = errors_of(
        &dir,
        &[
            ("TIDINGS_TELEGRAM_TOKEN", "not-a-token"),
            ("TIDINGS_SMTP_URL", "smtp://127.0.0.1:2525"),
        ],
    );
    let c = dir.config_path();
    let c = c.display();
    assert!(
        msg.contains(&format!(
            "{c}:2: key `server.listen`: `localhost` is not an address"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{c}:4: key `poll.jitter`: `soon` is not a duration")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{c}:6: key `sources.nope.origin`")),
        "{msg}"
    );
    assert!(
        msg.contains("environment variable TIDINGS_TELEGRAM_TOKEN: is not a bot token"),
        "{msg}"
    );
    assert!(
        msg.contains("environment variable TIDINGS_SECRET_KEY: must be set when TIDINGS_SMTP_URL is"),
        "{msg}"
    );
}

#[test]
fn the_shipped_config_passes_with_no_secrets_and_reports_features_off() {
    let path = crate::helpers::repo().join("config.toml");
    let c = Config::load_with_env(&path, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sources.len(), 2);
    assert!(!c.source("sample-portal").unwrap().enabled);
    assert!(c.source("shanxidayuan").unwrap().enabled);
    assert_eq!(c.regions.regions().len(), 12);
    assert!(
        c.secrets
            .features
            .iter()
            .all(|f| !f.on && f.reason.starts_with("off"))
    );
}
