//! Email subscription pages: `POST /subscribe`, `/confirm/{token}`, `/manage/{token}` and
//! `/unsubscribe/{token}` (a GET shows a page and changes nothing, since mail scanners
//! follow links; a POST unsubscribes at once, without redirect or cookie — RFC 8058).
//!
//! Every answer is a small zh-CN page marked `no-store` and `no-referrer` (the URLs carry
//! tokens). `/subscribe` is rate-limited per client IP (taken from `X-Forwarded-For` only
//! behind `[server] trusted_proxies`) and per address; its answer is the same whether or
//! not the address is already subscribed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;

use super::catalog::Catalog;
use super::feeds::absolute;
use super::pages::{SITE_TITLE, render_page};
use super::{ServeError, ServeState};
use crate::app::{App, SubscribeError, SubscribeInput};
use crate::notify::email::{Purpose, hash_token};
use crate::store::{ConfirmOutcome, Recipient, RecipientSpec};

/// Subscription requests per client IP, refilled evenly over the hour.
pub struct SubscribeLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl SubscribeLimiter {
    /// At most `per_hour` requests per IP per hour (0: no limit).
    pub fn new(per_hour: u32) -> SubscribeLimiter {
        SubscribeLimiter {
            limiter: NonZeroU32::new(per_hour).map(|n| RateLimiter::keyed(Quota::per_hour(n))),
        }
    }

    /// Whether `ip` may make one more request now.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let Some(limiter) = &self.limiter else {
            return true;
        };
        if limiter.len() > 10_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).is_ok()
    }
}

/// The client's address: the connecting peer, or — when the peer is a trusted proxy — the
/// nearest address in `X-Forwarded-For` that is not a trusted proxy itself.
pub fn client_ip(app: &App, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
    let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let trusted = &app.config.server.trusted_proxies;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// One link on a page.
#[derive(Serialize)]
struct PageLink {
    url: String,
    label: String,
}

/// A one-button form posting to `action`.
#[derive(Serialize)]
struct PageButton {
    action: String,
    label: String,
}

/// What the subscription form shows (empty on `/`, filled in on the manage page).
#[derive(Serialize)]
pub struct SubscribeForm {
    action: String,
    button: &'static str,
    email: Option<String>,
    regions: Vec<Choice>,
    tags: Vec<Choice>,
    extra_topics: String,
    mode: String,
    at: String,
    weekday: String,
    tz: String,
}

/// One checkbox.
#[derive(Serialize)]
struct Choice {
    slug: String,
    name: String,
    checked: bool,
}

/// Tags offered as checkboxes (the most used ones).
const FORM_TAGS: usize = 24;

impl SubscribeForm {
    /// The empty form on `/`, posting to `/subscribe`.
    pub fn blank(app: &App, catalog: &Catalog) -> SubscribeForm {
        SubscribeForm::filled(
            app,
            catalog,
            None,
            absolute(&app.config.public_url(), "/subscribe"),
        )
    }

    /// The form for `recipient` (or a blank one), posting to `action`.
    fn filled(app: &App, catalog: &Catalog, recipient: Option<&Recipient>, action: String) -> SubscribeForm {
        let topics = recipient.map(|r| r.topics.as_slice()).unwrap_or_default();
        let regions = catalog
            .regions
            .iter()
            .filter(|r| r.configured)
            .map(|r| Choice {
                slug: r.slug.clone(),
                name: r.name.clone(),
                checked: topics
                    .iter()
                    .any(|t| t.tag.is_none() && t.region.as_deref() == Some(&r.slug)),
            })
            .collect();
        let tags: Vec<Choice> = catalog
            .tags
            .iter()
            .take(FORM_TAGS)
            .map(|t| Choice {
                slug: t.key.clone(),
                name: t.key.clone(),
                checked: topics
                    .iter()
                    .any(|x| x.region.is_none() && x.tag.as_deref() == Some(&t.key)),
            })
            .collect();
        // Topics the checkboxes cannot show go in the text field.
        let extra: Vec<String> = topics
            .iter()
            .filter(|t| match (&t.region, &t.tag) {
                (Some(_), None) => false,
                (None, Some(tag)) => !tags.iter().any(|c| &c.name == tag),
                _ => true,
            })
            .map(|t| crate::notify::topics::show_topic(t, &app.config.regions))
            .collect();
        SubscribeForm {
            action,
            button: if recipient.is_some() {
                "保存修改"
            } else {
                "订阅"
            },
            email: recipient.is_none().then(String::new),
            regions,
            tags,
            extra_topics: extra.join(" "),
            mode: recipient.map_or("instant", |r| r.mode.as_str()).to_owned(),
            at: recipient
                .and_then(|r| r.digest_at.clone())
                .unwrap_or_else(|| "08:00".into()),
            weekday: recipient
                .and_then(|r| r.digest_weekday.clone())
                .unwrap_or_else(|| "mon".into()),
            tz: recipient.map_or("Asia/Shanghai", |r| r.tz.as_str()).to_owned(),
        }
    }
}

/// A message page's content.
#[derive(Serialize, Default)]
struct MessagePage {
    site_title: &'static str,
    home: String,
    title: String,
    paragraphs: Vec<String>,
    error: bool,
    list: Vec<String>,
    links: Vec<PageLink>,
    button: Option<PageButton>,
    form: Option<SubscribeForm>,
}

impl MessagePage {
    fn new(app: &App, title: &str, paragraphs: &[String]) -> MessagePage {
        MessagePage {
            site_title: SITE_TITLE,
            home: app.config.public_url().to_string(),
            title: title.to_owned(),
            paragraphs: paragraphs.to_vec(),
            ..MessagePage::default()
        }
    }

    fn respond(self, status: StatusCode) -> Result<Response, ServeError> {
        let html = render_page("message.html", &self)?;
        let mut response = (status, html).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        Ok(response)
    }
}

/// The form's fields (repeated `region`, `tag`, `topic`; `topic` may hold several,
/// space-separated).
fn parse_form(body: &[u8]) -> SubscribeInput {
    let mut input = SubscribeInput::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = v.into_owned();
        match k.as_ref() {
            "email" => input.email = v,
            "region" => input.regions.push(v),
            "tag" => input.tags.push(v),
            "topic" => input.topics.extend(v.split_whitespace().map(str::to_owned)),
            "mode" => input.mode = Some(v),
            "at" => input.at = Some(v),
            "weekday" => input.weekday = Some(v),
            "tz" => input.tz = Some(v),
            _ => {}
        }
    }
    input
}

