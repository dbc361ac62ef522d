//! The bot's update loop: long-polls `getUpdates`, answers commands, announces alerts.
//!
//! [`run_bot`] runs two loops until shutdown:
//! - **updates**: `getUpdates` with offsets and a long-poll timeout, over private chats,
//!   groups (commands may be written `/cmd@botname`) and channels (`channel_post`). Each
//!   command is handled in order; changes to a group's subscription need a group
//!   administrator (checked with `getChatMember`; anonymous admins count). Errors back off
//!   exponentially; a 409 (another process polls this bot, or a webhook is set) is logged
//!   once per episode. Handled updates are confirmed at shutdown so a restart does not
//!   answer them twice.
//! - **alerts**: with `[telegram] operator_chat` set, every 30 s each alert not yet announced
//!   is sent to that chat once, then marked in the store.
//!
//! Replies go straight to the chat (not through the outbox), one queue per chat so that they
//! keep their order, paced by the configured flood limits. The token is in every request URL:
//! every error text built here goes through [`redact`] first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use teloxide::payloads::GetUpdatesSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{AllowedUpdate, BotCommand, Message, Update, UpdateKind};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::commands::{
    Command, DigestRequest, Invocation, Understood, describe_mode, help_text, list_reply, parse_command,
    parse_digest, parse_tz, refusal_line, show_subscription, show_topics, subscribe_usage, understand,
    weekday_zh, words,
};
use super::format::escape_html;
use super::send::{SendError, TelegramSender};
use crate::app::App;
use crate::notify::flood::FloodControl;
use crate::notify::topics::parse_topic;
use crate::store::{Alert, Recipient, RecipientPrefs, RecipientSpec, StoreError, Topic};

/// The reply to a group member who is not an administrator.
pub const NOT_ADMIN: &str = "只有群管理员可以修改本群的订阅。";
/// Telegram's user id for messages of anonymous group administrators.
const GROUP_ANONYMOUS_BOT: u64 = 1_087_968_824;
/// A chat may subscribe to at most this many topics.
const MAX_TOPICS: usize = 100;
/// Alerts older than this when first seen are marked without being sent.
const STALE_ALERT: chrono::Duration = chrono::Duration::days(7);
/// A chat's reply queue ends after this long without replies.
const QUEUE_IDLE: Duration = Duration::from_secs(60);

/// Timing of the bot's loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotOptions {
    /// Long-poll timeout of `getUpdates`.
    pub poll_timeout: Duration,
    /// How often the store is checked for alerts to announce.
    pub alert_interval: Duration,
    /// First wait after a failed `getUpdates`; doubled per failure up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest wait between failed `getUpdates` (an invalid token waits ten times longer).
    pub max_backoff: Duration,
}

