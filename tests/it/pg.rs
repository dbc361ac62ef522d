//! A fresh PostgreSQL database per test, on the server named by `TIDINGS_TEST_DATABASE_URL`
//! (`scripts/test` starts one and sets it). Without it PostgreSQL tests skip — or fail under
//! `TIDINGS_STRICT=1`.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

use crate::helpers::strict;

/// The server's URL from `TIDINGS_TEST_DATABASE_URL` (its database is used only to create
/// and drop the tests' own), or `None` after saying why tests skip.
pub fn pg_base_url() -> Option<String> {
    match std::env::var("TIDINGS_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                !strict(),
                "TIDINGS_STRICT=1 but TIDINGS_TEST_DATABASE_URL is not set: run scripts/test"
            );
            eprintln!("skipping: TIDINGS_TEST_DATABASE_URL is not set (scripts/test sets it)");
            None
        }
    }
}

/// A database created for one test and dropped (with its connections) when this is dropped.
pub struct PgDatabase {
    /// URL of the fresh database.
    pub url: String,
    /// Its name.
    pub name: String,
    base: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl PgDatabase {
    /// Creates `tidings_t_<pid>_<n>_<random>` on the test server; `None` when there is none
    /// configured (see [`pg_base_url`]).
    pub async fn create() -> Option<PgDatabase> {
        let base = pg_base_url()?;
        let name = format!(
            "tidings_t_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| {
            panic!(
                "TIDINGS_TEST_DATABASE_URL is set but PostgreSQL cannot be reached ({e}): run scripts/test"
            )
        });
        // A default collation unlike SQLite's (ICU en-US: `a` < `B`, Unicode-aware `lower`)
        // where the server has ICU, so the tests show the store does not depend on it.
        let icu = format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        );
        if sqlx::query(sqlx::AssertSqlSafe(icu))
            .execute(&mut conn)
            .await
            .is_err()
        {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        }
        let _ = conn.close().await;
        let mut url = url::Url::parse(&base).expect("TIDINGS_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(PgDatabase {
            url: url.to_string(),
            name,
            base,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread with a
        // runtime of its own drops the database (best effort; scripts/test sweeps leftovers).
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                        eprintln!("dropping test database {name}: {e}");
                    }
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}
