//! The bot token in no log line, with every kind of send failure forced.

use std::process::Command;
use std::time::Duration;

use super::{TOKEN, article, commit, spawn_daemon, wait_until};
use crate::fake_bot::{FakeBot, Scripted};
use crate::helpers::TestDir;

/// The daemon at `TIDINGS_LOG=debug` while the fake answers 500, 403, 429, "chat not
/// found", "can't parse entities" and a migration, then `tidings deliver` against a closed
/// port (network errors), then `tidings subscriptions` with the recorded errors: the token,
/// or its secret half, appears nowhere in the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_token_never_appears_in_the_log_while_sends_fail() {
    let bot = FakeBot::start(TOKEN).await;
    bot.enforce_limits(false);
    let telegram = |api: &str| {
        format!(
            "[telegram]\napi_url = \"{api}\"\nper_chat = \"1ms\"\nglobal_per_second = 10000\n\
             group_per_minute = 100000\n"
        )
    };
    let env = TestDir::new(&telegram(&bot.api_url()), &[]);
    let app = env.app().await;
    let scripted = [
        (801, Scripted::ServerError),
        (802, Scripted::Forbidden),
        (803, Scripted::RetryAfter(1)),
        (804, Scripted::ChatNotFound),
        (805, Scripted::CantParse),
        (806, Scripted::MigrateTo(-1_009_000_000_806)),
    ];
    for chat in scripted.iter().map(|(c, _)| *c).chain([807]) {
        app.subscribe_telegram(chat, None, &["晋中".into()], &[], &[], None)
            .await
            .unwrap();
    }
    for (chat, answer) in scripted {
        bot.fail_next(chat, answer);
    }
    bot.fail_next(805, Scripted::CantParse);
    commit(
        &app,
        vec![article(1, ("jinzhong", "晋中")), article(2, ("jinzhong", "晋中"))],
    )
    .await;

    let log = env.dir.path().join("daemon.log");
    let mut child = spawn_daemon(&env.config_path(), &log, "debug");
    // Every scripted answer given, and the chat told to wait 1 s served after it.
    let answered = |chat: i64, status: u16| {
        bot.calls()
            .iter()
            .any(|c| c.chat_id == Some(chat) && c.status == status)
    };
    wait_until(
        &mut child,
        &log,
        Duration::from_secs(20),
        "the scripted failures",
        || {
            scripted
                .iter()
                .all(|(chat, _)| bot.calls().iter().any(|c| c.chat_id == Some(*chat)))
                && answered(803, 429)
                && bot.sent().iter().filter(|m| m.chat_id == 803).count() == 2
        },
    )
    .await;
    Command::new("kill").arg(child.id().to_string()).status().unwrap();
    child.wait().expect("reap");
    for status in [500, 403, 429, 400] {
        assert!(
            bot.calls().iter().any(|c| c.status == status),
            "no {status} answered"
        );
    }

    // Network errors: the same database, the API on a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = std::fs::read_to_string(env.config_path()).unwrap();
    let unreachable = env.dir.path().join("unreachable.toml");
    let api = format!("api_url = \"{}\"", bot.api_url());
    std::fs::write(
        &unreachable,
        text.replace(&api, &format!("api_url = \"http://{closed}\"")),
    )
    .unwrap();
    commit(&app, vec![article(3, ("jinzhong", "晋中"))]).await;
    let mut output = std::fs::read_to_string(&log).unwrap();
    for args in [&["deliver"][..], &["subscriptions"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
            .arg("--config")
            .arg(&unreachable)
            .args(args)
            .env("TIDINGS_TELEGRAM_TOKEN", TOKEN)
            .env("TIDINGS_LOG", "debug")
            .output()
            .unwrap();
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        output.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    let secret = TOKEN.split_once(':').map(|(_, s)| s).unwrap();
    for needle in [TOKEN, secret, &TOKEN.replace(':', "%3A")] {
        let at = output.find(needle);
        assert!(
            at.is_none(),
            "token in the output: …{}…",
            &output[at.unwrap_or(0).saturating_sub(200)..]
        );
    }
    // The failures were logged, so the check above looked at something.
    let logged = [
        "recipient deactivated",
        "delivery failed for good",
        "Internal Server Error",
        "(429)",
        "network: error sending request",
    ];
    for expected in logged {
        assert!(output.contains(expected), "no `{expected}` in:\n{output}");
    }
    eprintln!("no token in {} lines of debug output", output.lines().count());
}