impl Default for BotOptions {
    fn default() -> Self {
        BotOptions {
            poll_timeout: Duration::from_secs(25),
            alert_interval: Duration::from_secs(30),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Runs the bot until `shutdown` is cancelled: answers commands and announces alerts to the
/// operator chat. Returns at once when Telegram is off (no token).
pub async fn run_bot(app: App, shutdown: CancellationToken) {
    run_bot_with(app, shutdown, BotOptions::default()).await;
}

/// [`run_bot`] with explicit timings (tests use short ones).
pub async fn run_bot_with(app: App, shutdown: CancellationToken, options: BotOptions) {
    let Some(bot) = BotRuntime::new(app, shutdown.clone(), options) else {
        return;
    };
    let bot = Arc::new(bot);
    tokio::join!(bot.poll_updates(), bot.announce_alerts());
}

/// What the bot's loops share.
struct BotRuntime {
    app: App,
    /// For `getUpdates`, `getChatMember`, `setMyCommands` (its client allows long polls).
    bot: Bot,
    token: String,
    /// For replies and alerts (HTML, with the plain-text fallback).
    sender: Arc<TelegramSender>,
    flood: Arc<FloodControl>,
    replies: Arc<Replies>,
    /// The bot's username once `getMe` answered.
    me: Mutex<Option<String>>,
    shutdown: CancellationToken,
    options: BotOptions,
}

/// A chat and, in forum supergroups, the topic the command was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    chat: i64,
    thread: Option<i32>,
}

impl Place {
    fn address(&self) -> String {
        self.chat.to_string()
    }

    fn thread_id(&self) -> i64 {
        self.thread.map_or(0, i64::from)
    }
}

/// Which condition the update loop already logged (logged once until a poll succeeds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logged {
    Conflict,
    Webhook,
    Token,
    Failing,
}

impl BotRuntime {
    fn new(app: App, shutdown: CancellationToken, options: BotOptions) -> Option<BotRuntime> {
        let token = app.config.secrets.telegram_token.as_ref()?.expose().to_owned();
        let api = app.config.secrets.telegram_api_url.clone();
        let sender = match TelegramSender::new(&token, &api, false) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::error!("Telegram bot not started: {e}");
                return None;
            }
        };
        let mut base = api;
        base.set_query(None);
        base.set_fragment(None);
        if let Ok(mut segments) = base.path_segments_mut() {
            segments.pop_if_empty();
        }
        let client = match teloxide::net::default_reqwest_settings()
            .timeout(options.poll_timeout + Duration::from_secs(15))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "Telegram bot not started: HTTP client: {}",
                    redact(&token, &chain(&e))
                );
                return None;
            }
        };
        let bot = Bot::with_client(token.clone(), client).set_api_url(base);
        let flood = app.flood.clone();
        let replies = Arc::new(Replies {
            sender: sender.clone(),
            flood: flood.clone(),
            queues: Mutex::new(HashMap::new()),
            shutdown: shutdown.clone(),
        });
        Some(BotRuntime {
            app,
            bot,
            token,
            sender,
            flood,
            replies,
            me: Mutex::new(None),
            shutdown,
            options,
        })
    }

    /// A teloxide error as text, without the token.
    fn describe(&self, e: &RequestError) -> String {
        let text = match e {
            RequestError::Network(inner) => format!("network: {}", chain(&**inner)),
            RequestError::InvalidJson { raw, .. } => {
                let raw: String = raw.chars().take(200).collect();
                format!("unreadable Bot API answer: {raw}")
            }
            other => other.to_string(),
        };
        redact(&self.token, &text)
    }

    fn me(&self) -> Option<String> {
        self.me.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Asks `getMe` for the bot's username (to tell `/cmd@us` from `/cmd@other`), and once
    /// known registers the command menu.
    async fn learn_me(&self) {
        let name = match self.sender.me().await {
            Ok(name) => name,
            Err(e) => {
                tracing::debug!("getMe failed: {e}");
                return;
            }
        };
        tracing::info!(bot = %name, "Telegram bot answering commands");
        *self.me.lock().unwrap_or_else(PoisonError::into_inner) = Some(name);
        let commands = [
            ("subscribe", "订阅地区或标签，例如 /subscribe 晋中 高质量"),
            ("unsubscribe", "取消订阅；不带参数则取消全部"),
            ("list", "查看本聊天的订阅"),
            ("digest", "推送方式：off | daily HH:MM | weekly mon HH:MM"),
            ("tz", "设置时区，例如 /tz Asia/Shanghai"),
            ("help", "使用说明"),
        ]
        .map(|(command, description)| BotCommand {
            command: command.into(),
            description: description.into(),
        });
        if let Err(e) = self.bot.set_my_commands(commands).await {
            tracing::warn!("could not register the command menu: {}", self.describe(&e));
        }
    }

    /// The update loop; see the module docs.
    async fn poll_updates(&self) {
        let shutdown = self.shutdown.clone();
        let timeout = u32::try_from(self.options.poll_timeout.as_secs()).unwrap_or(u32::MAX);
        let mut offset: i32 = 0;
        let mut confirmed: i32 = 0;
        let mut failures: u32 = 0;
        let mut logged: Option<Logged> = None;
        'polling: loop {
            if self.me().is_none() {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.learn_me() => {}
                }
            }
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(timeout)
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::ChannelPost]);
            let answer = tokio::select! {
                () = shutdown.cancelled() => break,
                answer = request.send() => answer,
            };
            confirmed = offset;
            let updates = match answer {
                Ok(updates) => updates,
                Err(RequestError::InvalidJson { raw, .. }) if let Some(salvaged) = salvage(&raw) => {
                    tracing::warn!(
                        skipped = salvaged.skipped,
                        "some Telegram updates could not be read and were skipped"
                    );
                    offset = offset.max(salvaged.next_offset);
                    salvaged.updates
                }
                Err(e) => {
                    failures += 1;
                    let wait = self.poll_failed(&e, failures, &mut logged);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                    continue;
                }
            };
            if logged.take().is_some() {
                tracing::info!("Telegram getUpdates works again");
            }
            failures = 0;
            for update in updates {
                offset = offset.max(next_offset(&update));
                tokio::select! {
                    () = shutdown.cancelled() => break 'polling,
                    () = self.handle(update) => {}
                }
            }
        }
        if offset > confirmed {
            // Confirm what was handled, so that a restart does not answer it again.
            let confirm = self.bot.get_updates().offset(offset).timeout(0).limit(1).send();
            let _ = tokio::time::timeout(Duration::from_secs(2), confirm).await;
        }
    }

    /// Logs a failed `getUpdates` (once per condition) and says how long to wait.
    fn poll_failed(&self, e: &RequestError, failures: u32, logged: &mut Option<Logged>) -> Duration {
        let o = &self.options;
        let backoff = |max: Duration| {
            let exp = o
                .min_backoff
                .saturating_mul(1 << failures.saturating_sub(1).min(16));
            let base = exp.min(max);
            base + crate::schedule::jitter(base / 4)
        };
        let (kind, wait) = match e {
            RequestError::RetryAfter(seconds) => return seconds.duration(),
            RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => {
                (Logged::Conflict, backoff(o.max_backoff).max(o.min_backoff * 5))
            }
            RequestError::Api(ApiError::CantGetUpdates) => (Logged::Webhook, backoff(o.max_backoff)),
            RequestError::Api(ApiError::InvalidToken) => (Logged::Token, backoff(o.max_backoff * 10)),
            _ => (Logged::Failing, backoff(o.max_backoff)),
        };
        let first = *logged != Some(kind);
        *logged = Some(kind);
        match kind {
            Logged::Conflict if first => tracing::warn!(
                "Telegram answered 409 Conflict: another process is polling this bot's updates; only \
                 one `tidings run` may run the bot. Backing off and retrying."
            ),
            Logged::Webhook if first => tracing::warn!(
                "Telegram refuses getUpdates while a webhook is set for this bot; delete the webhook \
                 (deleteWebhook) to let `tidings run` answer commands. Retrying."
            ),
            Logged::Token if first => tracing::error!(
                "Telegram rejected the bot token (check TIDINGS_TELEGRAM_TOKEN); the bot retries slowly"
            ),
            Logged::Failing => tracing::warn!(
                failures,
                retry_in_secs = wait.as_secs(),
                "Telegram getUpdates failed: {}",
                self.describe(e)
            ),
            _ => tracing::debug!("getUpdates failed again: {}", self.describe(e)),
        }
        wait
    }

    /// Handles one update: a text message or channel post starting with a command.
    async fn handle(&self, update: Update) {
        let message = match update.kind {
            UpdateKind::Message(m) | UpdateKind::ChannelPost(m) => m,
            _ => return,
        };
        let Some(text) = message.text() else { return };
        let place = Place {
            chat: message.chat.id.0,
            thread: message
                .is_topic_message
                .then_some(message.thread_id)
                .flatten()
                .map(|t| t.0.0),
        };
        let private = message.chat.is_private();
        let me = self.me();
        let Some(invocation) = parse_command(text, me.as_deref()) else {
            if private {
                self.reply(place, "发送 /help 查看用法。".to_owned());
            }
            return;
        };
        if let Command::Unknown(_) = invocation.command {
            // In groups, other bots' commands are not ours to answer.
            if private || invocation.addressed {
                self.reply(place, "未知命令。发送 /help 查看可用命令。".to_owned());
            }
            return;
        }
        if invocation.command.changes_subscription() {
            match self.may_change(&message).await {
                Some(true) => {}
                Some(false) => {
                    self.reply(place, NOT_ADMIN.to_owned());
                    return;
                }
                None => {
                    self.reply(place, "暂时无法确认您的管理员身份，请稍后再试。".to_owned());
                    return;
                }
            }
        }
        let reply = match self.run(&invocation, place).await {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(chat = place.chat, "bot command failed: {e}");
                "出错了，请稍后再试。".to_owned()
            }
        };
        self.reply(place, reply);
    }

    /// Whether the sender may change this chat's subscription: anyone in a private chat or a
    /// channel (only admins post there), administrators in groups. `None` when Telegram could
    /// not say.
    async fn may_change(&self, message: &Message) -> Option<bool> {
        let chat = &message.chat;
        if chat.is_private() || chat.is_channel() {
            return Some(true);
        }
        if let Some(sender_chat) = &message.sender_chat {
            // An anonymous administrator writes as the group itself; a channel writing in the
            // group is not an administrator of it.
            return Some(sender_chat.id == chat.id);
        }
        let user = message.from.as_ref()?;
        if user.id.0 == GROUP_ANONYMOUS_BOT {
            return Some(false);
        }
        match self.bot.get_chat_member(chat.id, user.id).await {
            Ok(member) => Some(member.is_privileged()),
            Err(RequestError::InvalidJson { raw, .. }) => {
                // teloxide wants every field of the current Bot API; the status is enough.
                let v: Value = serde_json::from_str(&raw).ok()?;
                let status = v["result"]["status"].as_str()?;
                Some(matches!(status, "creator" | "administrator"))
            }
            Err(e) => {
                tracing::warn!(chat = chat.id.0, "getChatMember failed: {}", self.describe(&e));
                None
            }
        }
    }

    /// Runs a command; the reply in HTML.
    async fn run(&self, invocation: &Invocation<'_>, place: Place) -> Result<String, StoreError> {
        let regions = &self.app.config.regions;
        match invocation.command {
            Command::Start | Command::Help => Ok(help_text(regions, &self.known_tags().await?)),
            Command::List => Ok(list_reply(self.recipient(place).await?.as_ref(), regions)),
            Command::Subscribe => self.subscribe(invocation.args, place).await,
            Command::Unsubscribe => self.unsubscribe(invocation.args, place).await,
            Command::Digest => self.digest(invocation.args, place).await,
            Command::Tz => self.time_zone(invocation.args, place).await,
            Command::Unknown(_) => Ok(String::new()),
        }
    }

    /// Tags the store knows, most used first.
    async fn known_tags(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .app
            .store
            .tag_facets()
            .await?
            .into_iter()
            .map(|f| f.key)
            .collect())
    }

    /// The chat's (and topic's) recipient, if it has one.
    async fn recipient(&self, place: Place) -> Result<Option<Recipient>, StoreError> {
        let address = place.address();
        Ok(self
            .app
            .store
            .recipients()
            .await?
            .into_iter()
            .find(|r| r.kind == "telegram" && r.address == address && r.thread_id == place.thread_id()))
    }

    async fn save(&self, place: Place, origin: &str, topics: Vec<Topic>) -> Result<(), StoreError> {
        let spec = RecipientSpec {
            kind: "telegram".into(),
            address: place.address(),
            thread_id: place.thread_id(),
            origin: origin.to_owned(),
            topics,
            filters: None,
        };
        self.app.store.save_recipient(&spec, Utc::now()).await?;
        Ok(())
    }

    async fn subscribe(&self, args: &str, place: Place) -> Result<String, StoreError> {
        let regions = &self.app.config.regions;
        let words = words(args);
        if words.is_empty() {
            return Ok(subscribe_usage(regions));
        }
        let existing = self.recipient(place).await?;
        if let Some(refusal) = config_managed(existing.as_ref()) {
            return Ok(refusal);
        }
        let tags = self.known_tags().await?;
        let mut accepted: Vec<Topic> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        for word in words {
            match understand(word, regions, &tags) {
                Understood::Topic(t) => {
                    if !accepted.contains(&t) {
                        accepted.push(t);
                    }
                }
                other => refused.push(refusal_line(word, &other)),
            }
        }
        if accepted.is_empty() {
            return Ok(refused.join("\n"));
        }
        let mut topics = existing.as_ref().map(|r| r.topics.clone()).unwrap_or_default();
        let before = topics.len();
        let (already, added): (Vec<Topic>, Vec<Topic>) =
            accepted.into_iter().partition(|t| topics.contains(t));
        topics.extend(added.iter().cloned());
        if topics.len() > MAX_TOPICS {
            return Ok(format!(
                "每个聊天最多订阅 {MAX_TOPICS} 个主题；请先用 /unsubscribe 取消一些。"
            ));
        }
        topics.sort();
        let origin = existing.as_ref().map_or("bot", |r| r.origin.as_str());
        // Saved even when nothing is new: it reactivates a chat whose pushes had stopped.
        self.save(place, origin, topics.clone()).await?;
        let mut lines: Vec<String> = Vec::new();
        if !added.is_empty() {
            lines.push(format!("已订阅：{}", show_topics(&added, regions)));
        }
        if !already.is_empty() {
            lines.push(format!("已在订阅中：{}", show_topics(&already, regions)));
        }
        if before > 0 && !added.is_empty() {
            lines.push(format!("当前订阅：{}", show_subscription(&topics, regions)));
        }
        lines.extend(refused);
        if before == 0 {
            lines.push(
                "新文章一发布就会推送到这里；发送 <code>/digest daily 07:30</code> 可改为每日摘要。"
                    .to_owned(),
            );
        }
        Ok(lines.join("\n"))
    }

    async fn unsubscribe(&self, args: &str, place: Place) -> Result<String, StoreError> {
        let regions = &self.app.config.regions;
        let Some(existing) = self.recipient(place).await?.filter(|r| !r.topics.is_empty()) else {
            return Ok("本聊天还没有订阅。".to_owned());
        };
        if let Some(refusal) = config_managed(Some(&existing)) {
            return Ok(refusal);
        }
        let store = &self.app.store;
        let words = words(args);
        if words.is_empty() {
            store
                .remove_recipient("telegram", &place.address(), place.thread_id())
                .await?;
            return Ok("已取消本聊天的全部订阅。".to_owned());
        }
        let mut topics = existing.topics.clone();
        let mut removed: Vec<Topic> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for word in words {
            let found = parse_topic(word, regions).ok().and_then(|wanted| {
                topics.iter().position(|t| {
                    t.region == wanted.region
                        && t.tag.as_deref().map(str::to_lowercase)
                            == wanted.tag.as_deref().map(str::to_lowercase)
                })
            });
            match found {
                Some(i) => removed.push(topics.remove(i)),
                None => missing.push(super::commands::echo(word)),
            }
        }
        let mut reply = String::new();
        if !removed.is_empty() {
            if topics.is_empty() {
                store
                    .remove_recipient("telegram", &place.address(), place.thread_id())
                    .await?;
            } else {
                self.save(place, &existing.origin, topics.clone()).await?;
            }
            reply = format!("已取消：{}", show_topics(&removed, regions));
        }
        if !missing.is_empty() {
            if !reply.is_empty() {
                reply.push('\n');
            }
            reply.push_str(&format!("本聊天没有订阅：{}", missing.join("、")));
        }
        if topics.is_empty() {
            reply.push_str("\n本聊天已没有订阅。");
        } else {
            reply.push_str(&format!("\n当前订阅：{}", show_subscription(&topics, regions)));
        }
        Ok(reply)
    }

    /// Stores preferences for the chat (or forum topic) of `place`.
    async fn set_prefs(&self, place: Place, prefs: &RecipientPrefs) -> Result<bool, StoreError> {
        let store = &self.app.store;
        store
            .set_recipient_prefs("telegram", &place.address(), place.thread_id(), prefs)
            .await
    }

    async fn digest(&self, args: &str, place: Place) -> Result<String, StoreError> {
        let request = match parse_digest(args) {
            Ok(r) => r,
            Err(html) => return Ok(html),
        };
        let Some(existing) = self.recipient(place).await? else {
            return Ok("请先用 /subscribe 订阅，再设置推送方式。".to_owned());
        };
        if let Some(refusal) = config_managed(Some(&existing)) {
            return Ok(refusal);
        }
        let (at, weekday) = match &request {
            DigestRequest::Off => (None, None),
            DigestRequest::Daily { at } => (Some(at.as_str()), None),
            DigestRequest::Weekly { weekday, at } => (Some(at.as_str()), Some(*weekday)),
        };
        let prefs = RecipientPrefs {
            mode: Some(request.mode().to_owned()),
            digest_at: at.map(str::to_owned),
            digest_weekday: weekday.map(str::to_owned),
            tz: None,
        };
        self.set_prefs(place, &prefs).await?;
        let tz = escape_html(&existing.tz);
        Ok(match &request {
            DigestRequest::Off => "已改为即时推送：新文章一发布就推送。".to_owned(),
            DigestRequest::Daily { at } => {
                format!("已设置每日摘要：每天 {at}（{tz}）推送一条摘要。发送 /tz 可更改时区。")
            }
            DigestRequest::Weekly { weekday, at } => format!(
                "已设置每周摘要：每{} {at}（{tz}）推送一条摘要。发送 /tz 可更改时区。",
                weekday_zh(weekday)
            ),
        })
    }

    async fn time_zone(&self, args: &str, place: Place) -> Result<String, StoreError> {
        let tz = match parse_tz(args) {
            Ok(tz) => tz,
            Err(html) => return Ok(html),
        };
        let Some(existing) = self.recipient(place).await? else {
            return Ok("请先用 /subscribe 订阅，再设置时区。".to_owned());
        };
        if let Some(refusal) = config_managed(Some(&existing)) {
            return Ok(refusal);
        }
        let prefs = RecipientPrefs {
            tz: Some(tz.name().to_owned()),
            ..RecipientPrefs::default()
        };
        self.set_prefs(place, &prefs).await?;
        let local = Utc::now().with_timezone(&tz).format("%H:%M");
        let mut reply = format!("已将时区设为 {}（当地时间 {local}）。", escape_html(tz.name()));
        if existing.mode != "instant" {
            reply.push_str(&format!(
                "\n推送方式：{}，按此时区计算。",
                describe_mode(
                    &existing.mode,
                    existing.digest_at.as_deref(),
                    existing.digest_weekday.as_deref()
                )
            ));
        }
        Ok(reply)
    }

    fn reply(&self, place: Place, html: String) {
        if !html.is_empty() {
            self.replies.push(place, html);
        }
    }

    /// The alert loop; see the module docs.
    async fn announce_alerts(&self) {
        let Some(chat) = self.app.config.telegram.operator_chat else {
            return;
        };
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                done = self.announce_once(chat) => if let Err(e) = done {
                    tracing::warn!("cannot announce alerts: {e}");
                },
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = tokio::time::sleep(self.options.alert_interval) => {}
            }
        }
    }

    /// Sends every alert not yet announced to the operator chat (oldest first) and marks it.
    async fn announce_once(&self, chat: i64) -> Result<(), StoreError> {
        let store = &self.app.store;
        let mut pending: Vec<Alert> = store
            .alerts()
            .await?
            .into_iter()
            .filter(|a| a.announced_at.is_none())
            .collect();
        pending.reverse();
        let now = Utc::now();
        for alert in pending {
            if alert.created_at < now - STALE_ALERT {
                store.mark_alert_announced(alert.id).await?;
                continue;
            }
            self.flood.ready(chat).await;
            match self.sender.send(chat, None, &alert_message(&alert)).await {
                Ok(()) => {
                    store.mark_alert_announced(alert.id).await?;
                }
                Err(e) if e.is_transient() => {
                    if let SendError::RetryAfter(wait) = e {
                        self.flood.pause(
                            chat,
                            Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                        );
                    }
                    tracing::warn!(alert = alert.id, "alert not sent to the operator chat yet: {e}");
                    break;
                }
                Err(e) => {
                    tracing::warn!(
                        alert = alert.id,
                        "alert could not be sent to the operator chat and is not retried: {e}"
                    );
                    store.mark_alert_announced(alert.id).await?;
                }
            }
        }
        Ok(())
    }
}

