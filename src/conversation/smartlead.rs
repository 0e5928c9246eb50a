//! Smartlead's side of a conversation: one mapping from what Smartlead says
//! about a message to the cache's `Message`, for both ways it arrives — the
//! lead's message history (sync, refresh) and webhook payloads (the daemon).
//! Both give the same message the same key, so neither duplicates the other.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::{Address, Direction, Message, SmartleadRef, Thread, scoped_key};

/// The cache id of one Smartlead message. A Message-ID names the message
/// for good; only an item without one is told apart by its time (or, lacking
/// that, its place in the history).
pub fn smartlead_message_id(
    provider_thread_id: &str,
    kind: &str,
    stats_id: Option<&str>,
    message_id: Option<&str>,
    at: Option<DateTime<Utc>>,
    index: usize,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(stats_id.unwrap_or("").as_bytes());
    hasher.update([0]);
    hasher.update(message_id.unwrap_or("").as_bytes());
    hasher.update([0]);
    match (message_id, at) {
        (Some(_), _) => {}
        (None, Some(t)) => hasher.update(t.timestamp_millis().to_be_bytes()),
        (None, None) => hasher.update((index as u64).to_be_bytes()),
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(provider_thread_id.len() + 24);
    id.push_str("sl-");
    id.push_str(provider_thread_id);
    id.push('-');
    for byte in &hasher.finalize()[..10] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

/// Plain text for an HTML or text body.
pub fn body_text(body: &str) -> String {
    let looks_html = body.contains('<') && body.contains('>');
    if !looks_html {
        return body.trim().to_string();
    }
    html2text::from_read(body.as_bytes(), 100)
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|_| body.to_string())
}

/// One lead's conversation in one campaign, as Smartlead keys it.
#[derive(Debug, Clone)]
pub struct SmartleadConversation<'a> {
    pub account: &'a str,
    pub campaign_id: i64,
    /// Smartlead's lead id, when known (a webhook may come before it is).
    pub lead_id: Option<i64>,
    pub lead_email: &'a str,
    /// The campaign's sending mailbox.
    pub ours: &'a str,
}

/// One message as Smartlead describes it (a history item, or a webhook's
/// sent or reply part).
#[derive(Debug, Clone, Default)]
pub struct SmartleadItem {
    pub inbound: bool,
    pub stats_id: Option<String>,
    pub message_id: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub subject: String,
    pub html: String,
    /// The text part, when Smartlead sends one; else the HTML as text.
    pub text: Option<String>,
    pub cc: Vec<String>,
    pub sequence_number: Option<u32>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub in_reply_to: Option<String>,
    /// Its place in the history (names an item with neither time nor id).
    pub index: usize,
}

impl SmartleadConversation<'_> {
    /// `"{campaign}:{lead id}"`, or the lead's address in place of the id.
    pub fn provider_thread_id(&self) -> String {
        match self.lead_id {
            Some(id) => format!("{}:{id}", self.campaign_id),
            None => format!("{}:{}", self.campaign_id, self.lead_email),
        }
    }

    pub fn thread_key(&self) -> String {
        Thread::key_for(self.account, &self.provider_thread_id())
    }

    /// The cache key the item's message has.
    pub fn message_key(&self, item: &SmartleadItem) -> String {
        scoped_key(self.account, self.provider_id(item))
    }

    /// The item's id within the account (its key is `account/` this).
    pub fn provider_id(&self, item: &SmartleadItem) -> String {
        smartlead_message_id(
            &self.provider_thread_id(),
            if item.inbound { "REPLY" } else { "SENT" },
            item.stats_id.as_deref(),
            item.message_id.as_deref(),
            item.time,
            item.index,
        )
    }

    /// The item as a cache message. `undated` stands in for a missing time;
    /// `read` is what the cache already knows (a redelivery must not mark a
    /// read reply unread again), else our mail is read and a reply is not.
    pub fn message(
        &self,
        item: &SmartleadItem,
        undated: DateTime<Utc>,
        read: Option<bool>,
    ) -> Message {
        self.message_with_id(item, self.provider_id(item), undated, read)
    }

    /// [`message`](Self::message) for a caller that has the item's
    /// [`provider_id`](Self::provider_id) already (it is a hash).
    pub fn message_with_id(
        &self,
        item: &SmartleadItem,
        provider_id: String,
        undated: DateTime<Utc>,
        read: Option<bool>,
    ) -> Message {
        let (from, to) = if item.inbound {
            (
                item.from
                    .clone()
                    .unwrap_or_else(|| self.lead_email.to_string()),
                item.to.clone().unwrap_or_else(|| self.ours.to_string()),
            )
        } else {
            (
                item.from.clone().unwrap_or_else(|| self.ours.to_string()),
                item.to
                    .clone()
                    .unwrap_or_else(|| self.lead_email.to_string()),
            )
        };
        Message {
            account: self.account.to_string(),
            provider_id,
            thread_key: self.thread_key(),
            direction: if item.inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            message_id: item.message_id.clone(),
            in_reply_to: item.in_reply_to.clone(),
            references: Vec::new(),
            from: Address::new(from),
            to: vec![Address::new(to)],
            cc: item.cc.iter().map(Address::new).collect(),
            subject: item.subject.clone(),
            date: item.time.unwrap_or(undated),
            text_body: item.text.clone().unwrap_or_else(|| body_text(&item.html)),
            html_body: Some(item.html.clone()).filter(|h| h.contains('<')),
            attachments: Vec::new(),
            read: read.unwrap_or(!item.inbound),
            labels: Vec::new(),
            smartlead: self.lead_id.map(|lead_id| SmartleadRef {
                campaign_id: self.campaign_id,
                lead_id,
                stats_id: item.stats_id.clone(),
                sequence_number: item.sequence_number,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_stay_what_caches_already_hold() {
        // Stored messages are keyed by these ids: a change would store
        // every synced message a second time.
        assert_eq!(
            smartlead_message_id("7:42", "REPLY", Some("st1"), Some("<r1@x>"), None, 3),
            "sl-7:42-e523f2d43f042bfa83bf"
        );
        let at = DateTime::from_timestamp(1_780_000_000, 0);
        assert_eq!(
            smartlead_message_id("7:42", "SENT", None, None, at, 0),
            "sl-7:42-2776312d05f12cc59976"
        );
    }
}
