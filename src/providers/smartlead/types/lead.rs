//! Leads, their campaign memberships, categories and lead uploads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ids::{CampaignId, LeadId, MapId};
use super::wire_enum;
use crate::providers::smartlead::de;

wire_enum!(
    /// A lead's status within one campaign.
    LeadStatus {
        Started => "STARTED",
        InProgress => "INPROGRESS",
        Completed => "COMPLETED",
        Paused => "PAUSED",
        Stopped => "STOPPED",
        Blocked => "BLOCKED",
    }
);

/// The account-wide lead record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Lead {
    pub id: LeadId,
    #[serde(default, deserialize_with = "de::string")]
    pub email: String,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub phone_number: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub company_name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub website: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub location: Option<String>,
    #[serde(default, deserialize_with = "de::string_map")]
    pub custom_fields: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub linkedin_profile: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub company_url: Option<String>,
    #[serde(default, deserialize_with = "de::bool")]
    pub is_unsubscribed: bool,
    /// Shape undocumented; kept as sent.
    #[serde(default)]
    pub unsubscribed_client_id_map: Option<Value>,
}

/// One item of `GET /campaigns/{id}/leads`: the membership plus the lead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CampaignLead {
    pub campaign_lead_map_id: MapId,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub lead_category_id: Option<i64>,
    pub status: LeadStatus,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    pub lead: Lead,
}

/// `GET /campaigns/{id}/leads` (limit ≤ 100).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LeadsPage {
    #[serde(default, deserialize_with = "de::count")]
    pub total_leads: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub offset: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub limit: u64,
    #[serde(default, deserialize_with = "de::vec")]
    pub data: Vec<CampaignLead>,
}

/// `GET /leads/?email=`: the lead and every campaign it is in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LeadWithCampaigns {
    #[serde(flatten)]
    pub lead: Lead,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de::vec")]
    pub lead_campaign_data: Vec<LeadCampaignData>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LeadCampaignData {
    pub campaign_lead_map_id: MapId,
    pub campaign_id: CampaignId,
    #[serde(default, deserialize_with = "de::string")]
    pub campaign_name: String,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub client_id: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub client_email: Option<String>,
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub lead_category_id: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub last_sent_at: Option<DateTime<Utc>>,
    /// The latest reply, not the first.
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub last_reply_at: Option<DateTime<Utc>>,
}

/// `GET /leads/fetch-categories` items.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Category {
    #[serde(deserialize_with = "de::i64")]
    pub id: i64,
    #[serde(default, deserialize_with = "de::string")]
    pub name: String,
    /// `positive`, `negative` or none.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub sentiment_type: Option<String>,
    #[serde(default, deserialize_with = "de::opt_datetime")]
    pub created_at: Option<DateTime<Utc>>,
}

/// One `lead_list` item of `POST /campaigns/{id}/leads`. Only `email` is
/// required; the server rejects unknown keys, so absent fields are omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewLead {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linkedin_profile: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, String>,
}

impl NewLead {
    pub fn with_email(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            ..Self::default()
        }
    }
}

/// The `settings` object of a lead upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LeadUploadSettings {
    pub ignore_global_block_list: bool,
    pub ignore_unsubscribe_list: bool,
    pub ignore_community_bounce_list: bool,
    pub ignore_duplicate_leads_in_other_campaign: bool,
}

/// What an upload did; summed over batches by `Client::add_leads`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UploadSummary {
    /// Rows processed.
    #[serde(default, deserialize_with = "de::count")]
    pub upload_count: u64,
    /// Leads actually added (Smartlead's `total_leads`).
    #[serde(default, rename = "total_leads", deserialize_with = "de::count")]
    pub added_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub already_added_to_campaign: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub duplicate_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub invalid_email_count: u64,
    #[serde(default, deserialize_with = "de::string_list")]
    pub invalid_emails: Vec<String>,
    /// Entries are emails or objects depending on the server version.
    #[serde(default, deserialize_with = "de::vec")]
    pub unsubscribed_leads: Vec<Value>,
    #[serde(default, deserialize_with = "de::count")]
    pub block_count: u64,
    #[serde(default, deserialize_with = "de::count")]
    pub bounce_count: u64,
    #[serde(default, deserialize_with = "de::bool")]
    pub is_lead_limit_exhausted: bool,
    #[serde(default, deserialize_with = "de::count")]
    pub lead_import_stopped_count: u64,
}

impl UploadSummary {
    /// Adds another batch's summary to this one.
    pub fn absorb(&mut self, batch: UploadSummary) {
        self.upload_count += batch.upload_count;
        self.added_count += batch.added_count;
        self.already_added_to_campaign += batch.already_added_to_campaign;
        self.duplicate_count += batch.duplicate_count;
        self.invalid_email_count += batch.invalid_email_count;
        self.invalid_emails.extend(batch.invalid_emails);
        self.unsubscribed_leads.extend(batch.unsubscribed_leads);
        self.block_count += batch.block_count;
        self.bounce_count += batch.bounce_count;
        self.is_lead_limit_exhausted |= batch.is_lead_limit_exhausted;
        self.lead_import_stopped_count += batch.lead_import_stopped_count;
    }
}
