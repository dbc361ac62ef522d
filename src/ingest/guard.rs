//! Selector drift and the flood guard, judged per input and alerted once per transition.

use std::collections::{HashMap, HashSet};

use crate::config::Recipe;
use crate::store::{InputState, Known, PollCommit};

use super::gather::{Entry, InputRead};
use super::{PollReport, title_day};

/// A flood needs at least this many moved entries, and more than half of the input.
const FLOOD_MIN: usize = 3;

/// The flood-guard verdicts of one poll.
#[derive(Debug, Default)]
pub struct Judged {
    /// Inputs whose entries are held back.
    pub held_inputs: HashSet<usize>,
    /// Why each held input is held.
    pub held_reasons: HashMap<usize, String>,
}

/// Decides which inputs the flood guard holds: most entries carry new ids but match known
/// items by title + date. An operator's `accept` lets them through once.
pub fn judge_inputs(
    recipe: &Recipe,
    reads: &[InputRead],
    entries: &[(String, Entry)],
    known: &HashMap<String, Known>,
    moved: &HashMap<(String, String), String>,
    accept: bool,
) -> Judged {
    let mut judged = Judged::default();
    for (i, read) in reads.iter().enumerate() {
        let Ok(Some(list)) = &read.result else { continue };
        let mine: Vec<&(String, Entry)> = entries.iter().filter(|(_, e)| e.input == i).collect();
        let matched = mine
            .iter()
            .filter(|(k, e)| !known.contains_key(k) && title_day(e).is_some_and(|p| moved.contains_key(&p)))
            .count();
        if !accept && matched >= FLOOD_MIN && matched * 2 > list.len() {
            judged.held_inputs.insert(i);
            judged.held_reasons.insert(
                i,
                format!(
                    "{matched} of {} entries carry new ids but match stored items by title and date \
                     (the site may have changed its URLs); nothing was stored or pushed. \
                     If this is expected, run `tidings sources accept {}`",
                    list.len(),
                    recipe.id
                ),
            );
        }
    }
    judged
}

/// Records each input's new state, raising an alert on entering drift or a hold and
/// resolving it when the input is healthy again.
pub fn finish_inputs(
    recipe: &Recipe,
    reads: &[InputRead],
    prev: &HashMap<String, InputState>,
    judged: Judged,
    missing: &HashMap<usize, (usize, usize)>,
    commit: &mut PollCommit,
    report: &mut PollReport,
) {
    let mut newly: HashMap<&'static str, Vec<(String, Option<String>)>> = HashMap::new();
    for (i, read) in reads.iter().enumerate() {
        let before = prev.get(&read.name);
        let last = before.map_or(0, |p| p.last_entries);
        let mut state = InputState {
            source: recipe.id.clone(),
            input: read.name.clone(),
            last_entries: last,
            degraded: None,
            held: judged.held_reasons.get(&i).cloned(),
        };
        match &read.result {
            // Failed or not modified: the input keeps its previous verdicts.
            Err(_) | Ok(None) => {
                state.degraded = before.and_then(|p| p.degraded.clone());
                state.held = state.held.or_else(|| before.and_then(|p| p.held.clone()));
            }
            Ok(Some(list)) if list.is_empty() && last > 0 => {
                state.degraded = Some(format!(
                    "found no entries where the last successful poll found {last}; \
                     the listing markup may have changed: check the `entry` and `link` selectors with `tidings check {}`",
                    recipe.id
                ));
            }
            Ok(Some(list)) => {
                let (total, incomplete) = missing.get(&i).copied().unwrap_or_default();
                if total > 0 && incomplete * 2 > total {
                    state.degraded = Some(format!(
                        "{incomplete} of {total} articles came out without a title or a date; \
                         the article markup may have changed: check the [article] selectors with `tidings check {}`",
                        recipe.id
                    ));
                }
                if !list.is_empty() {
                    state.last_entries = list.len() as i64;
                }
            }
        }
        if state.degraded.is_some() && before.is_none_or(|p| p.degraded.is_none()) {
            newly
                .entry("drift")
                .or_default()
                .push((read.name.clone(), state.degraded.clone()));
        }
        if state.held.is_some() && before.is_none_or(|p| p.held.is_none()) {
            newly
                .entry("flood")
                .or_default()
                .push((read.name.clone(), state.held.clone()));
        }
        if state.degraded.is_some() {
            report.degraded.push(read.name.clone());
        }
        if state.held.is_some() {
            report.held.push(read.name.clone());
        }
        commit.inputs.push(state);
    }
    // One alert per source and kind, naming every input that entered the condition.
    for (kind, inputs) in newly {
        let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
        let why = inputs.iter().find_map(|(_, m)| m.clone()).unwrap_or_default();
        let what = if kind == "drift" {
            "selector drift"
        } else {
            "flood guard hold"
        };
        let msg = format!(
            "{}: {what} on {} input(s) ({}): {why}",
            recipe.id,
            names.len(),
            names.join(", ")
        );
        tracing::warn!(target: "tidings::alert", source = %recipe.id, kind, "{msg}");
        commit.alerts.push((kind.to_owned(), names.join(", "), msg));
    }
    for kind in ["drift", "flood"] {
        let still = commit.inputs.iter().any(|s| {
            if kind == "drift" {
                s.degraded.is_some()
            } else {
                s.held.is_some()
            }
        });
        if !still {
            commit.resolved.push(kind.to_owned());
        }
    }
}
