//! `config.toml` and the `feeds/*.toml` recipes, parsed and validated once at start.
//!
//! Every mistake is reported with its file, line and key ([`ConfigError`]); loading
//! collects all of them instead of stopping at the first.

mod field;
mod located;
mod recipe;
mod secrets;

pub use field::{Field, FieldSpec};
pub use located::{ConfigError, ConfigErrors};
pub use recipe::{
    ArticleSelectors, FeedInput, IdentityPolicy, Listing, META_GROUPS, Recipe, RecipeDefaults,
    SourceOverride, input_name, rebase,
};
pub use secrets::{Feature, Secret, Secrets};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use crate::domain::{Region, RegionTable};
use crate::source::fetch::FetchSettings;
use located::Doc;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file.
    pub path: PathBuf,
    /// The recipe directory (`feeds_dir`, default `feeds/` beside the config file).
    pub feeds_dir: PathBuf,
    /// HTTP server settings.
    pub server: ServerSettings,
    /// Where items live.
    pub storage: StorageSettings,
    /// Fetch limits and politeness.
    pub fetch: FetchSettings,
    /// Global switch for private/loopback fetches (per-source `allow_private` overrides).
    pub allow_private: bool,
    /// Polling behaviour.
    pub poll: PollSettings,
    /// Regions known by slug, name and alias.
    pub regions: RegionTable,
    /// Every recipe, overrides applied, sorted by id.
    pub sources: Vec<Recipe>,
    /// Secrets from the environment and the features they turn on.
    pub secrets: Secrets,
    /// Telegram delivery settings.
    pub telegram: TelegramSettings,
    /// Email delivery and subscription settings.
    pub email: EmailSettings,
}

/// `[email]` besides its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// SMTP connections kept open, and mails sent at once (`connections`, default 8).
    pub connections: usize,
    /// Subscription requests accepted per client IP per hour (`per_ip_per_hour`, default 10).
    pub per_ip_per_hour: u32,
    /// Confirmation mails sent to one address per hour (`per_address_per_hour`, default 3).
    pub per_address_per_hour: u32,
}

/// `[telegram]` besides its secret.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    /// Show link previews.
    pub link_preview: bool,
    /// Flood limits.
    pub limits: crate::notify::flood::Limits,
    /// How long a worker's claim on a delivery lasts (`lease`, default 120 s): a crashed
    /// worker's deliveries are sent by the next claim after it.
    pub lease: std::time::Duration,
    /// Configured chats and channels with their topics.
    pub channels: Vec<ChannelConfig>,
    /// The operator's chat (`[telegram] operator_chat`): receives alerts once each.
    pub operator_chat: Option<i64>,
}

/// One `[[telegram.channels]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Chat id.
    pub chat_id: i64,
    /// Forum topic, 0 for none.
    pub thread_id: i64,
    /// Topics.
    pub topics: Vec<crate::store::Topic>,
    /// Include/exclude filters.
    pub filters: crate::store::Filters,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// A separate (private) address serving `/metrics`; when set, the public listener does
    /// not serve it.
    pub metrics_listen: Option<SocketAddr>,
    /// Base of every absolute link the service writes.
    pub public_url: Option<Url>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`trusted_proxies`, addresses or
    /// CIDR ranges); from anyone else the client is the connecting address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a stopping daemon waits for work under way (`drain_timeout`, default 20s)
    /// before it releases what is left to the next instance or start.
    pub drain_timeout: Duration,
}

/// `[storage]`.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// `sqlite://…` or `postgres://…` (shared by several instances); `TIDINGS_DATABASE_URL`
    /// overrides.
    pub url: String,
    /// Items older than this are pruned.
    pub retention: Duration,
}

