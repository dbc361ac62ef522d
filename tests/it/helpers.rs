//! Test helpers: a temporary configuration directory, the app on a temp SQLite file, and
//! the library's sample portal served on port 0.

use std::net::SocketAddr;
use std::path::PathBuf;

use tidings::app::App;
use tidings::config::Config;
use tidings::ingest::PollReport;
use tidings::portal::{PortalParams, PortalServer, Variant, generate};

/// The repository root (for the shipped recipes).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether CI asked for every optional prerequisite to be present.
pub fn strict() -> bool {
    std::env::var("TIDINGS_STRICT").is_ok_and(|v| v == "1")
}

/// Which store the integration tests run on: SQLite (default) or, with
/// `TIDINGS_TEST_BACKEND=postgres`, a fresh PostgreSQL database per test directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A `t.db` file in the test directory.
    Sqlite,
    /// A database of its own on `TIDINGS_TEST_DATABASE_URL`'s server.
    Postgres,
}

impl Backend {
    /// The backend chosen by `TIDINGS_TEST_BACKEND` (`sqlite` or `postgres`).
    pub fn from_env() -> Backend {
        match std::env::var("TIDINGS_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            Ok("sqlite") | Ok("") | Err(_) => Backend::Sqlite,
            Ok(other) => panic!("TIDINGS_TEST_BACKEND={other}: use sqlite or postgres"),
        }
    }

    /// Whether a test that only makes sense on SQLite (its file, its single-daemon lock)
    /// should step aside; says so on stderr.
    pub fn skip_unless_sqlite(what: &str) -> bool {
        let skip = Backend::from_env() != Backend::Sqlite;
        if skip {
            eprintln!("not on this backend: {what} is SQLite-only (the SQLite pass covers it)");
        }
        skip
    }
}

/// A config directory with `config.toml` and `feeds/`, on the backend [`Backend::from_env`]
/// picks.
pub struct TestDir {
    pub dir: tempfile::TempDir,
    /// The `[storage] url` written into config.toml.
    pub storage_url: String,
    /// The PostgreSQL database (dropped with the directory), on that backend.
    _pg: Option<crate::pg::PgDatabase>,
}

impl TestDir {
    /// A config whose body is `config` (storage is added) and the given recipes.
    pub fn new(config: &str, recipes: &[(&str, String)]) -> TestDir {
        TestDir::on(Backend::from_env(), config, recipes)
    }

    /// Like [`TestDir::new`] on the given backend.
    pub fn on(backend: Backend, config: &str, recipes: &[(&str, String)]) -> TestDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let (storage_url, pg) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("t.db").display()), None),
            Backend::Postgres => {
                let db = fresh_pg_database();
                (db.url.clone(), Some(db))
            }
        };
        TestDir::with_storage(dir, config, recipes, storage_url, pg)
    }

    /// Like [`TestDir::new`] on the given storage URL.
    pub fn with_storage_url(config: &str, recipes: &[(&str, String)], storage_url: &str) -> TestDir {
        let dir = tempfile::tempdir().expect("tempdir");
        TestDir::with_storage(dir, config, recipes, storage_url.to_owned(), None)
    }

    fn with_storage(
        dir: tempfile::TempDir,
        config: &str,
        recipes: &[(&str, String)],
        storage_url: String,
        pg: Option<crate::pg::PgDatabase>,
    ) -> TestDir {
        std::fs::create_dir(dir.path().join("feeds")).expect("feeds dir");
        for (id, text) in recipes {
            std::fs::write(dir.path().join("feeds").join(format!("{id}.toml")), text).expect("recipe");
        }
        let full = format!("{config}\n[storage]\nurl = \"{storage_url}\"\n");
        std::fs::write(dir.path().join("config.toml"), full).expect("config");
        TestDir {
            dir,
            storage_url,
            _pg: pg,
        }
    }

    /// Runs one SQL statement on the test's database, whichever the backend (tests use it to
    /// break or age rows behind the app's back).
    pub async fn execute_sql(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.storage_url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.storage_url).await.expect("connect");
            sqlx::query(sql).execute(&pool).await.expect("sql");
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.storage_url)
                .await
                .expect("connect");
            sqlx::query(sql).execute(&pool).await.expect("sql");
            pool.close().await;
        }
    }

    /// Path of config.toml.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// Loads the configuration with an empty environment.
    pub fn load(&self) -> Config {
        Config::load_with_env(&self.config_path(), &|_| None).unwrap_or_else(|e| panic!("config: {e}"))
    }

    /// Opens the app on the temp database.
    pub async fn app(&self) -> App {
        App::open(self.load()).await.expect("app")
    }

    /// Opens the app with these environment variables (secrets) set.
    pub async fn app_with_env(&self, vars: &[(&str, &str)]) -> App {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let config =
            Config::load_with_env(&self.config_path(), &lookup).unwrap_or_else(|e| panic!("config: {e}"));
        App::open(config).await.expect("app")
    }
}

