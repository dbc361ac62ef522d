//! What `import-opml` prints: the dry run's recipes, a table of every outline, a summary
//! line and what to run next.

use std::fmt::Write as _;
use std::path::Path;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use super::{ImportReport, Outcome};

impl ImportReport {
    /// How many outlines had an outcome that `pred` accepts.
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.rows.iter().filter(|r| pred(&r.outcome)).count()
    }

    /// Whether every new feed was written (or, in a dry run, would be).
    pub fn ok(&self) -> bool {
        self.count(|o| matches!(o, Outcome::Failed(_))) == 0
    }

    /// The dry run's recipe texts, then a table of every outline, then the summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.rows {
            if let (Outcome::WouldWrite(text), Some(id)) = (&r.outcome, &r.id) {
                let path = self.dir.join(format!("{id}.toml"));
                let _ = writeln!(out, "# ---- would write {} ----\n{text}", path.display());
            }
        }
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY)
            .set_header(["line", "source", "title", "tags", "feed url", "result"]);
        for r in &self.rows {
            t.add_row([
                r.line.to_string(),
                r.id.clone().unwrap_or_default(),
                crate::domain::truncate_chars(&r.title, 30),
                r.tags.join(" "),
                r.url.clone(),
                describe(&r.outcome),
            ]);
        }
        let _ = writeln!(out, "{t}");
        out.push_str(&self.summary());
        out
    }

    /// One line, e.g. `wrote 5 recipes to feeds, skipped 3 (1 exists, 2 no xmlUrl), 1 rejected (…)`.
    pub fn summary(&self) -> String {
        let written = self.count(|o| matches!(o, Outcome::Written | Outcome::WouldWrite(_)));
        let verb = if self.dry_run { "would write" } else { "wrote" };
        let plural = if written == 1 { "" } else { "s" };
        let mut s = format!("{verb} {written} recipe{plural} to {}", self.dir.display());
        let skipped: Vec<(usize, &str)> = [
            (self.count(|o| matches!(o, Outcome::Exists)), "exists"),
            (
                self.count(|o| matches!(o, Outcome::AlreadyRead(_))),
                "already read by a recipe",
            ),
            (
                self.count(|o| matches!(o, Outcome::Duplicate(_))),
                "duplicate in the file",
            ),
            (self.count(|o| matches!(o, Outcome::NotAFeed)), "no xmlUrl"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .collect();
        if !skipped.is_empty() {
            let total: usize = skipped.iter().map(|(n, _)| n).sum();
            let parts: Vec<String> = skipped.iter().map(|(n, why)| format!("{n} {why}")).collect();
            let _ = write!(s, ", skipped {total} ({})", parts.join(", "));
        }
        let rejected = self.count(|o| matches!(o, Outcome::Rejected(_)));
        if rejected > 0 {
            let _ = write!(s, ", {rejected} rejected (not an http(s) feed URL)");
        }
        let failed = self.count(|o| matches!(o, Outcome::Failed(_)));
        if failed > 0 {
            let _ = write!(s, ", {failed} FAILED");
        }
        s.push('\n');
        s
    }

    /// What to run next, when recipes were written; `config_arg` is the `--config` in use.
    pub fn next_steps(&self, config_arg: &Path) -> Option<String> {
        let first = self
            .rows
            .iter()
            .find(|r| matches!(r.outcome, Outcome::Written))
            .and_then(|r| r.id.as_deref())?;
        let config = if config_arg == Path::new("config.toml") {
            String::new()
        } else {
            format!(" --config {}", config_arg.display())
        };
        Some(if self.in_config {
            format!(
                "next: `tidings{config} config check`, then `tidings{config} check {first}` to see what a recipe extracts"
            )
        } else {
            let file = self.dir.join(format!("{first}.toml"));
            format!(
                "next: `tidings{config} check {}` to see what a recipe extracts; move the recipes into the feeds directory to poll them",
                file.display()
            )
        })
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Written => "written".into(),
        Outcome::WouldWrite(_) => "would be written".into(),
        Outcome::Exists => "skipped: file exists".into(),
        Outcome::AlreadyRead(id) => format!("skipped: `{id}` already reads it"),
        Outcome::Duplicate(line) => format!("skipped: same URL as line {line}"),
        Outcome::Rejected(why) => format!("rejected: {why}"),
        Outcome::NotAFeed => "skipped: no xmlUrl, not a feed".into(),
        Outcome::Failed(why) => format!("FAILED: {why}"),
    }
}
