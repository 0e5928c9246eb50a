//! A reply the notify hook was run for: claimed before it runs, so no
//! process (daemon, `outpost sync`, a TUI) runs it twice for one reply.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notified {
    /// The reply's RFC Message-ID (one reply reached through two providers
    /// is one), else its message key.
    pub id: String,
    pub conversation: String,
    pub at: DateTime<Utc>,
}

impl Notified {
    pub fn key(&self) -> String {
        self.id.clone()
    }
}
