//! Sending one message through the Bot API (teloxide's plain [`Bot`], no throttling: the
//! outbox limits the rate), with the answer classified into a [`SendError`].
//!
//! The token is in every request URL (`{api}/bot<TOKEN>/SendMessage`) and reqwest errors
//! print their URL, so every string this module builds passes through a scrubber that
//! replaces the token with `<token>`; [`TelegramSender`]'s `Debug` does not show it either.

use std::fmt;
use std::time::Duration;

use teloxide::payloads::SendMessageSetters;
use teloxide::requests::{JsonRequest, Requester};
use teloxide::types::{ChatId, LinkPreviewOptions, MessageId, ParseMode, ThreadId};
use teloxide::{ApiError, Bot, RequestError};

use super::format::to_plain_text;

/// Sends messages to Telegram chats through one bot.
#[derive(Clone)]
pub struct TelegramSender {
    bot: Bot,
    api_url: url::Url,
    link_preview: bool,
}

impl fmt::Debug for TelegramSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramSender")
            .field("api_url", &self.api_url.as_str())
            .field("token", &"<token>")
            .field("link_preview", &self.link_preview)
            .finish()
    }
}

/// Why a message was not delivered, classified for the outbox. Strings never hold the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 429: flood control; wait this long before the next request (to this chat, or to any
    /// chat for a global limit).
    #[error("Telegram asked to retry after {}s", .0.as_secs())]
    RetryAfter(Duration),
    /// 403 and relatives: the bot was blocked, kicked, lost its rights, or the user is gone.
    /// The chat should be deactivated.
    #[error("chat unreachable: {0}")]
    Blocked(String),
    /// 400 chat (or user) not found. The chat should be deactivated.
    #[error("chat not found: {0}")]
    ChatNotFound(String),
    /// The group became a supergroup with this new chat id: move the subscription, resend.
    #[error("group migrated to supergroup {0}")]
    Migrated(i64),
    /// The message was rejected as HTML and again as plain text (or is empty / too long).
    #[error("message rejected: {0}")]
    BadMessage(String),
    /// 5xx, network errors, timeouts, unreadable answers: retry with backoff.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Any other 4xx (also: an invalid token or API URL): retrying will not help.
    #[error("rejected: {0}")]
    Permanent(String),
}

impl SendError {
    /// Whether sending again later may succeed as is ([`SendError::RetryAfter`] and
    /// [`SendError::Transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::RetryAfter(_) | SendError::Transient(_))
    }
}

/// What one request's failure means before the plain-text fallback is decided.
enum Failure {
    /// "can't parse entities": resend as plain text.
    CantParse(String),
    /// The answer was `ok: true` but teloxide could not read the `Message`: it was sent.
    Delivered,
    /// Anything else.
    Error(SendError),
}

impl TelegramSender {
    /// A sender for the bot with `token`.
    ///
    /// `api_url` like `https://api.telegram.org` or a test fake's `http://127.0.0.1:PORT`; a
    /// trailing slash is removed (teloxide would otherwise request `…//bot<TOKEN>/…`).
    /// `link_preview: false` asks Telegram not to show link previews.
    pub fn new(token: &str, api_url: &url::Url, link_preview: bool) -> Result<TelegramSender, SendError> {
        if token.is_empty()
            || token
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/?#%".contains(c))
        {
            return Err(SendError::Permanent("the bot token is empty or malformed".into()));
        }
        if !matches!(api_url.scheme(), "http" | "https") || api_url.cannot_be_a_base() {
            return Err(SendError::Permanent(format!(
                "the Bot API URL must be http(s), got {}",
                api_url.scheme()
            )));
        }
        let mut base = api_url.clone();
        base.set_query(None);
        base.set_fragment(None);
        if let Ok(mut segments) = base.path_segments_mut() {
            segments.pop_if_empty();
        }
        let client = teloxide::net::default_reqwest_settings()
            .build()
            .map_err(|e| SendError::Permanent(scrub(token, &format!("HTTP client: {}", chain(&e)))))?;
        let bot = Bot::with_client(token, client).set_api_url(base.clone());
        Ok(TelegramSender {
            bot,
            api_url: base,
            link_preview,
        })
    }