/// The refusal for a chat whose subscription comes from config.toml.
fn config_managed(recipient: Option<&Recipient>) -> Option<String> {
    recipient
        .filter(|r| r.origin == "config")
        .map(|_| "本聊天的订阅由配置文件（config.toml）管理，无法通过机器人修改。".to_owned())
}

/// The operator message for an alert.
fn alert_message(alert: &Alert) -> String {
    let kind = match alert.kind.as_str() {
        "drift" => "页面结构变化（列表选择器失效）".to_owned(),
        "flood" => "新条目异常多（已暂停推送，等待确认）".to_owned(),
        other => escape_html(other),
    };
    // Escaped, then cut to `max` UTF-16 units on a character boundary.
    let clip = |s: &str, max: usize| {
        let mut out = String::new();
        let mut used = 0;
        for c in s.chars() {
            let piece = escape_html(c.encode_utf8(&mut [0; 4]));
            let n = piece.encode_utf16().count();
            if used + n + 1 > max {
                out.push('…');
                break;
            }
            used += n;
            out.push_str(&piece);
        }
        out
    };
    let shanghai = chrono_tz::Asia::Shanghai;
    let mut out = format!(
        "⚠️ <b>Tidings 告警</b>\n来源：{}\n类型：{kind}\n输入：{}\n时间：{}\n\n{}",
        clip(&alert.source, 200),
        clip(&alert.input, 800),
        alert
            .created_at
            .with_timezone(&shanghai)
            .format("%Y-%m-%d %H:%M (Asia/Shanghai)"),
        clip(&alert.message, 2500),
    );
    if let Some(resolved) = alert.resolved_at {
        out.push_str(&format!(
            "\n\n（已于 {} 恢复）",
            resolved.with_timezone(&shanghai).format("%Y-%m-%d %H:%M")
        ));
    }
    out
}

