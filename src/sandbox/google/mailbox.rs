//! The emulated mailbox: messages, threads, labels, drafts and history.
//!
//! Everything here is plain data behind the sandbox's lock; HTTP shapes live
//! in the handlers. History ids only grow, with gaps, as Gmail's do.

use std::collections::{BTreeMap, HashMap};

use super::error::ApiError;
use super::mime::{MimeError, ParsedMessage, parse_message};

/// System labels: (id, messageListVisibility, labelListVisibility).
const SYSTEM_LABELS: &[(&str, Option<&str>, Option<&str>)] = &[
    ("CHAT", Some("hide"), Some("labelHide")),
    ("SENT", Some("hide"), Some("labelShow")),
    ("INBOX", Some("hide"), Some("labelShow")),
    ("IMPORTANT", Some("hide"), Some("labelShow")),
    ("TRASH", Some("hide"), Some("labelHide")),
    ("DRAFT", Some("hide"), Some("labelShow")),
    ("SPAM", Some("hide"), Some("labelHide")),
    ("STARRED", Some("hide"), Some("labelShow")),
    ("UNREAD", None, None),
    ("CATEGORY_FORUMS", None, None),
    ("CATEGORY_UPDATES", None, None),
    ("CATEGORY_PERSONAL", None, None),
    ("CATEGORY_PROMOTIONS", None, None),
    ("CATEGORY_SOCIAL", None, None),
];

/// Labels a client may never add or remove.
const IMMUTABLE_LABELS: &[&str] = &["SENT", "DRAFT", "CHAT"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub id: String,
    pub name: String,
    pub message_list_visibility: Option<String>,
    pub label_list_visibility: Option<String>,
    pub system: bool,
}

#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: String,
    pub thread_id: String,
    pub raw: Vec<u8>,
    pub labels: Vec<String>,
    pub internal_date_ms: i64,
    pub history_id: u64,
    pub parsed: ParsedMessage,
}

impl StoredMessage {
    pub fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    MessageAdded,
    MessageDeleted,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
}

impl Change {
    /// The `historyTypes` name this change is filtered by.
    pub fn history_type(&self) -> &'static str {
        match self {
            Change::MessageAdded => "messageAdded",
            Change::MessageDeleted => "messageDeleted",
            Change::LabelsAdded(_) => "labelAdded",
            Change::LabelsRemoved(_) => "labelRemoved",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HistoryRecord {
    pub id: u64,
    pub message_id: String,
    pub thread_id: String,
    /// The message's labels right after the change.
    pub labels_after: Vec<String>,
    pub change: Change,
}

#[derive(Debug, Clone)]
pub struct Draft {
    pub id: String,
    pub message_id: String,
}

/// A message the mailbox's owner sent, kept for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    pub id: String,
    pub thread_id: String,
    /// The RFC 822 bytes as stored (lossless for the usual 7-bit mail).
    #[serde(serialize_with = "serialize_lossy")]
    pub raw: Vec<u8>,
    /// Top-level headers, decoded.
    pub headers: Vec<(String, String)>,
    /// The copy its recipients get: Gmail takes the Bcc header out (the
    /// sender's own copy, `raw`, keeps it).
    #[serde(serialize_with = "serialize_lossy")]
    pub delivered: Vec<u8>,
}

fn serialize_lossy<S: serde::Serializer>(raw: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(raw))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HistoryError {
    #[error("startHistoryId is older than the retained history")]
    Expired,
}

#[derive(Debug)]
pub struct Mailbox {
    pub email: String,
    pub messages: HashMap<String, StoredMessage>,
    /// thread id → message ids in arrival order.
    pub threads: BTreeMap<String, Vec<String>>,
    pub labels: Vec<Label>,
    pub history: Vec<HistoryRecord>,
    pub drafts: BTreeMap<String, Draft>,
    pub sent: Vec<SentMessage>,
    /// The newest history id handed out.
    pub history_id: u64,
    /// history.list refuses a startHistoryId below this.
    pub history_floor: u64,
    id_sequence: u64,
    draft_sequence: u64,
}

impl Mailbox {
    pub fn new(email: String, first_history_id: u64) -> Self {
        let mut labels: Vec<Label> = SYSTEM_LABELS
            .iter()
            .map(|(id, message_vis, label_vis)| Label {
                id: (*id).to_string(),
                name: (*id).to_string(),
                message_list_visibility: message_vis.map(str::to_string),
                label_list_visibility: label_vis.map(str::to_string),
                system: true,
            })
            .collect();
        labels.push(Label {
            id: "Label_1".into(),
            name: "Prospects".into(),
            message_list_visibility: Some("show".into()),
            label_list_visibility: Some("labelShow".into()),
            system: false,
        });
        labels.push(Label {
            id: "Label_2".into(),
            name: "Follow up".into(),
            message_list_visibility: Some("show".into()),
            label_list_visibility: Some("labelShow".into()),
            system: false,
        });
        Self {
            email,
            messages: HashMap::new(),
            threads: BTreeMap::new(),
            labels,
            history: Vec::new(),
            drafts: BTreeMap::new(),
            sent: Vec::new(),
            history_id: first_history_id,
            history_floor: first_history_id,
            id_sequence: 0,
            draft_sequence: 0,
        }
    }

