//! When a snooze, a reminder or a scheduled send is due, as a rep types it:
//! `2026-03-10T09:00:00Z`, `2026-03-10 14:00`, `tomorrow 9:00`, `mon`,
//! `next friday 8:30`, `today 17:00`, `16:30`, `2d`, `3h`, `45m`, `1w`,
//! `later`. Dates and times of day are read in the rep's time zone.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};

/// The time of day a date without one means.
const MORNING: (u32, u32) = (9, 0);
/// What "later" means: a few hours from now.
const LATER: Duration = Duration::hours(3);

/// Parses WHEN at `now` in `zone`. The result is in the future.
pub fn parse_when<Z: TimeZone>(
    text: &str,
    now: DateTime<Utc>,
    zone: &Z,
) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let at = parse_any(text, now, zone).ok_or_else(|| {
        format!(
            "cannot read '{text}' as a time; use RFC 3339 (2026-03-10T09:00:00Z), \
             a date and time (2026-03-10 14:00), today/tomorrow [HH:MM], a weekday \
             (mon, next fri 8:30), HH:MM, or a delay (45m, 3h, 2d, 1w, later)"
        )
    })?;
    if at <= now {
        return Err(format!("'{text}' has already passed"));
    }
    Ok(at)
}

fn parse_any<Z: TimeZone>(text: &str, now: DateTime<Utc>, zone: &Z) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let lower = text.to_ascii_lowercase();
    if lower == "later" {
        return Some(now + LATER);
    }
    if let Some(delay) = parse_delay(&lower) {
        return Some(now + delay);
    }
    let today = now.with_timezone(zone).date_naive();
    let mut words = lower.split_whitespace().collect::<Vec<_>>();
    let time = match words.last().and_then(|w| parse_time(w)) {
        Some(time) => {
            words.pop();
            Some(time)
        }
        None => None,
    };
    let morning = NaiveTime::from_hms_opt(MORNING.0, MORNING.1, 0)?;
    let date = match words.as_slice() {
        // A bare time: today if still ahead, else tomorrow.
        [] => {
            let time = time?;
            let candidate = local(zone, today, time)?;
            return Some(if candidate > now {
                candidate
            } else {
                local(zone, today.succ_opt()?, time)?
            });
        }
        ["today"] => today,
        ["tomorrow"] | ["tmrw"] => today.succ_opt()?,
        [day] | ["next", day] => match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
            Ok(date) => date,
            Err(_) => next_weekday(today, parse_weekday(day)?),
        },
        _ => return None,
    };
    local(zone, date, time.unwrap_or(morning))
}

/// `45m`, `3h`, `2d`, `1w`.
pub(crate) fn parse_delay(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let count: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    if count <= 0 {
        return None;
    }
    match unit {
        'm' => Some(Duration::minutes(count)),
        'h' => Some(Duration::hours(count)),
        'd' => Some(Duration::days(count)),
        'w' => Some(Duration::weeks(count)),
        _ => None,
    }
}

/// `9:00`, `16:30`, `9am`, `5pm`.
fn parse_time(text: &str) -> Option<NaiveTime> {
    if let Ok(time) = NaiveTime::parse_from_str(text, "%H:%M") {
        return Some(time);
    }
    let (digits, pm) = match (text.strip_suffix("am"), text.strip_suffix("pm")) {
        (Some(d), _) => (d, false),
        (_, Some(d)) => (d, true),
        _ => return None,
    };
    let (hour, minute) = match digits.split_once(':') {
        Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None => (digits.parse::<u32>().ok()?, 0),
    };
    if !(1..=12).contains(&hour) {
        return None;
    }
    NaiveTime::from_hms_opt(hour % 12 + if pm { 12 } else { 0 }, minute, 0)
}

pub(crate) fn parse_weekday(text: &str) -> Option<Weekday> {
    let day = match text {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tues" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thur" | "thurs" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    };
    Some(day)
}

/// The next such weekday after `today` (a week ahead when today is one).
fn next_weekday(today: NaiveDate, day: Weekday) -> NaiveDate {
    let ahead =
        (7 + day.num_days_from_monday() as i64 - today.weekday().num_days_from_monday() as i64 - 1)
            % 7
            + 1;
    today + Duration::days(ahead)
}

/// A wall-clock time in `zone`; in a DST gap, the first valid instant after.
pub(crate) fn local<Z: TimeZone>(
    zone: &Z,
    date: NaiveDate,
    time: NaiveTime,
) -> Option<DateTime<Utc>> {
    let naive = date.and_time(time);
    zone.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    /// Monday 2026-03-02, 15:00 in New York.
    fn now() -> DateTime<Utc> {
        "2026-03-02T20:00:00Z".parse().unwrap()
    }

    fn when(text: &str) -> String {
        parse_when(text, now(), &New_York)
            .map(|at| {
                at.with_timezone(&New_York)
                    .format("%a %Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_else(|e| e)
    }

    #[test]
    fn reads_what_a_rep_types() {
        assert_eq!(when("tomorrow 9:00"), "Tue 2026-03-03 09:00");
        assert_eq!(when("tomorrow"), "Tue 2026-03-03 09:00");
        assert_eq!(when("today 17:00"), "Mon 2026-03-02 17:00");
        assert_eq!(when("mon"), "Mon 2026-03-09 09:00");
        assert_eq!(when("next fri 8:30"), "Fri 2026-03-06 08:30");
        assert_eq!(when("wednesday 5pm"), "Wed 2026-03-04 17:00");
        assert_eq!(when("16:30"), "Mon 2026-03-02 16:30");
        assert_eq!(when("14:00"), "Tue 2026-03-03 14:00");
        assert_eq!(when("2d"), "Wed 2026-03-04 15:00");
        assert_eq!(when("45m"), "Mon 2026-03-02 15:45");
        assert_eq!(when("later"), "Mon 2026-03-02 18:00");
        assert_eq!(when("2026-03-10"), "Tue 2026-03-10 09:00");
        assert_eq!(when("2026-03-10 14:00"), "Tue 2026-03-10 14:00");
        assert_eq!(when("2026-03-10T09:00:00Z"), "Tue 2026-03-10 05:00");
    }

    #[test]
    fn refuses_the_past_and_nonsense() {
        assert!(when("today 9:00").contains("already passed"));
        assert!(when("2026-01-01T00:00:00Z").contains("already passed"));
        assert!(when("someday").contains("cannot read 'someday'"));
        assert!(when("0d").contains("cannot read"));
    }

    #[test]
    fn a_daylight_saving_gap_moves_forward() {
        // 2026-03-08 02:30 does not exist in New York.
        let at = parse_when("2026-03-08 2:30", now(), &New_York);
        assert!(at.is_err() || at.unwrap() > now());
        let at = parse_when("2026-03-08 02:30", now(), &New_York).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-03-08T07:30:00+00:00");
    }
}
