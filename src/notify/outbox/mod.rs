//! The outbox worker: claim due deliveries with a lease, send them, record the outcome.
//!
//! Deliveries are written in the transaction that stores their item, so nothing is lost;
//! a worker that dies mid-send leaves its lease to expire and the next claim sends again
//! (the only way a duplicate can happen: a worker has one message in flight at a time).
//! Failures retry with exponential backoff and jitter; permanent ones end in a visible state
//! with their reason.
//!
//! One worker sends one message at a time. It holds up to a batch of claimed deliveries
//! (claiming more whenever half are gone) and sends next the one whose chat may be sent to
//! soonest, each chat's own deliveries in order. When even that one would wait longer than a
//! private chat's gap (groups out of their per-minute budget), those chats are paused until
//! their budget frees, exactly as after a 429, so that all their queued deliveries come back
//! due at the same moment and in publish order; a delivery whose lease would run out first
//! goes back as it was. Either way the claim does not count as an attempt and the worker
//! goes on to what else is due: a busy group never holds up private chats, and nothing is
//! sent after its lease may have passed to another worker.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod email;

pub use email::MailChannel;

use super::clock::Clock;
use super::flood::FloodControl;
use super::telegram::{SendError, TelegramSender, item_message};
use crate::store::{Claimed, DeliveryOutcome, Recipient, Store, StoreError};
use crate::telemetry::{self, DeliveryResult};

/// How long a claim is held before another worker may take the delivery over (the default
/// of `[telegram] lease`).
pub const LEASE: Duration = Duration::from_secs(120);
/// Deliveries a worker holds claimed at most.
const BATCH: i64 = 50;
/// After a claim found nothing, how long to go on with what is in hand before asking again.
const REFILL_PAUSE: Duration = Duration::from_millis(500);
/// How often the worker looks for due digests.
const DIGEST_CHECK: Duration = Duration::from_secs(30);
/// Digest recipients read per page.
const DIGEST_PAGE: i64 = 500;
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
    /// Deliveries left out by their recipient's filters.
    pub filtered: usize,
}

impl DeliverReport {
    fn add(&mut self, other: DeliverReport) {
        self.sent += other.sent;
        self.retried += other.retried;
        self.failed += other.failed;
        self.deactivated += other.deactivated;
        self.filtered += other.filtered;
    }
}

/// What an outbox loop does: several daemons on one database all send mail, while one of
/// them — the leader — sends to Telegram (so that the bot's flood limits hold for the bot
/// as a whole) and runs the digest scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duties {
    /// Everything (a daemon alone on its database, `tidings deliver`).
    All,
    /// Email deliveries only.
    Mail,
    /// Telegram deliveries and every digest.
    Leader,
}

/// The channels an outbox sends through.
#[derive(Clone, Default)]
pub struct Channels {
    /// Telegram, when its token is set.
    pub telegram: Option<Arc<TelegramSender>>,
    /// Email, when SMTP and the secret key are set.
    pub mail: Option<Arc<MailChannel>>,
}

/// Sends queued deliveries through the configured channels.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    telegram: Option<Arc<TelegramSender>>,
    mail: Option<Arc<MailChannel>>,
    flood: Arc<FloodControl>,
    worker: String,
    lease: Duration,
    clock: Clock,
    /// Cancelled when the daemon stops: nothing more is claimed or started, and what is in
    /// hand but unsent is released.
    stopping: CancellationToken,
}

impl Outbox {
    /// An outbox worker named `worker` (unique per process: host and pid) whose claims last
    /// `lease` ([`LEASE`] unless configured); digests are scheduled by `clock`.
    pub fn new(
        store: Arc<dyn Store>,
        channels: Channels,
        flood: Arc<FloodControl>,
        worker: String,
        lease: Duration,
        clock: Clock,
    ) -> Self {
        Outbox {
            store,
            telegram: channels.telegram,
            mail: channels.mail,
            flood,
            worker,
            lease,
            clock,
            stopping: CancellationToken::new(),
        }
    }

    /// Sends every delivery due now on every channel, batch after batch, until none is left.
    pub async fn deliver_due(&self) -> Result<DeliverReport, StoreError> {
        let (telegram, mail) = tokio::join!(self.deliver_telegram(), self.deliver_mail());
        let mut report = telegram?;
        report.add(mail?);
        Ok(report)
    }

