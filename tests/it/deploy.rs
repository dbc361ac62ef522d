//! `deploy/`: the systemd unit passes `systemd-analyze verify` with its `ExecStart` pointed
//! at the built binary (verify fails when the binary does not exist).

use std::process::Command;

use crate::helpers::{repo, strict};

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
