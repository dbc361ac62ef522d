//! `tidings import-opml FILE`: a feed reader's OPML export turned into `feed` recipes.
//!
//! Every outline with an `xmlUrl` becomes one recipe `DIR/<id>.toml` (DIR is the config's
//! feeds directory unless `--dir` says otherwise): its `title`, a `[[feed]]` on the URL, a
//! 30-minute schedule, guid identity, and the titles of the folders around it as `tags`. The id is a slug of the feed's host and path.
//!
//! Nothing is overwritten and nothing is imported twice: a URL listed twice in the file is
//! one recipe (with both folders' tags), a URL an existing recipe already reads (in DIR or in
//! the config's feeds directory) is skipped, and so is an id whose file exists. Outlines
//! without `xmlUrl` and URLs that are not http(s) are reported and skipped. Each recipe is
//! validated by the config's own recipe parser before it is written, written through a
//! temporary file that is linked into place only if the name is still free, and read back.

mod outline;
mod recipe_text;
mod report;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::config::Config;
use outline::{Outline, OutlineKind, read_outlines};
use recipe_text::{NewRecipe, source_id};
use write::{RecipeError, write_recipe};

/// Why an OPML file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The OPML file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not valid in the encoding the file declares (UTF-8 by default).
    #[error("{}: not valid {encoding}; save the export as UTF-8", path.display())]
    Decode {
        /// The OPML file.
        path: PathBuf,
        /// The encoding tried.
        encoding: &'static str,
    },
    /// The file is not well-formed XML.
    #[error("{}: malformed XML", path.display())]
    Xml {
        /// The OPML file.
        path: PathBuf,
        /// The parser's message, with line and column.
        #[source]
        source: roxmltree::Error,
    },
    /// The XML document is something other than OPML.
    #[error("{}: not an OPML file: the root element is <{root}>, not <opml>", path.display())]
    NotOpml {
        /// The OPML file.
        path: PathBuf,
        /// The root element found.
        root: String,
    },
    /// The OPML document has no `<body>`.
    #[error("{}: the OPML has no <body> element, so it lists no feeds", path.display())]
    NoBody {
        /// The OPML file.
        path: PathBuf,
    },
    /// No outline has an `xmlUrl`.
    #[error("{}: no feeds found: no <outline> has an xmlUrl attribute", path.display())]
    NoFeeds {
        /// The OPML file.
        path: PathBuf,
    },
    /// The target directory could not be created.
    #[error("cannot create the recipe directory {}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What `import-opml` reads and where it writes.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions<'a> {
    /// The OPML file.
    pub file: &'a Path,
    /// Where recipes go; `None` for the config's feeds directory.
    pub dir: Option<&'a Path>,
    /// Only show what would be written.
    pub dry_run: bool,
}

/// What happened to one outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The recipe was written.
    Written,
    /// The recipe (its text) would be written (`--dry-run`).
    WouldWrite(String),
    /// A file with this id exists; it was left alone.
    Exists,
    /// The recipe with this id already reads the feed.
    AlreadyRead(String),
    /// The same URL appeared on this line earlier in the file.
    Duplicate(u32),
    /// The URL is not an http(s) URL (why).
    Rejected(String),
    /// The outline has no `xmlUrl` and no outlines inside.
    NotAFeed,
    /// Writing the recipe failed (why).
    Failed(String),
}

/// One outline of the OPML file and its outcome.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// 1-based line in the OPML file.
    pub line: u32,
    /// The source id given, or that the feed already has.
    pub id: Option<String>,
    /// The outline's title.
    pub title: String,
    /// The `xmlUrl` as written in the file.
    pub url: String,
    /// Folder titles, as tags.
    pub tags: Vec<String>,
    /// What happened.
    pub outcome: Outcome,
}

/// What an import did, outline by outline.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Where recipes were (or would be) written.
    pub dir: PathBuf,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether `dir` is the config's feeds directory (so `config check` sees the recipes).
    pub in_config: bool,
    /// One row per feed outline or non-feed outline, in file order.
    pub rows: Vec<ImportRow>,
}

/// An outline whose outcome is known, or a new feed (an index into [`Plan::news`]).
enum Step {
    Done(ImportRow),
    New(usize),
}

/// The recipes to write, decided outline by outline.
struct Plan {
    /// Where they go.
    dir: PathBuf,
    /// Feed URLs that existing recipes read, with their ids.
    known: HashMap<String, String>,
    /// New recipes in file order.
    news: Vec<NewRecipe>,
    /// Index into `news` by URL.
    by_url: HashMap<String, usize>,
}