    /// Sends every due Telegram delivery (see the module docs for the order).
    async fn deliver_telegram(&self) -> Result<DeliverReport, StoreError> {
        let mut report = DeliverReport::default();
        // A private chat's next message waits at most its gap plus an overall slot or two.
        let hold = self.flood.per_chat() + Duration::from_millis(250);
        let mut hand = InHand::default();
        let mut found_none: Option<Instant> = None;
        loop {
            if self.stopping.is_cancelled() {
                // Stopping: what is in hand goes back unsent, due as it was.
                for Held { claimed: c, .. } in hand.take_all() {
                    self.finish(&c, &DeliveryOutcome::Postpone { due: None }, &mut report)
                        .await?;
                }
                return Ok(report);
            }
            // Keep claiming while half the batch is gone, so that a chat still waiting out
            // its gap does not hold up the chats behind the batch (but do not ask the store
            // again and again when nothing else is due).
            let asked_lately = found_none.is_some_and(|t| t.elapsed() < REFILL_PAUSE);
            if hand.count <= BATCH as usize / 2 && !(asked_lately && hand.count > 0) {
                let more = self.claim(&mut hand, hold).await?;
                found_none = (more == 0).then(Instant::now);
            }
            let Some((i, wait)) = self.soonest(&hand) else {
                return Ok(report);
            };
            if wait > hold {
                // Everything in hand would wait long (groups out of their budget): release
                // it and go on with whatever else is due.
                let all = hand.take_all();
                self.put_back(all, hold, &mut report).await?;
                found_none = None;
                continue;
            }
            if hand.queues[i]
                .front()
                .is_some_and(|h| Instant::now() + wait > h.deadline)
            {
                // The lease would run out first: release the chat's deliveries as they were.
                let queue = hand.take(i);
                self.put_back(queue, hold, &mut report).await?;
                continue;
            }
            let Some(Held { claimed: c, .. }) = hand.pop(i) else {
                continue;
            };
            let outcome = self.send(&c).await;
            self.finish(&c, &outcome, &mut report).await?;
            // A recipient found unreachable or moved: its other claimed deliveries are not
            // sent to the old address.
            let rest = match &outcome {
                DeliveryOutcome::Deactivate { .. } => Some(outcome.clone()),
                DeliveryOutcome::Migrate { .. } => Some(DeliveryOutcome::Retry {
                    due: Utc::now(),
                    error: "chat migrated".into(),
                }),
                _ => None,
            };
            if let Some(rest) = rest {
                for held in hand.take(i) {
                    if matches!(rest, DeliveryOutcome::Retry { .. }) {
                        report.retried += 1;
                    }
                    self.store
                        .finish_delivery(held.claimed.id, &self.worker, &rest, Utc::now())
                        .await?;
                    count(&held.claimed, &rest);
                }
            }
        }
    }

    /// Claims up to a batch's worth of due deliveries more; returns how many came.
    async fn claim(&self, hand: &mut InHand, hold: Duration) -> Result<usize, StoreError> {
        let claimed_at = Instant::now();
        let limit = BATCH - hand.count as i64;
        let claimed = self
            .store
            .claim_deliveries("telegram", &self.worker, Utc::now(), self.lease, limit)
            .await?;
        // Leave a quarter of the lease for the last send to finish in (but always let one
        // message go, or a lease shorter than a chat's gap would claim the same deliveries
        // again and again).
        let deadline = claimed_at + (self.lease - self.lease / 4).max(hold);
        let n = claimed.len();
        hand.add(claimed, deadline);
        Ok(n)
    }

