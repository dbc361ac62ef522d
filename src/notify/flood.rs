//! Telegram's flood limits, shared by every sender in the process: about 30 messages/s
//! overall, 1/s per chat, 20/min per group or channel; plus the pauses a 429 asks for.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Configurable limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages per second overall.
    pub global_per_second: u32,
    /// Minimum gap between two messages to one chat.
    pub per_chat: Duration,
    /// Messages per minute to one group or channel (negative chat id).
    pub group_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            global_per_second: 30,
            per_chat: Duration::from_secs(1),
            group_per_minute: 20,
        }
    }
}

/// Waits for the right to send, per chat and overall.
#[derive(Debug)]
pub struct FloodControl {
    global: DefaultDirectRateLimiter,
    chat: DefaultKeyedRateLimiter<i64>,
    group: DefaultKeyedRateLimiter<i64>,
    paused: Mutex<HashMap<i64, DateTime<Utc>>>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

impl FloodControl {
    /// Limiters for `limits`.
    pub fn new(limits: Limits) -> Self {
        let per_chat = Quota::with_period(limits.per_chat.max(Duration::from_millis(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN));
        FloodControl {
            global: RateLimiter::direct(Quota::per_second(nz(limits.global_per_second))),
            chat: RateLimiter::keyed(per_chat),
            group: RateLimiter::keyed(Quota::per_minute(nz(limits.group_per_minute))),
            paused: Mutex::new(HashMap::new()),
        }
    }

    /// Until when a chat is paused by a 429, if it is.
    pub fn paused_until(&self, chat: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let paused = self
            .paused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        paused.get(&chat).copied().filter(|until| *until > now)
    }

    /// Pauses a chat after a 429 with `retry_after`.
    pub fn pause(&self, chat: i64, until: DateTime<Utc>) {
        let mut paused = self
            .paused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = paused.entry(chat).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Waits until a message to `chat` may go out.
    pub async fn ready(&self, chat: i64) {
        self.chat.until_key_ready(&chat).await;
        if chat < 0 {
            self.group.until_key_ready(&chat).await;
        }
        self.global.until_ready().await;
    }
}
