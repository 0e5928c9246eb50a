//! An unsubscribe not yet passed on to Smartlead: written before the
//! unsubscribe page answers and removed once every Smartlead campaign of
//! the lead took it, so a Smartlead outage delays the pass-on but never
//! loses it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingUnsubscribe {
    /// The address (normalized); one record per address.
    pub email: String,
    pub recorded_at: DateTime<Utc>,
    /// Attempts that failed so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When the retry task tries it next.
    pub next_attempt_at: DateTime<Utc>,
}

impl PendingUnsubscribe {
    pub fn key(&self) -> String {
        self.email.clone()
    }

    pub fn key_for(email: &str) -> String {
        super::normalize_email(email)
    }
}
