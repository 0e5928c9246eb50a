//! A lead's message history in a campaign, and replies into that thread.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::wire_enum;
use crate::providers::smartlead::SmartleadError;
use crate::providers::smartlead::de;

wire_enum!(
    /// Who wrote a history item: us (`SENT`, manual replies included) or the lead.
    HistoryKind {
        Sent => "SENT",
        Reply => "REPLY",
    }
);

/// `GET /campaigns/{cid}/leads/{lead_id}/message-history`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessageHistory {
    #[serde(default, deserialize_with = "de::vec")]
    pub history: Vec<HistoryItem>,
    /// Our mailbox.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub from: Option<String>,
    /// The lead.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HistoryItem {
    #[serde(rename = "type")]
    pub kind: HistoryKind,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub stats_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub message_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "de::string")]
    pub email_body: String,
    /// `None` for manual replies sent from the master inbox.
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub email_seq_number: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    pub open_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub click_count: u64,
    /// Link → clicks.
    #[serde(default, deserialize_with = "de::string_map")]
    pub click_details: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "de::string_list")]
    pub cc: Vec<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub to: Option<String>,
}

/// Body of `POST /campaigns/{id}/reply-email-thread`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyRequest {
    pub email_stats_id: String,
    pub email_body: String,
    pub reply_message_id: String,
    pub reply_email_time: String,
    pub reply_email_body: String,
    /// Comma-separated addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bcc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_signature: Option<bool>,
}

impl ReplyRequest {
    /// A reply to `item` (usually the lead's latest `REPLY`), taking the five
    /// fields Smartlead requires from it.
    pub fn answering(item: &HistoryItem, body: impl Into<String>) -> Result<Self, SmartleadError> {
        let missing = |field: &str| {
            SmartleadError::InvalidInput(format!(
                "the message being answered has no {field}; refresh the thread and try again"
            ))
        };
        let stats_id = item.stats_id.clone().ok_or_else(|| missing("stats_id"))?;
        let message_id = item
            .message_id
            .clone()
            .ok_or_else(|| missing("message_id"))?;
        let time = item.time.ok_or_else(|| missing("time"))?;
        Ok(Self {
            email_stats_id: stats_id,
            email_body: body.into(),
            reply_message_id: message_id,
            reply_email_time: time.to_rfc3339_opts(SecondsFormat::Millis, true),
            reply_email_body: item.email_body.clone(),
            cc: None,
            bcc: None,
            add_signature: None,
        })
    }
}