/// `[poll]`.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// Random delay added to each scheduled poll.
    pub jitter: Duration,
    /// Whether a new source's first poll pushes its items (normally it is a silent baseline).
    pub baseline_push: bool,
    /// Maximum concurrent source polls.
    pub concurrency: usize,
    /// A poll taking longer than this is abandoned and recorded as failed.
    pub timeout: Duration,
    /// Defaults for recipes.
    pub defaults: RecipeDefaults,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    feeds_dir: Option<String>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    fetch: RawFetch,
    #[serde(default)]
    poll: RawPoll,
    regions: Option<Vec<RawRegion>>,
    #[serde(default)]
    sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    telegram: secrets::RawTelegram,
    #[serde(default)]
    email: secrets::RawEmail,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    metrics_listen: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    #[serde(default)]
    trusted_proxies: Vec<Spanned<String>>,
    drain_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    url: Option<Spanned<String>>,
    retention_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFetch {
    timeout: Option<Spanned<String>>,
    max_body_kib: Option<usize>,
    max_redirects: Option<usize>,
    host_interval: Option<Spanned<String>>,
    allow_private: Option<bool>,
    user_agent: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPoll {
    schedule: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    revisit: Option<Spanned<String>>,
    max_pages: Option<u32>,
    baseline_push: Option<bool>,
    concurrency: Option<usize>,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    slug: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSource {
    origin: Option<Spanned<String>>,
    enabled: Option<bool>,
    schedule: Option<Spanned<String>>,
    allow_private: Option<bool>,
}

impl Config {
    /// Loads `path` and every recipe in its feeds directory, reading secrets from the process
    /// environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Self::load_with_env(path, &|k| std::env::var(k).ok())
    }

    /// Like [`Config::load`] with an explicit environment (for tests).
    pub fn load_with_env(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let text = read_file(path, "; pass --config PATH or set TIDINGS_CONFIG")
            .map_err(|e| ConfigErrors(vec![e]))?;
        let config = parse(path, &text, env, &mut errors);
        match config {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// The recipe with this id.
    pub fn source(&self, id: &str) -> Option<&Recipe> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// The base URL for absolute links: `public_url`, else `http://` + the listen address.
    pub fn public_url(&self) -> Url {
        self.server.public_url.clone().unwrap_or_else(|| {
            // A socket address always forms a valid URL.
            Url::parse(&format!("http://{}/", self.server.listen)).expect("listen address URL")
        })
    }
}

fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    let mut doc = Doc::new(path, text, errors);
    let raw: RawConfig = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            doc.toml_error(&e);
            return None;
        }
    };
    let listen = spanned_parse(
        &mut doc,
        &raw.server.listen,
        "server.listen",
        "127.0.0.1:8080",
        |s| {
            s.parse::<SocketAddr>()
                .map_err(|e| format!("`{s}` is not an address like 127.0.0.1:8080: {e}"))
        },
    );
    // Optional: absent means /metrics is served on `listen` with everything else.
    let metrics_listen = match &raw.server.metrics_listen {
        None => Some(None),
        Some(_) => spanned_parse(
            &mut doc,
            &raw.server.metrics_listen,
            "server.metrics_listen",
            "",
            |s| {
                let addr = s
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("`{s}` is not an address like 127.0.0.1:9090: {e}"))?;
                if listen.is_some_and(|l| l == addr && addr.port() != 0) {
                    return Err(format!(
                        "`{s}` is also [server] listen: give the metrics listener a port of its own"
                    ));
                }
                Ok(Some(addr))
            },
        ),
    };
    let public_url = match &raw.server.public_url {
        None => Some(None),
        Some(u) => match Url::parse(u.get_ref()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(Some(url)),
            _ => {
                doc.error(
                    Some(u.span()),
                    "server.public_url",
                    format!("`{}` is not an http(s) URL", u.get_ref()),
                );
                None
            }
        },
    };
    let storage_url = env("TIDINGS_DATABASE_URL")
        .or_else(|| raw.storage.url.as_ref().map(|s| s.get_ref().clone()))
        .unwrap_or_else(|| "sqlite://data/tidings.db".into());
    if !storage_url.starts_with("sqlite:") && !storage_url.starts_with("postgres") {
        let span = raw.storage.url.as_ref().map(|s| s.span());
        doc.error(
            span,
            "storage.url",
            format!("`{storage_url}` must start with sqlite:// or postgres://"),
        );
    }
    let dur = |doc: &mut Doc<'_>, v: &Option<Spanned<String>>, key: &str, default: &str| {
        spanned_parse(doc, v, key, default, |s| {
            humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 20s or 7d: {e}"))
        })
    };
    let timeout = dur(&mut doc, &raw.fetch.timeout, "fetch.timeout", "20s");
    let host_interval = dur(&mut doc, &raw.fetch.host_interval, "fetch.host_interval", "1s");
    let jitter = dur(&mut doc, &raw.poll.jitter, "poll.jitter", "30s");
    let revisit = dur(&mut doc, &raw.poll.revisit, "poll.revisit", "7d");
    let poll_timeout = dur(&mut doc, &raw.poll.timeout, "poll.timeout", "10m");
    let drain_timeout = dur(&mut doc, &raw.server.drain_timeout, "server.drain_timeout", "20s");
    let schedule = match &raw.poll.schedule {
        Some(s) => crate::schedule::Schedule::parse(s.get_ref())
            .map(|_| s.get_ref().clone())
            .map_err(|e| doc.error(Some(s.span()), "poll.schedule", e.to_string()))
            .ok(),
        None => Some("*/15 * * * *".to_owned()),
    };
    let secrets = secrets::read(&raw.telegram, &raw.email, env, &mut doc);
    let per_chat = dur(&mut doc, &raw.telegram.per_chat, "telegram.per_chat", "1s");
    let lease = dur(&mut doc, &raw.telegram.lease, "telegram.lease", "120s").filter(|d| {
        let long_enough = *d >= std::time::Duration::from_secs(1);
        if !long_enough {
            let span = raw.telegram.lease.as_ref().map(Spanned::span);
            doc.error(span, "telegram.lease", "must be at least 1s");
        }
        long_enough
    });
    let allow_private = raw.fetch.allow_private.unwrap_or(false);
    let trusted_proxies = trusted_proxies(&raw.server.trusted_proxies, &mut doc);
    let regions = match &raw.regions {
        None => RegionTable::shanxi(),
        Some(list) => RegionTable::new(
            list.iter()
                .map(|r| Region {
                    slug: r.slug.clone(),
                    name: r.name.clone(),
                    aliases: r.aliases.clone(),
                })
                .collect(),
        ),
    };
    let mut fetch = FetchSettings::default();
    if let Some(ua) = &raw.fetch.user_agent {
        fetch.user_agent = ua.clone();
    }
    if let Some(kib) = raw.fetch.max_body_kib {
        fetch.max_body_bytes = kib.saturating_mul(1024);
    }
    if let Some(n) = raw.fetch.max_redirects {
        fetch.max_redirects = n;
    }

    let defaults = RecipeDefaults {
        schedule: schedule.clone().unwrap_or_default(),
        revisit: revisit.unwrap_or_default(),
        max_pages: raw.poll.max_pages.unwrap_or(5),
    };
    let feeds_dir = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(raw.feeds_dir.as_deref().unwrap_or("feeds"));
    let mut overrides: BTreeMap<String, SourceOverride> = BTreeMap::new();
    for (id, s) in &raw.sources {
        let origin = s.origin.as_ref().and_then(|o| match Url::parse(o.get_ref()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                let msg = format!("`{}` is not an origin like http://127.0.0.1:8089", o.get_ref());
                doc.error(Some(o.span()), format!("sources.{id}.origin"), msg);
                None
            }
        });
        overrides.insert(
            id.clone(),
            SourceOverride {
                origin,
                enabled: s.enabled,
                schedule: s.schedule.clone(),
                allow_private: s.allow_private,
            },
        );
    }
    let channels = telegram_channels(&raw.telegram.channels, &regions, &mut doc);
    let sources = load_recipes(&feeds_dir, &defaults, allow_private, &overrides, errors);
    let mut doc = Doc::new(path, text, errors);
    for id in overrides.keys() {
        if !sources.iter().any(|s| &s.id == id) {
            let span = raw
                .sources
                .get(id)
                .and_then(|s| s.origin.as_ref().map(|o| o.span()));
            let msg = format!("no recipe {}/{id}.toml for this override", feeds_dir.display());
            doc.error(span, format!("sources.{id}"), msg);
        }
    }
    fetch.timeout = timeout?;
    fetch.host_interval = host_interval?;
    Some(Config {
        path: path.to_owned(),
        feeds_dir,
        server: ServerSettings {
            listen: listen?,
            metrics_listen: metrics_listen?,
            public_url: public_url?,
            trusted_proxies: trusted_proxies?,
            drain_timeout: drain_timeout?,
        },
        storage: StorageSettings {
            url: storage_url,
            retention: Duration::from_secs(u64::from(raw.storage.retention_days.unwrap_or(180)) * 86_400),
        },
        fetch,
        allow_private,
        poll: PollSettings {
            jitter: jitter?,
            baseline_push: raw.poll.baseline_push.unwrap_or(false),
            concurrency: raw.poll.concurrency.unwrap_or(4).max(1),
            timeout: poll_timeout?,
            defaults,
        },
        regions,
        sources,
        secrets: secrets?,
        telegram: TelegramSettings {
            link_preview: raw.telegram.link_preview.unwrap_or(false),
            limits: crate::notify::flood::Limits {
                global_per_second: raw.telegram.global_per_second.unwrap_or(30),
                per_chat: per_chat?,
                group_per_minute: raw.telegram.group_per_minute.unwrap_or(20),
            },
            lease: lease?,
            channels: channels?,
            operator_chat: raw.telegram.operator_chat,
        },
        email: EmailSettings {
            connections: raw.email.connections.unwrap_or(8).clamp(1, 64) as usize,
            per_ip_per_hour: raw.email.per_ip_per_hour.unwrap_or(10),
            per_address_per_hour: raw.email.per_address_per_hour.unwrap_or(3),
        },
    })
}

