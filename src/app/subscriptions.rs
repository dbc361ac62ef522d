//! `tidings subscribe`, `unsubscribe` and `subscriptions` for Telegram chats.

use anyhow::Context;
use chrono::Utc;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use super::App;
use crate::notify::topics::{parse_topic, show_topic};
use crate::store::{Filters, RecipientSpec, Topic};

impl App {
    /// Subscribes a chat to topics given as regions, tags and `a+b` topics, optionally
    /// replacing its include/exclude filters.
    pub async fn subscribe_telegram(
        &self,
        chat: i64,
        thread: Option<i64>,
        regions: &[String],
        tags: &[String],
        topics: &[String],
        filters: Option<Filters>,
    ) -> anyhow::Result<Vec<Topic>> {
        if let Some(f) = &filters {
            f.validate().map_err(anyhow::Error::msg)?;
        }
        let mut parsed = Vec::new();
        for r in regions {
            let region = self
                .config
                .regions
                .find(r)
                .with_context(|| format!("unknown region `{r}`; configured: {}", self.region_names()))?;
            parsed.push(Topic {
                region: Some(region.slug.clone()),
                tag: None,
            });
        }
        for t in tags {
            parsed.push(Topic {
                region: None,
                tag: Some(t.trim().trim_start_matches('#').to_owned()),
            });
        }
        for t in topics {
            parsed.push(parse_topic(t, &self.config.regions).map_err(anyhow::Error::msg)?);
        }
        anyhow::ensure!(!parsed.is_empty(), "name at least one --region, --tag or --topic");
        parsed.sort();
        parsed.dedup();
        let spec = RecipientSpec {
            kind: "telegram".into(),
            address: chat.to_string(),
            thread_id: thread.unwrap_or(0),
            origin: "cli".into(),
            topics: parsed.clone(),
            filters,
        };
        self.store.save_recipient(&spec, Utc::now()).await?;
        Ok(parsed)
    }

    fn region_names(&self) -> String {
        let names: Vec<&str> = self
            .config
            .regions
            .regions()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        names.join("、")
    }

    /// A table of every recipient and the queue totals.
    pub async fn subscriptions_table(&self) -> anyhow::Result<String> {
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY).set_header([
            "kind",
            "recipient",
            "thread",
            "state",
            "origin",
            "topics",
            "queued",
            "sent",
            "failed",
            "cancelled",
        ]);
        for r in self.store.recipients().await? {
            let topics: Vec<String> = r
                .topics
                .iter()
                .map(|t| show_topic(t, &self.config.regions))
                .collect();
            let state = match &r.state_reason {
                Some(why) => format!("{} ({why})", r.state),
                None => r.state.clone(),
            };
            t.add_row([
                r.kind.clone(),
                r.address.clone(),
                if r.thread_id == 0 {
                    String::new()
                } else {
                    r.thread_id.to_string()
                },
                state,
                r.origin.clone(),
                topics.join(" "),
                r.counts[0].to_string(),
                r.counts[1].to_string(),
                r.counts[2].to_string(),
                r.counts[3].to_string(),
            ]);
        }
        let s = self.store.outbox_stats(Utc::now()).await?;
        let oldest = s
            .oldest_queued_secs
            .map_or_else(|| "—".to_owned(), |o| format!("{o}s"));
        Ok(format!(
            "{t}\nqueue: {} queued (oldest {oldest}), {} sent, {} retried, {} failed, {} cancelled\n",
            s.queued, s.sent, s.retried, s.failed, s.cancelled
        ))
    }
}
