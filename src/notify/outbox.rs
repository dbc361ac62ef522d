//! The outbox worker: claim due deliveries with a lease, send them, record the outcome.
//!
//! Deliveries are written in the transaction that stores their item, so nothing is lost;
//! a worker that dies mid-send leaves its lease to expire and the next claim sends again
//! (the only way a duplicate can happen). Failures retry with exponential backoff and
//! jitter; permanent ones end in a visible state with their reason.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use super::flood::FloodControl;
use super::telegram::{SendError, TelegramSender, item_message};
use crate::store::{Claimed, DeliveryOutcome, Store, StoreError};

/// How long a claim is held before another worker may take the delivery over.
pub const LEASE: Duration = Duration::from_secs(120);
/// Deliveries claimed at once.
const BATCH: i64 = 50;
/// A delivery is given up after this many attempts.
pub const MAX_ATTEMPTS: i64 = 10;

/// What one round of delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliverReport {
    /// Messages accepted.
    pub sent: usize,
    /// Deliveries put back for later.
    pub retried: usize,
    /// Deliveries given up.
    pub failed: usize,
    /// Recipients deactivated (blocked the bot, chat gone).
    pub deactivated: usize,
}

/// Sends queued deliveries through the configured channels.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    telegram: Option<Arc<TelegramSender>>,
    flood: Arc<FloodControl>,
    worker: String,
}

impl Outbox {
    /// An outbox worker named `worker` (unique per process: host and pid).
    pub fn new(
        store: Arc<dyn Store>,
        telegram: Option<Arc<TelegramSender>>,
        flood: Arc<FloodControl>,
        worker: String,
    ) -> Self {
        Outbox {
            store,
            telegram,
            flood,
            worker,
        }
    }

    /// Sends every delivery due now, batch after batch, until none is left.
    pub async fn deliver_due(&self) -> Result<DeliverReport, StoreError> {
        let mut report = DeliverReport::default();
        loop {
            let claimed = self
                .store
                .claim_deliveries(&self.worker, Utc::now(), LEASE, BATCH)
                .await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            // Recipients that this batch found unreachable or moved: their other claimed
            // deliveries are not sent to the old address.
            let mut gone: std::collections::HashMap<i64, DeliveryOutcome> = std::collections::HashMap::new();
            for c in claimed {
                let repeat = gone.contains_key(&c.recipient.id);
                let outcome = match gone.get(&c.recipient.id) {
                    Some(DeliveryOutcome::Migrate { .. }) => DeliveryOutcome::Retry {
                        due: Utc::now(),
                        error: "chat migrated".into(),
                    },
                    Some(other) => other.clone(),
                    None => self.send(&c).await,
                };
                if matches!(
                    outcome,
                    DeliveryOutcome::Deactivate { .. } | DeliveryOutcome::Migrate { .. }
                ) {
                    gone.entry(c.recipient.id).or_insert_with(|| outcome.clone());
                }
                match &outcome {
                    DeliveryOutcome::Sent => report.sent += 1,
                    DeliveryOutcome::Retry { .. } | DeliveryOutcome::Migrate { .. } => report.retried += 1,
                    DeliveryOutcome::Failed { error } => {
                        tracing::warn!(delivery = c.id, item = %c.item.id, "delivery failed for good: {error}");
                        report.failed += 1;
                    }
                    DeliveryOutcome::Deactivate { .. } if repeat => {}
                    DeliveryOutcome::Deactivate { reason } => {
                        tracing::warn!(recipient = c.recipient.id, "recipient deactivated: {reason}");
                        report.deactivated += 1;
                    }
                }
                self.store
                    .finish_delivery(c.id, &self.worker, &outcome, Utc::now())
                    .await?;
            }
        }
    }

    /// Runs until `shutdown`: delivers what is due, then waits a moment.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.deliver_due().await {
                tracing::error!("delivery round failed: {e}");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    async fn send(&self, c: &Claimed) -> DeliveryOutcome {
        let now = Utc::now();
        match c.recipient.kind.as_str() {
            "telegram" => self.send_telegram(c, now).await,
            other => DeliveryOutcome::Failed {
                error: format!("no channel for recipients of kind `{other}`"),
            },
        }
    }

    async fn send_telegram(&self, c: &Claimed, now: DateTime<Utc>) -> DeliveryOutcome {
        let Some(sender) = &self.telegram else {
            return retry_later(
                c,
                now,
                "Telegram is off (TIDINGS_TELEGRAM_TOKEN is not set)".into(),
            );
        };
        let Ok(chat) = c.recipient.address.parse::<i64>() else {
            return DeliveryOutcome::Failed {
                error: format!("`{}` is not a Telegram chat id", c.recipient.address),
            };
        };
        if let Some(until) = self.flood.paused_until(chat, now) {
            return DeliveryOutcome::Retry {
                due: until,
                error: "chat paused by Telegram's flood control".into(),
            };
        }
        let tz: Tz = c.recipient.tz.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let text = item_message(&c.item, tz);
        let thread = i32::try_from(c.recipient.thread_id).ok().filter(|t| *t != 0);
        self.flood.ready(chat).await;
        match sender.send(chat, thread, &text).await {
            Ok(()) => DeliveryOutcome::Sent,
            Err(SendError::RetryAfter(wait)) => {
                let until = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                self.flood.pause(chat, until);
                DeliveryOutcome::Retry {
                    due: until,
                    error: format!("Telegram asked to wait {}s (429)", wait.as_secs()),
                }
            }
            Err(e @ (SendError::Blocked(_) | SendError::ChatNotFound(_))) => DeliveryOutcome::Deactivate {
                reason: e.to_string(),
            },
            Err(SendError::Migrated(to)) => DeliveryOutcome::Migrate {
                address: to.to_string(),
            },
            Err(e) if e.is_transient() => retry_later(c, now, e.to_string()),
            Err(e) => DeliveryOutcome::Failed { error: e.to_string() },
        }
    }
}

/// Exponential backoff with jitter: 5 s, 10 s, 20 s … capped at 1 h; gives up after
/// [`MAX_ATTEMPTS`].
fn retry_later(c: &Claimed, now: DateTime<Utc>, error: String) -> DeliveryOutcome {
    if c.attempts >= MAX_ATTEMPTS {
        return DeliveryOutcome::Failed {
            error: format!("gave up after {} attempts: {error}", c.attempts),
        };
    }
    let base = 5u64.saturating_mul(1 << (c.attempts - 1).clamp(0, 20)).min(3600);
    let wait = Duration::from_secs(base) + crate::schedule::jitter(Duration::from_secs(base / 5 + 1));
    DeliveryOutcome::Retry {
        due: now + chrono::Duration::from_std(wait).unwrap_or_default(),
        error,
    }
}
