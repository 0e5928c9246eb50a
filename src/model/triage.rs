//! The rep's own handling of a conversation: done (archived), snoozed, and
//! reminders. Local state the providers never see, kept apart from the
//! thread record so that no sync can undo it. Whether a conversation is in
//! the inbox follows from this state and the thread's newest inbound time,
//! so "a new reply brings it back" needs no writer to remember it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How the rep left one conversation (keyed by the conversation's key).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Triage {
    pub conversation: String,
    /// Marked done at this time.
    pub archived_at: Option<DateTime<Utc>>,
    /// Snoozed at this time, until `snoozed_until`.
    pub snoozed_at: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
}

/// Where a conversation stands for the inbox at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TriageState {
    /// In the inbox as usual.
    #[default]
    Inbox,
    /// Done, and nothing new has come in since.
    Archived,
    /// Hidden until its time.
    Snoozed,
    /// Back from a snooze (its time came, or the person wrote): listed
    /// first and marked until the rep opens it.
    Woke,
}

impl Triage {
    pub fn new(conversation: &str) -> Triage {
        Triage {
            conversation: conversation.to_string(),
            ..Triage::default()
        }
    }

    pub fn key(&self) -> String {
        self.conversation.clone()
    }

    /// The state at `now` of a conversation whose newest inbound message
    /// arrived at `last_inbound`: anything newer than the archive or the
    /// snooze brings it back.
    pub fn state(&self, last_inbound: Option<DateTime<Utc>>, now: DateTime<Utc>) -> TriageState {
        let newer_than = |at: DateTime<Utc>| last_inbound.is_some_and(|inbound| inbound > at);
        if let (Some(at), Some(until)) = (self.snoozed_at, self.snoozed_until) {
            return if until <= now || newer_than(at) {
                TriageState::Woke
            } else {
                TriageState::Snoozed
            };
        }
        match self.archived_at {
            Some(at) if !newer_than(at) => TriageState::Archived,
            _ => TriageState::Inbox,
        }
    }

    /// Nothing left to remember: the record can go.
    pub fn is_empty(&self) -> bool {
        self.archived_at.is_none() && self.snoozed_until.is_none()
    }
}

/// "Come back to this conversation at …", with an optional note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    pub id: String,
    pub conversation: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was announced (the TUI, the notify hook); once only.
    pub fired_at: Option<DateTime<Utc>>,
    /// The rep dismissed it.
    pub done: bool,
}

impl Reminder {
    pub fn key(&self) -> String {
        self.id.clone()
    }

    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        !self.done && self.at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn archive_holds_until_something_newer_arrives() {
        let mut t = Triage::new("acme/1");
        t.archived_at = Some(at("2026-03-02T10:00:00Z"));
        let now = at("2026-03-03T10:00:00Z");
        assert_eq!(
            t.state(Some(at("2026-03-02T09:00:00Z")), now),
            TriageState::Archived
        );
        assert_eq!(t.state(None, now), TriageState::Archived);
        assert_eq!(
            t.state(Some(at("2026-03-02T11:00:00Z")), now),
            TriageState::Inbox
        );
    }

    #[test]
    fn snooze_wakes_at_its_time_or_on_a_reply() {
        let mut t = Triage::new("acme/1");
        t.snoozed_at = Some(at("2026-03-02T10:00:00Z"));
        t.snoozed_until = Some(at("2026-03-03T09:00:00Z"));
        let inbound = Some(at("2026-03-02T08:00:00Z"));
        assert_eq!(
            t.state(inbound, at("2026-03-02T12:00:00Z")),
            TriageState::Snoozed
        );
        assert_eq!(
            t.state(inbound, at("2026-03-03T09:00:00Z")),
            TriageState::Woke
        );
        let replied = Some(at("2026-03-02T11:00:00Z"));
        assert_eq!(
            t.state(replied, at("2026-03-02T12:00:00Z")),
            TriageState::Woke
        );
    }
}