/// A shipped recipe's text.
pub fn shipped(id: &str) -> String {
    std::fs::read_to_string(repo().join("feeds").join(format!("{id}.toml"))).expect("shipped recipe")
}

/// A fresh PostgreSQL database; created on a thread with a runtime of its own, because
/// test directories are made from both sync and async code.
fn fresh_pg_database() -> crate::pg::PgDatabase {
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(crate::pg::PgDatabase::create())
    })
    .join()
    .expect("creating the test database")
    .expect("TIDINGS_TEST_BACKEND=postgres needs TIDINGS_TEST_DATABASE_URL (scripts/test sets it)")
}

/// Fast fetch settings for tests.
pub const FAST_FETCH: &str = "[fetch]\nhost_interval = \"0s\"\ntimeout = \"3s\"\n";

/// Config overriding `source` onto `origin` (loopback allowed).
pub fn source_override(source: &str, origin: &str) -> String {
    format!("[sources.{source}]\norigin = \"{origin}\"\nallow_private = true\n")
}

/// A config directory with the shipped `sample-portal` recipe pointed at `server`.
pub fn sample_portal_env(server: &PortalServer) -> TestDir {
    sample_portal_env_on(Backend::from_env(), server)
}

/// Like [`sample_portal_env`] on the given backend.
pub fn sample_portal_env_on(backend: Backend, server: &PortalServer) -> TestDir {
    TestDir::on(
        backend,
        &format!(
            "{FAST_FETCH}{}",
            source_override("sample-portal", &server.base_url())
        ),
        &[("sample-portal", shipped("sample-portal"))],
    )
}

/// Serves a generated portal on 127.0.0.1:0.
pub async fn portal(per_region: usize, epoch: u32, variant: Variant) -> PortalServer {
    let params = PortalParams {
        per_region,
        epoch,
        variant,
        ..PortalParams::default()
    };
    PortalServer::start_generated(params, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("portal server")
}

/// Swaps the served portal for another epoch or variant (same base URL).
pub fn swap(server: &PortalServer, per_region: usize, epoch: u32, variant: Variant) {
    server.replace(generate(&PortalParams {
        per_region,
        epoch,
        variant,
        base_url: server.base_url(),
        ..PortalParams::default()
    }));
}

/// The ground truth of what `server` serves for these parameters (generation is deterministic).
pub fn truth(
    server: &PortalServer,
    per_region: usize,
    epoch: u32,
    variant: Variant,
) -> tidings::portal::Truth {
    generate(&PortalParams {
        per_region,
        epoch,
        variant,
        base_url: server.base_url(),
        ..PortalParams::default()
    })
    .truth
}

/// Polls one source and returns its report, panicking on a store error.
pub async fn poll(app: &App, source: &str) -> PollReport {
    let recipe = app.config.source(source).expect("source").clone();
    app.poll_one(&recipe).await.expect("poll")
}

/// Installs the rustls provider for clients built in a test.
pub fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A tiny seeded generator (Knuth's MMIX LCG) for reproducible kill points in crash tests.
pub struct Lcg(u64);

impl Lcg {
    /// Seeded from `TIDINGS_CRASH_SEED`, else the clock; the seed is printed (`what`) so a
    /// run can be replayed.
    pub fn from_env(what: &str) -> Lcg {
        let seed = std::env::var("TIDINGS_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                now.map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{what}: seed {seed} (TIDINGS_CRASH_SEED={seed} replays it)");
        Lcg(seed)
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (self.0 >> 33) as usize % (hi - lo + 1)
    }
}

/// `tidings run --listen 127.0.0.1:0` on `env` with `vars` set and stderr to `stderr`: the
/// child and the reader of its stdout, past the first line, `listening on http://ADDR/`;
/// returns `http://ADDR` too.
pub fn spawn_run(
    env: &TestDir,
    vars: &[(&str, &str)],
    stderr: impl Into<std::process::Stdio>,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
    String,
) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .arg("--config")
        .arg(env.config_path())
        .args(["run", "--listen", "127.0.0.1:0"])
        .envs(vars.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn tidings run");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );
    (child, stdout, base)
}
