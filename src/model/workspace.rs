//! Accounts and the small per-rep records: suppressions, tasks, drafts, cursors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Provider;

/// A configured Smartlead key or Gmail mailbox, with its sync state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub provider: Provider,
    /// The mailbox address (Gmail) or the rep's sending address (Smartlead), when known.
    pub email: Option<String>,
    /// Set when the provider refused our credentials for good (e.g. `invalid_grant`).
    pub needs_login: bool,
    pub last_sync_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The reply categories this account offers (Smartlead's lead categories).
    pub categories: Vec<super::Category>,
}

/// Why an address must never be mailed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Unsubscribed,
    Bounced,
    SpamReported,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub account: String,
    pub email: String,
    pub reason: SuppressionReason,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

impl Suppression {
    pub fn key(&self) -> String {
        super::scoped_key(&self.account, &self.email)
    }
}

/// How a task was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    Done,
    Skipped,
}

impl TaskOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOutcome::Done => "done",
            TaskOutcome::Skipped => "skipped",
        }
    }
}

/// A manual step for the rep (from a sequence task step, or made by hand).
/// A sequence's task holds its enrollment at `step` until it is closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub account: String,
    pub lead_email: String,
    pub title: String,
    pub body: String,
    pub due_at: DateTime<Utc>,
    /// When it was closed (done or skipped); open while None.
    pub done_at: Option<DateTime<Utc>>,
    pub enrollment_id: Option<String>,
    pub outcome: Option<TaskOutcome>,
    /// What the rep wrote when closing it.
    pub note: Option<String>,
    /// The sequence step (0-based) it stands for.
    pub step: Option<usize>,
    /// When it skips itself (the step's `auto_skip_after_days`).
    pub auto_skip_at: Option<DateTime<Utc>>,
}

impl Task {
    pub fn is_open(&self) -> bool {
        self.done_at.is_none()
    }
}

/// An unsent message the rep is writing; kept so nothing typed is ever lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub id: String,
    pub account: String,
    /// The thread being answered, or None for a new email to a lead.
    pub thread_id: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

/// Where a sync left off (Gmail history id, Smartlead high-water marks, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub account: String,
    pub name: String,
    pub value: String,
}

impl Cursor {
    pub fn key(&self) -> String {
        super::scoped_key(&self.account, &self.name)
    }
}
