//! Campaign analytics, per-email statistics and per-step analytics.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::campaign::CampaignStatus;
use super::ids::{CampaignId, opt_campaign_id};
use crate::providers::smartlead::de;

/// `GET /campaigns/{id}/analytics` and `/analytics-by-date` (counts arrive
/// as strings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CampaignAnalytics {
    pub id: CampaignId,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub user_id: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub status: Option<CampaignStatus>,
    #[serde(default, deserialize_with = "de::string")]
    pub name: String,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub client_id: Option<i64>,
    #[serde(default, deserialize_with = "opt_campaign_id")]
    pub parent_campaign_id: Option<CampaignId>,
    #[serde(default, deserialize_with = "de::count")]
    pub sequence_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub sent_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub unique_sent_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub open_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub unique_open_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub click_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub unique_click_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub reply_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub bounce_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub unsubscribed_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub block_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub total_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub drafted_count: u64,
    #[serde(default)]
    pub campaign_lead_stats: Option<CampaignLeadStats>,
    /// Only on `/analytics-by-date`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub start_date: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CampaignLeadStats {
    #[serde(default, deserialize_with = "de::count")]
    pub total: u64,
    #[serde(default, rename = "notStarted", deserialize_with = "de::count")]
    pub not_started: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub inprogress: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub completed: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub paused: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub stopped: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub blocked: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub interested: u64,
    #[serde(default, deserialize_with = "de::f64")]
    pub revenue: f64,
}

/// `email_status` filter of `/statistics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailStatusFilter {
    Opened,
    Clicked,
    Replied,
    Unsubscribed,
    Bounced,
}

impl EmailStatusFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatusFilter::Opened => "opened",
            EmailStatusFilter::Clicked => "clicked",
            EmailStatusFilter::Replied => "replied",
            EmailStatusFilter::Unsubscribed => "unsubscribed",
            EmailStatusFilter::Bounced => "bounced",
        }
    }
}

/// Query of one `/statistics` page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatisticsQuery {
    pub offset: u64,
    /// Up to 1000 per the docs.
    pub limit: u64,
    pub email_status: Option<EmailStatusFilter>,
    pub email_sequence_number: Option<u32>,
    /// Reportedly ignored by the server; sent when given.
    pub sent_time_start_date: Option<NaiveDate>,
    pub sent_time_end_date: Option<NaiveDate>,
}

impl Default for StatisticsQuery {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: 500,
            email_status: None,
            email_sequence_number: None,
            sent_time_start_date: None,
            sent_time_end_date: None,
        }
    }
}

/// `GET /campaigns/{id}/statistics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatisticsPage {
    #[serde(default, deserialize_with = "de::count")]
    pub total_stats: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub offset: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub limit: u64,
    #[serde(default, deserialize_with = "de::vec")]
    pub data: Vec<StatisticsRow>,
}

/// One sent email and what happened to it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatisticsRow {
    #[serde(default, deserialize_with = "de::opt_string")]
    pub lead_name: Option<String>,
    #[serde(default, deserialize_with = "de::string")]
    pub lead_email: String,
    /// A category name (one consumer saw an id; kept as text either way).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub lead_category: Option<String>,
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub sequence_number: Option<u64>,
    /// Needed to reply to this email.
    #[serde(default, deserialize_with = "de::string")]
    pub stats_id: String,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub email_campaign_seq_id: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub seq_variant_id: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub email_subject: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub email_message: Option<String>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub sent_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub open_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub click_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub reply_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::count")]
    pub open_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub click_count: u64,
    #[serde(default, deserialize_with = "de::bool")]
    pub is_unsubscribed: bool,
    #[serde(default, deserialize_with = "de::bool")]
    pub is_bounced: bool,
}

/// `GET /campaigns/{id}/sequence-analytics` rows (one per step).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SequenceAnalyticsRow {
    #[serde(deserialize_with = "de::i64")]
    pub email_campaign_seq_id: i64,
    #[serde(default, deserialize_with = "de::count")]
    pub sent_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub open_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub click_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub reply_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub bounce_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub unsubscribed_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub skipped_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub failed_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub stopped_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub positive_reply_count: u64,
}