/// Reads the OPML file and writes one recipe per new feed (none with `dry_run`).
pub fn import_opml(config: &Config, opts: &ImportOptions<'_>) -> Result<ImportReport, ImportError> {
    let bytes = std::fs::read(opts.file).map_err(|source| ImportError::Read {
        path: opts.file.to_owned(),
        source,
    })?;
    let outlines = read_outlines(opts.file, &bytes)?;
    if !outlines
        .iter()
        .any(|o| matches!(o.kind, OutlineKind::Feed { .. }))
    {
        return Err(ImportError::NoFeeds {
            path: opts.file.to_owned(),
        });
    }
    let dir = opts.dir.unwrap_or(&config.feeds_dir).to_owned();
    let in_config = same_dir(&dir, &config.feeds_dir);
    let mut known = feeds_read_in(&config.feeds_dir);
    if !in_config {
        known.extend(feeds_read_in(&dir));
    }
    let mut plan = Plan {
        dir,
        known,
        news: Vec::new(),
        by_url: HashMap::new(),
    };
    let steps: Vec<Step> = outlines.into_iter().map(|o| plan.step(o)).collect();

    if !opts.dry_run && !plan.news.is_empty() {
        std::fs::create_dir_all(&plan.dir).map_err(|source| ImportError::Dir {
            path: plan.dir.clone(),
            source,
        })?;
    }
    let opml_name = opts.file.file_name().unwrap_or_default().to_string_lossy();
    let rows = steps
        .into_iter()
        .map(|step| match step {
            Step::Done(row) => row,
            Step::New(i) => {
                let recipe = &plan.news[i];
                let outcome = match write_recipe(config, &plan.dir, recipe, &opml_name, opts.dry_run) {
                    Ok(outcome) => outcome,
                    Err(RecipeError::Exists) => Outcome::Exists,
                    Err(e) => {
                        let why = chain(&e);
                        tracing::warn!(source = %recipe.id, line = recipe.line, "not imported: {why}");
                        Outcome::Failed(why)
                    }
                };
                ImportRow {
                    line: recipe.line,
                    id: Some(recipe.id.clone()),
                    title: recipe.title.clone(),
                    url: recipe.url.to_string(),
                    tags: recipe.tags.clone(),
                    outcome,
                }
            }
        })
        .collect();
    Ok(ImportReport {
        dir: plan.dir,
        dry_run: opts.dry_run,
        in_config,
        rows,
    })
}

impl Plan {
    /// Decides what becomes of one outline; a new feed is added to `news`.
    fn step(&mut self, o: Outline) -> Step {
        let OutlineKind::Feed {
            xml_url,
            html_url,
            folders,
        } = o.kind
        else {
            return Step::Done(ImportRow {
                line: o.line,
                id: None,
                title: o.title,
                url: String::new(),
                tags: Vec::new(),
                outcome: Outcome::NotAFeed,
            });
        };
        let placement = match feed_url(&xml_url) {
            Ok(url) => self.place(&url, &folders).map(|id| (id, url)),
            Err(why) => Err((None, Outcome::Rejected(why))),
        };
        let (id, url) = match placement {
            Ok(new) => new,
            Err((id, outcome)) => {
                return Step::Done(ImportRow {
                    line: o.line,
                    id,
                    title: o.title,
                    url: xml_url,
                    tags: folders,
                    outcome,
                });
            }
        };
        let title = if o.title.is_empty() {
            url.host_str().unwrap_or_default().to_owned()
        } else {
            o.title
        };
        self.by_url.insert(url.to_string(), self.news.len());
        self.news.push(NewRecipe {
            line: o.line,
            id,
            title,
            site: html_url.as_deref().and_then(|u| feed_url(u).ok()),
            url,
            tags: folders,
        });
        Step::New(self.news.len() - 1)
    }

    /// The id a new feed gets, or why it is skipped (with the id that has the feed, if any).
    /// A URL seen earlier in the file gives its folders to that recipe's tags.
    fn place(&mut self, url: &Url, folders: &[String]) -> Result<String, (Option<String>, Outcome)> {
        if let Some(&i) = self.by_url.get(url.as_str()) {
            let first = &mut self.news[i];
            for tag in folders {
                if !first.tags.contains(tag) {
                    first.tags.push(tag.clone());
                }
            }
            return Err((Some(first.id.clone()), Outcome::Duplicate(first.line)));
        }
        if let Some(id) = self.known.get(url.as_str()) {
            return Err((Some(id.clone()), Outcome::AlreadyRead(id.clone())));
        }
        let base = source_id(url);
        let taken = |id: &str| self.news.iter().any(|r| r.id == id);
        let id = std::iter::once(base.clone())
            .chain((2..).map(|n| format!("{base}-{n}")))
            .find(|id| !taken(id))
            .unwrap_or(base);
        if self.dir.join(format!("{id}.toml")).exists() {
            return Err((Some(id), Outcome::Exists));
        }
        Ok(id)
    }
}

/// An error and its causes on one line, as `main` prints errors.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The feed URL, or why it is not one a recipe can poll.
fn feed_url(raw: &str) -> Result<Url, String> {
    match Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        Ok(u) => Err(format!("`{}:` is not an http(s) URL", u.scheme())),
        Err(e) => Err(format!("bad URL: {e}")),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The feed URLs that the recipes in `dir` read (as written, before any `origin` override),
/// mapped to their source ids. A file that is not valid TOML is left to `config check`.
fn feeds_read_in(dir: &Path) -> HashMap<String, String> {
    #[derive(Deserialize)]
    struct Inputs {
        #[serde(default)]
        feed: Vec<FeedUrl>,
    }
    #[derive(Deserialize)]
    struct FeedUrl {
        url: String,
    }
    let mut known = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return known;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    // Sorted, so that of two recipes reading one URL the report names the same one each time.
    files.sort();
    for path in files {
        let id = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| toml::from_str::<Inputs>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(inputs) => {
                for f in inputs.feed {
                    if let Ok(url) = Url::parse(&f.url) {
                        known.entry(url.to_string()).or_insert_with(|| id.clone());
                    }
                }
            }
            Err(e) => tracing::debug!("{}: not read for known feeds: {e}", path.display()),
        }
    }
    known
}
