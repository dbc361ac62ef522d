//! SMTP failures: the server down for 10 s, a mailbox refused with 550, a connection
//! dropped after DATA.

use std::time::Duration;

use super::{MailEnv, commit, item};

async fn subscribe(env: &MailEnv, address: &str) {
    let input = tidings::app::SubscribeInput {
        email: address.into(),
        regions: vec!["jinzhong".into()],
        ..Default::default()
    };
    let request = env.app.check_subscription(&input).unwrap();
    env.app.subscribe_confirmed(&request).await.unwrap();
}

/// The server is down for 10 s: the delivery is retried with backoff and arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_for_ten_seconds_gets_the_mail_after_a_retry_once() {
    let Some(mut env) = MailEnv::start("").await else {
        return;
    };
    subscribe(&env, "down@example.org").await;
    env.sink.stop();
    commit(&env.app, vec![item(1, ("jinzhong", "晋中"), &[])]).await;
    let outbox = env.app.outbox().unwrap();
    let report = outbox.deliver_due().await.unwrap();
    assert_eq!((report.sent, report.retried), (0, 1), "{report:?}");
    let stats = env.app.store.outbox_stats(chrono::Utc::now()).await.unwrap();
    assert_eq!(stats.queued, 1, "still queued");
    tokio::time::sleep(Duration::from_secs(10)).await;
    env.sink.restart();
    // The first retry is due 5–6 s after the failure: already passed.
    let report = outbox.deliver_due().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let got = env.sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].rcpt_tos, ["down@example.org"]);
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sink.count(), 1, "once");
}

/// Three 550 answers in a row suspend the address (visible in `tidings subscriptions`);
/// other addresses go on receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_permanent_refusals_suspend_the_address() {
    let Some(env) = MailEnv::start("").await else {
        return;
    };
    subscribe(&env, "gone@example.org").await;
    subscribe(&env, "ok@example.org").await;
    env.sink
        .set_control(serde_json::json!({ "reject": { "gone@example.org": 550 } }));
    let outbox = env.app.outbox().unwrap();
    for n in 1..=3 {
        commit(&env.app, vec![item(n, ("jinzhong", "晋中"), &[])]).await;
        let report = outbox.deliver_due().await.unwrap();
        assert_eq!((report.sent, report.failed), (1, 1), "item {n}: {report:?}");
    }
    let gone = env
        .subscribers()
        .await
        .into_iter()
        .find(|r| r.address == "gone@example.org")
        .unwrap();
    assert_eq!(gone.state, "suspended");
    assert!(
        gone.state_reason.as_deref().unwrap_or("").contains("550"),
        "{:?}",
        gone.state_reason
    );
    let table = env.app.subscriptions_table().await.unwrap();
    assert!(table.contains("suspended"), "{table}");

    commit(&env.app, vec![item(4, ("jinzhong", "晋中"), &[])]).await;
    let report = outbox.deliver_due().await.unwrap();
    assert_eq!(
        (report.sent, report.failed),
        (1, 0),
        "no more attempts to a suspended address"
    );
    let to_ok = env
        .sink
        .wait_for(4, Duration::from_secs(10))
        .await
        .iter()
        .filter(|m| m.rcpt_tos == ["ok@example.org"])
        .count();
    assert_eq!(to_ok, 4);
}

/// The connection drops after DATA (the server kept the message but never said 250): the
/// retry sends it again, so the reader sees it at most twice, with one Message-ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_after_data_gives_at_most_one_duplicate() {
    let Some(env) = MailEnv::start("").await else {
        return;
    };
    subscribe(&env, "flaky@example.org").await;
    env.sink
        .set_control(serde_json::json!({ "drop_after_data": ["flaky@example.org"] }));
    commit(&env.app, vec![item(1, ("jinzhong", "晋中"), &[])]).await;
    let outbox = env.app.outbox().unwrap();
    let report = outbox.deliver_due().await.unwrap();
    assert_eq!((report.sent, report.retried), (0, 1), "{report:?}");
    tokio::time::sleep(Duration::from_secs(7)).await;
    let report = outbox.deliver_due().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let got = env.sink.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sink.count(), 2, "the kept copy plus the retry, no more");
    assert_eq!(
        got[0].message_id, got[1].message_id,
        "a retry keeps its Message-ID"
    );
}
