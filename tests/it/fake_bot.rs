//! A fake Telegram Bot API server on loopback, speaking the Bot API's JSON.
//!
//! Routes `/bot<TOKEN>/<method>` (GET or POST; JSON, form or query parameters), method names
//! matched case-insensitively (teloxide sends `SendMessage`, `GetMe`). It implements `getMe`,
//! `sendMessage` (with Telegram's strict HTML check, the 4096 UTF-16 limit and, unless
//! relaxed, the flood limits), `getUpdates` (long polling, offsets, 409 for a superseded
//! poll) and a few methods answering `true`; [`FakeBot::set_result`] adds others. Every call
//! is recorded with its time and status; answers can be scripted per chat.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Slack allowed on the flood limits for loopback scheduling jitter.
pub const LIMIT_SLACK: Duration = Duration::from_millis(25);

/// A running fake Bot API; the server stops when this is dropped.
pub struct FakeBot {
    inner: Arc<Mutex<Inner>>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// One accepted `sendMessage`.
#[derive(Debug, Clone)]
pub struct SentMsg {
    /// The target chat.
    pub chat_id: i64,
    /// The forum topic (`message_thread_id`), if any.
    pub thread_id: Option<i64>,
    /// The text as sent (HTML source when `parse_mode` is HTML).
    pub text: String,
    /// `parse_mode` as sent (`"HTML"`), if any.
    pub parse_mode: Option<String>,
    /// When the fake accepted it.
    pub at: Instant,
}

/// One request of any method, whatever the answer.
#[derive(Debug, Clone)]
pub struct Call {
    /// The Bot API method name (canonical spelling for the methods the fake knows, e.g.
    /// `sendMessage`; as sent otherwise).
    pub method: String,
    /// The `chat_id` parameter, when numeric.
    pub chat_id: Option<i64>,
    /// When the request arrived.
    pub at: Instant,
    /// The HTTP status answered.
    pub status: u16,
}

/// A scripted answer for the next `sendMessage` to a chat (Telegram's real shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripted {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after`.
    RetryAfter(u64),
    /// 403 `Forbidden: bot was blocked by the user`.
    Forbidden,
    /// 400 `Bad Request: chat not found`.
    ChatNotFound,
    /// 400 `Bad Request: can't parse entities: …` (whatever the text).
    CantParse,
    /// 500 `Internal Server Error`.
    ServerError,
    /// 400 `group chat was upgraded to a supergroup chat` with `parameters.migrate_to_chat_id`.
    MigrateTo(i64),
}

/// What kind of chat an id is (private unless set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatKind {
    /// A user's private chat with the bot: 1 message/s.
    #[default]
    Private,
    /// A basic group: 1 message/s and 20/min.
    Group,
    /// A supergroup (forum topics allowed): 1 message/s and 20/min.
    Supergroup,
    /// A channel: 1 message/s and 20/min.
    Channel,
}

/// Builds a method's `result` from its parameters (see [`FakeBot::set_result`]).
type ResultFn = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

struct Inner {
    token: String,
    sent: Vec<SentMsg>,
    calls: Vec<Call>,
    scripted: HashMap<i64, VecDeque<Scripted>>,
    kinds: HashMap<i64, ChatKind>,
    enforce: bool,
    /// Accepted messages per chat in the last minute.
    per_chat: HashMap<i64, VecDeque<Instant>>,
    /// Accepted messages in the last second.
    overall: VecDeque<Instant>,
    next_message_id: i64,
    updates: VecDeque<Value>,
    next_update_id: i64,
    /// Bumped by each getUpdates; an older poll still waiting answers 409.
    poll_generation: u64,
    results: HashMap<String, ResultFn>,
}

/// Method names the fake knows, in the Bot API's spelling.
const KNOWN: [&str; 13] = [
    "getMe",
    "sendMessage",
    "getUpdates",
    "deleteWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "answerCallbackQuery",
    "getChat",
    "getChatMember",
    "getChatAdministrators",
    "close",
];

