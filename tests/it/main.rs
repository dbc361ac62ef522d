//! Integration tests: the real app against a sample portal served over loopback.

mod config_errors;
mod daemon;
mod failures;
mod guards;
mod helpers;
mod portal_truth;
