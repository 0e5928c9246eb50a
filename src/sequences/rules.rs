//! When a mailbox may send: a daily window in the lead's local time (correct
//! across DST changes), weekends and holidays skipped.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::model::SequenceSettings;

/// The calendar rules for one lead in one sequence.
#[derive(Debug, Clone)]
pub struct SendRules {
    pub tz: Tz,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub skip_weekends: bool,
    pub holidays: Vec<NaiveDate>,
}

/// How far ahead we look for an open day before giving up (a misconfigured
/// calendar must not loop forever).
const MAX_DAYS_AHEAD: i64 = 400;

impl SendRules {
    /// The rules for a lead: its own timezone when known and valid, else the sequence's.
    pub fn for_lead(settings: &SequenceSettings, lead_tz: Option<&str>, fallback: Tz) -> SendRules {
        let tz = lead_tz
            .and_then(|name| name.trim().parse::<Tz>().ok())
            .or_else(|| settings.timezone.parse::<Tz>().ok())
            .unwrap_or(fallback);
        SendRules {
            tz,
            start: settings.window.start,
            end: settings.window.end,
            skip_weekends: settings.skip_weekends,
            holidays: settings.holidays.clone(),
        }
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// A day on which sending is allowed at all.
    pub fn is_send_day(&self, date: NaiveDate) -> bool {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let skipped_weekend = self.skip_weekends && weekend;
        !skipped_weekend && !self.holidays.contains(&date)
    }

    /// The instant a local wall-clock time happens on `date`. In a DST gap the
    /// time does not exist, so the first valid instant after it is used; when it
    /// happens twice, the first.
    pub fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let mut local = date.and_time(time);
        for _ in 0..8 {
            match self.tz.from_local_datetime(&local) {
                LocalResult::Single(at) => return at.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => local += Duration::minutes(15),
            }
        }
        // No zone has a gap longer than two hours; treat the wall time as UTC.
        Utc.from_utc_datetime(&local)
    }

    /// The window on `date`, as instants.
    pub fn window_on(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.instant(date, self.start), self.instant(date, self.end))
    }

    /// True when `at` falls in an open window.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let date = self.local_date(at);
        let (start, end) = self.window_on(date);
        self.is_send_day(date) && start <= at && at < end
    }

    /// The earliest instant at or after `at` inside an open window.
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let first = self.local_date(at);
        for offset in 0..MAX_DAYS_AHEAD {
            let date = first + Duration::days(offset);
            if !self.is_send_day(date) {
                continue;
            }
            let (start, end) = self.window_on(date);
            if at < start {
                return start;
            }
            if at < end {
                return at;
            }
        }
        at
    }

    /// The start of the next local day after `at`'s (for "this day is full").
    pub fn next_day_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let next = self.local_date(at) + Duration::days(1);
        self.instant(next, NaiveTime::MIN)
    }

    /// `at` plus `days` send days, keeping the local time of day.
    pub fn add_business_days(&self, at: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let local = at.with_timezone(&self.tz);
        let mut date = local.date_naive();
        let mut left = days;
        let mut guard = 0;
        while left > 0 && guard < MAX_DAYS_AHEAD * 4 {
            date += Duration::days(1);
            guard += 1;
            if self.is_send_day(date) {
                left -= 1;
            }
        }
        self.instant(date, local.time())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(tz: Tz, skip_weekends: bool) -> SendRules {
        SendRules {
            tz,
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            skip_weekends,
            holidays: vec![],
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn window_follows_dst_in_new_york() {
        let r = rules(chrono_tz::America::New_York, false);
        // Saturday 7 March 2026 (EST, UTC-5) and Monday 9 March (EDT, UTC-4).
        assert_eq!(
            r.next_open(utc("2026-03-07T08:00:00Z")),
            utc("2026-03-07T14:00:00Z")
        );
        assert_eq!(
            r.next_open(utc("2026-03-09T08:00:00Z")),
            utc("2026-03-09T13:00:00Z")
        );
        // Evening of the DST day: next window is Monday 09:00 EDT.
        assert_eq!(
            r.next_open(utc("2026-03-08T22:30:00Z")),
            utc("2026-03-09T13:00:00Z")
        );
    }

    #[test]
    fn gap_times_move_forward() {
        let mut r = rules(chrono_tz::America::New_York, false);
        r.start = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        // 02:30 does not exist on 8 March 2026 in New York; 03:00 EDT does.
        let d = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(r.instant(d, r.start), utc("2026-03-08T07:00:00Z"));
    }

    #[test]
    fn weekends_and_holidays_are_skipped() {
        let mut r = rules(chrono_tz::UTC, true);
        r.holidays
            .push(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap());
        // Friday 18:00 → Tuesday 09:00 (weekend, then the Monday holiday).
        assert_eq!(
            r.next_open(utc("2026-03-06T18:00:00Z")),
            utc("2026-03-10T09:00:00Z")
        );
        assert!(r.is_open(utc("2026-03-10T12:00:00Z")));
        assert!(!r.is_open(utc("2026-03-07T12:00:00Z")));
        assert_eq!(
            r.add_business_days(utc("2026-03-05T10:00:00Z"), 2),
            utc("2026-03-10T10:00:00Z")
        );
    }
}
