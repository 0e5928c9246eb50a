//! Email events: the facts a lead's timeline and the stats are built from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The event types outpost records (DESIGN.md), plus category changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    EmailSent,
    EmailDelivered,
    EmailOpened,
    EmailClicked,
    EmailReplied,
    EmailBounced,
    EmailUnsubscribed,
    EmailSpamReported,
    EmailFollowUpOpened,
    EmailFollowUpClicked,
    EmailFollowUpReplied,
    CategoryChanged,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::EmailSent,
        EventType::EmailDelivered,
        EventType::EmailOpened,
        EventType::EmailClicked,
        EventType::EmailReplied,
        EventType::EmailBounced,
        EventType::EmailUnsubscribed,
        EventType::EmailSpamReported,
        EventType::EmailFollowUpOpened,
        EventType::EmailFollowUpClicked,
        EventType::EmailFollowUpReplied,
        EventType::CategoryChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::EmailSent => "email_sent",
            EventType::EmailDelivered => "email_delivered",
            EventType::EmailOpened => "email_opened",
            EventType::EmailClicked => "email_clicked",
            EventType::EmailReplied => "email_replied",
            EventType::EmailBounced => "email_bounced",
            EventType::EmailUnsubscribed => "email_unsubscribed",
            EventType::EmailSpamReported => "email_spam_reported",
            EventType::EmailFollowUpOpened => "email_follow_up_opened",
            EventType::EmailFollowUpClicked => "email_follow_up_clicked",
            EventType::EmailFollowUpReplied => "email_follow_up_replied",
            EventType::CategoryChanged => "category_changed",
        }
    }

    /// What the rep reads in a table or a timeline ("follow-up clicked");
    /// `as_str` stays the name the API, filters and JSON use.
    pub fn label(self) -> &'static str {
        match self {
            EventType::EmailSent => "sent",
            EventType::EmailDelivered => "delivered",
            EventType::EmailOpened => "opened",
            EventType::EmailClicked => "clicked",
            EventType::EmailReplied => "replied",
            EventType::EmailBounced => "bounced",
            EventType::EmailUnsubscribed => "unsubscribed",
            EventType::EmailSpamReported => "marked as spam",
            EventType::EmailFollowUpOpened => "follow-up opened",
            EventType::EmailFollowUpClicked => "follow-up clicked",
            EventType::EmailFollowUpReplied => "follow-up replied",
            EventType::CategoryChanged => "category changed",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        let wanted = text.trim().to_ascii_lowercase();
        // Accept the short forms a rep would type on the command line too.
        let wanted = match wanted.as_str() {
            "sent" | "opened" | "clicked" | "replied" | "bounced" | "unsubscribed"
            | "delivered" | "spam_reported" => format!("email_{wanted}"),
            "open" => "email_opened".into(),
            "click" => "email_clicked".into(),
            "reply" => "email_replied".into(),
            "bounce" => "email_bounced".into(),
            "category" => "category_changed".into(),
            _ => wanted,
        };
        Self::ALL.into_iter().find(|t| t.as_str() == wanted)
    }

    /// The follow-up flavour of an open/click/reply for a step after the first.
    pub fn for_sequence_step(self, sequence_number: Option<u32>) -> EventType {
        match (self, sequence_number) {
            (EventType::EmailOpened, Some(n)) if n > 1 => EventType::EmailFollowUpOpened,
            (EventType::EmailClicked, Some(n)) if n > 1 => EventType::EmailFollowUpClicked,
            (EventType::EmailReplied, Some(n)) if n > 1 => EventType::EmailFollowUpReplied,
            (other, _) => other,
        }
    }

    /// Opens, clicks and replies regardless of step.
    pub fn base(self) -> EventType {
        match self {
            EventType::EmailFollowUpOpened => EventType::EmailOpened,
            EventType::EmailFollowUpClicked => EventType::EmailClicked,
            EventType::EmailFollowUpReplied => EventType::EmailReplied,
            other => other,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an event reached outpost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Sync,
    Webhook,
    Tracking,
    Outbox,
    /// The rep did it in outpost (e.g. set a category).
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailEvent {
    /// Derived from the dedupe key, so the same fact seen twice is one record.
    pub id: String,
    pub account: String,
    pub kind: EventType,
    pub lead_email: String,
    pub campaign_id: Option<i64>,
    pub sequence_number: Option<u32>,
    pub at: DateTime<Utc>,
    pub source: EventSource,
    /// What makes this event unique at its provider (stats id + type + time, ...).
    pub dedupe_key: String,
    /// The message the event is about (RFC Message-ID), when known.
    pub message_id: Option<String>,
    /// Type-specific detail: the clicked URL, the new category, the bounce text.
    pub detail: Option<String>,
}

impl EmailEvent {
    /// The record id for a dedupe key: a short stable hash.
    pub fn id_for(account: &str, dedupe_key: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(account.as_bytes());
        hasher.update([0]);
        hasher.update(dedupe_key.as_bytes());
        let digest = hasher.finalize();
        digest[..12].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn lead_key(&self) -> String {
        super::scoped_key(&self.account, super::normalize_email(&self.lead_email))
    }
}

/// Every event of one address in one account, oldest first. One record per
/// lead rather than one per event keeps a big cache small (a tenth of the
/// keys, so the store opens fast), makes a timeline one read, and lets dedupe
/// happen in the same read-modify-write that stores the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub account: String,
    /// Normalized address.
    pub lead_email: String,
    pub events: Vec<EmailEvent>,
}

impl Activity {
    pub fn new(account: &str, email: &str) -> Activity {
        Activity {
            account: account.to_string(),
            lead_email: super::normalize_email(email),
            events: Vec::new(),
        }
    }

    /// The record key: the same as the lead's (`account/email`).
    pub fn key(&self) -> String {
        super::scoped_key(&self.account, &self.lead_email)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.events.iter().any(|e| e.id == id)
    }

    /// Adds an event not seen before, keeping time order; false for a duplicate
    /// (the first sighting of a fact wins).
    pub fn insert(&mut self, event: EmailEvent) -> bool {
        if self.contains(&event.id) {
            return false;
        }
        let at = self
            .events
            .partition_point(|e| (e.at, e.kind) <= (event.at, event.kind));
        self.events.insert(at, event);
        true
    }

    /// Events with `from <= at <= to`, oldest first.
    pub fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = &EmailEvent> + '_ {
        let start = self.events.partition_point(|e| e.at < from);
        self.events[start..].iter().take_while(move |e| e.at <= to)
    }
}

/// Older events of one lead, sealed out of its [`Activity`] record once that
/// grows long (see `store::activity`): written once, never changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub account: String,
    /// Normalized address.
    pub lead_email: String,
    /// Oldest first; never empty.
    pub events: Vec<EmailEvent>,
}

