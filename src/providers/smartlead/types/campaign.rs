//! Campaigns, their schedules and sequence steps.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ids::{CampaignId, opt_campaign_id};
use super::wire_enum;
use crate::providers::smartlead::de;

wire_enum!(
    /// A campaign's status as read (writes use START/PAUSED/STOPPED).
    CampaignStatus {
        Drafted => "DRAFTED",
        Active => "ACTIVE",
        Paused => "PAUSED",
        Stopped => "STOPPED",
        Completed => "COMPLETED",
        Archived => "ARCHIVED",
    }
);

/// `GET /campaigns/` items and `GET /campaigns/{id}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub user_id: Option<i64>,
    #[serde(default, deserialize_with = "de::string")]
    pub name: String,
    pub status: CampaignStatus,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Read form: `DONT_EMAIL_OPEN`, `DONT_LINK_CLICK`, `DONT_REPLY_TO_AN_EMAIL`.
    #[serde(default, deserialize_with = "de::string_list")]
    pub track_settings: Vec<String>,
    #[serde(default)]
    pub scheduler_cron_value: Option<Schedule>,
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub min_time_btwn_emails: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub max_leads_per_day: Option<u64>,
    #[serde(default, deserialize_with = "de::string_list")]
    pub stop_lead_settings: Vec<String>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub schedule_start_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    pub enable_ai_esp_matching: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    pub send_as_plain_text: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub follow_up_percentage: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub unsubscribe_text: Option<String>,
    /// Set on subsequences.
    #[serde(default, deserialize_with = "opt_campaign_id")]
    pub parent_campaign_id: Option<CampaignId>,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub client_id: Option<i64>,
    /// Present only with `include_tags`.
    #[serde(default, deserialize_with = "de::vec")]
    pub tags: Vec<CampaignTag>,
}

/// The sending schedule as read (`scheduler_cron_value`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Schedule {
    #[serde(default, deserialize_with = "de::opt_string")]
    pub tz: Option<String>,
    /// 0 = Sunday … 6 = Saturday.
    #[serde(default, deserialize_with = "de::i64_list")]
    pub days: Vec<i64>,
    #[serde(default, rename = "startHour", deserialize_with = "de::opt_string")]
    pub start_hour: Option<String>,
    #[serde(default, rename = "endHour", deserialize_with = "de::opt_string")]
    pub end_hour: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CampaignTag {
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub tag_id: Option<i64>,
    #[serde(default, deserialize_with = "de::string")]
    pub tag_name: String,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub tag_color: Option<String>,
}

/// `GET /leads/{lead_id}/campaigns` items.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LeadCampaign {
    pub id: CampaignId,
    pub status: CampaignStatus,
    #[serde(default, deserialize_with = "de::string")]
    pub name: String,
}

/// `GET /campaigns/{id}/sequences` items.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SequenceStep {
    #[serde(deserialize_with = "de::i64")]
    pub id: i64,
    #[serde(default, deserialize_with = "opt_campaign_id")]
    pub email_campaign_id: Option<CampaignId>,
    #[serde(deserialize_with = "de::i64")]
    pub seq_number: i64,
    /// Empty means "reply in the same thread".
    #[serde(default, deserialize_with = "de::string")]
    pub subject: String,
    #[serde(default, deserialize_with = "de::string")]
    pub email_body: String,
    #[serde(default)]
    pub seq_delay_details: Option<SequenceDelay>,
    #[serde(default, deserialize_with = "de::vec")]
    pub sequence_variants: Vec<SequenceVariant>,
}

/// Read as `delayInDays` (written as `delay_in_days`; both accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SequenceDelay {
    #[serde(
        default,
        rename = "delayInDays",
        alias = "delay_in_days",
        deserialize_with = "de::count"
    )]
    pub delay_in_days: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SequenceVariant {
    #[serde(deserialize_with = "de::i64")]
    pub id: i64,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub email_campaign_seq_id: Option<i64>,
    #[serde(default, deserialize_with = "de::string")]
    pub variant_label: String,
    #[serde(default, deserialize_with = "de::bool")]
    pub is_deleted: bool,
    #[serde(default, deserialize_with = "de::string")]
    pub subject: String,
    #[serde(default, deserialize_with = "de::string")]
    pub email_body: String,
}
