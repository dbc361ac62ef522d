//! The outbox's values: recipients with their topics, claimed deliveries, outcomes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Item;

/// One topic: a region slug, a tag, or both (an intersection such as `晋中+高质量`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Topic {
    /// Region slug, if the topic names one.
    pub region: Option<String>,
    /// Tag, if the topic names one.
    pub tag: Option<String>,
}

/// A recipient to add or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientSpec {
    /// `telegram` or `email`.
    pub kind: String,
    /// Chat id or address.
    pub address: String,
    /// Forum topic (`message_thread_id`), 0 for none.
    pub thread_id: i64,
    /// Who manages it: `cli`, `config`, `bot` or `web`.
    pub origin: String,
    /// Its topics; an item matching any of them is delivered.
    pub topics: Vec<Topic>,
    /// New include/exclude filters; `None` keeps the stored ones.
    pub filters: Option<Filters>,
}

/// Keyword or regex filters on an item's title and summary (Rust's linear-time `regex`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// The item is delivered only if this matches.
    pub include: Option<String>,
    /// The item is not delivered if this matches.
    pub exclude: Option<String>,
}

impl Filters {
    /// Checks both patterns compile (within a size limit), naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [("include", &self.include), ("exclude", &self.exclude)] {
            if let Some(p) = p {
                compile(p).map_err(|e| format!("{name} filter `{p}`: {e}"))?;
            }
        }
        Ok(())
    }

    /// Whether an item with this title and summary passes. A pattern that no longer
    /// compiles passes everything rather than silently dropping items.
    pub fn pass(&self, title: &str, summary: Option<&str>) -> bool {
        let text = format!("{title} {}", summary.unwrap_or(""));
        let hit = |p: &Option<String>| {
            p.as_deref()
                .and_then(|p| compile(p).ok())
                .map(|re| re.is_match(&text))
        };
        hit(&self.include) != Some(false) && hit(&self.exclude) != Some(true)
    }
}

fn compile(p: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(p)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
}

/// Delivery preferences to change; `None` leaves a preference as it is. Values are stored
/// as given: callers validate them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientPrefs {
    /// `instant`, `daily` or `weekly`.
    pub mode: Option<String>,
    /// Digest time `HH:MM` in the recipient's time zone.
    pub digest_at: Option<String>,
    /// Digest weekday `mon`…`sun`.
    pub digest_weekday: Option<String>,
    /// IANA time zone name.
    pub tz: Option<String>,
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
    /// `active`, `inactive` (the bot was blocked, the chat is gone) or `suspended` (mail
    /// to the address was refused three times in a row).
    pub state: String,
    /// Why not active (e.g. the bot was blocked, the SMTP server's last refusal).
    pub state_reason: Option<String>,
    /// `cli`, `config`, `bot` or `web`.
    pub origin: String,
    /// The recipient's time zone (IANA name).
    pub tz: String,
    /// `instant`, `daily` or `weekly`.
    pub mode: String,
    /// Digest time of day, `HH:MM` in [`Recipient::tz`] (daily and weekly digests).
    pub digest_at: Option<String>,
    /// Digest weekday, `mon`…`sun` (weekly digests).
    pub digest_weekday: Option<String>,
    /// Include/exclude filters.
    pub filters: Filters,
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
    /// The recipient's filters leave the item out: cancel the delivery.
    Filtered,
    /// The mail server refused the message for good (SMTP 5xx): the delivery fails, and the
    /// recipient is suspended after [`MAX_BOUNCES`] such refusals in a row.
    Bounced {
        /// The server's answer.
        error: String,
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

/// Refusals in a row (SMTP 5xx) after which an email address is suspended.
pub const MAX_BOUNCES: i64 = 3;

/// What an email subscriber asked for, kept with the confirmation until the address's
/// owner confirms it; applied as a whole then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRequest {
    /// The address (lower-cased domain, validated).
    pub address: String,
    /// Topics; an item matching any of them is delivered.
    pub topics: Vec<Topic>,
    /// Include/exclude filters.
    pub filters: Filters,
    /// Mode, digest time, weekday and time zone.
    pub prefs: RecipientPrefs,
}

/// A double opt-in confirmation waiting for its link to be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConfirmation {
    /// SHA-256 (hex) of the token mailed to the address; the token itself is not stored.
    pub token_hash: String,
    /// What will be subscribed.
    pub request: SubscriptionRequest,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
}

/// What following a confirmation link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The subscription is now active (created, or its topics replaced): the recipient id.
    Confirmed(i64),
    /// The link was already used: nothing changed (the recipient id, if it still exists).
    AlreadyConfirmed(Option<i64>),
    /// The link is older than its validity.
    Expired,
    /// No such token.
    Unknown,
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
    /// Cancelled (recipient deactivated or removed, or filtered out).
    pub cancelled: i64,
    /// Deliveries that needed more than one attempt.
    pub retried: i64,
    /// Age in seconds of the oldest queued delivery.
    pub oldest_queued_secs: Option<i64>,
}

impl OutboxStats {
    /// The sum of `channels`' totals (the oldest queued delivery of them all).
    pub fn total(channels: &[ChannelStats]) -> OutboxStats {
        channels
            .iter()
            .fold(OutboxStats::default(), |sum, c| OutboxStats {
                queued: sum.queued + c.stats.queued,
                sent: sum.sent + c.stats.sent,
                failed: sum.failed + c.stats.failed,
                cancelled: sum.cancelled + c.stats.cancelled,
                retried: sum.retried + c.stats.retried,
                oldest_queued_secs: sum.oldest_queued_secs.max(c.stats.oldest_queued_secs),
            })
    }
}

/// One channel's outbox totals: the deliveries to recipients of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChannelStats {
    /// The recipients' kind: `telegram` or `email`.
    pub channel: String,
    /// Its totals.
    #[serde(flatten)]
    pub stats: OutboxStats,
}
