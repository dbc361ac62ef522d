//! The Telegram bot against the fake Bot API: commands round-trip through the store in
//! private chats, groups (admins only), forum topics and channels; operator alerts are sent
//! once; no log line carries the token.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tidings::app::App;
use tidings::notify::telegram::bot::NOT_ADMIN;
use tidings::notify::telegram::{BotOptions, run_bot_with};
use tidings::portal::{PortalServer, Variant};
use tidings::store::{Recipient, Topic};
use tokio_util::sync::CancellationToken;

use crate::fake_bot::{ChatKind, FakeBot, SentMsg};
use crate::helpers::{FAST_FETCH, TestDir, poll, portal, shipped, source_override, swap, tls};

const TOKEN: &str = "987654321:AAE-bot_commands_SECRET_token01234567";
/// A part of the token that no log line may contain either.
const SECRET: &str = "SECRET_token";
const OPERATOR: i64 = 999;

/// Short timings so that the loops turn quickly.
fn fast() -> BotOptions {
    BotOptions {
        poll_timeout: Duration::from_secs(1),
        alert_interval: Duration::from_millis(150),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
    }
}

/// A running bot on a polled sample portal (so its tags are known).
struct Running {
    fake: FakeBot,
    app: App,
    server: PortalServer,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _env: TestDir,
}

impl Running {
    async fn start(telegram_extra: &str) -> Running {
        tls();
        let fake = FakeBot::start(TOKEN).await;
        fake.enforce_limits(false);
        let server = portal(4, 0, Variant::Standard).await;
        let config = format!(
            "{FAST_FETCH}{}[telegram]\napi_url = \"{}\"\nper_chat = \"10ms\"\ngroup_per_minute = 1000\n{telegram_extra}",
            source_override("sample-portal", &server.base_url()),
            fake.api_url()
        );
        let env = TestDir::new(&config, &[("sample-portal", shipped("sample-portal"))]);
        let app = env.app_with_env(&[("TIDINGS_TELEGRAM_TOKEN", TOKEN)]).await;
        poll(&app, "sample-portal").await;
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_bot_with(app.clone(), stop.clone(), fast()));
        Running {
            fake,
            app,
            server,
            stop,
            task,
            _env: env,
        }
    }

    fn sent_to(&self, chat: i64) -> Vec<SentMsg> {
        self.fake
            .sent()
            .into_iter()
            .filter(|m| m.chat_id == chat)
            .collect()
    }

    /// Waits until `chat` has received more than `seen` messages; returns the next one.
    async fn next_reply(&self, chat: i64, seen: usize) -> SentMsg {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(m) = self.sent_to(chat).get(seen) {
                return m.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no reply in chat {chat} after {seen} messages"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends `text` from `user` in `chat` and returns the bot's reply.
    async fn ask(&self, chat: i64, user: i64, text: &str) -> String {
        let seen = self.sent_to(chat).len();
        self.fake.push_text(chat, user, text);
        self.next_reply(chat, seen).await.text
    }

    /// Queues a raw message update and returns the bot's reply.
    async fn ask_raw(&self, chat: i64, message: Value) -> SentMsg {
        let seen = self.sent_to(chat).len();
        self.fake.push_update(json!({ "message": message }));
        self.next_reply(chat, seen).await
    }

    async fn recipient(&self, chat: i64, thread: i64) -> Option<Recipient> {
        self.app
            .store
            .recipients()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.address == chat.to_string() && r.thread_id == thread)
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(3), self.task)
            .await
            .expect("the bot stops promptly on shutdown")
            .unwrap();
        for m in self.fake.sent() {
            assert!(!m.text.contains(SECRET));
            assert_eq!(
                m.parse_mode.as_deref(),
                Some("HTML"),
                "passed the fake's strict HTML check: {}",
                m.text
            );
        }
    }
}

fn region(slug: &str) -> Topic {
    Topic {
        region: Some(slug.into()),
        tag: None,
    }
}

