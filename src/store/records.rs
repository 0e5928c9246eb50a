//! How each model type is stored: its kind, its key and its index entries.

use serde::{Serialize, de::DeserializeOwned};

use super::keys::KeyBuf;
use super::kinds::{Index, Kind};
use crate::model::*;

/// One entry a record contributes to one of its kind's index trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub index: Index,
    pub key: Vec<u8>,
}

/// A type the store can keep. `VERSION` is written before each encoded record
/// so that a later outpost can tell old layouts apart and migrate them.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    const KIND: Kind;
    const VERSION: u8 = 1;

    fn key(&self) -> String;

    /// Every index entry for this record; the store keeps them in step.
    fn index_entries(&self) -> Vec<IndexEntry> {
        Vec::new()
    }
}

fn entry(index: Index, key: Vec<u8>) -> IndexEntry {
    IndexEntry { index, key }
}

impl Record for Account {
    const KIND: Kind = Kind::Account;
    fn key(&self) -> String {
        self.name.clone()
    }
}

impl Record for Campaign {
    const KIND: Kind = Kind::Campaign;
    fn key(&self) -> String {
        Campaign::key(self)
    }
}

impl Record for CampaignDay {
    const KIND: Kind = Kind::CampaignDay;
    fn key(&self) -> String {
        CampaignDay::key(self)
    }
}

impl Record for Mailbox {
    const KIND: Kind = Kind::Mailbox;
    fn key(&self) -> String {
        Mailbox::key(self)
    }
}

// Leads are not indexed by their last event: it moves with nearly every
// event, and keeping such an index cost two more tree writes per webhook.
// `leads --recent` sorts in memory instead.
impl Record for Lead {
    const KIND: Kind = Kind::Lead;
    fn key(&self) -> String {
        Lead::key(self)
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        let key = Lead::key(self);
        let mut out = vec![entry(
            Index::LeadsByEmail,
            KeyBuf::new().text(&self.email).primary(&key),
        )];
        let mut campaigns: Vec<i64> = self.memberships.iter().map(|m| m.campaign_id).collect();
        campaigns.sort_unstable();
        campaigns.dedup();
        for id in campaigns {
            out.push(entry(
                Index::LeadsByCampaign,
                KeyBuf::new()
                    .text(&Campaign::key_for(&self.account, id))
                    .primary(&key),
            ));
        }
        out
    }
}

// Threads are listed by time only: a lead's threads are found through its
// messages (`MessagesByAddress`), and an index by lead moved with every
// reply (two more tree writes each) while nothing read it.
impl Record for Thread {
    const KIND: Kind = Kind::Thread;
    const VERSION: u8 = 2;
    fn key(&self) -> String {
        Thread::key(self)
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        // A copy merged into another thread is listed under that one only,
        // and the inbox lists threads with a reply.
        if !self.is_primary() || !self.has_reply {
            return Vec::new();
        }
        vec![entry(
            Index::ThreadsByTime,
            KeyBuf::new()
                .time(self.last_message_at)
                .primary(&Thread::key(self)),
        )]
    }
}

impl Record for Message {
    const KIND: Kind = Kind::Message;
    fn key(&self) -> String {
        Message::key(self)
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        let key = Message::key(self);
        let mut out = vec![entry(
            Index::MessagesByThread,
            KeyBuf::new()
                .text(&self.thread_key)
                .time(self.date)
                .primary(&key),
        )];
        for address in self.addresses() {
            out.push(entry(
                Index::MessagesByAddress,
                KeyBuf::new().text(&address).time(self.date).primary(&key),
            ));
        }
        if let Some(id) = &self.message_id {
            out.push(entry(
                Index::MessagesByMessageId,
                KeyBuf::new().text(id).primary(&key),
            ));
        }
        out
    }
}

impl Record for ReadChange {
    const KIND: Kind = Kind::ReadChange;
    fn key(&self) -> String {
        ReadChange::key(self)
    }
}

impl Record for Triage {
    const KIND: Kind = Kind::Triage;
    fn key(&self) -> String {
        Triage::key(self)
    }
}

impl Record for BulkChange {
    const KIND: Kind = Kind::BulkChange;
    fn key(&self) -> String {
        BulkChange::key(self)
    }
}

impl Record for Reminder {
    const KIND: Kind = Kind::Reminder;
    fn key(&self) -> String {
        Reminder::key(self)
    }
}

impl Record for Notified {
    const KIND: Kind = Kind::Notified;
    fn key(&self) -> String {
        Notified::key(self)
    }
}

impl Record for TagSet {
    const KIND: Kind = Kind::Tags;
    fn key(&self) -> String {
        TagSet::key(self)
    }
}

impl Record for GmailLabels {
    const KIND: Kind = Kind::GmailLabels;
    fn key(&self) -> String {
        GmailLabels::key(self)
    }
}

impl Record for Activity {
    const KIND: Kind = Kind::Activity;
    fn key(&self) -> String {
        Activity::key(self)
    }
}

impl Record for ActivityPage {
    const KIND: Kind = Kind::ActivityPage;
    fn key(&self) -> String {
        ActivityPage::key(self)
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        let key = ActivityPage::key(self);
        let lead = scoped_key(&self.account, &self.lead_email);
        self.events
            .iter()
            .map(|e| {
                entry(
                    Index::SealedEvents,
                    KeyBuf::new().text(&lead).text(&e.id).primary(&key),
                )
            })
            .collect()
    }
}