    /// Ids grow with gaps, as Gmail's do.
    fn next_history_id(&mut self) -> u64 {
        self.history_id += 1 + (self.history.len() as u64 % 4);
        self.history_id
    }

    /// Hex ids ordered by time, like Gmail's (milliseconds in the high bits).
    fn new_message_id(&mut self, internal_date_ms: i64) -> String {
        loop {
            self.id_sequence += 1;
            let millis = u64::try_from(internal_date_ms).unwrap_or(0);
            let id = format!("{:016x}", (millis << 20) | (self.id_sequence & 0xF_FFFF));
            if !self.messages.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn label_exists(&self, id: &str) -> bool {
        self.labels.iter().any(|l| l.id == id)
    }

    /// Resolve a label given by id or (case-insensitively) by name.
    pub fn resolve_label(&self, id_or_name: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.id == id_or_name).or_else(|| {
            self.labels
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(id_or_name))
        })
    }

    /// Parse and store a message; a `thread_id` that does not exist starts a new thread.
    pub fn insert(
        &mut self,
        raw: Vec<u8>,
        thread_id: Option<&str>,
        labels: &[&str],
        internal_date_ms: i64,
    ) -> Result<String, MimeError> {
        let id = self.new_message_id(internal_date_ms);
        self.insert_as(id, raw, thread_id, labels, internal_date_ms)
    }

    /// Stores a generated message under an id derived from `identity` (its
    /// Message-ID) instead of the time: a mailbox generated again later, with
    /// every date moved, keeps its message and thread ids, as a real mailbox
    /// read twice does.
    pub fn insert_generated(
        &mut self,
        raw: Vec<u8>,
        thread_id: Option<&str>,
        labels: &[&str],
        internal_date_ms: i64,
        identity: &str,
    ) -> Result<String, MimeError> {
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in identity.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut id = (hash & 0x0FFF_FFFF_FFFF_FFFF) | 0x1000_0000_0000_0000;
        while self.messages.contains_key(&format!("{id:016x}")) {
            id = id.wrapping_add(1);
        }
        self.insert_as(
            format!("{id:016x}"),
            raw,
            thread_id,
            labels,
            internal_date_ms,
        )
    }

    fn insert_as(
        &mut self,
        id: String,
        raw: Vec<u8>,
        thread_id: Option<&str>,
        labels: &[&str],
        internal_date_ms: i64,
    ) -> Result<String, MimeError> {
        let parsed = parse_message(&raw, &id)?;
        let thread_id = thread_id
            .filter(|t| self.threads.contains_key(*t))
            .map(str::to_string)
            .unwrap_or_else(|| id.clone());
        let history_id = self.next_history_id();
        let labels: Vec<String> = labels.iter().map(|l| (*l).to_string()).collect();
        self.history.push(HistoryRecord {
            id: history_id,
            message_id: id.clone(),
            thread_id: thread_id.clone(),
            labels_after: labels.clone(),
            change: Change::MessageAdded,
        });
        self.threads
            .entry(thread_id.clone())
            .or_default()
            .push(id.clone());
        self.messages.insert(
            id.clone(),
            StoredMessage {
                id: id.clone(),
                thread_id,
                raw,
                labels,
                internal_date_ms,
                history_id,
                parsed,
            },
        );
        Ok(id)
    }

