//! A Smartlead webhook payload as outpost keeps it: the fields it acts on,
//! typed. The route reads a body into it (`server::routes::webhooks::parse`,
//! lenient about Smartlead's shapes); the writer applies it
//! ([`super::apply`]) and may queue it on the way ([`super::Delivery`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Every event type Smartlead sends (reference §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmartleadEvent {
    EmailSent,
    FirstEmailSent,
    EmailOpen,
    EmailLinkClick,
    EmailReply,
    EmailBounce,
    LeadUnsubscribed,
    LeadCategoryUpdated,
    CampaignStatusChanged,
    UntrackedReplies,
    ManualStepReached,
}

impl SmartleadEvent {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "EMAIL_SENT" => Self::EmailSent,
            "FIRST_EMAIL_SENT" => Self::FirstEmailSent,
            "EMAIL_OPEN" => Self::EmailOpen,
            "EMAIL_LINK_CLICK" => Self::EmailLinkClick,
            "EMAIL_REPLY" => Self::EmailReply,
            "EMAIL_BOUNCE" => Self::EmailBounce,
            "LEAD_UNSUBSCRIBED" => Self::LeadUnsubscribed,
            "LEAD_CATEGORY_UPDATED" => Self::LeadCategoryUpdated,
            "CAMPAIGN_STATUS_CHANGED" => Self::CampaignStatusChanged,
            "UNTRACKED_REPLIES" => Self::UntrackedReplies,
            "MANUAL_STEP_REACHED" => Self::ManualStepReached,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailSent => "EMAIL_SENT",
            Self::FirstEmailSent => "FIRST_EMAIL_SENT",
            Self::EmailOpen => "EMAIL_OPEN",
            Self::EmailLinkClick => "EMAIL_LINK_CLICK",
            Self::EmailReply => "EMAIL_REPLY",
            Self::EmailBounce => "EMAIL_BOUNCE",
            Self::LeadUnsubscribed => "LEAD_UNSUBSCRIBED",
            Self::LeadCategoryUpdated => "LEAD_CATEGORY_UPDATED",
            Self::CampaignStatusChanged => "CAMPAIGN_STATUS_CHANGED",
            Self::UntrackedReplies => "UNTRACKED_REPLIES",
            Self::ManualStepReached => "MANUAL_STEP_REACHED",
        }
    }
}

/// One email as a payload describes it (`sent_message`, `reply_message`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagePart {
    pub message_id: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub time: Option<DateTime<Utc>>,
}

impl MessagePart {
    pub(crate) fn is_empty(&self) -> bool {
        self.message_id.is_none() && self.html.is_none() && self.text.is_none()
    }
}

/// The new category of a LEAD_CATEGORY_UPDATED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCategory {
    pub id: Option<i64>,
    pub name: String,
    pub sentiment: Option<String>,
}

/// A payload, read. Fields a type does not carry are None.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub event: SmartleadEvent,
    pub campaign_id: Option<i64>,
    pub campaign_name: Option<String>,
    pub campaign_status: Option<String>,
    pub sequence_number: Option<u32>,
    pub lead_id: Option<i64>,
    pub map_id: Option<i64>,
    pub lead_email: Option<String>,
    pub lead_name: Option<String>,
    pub stats_id: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub from_email: Option<String>,
    pub subject: Option<String>,
    pub sent: Option<MessagePart>,
    pub reply: Option<MessagePart>,
    pub bounce_text: Option<String>,
    pub link: Option<String>,
    pub category: Option<NewCategory>,
    pub reply_category: Option<String>,
}
