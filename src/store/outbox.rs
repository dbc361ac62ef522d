//! The outbox's values: recipients with their topics, claimed deliveries, outcomes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::Item;

/// One topic: a region slug, a tag, or both (an intersection such as `晋中+高质量`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Topic {
    /// Region slug, if the topic names one.
    pub region: Option<String>,
    /// Tag, if the topic names one.
    pub tag: Option<String>,
}

/// A recipient to add or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientSpec {
    /// `telegram` (or `email` later).
    pub kind: String,
    /// Chat id or address.
    pub address: String,
    /// Forum topic (`message_thread_id`), 0 for none.
    pub thread_id: i64,
    /// Who manages it: `cli`, `config` or `bot`.
    pub origin: String,
    /// Its topics; an item matching any of them is delivered.
    pub topics: Vec<Topic>,
}

/// A stored recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// Row id.
    pub id: i64,
    /// `telegram` or `email`.
    pub kind: String,
    /// Chat id or address.
    pub address: String,
    /// Forum topic, 0 for none.
    pub thread_id: i64,
    /// `active` or `inactive`.
    pub state: String,
    /// Why inactive (e.g. the bot was blocked).
    pub state_reason: Option<String>,
    /// `cli`, `config` or `bot`.
    pub origin: String,
    /// The recipient's time zone (IANA name).
    pub tz: String,
    /// `instant`, `daily` or `weekly`.
    pub mode: String,
    /// Digest time of day, `HH:MM` in [`Recipient::tz`] (daily and weekly digests).
    pub digest_at: Option<String>,
    /// Digest weekday, `mon`…`sun` (weekly digests).
    pub digest_weekday: Option<String>,
    /// When its last digest went out (or was found empty).
    pub last_digest_at: Option<DateTime<Utc>>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Topics.
    pub topics: Vec<Topic>,
    /// Deliveries by state: queued, sent, failed, cancelled.
    pub counts: [i64; 4],
}

/// A delivery claimed by a worker, with what it needs to send.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Delivery id.
    pub id: i64,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// The item.
    pub item: Item,
    /// The recipient.
    pub recipient: Recipient,
}

/// What happened to a claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Accepted by the channel.
    Sent,
    /// Try again at `due` (backoff, or the channel's `retry_after`).
    Retry {
        /// When.
        due: DateTime<Utc>,
        /// Why it failed this time.
        error: String,
    },
    /// Given up: the reason stays visible.
    Failed {
        /// Why.
        error: String,
    },
    /// The recipient cannot be reached (blocked the bot, chat gone): deactivate it and
    /// cancel its queued deliveries.
    Deactivate {
        /// Why.
        reason: String,
    },
    /// The chat moved (group upgraded to supergroup): follow it and send again now.
    Migrate {
        /// The new chat id.
        address: String,
    },
    /// Not tried (held by the channel's rate limits, or out of lease time): released, due
    /// again at `due` or, if `None`, when it was due; the claim does not count as an attempt.
    Postpone {
        /// When the channel can take it.
        due: Option<DateTime<Utc>>,
    },
}

/// Outbox totals for `/status`, `/metrics` and `tidings subscriptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    /// Waiting to be sent (including retries).
    pub queued: i64,
    /// Sent.
    pub sent: i64,
    /// Given up.
    pub failed: i64,
    /// Cancelled (recipient deactivated or removed).
    pub cancelled: i64,
    /// Deliveries that needed more than one attempt.
    pub retried: i64,
    /// Age in seconds of the oldest queued delivery.
    pub oldest_queued_secs: Option<i64>,
}
