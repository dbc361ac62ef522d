//! Integration tests: the real app against a sample portal served over loopback.

mod backends;
mod backfill;
mod bot;
mod browser;
mod charset;
mod commands;
mod config_errors;
mod conformance;
mod daemon;
mod delivery;
mod deploy;
mod email;
mod failures;
mod fake_bot;
mod guards;
mod helpers;
mod import_opml;
mod metrics;
mod pg;
mod portal_truth;
mod readers;
mod reload;
mod scale;
mod serve;
mod smtp;
mod telegram;