    /// Files the notice that `recipient` did not take message `sent_id`, in
    /// its thread, unread in the INBOX. None when that message is unknown.
    pub fn file_bounce_notice(
        &mut self,
        sent_id: &str,
        recipient: &str,
        kind: super::bounces::BounceKind,
        internal_date_ms: i64,
    ) -> Option<String> {
        let sent = self.messages.get(sent_id)?;
        let thread_id = sent.thread_id.clone();
        let at = chrono::DateTime::from_timestamp_millis(internal_date_ms)?;
        let raw =
            super::bounces::notice_raw(&self.email, recipient, kind, &sent.parsed.headers, at);
        self.insert(
            raw,
            Some(&thread_id),
            &["INBOX", "UNREAD", "CATEGORY_UPDATES"],
            internal_date_ms,
        )
        .ok()
    }

    /// The same notice in generated data: its id follows the bounced
    /// message's, so generating the mailbox again files nothing new.
    pub fn file_generated_bounce_notice(
        &mut self,
        sent_id: &str,
        recipient: &str,
        internal_date_ms: i64,
    ) -> Option<String> {
        let sent = self.messages.get(sent_id)?;
        let thread_id = sent.thread_id.clone();
        let at = chrono::DateTime::from_timestamp_millis(internal_date_ms)?;
        let raw = super::bounces::notice_raw(
            &self.email,
            recipient,
            super::bounces::BounceKind::Hard,
            &sent.parsed.headers,
            at,
        );
        self.insert_generated(
            raw,
            Some(&thread_id),
            &["INBOX", "CATEGORY_UPDATES"],
            internal_date_ms,
            &format!("bounce-of-{sent_id}"),
        )
        .ok()
    }

    /// Remove a message for good (a sent draft leaves its draft copy behind this way).
    pub fn delete(&mut self, id: &str) -> bool {
        let Some(message) = self.messages.remove(id) else {
            return false;
        };
        if let Some(ids) = self.threads.get_mut(&message.thread_id) {
            ids.retain(|m| m != id);
            if ids.is_empty() {
                self.threads.remove(&message.thread_id);
            }
        }
        let history_id = self.next_history_id();
        self.history.push(HistoryRecord {
            id: history_id,
            message_id: message.id,
            thread_id: message.thread_id,
            labels_after: message.labels,
            change: Change::MessageDeleted,
        });
        true
    }

