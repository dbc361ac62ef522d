//! The status page (`/status`) and its JSON twin (`/status.json`): each configured
//! source's health (last success, last error, failures, degraded or held inputs, next
//! poll), each delivery channel's queue, and the recent operator alerts. Rendered per
//! request: it shows poll state, not just items.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::feeds::absolute;
use super::pages::{SITE_TITLE, render_page};
use super::{ServeError, ServeState};
use crate::app::App;
use crate::store::{Alert, InputState, OutboxStats};

/// Alerts shown on the status page.
const RECENT_ALERTS: usize = 50;

/// One input of a source on the status page.
#[derive(Debug, Clone, Serialize)]
pub struct InputStatus {
    /// Input name.
    pub input: String,
    /// Entries found by its last successful poll.
    pub last_entries: i64,
    /// Why it is degraded.
    pub degraded: Option<String>,
    /// Why it is held.
    pub held: Option<String>,
    /// Whether it is degraded or held.
    pub problem: bool,
}

/// One source on the status page.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    /// Source id.
    pub id: String,
    /// Recipe title.
    pub title: String,
    /// Whether it is polled.
    pub enabled: bool,
    /// `ok`, `degraded`, `held`, `failing`, `new` (never polled) or `disabled`.
    pub state: &'static str,
    /// Stored items.
    pub items: i64,
    /// Last poll without an error.
    pub last_success: Option<DateTime<Utc>>,
    /// Last poll attempt.
    pub last_attempt: Option<DateTime<Utc>>,
    /// Failed polls in a row.
    pub consecutive_failures: i64,
    /// The last poll's error.
    pub last_error: Option<String>,
    /// When that poll was (the last attempt, when it had an error).
    pub last_error_at: Option<DateTime<Utc>>,
    /// When the next poll is due.
    pub next_poll: Option<DateTime<Utc>>,
    /// The command that releases a held poll, when one is held.
    pub accept_hint: Option<String>,
    /// Every input.
    pub inputs: Vec<InputStatus>,
}

/// One delivery channel's queue on the status page.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStatus {
    /// `telegram` or `email`.
    pub channel: String,
    /// Its display name.
    pub name: String,
    /// Whether this instance sends on it (its secrets are set).
    pub enabled: bool,
    /// Its deliveries: queued, oldest queued age, sent, failed…
    #[serde(flatten)]
    pub stats: OutboxStats,
}

/// What `/status` and `/status.json` show.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Each configured source.
    pub sources: Vec<SourceStatus>,
    /// Recent alerts, newest first.
    pub alerts: Vec<Alert>,
    /// Each delivery channel's queue (Telegram, email, then any other).
    pub channels: Vec<ChannelStatus>,
    /// Every channel's deliveries together.
    pub queue: OutboxStats,
}

/// Collects the status of every configured source and the recent alerts.
pub async fn status_report(app: &App) -> Result<StatusReport, ServeError> {
    let states = app.store.source_states().await?;
    let mut sources = Vec::new();
    for recipe in &app.config.sources {
        let state = states.iter().find(|s| s.id == recipe.id);
        let inputs: Vec<InputStatus> = app
            .store
            .input_states(&recipe.id)
            .await?
            .into_iter()
            .map(|i: InputState| InputStatus {
                problem: i.degraded.is_some() || i.held.is_some(),
                input: i.input,
                last_entries: i.last_entries,
                degraded: i.degraded,
                held: i.held,
            })
            .collect();
        let held = inputs.iter().any(|i| i.held.is_some());
        let label = match state {
            _ if held => "held",
            _ if inputs.iter().any(|i| i.degraded.is_some()) => "degraded",
            Some(s) if s.consecutive_failures > 0 => "failing",
            _ if !recipe.enabled => "disabled",
            None => "new",
            Some(_) => "ok",
        };
        sources.push(SourceStatus {
            id: recipe.id.clone(),
            title: recipe.title.clone(),
            enabled: recipe.enabled,
            state: label,
            items: state.map_or(0, |s| s.items),
            last_success: state.and_then(|s| s.last_success),
            last_attempt: state.and_then(|s| s.last_attempt),
            consecutive_failures: state.map_or(0, |s| s.consecutive_failures),
            last_error: state.and_then(|s| s.last_error.clone()),
            last_error_at: state.and_then(|s| s.last_error.as_ref().and(s.last_attempt)),
            next_poll: state.and_then(|s| s.next_poll),
            accept_hint: held.then(|| format!("tidings sources accept {}", recipe.id)),
            inputs,
        });
    }
    let mut alerts = app.store.alerts().await?;
    alerts.truncate(RECENT_ALERTS);
    let now = Utc::now();
    let channels = super::metrics::channel_stats(app, now)
        .await?
        .into_iter()
        .map(|c| ChannelStatus {
            name: channel_name(&c.channel).to_owned(),
            enabled: match c.channel.as_str() {
                "telegram" => app.config.secrets.telegram_token.is_some(),
                "email" => app.mail.is_some(),
                _ => false,
            },
            channel: c.channel,
            stats: c.stats,
        })
        .collect();
    let queue = app.store.outbox_stats(now).await?;
    Ok(StatusReport {
        sources,
        alerts,
        channels,
        queue,
    })
}

