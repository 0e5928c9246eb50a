//! Threads and messages from both providers, in one shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Address, Category, Provider};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub account: String,
    pub provider: Provider,
    /// Gmail's thread id, or `"{campaign_id}:{lead_id}"` for a Smartlead conversation.
    pub provider_thread_id: String,
    pub subject: String,
    /// The lead this conversation is with, when one is known.
    pub lead_email: Option<String>,
    pub campaign_id: Option<i64>,
    pub campaign_name: Option<String>,
    pub last_message_at: DateTime<Utc>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub message_count: u32,
    pub unread: bool,
    /// True once the lead has written back: these make the inbox.
    pub has_reply: bool,
    pub category: Option<Category>,
    pub snippet: String,
    pub participants: Vec<String>,
    // Fields below were added in record version 2 (schema 4); they are
    // appended so that a version-1 record migrates by appending defaults.
    /// The person this conversation is with: the lead record's name, else
    /// the display name on their mail.
    pub lead_name: Option<String>,
    /// The person's last words to us (their newest inbound message), so a
    /// row shows what they said, not what we said last.
    pub preview: String,
    /// True when our message is the newest one: the rep answered last.
    pub answered_last: bool,
    /// Set when this provider thread is a copy of a conversation kept under
    /// another thread (the two share Message-IDs): the key of that thread.
    /// Such a thread is not listed on its own.
    pub merged_into: Option<String>,
    /// The keys of the provider threads merged into this one.
    pub sources: Vec<String>,
}

impl Thread {
    /// When the newest inbound message of a conversation arrived.
    pub fn last_inbound_in(messages: &[Message]) -> Option<DateTime<Utc>> {
        messages
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .map(|m| m.date)
            .max()
    }

    /// Whether any inbound message of a conversation is unread.
    pub fn unread_in(messages: &[Message]) -> bool {
        messages
            .iter()
            .any(|m| m.direction == Direction::Inbound && !m.read)
    }

    pub fn key(&self) -> String {
        Self::key_for(&self.account, &self.provider_thread_id)
    }

    /// Whether the conversation is listed under this thread (it is not a
    /// copy merged into another).
    pub fn is_primary(&self) -> bool {
        self.merged_into.is_none()
    }

    /// Who the conversation is with, for a row or a header: the person's
    /// name when known, else their address.
    pub fn person(&self) -> &str {
        self.lead_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .or(self.lead_email.as_deref())
            .or(self.participants.first().map(String::as_str))
            .unwrap_or("")
    }

    pub fn key_for(account: &str, provider_thread_id: &str) -> String {
        super::scoped_key(account, provider_thread_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the lead to us.
    Inbound,
    /// From us (a mailbox of ours) to the lead.
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub mime_type: String,
    pub size: u64,
}

/// The Smartlead identifiers a reply to this message needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmartleadRef {
    pub campaign_id: i64,
    pub lead_id: i64,
    pub stats_id: Option<String>,
    pub sequence_number: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub account: String,
    /// Gmail message id, or a stable id derived from Smartlead's history item.
    pub provider_id: String,
    pub thread_key: String,
    pub direction: Direction,
    /// RFC 5322 Message-ID, with angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub subject: String,
    pub date: DateTime<Utc>,
    pub text_body: String,
    pub html_body: Option<String>,
    pub attachments: Vec<Attachment>,
    pub read: bool,
    pub labels: Vec<String>,
    pub smartlead: Option<SmartleadRef>,
}

impl Message {
    pub fn key(&self) -> String {
        super::scoped_key(&self.account, &self.provider_id)
    }

    /// Every address on the message, lower-cased, for matching to leads.
    pub fn addresses(&self) -> Vec<String> {
        let mut all: Vec<String> = std::iter::once(&self.from)
            .chain(self.to.iter())
            .chain(self.cc.iter())
            .map(|a| super::normalize_email(&a.email))
            .filter(|e| !e.is_empty())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A read or unread mark the rep set on a Gmail message that has not reached
/// Gmail yet. While it waits, a sync keeps the rep's mark instead of the
/// labels Gmail still has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadChange {
    pub account: String,
    /// Gmail's message id.
    pub gmail_id: String,
    pub read: bool,
    pub at: DateTime<Utc>,
}

impl ReadChange {
    /// The same key as the message's.
    pub fn key(&self) -> String {
        super::scoped_key(&self.account, &self.gmail_id)
    }
}