impl FakeBot {
    /// Starts a fake for the bot with `token` on `127.0.0.1:0`, flood limits enforced.
    pub async fn start(token: &str) -> FakeBot {
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            sent: Vec::new(),
            calls: Vec::new(),
            scripted: HashMap::new(),
            kinds: HashMap::new(),
            enforce: true,
            per_chat: HashMap::new(),
            overall: VecDeque::new(),
            next_message_id: 1,
            updates: VecDeque::new(),
            next_update_id: 1,
            poll_generation: 0,
            results: HashMap::new(),
        }));
        let app = Router::new()
            .route("/{bot}/{method}", axum::routing::any(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake bot");
        let addr = listener.local_addr().expect("fake bot address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeBot { inner, addr, task }
    }

    /// The API base URL, without a trailing slash: `http://127.0.0.1:PORT`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every accepted `sendMessage`, in order.
    pub fn sent(&self) -> Vec<SentMsg> {
        self.lock().sent.clone()
    }

    /// How many `sendMessage` calls were accepted so far (cheap enough to poll).
    pub fn sent_count(&self) -> usize {
        self.lock().sent.len()
    }

    /// Every request, in order of arrival.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The next `sendMessage` to `chat_id` gets `answer` (queued: call again for the one after).
    pub fn fail_next(&self, chat_id: i64, answer: Scripted) {
        self.lock().scripted.entry(chat_id).or_default().push_back(answer);
    }

    /// Declares what kind of chat `chat_id` is (private by default).
    pub fn set_chat_kind(&self, chat_id: i64, kind: ChatKind) {
        self.lock().kinds.insert(chat_id, kind);
    }

    /// Turns the flood limits on (the default) or off. When on, `sendMessage` answers 429
    /// with `retry_after` when a chat got a message less than 1 s ago, a group, supergroup or
    /// channel got 20 in the last 60 s, or 30 were accepted in the last second overall (each
    /// with [`LIMIT_SLACK`] of tolerance).
    pub fn enforce_limits(&self, on: bool) {
        self.lock().enforce = on;
    }

    /// Queues an update for `getUpdates`, assigning its `update_id` when missing; returns it.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut inner = self.lock();
        let id = match update.get("update_id").and_then(Value::as_i64) {
            Some(id) => id,
            None => {
                let id = inner.next_update_id;
                update["update_id"] = json!(id);
                id
            }
        };
        inner.next_update_id = inner.next_update_id.max(id + 1);
        inner.updates.push_back(update);
        id
    }

    /// Queues a text message from user `user_id` in `chat_id` (of its declared kind) as an
    /// update; returns the `update_id`.
    pub fn push_text(&self, chat_id: i64, user_id: i64, text: &str) -> i64 {
        let (kind, message_id) = {
            let mut inner = self.lock();
            inner.next_message_id += 1;
            (inner.kind(chat_id), inner.next_message_id)
        };
        let mut message = json!({
            "message_id": message_id,
            "date": unix_now(),
            "chat": chat_json(chat_id, kind),
            "text": text,
        });
        if kind == ChatKind::Channel {
            message["sender_chat"] = chat_json(chat_id, kind);
            return self.push_update(json!({ "channel_post": message }));
        }
        message["from"] = json!({"id": user_id, "is_bot": false, "first_name": "User", "username": format!("user{user_id}")});
        if text.starts_with('/') {
            let command = text.split_whitespace().next().unwrap_or(text);
            let units = command.encode_utf16().count();
            message["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": units }]);
        }
        self.push_update(json!({ "message": message }))
    }

    /// Makes `method` (any spelling) answer `{"ok":true,"result":f(params)}`, replacing the
    /// fake's own behaviour for it.
    pub fn set_result(&self, method: &str, f: impl Fn(&Value) -> Value + Send + Sync + 'static) {
        self.lock()
            .results
            .insert(method.to_ascii_lowercase(), Arc::new(f));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeBot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Inner {
    fn kind(&self, chat_id: i64) -> ChatKind {
        self.kinds.get(&chat_id).copied().unwrap_or_default()
    }

    /// The 429 `retry_after` (seconds) if a message to `chat_id` now would break a limit.
    fn flood_wait(&mut self, chat_id: i64, now: Instant) -> Option<u64> {
        let second = Duration::from_secs(1) - LIMIT_SLACK;
        let minute = Duration::from_secs(60) - LIMIT_SLACK;
        while self
            .overall
            .front()
            .is_some_and(|t| now.duration_since(*t) >= second)
        {
            self.overall.pop_front();
        }
        let group = self.kind(chat_id) != ChatKind::Private;
        let times = self.per_chat.entry(chat_id).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= minute) {
            times.pop_front();
        }
        if times.back().is_some_and(|t| now.duration_since(*t) < second) {
            return Some(1);
        }
        if group && times.len() >= 20 {
            let oldest = *times.front()?;
            let wait = (oldest + Duration::from_secs(60)).saturating_duration_since(now);
            return Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        if self.overall.len() >= 30 {
            return Some(1);
        }
        None
    }

    fn record_accepted(&mut self, chat_id: i64, now: Instant) {
        self.overall.push_back(now);
        self.per_chat.entry(chat_id).or_default().push_back(now);
    }
}

/// The Bot API's JSON answer with its HTTP status.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn ok(result: Value) -> Answer {
        Answer {
            status: 200,
            body: json!({"ok": true, "result": result}),
        }
    }

    fn err(status: u16, description: &str) -> Answer {
        Answer {
            status,
            body: json!({"ok": false, "error_code": status, "description": description}),
        }
    }

    fn retry_after(seconds: u64) -> Answer {
        Answer {
            status: 429,
            body: json!({"ok": false, "error_code": 429,
                         "description": format!("Too Many Requests: retry after {seconds}"),
                         "parameters": {"retry_after": seconds}}),
        }
    }

    fn scripted(s: Scripted) -> Answer {
        match s {
            Scripted::RetryAfter(n) => Answer::retry_after(n),
            Scripted::Forbidden => Answer::err(403, "Forbidden: bot was blocked by the user"),
            Scripted::ChatNotFound => Answer::err(400, "Bad Request: chat not found"),
            Scripted::CantParse => Answer::err(
                400,
                "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0",
            ),
            Scripted::ServerError => Answer::err(500, "Internal Server Error"),
            Scripted::MigrateTo(id) => Answer {
                status: 400,
                body: json!({"ok": false, "error_code": 400,
                             "description": "Bad Request: group chat was upgraded to a supergroup chat",
                             "parameters": {"migrate_to_chat_id": id}}),
            },
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body.to_string(),
        )
            .into_response()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((bot, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let at = Instant::now();
    let method = KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(&method))
        .map_or(method, |k| (*k).to_owned());
    let params = params(query.as_deref(), &headers, &body);
    let chat_id = params.as_ref().ok().and_then(|p| int(&p["chat_id"]));
    let answer = match params {
        Err(e) => Answer::err(400, &format!("Bad Request: {e}")),
        Ok(params) => {
            let token_ok = bot.strip_prefix("bot") == Some(lock(&inner).token.as_str());
            if token_ok {
                answer(&inner, &method, &params, at).await
            } else {
                Answer::err(401, "Unauthorized")
            }
        }
    };
    lock(&inner).calls.push(Call {
        method,
        chat_id,
        at,
        status: answer.status,
    });
    answer
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

async fn answer(inner: &Arc<Mutex<Inner>>, method: &str, params: &Value, at: Instant) -> Answer {
    let custom = lock(inner).results.get(&method.to_ascii_lowercase()).cloned();
    if let Some(f) = custom {
        return Answer::ok(f(params));
    }
    match method {
        "getMe" => Answer::ok(json!({
            "id": 1, "is_bot": true, "first_name": "Tidings", "username": "tidings_test_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        })),
        "sendMessage" => send_message(&mut lock(inner), params, at),
        "getUpdates" => get_updates(inner, params).await,
        "deleteWebhook" | "setMyCommands" | "deleteMyCommands" | "answerCallbackQuery" | "close" => {
            Answer::ok(json!(true))
        }
        "getMyCommands" => Answer::ok(json!([])),
        "getWebhookInfo" => Answer::ok(json!({"url": "", "has_custom_certificate": false,
                                               "pending_update_count": 0})),
        _ => Answer::err(404, "Not Found: method not found"),
    }
}

fn send_message(inner: &mut Inner, params: &Value, at: Instant) -> Answer {
    let Some(chat_id) = int(&params["chat_id"]) else {
        return if params.get("chat_id").is_some() {
            Answer::err(400, "Bad Request: chat not found")
        } else {
            Answer::err(400, "Bad Request: chat_id is empty")
        };
    };
    if let Some(s) = inner.scripted.get_mut(&chat_id).and_then(VecDeque::pop_front) {
        return Answer::scripted(s);
    }
    if inner.enforce
        && let Some(wait) = inner.flood_wait(chat_id, at)
    {
        return Answer::retry_after(wait);
    }
    let text = match &params["text"] {
        Value::String(s) => s.clone(),
        Value::Null => return Answer::err(400, "Bad Request: message text is empty"),
        other => other.to_string(),
    };
    let parse_mode = params["parse_mode"].as_str().map(str::to_owned);
    let visible = match parse_mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => text.clone(),
        Some("html") => match check_html(&text) {
            Ok(visible) => visible,
            Err(e) => return Answer::err(400, &format!("Bad Request: can't parse entities: {e}")),
        },
        Some(other) => return Answer::err(400, &format!("Bad Request: unsupported parse_mode \"{other}\"")),
    };
    if visible.trim().is_empty() {
        return Answer::err(400, "Bad Request: message text is empty");
    }
    if text.encode_utf16().count() > 4096 {
        return Answer::err(400, "Bad Request: message is too long");
    }
    let thread_id = int(&params["message_thread_id"]);
    let kind = inner.kind(chat_id);
    if thread_id.is_some() && kind != ChatKind::Supergroup {
        return Answer::err(400, "Bad Request: message thread not found");
    }
    inner.record_accepted(chat_id, at);
    inner.next_message_id += 1;
    let mut message = json!({
        "message_id": inner.next_message_id,
        "date": unix_now(),
        "chat": chat_json(chat_id, kind),
        "text": visible,
    });
    if kind == ChatKind::Channel {
        message["sender_chat"] = chat_json(chat_id, kind);
    } else {
        message["from"] = json!({"id": 1, "is_bot": true, "first_name": "Tidings",
                                 "username": "tidings_test_bot"});
    }
    if let Some(thread) = thread_id {
        message["message_thread_id"] = json!(thread);
        message["is_topic_message"] = json!(true);
        message["chat"]["is_forum"] = json!(true);
    }
    inner.sent.push(SentMsg {
        chat_id,
        thread_id,
        text,
        parse_mode,
        at,
    });
    Answer::ok(message)
}

/// Long polling: answers as soon as updates with `update_id >= offset` exist or after
/// `timeout` seconds; updates below `offset` are confirmed (dropped). A poll superseded by a
/// newer one answers 409 like Telegram.
async fn get_updates(inner: &Arc<Mutex<Inner>>, params: &Value) -> Answer {
    let offset = int(&params["offset"]).unwrap_or(0);
    let limit = int(&params["limit"]).unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(int(&params["timeout"]).unwrap_or(0).clamp(0, 50) as u64);
    let deadline = Instant::now() + timeout;
    let generation = {
        let mut inner = lock(inner);
        inner.poll_generation += 1;
        inner.poll_generation
    };
    loop {
        {
            let mut inner = lock(inner);
            if inner.poll_generation != generation {
                return Answer::err(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot \
                     instance is running",
                );
            }
            if offset > 0 {
                while inner
                    .updates
                    .front()
                    .is_some_and(|u| int(&u["update_id"]).unwrap_or(0) < offset)
                {
                    inner.updates.pop_front();
                }
            }
            if !inner.updates.is_empty() || Instant::now() >= deadline {
                let batch: Vec<Value> = inner.updates.iter().take(limit).cloned().collect();
                return Answer::ok(Value::Array(batch));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The request's parameters as a JSON object: query string, then the JSON or form body.
fn params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    let mut map = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        map.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if body.iter().all(u8::is_ascii_whitespace) {
        // no body
    } else if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(obj)) => map.extend(obj),
            Ok(_) => return Err("the JSON body is not an object".into()),
            Err(e) => return Err(format!("can't parse JSON: {e}")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in url::form_urlencoded::parse(body) {
            map.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    } else {
        return Err(format!("unsupported Content-Type {content_type:?}"));
    }
    Ok(Value::Object(map))
}

/// An integer parameter given as a number or a numeric string.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn chat_json(chat_id: i64, kind: ChatKind) -> Value {
    match kind {
        ChatKind::Private => json!({"id": chat_id, "type": "private", "first_name": "User"}),
        ChatKind::Group => json!({"id": chat_id, "type": "group", "title": "Group"}),
        ChatKind::Supergroup => json!({"id": chat_id, "type": "supergroup", "title": "Supergroup"}),
        ChatKind::Channel => json!({"id": chat_id, "type": "channel", "title": "Channel"}),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Telegram's HTML check, strictly: only the supported tags and attributes, properly nested
/// and closed; `<`, `>` and `&` only as markup or as `&lt;` `&gt;` `&amp;` `&quot;` or numeric
/// entities. Returns the visible text, or the reason the way Telegram words it.
pub fn check_html(html: &str) -> Result<String, String> {
    let mut visible = String::new();
    let mut open: Vec<(String, usize)> = Vec::new();
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < html.len() {
        match bytes[i] {
            b'&' => {
                let (c, len) = entity(&html[i..])
                    .ok_or_else(|| format!("Can't find end of the entity starting at byte offset {i}"))?;
                visible.push(c);
                i += len;
            }
            b'>' => return Err(format!("Unexpected end of name token at byte offset {i}")),
            b'<' => {
                let end = html[i..]
                    .find('>')
                    .map(|e| i + e)
                    .ok_or_else(|| format!("Unclosed start tag at byte offset {i}"))?;
                let inside = &html[i + 1..end];
                if inside.contains('<') {
                    return Err(format!("Unexpected start of tag at byte offset {i}"));
                }
                if let Some(name) = inside.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match open.pop() {
                        Some((top, _)) if top == name => {}
                        Some((top, _)) => {
                            return Err(format!(
                                "Can't find end tag corresponding to start tag \"{top}\" (found \"{name}\" \
                                 at byte offset {i})"
                            ));
                        }
                        None => return Err(format!("Unexpected end tag at byte offset {i}")),
                    }
                } else {
                    let (name, attrs) = tag(inside).map_err(|e| format!("{e} at byte offset {i}"))?;
                    check_tag(&name, &attrs, &open).map_err(|e| format!("{e} at byte offset {i}"))?;
                    open.push((name, i));
                }
                i = end + 1;
            }
            _ => {
                let next = html[i..].find(['&', '<', '>']).map_or(html.len(), |n| i + n);
                visible.push_str(&html[i..next]);
                i = next;
            }
        }
    }
    match open.pop() {
        Some((name, at)) => Err(format!(
            "Can't find end tag corresponding to start tag \"{name}\" at byte offset {at}"
        )),
        None => Ok(visible),
    }
}

/// A tag's attributes: lower-cased names, values (entities decoded) if given.
type Attrs = Vec<(String, Option<String>)>;

/// A start tag's lower-cased name and attributes (values with entities decoded).
fn tag(inside: &str) -> Result<(String, Attrs), String> {
    let inside = inside.strip_suffix('/').unwrap_or(inside);
    let name_end = inside
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(inside.len());
    let name = inside[..name_end].to_ascii_lowercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("Empty or invalid tag name".into());
    }
    let mut attrs = Vec::new();
    let mut rest = inside[name_end..].trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..key_end].to_ascii_lowercase();
        if key.is_empty() {
            return Err("Empty attribute name".into());
        }
        rest = rest[key_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (raw, remaining) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let close = after[1..].find(q).ok_or("Unclosed attribute value")?;
                    (&after[1..1 + close], &after[close + 2..])
                }
                Some(_) => {
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
                None => return Err("Expected attribute value".into()),
            };
            rest = remaining.trim_start();
            Some(decode(raw).ok_or("Can't parse entity in attribute value")?)
        } else {
            None
        };
        attrs.push((key, value));
    }
    Ok((name, attrs))
}

/// Whether a start tag is one Telegram supports, with only its attributes, where it may be.
fn check_tag(name: &str, attrs: &Attrs, open: &[(String, usize)]) -> Result<(), String> {
    let attr = |k: &str| {
        attrs
            .iter()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.as_deref())
    };
    let only = |allowed: &[&str]| match attrs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(format!("Unsupported attribute \"{k}\" of tag \"{name}\"")),
        None => Ok(()),
    };
    if open.iter().any(|(n, _)| n == "pre" || n == "code") && name != "code" {
        return Err(format!("Unsupported start tag \"{name}\" inside a code block"));
    }
    match name {
        "b" | "strong" | "i" | "em" | "u" | "ins" | "s" | "strike" | "del" | "tg-spoiler" | "pre" => {
            only(&[])
        }
        "blockquote" => only(&["expandable"]),
        "span" => {
            only(&["class"])?;
            if attr("class") == Some("tg-spoiler") {
                Ok(())
            } else {
                Err("Unsupported start tag \"span\" without class=\"tg-spoiler\"".into())
            }
        }
        "code" => {
            only(&["class"])?;
            match attr("class") {
                None => Ok(()),
                Some(c) if c.starts_with("language-") && open.last().is_some_and(|(n, _)| n == "pre") => {
                    Ok(())
                }
                Some(c) => Err(format!("Unsupported class \"{c}\" of tag \"code\"")),
            }
        }
        "a" => {
            only(&["href"])?;
            match attr("href") {
                Some(h) if !h.trim().is_empty() => Ok(()),
                _ => Err("Tag \"a\" must have a non-empty attribute \"href\"".into()),
            }
        }
        _ => Err(format!("Unsupported start tag \"{name}\"")),
    }
}

/// The entity at the start of `s`: its character and byte length (named: lt, gt, amp, quot).
fn entity(s: &str) -> Option<(char, usize)> {
    let semi = s.char_indices().take(12).find(|&(_, c)| c == ';')?.0;
    let name = &s[1..semi];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let digits = name.strip_prefix('#')?;
            let code = match digits.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => digits.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, semi + 1))
}

