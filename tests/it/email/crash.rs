//! `tidings run` killed with SIGKILL during a digest fan-out to 300 subscribers, five times.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::{MailEnv, commit, item, spawn_daemon};
use crate::helpers::Lcg;
use crate::smtp::SinkOptions;

const SUBSCRIBERS: usize = 300;
const CONNECTIONS: usize = 4;

/// Each kill comes after a seeded-random number of accepted digests; after the fifth, a
/// last run finishes. Every subscriber gets its digest; a subscriber gets it twice only
/// when its mail was in flight at a kill (accepted by the server, not yet recorded), so at
/// most [`CONNECTIONS`] per kill. `TIDINGS_CRASH_SEED` replays a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_digest_fan_out_loses_no_digest() {
    let mut rng = Lcg::from_env("digest crash safety");
    // A slow server (15 ms per mail) so that the fan-out takes a few seconds.
    let sink = SinkOptions {
        latency: Duration::from_millis(15),
        ..SinkOptions::default()
    };
    let Some(env) = MailEnv::start_full("", &format!("connections = {CONNECTIONS}\n"), sink).await else {
        return;
    };
    for i in 0..SUBSCRIBERS {
        let input = tidings::app::SubscribeInput {
            email: format!("reader{i:03}@example.org"),
            regions: vec!["jinzhong".into()],
            mode: Some("daily".into()),
            at: Some("08:00".into()),
            ..Default::default()
        };
        env.app
            .subscribe_confirmed(&env.app.check_subscription(&input).unwrap())
            .await
            .unwrap();
    }
    commit(
        &env.app,
        (1..=3).map(|n| item(n, ("jinzhong", "晋中"), &[])).collect(),
    )
    .await;
    let clock = env.dir.dir.path().join("clock");
    std::fs::write(&clock, (Utc::now() + chrono::Duration::days(1)).to_rfc3339()).unwrap();
    let log = env.dir.dir.path().join("daemon.log");

    let mut kills = Vec::new();
    for round in 0..5 {
        let before = env.sink.count();
        let target = before + rng.between(5, 50);
        let mut daemon = spawn_daemon(&env, &log, Some(&clock));
        let started = Instant::now();
        while env.sink.count() < target.min(SUBSCRIBERS) {
            if let Ok(Some(status)) = daemon.0.try_wait() {
                panic!(
                    "daemon exited ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "round {round}: no progress"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        daemon.0.kill().expect("SIGKILL");
        daemon.0.wait().expect("reap");
        kills.push(env.sink.count());
    }
    let daemon = spawn_daemon(&env, &log, Some(&clock));
    let started = Instant::now();
    let per_address = loop {
        let mut per: HashMap<String, usize> = HashMap::new();
        for m in env.sink.messages() {
            for r in m.rcpt_tos {
                *per.entry(r).or_default() += 1;
            }
        }
        if per.len() == SUBSCRIBERS {
            break per;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "only {} of {SUBSCRIBERS} subscribers got the digest:\n{}",
            per.len(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Let the last run settle: nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(daemon);
    let total = env.sink.count();
    let duplicates = total - SUBSCRIBERS;
    eprintln!(
        "digest crash safety: {SUBSCRIBERS} subscribers, kills after {kills:?} accepted mails, \
         {total} mails received, {} subscribers with the digest, {duplicates} duplicates \
         (at most {} allowed: {CONNECTIONS} in flight per kill)",
        per_address.len(),
        5 * CONNECTIONS
    );
    assert!(per_address.values().all(|&n| n >= 1));
    assert!(duplicates <= 5 * CONNECTIONS, "{duplicates} duplicates");
    let ids: std::collections::HashSet<_> = env
        .sink
        .messages()
        .into_iter()
        .filter_map(|m| m.message_id)
        .collect();
    assert_eq!(ids.len(), SUBSCRIBERS, "a duplicate repeats its Message-ID");
}
