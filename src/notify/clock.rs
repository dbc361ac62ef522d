//! The time digests are scheduled by: the system clock, or — for tests that drive digests
//! without waiting for the minute — a time read from a file named by `TIDINGS_TEST_CLOCK`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// Environment variable naming the test clock file (an RFC 3339 time on one line).
pub const TEST_CLOCK_VAR: &str = "TIDINGS_TEST_CLOCK";

/// Where "now" comes from for digest schedules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Test-only: the time written in this file, re-read at every use; the system clock
    /// while the file is missing or unreadable.
    File(PathBuf),
}

impl Clock {
    /// The test clock if `TIDINGS_TEST_CLOCK` is set, the system clock otherwise.
    pub fn from_env() -> Clock {
        match std::env::var_os(TEST_CLOCK_VAR) {
            Some(path) if !path.is_empty() => Clock::File(path.into()),
            _ => Clock::System,
        }
    }

    /// The current time by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::File(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
                .map_or_else(Utc::now, |t| t.with_timezone(&Utc)),
        }
    }

    /// Whether this is a test clock (digests are then checked every second).
    pub fn is_test(&self) -> bool {
        matches!(self, Clock::File(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_clock_reads_its_file_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("now");
        let clock = Clock::File(path.clone());
        let before = Utc::now();
        assert!(clock.now() >= before, "missing file: system time");
        std::fs::write(&path, "2030-01-02T03:04:05+08:00\n").unwrap();
        assert_eq!(clock.now().to_rfc3339(), "2030-01-01T19:04:05+00:00");
        std::fs::write(&path, "2031-01-01T00:00:00Z").unwrap();
        assert_eq!(clock.now().to_rfc3339(), "2031-01-01T00:00:00+00:00");
        assert!(clock.is_test() && !Clock::System.is_test());
    }
}