/// Parses `[server] trusted_proxies`: IP addresses (one host) or CIDR ranges.
fn trusted_proxies(raw: &[Spanned<String>], doc: &mut Doc<'_>) -> Option<Vec<ipnet::IpNet>> {
    let before = doc.count();
    let mut out = Vec::new();
    for p in raw {
        let text = p.get_ref().trim();
        let net = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match net {
            Ok(net) => out.push(net),
            Err(_) => doc.error(
                Some(p.span()),
                "server.trusted_proxies",
                format!("`{text}` is not an IP address or CIDR range like 10.0.0.0/8"),
            ),
        }
    }
    (doc.count() == before).then_some(out)
}

/// Validates `[[telegram.channels]]`: numeric chat ids and parseable topics.
fn telegram_channels(
    raw: &[secrets::RawChannel],
    regions: &RegionTable,
    doc: &mut Doc<'_>,
) -> Option<Vec<ChannelConfig>> {
    let before = doc.count();
    let mut out = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let chat_id = match c.chat_id.get_ref() {
            toml::Value::Integer(n) => Some(*n),
            toml::Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let Some(chat_id) = chat_id else {
            let msg = "must be a numeric chat id such as -1001234567890 (forward a channel post to @userinfobot to find it)";
            doc.error(
                Some(c.chat_id.span()),
                format!("telegram.channels[{i}].chat_id"),
                msg,
            );
            continue;
        };
        let mut topics = Vec::new();
        for t in c.topics.get_ref() {
            match crate::notify::topics::parse_topic(t, regions) {
                Ok(topic) => topics.push(topic),
                Err(m) => doc.error(Some(c.topics.span()), format!("telegram.channels[{i}].topics"), m),
            }
        }
        if c.topics.get_ref().is_empty() {
            let msg = "lists no topic; add regions or tags such as [\"晋中\", \"高质量\"]";
            doc.error(
                Some(c.topics.span()),
                format!("telegram.channels[{i}].topics"),
                msg,
            );
        }
        let filters = crate::store::Filters {
            include: c.include.as_ref().map(|p| p.get_ref().clone()),
            exclude: c.exclude.as_ref().map(|p| p.get_ref().clone()),
        };
        if let Err(m) = filters.validate() {
            let span = c.include.as_ref().or(c.exclude.as_ref()).map(|p| p.span());
            doc.error(span, format!("telegram.channels[{i}]"), m);
        }
        out.push(ChannelConfig {
            chat_id,
            thread_id: c.thread.unwrap_or(0),
            topics,
            filters,
        });
    }
    (doc.count() == before).then_some(out)
}

