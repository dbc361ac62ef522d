//! `tidings backfill SOURCE --pages N`: walks a source's listings further back than a poll
//! does and stores the older articles without pushing them, with a progress bar on a
//! terminal. The work is [`Ingest::backfill`](crate::ingest::Ingest::backfill); this
//! module validates the request, draws the progress and words the summary.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use super::App;
use crate::ingest::{PollReport, Progress, summarize_errors};
use crate::store::StoreError;

/// The deepest a backfill walks into one listing; larger `--pages` values are capped.
pub const MAX_BACKFILL_PAGES: usize = 1000;

/// Why a backfill did not run or fetched nothing.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// `--pages 0`.
    #[error("--pages must be at least 1: it is how many listing pages to walk per listing")]
    NoPages,
    /// No recipe has this id.
    #[error("no source `{id}`; known sources: {known}")]
    UnknownSource {
        /// The id asked for.
        id: String,
        /// Every configured source id, comma-separated.
        known: String,
    },
    /// Not one listing, feed or article could be read.
    #[error("{id}: nothing could be fetched: {why}")]
    NothingFetched {
        /// Source id.
        id: String,
        /// The first failures.
        why: String,
    },
    /// Storing a batch failed.
    #[error("storing the backfill failed: {0}")]
    Store(#[from] StoreError),
}

/// What a backfill did.
#[derive(Debug, Clone)]
pub struct BackfillReport {
    /// Pages walked at most per listing (after the cap).
    pub pages_per_listing: usize,
    /// The `--pages` asked for, when it was more than [`MAX_BACKFILL_PAGES`].
    pub capped_from: Option<usize>,
    /// Counts and failures.
    pub run: PollReport,
}

impl fmt::Display for BackfillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.run;
        if let Some(asked) = self.capped_from {
            writeln!(
                f,
                "--pages {asked} capped at {MAX_BACKFILL_PAGES} pages per listing"
            )?;
        }
        if r.feeds > 0 {
            writeln!(f, "feeds have no pages: each feed was read once")?;
        }
        writeln!(
            f,
            "{}: {} listing pages (up to {} per listing) and {} feeds read, {} articles found, \
             {} new items stored (not pushed), {} already known, {} failed",
            r.source,
            r.pages,
            self.pages_per_listing,
            r.feeds,
            r.found,
            r.new.len(),
            r.known,
            r.failed
        )?;
        if !r.errors.is_empty() {
            writeln!(f, "failures: {}", summarize_errors(&r.errors))?;
        }
        Ok(())
    }
}

impl App {
    /// Backfills `source` up to `pages` listing pages deep (capped at
    /// [`MAX_BACKFILL_PAGES`]), with a progress bar when stderr is a terminal. New items
    /// appear in the feeds but are never pushed, now or by later polls.
    pub async fn backfill(&self, source: &str, pages: usize) -> Result<BackfillReport, BackfillError> {
        if pages == 0 {
            return Err(BackfillError::NoPages);
        }
        let recipe = self
            .config
            .source(source)
            .ok_or_else(|| BackfillError::UnknownSource {
                id: source.to_owned(),
                known: self.source_ids(),
            })?;
        let capped_from = (pages > MAX_BACKFILL_PAGES).then_some(pages);
        let depth = pages.min(MAX_BACKFILL_PAGES);
        if capped_from.is_some() {
            tracing::warn!(
                "--pages {pages} is more than {MAX_BACKFILL_PAGES}: walking {depth} pages per listing"
            );
        }
        let bar = Bar::new(source, std::io::IsTerminal::is_terminal(&std::io::stderr()));
        // `depth` is at most MAX_BACKFILL_PAGES, well within u32.
        let depth_u32 = u32::try_from(depth).unwrap_or(u32::MAX);
        let run = self.ingest.backfill(recipe, depth_u32, Utc::now(), &bar).await;
        bar.bar.finish_and_clear();
        let run = run?;
        let read_nothing = run.pages + run.feeds == 0;
        let stored_nothing = run.found > 0 && run.new.is_empty() && run.known == 0;
        if read_nothing || stored_nothing {
            return Err(BackfillError::NothingFetched {
                id: run.source.clone(),
                why: if run.errors.is_empty() {
                    "the recipe has no inputs".to_owned()
                } else {
                    summarize_errors(&run.errors)
                },
            });
        }
        Ok(BackfillReport {
            pages_per_listing: depth,
            capped_from,
            run,
        })
    }
}

/// The progress bar: a spinner counting pages and entries while the listings are read,
/// then a bar over the articles to fetch. Hidden when stderr is not a terminal.
struct Bar {
    bar: ProgressBar,
    pages: AtomicUsize,
    entries: AtomicUsize,
}

impl Bar {
    fn new(source: &str, tty: bool) -> Bar {
        let bar = if tty {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix}: {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(source.to_owned());
        bar.set_message("reading listings");
        Bar {
            bar,
            pages: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
        }
    }
}

impl Progress for Bar {
    fn page_read(&self, entries: usize) {
        let pages = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
        let found = self.entries.fetch_add(entries, Ordering::Relaxed) + entries;
        self.bar
            .set_message(format!("reading listings: {pages} pages, {found} entries"));
    }

    fn articles_planned(&self, articles: usize) {
        let template = "{prefix}: [{bar:30}] {pos}/{len} articles fetched ({elapsed})";
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_length(articles as u64);
        self.bar.set_position(0);
    }

    fn article_done(&self) {
        self.bar.inc(1);
    }
}
