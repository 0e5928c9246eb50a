//! One module per screen: its state and how it draws.

pub mod compose;
pub mod inbox;
pub mod lead;
pub mod leads;
pub mod sequences;
pub mod stats;
pub mod tasks;
pub mod thread;

use chrono::{DateTime, Utc};

/// A timestamp as a rep reads it in a list: time today, else the date.
pub fn short_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M").to_string()
    } else if (now - at).num_days() < 180 {
        at.format("%b %d").to_string()
    } else {
        // Seven columns at most, so a list's WHEN column shows all of it.
        at.format("%b '%y").to_string()
    }
}

/// A moment to the minute: "16:30" today, "Mar 02 16:30" otherwise (a due
/// time, where the hour matters on any day).
pub fn short_time_of_day(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M").to_string()
    } else {
        format!("{} {}", short_time(at, now), at.format("%H:%M"))
    }
}

/// A full timestamp in UTC (the same on every machine, so snapshots hold).
pub fn full_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How long ago, for the status bar ("just now", "4m ago", "2h ago", "3d ago").
pub fn age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..60 => "just now".to_string(),
        60..3_600 => format!("{}m ago", secs / 60),
        3_600..86_400 => format!("{}h ago", secs / 3_600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 3, day, hour, 30, 0).unwrap()
    }

    #[test]
    fn a_due_time_names_the_hour_once() {
        let now = at(2, 9);
        assert_eq!(short_time_of_day(at(2, 16), now), "16:30");
        assert_eq!(short_time_of_day(at(3, 16), now), "Mar 03 16:30");
    }

    #[test]
    fn an_old_date_fits_a_list_column() {
        let now = at(2, 9);
        let old = now - chrono::Duration::days(400);
        assert_eq!(short_time(old, now), "Jan '25");
        assert!(short_time(old, now).chars().count() <= 7);
    }
}
