//! When a source is due: a standard 5-field cron expression or a plain interval, plus jitter.
//!
//! Cron expressions are parsed by `croner`, not the `cron` crate: `cron` wants 6–7 fields
//! (seconds first) and numbers weekdays from Sunday = 1, so a user's `30 8 * * 1-5` would be
//! rejected or mean something else.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed `schedule` value.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A 5-field cron expression, evaluated in the source's time zone.
    Cron(Box<Cron>),
    /// A fixed interval between polls.
    Every(Duration),
}

/// Why a `schedule` value was rejected.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{value}` is neither a 5-field cron expression (e.g. `*/10 * * * *`) nor an interval (e.g. `15m`): {reason}"
)]
pub struct ScheduleError {
    value: String,
    reason: String,
}

impl Schedule {
    /// Parses `*/10 * * * *` (cron, 5 fields, 0/7 = Sunday) or `15m` / `1h 30m` (interval ≥ 1 s).
    pub fn parse(value: &str) -> Result<Self, ScheduleError> {
        let value = value.trim();
        let err = |reason: String| ScheduleError {
            value: value.to_owned(),
            reason,
        };
        if value.split_whitespace().count() >= 5 {
            let parser = CronParser::builder().seconds(Seconds::Disallowed).build();
            return parser
                .parse(value)
                .map(|c| Schedule::Cron(Box::new(c)))
                .map_err(|e| err(e.to_string()));
        }
        let every = humantime::parse_duration(value).map_err(|e| err(e.to_string()))?;
        if every < Duration::from_secs(1) {
            return Err(err("an interval must be at least 1s".into()));
        }
        Ok(Schedule::Every(every))
    }

    /// The first poll time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match self {
            Schedule::Every(d) => after + chrono::Duration::from_std(*d).unwrap_or_default(),
            Schedule::Cron(cron) => cron
                .find_next_occurrence(&after.with_timezone(&tz), false)
                .map(|t| t.with_timezone(&Utc))
                // A valid expression always has a next occurrence; fall back to an hour.
                .unwrap_or(after + chrono::Duration::hours(1)),
        }
    }
}

/// A random delay in `[0, max)` so that sources sharing a schedule do not all start at once.
pub fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return max;
    }
    Duration::from_millis(rand::random_range(0..max.as_millis().max(1) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn standard_cron_fields_mean_what_crontab_means() {
        let s = Schedule::parse("30 8 * * 1-5").unwrap();
        // 2026-11-27 is a Friday; the next weekday 08:30 in Shanghai after Friday 09:00 is Monday.
        let fri = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, 27, 9, 0, 0)
            .unwrap();
        let next = s.next_after(fri.with_timezone(&Utc), chrono_tz::Asia::Shanghai);
        let local = next.with_timezone(&chrono_tz::Asia::Shanghai);
        assert_eq!(local.to_rfc3339(), "2026-11-30T08:30:00+08:00");
        assert!(Schedule::parse("*/10 * * * *").is_ok());
        assert!(Schedule::parse("0 0 * * 7").is_ok(), "7 is Sunday");
    }

    #[test]
    fn intervals_and_bad_values() {
        match Schedule::parse("15m").unwrap() {
            Schedule::Every(d) => assert_eq!(d, Duration::from_secs(900)),
            Schedule::Cron(_) => panic!("15m is an interval"),
        }
        let e = Schedule::parse("61 * * * *").unwrap_err().to_string();
        assert!(e.contains("61 * * * *"), "{e}");
        assert!(Schedule::parse("0 0 0 * * *").is_err(), "seconds field rejected");
        assert!(Schedule::parse("often").is_err());
        assert!(Schedule::parse("0s").is_err());
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(50)) < Duration::from_millis(50));
        }
        assert!(jitter(Duration::ZERO).is_zero());
    }
}
