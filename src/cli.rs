//! The command line (binary `tidings`), as the SPEC lists it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Watch news sources; publish feeds per region and tag; push new items.
#[derive(Debug, Parser)]
#[command(name = "tidings", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "TIDINGS_CONFIG", default_value = "config.toml")]
    pub config: PathBuf,
    /// Log lines on stderr: `human` (text) or `json` (one object per line, for collectors).
    #[arg(long, global = true, env = "TIDINGS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Text for people: `TIMESTAMP LEVEL target: message key=value`.
    #[default]
    Human,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`)
    /// and the enclosing `span`/`spans`.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll sources on their schedules and serve HTTP until SIGINT/SIGTERM.
    Run {
        /// Listen address (overrides [server] listen); port 0 picks a free port.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Fetch and extract one source (id or recipe file) now and print what it found; stores nothing.
    Check {
        /// A source id (`sample-portal`) or a recipe file (`feeds/x.toml`).
        source_or_file: String,
        /// At most this many articles.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One polling round now (all enabled sources, or the ones named), then exit.
    Poll {
        /// Source ids; default every enabled source.
        sources: Vec<String>,
    },
    /// Walk a source's listings further back than a poll (feeds are read once) and store
    /// the older articles without pushing them to anyone, with progress.
    Backfill {
        /// Source id.
        source: String,
        /// Listing pages to walk per listing (1 to 1000; more is capped).
        #[arg(long)]
        pages: usize,
    },
    /// Show each source's state, or `accept SOURCE` to release a poll held by the flood guard.
    Sources {
        /// `accept`
        #[command(subcommand)]
        action: Option<SourcesAction>,
    },
    /// Write every feed (plus feeds.opml and index.html) as static files under DIR, at the
    /// server's paths; tag feeds are named by the raw UTF-8 tag (`feeds/tag/高质量.atom`).
    Render {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve a built-in sample portal on loopback and run the daemon against it on a
    /// temporary database: feeds fill within seconds, offline.
    Demo {
        /// Listen address of the daemon.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Base articles per region in the sample portal.
        #[arg(long, default_value_t = 30)]
        per_region: usize,
        /// Advance the portal one epoch (new, edited and removed articles) this often, e.g. `2m`.
        #[arg(long, value_parser = humantime::parse_duration)]
        advance: Option<std::time::Duration>,
    },
    /// Send every due delivery now, then exit.
    Deliver,
    /// Subscribe an email address or a Telegram chat (or a forum topic of it) to regions
    /// and tags. An address gets a confirmation mail first unless `--confirmed`.
    Subscribe(Box<SubscribeArgs>),
    /// Remove an email address's or a Telegram chat's subscription and its queued deliveries.
    Unsubscribe {
        /// Who.
        #[command(flatten)]
        who: Who,
        /// Forum topic.
        #[arg(long)]
        thread: Option<i64>,
    },
    /// Copy every table from a SQLite database into an empty PostgreSQL one, verified.
    Migrate {
        /// The SQLite database, e.g. `sqlite://data/tidings.db`.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database, e.g. `postgres://tidings@db/tidings`.
        #[arg(long)]
        to: String,
    },
    /// List recipients with their topics and delivery counts, and the queue.
    Subscriptions,
    /// Turn a feed reader's OPML export into `feed` recipes, one per feed (folders become
    /// tags); existing recipes and feeds already read are never overwritten or duplicated.
    ImportOpml {
        /// The OPML file (OPML 1.0 or 2.0, as Feedly, Inoreader, NetNewsWire… export it).
        file: PathBuf,
        /// Where to write the recipes (default: the feeds directory of the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print the recipes that would be written; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Configuration commands.
    Config {
        /// `check`
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// A recipient on the command line: an email address or a Telegram chat.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Who {
    /// The chat id (`-100…` for groups and channels).
    #[arg(long, allow_hyphen_values = true)]
    pub telegram: Option<i64>,
    /// The email address.
    #[arg(long)]
    pub email: Option<String>,
}

/// `tidings subscribe …`
#[derive(Debug, Clone, clap::Args)]
pub struct SubscribeArgs {
    /// Who.
    #[command(flatten)]
    pub who: Who,
    /// Forum topic (`message_thread_id`) of a Telegram chat.
    #[arg(long)]
    pub thread: Option<i64>,
    /// A region (slug, name or alias); repeatable.
    #[arg(long)]
    pub region: Vec<String>,
    /// A tag; repeatable.
    #[arg(long)]
    pub tag: Vec<String>,
    /// A topic such as `晋中+高质量` (region AND tag) or `tag:晋中`; repeatable.
    #[arg(long)]
    pub topic: Vec<String>,
    /// Deliver only items whose title or summary matches this regex (`''` clears).
    #[arg(long)]
    pub include: Option<String>,
    /// Leave out items whose title or summary matches this regex (`''` clears).
    #[arg(long)]
    pub exclude: Option<String>,
    /// `instant` (each new item), `daily` or `weekly` (a digest).
    #[arg(long, value_parser = ["instant", "daily", "weekly"])]
    pub mode: Option<String>,
    /// Digest time `HH:MM` in the recipient's time zone (default 08:00).
    #[arg(long)]
    pub at: Option<String>,
    /// Digest weekday for weekly digests: mon … sun (default mon).
    #[arg(long)]
    pub weekday: Option<String>,
    /// IANA time zone (default Asia/Shanghai).
    #[arg(long)]
    pub tz: Option<String>,
    /// Subscribe the address at once: its owner agreed elsewhere (no confirmation mail).
    #[arg(long)]
    pub confirmed: bool,
}

/// `tidings sources …`
#[derive(Debug, Subcommand)]
pub enum SourcesAction {
    /// Let the next poll of a source held by the flood guard through (its entries are
    /// adopted as the known articles under their new URLs).
    Accept {
        /// Source id.
        source: String,
    },
}

/// `tidings config …`
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate config.toml and every recipe; errors name the file, line and key.
    Check,
}
