//! Several instances on one database at once: claimers never share a delivery, opens
//! migrate once, the same new items committed twice are stored once, one lease winner;
//! and what `open` says when the server is not there.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tidings::store::Store;

use super::{article, at, commit, on_both_backends, spec, topic, write};
use crate::pg::PgDatabase;

on_both_backends!(four_claimers_at_once_never_get_the_same_delivery);

async fn four_claimers_at_once_never_get_the_same_delivery(store: Arc<dyn Store>) {
    let s = store.as_ref();
    s.save_recipient(&spec("telegram", "1", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    let writes = (0..120)
        .map(|i| {
            write(
                &format!("i{i:02}"),
                article(&format!("第{i}条"), None, &[], Some(i)),
            )
        })
        .collect();
    commit(s, "src", at(0), writes).await;
    let start = Arc::new(tokio::sync::Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let mut mine = Vec::new();
                loop {
                    let worker = format!("w{w}");
                    let claimed = store
                        .claim_deliveries("telegram", &worker, at(1), Duration::from_secs(600), 5)
                        .await
                        .expect("claim");
                    if claimed.is_empty() {
                        return mine;
                    }
                    assert!(claimed.len() <= 5);
                    mine.extend(claimed.iter().map(|c| (c.id, c.attempts)));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut per_worker = Vec::new();
    for w in workers {
        let mine = w.await.expect("worker");
        per_worker.push(mine.len());
        for (id, attempts) in mine {
            assert_eq!(attempts, 1, "claimed once");
            assert!(seen.insert(id), "delivery {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 120, "every delivery claimed: {per_worker:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_opening_one_database_at_once_all_migrate_it() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { tidings::store::open(&url).await })
        })
        .collect();
    for o in opens {
        let store = o.await.unwrap().expect("a concurrent open");
        assert_eq!(store.feed_version().await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_storing_the_same_new_items_store_each_once() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let one = tidings::store::open(&db.url).await.unwrap();
    let two = tidings::store::open(&db.url).await.unwrap();
    one.save_recipient(&spec("telegram", "1", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    let mut all = HashSet::new();
    for round in 0..5 {
        let writes: Vec<_> = (0..30)
            .map(|i| {
                let id = format!("r{round}-{i:02}");
                all.insert(id.clone());
                let mut w = write(&id, article(&id, None, &["t"], Some(i)));
                w.keys.push(format!("url:{id}"));
                w
            })
            .collect();
        // Opposite orders: the two transactions lock the same rows crosswise.
        let mut reversed = writes.clone();
        reversed.reverse();
        let (a, b) = tokio::join!(
            commit_on(one.clone(), writes, round),
            commit_on(two.clone(), reversed, round)
        );
        let (a, b) = (a.expect("instance one"), b.expect("instance two"));
        let new: HashSet<String> = a.new.iter().chain(&b.new).cloned().collect();
        assert_eq!(
            new.len(),
            a.new.len() + b.new.len(),
            "an item new for both: {a:?} {b:?}"
        );
        assert_eq!(new.len(), 30);
        assert!(a.updated.is_empty() && b.updated.is_empty());
    }
    let items = one.items(None, 1000).await.unwrap();
    assert_eq!(items.len(), all.len());
    let stats = two.outbox_stats(at(0)).await.unwrap();
    assert_eq!(stats.queued, 150, "one delivery per item");
    assert_eq!(one.source_state("src").await.unwrap().unwrap().items, 150);
    let keys: Vec<String> = all.iter().map(|id| format!("url:{id}")).collect();
    assert_eq!(two.known("src", &keys).await.unwrap().len(), 150);
}

async fn commit_on(
    store: Arc<dyn Store>,
    writes: Vec<tidings::store::ItemWrite>,
    round: i64,
) -> Result<tidings::store::CommitOutcome, tidings::store::StoreError> {
    store
        .commit_poll(tidings::store::PollCommit {
            source: "src".into(),
            now: at(round),
            writes,
            ..Default::default()
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_many_instances_wins_a_lease_or_a_tick() {
    let Some((store, _backing)) = super::pg_store().await else {
        return;
    };
    let ttl = Duration::from_secs(60);
    let leases: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.acquire_lease("leader", &format!("h{i}"), at(0), ttl).await })
        })
        .collect();
    let ticks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_poll("src", at(1), &format!("h{i}"), at(0), ttl).await })
        })
        .collect();
    let mut won = (0, 0);
    for l in leases {
        won.0 += usize::from(l.await.unwrap().expect("lease"));
    }
    for t in ticks {
        won.1 += usize::from(t.await.unwrap().expect("tick"));
    }
    assert_eq!(won, (1, 1));
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    // Nothing listens on port 1.
    let err = tidings::store::open("postgres://tidings:s3cret@127.0.0.1:1/news")
        .await
        .err()
        .expect("no server");
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot connect to PostgreSQL at postgres://tidings@127.0.0.1:1/news: "),
        "{msg}"
    );
    assert!(msg.ends_with("is the server running and the URL right?"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
    let err = tidings::store::open("mysql://db/news")
        .await
        .err()
        .expect("unsupported");
    assert!(err.to_string().contains("postgres://"), "{err}");
}