/// A channel's display name.
fn channel_name(channel: &str) -> &str {
    match channel {
        "telegram" => "Telegram",
        "email" => "邮件",
        other => other,
    }
}

#[derive(Serialize)]
struct StatusPage<'a> {
    site_title: &'static str,
    home_url: String,
    json_url: String,
    #[serde(flatten)]
    report: &'a StatusReport,
}

/// `GET /status`
pub(super) async fn status(State(state): State<ServeState>) -> Result<Response, ServeError> {
    let report = status_report(&state.app).await?;
    let base = state.app.config.public_url();
    let html = render_page(
        "status.html",
        StatusPage {
            site_title: SITE_TITLE,
            home_url: base.as_str().to_owned(),
            json_url: absolute(&base, "/status.json"),
            report: &report,
        },
    )?;
    Ok(([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response())
}

/// `GET /status.json`
pub(super) async fn status_json(State(state): State<ServeState>) -> Result<Response, ServeError> {
    let report = status_report(&state.app).await?;
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| ServeError::Internal(format!("serializing the status: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        json,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_page_escapes_what_sources_say() {
        let report = StatusReport {
            sources: vec![SourceStatus {
                id: "x".into(),
                title: "<b>X</b>".into(),
                enabled: true,
                state: "held",
                items: 3,
                last_success: None,
                last_attempt: None,
                consecutive_failures: 0,
                last_error: Some("<script>alert(1)</script>".into()),
                last_error_at: Some("2024-03-01T10:00:00Z".parse().unwrap()),
                next_poll: Some("2024-03-01T10:15:00Z".parse().unwrap()),
                accept_hint: Some("tidings sources accept x".into()),
                inputs: vec![InputStatus {
                    input: "/list".into(),
                    last_entries: 4,
                    degraded: None,
                    held: Some("most entries are known under new URLs".into()),
                    problem: true,
                }],
            }],
            alerts: Vec::new(),
            channels: vec![
                ChannelStatus {
                    channel: "telegram".into(),
                    name: "Telegram".into(),
                    enabled: true,
                    stats: OutboxStats {
                        queued: 7,
                        oldest_queued_secs: Some(95),
                        sent: 12,
                        ..OutboxStats::default()
                    },
                },
                ChannelStatus {
                    channel: "email".into(),
                    name: "邮件".into(),
                    enabled: false,
                    stats: OutboxStats::default(),
                },
            ],
            queue: OutboxStats::default(),
        };
        let page = StatusPage {
            site_title: SITE_TITLE,
            home_url: "http://h/".into(),
            json_url: "http://h/status.json".into(),
            report: &report,
        };
        let html = render_page("status.html", page).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;b&gt;X&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;X&lt;/b&gt;"));
        assert!(html.contains("已暂扣"));
        assert!(html.contains("tidings sources accept x"));
        assert!(html.contains("<html lang=\"zh-CN\">"));
        // Last error with its time, next poll (Beijing time).
        assert!(html.contains("2024-03-01 18:00"), "{html}");
        assert!(html.contains("2024-03-01 18:15"), "{html}");
        // One row per channel: queued, oldest queued, sent; a channel that is off says so.
        assert!(html.contains("<td>Telegram</td>"), "{html}");
        assert!(html.contains("95 秒前"), "{html}");
        assert!(html.contains("邮件（未启用）"), "{html}");
    }
}