    /// Sends one HTML message to `chat_id` (in forum topic `thread_id` when set).
    ///
    /// On a 400 "can't parse entities" it retries once as plain text ([`to_plain_text`], no
    /// parse mode) and reports [`SendError::BadMessage`] only if Telegram rejects that too
    /// (a 429, 403, network error… on the retry is reported as itself).
    pub async fn send(&self, chat_id: i64, thread_id: Option<i32>, html: &str) -> Result<(), SendError> {
        let request = self
            .request(chat_id, thread_id, html.to_owned())
            .parse_mode(ParseMode::Html);
        let first = match request.await {
            Ok(_) => return Ok(()),
            Err(e) => self.classify(e),
        };
        let why = match first {
            Failure::Delivered => return Ok(()),
            Failure::Error(e) => return Err(e),
            Failure::CantParse(why) => why,
        };
        tracing::warn!(chat_id, error = %why, "Telegram rejected the HTML; resending as plain text");
        let plain = to_plain_text(html);
        match self.request(chat_id, thread_id, plain).await {
            Ok(_) => Ok(()),
            Err(e) => match self.classify(e) {
                Failure::Delivered => Ok(()),
                Failure::CantParse(again) => Err(SendError::BadMessage(again)),
                Failure::Error(SendError::Permanent(again) | SendError::BadMessage(again)) => {
                    Err(SendError::BadMessage(format!("{why}; as plain text: {again}")))
                }
                Failure::Error(e) => Err(e),
            },
        }
    }

    /// The bot's username (getMe), for links to the bot.
    pub async fn me(&self) -> Result<String, SendError> {
        let username = match self.bot.get_me().await {
            Ok(me) => me.user.username,
            // teloxide's `Me` wants every field of the current Bot API; the username is enough.
            Err(RequestError::InvalidJson { raw, .. })
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&raw)
                    && v["ok"] == serde_json::Value::Bool(true) =>
            {
                v["result"]["username"].as_str().map(str::to_owned)
            }
            Err(e) => {
                return Err(match self.classify(e) {
                    Failure::Error(e) => e,
                    Failure::CantParse(why) => SendError::Permanent(why),
                    Failure::Delivered => SendError::Transient("getMe answer could not be read".into()),
                });
            }
        };
        username.ok_or_else(|| SendError::Permanent("getMe answered without a username".into()))
    }

    /// A sendMessage request with the chat, topic and link-preview options set.
    fn request(
        &self,
        chat_id: i64,
        thread_id: Option<i32>,
        text: String,
    ) -> JsonRequest<teloxide::payloads::SendMessage> {
        let mut request = self.bot.send_message(ChatId(chat_id), text);
        if let Some(thread) = thread_id {
            request = request.message_thread_id(ThreadId(MessageId(thread)));
        }
        if !self.link_preview {
            request = request.link_preview_options(LinkPreviewOptions {
                is_disabled: true,
                url: None,
                prefer_small_media: false,
                prefer_large_media: false,
                show_above_text: false,
            });
        }
        request
    }

    /// Maps teloxide's error to what the outbox should do, with the token scrubbed.
    fn classify(&self, e: RequestError) -> Failure {
        let token = self.bot.token();
        match e {
            RequestError::RetryAfter(seconds) => Failure::Error(SendError::RetryAfter(seconds.duration())),
            RequestError::MigrateToChatId(ChatId(id)) => Failure::Error(SendError::Migrated(id)),
            RequestError::Api(api) => classify_api(api, token),
            RequestError::Network(e) => Failure::Error(SendError::Transient(scrub(
                token,
                &format!("network: {}", chain(&*e)),
            ))),
            RequestError::Io(e) => Failure::Error(SendError::Transient(scrub(token, &format!("I/O: {e}")))),
            RequestError::InvalidJson { raw, .. } => {
                let ok = serde_json::from_str::<serde_json::Value>(&raw)
                    .is_ok_and(|v| v.get("ok") == Some(&serde_json::Value::Bool(true)));
                if ok {
                    Failure::Delivered
                } else {
                    let raw: String = raw.chars().take(200).collect();
                    Failure::Error(SendError::Transient(scrub(
                        token,
                        &format!("unreadable Bot API answer: {raw}"),
                    )))
                }
            }
        }
    }
}