/// The offset that confirms `update`.
fn next_offset(update: &Update) -> i32 {
    i32::try_from(update.id.0).map_or(i32::MAX, |id| id.saturating_add(1))
}

/// Updates recovered from a `getUpdates` answer teloxide could not read as a whole.
struct Salvaged {
    updates: Vec<Update>,
    next_offset: i32,
    skipped: usize,
}

/// Reads a successful `getUpdates` answer update by update, skipping the unreadable ones but
/// still moving the offset past them (otherwise the bot would fetch them forever).
fn salvage(raw: &str) -> Option<Salvaged> {
    let v: Value = serde_json::from_str(raw).ok()?;
    if v["ok"] != Value::Bool(true) {
        return None;
    }
    let list = v["result"].as_array()?;
    let mut out = Salvaged {
        updates: Vec::new(),
        next_offset: 0,
        skipped: 0,
    };
    for u in list {
        let id = u["update_id"].as_i64()?;
        out.next_offset = out.next_offset.max(i32::try_from(id + 1).unwrap_or(i32::MAX));
        // (From text: some of teloxide's types do not deserialize from a `Value`.)
        match serde_json::from_str::<Update>(&u.to_string()) {
            Ok(update) => out.updates.push(update),
            Err(_) => out.skipped += 1,
        }
    }
    Some(out)
}

