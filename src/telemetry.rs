//! Process metrics: what this process did since it started — polls, new and edited items,
//! delivery outcomes, HTTP requests — counted through the `metrics` facade into one
//! Prometheus recorder, and rendered by `/metrics` ahead of the gauges read from the store
//! (see `serve::metrics`).
//!
//! The recorder is installed once per process, on first use ([`handle`]); the rest of the
//! code calls the typed functions below rather than the `metrics` macros, so every metric
//! name, label and description is in this file. Labels come from closed sets (outcomes,
//! channels, HTTP methods and statuses) or from configuration (source ids, route
//! templates) — never from request paths or anything a user or a secret could put there.
//!
//! The recorder is process-global: tests in one process share it, so they assert on deltas.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram, Unit, counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Polls finished, by `source` and `outcome` (`ok`, `failed`).
pub const POLLS: &str = "tidings_polls_total";
/// Articles or inputs that could not be fetched or read during polls, by `source`.
pub const FETCH_ERRORS: &str = "tidings_fetch_errors_total";
/// Items stored for the first time by polls, by `source`.
pub const ITEMS_NEW: &str = "tidings_items_new_total";
/// Stored items whose article changed, by `source`.
pub const ITEMS_UPDATED: &str = "tidings_items_updated_total";
/// Delivery outcomes recorded, by `channel` and `outcome`.
pub const DELIVERY_OUTCOMES: &str = "tidings_delivery_outcomes_total";
/// Digests finished, by `channel` and `outcome`.
pub const DIGESTS: &str = "tidings_digests_total";
/// HTTP requests answered, by `route`, `method` and `status`.
pub const HTTP_REQUESTS: &str = "tidings_http_requests_total";
/// HTTP request latency, by `route` (a histogram).
pub const HTTP_DURATION: &str = "tidings_http_request_duration_seconds";

/// Upper bounds (seconds) of the HTTP latency histogram's buckets.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// How often histogram samples are folded in when nobody scrapes (memory stays flat).
const UPKEEP: Duration = Duration::from_secs(5);
/// The route label of a request no route matched (never its raw path).
pub const UNMATCHED: &str = "unmatched";

/// The process's recorder, installed on first use; `None` if another recorder was
/// installed first (then these metrics are not rendered, and nothing else changes).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), HTTP_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder);
    let handle = match handle {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("process metrics are off: {e}");
            return None;
        }
    };
    describe();
    let upkeep = handle.clone();
    // Histogram samples wait in per-metric buffers until a render or an upkeep folds them
    // in; without a scraper they would grow for ever. A thread, not a task: the recorder
    // outlives any runtime that first touched it.
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("metrics upkeep thread not started (histograms fold in at each scrape): {e}");
    }
    Some(handle)
}

fn describe() {
    describe_counter!(POLLS, "Polls finished, by source and outcome (ok, failed).");
    describe_counter!(
        FETCH_ERRORS,
        "Articles or inputs that could not be fetched or read during polls."
    );
    describe_counter!(ITEMS_NEW, "Items stored for the first time by polls.");
    describe_counter!(ITEMS_UPDATED, "Stored items whose article changed.");
    describe_counter!(
        DELIVERY_OUTCOMES,
        "Delivery outcomes recorded, by channel and outcome (sent, retry, failed, bounced, cancelled)."
    );
    describe_counter!(
        DIGESTS,
        "Digests finished, by channel and outcome (sent, retry, failed, bounced)."
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route template."
    );
}

/// The process metrics in the Prometheus text format (empty if they are off).
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// Everything was read and stored (the store records a success).
    Ok,
    /// The poll, or part of it, failed (the store records the error).
    Failed,
}

impl PollOutcome {
    fn label(self) -> &'static str {
        match self {
            PollOutcome::Ok => "ok",
            PollOutcome::Failed => "failed",
        }
    }
}

/// Counts one finished poll of `source`: its outcome, the items it stored new and
/// updated, and the articles or inputs that failed.
pub fn poll_finished(source: &str, outcome: PollOutcome, new: usize, updated: usize, fetch_errors: usize) {
    if handle().is_none() {
        return;
    }
    let source = source.to_owned();
    counter!(POLLS, "source" => source.clone(), "outcome" => outcome.label()).increment(1);
    // Touched even at zero, so that every polled source has its series.
    counter!(FETCH_ERRORS, "source" => source.clone()).increment(fetch_errors as u64);
    counter!(ITEMS_NEW, "source" => source.clone()).increment(new as u64);
    counter!(ITEMS_UPDATED, "source" => source).increment(updated as u64);
}

/// What became of a claimed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    /// Accepted by the channel.
    Sent,
    /// Put back to try again later (backoff, `retry_after`, a migrated chat).
    Retry,
    /// Given up.
    Failed,
    /// Refused for good by the mail server (SMTP 5xx).
    Bounced,
    /// Not sent and never will be: the recipient is unreachable or filters the item out.
    Cancelled,
}

impl DeliveryResult {
    fn label(self) -> &'static str {
        match self {
            DeliveryResult::Sent => "sent",
            DeliveryResult::Retry => "retry",
            DeliveryResult::Failed => "failed",
            DeliveryResult::Bounced => "bounced",
            DeliveryResult::Cancelled => "cancelled",
        }
    }
}

/// A channel label from a recipient kind: a closed set, whatever the store holds.
pub fn channel_label(kind: &str) -> &'static str {
    match kind {
        "telegram" => "telegram",
        "email" => "email",
        _ => "other",
    }
}

