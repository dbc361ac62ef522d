//! Digests: on each digest-mode recipient's schedule (daily `HH:MM` or weekly `mon HH:MM`
//! in its time zone), one message — split at Telegram's limit — of every item that joined
//! its digest since the last one. A digest whose time passed while the daemon was down is
//! sent once at the next check, not once per missed period; an empty digest is not sent.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};

use crate::store::Recipient;

/// Default digest time when none was set.
const DEFAULT_AT: &str = "08:00";

/// The latest scheduled digest time at or before `now`, or `None` for instant recipients
/// and unreadable preferences.
pub fn last_scheduled(r: &Recipient, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (hour, minute) = r.digest_at.as_deref().unwrap_or(DEFAULT_AT).split_once(':')?;
    let (hour, minute): (u32, u32) = (hour.trim().parse().ok()?, minute.trim().parse().ok()?);
    let day = match r.mode.as_str() {
        "daily" => "*".to_owned(),
        "weekly" => weekday_number(r.digest_weekday.as_deref().unwrap_or("mon"))?.to_string(),
        _ => return None,
    };
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(&format!("{minute} {hour} * * {day}"))
        .ok()?;
    let tz: Tz = r.tz.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    cron.find_previous_occurrence(&now.with_timezone(&tz), true)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a digest is due: its latest scheduled time came after the last digest (or after
/// the recipient was added).
pub fn is_due(r: &Recipient, now: DateTime<Utc>) -> bool {
    let since = r.last_digest_at.unwrap_or(r.created_at);
    last_scheduled(r, now).is_some_and(|t| t > since)
}

/// `mon`…`sun` → 1…6, 0 (crontab numbering).
fn weekday_number(day: &str) -> Option<u8> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let day = day.trim().to_ascii_lowercase();
    DAYS.iter()
        .position(|d| day.starts_with(d))
        .and_then(|i| u8::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn recipient(mode: &str, at: &str, weekday: Option<&str>, created: DateTime<Utc>) -> Recipient {
        Recipient {
            id: 1,
            kind: "telegram".into(),
            address: "1".into(),
            thread_id: 0,
            state: "active".into(),
            state_reason: None,
            origin: "bot".into(),
            mode: mode.into(),
            tz: "Asia/Shanghai".into(),
            digest_at: Some(at.into()),
            digest_weekday: weekday.map(str::to_owned),
            last_digest_at: None,
            filters: crate::store::Filters::default(),
            created_at: created,
            topics: Vec::new(),
            counts: [0; 4],
        }
    }

    fn sh(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn daily_digests_fall_due_at_the_local_time_once() {
        let mut r = recipient("daily", "07:30", None, sh(2026, 11, 25, 10, 0));
        assert!(
            !is_due(&r, sh(2026, 11, 26, 7, 29)),
            "not before 07:30 Beijing time"
        );
        assert!(is_due(&r, sh(2026, 11, 26, 7, 30)));
        // Down for three days: one digest, not three.
        r.last_digest_at = Some(sh(2026, 11, 29, 9, 0));
        assert!(!is_due(&r, sh(2026, 11, 29, 9, 5)));
        assert_eq!(
            last_scheduled(&r, sh(2026, 11, 29, 9, 5)),
            Some(sh(2026, 11, 29, 7, 30))
        );
    }

    #[test]
    fn weekly_digests_use_the_weekday() {
        // 2026-11-30 is a Monday.
        let r = recipient("weekly", "08:00", Some("mon"), sh(2026, 11, 25, 10, 0));
        assert!(!is_due(&r, sh(2026, 11, 29, 23, 0)));
        assert!(is_due(&r, sh(2026, 11, 30, 8, 0)));
        assert!(
            last_scheduled(
                &recipient("instant", "08:00", None, sh(2026, 1, 1, 0, 0)),
                sh(2026, 2, 1, 0, 0)
            )
            .is_none()
        );
        assert!(
            last_scheduled(
                &recipient("weekly", "08:00", Some("xyz"), sh(2026, 1, 1, 0, 0)),
                sh(2026, 2, 1, 0, 0)
            )
            .is_none()
        );
    }
}
