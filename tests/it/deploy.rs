//! `deploy/`: the systemd unit passes `systemd-analyze verify` with its `ExecStart` pointed
//! at the built binary (verify fails when the binary does not exist), and `compose.yaml` is
//! valid under the Compose Specification's JSON schema (`check-jsonschema`, which ships the
//! compose-spec project's `schema/compose-spec.json`, validating with Python's `jsonschema`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::helpers::{repo, strict};
use crate::smtp::python_with;

fn systemd_analyze() -> Option<&'static str> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("systemd-analyze");
    }
    assert!(
        !strict(),
        "TIDINGS_STRICT=1 but systemd-analyze is missing: run scripts/test"
    );
    eprintln!("skipping: systemd-analyze is missing (scripts/test installs systemd)");
    None
}

#[test]
fn the_systemd_unit_verifies_against_the_built_binary() {
    let Some(tool) = systemd_analyze() else { return };
    let unit = std::fs::read_to_string(repo().join("deploy/tidings.service")).expect("unit");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/tidings "),
        "ExecStart names the installed path"
    );
    let dir = tempfile::tempdir().unwrap();
    let verify = |binary: &str| {
        let path = dir.path().join("tidings.service");
        std::fs::write(&path, unit.replace("/usr/local/bin/tidings", binary)).unwrap();
        Command::new(tool)
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .expect("run systemd-analyze")
    };
    let good = verify(env!("CARGO_BIN_EXE_tidings"));
    assert!(
        good.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&good.stdout),
        String::from_utf8_lossy(&good.stderr)
    );
    let bad = verify("/nonexistent/tidings");
    assert!(!bad.status.success(), "verify must notice a missing binary");
    for directive in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=tidings",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(directive), "{directive}");
    }
}

/// The Python with `check-jsonschema` (`TIDINGS_PYTHON`, or `.venv/bin/python`), if any.
fn check_jsonschema_python() -> Option<PathBuf> {
    if let Some(python) = python_with("check_jsonschema") {
        return Some(python);
    }
    assert!(
        !strict(),
        "TIDINGS_STRICT=1 but no Python with check-jsonschema: run scripts/test"
    );
    eprintln!("skipping: no Python with check-jsonschema (scripts/test installs it into .venv)");
    None
}

/// `check-jsonschema` on `file` with its vendored Compose Specification schema.
fn validate_compose(python: &Path, file: &Path) -> Output {
    Command::new(python)
        .args([
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            "--color",
            "never",
        ])
        .arg(file)
        .output()
        .expect("run check-jsonschema")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_compose_file_is_valid_under_the_compose_spec_schema() {
    let Some(python) = check_jsonschema_python() else {
        return;
    };
    let path = repo().join("deploy/compose.yaml");
    let good = validate_compose(&python, &path);
    assert!(
        good.status.success(),
        "deploy/compose.yaml against the Compose Specification schema: {}",
        text(&good)
    );

    // The validator does validate: copies with one mistake each are rejected, naming it.
    let compose = std::fs::read_to_string(&path).expect("compose.yaml");
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "an unknown service key",
            "    command: [\"run\"",
            "    restartt: always\n    command: [\"run\"",
            &["$.services.tidings", "'restartt' was unexpected"][..],
        ),
        (
            "a value outside an enum",
            "condition: service_healthy",
            "condition: service_ready",
            &[
                "$.services.tidings.depends_on.postgres.condition",
                "'service_ready'",
            ][..],
        ),
        (
            "a wrong type",
            "volumes:\n  pgdata:",
            "volumes:\n  - pgdata",
            &["$.volumes", "is not of type 'object'"][..],
        ),
    ];
    for (what, from, to, expected) in cases {
        assert_eq!(compose.matches(from).count(), 1, "{what}: {from:?} occurs once");
        let bad = dir.path().join("compose.yaml");
        std::fs::write(&bad, compose.replace(from, to)).unwrap();
        let out = validate_compose(&python, &bad);
        let said = text(&out);
        assert!(!out.status.success(), "{what} must be rejected: {said}");
        for needle in expected {
            assert!(said.contains(needle), "{what}: expected {needle:?} in: {said}");
        }
    }
}

/// The compose deployment's `deploy/config.toml`, laid out as in the image (recipes from
/// `feeds/` beside it) and with the example env file's secrets, passes `config check`; the
/// compose file mounts it where the image's `TIDINGS_CONFIG` points.
#[test]
fn the_compose_config_is_valid_where_the_image_reads_it() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).expect("Dockerfile");
    let config_path = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ENV TIDINGS_CONFIG="))
        .expect("the image sets TIDINGS_CONFIG");
    let compose = std::fs::read_to_string(repo().join("deploy/compose.yaml")).expect("compose");
    let mount = format!("- ./config.toml:{config_path}:ro");
    assert!(compose.contains(&mount), "compose.yaml lacks `{mount}`");

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("deploy/config.toml"), dir.path().join("config.toml")).unwrap();
    std::fs::create_dir(dir.path().join("feeds")).unwrap();
    for entry in std::fs::read_dir(repo().join("feeds")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join("feeds").join(path.file_name().unwrap())).unwrap();
    }
    let env = std::fs::read_to_string(repo().join("deploy/tidings.env.example")).expect("env example");
    let mut vars: Vec<(String, String)> = env
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    vars.push(("TIDINGS_SECRET_KEY".into(), "0f".repeat(32)));
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .args(["config", "check"])
        .env_remove("TIDINGS_TELEGRAM_TOKEN")
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run tidings");
    let said = format!("{}{}", text(&out), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("ok, 2 sources (1 enabled)"), "{said}");
    assert!(said.contains("email: on"), "{said}");

    let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let config =
        tidings::config::Config::load_with_env(&dir.path().join("config.toml"), &lookup).expect("config");
    assert_eq!(
        config.server.listen.port(),
        8080,
        "the port nginx.conf proxies to"
    );
    assert!(config.server.public_url.is_some(), "replicas need one public_url");
    assert!(
        !config.server.trusted_proxies.is_empty(),
        "nginx's X-Forwarded-For"
    );
    assert!(config.server.metrics_listen.is_some());
}
