//! One module per screen: its state and how it draws.

pub mod compose;
pub mod inbox;
pub mod lead;
pub mod leads;
pub mod sequences;
pub mod stats;
pub mod thread;

use chrono::{DateTime, Utc};

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
