//! One change the rep made to many conversations (or leads) at once, kept
//! so that it can be undone in one step: for each key, what it was before
//! and what the change left, so an undo restores only what nothing else has
//! touched since.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Category, Triage};

/// The operation a bulk change applies to every key. Adding one is one
/// variant here and one arm in the engine's `apply_one` and `undo_one`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Externally tagged: the store's encoding (postcard) reads no internal tags.
#[serde(rename_all = "snake_case")]
pub enum BulkOp {
    Archive,
    Unarchive,
    Snooze {
        until: DateTime<Utc>,
    },
    /// Take a snooze off: back in the inbox.
    Unsnooze,
    Read,
    Unread,
    /// A reply category, by name (case-insensitive).
    Category {
        name: String,
    },
    /// Enroll each conversation's lead in a sequence.
    Enroll {
        sequence: String,
    },
    /// Pause every active enrollment of each conversation's lead.
    Pause,
    /// Add and remove local tags on each conversation (or lead).
    Tag {
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
}

impl BulkOp {
    /// What it is doing, for a message line ("Archiving 120/500…").
    pub fn doing(&self) -> &'static str {
        match self {
            BulkOp::Archive => "Archiving",
            BulkOp::Unarchive => "Bringing back",
            BulkOp::Snooze { .. } => "Snoozing",
            BulkOp::Unsnooze => "Waking",
            BulkOp::Read => "Marking read",
            BulkOp::Unread => "Marking unread",
            BulkOp::Category { .. } => "Setting the category of",
            BulkOp::Enroll { .. } => "Enrolling",
            BulkOp::Pause => "Pausing",
            BulkOp::Tag { .. } => "Tagging",
        }
    }

    /// What the rep reads: "archive", "snooze", "category Interested".
    pub fn label(&self) -> String {
        match self {
            BulkOp::Archive => "archive".into(),
            BulkOp::Unarchive => "unarchive".into(),
            BulkOp::Snooze { .. } => "snooze".into(),
            BulkOp::Unsnooze => "unsnooze".into(),
            BulkOp::Read => "read".into(),
            BulkOp::Unread => "unread".into(),
            BulkOp::Category { name } => format!("category {name}"),
            BulkOp::Enroll { sequence } => format!("enroll in {sequence}"),
            BulkOp::Pause => "pause".into(),
            BulkOp::Tag { add, remove } => {
                let changes: Vec<String> = add
                    .iter()
                    .map(|t| format!("+{t}"))
                    .chain(remove.iter().map(|t| format!("-{t}")))
                    .collect();
                format!("tag {}", changes.join(" "))
            }
        }
    }
}

/// What one key was before a bulk change and what the change left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkEffect {
    /// Archive, unarchive, snooze: the triage record before (none: never
    /// triaged) and the one written.
    Triage {
        before: Option<Triage>,
        after: Triage,
    },
    /// Read or unread: the message keys flipped to `read`.
    Read { read: bool, messages: Vec<String> },
    Category {
        before: Option<Category>,
        after: Category,
    },
    /// The enrollment the change created.
    Enrolled { enrollment: String },
    /// The enrollments the change paused.
    Paused { enrollments: Vec<String> },
    /// The tags before and after, on the tag record `record`.
    Tags {
        record: String,
        before: Vec<String>,
        after: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkEntry {
    /// The conversation key (or lead email) the change was asked for.
    pub key: String,
    pub effect: BulkEffect,
}

/// One bulk change, as the undo reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkChange {
    pub id: String,
    /// One more than the change before it: the latest is the highest
    /// (two changes can share a clock reading).
    pub seq: u64,
    pub op: BulkOp,
    pub at: DateTime<Utc>,
    pub entries: Vec<BulkEntry>,
    /// Set once undone: an undo runs once.
    pub undone_at: Option<DateTime<Utc>>,
}

impl BulkChange {
    pub fn key(&self) -> String {
        self.id.clone()
    }
}
