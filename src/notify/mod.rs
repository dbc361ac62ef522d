//! Notifications: the delivery outbox and the channels that send it (Telegram now).
//!
//! - [`topics`]: what users subscribe to (`晋中`, `高质量`, `晋中+高质量`).
//! - [`outbox`]: the worker that claims due deliveries with leases and sends them.
//! - [`clock`]: the time digests are scheduled by (a file in tests).
//! - [`digest`]: when a digest-mode recipient's digest is due.
//! - [`flood`]: Telegram's rate limits, shared by every sender in the process.
//! - [`telegram`]: message formatting and the Bot API client.
//! - [`email`]: address checks, signed links, mail composition and the SMTP sender.

pub mod clock;
pub mod digest;
pub mod email;
pub mod flood;
pub mod outbox;
pub mod telegram;
pub mod topics;
