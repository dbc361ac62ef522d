//! `tidings migrate --from sqlite://… --to postgres://…`: copies every table (items,
//! their keys and tags, source state, alerts, recipients and topics, the outbox, digest
//! membership, confirmations) into an empty PostgreSQL database, then checks that every
//! table holds as many rows as the source.
//!
//! The copy is driven by the target's column types (from `information_schema`), so it
//! follows both schemas as they are: SQLite's text timestamps become `timestamptz`, its
//! 0/1 integers `boolean`. Each table is copied in one transaction, in batches; identity
//! sequences are moved past the copied ids. Run it with every daemon stopped.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{PgPool, Row, SqlitePool};

/// Tables in the order their references need; `leases` (runtime state) is not copied.
pub const TABLES: [&str; 13] = [
    "sources",
    "inputs",
    "http_cache",
    "alerts",
    "meta",
    "items",
    "item_tags",
    "item_keys",
    "recipients",
    "topics",
    "deliveries",
    "digest_entries",
    "confirmations",
];
/// Rows per INSERT.
const BATCH: usize = 500;

/// How many rows each table has in the source and, after the copy, in the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// `(table, rows)` in copy order.
    pub tables: Vec<(String, i64)>,
}

impl std::fmt::Display for MigrateReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (table, rows) in &self.tables {
            writeln!(f, "{table:<16} {rows:>9} rows copied and verified")?;
        }
        Ok(())
    }
}

/// Copies everything from the SQLite database at `from` to the empty PostgreSQL database
/// at `to` (both migrated to the current schema first), showing progress on a terminal.
pub async fn migrate(from: &str, to: &str) -> anyhow::Result<MigrateReport> {
    if !from.starts_with("sqlite:") {
        bail!("--from must be a sqlite:// URL (the copy goes from SQLite to PostgreSQL)");
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a postgres:// URL");
    }
    // Opening runs each backend's migrations, so both schemas are current.
    drop(
        crate::store::open(from)
            .await
            .context("opening the source database")?,
    );
    drop(
        crate::store::open(to)
            .await
            .context("opening the target database")?,
    );
    let source = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(from)
        .await
        .context("opening the source database")?;
    let target = PgPoolOptions::new()
        .max_connections(2)
        .connect(to)
        .await
        .context("opening the target database")?;
    let items: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
        .fetch_one(&target)
        .await?;
    let recipients: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recipients")
        .fetch_one(&target)
        .await?;
    if items + recipients > 0 {
        bail!(
            "the target database already holds {items} items and {recipients} recipients; migrate into an empty database"
        );
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut report = MigrateReport::default();
    for table in TABLES {
        let rows = copy_table(&source, &target, table, tty)
            .await
            .with_context(|| format!("copying table {table}"))?;
        let copied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&target)
            .await?;
        if copied != rows {
            bail!("table {table}: {rows} rows in the source but {copied} in the target after the copy");
        }
        report.tables.push((table.to_owned(), rows));
    }
    Ok(report)
}

/// What a target column takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Boolean,
    Timestamp,
}

async fn target_columns(target: &PgPool, table: &str) -> anyhow::Result<Vec<(String, Kind)>> {
    let rows = sqlx::query(
        "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(target)
    .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("name")?;
            let kind = match r.try_get::<String, _>("type")?.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Integer,
                "boolean" => Kind::Boolean,
                "timestamp with time zone" => Kind::Timestamp,
                _ => Kind::Text,
            };
            Ok((name, kind))
        })
        .collect()
}

/// One value read from SQLite, converted for its target column.
enum Value {
    Text(Option<String>),
    Integer(Option<i64>),
    Boolean(Option<bool>),
    Timestamp(Option<DateTime<Utc>>),
}

fn read(row: &sqlx::sqlite::SqliteRow, column: &str, kind: Kind) -> anyhow::Result<Value> {
    Ok(match kind {
        Kind::Text => Value::Text(row.try_get(column)?),
        Kind::Integer => Value::Integer(row.try_get(column)?),
        Kind::Boolean => Value::Boolean(row.try_get::<Option<i64>, _>(column)?.map(|v| v != 0)),
        Kind::Timestamp => Value::Timestamp(
            row.try_get::<Option<String>, _>(column)?
                .map(|t| {
                    DateTime::parse_from_rfc3339(&t)
                        .map(|t| t.with_timezone(&Utc))
                        .with_context(|| format!("column {column}: `{t}` is not a timestamp"))
                })
                .transpose()?,
        ),
    })
}

async fn copy_table(source: &SqlitePool, target: &PgPool, table: &str, tty: bool) -> anyhow::Result<i64> {
    let columns = target_columns(target, table).await?;
    let present: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT name FROM pragma_table_info('{table}')"
    )))
    .fetch_all(source)
    .await?;
    let columns: Vec<(String, Kind)> = columns
        .into_iter()
        .filter(|(name, _)| present.contains(name))
        .collect();
    if columns.is_empty() {
        bail!("no columns in common");
    }
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(source)
        .await?;
    let bar = progress(table, total, tty);
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let list = names.join(", ");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {list} FROM {table}")))
        .fetch_all(source)
        .await?;
    let mut tx = target.begin().await?;
    if table == "meta" {
        // The target's migrations created the counter row: take the source's value.
        sqlx::query("DELETE FROM meta").execute(&mut *tx).await?;
    }
    for chunk in rows.chunks(BATCH) {
        let mut values = Vec::with_capacity(chunk.len() * columns.len());
        let mut placeholders = Vec::with_capacity(chunk.len());
        for row in chunk {
            let first = values.len();
            for (name, kind) in &columns {
                values.push(read(row, name, *kind)?);
            }
            let marks: Vec<String> = (first..values.len()).map(|i| format!("${}", i + 1)).collect();
            placeholders.push(format!("({})", marks.join(", ")));
        }
        let sql = format!("INSERT INTO {table} ({list}) VALUES {}", placeholders.join(", "));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in values {
            q = match v {
                Value::Text(v) => q.bind(v),
                Value::Integer(v) => q.bind(v),
                Value::Boolean(v) => q.bind(v),
                Value::Timestamp(v) => q.bind(v),
            };
        }
        q.execute(&mut *tx).await?;
        bar.inc(chunk.len() as u64);
    }
    if names.contains(&"id") && columns.iter().any(|(n, k)| n == "id" && *k == Kind::Integer) {
        // Identity columns continue after the copied ids.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    bar.finish_and_clear();
    Ok(total)
}

fn progress(table: &str, total: i64, tty: bool) -> ProgressBar {
    if !tty {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
    let style = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} rows")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(table.to_owned());
    bar
}