    /// The recipient whose next delivery can go soonest, and how long it would wait; ties
    /// go to the recipient claimed first (the oldest item).
    fn soonest(&self, hand: &InHand) -> Option<(usize, Duration)> {
        hand.queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|h| (i, self.wait(&h.claimed))))
            .min_by_key(|&(i, wait)| (wait, i))
    }

    /// How long the flood limits would hold a message to this recipient now.
    fn wait(&self, c: &Claimed) -> Duration {
        match c.recipient.address.parse::<i64>() {
            Ok(chat) if c.recipient.kind == "telegram" => self.flood.wait(chat),
            _ => Duration::ZERO,
        }
    }

    /// Releases `held` unsent: a chat that would wait longer than `hold` is paused until it
    /// can take a message, and its deliveries are due then; the others keep their due time.
    async fn put_back(
        &self,
        held: impl IntoIterator<Item = Held>,
        hold: Duration,
        report: &mut DeliverReport,
    ) -> Result<(), StoreError> {
        for Held { claimed: c, .. } in held {
            let wait = self.wait(&c);
            let due = match c.recipient.address.parse::<i64>() {
                Ok(chat) if wait > hold => {
                    let now = Utc::now();
                    let until = self.flood.paused_until(chat, now).unwrap_or_else(|| {
                        let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
                        self.flood.pause(chat, until);
                        until
                    });
                    Some(until)
                }
                _ => None,
            };
            self.finish(&c, &DeliveryOutcome::Postpone { due }, report)
                .await?;
        }
        Ok(())
    }

    /// Counts and records one delivery's outcome.
    async fn finish(
        &self,
        c: &Claimed,
        outcome: &DeliveryOutcome,
        report: &mut DeliverReport,
    ) -> Result<(), StoreError> {
        match outcome {
            DeliveryOutcome::Sent => report.sent += 1,
            DeliveryOutcome::Filtered => report.filtered += 1,
            DeliveryOutcome::Retry { due, error } => {
                tracing::info!(delivery = c.id, item = %c.item.id, %due, "delivery to retry: {error}");
                report.retried += 1;
            }
            DeliveryOutcome::Migrate { .. } | DeliveryOutcome::Postpone { .. } => report.retried += 1,
            DeliveryOutcome::Failed { error } | DeliveryOutcome::Bounced { error } => {
                tracing::warn!(delivery = c.id, item = %c.item.id, "delivery failed for good: {error}");
                report.failed += 1;
            }
            DeliveryOutcome::Deactivate { reason } => {
                tracing::warn!(recipient = c.recipient.id, "recipient deactivated: {reason}");
                report.deactivated += 1;
            }
        }
        self.store
            .finish_delivery(c.id, &self.worker, outcome, Utc::now())
            .await?;
        count(c, outcome);
        Ok(())
    }

    /// Runs `duties` until `shutdown`: delivers what is due, then waits a moment. Once
    /// `shutdown` is cancelled nothing more is claimed: the sends under way finish and
    /// whatever else was claimed is released for the next instance or start.
    pub async fn run(self, duties: Duties, shutdown: CancellationToken) {
        let this = Outbox {
            stopping: shutdown.clone(),
            ..self
        };
        this.run_until(duties, shutdown).await;
    }

    async fn run_until(&self, duties: Duties, shutdown: CancellationToken) {
        let mut digests_checked: Option<std::time::Instant> = None;
        // A test clock jumps: look for due digests every second, not every half minute.
        let check = if self.clock.is_test() {
            Duration::from_secs(1)
        } else {
            DIGEST_CHECK
        };
        loop {
            let delivered = match duties {
                Duties::All => self.deliver_due().await,
                Duties::Mail => self.deliver_mail().await,
                Duties::Leader => self.deliver_telegram().await,
            };
            if let Err(e) = delivered {
                tracing::error!("delivery round failed: {e}");
            }
            let digests = duties != Duties::Mail;
            if digests && digests_checked.is_none_or(|t| t.elapsed() >= check) {
                digests_checked = Some(std::time::Instant::now());
                if let Err(e) = self.send_digests().await {
                    tracing::error!("digest round failed: {e}");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// Sends every digest that is due (see [`super::digest`]) on every channel; returns
    /// how many went out. A digest is marked sent only after all its messages were
    /// accepted, so a failure or a crash sends it again at the next check (at least once).
    pub async fn send_digests(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut sent = 0;
        let mut after = 0;
        // A page of recipients at a time: memory stays flat however many there are.
        loop {
            if self.stopping.is_cancelled() {
                return Ok(sent);
            }
            let page = self.store.digest_recipients(after, DIGEST_PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(sent);
            };
            after = last.id;
            let (telegram, mail) =
                tokio::join!(self.telegram_digests(&page, now), self.mail_digests(&page, now));
            sent += telegram? + mail?;
        }
    }

    /// Telegram digests due at `now`, one chat after another within the flood limits.
    async fn telegram_digests(
        &self,
        recipients: &[Recipient],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(sender) = &self.telegram else {
            return Ok(0);
        };
        let mut sent = 0;
        for r in recipients {
            if self.stopping.is_cancelled() {
                break;
            }
            if r.kind != "telegram" || r.state != "active" || !super::digest::is_due(r, now) {
                continue;
            }
            let Ok(chat) = r.address.parse::<i64>() else {
                continue;
            };
            let mut items = self.store.digest_items(r.id).await?;
            let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
            items.retain(|i| r.filters.pass(&i.article.title, i.article.summary.as_deref()));
            let tz: Tz = r.tz.parse().unwrap_or(chrono_tz::Asia::Shanghai);
            let thread = i32::try_from(r.thread_id).ok().filter(|t| *t != 0);
            let mut ok = true;
            for text in super::telegram::digest_messages(&items, tz) {
                if self.flood.paused_until(chat, Utc::now()).is_some() {
                    ok = false;
                    break;
                }
                self.flood.ready(chat).await;
                if let Err(e) = sender.send(chat, thread, &text).await {
                    if let SendError::RetryAfter(wait) = &e {
                        let until = Utc::now() + chrono::Duration::from_std(*wait).unwrap_or_default();
                        self.flood.pause(chat, until);
                        self.flood.hold_all(*wait);
                    }
                    tracing::warn!(recipient = r.id, "digest not sent, will retry: {e}");
                    ok = false;
                    break;
                }
            }
            if ok {
                self.store.finish_digest(r.id, &ids, now).await?;
                if !ids.is_empty() {
                    sent += 1;
                    telemetry::digest_finished("telegram", DeliveryResult::Sent);
                }
            } else {
                telemetry::digest_finished("telegram", DeliveryResult::Retry);
            }
        }
        Ok(sent)
    }

    async fn send(&self, c: &Claimed) -> DeliveryOutcome {
        let now = Utc::now();
        let a = &c.item.article;
        if !c.recipient.filters.pass(&a.title, a.summary.as_deref()) {
            return DeliveryOutcome::Filtered;
        }
        self.send_telegram(c, now).await
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
            return DeliveryOutcome::Postpone { due: Some(until) };
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
                self.flood.hold_all(wait);
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

/// Counts a recorded outcome in the process metrics under its channel. A postponement is
/// not counted: it was no attempt.
fn count(c: &Claimed, outcome: &DeliveryOutcome) {
    let result = match outcome {
        DeliveryOutcome::Sent => DeliveryResult::Sent,
        DeliveryOutcome::Retry { .. } | DeliveryOutcome::Migrate { .. } => DeliveryResult::Retry,
        DeliveryOutcome::Failed { .. } => DeliveryResult::Failed,
        DeliveryOutcome::Bounced { .. } => DeliveryResult::Bounced,
        DeliveryOutcome::Deactivate { .. } | DeliveryOutcome::Filtered => DeliveryResult::Cancelled,
        DeliveryOutcome::Postpone { .. } => return,
    };
    telemetry::delivery_finished(&c.recipient.kind, result);
}

/// A claimed delivery and the moment after which sending it could outlive its lease.
struct Held {
    claimed: Claimed,
    deadline: Instant,
}

/// Deliveries claimed and not finished yet: one queue per recipient, in claim order (oldest
/// item first), recipients in the order they were first claimed.
#[derive(Default)]
struct InHand {
    queues: Vec<VecDeque<Held>>,
    by_recipient: HashMap<i64, usize>,
    count: usize,
}

impl InHand {
    fn add(&mut self, claimed: Vec<Claimed>, deadline: Instant) {
        for c in claimed {
            let i = *self.by_recipient.entry(c.recipient.id).or_insert_with(|| {
                self.queues.push(VecDeque::new());
                self.queues.len() - 1
            });
            self.queues[i].push_back(Held { claimed: c, deadline });
            self.count += 1;
        }
    }

    fn pop(&mut self, i: usize) -> Option<Held> {
        let held = self.queues[i].pop_front()?;
        self.count -= 1;
        Some(held)
    }

    /// One recipient's whole queue.
    fn take(&mut self, i: usize) -> VecDeque<Held> {
        let queue = std::mem::take(&mut self.queues[i]);
        self.count -= queue.len();
        queue
    }

    /// Everything in hand.
    fn take_all(&mut self) -> Vec<Held> {
        self.count = 0;
        self.queues.iter_mut().flat_map(std::mem::take).collect()
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
