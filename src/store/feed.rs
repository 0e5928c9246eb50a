//! The change feed: what changed in the store, and how syncs are going, for
//! live UIs. Slow listeners miss messages (broadcast lag) and then refresh whole.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::kinds::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Put,
    Delete,
}

/// Where one account's sync stands, for the status bar and `/health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncProgress {
    pub account: String,
    pub running: bool,
    /// What it is doing now: "campaigns", "leads", "history", "idle", ...
    pub phase: String,
    pub done: u64,
    pub total: Option<u64>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub needs_login: bool,
    /// What the rep must fix before this account syncs or sends again
    /// (e.g. "set SMARTLEAD_API_KEY"); the other accounts go on meanwhile.
    #[serde(default)]
    pub needs_attention: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Record {
        kind: Kind,
        key: String,
        op: Op,
    },
    Progress(SyncProgress),
    /// Something outside the store happened that a UI should show (a send finished...).
    Notice {
        level: String,
        text: String,
    },
}
