//! Daily digests driven by a test clock (`TIDINGS_TEST_CLOCK`): once per period, exactly
//! the matching items that arrived since the last one, newest first, and a digest due while
//! the daemon was down sent once when it starts.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use tidings::notify::clock::Clock;

use super::{MailEnv, commit, item, spawn_daemon};
use crate::smtp::Received;

/// `day` days after `from`'s Beijing date, at `hh:mm` Beijing time.
fn beijing(from: DateTime<Utc>, day: i64, hh: u32, mm: u32) -> DateTime<Utc> {
    let date = from.with_timezone(&Shanghai).date_naive() + chrono::Duration::days(day);
    let time = NaiveTime::from_hms_opt(hh, mm, 30).unwrap();
    Shanghai
        .from_local_datetime(&date.and_time(time))
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn titles(mail: &Received) -> Vec<String> {
    let text = mail.text.as_deref().unwrap_or_default();
    let mut found: Vec<(usize, String)> = Vec::new();
    for n in 0..20 {
        for region in ["晋中", "太原"] {
            let title = format!("{region}要闻第{n}条");
            if let Some(at) = text.find(&format!("{title}：")) {
                found.push((at, title));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, t)| t).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_digests_hold_exactly_the_new_matching_items_once_each() {
    let Some(env) = MailEnv::start("").await else {
        return;
    };
    let input = tidings::app::SubscribeInput {
        email: "digest@example.org".into(),
        regions: vec!["jinzhong".into()],
        mode: Some("daily".into()),
        at: Some("08:00".into()),
        ..Default::default()
    };
    let request = env.app.check_subscription(&input).unwrap();
    env.app.subscribe_confirmed(&request).await.unwrap();
    let created = Utc::now();
    let clock_file = env.dir.dir.path().join("clock");
    let set = |t: DateTime<Utc>| std::fs::write(&clock_file, t.to_rfc3339()).unwrap();
    let outbox = env.app.outbox_with(Clock::File(clock_file.clone())).unwrap();

    set(created);
    commit(
        &env.app,
        vec![
            item(1, ("jinzhong", "晋中"), &["高质量"]),
            item(2, ("jinzhong", "晋中"), &[]),
            item(3, ("taiyuan", "太原"), &["晋中"]),
        ],
    )
    .await;
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 0, "no instant mail");
    assert_eq!(
        outbox.send_digests().await.unwrap(),
        0,
        "not due before 08:00 tomorrow"
    );

    set(beijing(created, 1, 8, 0));
    assert_eq!(outbox.send_digests().await.unwrap(), 1);
    let first = env.sink.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(first.rcpt_tos, ["digest@example.org"]);
    assert!(
        first.subject.as_deref().unwrap_or("").contains("每日摘要"),
        "{:?}",
        first.subject
    );
    assert_eq!(
        titles(&first),
        ["晋中要闻第2条", "晋中要闻第1条"],
        "newest first, only 晋中"
    );
    assert!(first.list_unsubscribe.is_some() && first.html.is_some());
    assert_eq!(outbox.send_digests().await.unwrap(), 0, "once per day");

    commit(&env.app, vec![item(4, ("jinzhong", "晋中"), &[])]).await;
    set(beijing(created, 1, 23, 0));
    assert_eq!(
        outbox.send_digests().await.unwrap(),
        0,
        "the next one is tomorrow"
    );
    set(beijing(created, 2, 8, 0));
    assert_eq!(outbox.send_digests().await.unwrap(), 1);
    let second = env.sink.wait_for(2, Duration::from_secs(10)).await.remove(1);
    assert_eq!(titles(&second), ["晋中要闻第4条"], "only what is newer");
    assert_ne!(first.message_id, second.message_id);

    // Nothing new: no empty digest.
    set(beijing(created, 3, 8, 0));
    assert_eq!(outbox.send_digests().await.unwrap(), 0);

    // Down for three days with one new item: the running daemon sends one digest at start.
    commit(&env.app, vec![item(5, ("jinzhong", "晋中"), &[])]).await;
    set(beijing(created, 6, 12, 0));
    let log = env.dir.dir.path().join("daemon.log");
    let daemon = spawn_daemon(&env, &log, Some(&clock_file));
    let third = env.sink.wait_for(3, Duration::from_secs(20)).await.remove(2);
    assert_eq!(titles(&third), ["晋中要闻第5条"]);
    // The daemon looks for due digests every second with a test clock: still one.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    drop(daemon);
    assert_eq!(env.sink.count(), 3, "one digest for the missed days, not three");
}
