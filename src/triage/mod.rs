//! Done, snoozed and reminded: how the rep keeps the inbox to what needs
//! them now. The state lives in [`crate::model::Triage`] and
//! [`crate::model::Reminder`]; the engine's commands are in
//! `engine/triage.rs`; this module reads the rep's WHEN.

pub mod timers;
pub mod when;

pub use when::parse_when;

use chrono::{DateTime, Local, Utc};
use chrono_tz::Tz;

/// The zone the rep reads and types times in: `[ui] timezone`, else the
/// system's.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum RepZone {
    Named(Tz),
    #[default]
    System,
}

impl RepZone {
    pub fn from_config(config: &crate::config::Config) -> RepZone {
        config.ui.timezone.map_or(RepZone::System, RepZone::Named)
    }

    /// Reads WHEN (see [`parse_when`]) in this zone.
    pub fn parse(&self, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        match self {
            RepZone::Named(tz) => parse_when(text, now, tz),
            RepZone::System => parse_when(text, now, &Local),
        }
    }

    /// Reads a search (see [`crate::engine::search::SearchQuery`]) in this zone.
    pub fn search(
        &self,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::engine::search::SearchQuery, String> {
        use crate::engine::search::SearchQuery;
        match self {
            RepZone::Named(tz) => SearchQuery::parse(text, now, tz),
            RepZone::System => SearchQuery::parse(text, now, &Local),
        }
    }

    /// A time as the rep reads it, with its zone: `Tue 10 Mar 09:00 EDT`
    /// (the system's zone shows as its offset, `+02:00`).
    pub fn show(&self, at: DateTime<Utc>) -> String {
        const FORMAT: &str = "%a %-d %b %H:%M %Z";
        match self {
            RepZone::Named(tz) => at.with_timezone(tz).format(FORMAT).to_string(),
            RepZone::System => at.with_timezone(&Local).format(FORMAT).to_string(),
        }
    }
}