impl ActivityPage {
    /// `account/email \0 newest time \0 first event id`: a lead's pages sort
    /// by their newest event, so a read of recent events stops early.
    pub fn key(&self) -> String {
        let newest = self.events.iter().map(|e| e.at).max();
        let millis = newest.map_or(0, |at| at.timestamp_millis().max(0));
        let first = self.events.first().map_or("", |e| e.id.as_str());
        format!(
            "{}{millis:016}\u{0}{first}",
            Self::prefix_for(&super::scoped_key(&self.account, &self.lead_email))
        )
    }

    /// The start of every page key of one lead.
    pub fn prefix_for(lead_key: &str) -> String {
        format!("{lead_key}\u{0}")
    }

    /// The newest event time a page key names.
    pub fn newest_in_key(key: &str) -> Option<DateTime<Utc>> {
        let (_, rest) = key.split_once('\u{0}')?;
        let millis: i64 = rest.get(..16)?.parse().ok()?;
        DateTime::from_timestamp_millis(millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_keys_name_their_newest_event_and_sort_by_it() {
        let page = |minutes: &[i64]| ActivityPage {
            account: "acme".into(),
            lead_email: "ann@example.com".into(),
            events: minutes
                .iter()
                .map(|m| event(&format!("e{m}"), *m))
                .collect(),
        };
        let (older, newer) = (page(&[1, 5]), page(&[3, 9]));
        assert!(older.key() < newer.key());
        assert!(
            older
                .key()
                .starts_with(&ActivityPage::prefix_for("acme/ann@example.com"))
        );
        assert_eq!(
            ActivityPage::newest_in_key(&newer.key()),
            Some(newer.events[1].at)
        );
    }

    #[test]
    fn every_event_has_a_short_human_label() {
        assert_eq!(EventType::EmailFollowUpClicked.label(), "follow-up clicked");
        for kind in EventType::ALL {
            // Fits the leads table's column whole, with no underscores.
            assert!(kind.label().chars().count() <= 17, "{kind}");
            assert!(!kind.label().contains('_'), "{kind}");
        }
    }

    #[test]
    fn short_forms_parse() {
        assert_eq!(EventType::parse("replied"), Some(EventType::EmailReplied));
        assert_eq!(
            EventType::parse("email_opened"),
            Some(EventType::EmailOpened)
        );
        assert_eq!(EventType::parse("nonsense"), None);
    }

    #[test]
    fn follow_up_flavour_only_after_first_step() {
        assert_eq!(
            EventType::EmailOpened.for_sequence_step(Some(1)),
            EventType::EmailOpened
        );
        assert_eq!(
            EventType::EmailReplied.for_sequence_step(Some(2)),
            EventType::EmailFollowUpReplied
        );
    }

    #[test]
    fn event_ids_are_stable_and_scoped() {
        let a = EmailEvent::id_for("acme", "EMAIL_OPEN|x|t");
        assert_eq!(a, EmailEvent::id_for("acme", "EMAIL_OPEN|x|t"));
        assert_ne!(a, EmailEvent::id_for("other", "EMAIL_OPEN|x|t"));
        assert_eq!(a.len(), 24);
    }

    fn event(id: &str, minute: i64) -> EmailEvent {
        EmailEvent {
            id: id.into(),
            account: "acme".into(),
            kind: EventType::EmailOpened,
            lead_email: "Ann@Example.com".into(),
            campaign_id: None,
            sequence_number: None,
            at: DateTime::from_timestamp(1_770_000_000 + minute * 60, 0).unwrap(),
            source: EventSource::Sync,
            dedupe_key: id.into(),
            message_id: None,
            detail: None,
        }
    }

    #[test]
    fn activity_keeps_time_order_and_dedupes() {
        let mut activity = Activity::new("acme", "Ann@Example.com");
        assert_eq!(activity.key(), "acme/ann@example.com");
        assert!(activity.insert(event("b", 5)));
        assert!(activity.insert(event("a", 1)));
        assert!(activity.insert(event("c", 9)));
        assert!(!activity.insert(event("a", 3)));
        let ids: Vec<&str> = activity.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let from = event("x", 1).at;
        let to = event("x", 5).at;
        let within: Vec<&str> = activity.between(from, to).map(|e| e.id.as_str()).collect();
        assert_eq!(within, ["a", "b"]);
    }
}
