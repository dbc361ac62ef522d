//! Plain-text tables for `tidings poll` and `tidings sources`.

use chrono::{DateTime, Local, Utc};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use crate::config::Recipe;
use crate::ingest::PollReport;
use crate::store::{InputState, SourceState};

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "—".into())
}

/// One row per polled source: new, updated, unchanged and failed counts.
pub fn poll_table(results: &[(String, Result<PollReport, String>)]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(["source", "new", "updated", "unchanged", "failed", "note"]);
    for (id, r) in results {
        match r {
            Ok(r) => {
                let mut note = Vec::new();
                if r.baseline {
                    note.push("baseline: stored, not pushed".to_owned());
                }
                if !r.held.is_empty() {
                    note.push(format!(
                        "HELD by flood guard ({}): run `tidings sources accept {id}`",
                        r.held.join(", ")
                    ));
                }
                if !r.degraded.is_empty() {
                    note.push(format!("DEGRADED ({})", r.degraded.join(", ")));
                }
                note.extend(r.errors.iter().take(3).cloned());
                t.add_row([
                    id.clone(),
                    r.new.len().to_string(),
                    r.updated.len().to_string(),
                    r.unchanged.to_string(),
                    r.failed.to_string(),
                    note.join("\n"),
                ]);
            }
            Err(e) => {
                t.add_row([
                    id.clone(),
                    "0".into(),
                    "0".into(),
                    "0".into(),
                    "1".into(),
                    e.clone(),
                ]);
            }
        }
    }
    t.to_string()
}

/// One row per configured source: its state, health and next poll.
pub fn sources_table(recipes: &[Recipe], states: &[SourceState], inputs: &[InputState]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY).set_header([
        "source",
        "enabled",
        "items",
        "last success",
        "failures",
        "state",
        "next poll",
        "last error",
    ]);
    for r in recipes {
        let s = states.iter().find(|s| s.id == r.id);
        let mine: Vec<&InputState> = inputs.iter().filter(|i| i.source == r.id).collect();
        let mut health: Vec<String> = Vec::new();
        for i in &mine {
            if let Some(d) = &i.degraded {
                health.push(format!("degraded {}: {d}", i.input));
            }
            if let Some(h) = &i.held {
                health.push(format!("held {}: {h}", i.input));
            }
        }
        let state = if health.is_empty() {
            match s {
                None => "never polled".to_owned(),
                Some(s) if s.consecutive_failures > 0 => "failing".to_owned(),
                Some(_) => "ok".to_owned(),
            }
        } else {
            health.join("\n")
        };
        t.add_row([
            r.id.clone(),
            if r.enabled { "yes" } else { "no" }.to_owned(),
            s.map_or(0, |s| s.items).to_string(),
            when(s.and_then(|s| s.last_success)),
            s.map_or(0, |s| s.consecutive_failures).to_string(),
            state,
            when(s.and_then(|s| s.next_poll)),
            s.and_then(|s| s.last_error.clone()).unwrap_or_default(),
        ]);
    }
    t.to_string()
}
