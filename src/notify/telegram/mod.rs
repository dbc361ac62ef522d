//! Telegram: formatting items as Bot API HTML messages and sending them through teloxide.
//!
//! - [`format`](mod@format) turns items into messages (HTML parse mode, everything escaped, hashtags
//!   normalised, at most [`format::MAX_UTF16`] UTF-16 code units) and back into plain text
//!   for the "can't parse entities" fallback.
//! - [`send`](mod@send) sends one message to one chat (and forum topic) and classifies the Bot API's
//!   answer into a [`SendError`] the outbox can act on. Rate limiting is the caller's job.
//! - [`bot`](mod@bot) runs the bot: long-polls updates, answers `/subscribe`, `/list`,
//!   `/digest`… in private chats, groups (admins only) and channels, and announces operator
//!   alerts; [`commands`](mod@commands) parses commands and words the replies.
//!
//! The bot token is part of every Bot API URL; nothing in this module lets it escape into an
//! error, a log line or a `Debug` output.

pub mod bot;
pub mod commands;
pub mod format;
pub mod send;

pub use bot::{BotOptions, run_bot, run_bot_with};
pub use format::{MAX_UTF16, digest_messages, item_message, to_plain_text};
pub use send::{SendError, TelegramSender};