/// Classifies a Bot API error description (teloxide's known variants first).
fn classify_api(api: ApiError, token: &str) -> Failure {
    let description = scrub(
        token,
        &match &api {
            ApiError::Unknown(d) | ApiError::CantParseEntities(d) => d.clone(),
            other => other.to_string(),
        },
    );
    let error = match api {
        ApiError::CantParseEntities(_) => return Failure::CantParse(description),
        ApiError::BotBlocked
        | ApiError::BotKicked
        | ApiError::BotKickedFromSupergroup
        | ApiError::BotKickedFromChannel
        | ApiError::UserDeactivated
        | ApiError::CantInitiateConversation
        | ApiError::CantTalkWithBots
        | ApiError::NotEnoughRightsToPostMessages
        | ApiError::GroupDeactivated => SendError::Blocked(description),
        ApiError::ChatNotFound | ApiError::UserNotFound => SendError::ChatNotFound(description),
        ApiError::MessageTextIsEmpty | ApiError::MessageIsTooLong => SendError::BadMessage(description),
        _ => return classify_description(description),
    };
    Failure::Error(error)
}

/// Classifies a description teloxide does not know, by Telegram's prefixes: 4xx descriptions
/// start with `Bad Request`, `Forbidden`, `Unauthorized`…; anything else (`Internal Server
/// Error`, `Bad Gateway`, a proxy's page) is taken as temporary.
fn classify_description(description: String) -> Failure {
    let lower = description.to_lowercase();
    let error = if lower.contains("can't parse entities") {
        return Failure::CantParse(description);
    } else if lower.starts_with("forbidden") {
        SendError::Blocked(description)
    } else if lower.contains("chat not found") {
        SendError::ChatNotFound(description)
    } else if lower.starts_with("too many requests") {
        SendError::Transient(description)
    } else if [
        "bad request",
        "unauthorized",
        "not found",
        "conflict",
        "request entity too large",
        "invalid",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        SendError::Permanent(description)
    } else {
        SendError::Transient(description)
    };
    Failure::Error(error)
}

/// An error and its sources, `: `-separated (reqwest's Display alone hides the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

