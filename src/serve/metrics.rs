//! `/metrics`: Prometheus text format. First this process's counters and histograms
//! ([`crate::telemetry`]: polls, items, delivery outcomes, HTTP requests), then gauges read
//! from the store at scrape time — source state and the delivery queue per channel — which
//! every instance sharing a database reports alike.
//!
//! Label values are source ids, channel names and fixed states: nothing here can carry the
//! bot token, the SMTP password or an address.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::{ServeError, ServeState};
use crate::app::App;
use crate::store::ChannelStats;

/// The channels listed even before their first delivery.
pub(super) const CHANNELS: [&str; 2] = ["telegram", "email"];

/// One metric family in the exposition format.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let parts: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", parts.join(","));
        }
        let _ = writeln!(self.out, " {value}");
        self
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Every channel's outbox totals: Telegram and email always (zeros when unused), then any
/// other recipient kind the store holds, by name.
pub(super) async fn channel_stats(app: &App, now: DateTime<Utc>) -> Result<Vec<ChannelStats>, ServeError> {
    let mut stored = app.store.outbox_channel_stats(now).await?;
    let mut all = Vec::new();
    for known in CHANNELS {
        let found = stored.iter().position(|c| c.channel == known);
        all.push(found.map_or_else(
            || ChannelStats {
                channel: known.to_owned(),
                ..ChannelStats::default()
            },
            |i| stored.remove(i),
        ));
    }
    all.extend(stored);
    Ok(all)
}

/// The exposition text: the process's metrics, then the store's.
pub async fn metrics_text(state: &ServeState) -> Result<String, ServeError> {
    let now = Utc::now();
    // Read the store first: a store failure answers 500 rather than half a page.
    let mut gauges = String::new();
    store_gauges(state, now, &mut gauges).await?;
    let mut out = crate::telemetry::render();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&gauges);
    Ok(out)
}

/// The gauges read from the store at scrape time.
async fn store_gauges(state: &ServeState, now: DateTime<Utc>, out: &mut String) -> Result<(), ServeError> {
    let store = &state.app.store;
    let states = store.source_states().await?;
    let mut f = Family::new(
        &mut *out,
        "tidings_source_items",
        "gauge",
        "Items stored per source.",
    );
    for s in &states {
        f.sample("tidings_source_items", &[("source", &s.id)], s.items as f64);
    }
    let mut f = Family::new(
        &mut *out,
        "tidings_source_consecutive_failures",
        "gauge",
        "Polls in a row that failed.",
    );
    for s in &states {
        f.sample(
            "tidings_source_consecutive_failures",
            &[("source", &s.id)],
            s.consecutive_failures as f64,
        );
    }
    let mut f = Family::new(
        &mut *out,
        "tidings_source_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful poll.",
    );
    for s in &states {
        let t = s.last_success.map_or(0.0, |t| t.timestamp() as f64);
        f.sample(
            "tidings_source_last_success_timestamp_seconds",
            &[("source", &s.id)],
            t,
        );
    }
    let mut problems = Vec::new();
    for s in &states {
        let inputs = store.input_states(&s.id).await?;
        let degraded = inputs.iter().filter(|i| i.degraded.is_some()).count();
        let held = inputs.iter().filter(|i| i.held.is_some()).count();
        problems.push((s.id.clone(), degraded, held));
    }
    let mut f = Family::new(
        &mut *out,
        "tidings_source_degraded_inputs",
        "gauge",
        "Inputs with selector drift.",
    );
    for (id, degraded, _) in &problems {
        f.sample(
            "tidings_source_degraded_inputs",
            &[("source", id)],
            *degraded as f64,
        );
    }
    let mut f = Family::new(
        &mut *out,
        "tidings_source_held_inputs",
        "gauge",
        "Inputs held by the flood guard.",
    );
    for (id, _, held) in &problems {
        f.sample("tidings_source_held_inputs", &[("source", id)], *held as f64);
    }
    let channels = channel_stats(&state.app, now).await?;
    let mut f = Family::new(
        &mut *out,
        "tidings_deliveries",
        "gauge",
        "Deliveries in the outbox by channel and state (sent ones are pruned after 30 days).",
    );
    for c in &channels {
        let q = &c.stats;
        for (state_name, n) in [
            ("queued", q.queued),
            ("sent", q.sent),
            ("failed", q.failed),
            ("cancelled", q.cancelled),
        ] {
            f.sample(
                "tidings_deliveries",
                &[("channel", &c.channel), ("state", state_name)],
                n as f64,
            );
        }
    }
    let mut f = Family::new(
        &mut *out,
        "tidings_deliveries_retried",
        "gauge",
        "Deliveries in the outbox that needed more than one attempt, by channel.",
    );
    for c in &channels {
        f.sample(
            "tidings_deliveries_retried",
            &[("channel", &c.channel)],
            c.stats.retried as f64,
        );
    }
    let mut f = Family::new(
        &mut *out,
        "tidings_delivery_oldest_queued_seconds",
        "gauge",
        "Age of the oldest queued delivery by channel (0 when nothing is queued).",
    );
    for c in &channels {
        f.sample(
            "tidings_delivery_oldest_queued_seconds",
            &[("channel", &c.channel)],
            c.stats.oldest_queued_secs.unwrap_or(0) as f64,
        );
    }
    Ok(())
}

/// `GET /metrics`
pub(super) async fn handler(State(state): State<ServeState>) -> Result<Response, ServeError> {
    let text = metrics_text(&state).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}
