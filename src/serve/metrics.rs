//! `/metrics`: Prometheus text format, read from the store at scrape time, so every
//! instance sharing a database reports the same queue and source state.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::{ServeError, ServeState};

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

/// The exposition text.
pub async fn metrics_text(state: &ServeState) -> Result<String, ServeError> {
    let store = &state.app.store;
    let now = Utc::now();
    let mut out = String::new();
    let states = store.source_states().await?;
    let mut f = Family::new(
        &mut out,
        "tidings_source_items",
        "gauge",
        "Items stored per source.",
    );
    for s in &states {
        f.sample("tidings_source_items", &[("source", &s.id)], s.items as f64);
    }
    let mut f = Family::new(
        &mut out,
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
        &mut out,
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
        &mut out,
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
        &mut out,
        "tidings_source_held_inputs",
        "gauge",
        "Inputs held by the flood guard.",
    );
    for (id, _, held) in &problems {
        f.sample("tidings_source_held_inputs", &[("source", id)], *held as f64);
    }
    let q = store.outbox_stats(now).await?;
    let mut f = Family::new(&mut out, "tidings_deliveries", "gauge", "Deliveries by state.");
    for (state_name, n) in [
        ("queued", q.queued),
        ("sent", q.sent),
        ("failed", q.failed),
        ("cancelled", q.cancelled),
    ] {
        f.sample("tidings_deliveries", &[("state", state_name)], n as f64);
    }
    Family::new(
        &mut out,
        "tidings_deliveries_retried",
        "gauge",
        "Deliveries that needed more than one attempt.",
    )
    .sample("tidings_deliveries_retried", &[], q.retried as f64);
    Family::new(
        &mut out,
        "tidings_delivery_oldest_queued_seconds",
        "gauge",
        "Age of the oldest queued delivery.",
    )
    .sample(
        "tidings_delivery_oldest_queued_seconds",
        &[],
        q.oldest_queued_secs.unwrap_or(0) as f64,
    );
    Ok(out)
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