/// `text` with every form of the token (raw, percent-encoded) replaced by `<token>`.
fn scrub(token: &str, text: &str) -> String {
    if token.is_empty() {
        return text.to_owned();
    }
    let mut out = text.replace(token, "<token>");
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    if encoded != token {
        out = out.replace(&encoded, "<token>");
    }
    let colon = token.replace(':', "%3a");
    if colon != token {
        out = out.replace(&colon, "<token>");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use serde_json::{Value, json};

    use super::*;

    const TOKEN: &str = "123456:ABC-secret_TOKEN";

    /// A minimal Bot API: answers from a script (default: success), records every request.
    #[derive(Clone, Default)]
    struct Fake {
        script: Arc<Mutex<VecDeque<(u16, Value)>>>,
        seen: Arc<Mutex<Vec<(String, String, Value)>>>,
    }

    impl Fake {
        fn answer(&self, status: u16, body: Value) {
            self.script.lock().unwrap().push_back((status, body));
        }
        fn seen(&self) -> Vec<(String, String, Value)> {
            self.seen.lock().unwrap().clone()
        }
    }

    async fn handle(
        State(fake): State<Fake>,
        Path((bot, method)): Path<(String, String)>,
        body: String,
    ) -> impl IntoResponse {
        let params: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        fake.seen
            .lock()
            .unwrap()
            .push((bot, method.clone(), params.clone()));
        let scripted = fake.script.lock().unwrap().pop_front();
        let (status, body) = scripted.unwrap_or_else(|| {
            let result = if method.eq_ignore_ascii_case("getMe") {
                json!({"id": 1, "is_bot": true, "first_name": "T", "username": "tidings_test_bot",
                       "can_join_groups": true, "can_read_all_group_messages": false,
                       "supports_inline_queries": false, "has_main_web_app": false})
            } else {
                json!({"message_id": 7, "date": 1_645_584_180, "text": params["text"],
                       "chat": {"id": params["chat_id"], "type": "private", "first_name": "U"}})
            };
            (200, json!({"ok": true, "result": result}))
        });
        let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
        (StatusCode::from_u16(status).unwrap(), json, body.to_string())
    }

    async fn start() -> (Fake, url::Url) {
        let fake = Fake::default();
        let app = Router::new()
            .route("/{bot}/{method}", axum::routing::post(handle))
            .route("/tg/{bot}/{method}", axum::routing::post(handle))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, format!("http://{addr}").parse().unwrap())
    }

    fn error(code: u16, description: &str) -> Value {
        json!({"ok": false, "error_code": code, "description": description})
    }

    fn assert_no_token(e: &SendError) {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(
                !text.contains(TOKEN) && !text.contains("secret_TOKEN"),
                "token leaked: {text}"
            );
        }
    }

    #[tokio::test]
    async fn sends_html_with_topic_and_without_preview() {
        let (fake, url) = start().await;
        let sender = TelegramSender::new(TOKEN, &url, false).unwrap();
        sender.send(42, Some(9), "<b>hi</b>").await.unwrap();
        let seen = fake.seen();
        assert_eq!(seen.len(), 1);
        let (bot, method, params) = &seen[0];
        assert_eq!(bot, &format!("bot{TOKEN}"));
        assert!(method.eq_ignore_ascii_case("sendMessage"));
        assert_eq!(params["chat_id"], 42);
        assert_eq!(params["message_thread_id"], 9);
        assert_eq!(params["text"], "<b>hi</b>");
        assert_eq!(params["parse_mode"], "HTML");
        assert_eq!(params["link_preview_options"], json!({"is_disabled": true}));

        let with_preview = TelegramSender::new(TOKEN, &url, true).unwrap();
        with_preview.send(42, None, "x").await.unwrap();
        let params = &fake.seen()[1].2;
        assert!(params.get("link_preview_options").is_none() && params.get("message_thread_id").is_none());
        assert_eq!(with_preview.me().await.unwrap(), "tidings_test_bot");
    }

    #[tokio::test]
    async fn a_trailing_slash_in_the_api_url_is_harmless() {
        let (fake, url) = start().await;
        let sender = TelegramSender::new(TOKEN, &url.join("/tg/").unwrap(), true).unwrap();
        sender.send(1, None, "x").await.unwrap();
        assert_eq!(
            fake.seen().len(),
            1,
            "the request reached /tg/bot<TOKEN>/SendMessage"
        );
        let debug = format!("{sender:?}");
        assert!(
            !debug.contains("secret_TOKEN") && debug.contains("/tg"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn unparsable_html_is_resent_once_as_plain_text() {
        let (fake, url) = start().await;
        let sender = TelegramSender::new(TOKEN, &url, true).unwrap();
        let cant = "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0";
        fake.answer(400, error(400, cant));
        sender
            .send(5, None, "<b><a href=\"https://a.cn/?x=1&amp;y\">R&amp;D</a></b>")
            .await
            .unwrap();
        let seen = fake.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].2["text"], "R&D https://a.cn/?x=1&y");
        assert!(seen[1].2.get("parse_mode").is_none());

        fake.answer(400, error(400, cant));
        fake.answer(400, error(400, "Bad Request: message text is empty"));
        let e = sender.send(5, None, "<x>").await.unwrap_err();
        assert!(matches!(e, SendError::BadMessage(_)), "{e:?}");
        assert!(!e.is_transient());

        fake.answer(400, error(400, cant));
        fake.answer(
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3",
                                "parameters": {"retry_after": 3}}),
        );
        let e = sender.send(5, None, "<x>").await.unwrap_err();
        assert_eq!(e, SendError::RetryAfter(Duration::from_secs(3)));
        assert_eq!(fake.seen().len(), 6);
    }

    #[tokio::test]
    async fn answers_are_classified() {
        let (fake, url) = start().await;
        let sender = TelegramSender::new(TOKEN, &url, true).unwrap();
        type Expect = fn(&SendError) -> bool;
        let cases: Vec<(u16, Value, Expect)> = vec![
            (
                429,
                json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 2",
                       "parameters": {"retry_after": 2}}),
                |e| *e == SendError::RetryAfter(Duration::from_secs(2)),
            ),
            (403, error(403, "Forbidden: bot was blocked by the user"), |e| {
                matches!(e, SendError::Blocked(_))
            }),
            (
                403,
                error(403, "Forbidden: bot is not a member of the channel chat"),
                |e| matches!(e, SendError::Blocked(_)),
            ),
            (400, error(400, "Bad Request: chat not found"), |e| {
                matches!(e, SendError::ChatNotFound(_))
            }),
            (
                400,
                json!({"ok": false, "error_code": 400,
                       "description": "Bad Request: group chat was upgraded to a supergroup chat",
                       "parameters": {"migrate_to_chat_id": -1_001_234_567_890_i64}}),
                |e| *e == SendError::Migrated(-1_001_234_567_890),
            ),
            (400, error(400, "Bad Request: message thread not found"), |e| {
                matches!(e, SendError::Permanent(_))
            }),
            (401, error(401, "Unauthorized"), |e| {
                matches!(e, SendError::Permanent(_))
            }),
            (200, json!({"ok": "maybe"}), |e| {
                matches!(e, SendError::Transient(_))
            }),
            (
                404,
                json!(format!("<h1>no route to /bot{TOKEN}/SendMessage</h1>")),
                |e| matches!(e, SendError::Transient(m) if m.contains("/bot<token>/SendMessage")),
            ),
        ];
        for (status, body, expected) in cases {
            fake.answer(status, body.clone());
            let e = sender.send(-100, None, "x").await.unwrap_err();
            assert!(expected(&e), "{body} gave {e:?}");
            assert_eq!(
                e.is_transient(),
                matches!(e, SendError::RetryAfter(_) | SendError::Transient(_))
            );
            assert_no_token(&e);
        }
        let e = sender.me().await;
        assert_eq!(e.unwrap(), "tidings_test_bot");
    }

    #[tokio::test]
    async fn a_success_teloxide_cannot_read_still_counts_as_sent() {
        let (fake, url) = start().await;
        let sender = TelegramSender::new(TOKEN, &url, true).unwrap();
        fake.answer(200, json!({"ok": true, "result": {"message_id": "not a number"}}));
        sender.send(1, None, "x").await.unwrap();
        assert_eq!(fake.seen().len(), 1, "not resent");
    }

    #[tokio::test]
    async fn server_errors_are_transient() {
        // teloxide waits 10 s before returning a 5xx answer (DELAY_ON_SERVER_ERROR).
        let (fake, url) = start().await;
        let sender = TelegramSender::new(TOKEN, &url, true).unwrap();
        fake.answer(500, error(500, "Internal Server Error"));
        let e = sender.send(1, None, "x").await.unwrap_err();
        assert!(matches!(e, SendError::Transient(_)) && e.is_transient(), "{e:?}");
        assert_no_token(&e);
    }

    #[tokio::test]
    async fn network_errors_are_transient_and_never_show_the_token() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let url: url::Url = format!("http://{addr}").parse().unwrap();
        let sender = TelegramSender::new(TOKEN, &url, true).unwrap();
        let e = sender.send(1, None, "x").await.unwrap_err();
        assert!(matches!(e, SendError::Transient(_)), "{e:?}");
        assert_no_token(&e);
        let e = sender.me().await.unwrap_err();
        assert!(e.is_transient());
        assert_no_token(&e);
    }

    #[test]
    fn bad_configuration_is_refused_without_echoing_the_token() {
        let url: url::Url = "https://api.telegram.org".parse().unwrap();
        for token in ["", "12 34", "1/2"] {
            let e = TelegramSender::new(token, &url, true).unwrap_err();
            assert!(matches!(e, SendError::Permanent(_)));
        }
        let e = TelegramSender::new(TOKEN, &"ftp://x".parse().unwrap(), true).unwrap_err();
        assert_no_token(&e);
        assert_eq!(
            scrub("1:a", "x/bot1:a/y bot1%3Aa bot1%3aa"),
            "x/bot<token>/y bot<token> bot<token>"
        );
    }
}