fn peer(connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    connect.map(|c| c.0.0.ip())
}

/// `POST /subscribe`
pub(super) async fn subscribe(
    State(state): State<ServeState>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServeError> {
    let app = &state.app;
    let ip = client_ip(app, peer(connect), &headers);
    if !state.subscribe_limit.allow(ip) {
        let page = MessagePage::new(
            app,
            "请求过于频繁",
            &["您提交订阅的次数太多了，请一小时后再试。".into()],
        );
        return page.respond(StatusCode::TOO_MANY_REQUESTS);
    }
    let input = parse_form(&body);
    let outcome = match app.check_subscription(&input) {
        Ok(request) => {
            let address = request.address.clone();
            app.request_subscription(request, Utc::now())
                .await
                .map(|()| address)
        }
        Err(e) => Err(e),
    };
    let (status, title) = match &outcome {
        Ok(address) => {
            let page = MessagePage::new(
                app,
                "请查收确认邮件",
                &[
                    format!(
                        "我们已向 {address} 发送了一封确认邮件。请打开邮件并点击其中的确认链接，之后才会开始推送。"
                    ),
                    "确认链接 48 小时内有效。没有收到？请检查垃圾邮件文件夹。".into(),
                ],
            );
            return page.respond(StatusCode::OK);
        }
        Err(SubscribeError::TooMany) => (StatusCode::TOO_MANY_REQUESTS, "请求过于频繁"),
        Err(SubscribeError::MailOff | SubscribeError::Send(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "暂时无法订阅")
        }
        Err(SubscribeError::Store(e)) => {
            tracing::error!("subscription request failed: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "暂时无法订阅")
        }
        Err(SubscribeError::Address(_) | SubscribeError::Invalid(_)) => {
            (StatusCode::BAD_REQUEST, "订阅信息有误")
        }
    };
    if let Err(SubscribeError::Send(e)) = &outcome {
        tracing::warn!("confirmation mail not sent: {e}");
    }
    let message = outcome.err().map(|e| e.to_string()).unwrap_or_default();
    let mut page = MessagePage::new(app, title, &[message]);
    page.error = true;
    page.links.push(PageLink {
        url: format!("{}#subscribe", app.config.public_url()),
        label: "返回订阅表单".into(),
    });
    page.respond(status)
}

/// `GET /confirm/{token}`: the double opt-in link.
pub(super) async fn confirm(
    State(state): State<ServeState>,
    Path(token): Path<String>,
) -> Result<Response, ServeError> {
    let app = &state.app;
    if token.len() > 128 {
        return MessagePage::new(app, "链接无效", &["这个确认链接不完整或有误。".into()])
            .respond(StatusCode::NOT_FOUND);
    }
    let outcome = app
        .store
        .confirm_subscription(&hash_token(&token), Utc::now())
        .await?;
    let (status, title, text, id) = match outcome {
        ConfirmOutcome::Confirmed(id) => (
            StatusCode::OK,
            "订阅已确认",
            "谢谢！从现在起，符合您订阅主题的新闻会发送到您的邮箱。",
            Some(id),
        ),
        ConfirmOutcome::AlreadyConfirmed(id) => (
            StatusCode::OK,
            "订阅已确认",
            "这个链接已经使用过，您的订阅已经生效。",
            id,
        ),
        ConfirmOutcome::Expired => (
            StatusCode::GONE,
            "链接已过期",
            "确认链接只在 48 小时内有效，请回到首页重新订阅。",
            None,
        ),
        ConfirmOutcome::Unknown => (
            StatusCode::NOT_FOUND,
            "链接无效",
            "这个确认链接不完整或有误，请回到首页重新订阅。",
            None,
        ),
    };
    let mut page = MessagePage::new(app, title, &[text.into()]);
    page.error = !status.is_success();
    if let (Some(id), Some(mail)) = (id, &app.mail) {
        if let Some(r) = app.store.recipient(id).await? {
            page.list = r
                .topics
                .iter()
                .map(|t| crate::notify::topics::show_topic(t, &app.config.regions))
                .collect();
        }
        page.links.push(PageLink {
            url: mail.context.links.manage_url(id),
            label: "修改订阅内容和推送方式".into(),
        });
    }
    page.respond(status)
}

/// The recipient a signed token names, or the page to answer instead.
async fn signed_recipient(
    state: &ServeState,
    purpose: Purpose,
    token: &str,
) -> Result<Result<Recipient, Response>, ServeError> {
    let app = &state.app;
    let Some(mail) = &app.mail else {
        let page = MessagePage::new(app, "暂时无法处理", &["本站未开启邮件推送。".into()]);
        return Ok(Err(page.respond(StatusCode::SERVICE_UNAVAILABLE)?));
    };
    let Some(id) = mail.context.links.verify(purpose, token) else {
        let page = MessagePage::new(
            app,
            "链接无效",
            &["这个链接不完整或有误，请使用邮件中的原始链接。".into()],
        );
        return Ok(Err(page.respond(StatusCode::NOT_FOUND)?));
    };
    match app.store.recipient(id).await? {
        Some(r) if r.kind == "email" => Ok(Ok(r)),
        _ => {
            let page = MessagePage::new(
                app,
                "已退订",
                &["这个订阅已经不存在，您不会再收到我们的邮件。".into()],
            );
            Ok(Err(page.respond(StatusCode::OK)?))
        }
    }
}

/// `GET /unsubscribe/{token}`: a page with a button; changes nothing.
pub(super) async fn unsubscribe_page(
    State(state): State<ServeState>,
    Path(token): Path<String>,
) -> Result<Response, ServeError> {
    let r = match signed_recipient(&state, Purpose::Unsubscribe, &token).await? {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    let app = &state.app;
    let mut page = MessagePage::new(
        app,
        "退订邮件推送",
        &[format!(
            "点击下面的按钮，{} 将不再收到本站的新闻邮件。",
            r.address
        )],
    );
    page.button = Some(PageButton {
        action: absolute(&app.config.public_url(), &format!("/unsubscribe/{token}")),
        label: "确认退订".into(),
    });
    if let Some(mail) = &app.mail {
        page.links.push(PageLink {
            url: mail.context.links.manage_url(r.id),
            label: "只想少收一些？修改订阅内容和推送方式".into(),
        });
    }
    page.respond(StatusCode::OK)
}

/// `POST /unsubscribe/{token}`: unsubscribes at once (RFC 8058 one-click).
pub(super) async fn unsubscribe(
    State(state): State<ServeState>,
    Path(token): Path<String>,
) -> Result<Response, ServeError> {
    let r = match signed_recipient(&state, Purpose::Unsubscribe, &token).await? {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    state.app.store.remove_recipient_id(r.id).await?;
    tracing::info!(recipient = r.id, "unsubscribed by link");
    MessagePage::new(
        &state.app,
        "已退订",
        &[format!("{} 已退订，不会再收到本站的新闻邮件。", r.address)],
    )
    .respond(StatusCode::OK)
}

/// `GET /manage/{token}`: the subscription form, filled in.
pub(super) async fn manage_page(
    State(state): State<ServeState>,
    Path(token): Path<String>,
) -> Result<Response, ServeError> {
    let r = match signed_recipient(&state, Purpose::Manage, &token).await? {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    manage_form(
        &state,
        &r,
        &token,
        "修改订阅",
        &[format!("邮箱：{}", r.address)],
        StatusCode::OK,
    )
    .await
}

async fn manage_form(
    state: &ServeState,
    r: &Recipient,
    token: &str,
    title: &str,
    text: &[String],
    status: StatusCode,
) -> Result<Response, ServeError> {
    let app = &state.app;
    let version = state.version().await?;
    let catalog = state.catalog(version).await?;
    let mut page = MessagePage::new(app, title, text);
    page.error = !status.is_success();
    let action = absolute(&app.config.public_url(), &format!("/manage/{token}"));
    page.form = Some(SubscribeForm::filled(app, &catalog, Some(r), action));
    if let Some(mail) = &app.mail {
        page.links.push(PageLink {
            url: mail.context.links.unsubscribe_url(r.id),
            label: "退订全部邮件".into(),
        });
    }
    page.respond(status)
}

/// `POST /manage/{token}`: saves new topics and mode (no new confirmation: the link came
/// from the mailbox).
pub(super) async fn manage(
    State(state): State<ServeState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, ServeError> {
    let r = match signed_recipient(&state, Purpose::Manage, &token).await? {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    let app = &state.app;
    let mut input = parse_form(&body);
    input.email = r.address.clone();
    let request = match app.check_subscription(&input) {
        Ok(request) => request,
        Err(e) => {
            return manage_form(
                &state,
                &r,
                &token,
                "订阅信息有误",
                &[e.to_string()],
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let spec = RecipientSpec {
        kind: "email".into(),
        address: r.address.clone(),
        thread_id: 0,
        origin: r.origin.clone(),
        topics: request.topics.clone(),
        filters: None,
    };
    app.store.save_recipient(&spec, Utc::now()).await?;
    app.store
        .set_recipient_prefs("email", &r.address, 0, &request.prefs)
        .await?;
    let saved = app.store.recipient(r.id).await?.unwrap_or(r);
    manage_form(
        &state,
        &saved,
        &token,
        "已保存",
        &["您的订阅已更新。".into()],
        StatusCode::OK,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_repeat_and_topics_split() {
        let input = parse_form(
            "email=a%40b.org&region=jinzhong&region=%E5%A4%AA%E5%8E%9F&tag=x&topic=%E6%99%8B%E4%B8%AD%2B%E9%AB%98%E8%B4%A8%E9%87%8F+y&mode=daily&at=07%3A30".as_bytes(),
        );
        assert_eq!(input.email, "a@b.org");
        assert_eq!(input.regions, ["jinzhong", "太原"]);
        assert_eq!(input.tags, ["x"]);
        assert_eq!(input.topics, ["晋中+高质量", "y"]);
        assert_eq!(input.mode.as_deref(), Some("daily"));
        assert_eq!(input.at.as_deref(), Some("07:30"));
    }

    #[test]
    fn the_limiter_refuses_past_the_hourly_budget() {
        let limit = SubscribeLimiter::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limit.allow(ip) && limit.allow(ip));
        assert!(!limit.allow(ip), "third request within the hour");
        assert!(
            limit.allow("192.0.2.2".parse().unwrap()),
            "other clients unaffected"
        );
        assert!(SubscribeLimiter::new(0).allow(ip));
    }
}
