//! Email double opt-in: confirmations created, followed once, expired or unknown; refusals
//! outside deliveries (digests) counted towards suspension.

use std::sync::Arc;

use tidings::store::{ConfirmOutcome, Filters, NewConfirmation, RecipientPrefs, Store, SubscriptionRequest};

use super::{at, on_both_backends, spec, topic};

on_both_backends!(
    a_confirmation_link_subscribes_exactly_as_requested_once,
    refusals_outside_deliveries_suspend_at_three_and_a_digest_resets_them,
);

fn confirmation(hash: &str, address: &str, created: i64, expires: i64) -> NewConfirmation {
    NewConfirmation {
        token_hash: hash.into(),
        request: SubscriptionRequest {
            address: address.into(),
            topics: vec![topic(Some("jinzhong"), Some("高质量")), topic(None, Some("R&D"))],
            filters: Filters {
                include: Some("rust".into()),
                exclude: None,
            },
            prefs: RecipientPrefs {
                mode: Some("weekly".into()),
                digest_at: Some("08:00".into()),
                digest_weekday: Some("mon".into()),
                tz: Some("Europe/Berlin".into()),
            },
        },
        created_at: at(created),
        expires_at: at(expires),
    }
}

async fn a_confirmation_link_subscribes_exactly_as_requested_once(store: Arc<dyn Store>) {
    let s = store.as_ref();
    s.create_confirmation(&confirmation("h1", "x@example.org", 0, 60))
        .await
        .unwrap();
    s.create_confirmation(&confirmation("h2", "x@example.org", 5, 60))
        .await
        .unwrap();
    assert!(
        s.create_confirmation(&confirmation("h1", "y@example.org", 5, 60))
            .await
            .is_err(),
        "a token is stored once"
    );
    assert_eq!(s.confirmations_since("x@example.org", at(0)).await.unwrap(), 2);
    assert_eq!(
        s.confirmations_since("x@example.org", at(5)).await.unwrap(),
        1,
        "inclusive"
    );
    assert_eq!(s.confirmations_since("x@example.org", at(6)).await.unwrap(), 0);
    assert_eq!(s.confirmations_since("y@example.org", at(0)).await.unwrap(), 0);

    // The address was subscribed before (suspended since): confirming replaces it all.
    let old = s
        .save_recipient(&spec("email", "x@example.org", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    for _ in 0..3 {
        s.record_bounce(old, "550", at(1)).await.unwrap();
    }
    assert_eq!(s.recipient(old).await.unwrap().unwrap().state, "suspended");

    let ConfirmOutcome::Confirmed(id) = s.confirm_subscription("h1", at(10)).await.unwrap() else {
        panic!("not confirmed");
    };
    assert_eq!(id, old);
    let r = s.recipient(id).await.unwrap().unwrap();
    assert_eq!(
        (r.kind.as_str(), r.address.as_str(), r.origin.as_str()),
        ("email", "x@example.org", "web")
    );
    assert_eq!((r.state.as_str(), r.state_reason.clone()), ("active", None));
    assert_eq!(
        r.topics,
        [topic(None, Some("R&D")), topic(Some("jinzhong"), Some("高质量"))]
    );
    assert_eq!(r.filters.include.as_deref(), Some("rust"));
    assert_eq!(
        (
            r.mode.as_str(),
            r.digest_at.as_deref(),
            r.digest_weekday.as_deref(),
            r.tz.as_str()
        ),
        ("weekly", Some("08:00"), Some("mon"), "Europe/Berlin")
    );
    // Twice changes nothing.
    s.set_recipient_prefs(
        "email",
        "x@example.org",
        0,
        &RecipientPrefs {
            mode: Some("instant".into()),
            ..RecipientPrefs::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.confirm_subscription("h1", at(11)).await.unwrap(),
        ConfirmOutcome::AlreadyConfirmed(Some(id))
    );
    assert_eq!(s.recipient(id).await.unwrap().unwrap().mode, "instant");
    assert!(s.remove_recipient_id(id).await.unwrap());
    assert_eq!(
        s.confirm_subscription("h1", at(12)).await.unwrap(),
        ConfirmOutcome::AlreadyConfirmed(None),
        "unsubscribed since"
    );
    assert_eq!(
        s.confirm_subscription("h2", at(60)).await.unwrap(),
        ConfirmOutcome::Expired
    );
    assert_eq!(
        s.confirm_subscription("nope", at(0)).await.unwrap(),
        ConfirmOutcome::Unknown
    );
    assert!(
        s.recipients().await.unwrap().is_empty(),
        "the expired link subscribed nobody"
    );
    // A fresh address gets a new recipient.
    s.create_confirmation(&confirmation("h3", "z@example.org", 20, 80))
        .await
        .unwrap();
    let ConfirmOutcome::Confirmed(z) = s.confirm_subscription("h3", at(59)).await.unwrap() else {
        panic!("not confirmed");
    };
    assert_eq!(
        s.recipient(z).await.unwrap().unwrap().created_at,
        super::stored(at(59))
    );
}

async fn refusals_outside_deliveries_suspend_at_three_and_a_digest_resets_them(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let id = s
        .save_recipient(&spec("email", "d@example.org", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    assert!(!s.record_bounce(id, "550 a", at(1)).await.unwrap());
    assert!(!s.record_bounce(id, "550 b", at(1)).await.unwrap());
    s.finish_digest(id, &["gone".into()], at(2)).await.unwrap();
    assert!(
        !s.record_bounce(id, "550 c", at(3)).await.unwrap(),
        "a sent digest reset the count"
    );
    assert!(!s.record_bounce(id, "550 d", at(3)).await.unwrap());
    s.finish_digest(id, &[], at(4)).await.unwrap();
    assert!(s.alerts().await.unwrap().is_empty());
    assert!(
        s.record_bounce(id, "550 e", at(5)).await.unwrap(),
        "an empty digest reset nothing"
    );
    let r = s.recipient(id).await.unwrap().unwrap();
    assert_eq!(r.state, "suspended");
    assert_eq!(
        r.state_reason.as_deref(),
        Some("mail refused 3 times in a row; last: 550 e")
    );
    assert!(
        s.record_bounce(id, "550 f", at(6)).await.unwrap(),
        "still suspended"
    );
    let alerts = s.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].message,
        "delivery to email d@example.org failed for good: 550 e"
    );
    assert_eq!(alerts[0].created_at, super::stored(at(5)));
    assert!(
        !s.record_bounce(id + 1000, "550", at(8)).await.unwrap(),
        "no such recipient"
    );
}