impl Record for Sequence {
    const KIND: Kind = Kind::Sequence;
    /// 2: task steps carry `auto_skip_after_days`.
    const VERSION: u8 = 2;
    fn key(&self) -> String {
        Sequence::key(self)
    }
}

impl Record for Enrollment {
    const KIND: Kind = Kind::Enrollment;
    fn key(&self) -> String {
        self.id.clone()
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        let mut out = vec![
            entry(
                Index::EnrollmentsBySequence,
                KeyBuf::new().text(&self.sequence).primary(&self.id),
            ),
            entry(
                Index::EnrollmentsByLead,
                KeyBuf::new()
                    .text(&normalize_email(&self.lead_email))
                    .primary(&self.id),
            ),
        ];
        // Only enrollments that can still act are due; a paused one with a
        // resume time is due at that time.
        let due = match self.state {
            EnrollmentState::Active => self.next_due_at,
            EnrollmentState::Paused => self.resume_at,
            _ => None,
        };
        if let Some(at) = due {
            out.push(entry(
                Index::EnrollmentsByDue,
                KeyBuf::new().time(at).primary(&self.id),
            ));
        }
        out
    }
}

impl Record for StepExecution {
    const KIND: Kind = Kind::Execution;
    fn key(&self) -> String {
        StepExecution::key(self)
    }
}

impl Record for OutboxItem {
    const KIND: Kind = Kind::Outbox;
    /// 3: a `sending` item carries its holder's lease.
    const VERSION: u8 = 3;
    fn key(&self) -> String {
        self.id.clone()
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        vec![
            entry(
                Index::OutboxByState,
                KeyBuf::new()
                    .byte(self.state.as_byte())
                    .time(self.not_before)
                    .primary(&self.id),
            ),
            entry(
                Index::OutboxByIdempotency,
                KeyBuf::new().text(&self.idempotency_key).primary(&self.id),
            ),
        ]
    }
}

impl Record for Suppression {
    const KIND: Kind = Kind::Suppression;
    fn key(&self) -> String {
        Suppression::key(self)
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        vec![entry(
            Index::SuppressionsByEmail,
            KeyBuf::new()
                .text(&normalize_email(&self.email))
                .primary(&Suppression::key(self)),
        )]
    }
}

impl Record for Task {
    const KIND: Kind = Kind::Task;
    /// 2: outcome, note, step and auto-skip time appended.
    const VERSION: u8 = 2;
    fn key(&self) -> String {
        self.id.clone()
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        if self.done_at.is_some() {
            return Vec::new();
        }
        vec![entry(
            Index::TasksByDue,
            KeyBuf::new().time(self.due_at).primary(&self.id),
        )]
    }
}

impl Record for Draft {
    const KIND: Kind = Kind::Draft;
    fn key(&self) -> String {
        self.id.clone()
    }
    fn index_entries(&self) -> Vec<IndexEntry> {
        match &self.thread_id {
            Some(thread) => vec![entry(
                Index::DraftsByThread,
                KeyBuf::new().text(thread).primary(&self.id),
            )],
            None => Vec::new(),
        }
    }
}

impl Record for MailboxPause {
    const KIND: Kind = Kind::MailboxPause;
    fn key(&self) -> String {
        MailboxPause::key(self)
    }
}

impl Record for PendingUnsubscribe {
    const KIND: Kind = Kind::PendingUnsubscribe;
    fn key(&self) -> String {
        PendingUnsubscribe::key(self)
    }
}

impl Record for crate::replica::PollLease {
    const KIND: Kind = Kind::PollLease;
    fn key(&self) -> String {
        crate::replica::PollLease::key(self)
    }
}

impl Record for Cursor {
    const KIND: Kind = Kind::Cursor;
    fn key(&self) -> String {
        Cursor::key(self)
    }
}

/// Decodes a raw record of `kind` and lists its index entries (for checks).
pub(crate) fn entries_of(
    kind: Kind,
    key: &[u8],
    value: &[u8],
) -> Result<Vec<IndexEntry>, super::StoreError> {
    use super::Store;
    Ok(match kind {
        Kind::Lead => Store::decode::<Lead>(key, value)?.index_entries(),
        Kind::Thread => Store::decode::<Thread>(key, value)?.index_entries(),
        Kind::Message => Store::decode::<Message>(key, value)?.index_entries(),
        Kind::Enrollment => Store::decode::<Enrollment>(key, value)?.index_entries(),
        Kind::Outbox => Store::decode::<OutboxItem>(key, value)?.index_entries(),
        Kind::Suppression => Store::decode::<Suppression>(key, value)?.index_entries(),
        Kind::Task => Store::decode::<Task>(key, value)?.index_entries(),
        Kind::Draft => Store::decode::<Draft>(key, value)?.index_entries(),
        Kind::ActivityPage => Store::decode::<ActivityPage>(key, value)?.index_entries(),
        _ => Vec::new(),
    })
}

impl Record for UserToken {
    const KIND: Kind = Kind::UserToken;
    fn key(&self) -> String {
        UserToken::key(self)
    }
}

impl Record for Assignment {
    const KIND: Kind = Kind::Assignment;
    fn key(&self) -> String {
        Assignment::key(self)
    }
}

impl Record for StoredAccount {
    const KIND: Kind = Kind::StoredAccount;
    fn key(&self) -> String {
        StoredAccount::key(self)
    }
}

impl Record for QueuedDelivery {
    const KIND: Kind = Kind::QueuedDelivery;
    fn key(&self) -> String {
        QueuedDelivery::key(self)
    }
}
