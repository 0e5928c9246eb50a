//! The trees outpost keeps: one per record kind, plus secondary-index trees.

use serde::{Deserialize, Serialize};

/// A record kind; each has its own sled tree named by `tree()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Account,
    Campaign,
    CampaignDay,
    Mailbox,
    Lead,
    Thread,
    Message,
    Activity,
    ActivityPage,
    Sequence,
    Enrollment,
    Execution,
    Outbox,
    Suppression,
    Task,
    Draft,
    Cursor,
    ReadChange,
    Triage,
    Reminder,
    Notified,
    MailboxPause,
    PendingUnsubscribe,
    BulkChange,
    Tags,
    GmailLabels,
    PollLease,
    UserToken,
    Assignment,
    StoredAccount,
    QueuedDelivery,
}

impl Kind {
    pub const ALL: [Kind; 31] = [
        Kind::Account,
        Kind::Campaign,
        Kind::CampaignDay,
        Kind::Mailbox,
        Kind::Lead,
        Kind::Thread,
        Kind::Message,
        Kind::Activity,
        Kind::ActivityPage,
        Kind::Sequence,
        Kind::Enrollment,
        Kind::Execution,
        Kind::Outbox,
        Kind::Suppression,
        Kind::Task,
        Kind::Draft,
        Kind::Cursor,
        Kind::ReadChange,
        Kind::Triage,
        Kind::Reminder,
        Kind::Notified,
        Kind::MailboxPause,
        Kind::PendingUnsubscribe,
        Kind::BulkChange,
        Kind::Tags,
        Kind::GmailLabels,
        Kind::PollLease,
        Kind::UserToken,
        Kind::Assignment,
        Kind::StoredAccount,
        Kind::QueuedDelivery,
    ];

    pub fn tree(self) -> &'static str {
        match self {
            Kind::Account => "accounts",
            Kind::Campaign => "campaigns",
            Kind::CampaignDay => "campaign_days",
            Kind::Mailbox => "mailboxes",
            Kind::Lead => "leads",
            Kind::Thread => "threads",
            Kind::Message => "messages",
            Kind::Activity => "activity",
            Kind::ActivityPage => "activity_pages",
            Kind::Sequence => "sequences",
            Kind::Enrollment => "enrollments",
            Kind::Execution => "executions",
            Kind::Outbox => "outbox",
            Kind::Suppression => "suppressions",
            Kind::Task => "tasks",
            Kind::Draft => "drafts",
            Kind::Cursor => "cursors",
            Kind::ReadChange => "read_changes",
            Kind::Triage => "triage",
            Kind::Reminder => "reminders",
            Kind::Notified => "notified",
            Kind::MailboxPause => "mailbox_pauses",
            Kind::PendingUnsubscribe => "pending_unsubscribes",
            Kind::BulkChange => "bulk_changes",
            Kind::Tags => "tags",
            Kind::GmailLabels => "gmail_labels",
            Kind::PollLease => "poll_leases",
            Kind::UserToken => "user_tokens",
            Kind::Assignment => "assignments",
            Kind::StoredAccount => "stored_accounts",
            Kind::QueuedDelivery => "queued_deliveries",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.tree() == name)
    }

    /// The index trees kept for this kind, in slot order.
    pub fn indexes(self) -> &'static [Index] {
        match self {
            Kind::Lead => &[Index::LeadsByEmail, Index::LeadsByCampaign],
            Kind::Thread => &[Index::ThreadsByTime],
            Kind::Message => &[
                Index::MessagesByThread,
                Index::MessagesByAddress,
                Index::MessagesByMessageId,
            ],
            Kind::Enrollment => &[
                Index::EnrollmentsByDue,
                Index::EnrollmentsBySequence,
                Index::EnrollmentsByLead,
            ],
            Kind::Outbox => &[Index::OutboxByState, Index::OutboxByIdempotency],
            Kind::Suppression => &[Index::SuppressionsByEmail],
            Kind::Task => &[Index::TasksByDue],
            Kind::Draft => &[Index::DraftsByThread],
            Kind::ActivityPage => &[Index::SealedEvents],
            _ => &[],
        }
    }
}

/// A secondary index. Its keys are `value bytes ++ primary key`; its values are
/// the primary key, so a scan yields records in index order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Index {
    /// normalized email \0
    LeadsByEmail,
    /// campaign key \0
    LeadsByCampaign,
    /// last message time — only threads with a reply (the inbox)
    ThreadsByTime,
    /// thread key \0 time
    MessagesByThread,
    /// address \0 time
    MessagesByAddress,
    /// Message-ID \0
    MessagesByMessageId,
    /// due time — only active enrollments
    EnrollmentsByDue,
    /// sequence \0
    EnrollmentsBySequence,
    /// lead email \0
    EnrollmentsByLead,
    /// state byte, not_before time
    OutboxByState,
    /// idempotency key \0
    OutboxByIdempotency,
    /// email \0
    SuppressionsByEmail,
    /// open tasks by due time
    TasksByDue,
    /// thread key \0
    DraftsByThread,
    /// lead key \0 event id \0: the events sealed into activity pages
    SealedEvents,
}

impl Index {
    pub fn tree(self) -> &'static str {
        match self {
            Index::LeadsByEmail => "idx_leads_email",
            Index::LeadsByCampaign => "idx_leads_campaign",
            Index::ThreadsByTime => "idx_threads_time",
            Index::MessagesByThread => "idx_messages_thread",
            Index::MessagesByAddress => "idx_messages_address",
            Index::MessagesByMessageId => "idx_messages_message_id",
            Index::EnrollmentsByDue => "idx_enrollments_due",
            Index::EnrollmentsBySequence => "idx_enrollments_sequence",
            Index::EnrollmentsByLead => "idx_enrollments_lead",
            Index::OutboxByState => "idx_outbox_state",
            Index::OutboxByIdempotency => "idx_outbox_idempotency",
            Index::SuppressionsByEmail => "idx_suppressions_email",
            Index::TasksByDue => "idx_tasks_due",
            Index::DraftsByThread => "idx_drafts_thread",
            Index::SealedEvents => "idx_sealed_events",
        }
    }

    pub fn kind(self) -> Kind {
        Kind::ALL
            .into_iter()
            .find(|k| k.indexes().contains(&self))
            .expect("every index belongs to a kind")
    }

    /// Position of this index among its kind's trees (0 is the record tree).
    pub fn slot(self) -> usize {
        1 + self
            .kind()
            .indexes()
            .iter()
            .position(|i| *i == self)
            .expect("index listed under its kind")
    }
}
