//! Telegram's flood limits, shared by every sender in the process: about 30 messages/s
//! overall, 1/s per chat, 20 in any minute per group or channel; plus the pauses a 429 asks
//! for.
//!
//! All limits sit behind one lock and a send takes its place in every one of them at once, at
//! the moment it may go out. Taking the chat's slot first and then waiting for the overall one
//! (as separate limiters do) lets the chat's next message follow by less than the gap.
//! Messages are spaced evenly overall (1/30 s apart, never a burst of 30 followed by more),
//! and a group's budget is a rolling 60-second window, the way Telegram counts it: a token
//! bucket of 20 per minute lets 20 through at once and then one every 3 s, 29 in the first
//! minute.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Configurable limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages per second overall.
    pub global_per_second: u32,
    /// Minimum gap between two messages to one chat.
    pub per_chat: Duration,
    /// Messages in any 60 s to one group or channel (negative chat id).
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

/// The window a group's budget counts over.
const MINUTE: Duration = Duration::from_secs(60);

/// Waits for the right to send, per chat and overall.
#[derive(Debug)]
pub struct FloodControl {
    /// Gap between two messages overall.
    spacing: Duration,
    /// How early a message may go before its overall slot, so that a timer firing a
    /// millisecond late does not cost throughput (the slots themselves never move earlier).
    early: Duration,
    per_chat: Duration,
    group_per_minute: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The overall slot of the next message.
    next_slot: Option<Instant>,
    /// Recent sends per chat, oldest first: the last one for a private chat, those of the
    /// last minute (up to the budget) for a group or channel.
    chats: HashMap<i64, VecDeque<Instant>>,
    /// Forget idle chats once the map grows past this.
    prune_at: usize,
    /// Chats told by a 429 to wait, until when.
    paused: HashMap<i64, DateTime<Utc>>,
}