/// One chat's pending replies: (forum topic, HTML).
type ReplyQueue = mpsc::UnboundedSender<(Option<i32>, String)>;

/// Per-chat reply queues: replies to one chat go out in order, paced by the flood limits;
/// chats do not wait for each other.
struct Replies {
    sender: Arc<TelegramSender>,
    flood: Arc<FloodControl>,
    queues: Mutex<HashMap<i64, ReplyQueue>>,
    shutdown: CancellationToken,
}

impl Replies {
    fn push(self: &Arc<Self>, place: Place, html: String) {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        let mut reply = (place.thread, html);
        if let Some(queue) = queues.get(&place.chat) {
            match queue.send(reply) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => reply = back,
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(reply);
        queues.insert(place.chat, tx);
        tokio::spawn(self.clone().drain(place.chat, rx));
    }

    /// Sends a chat's replies until it has been idle for [`QUEUE_IDLE`] (or shutdown).
    async fn drain(self: Arc<Self>, chat: i64, mut rx: mpsc::UnboundedReceiver<(Option<i32>, String)>) {
        loop {
            let next = tokio::select! {
                () = self.shutdown.cancelled() => return,
                next = tokio::time::timeout(QUEUE_IDLE, rx.recv()) => next,
            };
            match next {
                Ok(Some((thread, html))) => self.deliver(chat, thread, &html).await,
                Ok(None) => return,
                Err(_) => {
                    // Idle: refuse new replies (they start a new queue), send what raced in.
                    rx.close();
                    while let Ok((thread, html)) = rx.try_recv() {
                        self.deliver(chat, thread, &html).await;
                    }
                    let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
                    if queues.get(&chat).is_some_and(mpsc::UnboundedSender::is_closed) {
                        queues.remove(&chat);
                    }
                    return;
                }
            }
        }
    }

    async fn deliver(&self, chat: i64, thread: Option<i32>, html: &str) {
        for attempt in 1..=3 {
            if let Some(until) = self.flood.paused_until(chat, Utc::now()) {
                tokio::time::sleep((until - Utc::now()).to_std().unwrap_or_default()).await;
            }
            self.flood.ready(chat).await;
            match self.sender.send(chat, thread, html).await {
                Ok(()) => return,
                Err(SendError::RetryAfter(wait)) => {
                    self.flood.pause(
                        chat,
                        Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                    );
                }
                Err(e) if e.is_transient() && attempt < 3 => {
                    tokio::time::sleep(Duration::from_secs(attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(chat, "bot reply not sent: {e}");
                    return;
                }
            }
        }
    }
}

/// An error and its sources, `: `-separated (reqwest's Display alone hides the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `text` with the token (raw or percent-encoded) replaced by `<token>`.
pub fn redact(token: &str, text: &str) -> String {
    if token.is_empty() {
        return text.to_owned();
    }
    let mut out = text.replace(token, "<token>");
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    for form in [encoded.clone(), encoded.to_lowercase(), token.replace(':', "%3a")] {
        if form != token && !form.is_empty() {
            out = out.replace(&form, "<token>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_every_form_of_the_token() {
        assert_eq!(
            redact("1:aB", "u/bot1:aB/x bot1%3AaB bot1%3aaB"),
            "u/bot<token>/x bot<token> bot<token>"
        );
        assert_eq!(redact("", "x"), "x");
    }

    #[test]
    fn unreadable_updates_are_skipped_but_confirmed() {
        let raw = r#"{"ok":true,"result":[
            {"update_id":7,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private","first_name":"U"},"text":"/list"}},
            {"update_id":9,"message":"garbage"}]}"#;
        let s = salvage(raw).unwrap();
        assert_eq!(s.next_offset, 10);
        // teloxide keeps an unknown update as `UpdateKind::Error`; either way none is lost.
        assert_eq!(s.updates.len() + s.skipped, 2);
        assert!(matches!(s.updates[0].kind, UpdateKind::Message(_)));
        assert!(salvage(r#"{"ok":false}"#).is_none());
    }

    #[test]
    fn alerts_are_escaped_and_bounded() {
        let alert = Alert {
            id: 1,
            source: "s<1>".into(),
            input: "/a".repeat(2000),
            kind: "drift".into(),
            message: "x & y".repeat(2000),
            created_at: Utc::now(),
            resolved_at: Some(Utc::now()),
            announced_at: None,
        };
        let m = alert_message(&alert);
        assert!(m.contains("s&lt;1&gt;") && m.contains("x &amp; y") && m.contains("恢复"));
        assert!(m.encode_utf16().count() <= super::super::MAX_UTF16);
    }
}