fn spanned_parse<T>(
    doc: &mut Doc<'_>,
    value: &Option<Spanned<String>>,
    key: &str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    match value {
        None => parse(default).ok(),
        Some(v) => parse(v.get_ref())
            .map_err(|m| doc.error(Some(v.span()), key, m))
            .ok(),
    }
}

fn load_recipes(
    dir: &Path,
    defaults: &RecipeDefaults,
    allow_private: bool,
    overrides: &BTreeMap<String, SourceOverride>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Recipe> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            errors.push(ConfigError {
                file: Some(dir.to_owned()),
                line: 0,
                key: "feeds_dir".into(),
                message: format!("cannot read the recipe directory: {e}"),
            });
            return Vec::new();
        }
    };
    files.sort();
    let mut recipes = Vec::new();
    for file in files {
        let text = match read_file(&file, "") {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let id = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ov = overrides.get(&id).cloned().unwrap_or_default();
        let mut doc = Doc::new(&file, &text, errors);
        if let Some(r) = recipe::parse_recipe(&file, &text, &mut doc, defaults, allow_private, &ov) {
            recipes.push(r);
        }
    }
    recipes
}

/// Reads a configuration or recipe file; the error names the file (and `hint` says what to do).
fn read_file(path: &Path, hint: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(path.to_owned()),
        line: 0,
        key: "(file)".into(),
        message: format!("cannot read: {e}{hint}"),
    })
}

/// Parses one recipe file on its own (for `tidings check FILE`), with default settings.
pub fn load_recipe_file(
    path: &Path,
    defaults: &RecipeDefaults,
    allow_private: bool,
) -> Result<Recipe, ConfigErrors> {
    let text = read_file(path, "").map_err(|e| ConfigErrors(vec![e]))?;
    validate_recipe(path, &text, defaults, allow_private)
}

/// Validates `text` as the recipe file `path` (whose stem is the source id) without reading
/// or writing it, with no `[sources.<id>]` override: how `import-opml` checks a recipe
/// before it writes the file.
pub fn validate_recipe(
    path: &Path,
    text: &str,
    defaults: &RecipeDefaults,
    allow_private: bool,
) -> Result<Recipe, ConfigErrors> {
    let mut errors = Vec::new();
    let mut doc = Doc::new(path, text, &mut errors);
    let recipe = recipe::parse_recipe(
        path,
        text,
        &mut doc,
        defaults,
        allow_private,
        &SourceOverride::default(),
    );
    match recipe {
        Some(r) if errors.is_empty() => Ok(r),
        _ => Err(ConfigErrors(errors)),
    }
}
