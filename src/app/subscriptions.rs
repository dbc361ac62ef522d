//! `tidings subscribe`, `unsubscribe` and `subscriptions` for email addresses and Telegram
//! chats.

use anyhow::Context;
use chrono::Utc;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use super::App;
use super::email::SubscribeInput;
use crate::cli::{SubscribeArgs, Who};
use crate::notify::topics::{parse_topic, show_topic};
use crate::store::{Filters, RecipientSpec, Topic};

impl App {
    /// `tidings subscribe`: an address is mailed a confirmation link (or, with
    /// `--confirmed`, subscribed at once); a chat is subscribed at once. Returns what was done.
    pub async fn subscribe_cli(&self, args: &SubscribeArgs) -> anyhow::Result<String> {
        let filters = (args.include.is_some() || args.exclude.is_some()).then(|| Filters {
            include: args.include.clone(),
            exclude: args.exclude.clone(),
        });
        let input = SubscribeInput {
            email: args.who.email.clone().unwrap_or_default(),
            regions: args.region.clone(),
            tags: args.tag.clone(),
            topics: args.topic.clone(),
            mode: args.mode.clone(),
            at: args.at.clone(),
            weekday: args.weekday.clone(),
            tz: args.tz.clone(),
        };
        if let Some(chat) = args.who.telegram {
            let topics = self
                .subscribe_telegram(chat, args.thread, &args.region, &args.tag, &args.topic, filters)
                .await?;
            if args.mode.is_some() || args.at.is_some() || args.weekday.is_some() || args.tz.is_some() {
                let prefs = super::email::check_prefs(&input)?;
                self.store
                    .set_recipient_prefs("telegram", &chat.to_string(), args.thread.unwrap_or(0), &prefs)
                    .await?;
            }
            return Ok(format!(
                "telegram {chat}: subscribed to {}",
                self.show_topics(&topics)
            ));
        }
        let mut request = self.check_subscription(&input)?;
        if let Some(f) = filters {
            f.validate().map_err(anyhow::Error::msg)?;
            request.filters = f;
        }
        let topics = self.show_topics(&request.topics);
        if args.confirmed {
            self.subscribe_confirmed(&request).await?;
            return Ok(format!("email {}: subscribed to {topics}", request.address));
        }
        let address = request.address.clone();
        self.request_subscription(request, Utc::now()).await.map_err(|e| match e {
            super::SubscribeError::MailOff => anyhow::anyhow!(
                "email is off (set TIDINGS_SMTP_URL and TIDINGS_SECRET_KEY), so no confirmation mail can be sent; pass --confirmed if the address's owner already agreed"
            ),
            other => anyhow::Error::new(other),
        })?;
        Ok(format!(
            "email {address}: confirmation mail sent; {topics} starts once the link in it is followed (valid 48 hours)"
        ))
    }

    /// `tidings unsubscribe`: removes the recipient and its queued deliveries.
    pub async fn unsubscribe_cli(&self, who: &Who, thread: Option<i64>) -> anyhow::Result<String> {
        let (kind, address) = match (&who.email, who.telegram) {
            (Some(email), _) => ("email", crate::notify::email::normalize_address(email)?),
            (None, Some(chat)) => ("telegram", chat.to_string()),
            (None, None) => anyhow::bail!("name --email ADDRESS or --telegram CHAT_ID"),
        };
        let removed = self
            .store
            .remove_recipient(kind, &address, thread.unwrap_or(0))
            .await?;
        anyhow::ensure!(removed, "{kind} {address} has no subscription");
        Ok(format!("{kind} {address}: unsubscribed"))
    }

    fn show_topics(&self, topics: &[Topic]) -> String {
        let shown: Vec<String> = topics
            .iter()
            .map(|t| show_topic(t, &self.config.regions))
            .collect();
        shown.join(" ")
    }

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
            "mode",
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
                match r.mode.as_str() {
                    "daily" => format!("daily {}", r.digest_at.as_deref().unwrap_or("08:00")),
                    "weekly" => format!(
                        "weekly {} {}",
                        r.digest_weekday.as_deref().unwrap_or("mon"),
                        r.digest_at.as_deref().unwrap_or("08:00")
                    ),
                    other => other.to_owned(),
                },
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