/// Entities decoded in an attribute value; `None` if a bare `&`, `<` or `>` is in it.
fn decode(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        let c = rest.chars().next()?;
        match c {
            '&' => {
                let (c, len) = entity(rest)?;
                out.push(c);
                i += len;
            }
            '<' | '>' => return None,
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};
    use teloxide::payloads::GetUpdatesSetters;
    use teloxide::requests::Requester;
    use tidings::domain::{Article, Item, RegionRef};
    use tidings::notify::telegram::{MAX_UTF16, SendError, TelegramSender, item_message};

    use super::*;

    const TOKEN: &str = "987654:FAKE-token_secret";

    fn sender(fake: &FakeBot) -> TelegramSender {
        crate::helpers::tls();
        TelegramSender::new(TOKEN, &fake.api_url().parse().unwrap(), false).unwrap()
    }

    fn hostile_item() -> Item {
        let body: String = "正文<b>&]]>😀\"".chars().cycle().take(10_000).collect();
        Item {
            id: "x".into(),
            source: "jzrb".into(),
            article: Article {
                url: "https://news.example.cn/a?b=1&c=<2>".into(),
                guid: None,
                title: "<b>R&D</b> ]]> 😀 \u{7}新闻".into(),
                author: Some("<i>记者</i>".into()),
                region: Some(RegionRef {
                    slug: "jinzhong".into(),
                    name: "晋中".into(),
                    known: true,
                }),
                published: Some(DateTime::parse_from_rfc3339("2022-02-23T10:43:00+08:00").unwrap()),
                tags: vec!["晋中".into(), "高质量".into(), "R&D".into(), "<新>".into()],
                summary: Some(body),
                body_html: None,
                images: vec![],
                comments: None,
            },
            created: Utc.with_ymd_and_hms(2022, 2, 23, 3, 0, 0).unwrap(),
            updated: Utc.with_ymd_and_hms(2022, 2, 23, 3, 0, 0).unwrap(),
        }
    }

    fn no_token(e: &SendError) {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(
                !text.contains(TOKEN) && !text.contains("token_secret"),
                "token leaked: {text}"
            );
        }
    }

    #[tokio::test]
    async fn fake_bot_speaks_the_bot_api() {
        let fake = FakeBot::start(TOKEN).await;
        fake.enforce_limits(false);
        let tg = sender(&fake);
        assert_eq!(tg.me().await.unwrap(), "tidings_test_bot");

        // A plain send, and a hostile item's message through the strict HTML check.
        tg.send(100, None, "<b>你好</b> &amp; 😀").await.unwrap();
        let msg = item_message(&hostile_item(), chrono_tz::Asia::Shanghai);
        assert!(msg.encode_utf16().count() <= MAX_UTF16);
        tg.send(100, None, &msg).await.unwrap();
        let sent = fake.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            (sent[0].chat_id, sent[0].parse_mode.as_deref()),
            (100, Some("HTML"))
        );
        assert_eq!(
            sent[1].text, msg,
            "accepted as HTML, not via the plain-text fallback"
        );
        assert!(msg.contains("2022-02-23 10:43") && msg.contains("#晋中 #高质量 #R_D #新"));

        // Strict HTML rejection, then the plain-text fallback.
        tg.send(100, None, "<b>bold</i> &bogus; <a href=\"https://a.cn\">x</a>")
            .await
            .unwrap();
        let last = fake.sent().pop().unwrap();
        assert_eq!(last.parse_mode, None);
        assert_eq!(last.text, "bold &bogus; x https://a.cn");
        let rejected = fake.calls().iter().filter(|c| c.status == 400).count();
        assert_eq!(rejected, 1);

        // Forum topics: only in supergroups.
        fake.set_chat_kind(-200, ChatKind::Supergroup);
        tg.send(-200, Some(7), "topic").await.unwrap();
        assert_eq!(fake.sent().pop().unwrap().thread_id, Some(7));

        // Scripted failures.
        let scripted = [
            (
                Scripted::RetryAfter(2),
                SendError::RetryAfter(Duration::from_secs(2)),
            ),
            (
                Scripted::MigrateTo(-1_009_876_543_210),
                SendError::Migrated(-1_009_876_543_210),
            ),
        ];
        for (script, expected) in scripted {
            fake.fail_next(300, script);
            let e = tg.send(300, None, "x").await.unwrap_err();
            assert_eq!(e, expected);
            no_token(&e);
        }
        fake.fail_next(300, Scripted::Forbidden);
        let e = tg.send(300, None, "x").await.unwrap_err();
        assert!(matches!(e, SendError::Blocked(_)), "{e:?}");
        no_token(&e);
        fake.fail_next(300, Scripted::ChatNotFound);
        let e = tg.send(300, None, "x").await.unwrap_err();
        assert!(matches!(e, SendError::ChatNotFound(_)), "{e:?}");
        no_token(&e);
        fake.fail_next(300, Scripted::CantParse);
        tg.send(300, None, "<b>x</b>").await.unwrap();
        assert_eq!(fake.sent().pop().unwrap().text, "x");
        fake.fail_next(300, Scripted::CantParse);
        fake.fail_next(300, Scripted::CantParse);
        let e = tg.send(300, None, "x").await.unwrap_err();
        assert!(matches!(e, SendError::BadMessage(_)), "{e:?}");
        fake.fail_next(300, Scripted::ServerError);
        let e = tg.send(300, None, "x").await.unwrap_err();
        assert!(matches!(e, SendError::Transient(_)) && e.is_transient(), "{e:?}");
        no_token(&e);

        // Every call was recorded, with the canonical method name and its status.
        let calls = fake.calls();
        assert_eq!(calls[0].method, "getMe");
        assert!(calls[1..].iter().all(|c| c.method == "sendMessage"));
        let to_300: Vec<u16> = calls
            .iter()
            .filter(|c| c.chat_id == Some(300))
            .map(|c| c.status)
            .collect();
        assert_eq!(to_300, [429, 400, 403, 400, 400, 200, 400, 400, 500]);

        // A wrong token is refused; the error does not show it.
        let other = TelegramSender::new("1:other", &fake.api_url().parse().unwrap(), false).unwrap();
        let e = other.send(100, None, "x").await.unwrap_err();
        assert!(matches!(e, SendError::Permanent(_)), "{e:?}");
    }

    #[tokio::test]
    async fn fake_bot_enforces_flood_limits() {
        let fake = FakeBot::start(TOKEN).await;
        let tg = sender(&fake);
        tg.send(1, None, "a").await.unwrap();
        let e = tg.send(1, None, "b").await.unwrap_err();
        assert_eq!(e, SendError::RetryAfter(Duration::from_secs(1)));
        tg.send(2, None, "other chat is fine").await.unwrap();

        fake.set_chat_kind(-5, ChatKind::Channel);
        {
            // 20 messages a second apart would take 20 s: fill the window by hand.
            let mut inner = fake.lock();
            let long_ago = Instant::now() - Duration::from_secs(30);
            inner.per_chat.insert(-5, (0..20).map(|_| long_ago).collect());
        }
        let e = tg.send(-5, None, "21st in a minute").await.unwrap_err();
        assert!(
            matches!(e, SendError::RetryAfter(d) if (29..=31).contains(&d.as_secs())),
            "{e:?}"
        );

        // 30 messages in the last second overall: the 31st waits, whatever the chat.
        {
            let mut inner = fake.lock();
            inner.overall.clear();
            inner.overall.extend(std::iter::repeat_n(Instant::now(), 30));
        }
        let e = tg.send(10, None, "31st this second").await.unwrap_err();
        assert_eq!(e, SendError::RetryAfter(Duration::from_secs(1)));

        fake.enforce_limits(false);
        tg.send(1, None, "relaxed").await.unwrap();
        tg.send(1, None, "relaxed again").await.unwrap();
        let sent = fake.sent();
        assert_eq!(sent.iter().map(|m| m.chat_id).collect::<Vec<_>>(), [1, 2, 1, 1]);
        assert!(sent.windows(2).all(|w| w[0].at <= w[1].at));
        let calls = fake.calls();
        assert!(calls.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!(calls.iter().filter(|c| c.status == 429).count(), 3);
    }

    #[tokio::test]
    async fn fake_bot_long_polls_updates_for_teloxide() {
        crate::helpers::tls();
        let fake = FakeBot::start(TOKEN).await;
        let bot = teloxide::Bot::new(TOKEN).set_api_url(fake.api_url().parse().unwrap());
        let started = Instant::now();
        let none = bot.get_updates().timeout(1).await.unwrap();
        assert!(none.is_empty() && started.elapsed() >= Duration::from_millis(900));

        fake.set_chat_kind(-7, ChatKind::Group);
        let first = fake.push_text(-7, 42, "/subscribe 晋中 高质量");
        let updates = bot.get_updates().timeout(5).await.unwrap();
        assert_eq!(updates.len(), 1);
        let teloxide::types::UpdateKind::Message(m) = &updates[0].kind else {
            panic!("not a message: {:?}", updates[0].kind)
        };
        assert_eq!((m.chat.id.0, m.text()), (-7, Some("/subscribe 晋中 高质量")));
        assert!(m.chat.is_group() && m.from.as_ref().is_some_and(|u| u.id.0 == 42));

        fake.set_chat_kind(-8, ChatKind::Channel);
        fake.push_text(-8, 0, "/list");
        let updates = bot
            .get_updates()
            .offset(first as i32 + 1)
            .timeout(5)
            .await
            .unwrap();
        assert_eq!(updates.len(), 1, "the first update was confirmed by the offset");
        assert!(matches!(
            updates[0].kind,
            teloxide::types::UpdateKind::ChannelPost(_)
        ));

        // A second poller supersedes the first, which gets 409.
        let waiting = tokio::spawn({
            let bot = bot.clone();
            async move { bot.get_updates().offset(first as i32 + 2).timeout(5).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = bot
            .get_updates()
            .offset(first as i32 + 2)
            .timeout(0)
            .await
            .unwrap();
        let superseded = waiting.await.unwrap().unwrap_err();
        assert!(
            matches!(
                superseded,
                teloxide::RequestError::Api(teloxide::ApiError::TerminatedByOtherGetUpdates)
            ),
            "{superseded:?}"
        );
        assert!(fake.calls().iter().all(|c| c.method == "getUpdates"));

        // Methods the fake does not know can be given answers.
        let unknown = bot
            .get_chat_administrators(teloxide::types::ChatId(-7))
            .await
            .unwrap_err();
        assert!(matches!(unknown, teloxide::RequestError::Api(_)), "{unknown:?}");
        fake.set_result("getChatAdministrators", |params| {
            assert_eq!(params["chat_id"], -7);
            json!([{"status": "creator", "is_anonymous": false,
                    "user": {"id": 42, "is_bot": false, "first_name": "Admin"}}])
        });
        let admins = bot
            .get_chat_administrators(teloxide::types::ChatId(-7))
            .await
            .unwrap();
        assert_eq!(admins.len(), 1);
        assert_eq!(admins[0].user.id.0, 42);
    }

    #[test]
    fn strict_html_check_matches_telegram() {
        let ok = [
            "plain",
            "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>",
            "<a href=\"https://x.cn/?a=1&amp;b=2\">l</a> <a href='tg://user?id=1'>m</a>",
            "<span class=\"tg-spoiler\">s</span><tg-spoiler>t</tg-spoiler><blockquote expandable>q</blockquote>",
            "<pre><code class=\"language-rust\">fn x() {}</code></pre> <code>&lt;&gt;&amp;&quot;&#39;&#x1F600;</code>",
            "<b>nested <i>fine</i></b>",
        ];
        for html in ok {
            check_html(html).unwrap_or_else(|e| panic!("{html}: {e}"));
        }
        assert_eq!(check_html("<b>R&amp;D</b> &#x1F600;").unwrap(), "R&D 😀");
        let bad = [
            "<b>unclosed",
            "<b>x</i>",
            "</b>",
            "a < b",
            "a > b",
            "R&D",
            "&nbsp;",
            "<script>x</script>",
            "<a>no href</a>",
            "<a href=\"x\" onclick=\"y\">z</a>",
            "<span>no class</span>",
            "<b class=\"x\">y</b>",
            "<pre><b>no tags in code</b></pre>",
            "<b",
            "<a href=\"a<b\">x</a>",
        ];
        for html in bad {
            assert!(check_html(html).is_err(), "accepted {html:?}");
        }
    }
}
