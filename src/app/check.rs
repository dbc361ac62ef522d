//! `tidings check`: what a recipe extracts right now, without storing anything.

use futures::StreamExt;
use serde::Serialize;

use crate::config::Recipe;
use crate::domain::{Article, RegionTable};
use crate::ingest::{Fetched, NoProgress, extract_entry, read_inputs};
use crate::source::dates::DateParser;
use crate::source::fetch::{Fetcher, Validators};

/// One extracted article, with the fields that came out empty.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    /// Input the entry came from.
    pub input: String,
    /// The article, or `None` when extraction failed.
    pub article: Option<Article>,
    /// Names of empty fields (`title`, `published`, `region`, `tags`, `author`, `summary`, `body`).
    pub empty: Vec<&'static str>,
    /// Why the article could not be extracted.
    pub error: Option<String>,
}

/// What `check` found: per input, its entry count or error; then the rows.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// `(input, entries found or error)`.
    pub inputs: Vec<(String, Result<usize, String>)>,
    /// Up to `limit` articles.
    pub rows: Vec<CheckRow>,
}

/// Reads every input of `recipe` and extracts up to `limit` articles (spread over the inputs).
pub async fn check_source(
    fetcher: &Fetcher,
    regions: &RegionTable,
    recipe: &Recipe,
    limit: usize,
) -> CheckReport {
    let reads = read_inputs(fetcher, recipe, None, &Default::default(), &NoProgress).await;
    let names = recipe.input_names();
    let inputs = reads
        .iter()
        .map(|r| {
            let res = match &r.result {
                Ok(Some(list)) => Ok(list.len()),
                Ok(None) => Ok(0),
                Err(e) => Err(e.clone()),
            };
            (r.name.clone(), res)
        })
        .collect();
    // Round-robin over inputs so that every input is represented.
    let mut lists: Vec<_> = reads
        .into_iter()
        .filter_map(|r| r.result.ok().flatten())
        .map(|l| l.into_iter())
        .collect();
    let mut picked = Vec::new();
    while picked.len() < limit && !lists.is_empty() {
        lists.retain_mut(|it| match it.next() {
            Some(e) if picked.len() < limit => {
                picked.push(e);
                true
            }
            _ => false,
        });
    }
    let dates = DateParser::new(recipe.timezone, recipe.date_formats.clone());
    let rows = futures::stream::iter(picked)
        .map(|e| {
            let dates = &dates;
            let names = &names;
            async move {
                let input = names.get(e.input).cloned().unwrap_or_default();
                match extract_entry(fetcher, regions, recipe, &e, Validators::default(), dates).await {
                    Ok(Fetched::Article { article, .. }) => CheckRow {
                        input,
                        empty: empty_fields(&article),
                        article: Some(*article),
                        error: None,
                    },
                    Ok(Fetched::NotModified) => CheckRow {
                        input,
                        article: None,
                        empty: Vec::new(),
                        error: Some("not modified".into()),
                    },
                    Err(err) => CheckRow {
                        input,
                        article: None,
                        empty: Vec::new(),
                        error: Some(format!("{}: {err}", e.url)),
                    },
                }
            }
        })
        .buffered(4)
        .collect()
        .await;
    CheckReport { inputs, rows }
}

/// The fields a reader would miss.
pub fn empty_fields(a: &Article) -> Vec<&'static str> {
    let mut empty = Vec::new();
    if a.title.trim().is_empty() {
        empty.push("title");
    }
    if a.published.is_none() {
        empty.push("published");
    }
    if a.region.is_none() {
        empty.push("region");
    }
    if a.tags.is_empty() {
        empty.push("tags");
    }
    if a.author.is_none() {
        empty.push("author");
    }
    if a.summary.is_none() {
        empty.push("summary");
    }
    if a.body_html.as_deref().is_none_or(str::is_empty) {
        empty.push("body");
    }
    empty
}

impl CheckReport {
    /// A readable table; empty fields are flagged with `⚠`.
    pub fn table(&self) -> String {
        use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
        let mut out = String::new();
        for (name, res) in &self.inputs {
            match res {
                Ok(n) => out.push_str(&format!("input {name}: {n} entries\n")),
                Err(e) => out.push_str(&format!("input {name}: FAILED: {e}\n")),
            }
        }
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY).set_header([
            "title",
            "published",
            "region",
            "tags",
            "author",
            "url",
            "empty",
        ]);
        let flag = |v: Option<String>| v.unwrap_or_else(|| "⚠ (empty)".into());
        for row in &self.rows {
            match &row.article {
                Some(a) => {
                    t.add_row([
                        crate::domain::truncate_chars(&a.title, 30),
                        flag(a.published.map(|p| p.to_rfc3339())),
                        flag(a.region.as_ref().map(|r| format!("{} ({})", r.name, r.slug))),
                        flag((!a.tags.is_empty()).then(|| a.tags.join(" "))),
                        flag(a.author.clone()),
                        a.url.clone(),
                        row.empty.join(","),
                    ]);
                }
                None => {
                    let err = row.error.clone().unwrap_or_default();
                    t.add_row([
                        "⚠ FAILED".to_owned(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        err,
                        String::new(),
                    ]);
                }
            }
        }
        out.push_str(&t.to_string());
        let flagged = self
            .rows
            .iter()
            .filter(|r| !r.empty.is_empty() || r.article.is_none())
            .count();
        out.push_str(&format!(
            "\n{} articles checked, {flagged} with empty fields or errors\n",
            self.rows.len()
        ));
        out
    }

    /// Whether every input was read and every article has a title, a date and a body (the
    /// exit status of `check`); other empty fields are flagged but not fatal.
    pub fn ok(&self) -> bool {
        let essential = ["title", "published", "body"];
        !self.rows.is_empty()
            && self.inputs.iter().all(|(_, r)| r.is_ok())
            && self
                .rows
                .iter()
                .all(|r| r.article.is_some() && !r.empty.iter().any(|e| essential.contains(e)))
    }
}
