//! Three `tidings run` instances on one PostgreSQL database, one sample portal, 30
//! subscribers (15 addresses on a real SMTP server, 15 chats on the fake Bot API with its
//! limits relaxed): every (item, recipient) is delivered once, each listing page is fetched
//! once per tick, one instance long-polls Telegram. Then the leader is killed with SIGKILL
//! mid-fan-out: the other two finish its work and one of them takes over the update loop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tidings::app::App;
use tidings::portal::Variant;
use tidings::store::{RecipientSpec, Topic};

use crate::fake_bot::FakeBot;
use crate::helpers::{FAST_FETCH, TestDir, portal, shipped, source_override, swap, tls, truth};
use crate::pg::PgDatabase;
use crate::smtp::SmtpSink;

const TOKEN: &str = "7034829156:AAGq0rT-scaleoutPart_f9XkLmN2vB8wY";
const KEY: &str = "scale-out-secret-key-0123456789abcdef-0123";
const PER_KIND: usize = 15;
const CONNECTIONS: usize = 8;

struct Cluster {
    config: PathBuf,
    db: String,
    smtp: String,
    logs: PathBuf,
}

impl Cluster {
    fn log(&self, n: usize) -> PathBuf {
        self.logs.join(format!("instance-{n}.log"))
    }

    fn spawn(&self, n: usize) -> Child {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(n))
            .expect("log");
        let err = out.try_clone().expect("log");
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args([
                "--config",
                self.config.to_str().unwrap(),
                "run",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("TIDINGS_DATABASE_URL", &self.db)
            .env("TIDINGS_SMTP_URL", &self.smtp)
            .env("TIDINGS_SECRET_KEY", KEY)
            .env("TIDINGS_TELEGRAM_TOKEN", TOKEN)
            .env("TIDINGS_LOG", "info,sqlx=warn")
            // Distinct worker names even though the three share a host.
            .env("HOSTNAME", format!("instance-{n}"))
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn tidings run")
    }

    /// `tidings poll` (one round, then exit) on the shared database.
    fn poll_once(&self) {
        let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["--config", self.config.to_str().unwrap(), "poll"])
            .env("TIDINGS_DATABASE_URL", &self.db)
            .output()
            .expect("tidings poll");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// Which instances say they lead, in their logs.
    fn leaders(&self) -> Vec<usize> {
        (0..3)
            .filter(|n| {
                std::fs::read_to_string(self.log(*n))
                    .unwrap_or_default()
                    .contains("leading:")
            })
            .collect()
    }

    fn all_logs(&self) -> String {
        (0..3)
            .map(|n| {
                format!(
                    "--- instance {n}\n{}",
                    std::fs::read_to_string(self.log(n)).unwrap_or_default()
                )
            })
            .collect()
    }
}

/// Copies of each mail, by (address, Message-ID).
type MailCopies = HashMap<(String, String), usize>;
/// Copies of each Telegram message, by (chat, linked article).
type TelegramCopies = HashMap<(i64, String), usize>;

/// Copies per (recipient, item): mail by (address, Message-ID), Telegram by (chat, link).
fn delivered(sink: &SmtpSink, bot: &FakeBot) -> (MailCopies, TelegramCopies) {
    let mut mail = HashMap::new();
    for m in sink.messages() {
        let key = (m.rcpt_tos.join(","), m.message_id.clone().unwrap_or_default());
        *mail.entry(key).or_default() += 1;
    }
    let mut tg = HashMap::new();
    for m in bot.sent() {
        let start = m.text.find("href=\"").map_or(0, |s| s + 6);
        let end = m.text[start..].find('"').map_or(m.text.len(), |e| start + e);
        *tg.entry((m.chat_id, m.text[start..end].to_owned())).or_default() += 1;
    }
    (mail, tg)
}

async fn wait_for(what: &str, limit: Duration, cluster: &Cluster, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "no {what} within {limit:?}:\n{}",
            cluster.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The running instances, killed when the test ends, however it ends.
struct Instances(Vec<Child>);

impl Drop for Instances {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(kill);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_polls_deliveries_and_the_update_loop() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let Some(sink) = SmtpSink::start() else { return };
    tls();
    let bot = FakeBot::start(TOKEN).await;
    bot.enforce_limits(false);
    let server = portal(27, 0, Variant::Standard).await;
    let config = format!(
        "{FAST_FETCH}{}schedule = \"1h\"\n[server]\npublic_url = \"http://tidings.test/\"\n\
         [poll]\nbaseline_push = true\njitter = \"0s\"\n\
         [telegram]\napi_url = \"{}\"\nper_chat = \"1ms\"\nglobal_per_second = 10000\n\
         group_per_minute = 100000\nlease = \"5s\"\n[email]\nfrom = \"news@example.org\"\nconnections = {CONNECTIONS}\n",
        source_override("sample-portal", &server.base_url()),
        bot.api_url()
    );
    let env = TestDir::new(&config, &[("sample-portal", shipped("sample-portal"))]);
    let mut app_config = env.load();
    app_config.storage.url = pg.url.clone();
    let app = App::open(app_config).await.expect("app on PostgreSQL");
    let all = Topic {
        region: None,
        tag: None,
    };
    for i in 0..PER_KIND {
        for (kind, address) in [
            ("email", format!("reader{i:02}@example.org")),
            ("telegram", format!("{}", 7000 + i)),
        ] {
            let spec = RecipientSpec {
                kind: kind.into(),
                address,
                thread_id: 0,
                origin: "cli".into(),
                topics: vec![all.clone()],
                filters: None,
            };
            app.store.save_recipient(&spec, chrono::Utc::now()).await.unwrap();
        }
    }
    let cluster = Cluster {
        config: env.config_path(),
        db: pg.url.clone(),
        smtp: sink.url(),
        logs: env.dir.path().to_path_buf(),
    };
    let mut instances = Instances((0..3).map(|n| cluster.spawn(n)).collect());

    // Phase 1: the first tick's poll (every item pushed) fans out from all three.
    wait_for("first poll", Duration::from_secs(60), &cluster, || {
        let logs = cluster.all_logs();
        logs.contains("poll done")
    })
    .await;
    let items = app.store.items(None, 10_000).await.unwrap().len();
    assert!(items >= 250, "{items} items");
    let expected = items * PER_KIND;
    wait_for("phase 1 fan-out", Duration::from_secs(120), &cluster, || {
        sink.count() >= expected && bot.sent_count() >= expected
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mail, tg) = delivered(&sink, &bot);
    assert_eq!(mail.len(), expected, "every (item, address)");
    assert_eq!(tg.len(), expected, "every (item, chat)");
    assert!(mail.values().all(|&n| n == 1), "no mail twice");
    assert!(tg.values().all(|&n| n == 1), "no Telegram message twice");
    let polls = cluster.all_logs().matches("poll done").count();
    assert_eq!(polls, 1, "one instance polled the tick");
    for region in &truth(&server, 27, 0, Variant::Standard).regions {
        assert_eq!(
            server.hits(&region.listing),
            1,
            "{} fetched once for the tick",
            region.listing
        );
    }
    let leaders = cluster.leaders();
    assert_eq!(leaders.len(), 1, "one leader: {leaders:?}");
    let leader = leaders[0];
    let pollers = |bot: &FakeBot| {
        bot.calls()
            .into_iter()
            .filter(|c| c.method == "getUpdates")
            .collect::<Vec<_>>()
    };
    assert!(!pollers(&bot).is_empty(), "the leader long-polls");
    assert!(
        pollers(&bot).iter().all(|c| c.status != 409),
        "never two getUpdates at once"
    );
    eprintln!(
        "scale-out phase 1: {items} items × {} recipients delivered once each by 3 instances (leader: {leader}); listing pages fetched once",
        2 * PER_KIND
    );

    // Phase 2: ~270 new items, stored by `tidings poll`; the leader dies mid-fan-out.
    swap(&server, 27, 10, Variant::Standard);
    cluster.poll_once();
    let items2 = app.store.items(None, 10_000).await.unwrap().len();
    let expected2 = items2 * PER_KIND;
    let mail_before = sink.count();
    wait_for(
        "phase 2 fan-out under way",
        Duration::from_secs(60),
        &cluster,
        || sink.count() >= mail_before + (expected2 - expected) / 4,
    )
    .await;
    let killed_at = Instant::now();
    kill(&mut instances.0[leader]);
    let mail_at_kill = sink.count();
    let tg_at_kill = bot.sent_count();
    wait_for(
        "phase 2 fan-out finished",
        Duration::from_secs(150),
        &cluster,
        || {
            let (mail, tg) = delivered(&sink, &bot);
            mail.len() >= expected2 && tg.len() >= expected2
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mail, tg) = delivered(&sink, &bot);
    let mail_dups: usize = mail.values().map(|n| n - 1).sum();
    let tg_dups: usize = tg.values().map(|n| n - 1).sum();
    let new_leaders: Vec<usize> = cluster.leaders().into_iter().filter(|n| *n != leader).collect();
    // The new leader's long poll is answered (and recorded) when it times out or an update comes.
    bot.push_text(7000, 7000, "/list");
    wait_for(
        "the update loop taken over",
        Duration::from_secs(60),
        &cluster,
        || pollers(&bot).iter().any(|c| c.at > killed_at && c.status == 200),
    )
    .await;
    eprintln!(
        "scale-out phase 2: {} new items × {} recipients; leader {leader} killed after {mail_at_kill} mails and \
         {tg_at_kill} Telegram messages; finished by the others with {mail_dups} duplicate mails and {tg_dups} \
         duplicate Telegram messages; new leader {new_leaders:?}",
        items2 - items,
        2 * PER_KIND
    );
    assert_eq!(mail.len(), expected2);
    assert_eq!(tg.len(), expected2);
    assert!(
        mail_dups <= CONNECTIONS,
        "duplicates only for mail in flight: {mail_dups}"
    );
    assert!(
        tg_dups <= 1,
        "duplicates only for the message in flight: {tg_dups}"
    );
    assert_eq!(new_leaders.len(), 1, "one of the others took over");
}
