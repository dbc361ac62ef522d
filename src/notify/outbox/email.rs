//! The outbox's email side: instant mails and digests, several at once over the SMTP
//! connection pool (mail has no flood limits to keep, unlike Telegram).
//!
//! Instant mode sends one mail per delivery — one per (item, address) — so that each mail
//! is claimed, retried and counted on its own and keeps one `Message-ID` across retries.
//! A temporary refusal (4xx) or a lost connection retries with backoff; a permanent one
//! (5xx) fails the delivery and counts towards the address's suspension.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::time::Instant;

use super::{DeliverReport, Outbox, retry_later};
use crate::notify::email::{MailContext, Mailer, SendFailure, digest_mail, item_mail};
use crate::store::{Claimed, DeliveryOutcome, Recipient, StoreError};
use crate::telemetry::{self, DeliveryResult};

/// Deliveries claimed per round, per connection: enough to keep every connection busy,
/// few enough that instances sharing a database split the queue evenly.
const BATCH_PER_CONNECTION: usize = 4;

/// What sending mail needs: the pooled SMTP transport and what every message is built from.
pub struct MailChannel {
    /// The SMTP client.
    pub mailer: Mailer,
    /// From, link signing, region names.
    pub context: MailContext,
    /// Mails sent at once (the pool's size).
    pub connections: usize,
}

impl Outbox {
    /// Sends every due email delivery, [`MailChannel::connections`] at a time. Without an
    /// email channel nothing is claimed: the deliveries wait until email is configured.
    pub(super) async fn deliver_mail(&self) -> Result<DeliverReport, StoreError> {
        let mut report = DeliverReport::default();
        let Some(mail) = &self.mail else {
            return Ok(report);
        };
        loop {
            if self.stopping.is_cancelled() {
                return Ok(report);
            }
            let claimed_at = Instant::now();
            let batch = i64::try_from(mail.connections * BATCH_PER_CONNECTION).unwrap_or(i64::MAX);
            let claimed = self
                .store
                .claim_deliveries("email", &self.worker, Utc::now(), self.lease, batch)
                .await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            // Nothing starts after three quarters of the lease: another worker may take it then.
            let deadline = claimed_at + self.lease - self.lease / 4;
            // Each mail records its own outcome as soon as it is known, so a commit never
            // holds up the other sends.
            let mut sends = futures::stream::iter(claimed)
                .map(|c| async move {
                    let outcome = if Instant::now() > deadline || self.stopping.is_cancelled() {
                        DeliveryOutcome::Postpone { due: None }
                    } else {
                        self.send_mail(mail, &c).await
                    };
                    let mut done = DeliverReport::default();
                    self.finish(&c, &outcome, &mut done).await.map(|()| done)
                })
                .buffer_unordered(mail.connections);
            while let Some(done) = sends.next().await {
                report.add(done?);
            }
        }
    }

    async fn send_mail(&self, mail: &MailChannel, c: &Claimed) -> DeliveryOutcome {
        let now = Utc::now();
        let a = &c.item.article;
        if !c.recipient.filters.pass(&a.title, a.summary.as_deref()) {
            return DeliveryOutcome::Filtered;
        }
        let message = match item_mail(&mail.context, &c.recipient, &c.item, c.id) {
            Ok(m) => m,
            Err(e) => {
                return DeliveryOutcome::Failed {
                    error: format!("cannot build the mail: {e}"),
                };
            }
        };
        match mail.mailer.send(&message).await {
            Ok(()) => DeliveryOutcome::Sent,
            Err(SendFailure::Temporary(e)) => retry_later(c, now, e),
            Err(SendFailure::Permanent(e)) => DeliveryOutcome::Bounced { error: e },
        }
    }

    /// Email digests due at `now`, [`MailChannel::connections`] at a time.
    pub(super) async fn mail_digests(
        &self,
        recipients: &[Recipient],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(mail) = &self.mail else {
            return Ok(0);
        };
        let due: Vec<Recipient> = recipients
            .iter()
            .filter(|r| r.kind == "email" && r.state == "active" && crate::notify::digest::is_due(r, now))
            .cloned()
            .collect();
        let mut sends = futures::stream::iter(due)
            .map(|r| async move { self.mail_digest(mail, &r, now).await })
            .buffer_unordered(mail.connections);
        let mut sent = 0;
        while let Some(done) = sends.next().await {
            sent += usize::from(done?);
        }
        Ok(sent)
    }

    /// One recipient's digest: sent and then marked done (an empty one is only marked). A
    /// temporary failure leaves it for the next check; a permanent one counts towards the
    /// address's suspension and is tried again at the next check until then.
    async fn mail_digest(
        &self,
        mail: &MailChannel,
        r: &Recipient,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self.stopping.is_cancelled() {
            // Left for the next check (after the restart, or on another instance).
            return Ok(false);
        }
        let mut items = self.store.digest_items(r.id).await?;
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        items.retain(|i| r.filters.pass(&i.article.title, i.article.summary.as_deref()));
        if items.is_empty() {
            self.store.finish_digest(r.id, &ids, now).await?;
            return Ok(false);
        }
        let scheduled = crate::notify::digest::last_scheduled(r, now).unwrap_or(now);
        let message = match digest_mail(&mail.context, r, &items, scheduled) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(recipient = r.id, "cannot build the digest mail: {e}");
                telemetry::digest_finished("email", DeliveryResult::Failed);
                return Ok(false);
            }
        };
        match mail.mailer.send(&message).await {
            Ok(()) => {
                self.store.finish_digest(r.id, &ids, now).await?;
                telemetry::digest_finished("email", DeliveryResult::Sent);
                Ok(true)
            }
            Err(SendFailure::Temporary(e)) => {
                tracing::warn!(recipient = r.id, "digest mail not sent, will retry: {e}");
                telemetry::digest_finished("email", DeliveryResult::Retry);
                Ok(false)
            }
            Err(SendFailure::Permanent(e)) => {
                let suspended = self.store.record_bounce(r.id, &e, Utc::now()).await?;
                tracing::warn!(recipient = r.id, suspended, "digest mail refused: {e}");
                telemetry::digest_finished("email", DeliveryResult::Bounced);
                Ok(false)
            }
        }
    }
}

impl MailChannel {
    /// Wraps a mailer and context to send at most `connections` mails at once.
    pub fn new(mailer: Mailer, context: MailContext, connections: usize) -> Arc<MailChannel> {
        Arc::new(MailChannel {
            mailer,
            context,
            connections: connections.max(1),
        })
    }
}
