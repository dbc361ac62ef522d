//! Publish dates in a recipe's formats and time zone, kept with their offset.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use regex::Regex;

/// Parses dates the way one recipe writes them.
#[derive(Debug, Clone)]
pub struct DateParser {
    tz: Tz,
    formats: Vec<String>,
}

/// A date-like run inside longer text: `2022-02-23 10:43:56`, `2022年02月23日 10:43`, `2022/02/23`.
static DATE_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?")
        .expect("static regex")
});

impl DateParser {
    /// A parser for `formats` (chrono `strftime`) in time zone `tz`.
    pub fn new(tz: Tz, formats: Vec<String>) -> Self {
        Self { tz, formats }
    }

    /// The time zone dates without an offset are read in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Parses `text`: RFC 3339 / RFC 2822 first, then each format on the whole text, then
    /// each format on the first date-like run inside it.
    pub fn parse(&self, text: &str) -> Option<DateTime<FixedOffset>> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if let Ok(d) = DateTime::parse_from_rfc3339(text) {
            return Some(d);
        }
        if let Ok(d) = DateTime::parse_from_rfc2822(text) {
            return Some(d);
        }
        self.with_formats(text).or_else(|| {
            let m = DATE_IN_TEXT.find(text)?;
            self.with_formats(m.as_str().trim())
                .or_else(|| self.loose(m.as_str()))
        })
    }

    fn with_formats(&self, text: &str) -> Option<DateTime<FixedOffset>> {
        for f in &self.formats {
            if let Ok(ndt) = NaiveDateTime::parse_from_str(text, f) {
                return self.localize(ndt);
            }
            if let Ok(d) = NaiveDate::parse_from_str(text, f) {
                return self.localize(d.and_time(NaiveTime::MIN));
            }
        }
        None
    }

    /// Reads the numbers of a date-like run when no format matched exactly.
    fn loose(&self, text: &str) -> Option<DateTime<FixedOffset>> {
        let n: Vec<u32> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        let date = NaiveDate::from_ymd_opt(i32::try_from(*n.first()?).ok()?, *n.get(1)?, *n.get(2)?)?;
        let time = NaiveTime::from_hms_opt(
            n.get(3).copied().unwrap_or(0),
            n.get(4).copied().unwrap_or(0),
            n.get(5).copied().unwrap_or(0),
        )?;
        self.localize(date.and_time(time))
    }

    /// A wall-clock time in the recipe's zone, with its offset.
    pub fn localize(&self, ndt: NaiveDateTime) -> Option<DateTime<FixedOffset>> {
        self.tz
            .from_local_datetime(&ndt)
            .earliest()
            .map(|d| d.fixed_offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> DateParser {
        DateParser::new(
            chrono_tz::Asia::Shanghai,
            vec![
                "%Y-%m-%d %H:%M:%S".into(),
                "%Y年%m月%d日 %H:%M".into(),
                "%Y/%m/%d".into(),
            ],
        )
    }

    #[test]
    fn recipe_formats_parse_in_the_recipe_zone() {
        let p = parser();
        let cases = [
            ("2022-02-23 10:43:56", "2022-02-23T10:43:56+08:00"),
            ("2022年02月23日 10:43", "2022-02-23T10:43:00+08:00"),
            ("2022/02/23", "2022-02-23T00:00:00+08:00"),
            ("发布时间：2022-02-23 10:43:56 来源", "2022-02-23T10:43:56+08:00"),
            ("2022-02-23", "2022-02-23T00:00:00+08:00"),
            ("2022-02-23T10:43:56+09:00", "2022-02-23T10:43:56+09:00"),
            ("Wed, 23 Feb 2022 10:43:56 +0800", "2022-02-23T10:43:56+08:00"),
        ];
        for (text, want) in cases {
            assert_eq!(
                p.parse(text).map(|d| d.to_rfc3339()).as_deref(),
                Some(want),
                "{text}"
            );
        }
        assert!(p.parse("昨天").is_none());
        assert!(p.parse("").is_none());
    }
}
