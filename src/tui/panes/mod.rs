//! One module per screen: its state and how it draws.

pub mod compose;
pub mod inbox;
pub mod lead;
pub mod leads;
pub mod sequences;
pub mod stats;
pub mod thread;

use chrono::{DateTime, Local, Utc};

/// A timestamp as a rep reads it in a list: time today, else the date.
pub fn short_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M").to_string()
    } else if (now - at).num_days() < 180 {
        at.format("%b %d").to_string()
    } else {
        at.format("%Y-%m-%d").to_string()
    }
}

/// A full timestamp in UTC (the same on every machine, so snapshots hold).
pub fn full_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Local time, for the status bar only.
pub fn local_clock(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%H:%M").to_string()
}