    /// Check ids before any change so a bad request changes nothing.
    pub fn validate_label_change(&self, add: &[String], remove: &[String]) -> Result<(), ApiError> {
        for label in add.iter().chain(remove) {
            if !self.label_exists(label) || IMMUTABLE_LABELS.contains(&label.as_str()) {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid label: {label}"
                )));
            }
        }
        Ok(())
    }

    /// Apply a label change to one message; records history only for real changes.
    pub fn apply_labels(&mut self, id: &str, add: &[String], remove: &[String]) -> bool {
        let Some(message) = self.messages.get_mut(id) else {
            return false;
        };
        let added: Vec<String> = add
            .iter()
            .filter(|l| !message.labels.contains(l) && !remove.contains(l))
            .cloned()
            .collect();
        let removed: Vec<String> = remove
            .iter()
            .filter(|l| message.labels.contains(l))
            .cloned()
            .collect();
        for label in &added {
            if !message.labels.contains(label) {
                message.labels.push(label.clone());
            }
        }
        message.labels.retain(|l| !removed.contains(l));
        let labels_after = message.labels.clone();
        let thread_id = message.thread_id.clone();
        for change in [
            (!added.is_empty()).then_some(Change::LabelsAdded(added)),
            (!removed.is_empty()).then_some(Change::LabelsRemoved(removed)),
        ]
        .into_iter()
        .flatten()
        {
            let history_id = self.next_history_id();
            self.history.push(HistoryRecord {
                id: history_id,
                message_id: id.to_string(),
                thread_id: thread_id.clone(),
                labels_after: labels_after.clone(),
                change,
            });
            if let Some(message) = self.messages.get_mut(id) {
                message.history_id = history_id;
            }
        }
        true
    }

    /// Messages newest first.
    pub fn messages_newest_first(&self) -> Vec<&StoredMessage> {
        let mut all: Vec<&StoredMessage> = self.messages.values().collect();
        all.sort_by(|a, b| {
            b.internal_date_ms
                .cmp(&a.internal_date_ms)
                .then_with(|| b.id.cmp(&a.id))
        });
        all
    }

    /// A thread's messages, oldest first.
    pub fn thread_messages(&self, thread_id: &str) -> Option<Vec<&StoredMessage>> {
        let ids = self.threads.get(thread_id)?;
        let mut messages: Vec<&StoredMessage> =
            ids.iter().filter_map(|id| self.messages.get(id)).collect();
        messages.sort_by(|a, b| {
            a.internal_date_ms
                .cmp(&b.internal_date_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Some(messages)
    }

    /// Records strictly after `start`, or `Expired` when `start` predates the retained window.
    pub fn history_since(&self, start: u64) -> Result<Vec<&HistoryRecord>, HistoryError> {
        if start < self.history_floor {
            return Err(HistoryError::Expired);
        }
        Ok(self.history.iter().filter(|r| r.id > start).collect())
    }

    /// Drop every record so far; older cursors now get 404.
    pub fn forget_history(&mut self) {
        self.history.clear();
        self.history_floor = self.history_id;
    }

    pub fn new_draft_id(&mut self) -> String {
        self.draft_sequence += 1;
        format!(
            "r-{}",
            7_340_000_000_000_000_000u64 + self.draft_sequence * 7919
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(subject: &str) -> Vec<u8> {
        format!(
            "From: a@example.com\r\nTo: rep@acme.io\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.com>\r\n\r\nbody\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn thread_follows_first_message_and_history_grows() {
        let mut mailbox = Mailbox::new("rep@acme.io".into(), 100);
        let first = mailbox
            .insert(raw("one"), None, &["INBOX"], 1_700_000_000_000)
            .expect("insert");
        let second = mailbox
            .insert(raw("two"), Some(&first), &["SENT"], 1_700_000_001_000)
            .expect("insert");
        let stray = mailbox
            .insert(raw("three"), Some("ffff"), &["INBOX"], 1_700_000_002_000)
            .expect("insert");
        assert_eq!(mailbox.messages[&second].thread_id, first);
        assert_eq!(mailbox.messages[&stray].thread_id, stray);
        let ids: Vec<u64> = mailbox.history.iter().map(|r| r.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()) && first.len() == 16);
    }

    #[test]
    fn label_changes_record_only_real_changes() {
        let mut mailbox = Mailbox::new("rep@acme.io".into(), 100);
        let id = mailbox
            .insert(raw("one"), None, &["INBOX", "UNREAD"], 1_700_000_000_000)
            .expect("insert");
        let before = mailbox.history.len();
        mailbox.apply_labels(&id, &["INBOX".into()], &["STARRED".into()]);
        assert_eq!(mailbox.history.len(), before);
        mailbox.apply_labels(&id, &[], &["UNREAD".into()]);
        assert_eq!(mailbox.history.len(), before + 1);
        assert_eq!(
            mailbox.history.last().map(|r| r.change.clone()),
            Some(Change::LabelsRemoved(vec!["UNREAD".into()]))
        );
        assert!(
            mailbox
                .validate_label_change(&["SENT".into()], &[])
                .is_err()
        );
    }

    #[test]
    fn forgotten_history_expires_old_cursors() {
        let mut mailbox = Mailbox::new("rep@acme.io".into(), 100);
        mailbox
            .insert(raw("one"), None, &["INBOX"], 1_700_000_000_000)
            .expect("insert");
        assert_eq!(mailbox.history_since(100).map(|r| r.len()), Ok(1));
        let now = mailbox.history_id;
        mailbox.forget_history();
        assert_eq!(
            mailbox.history_since(100).err(),
            Some(HistoryError::Expired)
        );
        assert_eq!(mailbox.history_since(now).map(|r| r.len()), Ok(0));
    }
}
