//! Delivery wiring: configured channels become recipients, and an [`Outbox`] is built from
//! the configuration (Telegram on when its token is set, email when SMTP and the key are).

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;

use super::App;
use crate::notify::clock::Clock;
use crate::notify::outbox::{Channels, Outbox};
use crate::notify::telegram::TelegramSender;
use crate::store::RecipientSpec;

impl App {
    /// Makes the recipients of origin `config` exactly the configured Telegram channels.
    pub async fn sync_channels(&self) -> anyhow::Result<()> {
        let now = Utc::now();
        let configured = &self.config.telegram.channels;
        for c in configured {
            let spec = RecipientSpec {
                kind: "telegram".into(),
                address: c.chat_id.to_string(),
                thread_id: c.thread_id,
                origin: "config".into(),
                topics: c.topics.clone(),
                filters: Some(c.filters.clone()),
            };
            self.store
                .save_recipient(&spec, now)
                .await
                .context("saving a configured channel")?;
        }
        for r in self.store.recipients().await? {
            let listed = configured
                .iter()
                .any(|c| c.chat_id.to_string() == r.address && c.thread_id == r.thread_id);
            if r.origin == "config" && !listed {
                self.store
                    .remove_recipient(&r.kind, &r.address, r.thread_id)
                    .await?;
            }
        }
        Ok(())
    }

    /// This process's name in leases and claims: host and pid.
    pub fn worker_name(&self) -> String {
        format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "tidings".into()),
            std::process::id()
        )
    }

    /// The outbox worker for this process, its digests scheduled by the system clock (or
    /// the test clock named by `TIDINGS_TEST_CLOCK`).
    pub fn outbox(&self) -> anyhow::Result<Outbox> {
        self.outbox_with(Clock::from_env())
    }

    /// The outbox worker with digests scheduled by `clock`.
    pub fn outbox_with(&self, clock: Clock) -> anyhow::Result<Outbox> {
        let secrets = &self.config.secrets;
        let telegram = match &secrets.telegram_token {
            Some(token) => Some(Arc::new(
                TelegramSender::new(
                    token.expose(),
                    &secrets.telegram_api_url,
                    self.config.telegram.link_preview,
                )
                .context("building the Telegram client")?,
            )),
            None => None,
        };
        let worker = self.worker_name();
        let channels = Channels {
            telegram,
            mail: self.mail.clone(),
        };
        Ok(Outbox::new(
            self.store.clone(),
            channels,
            self.flood.clone(),
            worker,
            self.config.telegram.lease,
            clock,
        ))
    }
}
