//! Tidings watches news sources and turns what it finds into feeds and notifications.
//!
//! # Layout
//! - [`config`] parses `config.toml` and the `feeds/*.toml` recipes once, with located errors.
//! - [`domain`] holds the values parsed at the edge: regions, tags, canonical URLs, items.
//! - [`source`] fetches pages politely ([`source::fetch`]) and extracts items from HTML
//!   listings and articles ([`source::html`]) and from RSS/Atom/JSON feeds ([`source::feed`]).
//! - [`store`] keeps items and per-source state behind one [`store::Store`] trait (SQLite now).
//! - [`ingest`] runs one poll of one source: fetch → extract → normalise → store; a
//!   backfill walks the listings deeper the same way and pushes nothing.
//! - [`schedule`] decides when each source is due (cron or interval, with jitter).
//! - [`serve`] is the HTTP server: feeds (cached per store version, ETag/304, gzip/br),
//!   the OPML export, the index and status pages, and `/metrics`.
//! - [`telemetry`] counts what this process does (polls, new items, deliveries, HTTP
//!   requests) into one Prometheus recorder, rendered by `/metrics`.
//! - [`portal`] generates a deterministic sample news portal (tests, benchmarks, demo).

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod ingest;
pub mod notify;
pub mod portal;
pub mod render;
pub mod schedule;
pub mod serve;
pub mod source;
pub mod store;
pub mod telemetry;
