//! Sending mailboxes, warmup, webhooks and agency clients.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::EmailAccountId;
use crate::providers::smartlead::de;

/// A sending mailbox. The daily cap is read as `message_per_day` (and
/// written as `max_email_per_day`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EmailAccount {
    pub id: EmailAccountId,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub from_name: Option<String>,
    #[serde(default, deserialize_with = "de::string")]
    pub from_email: String,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub username: Option<String>,
    /// `SMTP`, `GMAIL`, `OUTLOOK`, `ZOHO`.
    #[serde(default, rename = "type", deserialize_with = "de::opt_string")]
    pub account_type: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub smtp_host: Option<String>,
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub smtp_port: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub imap_host: Option<String>,
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub imap_port: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    pub is_smtp_success: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    pub is_imap_success: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub message_per_day: Option<u64>,
    #[serde(default, deserialize_with = "de::count")]
    pub daily_sent_count: u64,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub client_id: Option<i64>,
    #[serde(default, deserialize_with = "de::count")]
    pub campaign_count: u64,
    #[serde(default)]
    pub warmup_details: Option<WarmupDetails>,
    /// Only with `fetch_campaigns=true`.
    #[serde(default, deserialize_with = "de::i64_list")]
    pub campaign_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WarmupDetails {
    #[serde(default, deserialize_with = "de::opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "de::count")]
    pub total_sent_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub total_spam_count: u64,
    /// Sent as `"98%"`; read as 98.0.
    #[serde(default, deserialize_with = "de::opt_f64")]
    pub warmup_reputation: Option<f64>,
}

/// `GET /email-accounts/{id}/warmup-stats` (last 7 days; shape unverified,
/// so every field is optional).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WarmupStats {
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "de::count")]
    pub sent_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub spam_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub inbox_count: u64,
    #[serde(default, deserialize_with = "de::vec")]
    pub stats_by_date: Vec<DailyWarmup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DailyWarmup {
    #[serde(default, deserialize_with = "de::string")]
    pub date: String,
    #[serde(default, deserialize_with = "de::count")]
    pub sent_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub spam_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub inbox_count: u64,
}

/// `GET /campaigns/{id}/webhooks` items.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Webhook {
    #[serde(deserialize_with = "de::i64")]
    pub id: i64,
    #[serde(default, deserialize_with = "de::string")]
    pub name: String,
    #[serde(default, deserialize_with = "de::string")]
    pub webhook_url: String,
    #[serde(default, deserialize_with = "de::string_list")]
    pub event_types: Vec<String>,
    /// Category names.
    #[serde(default, deserialize_with = "de::string_list")]
    pub categories: Vec<String>,
}

/// Body of `POST /campaigns/{id}/webhooks`: `id: null` creates, an id updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookUpsert {
    pub id: Option<i64>,
    pub name: String,
    pub webhook_url: String,
    pub event_types: Vec<String>,
    /// Category names; Smartlead requires at least one.
    pub categories: Vec<String>,
}

/// An agency client (`GET /client/`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgencyClient {
    #[serde(deserialize_with = "de::i64")]
    pub id: i64,
    #[serde(default, deserialize_with = "de::string")]
    pub name: String,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub logo: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub logo_url: Option<String>,
}