impl FloodControl {
    /// Flood control for `limits`.
    pub fn new(limits: Limits) -> Self {
        let spacing = Duration::from_secs(1) / limits.global_per_second.max(1);
        FloodControl {
            spacing,
            early: (spacing / 8).min(Duration::from_millis(5)),
            per_chat: limits.per_chat,
            group_per_minute: limits.group_per_minute.max(1) as usize,
            state: Mutex::new(State {
                next_slot: None,
                chats: HashMap::new(),
                prune_at: 1024,
                paused: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Until when a chat is paused by a 429, if it is.
    pub fn paused_until(&self, chat: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.lock()
            .paused
            .get(&chat)
            .copied()
            .filter(|until| *until > now)
    }

    /// Pauses a chat after a 429 with `retry_after`.
    pub fn pause(&self, chat: i64, until: DateTime<Utc>) {
        let mut state = self.lock();
        let entry = state.paused.entry(chat).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Holds every send for `wait` (after a 429: Telegram does not say whether the chat's
    /// limit or the bot's overall one was hit, so the whole bot waits, as teloxide's own
    /// throttle does).
    pub fn hold_all(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.lock();
        state.next_slot = Some(state.next_slot.map_or(until, |slot| slot.max(until)));
    }

    /// The configured gap between two messages to one chat.
    pub fn per_chat(&self) -> Duration {
        self.per_chat
    }

    /// How long a message to `chat` would wait now (zero if it may go at once).
    pub fn wait(&self, chat: i64) -> Duration {
        let now = Instant::now();
        self.earliest(&self.lock(), chat, now)
            .saturating_duration_since(now)
    }

    /// Waits until a message to `chat` may go out, and counts it as sent.
    pub async fn ready(&self, chat: i64) {
        loop {
            let at = {
                let mut state = self.lock();
                match self.try_take(&mut state, chat, Instant::now()) {
                    Ok(()) => return,
                    Err(at) => at,
                }
            };
            tokio::time::sleep_until(at).await;
        }
    }

    /// The first moment at or after `now` when every limit lets a message to `chat` go.
    fn earliest(&self, state: &State, chat: i64, now: Instant) -> Instant {
        let mut at = now;
        if let Some(slot) = state.next_slot {
            at = at.max(slot.checked_sub(self.early).unwrap_or(slot));
        }
        if let Some(recent) = state.chats.get(&chat) {
            if let Some(last) = recent.back() {
                at = at.max(*last + self.per_chat);
            }
            if chat < 0 && recent.len() >= self.group_per_minute {
                at = at.max(recent[recent.len() - self.group_per_minute] + MINUTE);
            }
        }
        at
    }

    /// Counts a message to `chat` as sent at `now` if every limit allows it; otherwise says
    /// when to try again (nothing is taken then).
    fn try_take(&self, state: &mut State, chat: i64, now: Instant) -> Result<(), Instant> {
        let at = self.earliest(state, chat, now);
        if at > now {
            return Err(at);
        }
        let slot = state.next_slot.map_or(now, |s| s.max(now));
        state.next_slot = Some(slot + self.spacing);
        if state.chats.len() >= state.prune_at {
            let idle = MINUTE.max(self.per_chat);
            state
                .chats
                .retain(|_, recent| recent.back().is_some_and(|t| now.duration_since(*t) < idle));
            state.prune_at = (state.chats.len() * 2).max(1024);
        }
        let keep = if chat < 0 { self.group_per_minute } else { 1 };
        let recent = state.chats.entry(chat).or_default();
        recent.push_back(now);
        while recent.len() > keep || recent.front().is_some_and(|t| now.duration_since(*t) >= MINUTE) {
            recent.pop_front();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(f: &FloodControl, chat: i64, now: Instant) -> Result<(), Instant> {
        let mut state = f.lock();
        f.try_take(&mut state, chat, now)
    }

    #[test]
    fn after_a_429_every_chat_waits() {
        let f = FloodControl::new(Limits::default());
        let t0 = Instant::now();
        f.hold_all(Duration::from_secs(2));
        for chat in [1, 2, -3] {
            let refused = take(&f, chat, t0 + Duration::from_millis(100));
            assert!(
                refused.is_err_and(|at| at >= t0 + Duration::from_millis(1900)),
                "chat {chat}"
            );
        }
        assert_eq!(take(&f, 1, t0 + Duration::from_secs(3)), Ok(()));
    }

    #[test]
    fn a_group_gets_twenty_in_any_minute_and_the_twenty_first_when_the_first_is_a_minute_old() {
        let f = FloodControl::new(Limits::default());
        let t0 = Instant::now();
        for i in 0..20 {
            assert_eq!(take(&f, -7, t0 + Duration::from_secs(i)), Ok(()), "message {i}");
        }
        let refused = take(&f, -7, t0 + Duration::from_secs(20));
        assert_eq!(refused, Err(t0 + MINUTE));
        assert_eq!(take(&f, -7, t0 + MINUTE), Ok(()));
        assert_eq!(
            take(&f, -7, t0 + MINUTE + Duration::from_secs(1)),
            Ok(()),
            "the second fell out of the window too"
        );
        // A private chat has no minute budget.
        for i in 0..30 {
            assert_eq!(take(&f, 7, t0 + Duration::from_secs(100 + i)), Ok(()));
        }
    }

    #[test]
    fn a_chat_waiting_for_the_overall_slot_keeps_its_own_gap_from_the_real_send() {
        let f = FloodControl::new(Limits::default());
        let t0 = Instant::now();
        assert_eq!(take(&f, 1, t0), Ok(()));
        // Chat 2 must wait for the overall slot; being refused takes nothing of its own.
        let slot = take(&f, 2, t0).unwrap_err();
        assert!(slot > t0 && slot <= t0 + f.spacing);
        assert_eq!(take(&f, 2, slot), Ok(()));
        let next = take(&f, 2, slot + Duration::from_millis(500)).unwrap_err();
        assert_eq!(
            next,
            slot + Duration::from_secs(1),
            "one second after it really went"
        );
    }

    #[test]
    fn overall_messages_are_spaced_evenly_without_a_burst() {
        let f = FloodControl::new(Limits::default());
        let t0 = Instant::now();
        let mut now = t0;
        let mut sent = Vec::new();
        for chat in 0..61 {
            loop {
                match take(&f, chat, now) {
                    Ok(()) => break,
                    Err(at) => now = at,
                }
            }
            sent.push(now);
        }
        // No 31 within a second, and 61 take two seconds.
        for w in sent.windows(31) {
            assert!(w[30] - w[0] >= Duration::from_millis(990), "{:?}", w[30] - w[0]);
        }
        let span = sent[60] - sent[0];
        assert!(
            span >= Duration::from_millis(1990) && span <= Duration::from_millis(2010),
            "{span:?}"
        );
    }

    #[test]
    fn idle_chats_are_forgotten() {
        let f = FloodControl::new(Limits {
            global_per_second: 10_000,
            ..Limits::default()
        });
        let t0 = Instant::now();
        for chat in 0..1024 {
            take(&f, chat, t0 + Duration::from_millis(chat as u64)).unwrap();
        }
        take(&f, 5000, t0 + Duration::from_secs(62)).unwrap();
        let state = f.lock();
        assert_eq!(state.chats.len(), 1);
    }
}