/// Counts one delivery outcome on `channel` (a recipient kind: `telegram`, `email`).
pub fn delivery_finished(channel: &str, outcome: DeliveryResult) {
    if handle().is_none() {
        return;
    }
    counter!(DELIVERY_OUTCOMES, "channel" => channel_label(channel), "outcome" => outcome.label())
        .increment(1);
}

/// Counts one digest on `channel`: sent, left for the next check (`Retry`), or refused or
/// unbuildable (`Failed`, `Bounced`).
pub fn digest_finished(channel: &str, outcome: DeliveryResult) {
    if handle().is_none() {
        return;
    }
    counter!(DIGESTS, "channel" => channel_label(channel), "outcome" => outcome.label()).increment(1);
}

/// A method label from a closed set (extension methods are `other`).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// One route's HTTP metrics, registered on its first request: a request then costs two
/// map lookups under read locks and no allocation (this is on every feed request's path).
struct RouteMetrics {
    duration: Histogram,
    /// Request counters by method label and status code.
    requests: RwLock<HashMap<(&'static str, u16), Counter>>,
}

impl RouteMetrics {
    /// The handles of `route`.
    fn of(route: &str) -> Arc<RouteMetrics> {
        static ROUTES: OnceLock<RwLock<HashMap<String, Arc<RouteMetrics>>>> = OnceLock::new();
        let routes = ROUTES.get_or_init(RwLock::default);
        if let Some(found) = routes.read().unwrap_or_else(PoisonError::into_inner).get(route) {
            return found.clone();
        }
        let mut routes = routes.write().unwrap_or_else(PoisonError::into_inner);
        let made = routes.entry(route.to_owned()).or_insert_with(|| {
            Arc::new(RouteMetrics {
                duration: histogram!(HTTP_DURATION, "route" => route.to_owned()),
                requests: RwLock::default(),
            })
        });
        made.clone()
    }

    /// Counts a request to `route` with this method and status.
    fn count(&self, route: &str, method: &'static str, status: u16) {
        let key = (method, status);
        if let Some(counter) = self
            .requests
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            counter.increment(1);
            return;
        }
        let mut requests = self.requests.write().unwrap_or_else(PoisonError::into_inner);
        let counter = requests.entry(key).or_insert_with(|| {
            counter!(
                HTTP_REQUESTS,
                "route" => route.to_owned(),
                "method" => method,
                "status" => status.to_string()
            )
        });
        counter.increment(1);
    }
}

/// Counts one answered request: `route` is the matched route template (or [`UNMATCHED`]).
pub fn http_request(route: &str, method: &Method, status: u16, elapsed: Duration) {
    if handle().is_none() {
        return;
    }
    let metrics = RouteMetrics::of(route);
    metrics.count(route, method_label(method), status);
    metrics.duration.record(elapsed.as_secs_f64());
}

/// Axum middleware counting every request by its route template ([`MatchedPath`], so
/// `/feeds/{file}` rather than each feed's path: bounded label values) and timing it until
/// its response head is ready.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    // Cloning a standard method copies a tag, no allocation.
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    http_request(route, &method, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the first sample line starting with `prefix` (name and labels).
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn http_latency_renders_as_a_histogram_with_buckets_sum_and_count() {
        let route = "/test/histogram/{x}";
        let prefix = format!("{HTTP_DURATION}_count{{route=\"{route}\"}}");
        let before = sample(&render(), &prefix).unwrap_or(0.0);
        http_request(route, &Method::GET, 200, Duration::from_millis(30));
        http_request(route, &Method::GET, 404, Duration::from_millis(3));
        let text = render();
        assert!(
            text.contains(&format!("# TYPE {HTTP_DURATION} histogram")),
            "{text}"
        );
        assert_eq!(sample(&text, &prefix), Some(before + 2.0), "{text}");
        let bucket = format!("{HTTP_DURATION}_bucket{{route=\"{route}\",le=\"0.05\"}}");
        assert!(sample(&text, &bucket).is_some_and(|n| n >= 2.0), "{text}");
        assert!(text.contains(&format!("{HTTP_DURATION}_sum{{route=\"{route}\"}}")));
        assert!(!text.contains("quantile="), "not a summary: {text}");
        let ok = format!("{HTTP_REQUESTS}{{route=\"{route}\",method=\"GET\",status=\"200\"}}");
        assert!(sample(&text, &ok).is_some_and(|n| n >= 1.0), "{text}");
    }

    #[test]
    fn counters_carry_their_help_and_closed_label_sets() {
        poll_finished("unit-source", PollOutcome::Ok, 3, 1, 0);
        delivery_finished("carrier-pigeon", DeliveryResult::Sent);
        http_request("/x", &Method::from_bytes(b"BREW").unwrap(), 418, Duration::ZERO);
        let text = render();
        assert!(text.contains(&format!("# TYPE {POLLS} counter")), "{text}");
        assert!(text.contains(&format!("# HELP {POLLS} Polls finished")), "{text}");
        assert!(
            sample(&text, &format!("{ITEMS_NEW}{{source=\"unit-source\"}}")).is_some_and(|n| n >= 3.0),
            "{text}"
        );
        assert!(text.contains(&format!(
            "{DELIVERY_OUTCOMES}{{channel=\"other\",outcome=\"sent\"}}"
        )));
        assert!(
            !text.contains("carrier-pigeon") && !text.contains("BREW"),
            "{text}"
        );
        assert!(text.contains("method=\"other\",status=\"418\""), "{text}");
    }
}
