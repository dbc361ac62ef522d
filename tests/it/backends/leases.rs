//! Leases shared by instances: the leader lease and one claim per poll tick; the daemon lock.

use std::sync::Arc;
use std::time::Duration;

use tidings::store::{Store, StoreError};

use super::{article, at, commit, on_both_backends, spec, stored, topic, write};

on_both_backends!(
    a_tick_is_claimed_once_and_again_only_after_its_holder_died,
    a_lease_has_one_holder_until_it_expires_or_is_released,
    a_draining_worker_releases_its_deliveries_ticks_and_leases_at_once,
);

async fn a_tick_is_claimed_once_and_again_only_after_its_holder_died(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let t0 = at(0);
    let tick = t0 + chrono::Duration::seconds(5);
    let ttl = Duration::from_secs(60);
    assert_eq!(s.first_poll_at("s", tick).await.unwrap(), stored(tick));
    assert_eq!(
        s.first_poll_at("s", t0).await.unwrap(),
        stored(tick),
        "the first one wins"
    );
    // A source whose next poll is already set keeps it.
    s.set_next_poll("t", at(9)).await.unwrap();
    assert_eq!(s.first_poll_at("t", t0).await.unwrap(), stored(at(9)));
    assert!(s.claim_poll("s", tick, "a", t0, ttl).await.unwrap());
    assert!(
        !s.claim_poll("s", tick, "b", t0, ttl).await.unwrap(),
        "one per tick"
    );
    assert!(
        !s.claim_poll("s", tick, "a", t0, ttl).await.unwrap(),
        "even for its holder"
    );
    s.finish_poll("s", tick, "b").await.unwrap();
    let earlier = t0 + chrono::Duration::seconds(1);
    assert!(
        !s.claim_poll("s", earlier, "b", t0, ttl).await.unwrap(),
        "never an older tick"
    );
    s.finish_poll("s", tick, "a").await.unwrap();
    assert!(
        !s.claim_poll("s", tick, "b", t0, ttl).await.unwrap(),
        "a done tick stays done"
    );
    let later = t0 + chrono::Duration::seconds(61);
    assert!(
        !s.claim_poll("s", tick, "b", later, ttl).await.unwrap(),
        "even after the lease"
    );
    let next = tick + chrono::Duration::minutes(10);
    assert!(
        s.claim_poll("s", next, "b", t0, ttl).await.unwrap(),
        "the next tick"
    );
    // b dies mid-poll: the same tick is claimed again after its lease.
    assert!(!s.claim_poll("s", next, "a", t0, ttl).await.unwrap());
    assert!(s.claim_poll("s", next, "a", later, ttl).await.unwrap());
    // A later tick while the earlier is still running: only once its lease has run out.
    let third = next + chrono::Duration::minutes(10);
    assert!(!s.claim_poll("s", third, "b", later, ttl).await.unwrap());
    let much_later = later + chrono::Duration::seconds(61);
    assert!(s.claim_poll("s", third, "b", much_later, ttl).await.unwrap());
    assert!(
        s.claim_poll("other", third, "c", t0, ttl).await.unwrap(),
        "per source"
    );
}

async fn a_lease_has_one_holder_until_it_expires_or_is_released(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let t0 = at(0);
    let ttl = Duration::from_secs(30);
    assert!(s.acquire_lease("leader", "a", t0, ttl).await.unwrap());
    assert!(!s.acquire_lease("leader", "b", t0, ttl).await.unwrap());
    assert!(s.acquire_lease("other", "b", t0, ttl).await.unwrap(), "per name");
    let renew = t0 + chrono::Duration::seconds(20);
    assert!(
        s.acquire_lease("leader", "a", renew, ttl).await.unwrap(),
        "renewed"
    );
    let at_end = renew + chrono::Duration::seconds(30);
    assert!(
        !s.acquire_lease("leader", "b", at_end, ttl).await.unwrap(),
        "held up to its end"
    );
    let later = at_end + chrono::Duration::microseconds(1);
    assert!(
        s.acquire_lease("leader", "b", later, ttl).await.unwrap(),
        "taken over"
    );
    s.release_lease("leader", "a").await.unwrap();
    assert!(
        !s.acquire_lease("leader", "a", later, ttl).await.unwrap(),
        "a no longer holds it"
    );
    s.release_lease("leader", "b").await.unwrap();
    assert!(
        s.acquire_lease("leader", "a", later, ttl).await.unwrap(),
        "released"
    );
}

#[tokio::test]
async fn a_second_daemon_on_one_sqlite_file_is_refused() {
    let (store, _backing) = super::sqlite_store().await;
    let lock = store.lock_daemon().await.expect("first");
    assert!(lock.is_exclusive());
    assert!(matches!(store.lock_daemon().await, Err(StoreError::Locked(_))));
    drop(lock);
    store.lock_daemon().await.expect("free again");
}

#[tokio::test]
async fn daemons_share_a_postgres_database() {
    let Some((store, _backing)) = super::pg_store().await else {
        return;
    };
    let first = store.lock_daemon().await.expect("first");
    let second = store.lock_daemon().await.expect("second");
    assert!(!first.is_exclusive() && !second.is_exclusive());
}

async fn a_draining_worker_releases_its_deliveries_ticks_and_leases_at_once(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let hour = Duration::from_secs(3600);
    s.save_recipient(&spec("telegram", "5", vec![topic(None, Some("t"))]), at(0))
        .await
        .unwrap();
    let writes = (1..=3)
        .map(|i| {
            write(
                &format!("x{i}"),
                article(&format!("x {i}"), None, &["t"], Some(i)),
            )
        })
        .collect();
    commit(s, "src", at(0), writes).await;
    let tick = at(1);
    assert_eq!(
        s.claim_deliveries("telegram", "a", at(1), hour, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(s.acquire_lease("leader", "a", at(1), hour).await.unwrap());
    assert!(s.claim_poll("src", tick, "a", at(1), hour).await.unwrap());
    // Another worker's claims are not touched.
    assert!(s.acquire_lease("other", "b", at(1), hour).await.unwrap());
    assert!(
        s.claim_deliveries("telegram", "b", at(1), hour, 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        s.release_worker("a").await.unwrap(),
        5,
        "3 deliveries, the leader lease, 1 tick"
    );
    assert_eq!(s.release_worker("a").await.unwrap(), 0, "nothing twice");
    // b takes everything over at once, not after the hour-long leases.
    let taken = s
        .claim_deliveries("telegram", "b", at(2), hour, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 3);
    assert!(s.acquire_lease("leader", "b", at(2), hour).await.unwrap());
    assert!(
        s.claim_poll("src", tick, "b", at(2), hour).await.unwrap(),
        "the unfinished tick"
    );
    assert!(
        !s.acquire_lease("other", "a", at(2), hour).await.unwrap(),
        "b's own lease stays"
    );
}