fn tag(t: &str) -> Topic {
    Topic {
        region: None,
        tag: Some(t.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_chat_commands_round_trip_through_the_store() {
    let bot = Running::start("").await;
    let chat = 111;

    let help = bot.ask(chat, chat, "/start").await;
    for needle in ["/subscribe", "/digest", "/tz", "晋中", "太原"] {
        assert!(help.contains(needle), "{needle} missing from {help}");
    }

    let r = bot.ask(chat, chat, "/subscribe 晋中 高质量").await;
    assert!(r.contains("已订阅：晋中、高质量"), "{r}");
    let list = bot.ask(chat, chat, "/list").await;
    assert!(list.contains("当前订阅：晋中、高质量"), "{list}");
    assert!(
        list.contains("即时推送") && list.contains("Asia/Shanghai"),
        "{list}"
    );
    let stored = bot.recipient(chat, 0).await.expect("subscribed");
    assert_eq!(
        (stored.kind.as_str(), stored.origin.as_str(), stored.mode.as_str()),
        ("telegram", "bot", "instant")
    );
    assert_eq!(
        stored.topics,
        [tag("高质量"), region("jinzhong")],
        "in the store's order"
    );

    // A typo is refused with a suggestion; nothing changes.
    let r = bot.ask(chat, chat, "/subscribe 晋钟").await;
    assert!(
        r.contains("晋钟") && r.contains("晋中") && !r.contains("已订阅"),
        "{r}"
    );
    let r = bot.ask(chat, chat, "/subscribe 不存在的词").await;
    assert!(r.contains("既不是已配置的地区，也不是已有的标签"), "{r}");
    assert_eq!(bot.recipient(chat, 0).await.unwrap().topics.len(), 2);

    // Topics merge; `a+b` is one topic.
    let r = bot.ask(chat, chat, "/subscribe 晋中+高质量 晋中").await;
    assert!(r.contains("已订阅：晋中+高质量\n已在订阅中：晋中"), "{r}");
    assert!(r.contains("当前订阅：晋中、晋中+高质量、高质量"), "{r}");
    assert_eq!(bot.recipient(chat, 0).await.unwrap().topics.len(), 3);

    let r = bot.ask(chat, chat, "/digest daily 07:30").await;
    assert!(r.contains("每日摘要") && r.contains("07:30"), "{r}");
    let stored = bot.recipient(chat, 0).await.unwrap();
    assert_eq!(
        (stored.mode.as_str(), stored.digest_at.as_deref()),
        ("daily", Some("07:30"))
    );

    let r = bot.ask(chat, chat, "/digest weekly xyz 07:30").await;
    assert!(r.contains("无法识别星期「xyz」") && r.contains("mon"), "{r}");
    let r = bot.ask(chat, chat, "/digest daily 25:00").await;
    assert!(r.contains("HH:MM"), "{r}");
    assert_eq!(bot.recipient(chat, 0).await.unwrap().mode, "daily", "unchanged");

    let r = bot.ask(chat, chat, "/digest weekly 周五 18:00").await;
    assert!(r.contains("每周五 18:00"), "{r}");
    let r = bot.ask(chat, chat, "/tz Asia/Tokyo").await;
    assert!(r.contains("Asia/Tokyo"), "{r}");
    let r = bot.ask(chat, chat, "/tz Mars/Olympus").await;
    assert!(r.contains("未知时区"), "{r}");
    let stored = bot.recipient(chat, 0).await.unwrap();
    assert_eq!(
        (
            stored.mode.as_str(),
            stored.digest_weekday.as_deref(),
            stored.digest_at.as_deref(),
            stored.tz.as_str()
        ),
        ("weekly", Some("fri"), Some("18:00"), "Asia/Tokyo")
    );
    let list = bot.ask(chat, chat, "/list").await;
    assert!(
        list.contains("每周摘要（每周五 18:00）") && list.contains("Asia/Tokyo"),
        "{list}"
    );

    let r = bot.ask(chat, chat, "/unsubscribe 高质量").await;
    assert!(
        r.contains("已取消：高质量") && r.contains("当前订阅：晋中、晋中+高质量"),
        "{r}"
    );
    let r = bot.ask(chat, chat, "/unsubscribe").await;
    assert!(r.contains("已取消本聊天的全部订阅"), "{r}");
    assert!(bot.recipient(chat, 0).await.is_none());
    let list = bot.ask(chat, chat, "/list").await;
    assert!(list.contains("还没有订阅"), "{list}");

    let r = bot.ask(chat, chat, "/frobnicate").await;
    assert!(r.contains("/help"), "{r}");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_group_admins_change_a_groups_subscription() {
    let bot = Running::start("").await;
    let group = -500;
    let (admin, member) = (7, 8);
    bot.fake.set_chat_kind(group, ChatKind::Group);
    bot.fake.set_result("getChatMember", move |params| {
        let status = if params["user_id"] == admin {
            "administrator"
        } else {
            "member"
        };
        json!({"status": status, "user": {"id": params["user_id"], "is_bot": false, "first_name": "U"}})
    });

    let r = bot.ask(group, member, "/subscribe@tidings_test_bot 太原").await;
    assert_eq!(r, NOT_ADMIN);
    assert!(bot.recipient(group, 0).await.is_none());
    let r = bot.ask(group, member, "/list@tidings_test_bot").await;
    assert!(r.contains("还没有订阅"), "members may look: {r}");

    let r = bot.ask(group, admin, "/subscribe@tidings_test_bot 太原").await;
    assert!(r.contains("已订阅：太原"), "{r}");
    assert_eq!(bot.recipient(group, 0).await.unwrap().topics, [region("taiyuan")]);
    let r = bot.ask(group, member, "/unsubscribe").await;
    assert_eq!(r, NOT_ADMIN);
    assert!(bot.recipient(group, 0).await.is_some());

    // A command for another bot, and unknown commands in a group, get no answer.
    bot.fake.push_text(group, admin, "/subscribe@other_bot 晋中");
    bot.fake.push_text(group, admin, "/weather");
    let r = bot.ask(group, admin, "/list").await;
    assert!(r.contains("当前订阅：太原"), "the next reply answers /list: {r}");

    // An anonymous administrator writes as the group itself.
    let chat = json!({"id": group, "type": "group", "title": "Group"});
    let anonymous = json!({
        "message_id": 900, "date": 1_700_000_000, "chat": chat, "sender_chat": chat,
        "from": {"id": 1_087_968_824_u64, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"},
        "text": "/digest daily 08:00",
        "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
    });
    let r = bot.ask_raw(group, anonymous).await;
    assert!(r.text.contains("每日摘要"), "{}", r.text);
    assert_eq!(bot.recipient(group, 0).await.unwrap().mode, "daily");

    // A forum topic of a supergroup is its own recipient; replies go to the topic.
    let forum = -100_888;
    bot.fake.set_chat_kind(forum, ChatKind::Supergroup);
    let message = json!({
        "message_id": 901, "date": 1_700_000_000,
        "chat": {"id": forum, "type": "supergroup", "title": "Forum", "is_forum": true},
        "from": {"id": admin, "is_bot": false, "first_name": "Admin"},
        "message_thread_id": 42, "is_topic_message": true,
        "text": "/subscribe 晋中",
        "entities": [{"type": "bot_command", "offset": 0, "length": 10}],
    });
    let r = bot.ask_raw(forum, message).await;
    assert!(r.text.contains("已订阅：晋中"), "{}", r.text);
    assert_eq!(r.thread_id, Some(42));
    assert_eq!(
        bot.recipient(forum, 42).await.unwrap().topics,
        [region("jinzhong")]
    );
    assert!(bot.recipient(forum, 0).await.is_none());

    // In a channel every post comes from an administrator: no membership check.
    let channel = -100_777;
    bot.fake.set_chat_kind(channel, ChatKind::Channel);
    let checks = |bot: &Running| {
        bot.fake
            .calls()
            .iter()
            .filter(|c| c.method == "getChatMember")
            .count()
    };
    let before = checks(&bot);
    let r = bot.ask(channel, 0, "/subscribe 晋中+高质量").await;
    assert!(r.contains("已订阅：晋中+高质量"), "{r}");
    assert_eq!(
        bot.recipient(channel, 0).await.unwrap().topics,
        [Topic {
            region: Some("jinzhong".into()),
            tag: Some("高质量".into())
        }]
    );
    assert_eq!(checks(&bot), before);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_alerts_are_sent_once() {
    let bot = Running::start(&format!("operator_chat = {OPERATOR}\n")).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(bot.sent_to(OPERATOR).is_empty(), "no alert yet");

    swap(&bot.server, 4, 1, Variant::DriftedListing);
    poll(&bot.app, "sample-portal").await;
    let alert = bot.next_reply(OPERATOR, 0).await;
    assert!(
        alert.text.contains("告警") && alert.text.contains("sample-portal"),
        "{}",
        alert.text
    );
    // Several more rounds of the alert loop: still one message.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(bot.sent_to(OPERATOR).len(), 1);
    let alerts = bot.app.store.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].announced_at.is_some());
    assert!(
        !bot.app.store.mark_alert_announced(alerts[0].id).await.unwrap(),
        "already marked"
    );
    bot.stop().await;
}

/// Collects formatted log output.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Runs the bot (with `api_url`) for `run` and returns its log output at every level.
/// The test runtime is single-threaded, so the thread's default subscriber sees every task.
async fn logs_of_bot(api_url: &str, run: Duration, during: impl AsyncFnOnce()) -> String {
    tls();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let env = TestDir::new(&format!("[telegram]\napi_url = \"{api_url}\"\n"), &[]);
    let app = env.app_with_env(&[("TIDINGS_TELEGRAM_TOKEN", TOKEN)]).await;
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_bot_with(app, stop.clone(), fast()));
    let started = Instant::now();
    during().await;
    tokio::time::sleep(run.saturating_sub(started.elapsed())).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("stops promptly")
        .unwrap();
    capture.text()
}

#[tokio::test]
async fn no_log_line_carries_the_token() {
    // Network errors: reqwest's messages name the URL, which holds the token.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let logs = logs_of_bot(&dead, Duration::from_millis(800), async || {}).await;
    assert!(logs.contains("Telegram getUpdates failed"), "{logs}");
    assert!(!logs.contains(SECRET), "{logs}");

    // A rejected token is reported once, without the token.
    let other = FakeBot::start("1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    let logs = logs_of_bot(&other.api_url(), Duration::from_millis(800), async || {}).await;
    assert_eq!(logs.matches("rejected the bot token").count(), 1, "{logs}");
    assert!(!logs.contains(SECRET), "{logs}");

    // Another process polling the same bot: 409 Conflict, logged once, then recovery.
    let fake = FakeBot::start(TOKEN).await;
    let rival = teloxide::Bot::new(TOKEN).set_api_url(fake.api_url().parse().unwrap());
    let logs = logs_of_bot(&fake.api_url(), Duration::from_millis(3500), async || {
        use teloxide::payloads::GetUpdatesSetters;
        use teloxide::requests::Requester;
        let until = Instant::now() + Duration::from_millis(1200);
        while Instant::now() < until {
            let _ = rival.get_updates().timeout(1).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(logs.matches("409 Conflict").count(), 1, "{logs}");
    assert!(logs.contains("getUpdates works again"), "{logs}");
    assert!(!logs.contains(SECRET), "{logs}");
    assert!(fake.calls().iter().any(|c| c.status == 409));
}
