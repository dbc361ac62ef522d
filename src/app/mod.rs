//! Wires configuration, store, fetcher and ingest together for the commands.

mod backfill;
mod check;
mod daemon;
mod deliver;
mod demo;
mod email;
mod export;
pub mod leader;
mod migrate;
mod opml_import;
mod report;
mod subscriptions;

pub use backfill::{BackfillError, BackfillReport, MAX_BACKFILL_PAGES};
pub use check::{CheckReport, CheckRow, check_source};
pub use daemon::{Signals, bind, run_daemon};
pub use demo::{DemoOptions, run_demo};
pub use email::{CONFIRM_VALIDITY, SubscribeError, SubscribeInput};
pub use export::render_site;
pub use migrate::{MigrateReport, TABLES, migrate};
pub use opml_import::{ImportError, ImportOptions, ImportReport, ImportRow, Outcome, import_opml};
pub use report::{poll_table, sources_table};

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;

use crate::config::{Config, Recipe};
use crate::ingest::{Ingest, PollReport};
use crate::source::fetch::Fetcher;
use crate::store::{self, Store};

/// The running application: configuration plus the shared store and fetcher.
#[derive(Clone)]
pub struct App {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Ingest (fetcher + store + regions).
    pub ingest: Ingest,
    /// Telegram's flood limits, shared by the outbox worker and the bot's replies.
    pub flood: Arc<crate::notify::flood::FloodControl>,
    /// The email channel (pooled SMTP client and mail context), when email is on.
    pub mail: Option<Arc<crate::notify::outbox::MailChannel>>,
}

impl App {
    /// Opens the store named by the configuration and builds the fetcher.
    pub async fn open(config: Config) -> anyhow::Result<App> {
        let store = store::open(&config.storage.url)
            .await
            .with_context(|| format!("opening storage {}", store::redacted(&config.storage.url)))?;
        let app = Self::with_store(config, store)?;
        app.sync_channels().await?;
        Ok(app)
    }

    /// Builds the application on an already opened store.
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<App> {
        let fetcher = Fetcher::new(config.fetch.clone()).context("building the HTTP client")?;
        let ingest = Ingest {
            fetcher,
            store: store.clone(),
            regions: config.regions.clone(),
            baseline_push: config.poll.baseline_push,
        };
        let mail = Self::mail_channel(&config)?;
        Ok(App {
            flood: Arc::new(crate::notify::flood::FloodControl::new(config.telegram.limits)),
            config: Arc::new(config),
            store,
            ingest,
            mail,
        })
    }

    /// The email channel for `config`, when email is on (its links use the public URL).
    pub fn mail_channel(config: &Config) -> anyhow::Result<Option<Arc<crate::notify::outbox::MailChannel>>> {
        use crate::notify::email::{MailContext, Mailer};
        let secrets = &config.secrets;
        let (Some(url), Some(key)) = (&secrets.smtp_url, &secrets.secret_key) else {
            return Ok(None);
        };
        let public = config.public_url();
        let from = match &secrets.email_from {
            Some(from) => from.clone(),
            None => format!("tidings@{}", public.host_str().unwrap_or("localhost")),
        };
        let connections = config.email.connections;
        let mailer =
            Mailer::new(url, u32::try_from(connections).unwrap_or(8)).context("building the SMTP client")?;
        let context = MailContext::new(&from, &public, key, config.regions.clone())
            .context("[email] from: set it to the address mail is sent from, like news@example.org")?;
        Ok(Some(crate::notify::outbox::MailChannel::new(
            mailer,
            context,
            connections,
        )))
    }

    /// The recipes named, or every enabled recipe when `ids` is empty.
    pub fn select_sources(&self, ids: &[String]) -> anyhow::Result<Vec<Recipe>> {
        if ids.is_empty() {
            return Ok(self
                .config
                .sources
                .iter()
                .filter(|s| s.enabled)
                .cloned()
                .collect());
        }
        ids.iter()
            .map(|id| {
                self.config
                    .source(id)
                    .cloned()
                    .with_context(|| format!("no source `{id}`; known sources: {}", self.source_ids()))
            })
            .collect()
    }

    /// Every configured source id, comma-separated (for "no such source" messages).
    fn source_ids(&self) -> String {
        let ids: Vec<&str> = self.config.sources.iter().map(|s| s.id.as_str()).collect();
        ids.join(", ")
    }

    /// Polls the given sources concurrently (bounded by `[poll] concurrency`) and reports each.
    pub async fn poll_round(&self, sources: &[Recipe]) -> Vec<Result<PollReport, String>> {
        use futures::StreamExt;
        futures::stream::iter(sources.iter().cloned())
            .map(|r| {
                let app = self.clone();
                async move { app.poll_one(&r).await }
            })
            .buffered(self.config.poll.concurrency)
            .collect()
            .await
    }

    /// Polls one source with the poll timeout; a timeout or store error is recorded as a failure.
    /// Every poll is counted in the process metrics (`tidings poll` and the daemon alike).
    pub async fn poll_one(&self, recipe: &Recipe) -> Result<PollReport, String> {
        use crate::telemetry::{PollOutcome, poll_finished};
        let now = Utc::now();
        let limit = self.config.poll.timeout;
        let outcome = tokio::time::timeout(limit, self.ingest.poll(recipe, now)).await;
        let err = match outcome {
            Ok(Ok(report)) => {
                // A poll with errors is recorded as failed by the store too.
                let outcome = if report.errors.is_empty() {
                    PollOutcome::Ok
                } else {
                    PollOutcome::Failed
                };
                poll_finished(
                    &recipe.id,
                    outcome,
                    report.new.len(),
                    report.updated.len(),
                    report.failed,
                );
                return Ok(report);
            }
            Ok(Err(e)) => format!("storing the poll failed: {e}"),
            Err(_) => format!("poll took longer than {}s and was abandoned", limit.as_secs()),
        };
        poll_finished(&recipe.id, PollOutcome::Failed, 0, 0, 0);
        if let Err(e) = self.store.record_failure(&recipe.id, &err, now).await {
            tracing::error!(source = %recipe.id, "cannot record failure: {e}");
        }
        Err(err)
    }
}
