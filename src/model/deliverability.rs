//! A mailbox's bounce pause: like Smartlead's bounce auto-pause, a mailbox
//! whose mail bounces too often stops sending sequence steps (replies still
//! go) until the rep looks and resumes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxPause {
    /// The account that sends from the mailbox.
    pub account: String,
    /// The mailbox address (lower-cased).
    pub mailbox: String,
    pub paused_at: DateTime<Utc>,
    /// Sends and hard bounces counted when it paused.
    pub sends: u64,
    pub hard_bounces: u64,
    /// Set when the rep resumed it; a later hard bounce with the rate still
    /// too high pauses it again.
    pub resumed_at: Option<DateTime<Utc>>,
    /// Hard bounces counted when the rep resumed it.
    pub bounces_at_resume: u64,
}

impl MailboxPause {
    pub fn key(&self) -> String {
        super::scoped_key(&self.account, &self.mailbox)
    }

    pub fn key_for(account: &str, mailbox: &str) -> String {
        super::scoped_key(account, super::normalize_email(mailbox))
    }

    pub fn is_paused(&self) -> bool {
        self.resumed_at.is_none()
    }
}
