//! The emulator's in-memory records. Messages are kept compact (ids, times, counters and
//! a pointer to their template) and rendered to JSON on demand, so 100k leads with their
//! full histories stay in tens of megabytes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CampaignStatus {
    Drafted,
    Active,
    Paused,
    Stopped,
    Completed,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drafted => "DRAFTED",
            Self::Active => "ACTIVE",
            Self::Paused => "PAUSED",
            Self::Stopped => "STOPPED",
            Self::Completed => "COMPLETED",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub id: i64,
    pub label: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub id: i64,
    pub seq_number: u8,
    pub delay_days: u32,
    /// Empty for follow-ups: they go out in the same thread.
    pub subject: String,
    pub body: String,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub id: i64,
    pub name: String,
    pub webhook_url: String,
    pub event_types: Vec<String>,
    pub categories: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Campaign {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub status: CampaignStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub client_id: Option<i64>,
    pub parent_campaign_id: Option<i64>,
    pub timezone: String,
    pub max_leads_per_day: u32,
    pub min_time_btwn_emails: u32,
    pub follow_up_percentage: u32,
    pub track_settings: Vec<&'static str>,
    pub steps: Vec<Step>,
    /// Indexes into `Data::accounts`.
    pub accounts: Vec<u32>,
    /// Indexes into `Data::memberships`, in the order leads were added.
    pub members: Vec<u32>,
    pub webhooks: Vec<Webhook>,
}

impl Campaign {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "status": self.status.as_str(),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "track_settings": self.track_settings,
            "scheduler_cron_value": {
                "tz": self.timezone, "days": [1, 2, 3, 4, 5], "startHour": "09:00", "endHour": "17:00"
            },
            "min_time_btwn_emails": self.min_time_btwn_emails,
            "max_leads_per_day": self.max_leads_per_day,
            "stop_lead_settings": "REPLY_TO_AN_EMAIL",
            "schedule_start_time": Value::Null,
            "enable_ai_esp_matching": false,
            "send_as_plain_text": false,
            "follow_up_percentage": self.follow_up_percentage,
            "unsubscribe_text": "",
            "parent_campaign_id": self.parent_campaign_id,
            "client_id": self.client_id,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct EmailAccount {
    pub id: i64,
    pub from_name: String,
    pub from_email: String,
    pub kind: &'static str,
    pub message_per_day: u32,
    pub daily_sent_count: u32,
    pub client_id: Option<i64>,
    pub warmup_reputation: u8,
    pub warmup_sent: u32,
    pub warmup_spam: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Lead {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone_number: String,
    pub company_name: String,
    pub website: String,
    pub company_url: String,
    pub location: String,
    pub linkedin_profile: String,
    pub custom_fields: Vec<(String, String)>,
    pub is_unsubscribed: bool,
    pub created_at: DateTime<Utc>,
    /// Indexes into `Data::memberships`.
    pub memberships: Vec<u32>,
}

impl Lead {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }

    pub fn custom_fields_json(&self) -> Value {
        let map: serde_json::Map<String, Value> = self
            .custom_fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Value::Object(map)
    }

    /// The `lead` object of the campaign leads page and `/leads/?email=`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone_number": self.phone_number,
            "company_name": self.company_name,
            "website": self.website,
            "location": self.location,
            "custom_fields": self.custom_fields_json(),
            "linkedin_profile": self.linkedin_profile,
            "company_url": self.company_url,
            "is_unsubscribed": self.is_unsubscribed,
            "unsubscribed_client_id_map": {},
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeadStatus {
    Started,
    InProgress,
    Completed,
    Paused,
    Stopped,
    Blocked,
}

impl LeadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::InProgress => "INPROGRESS",
            Self::Completed => "COMPLETED",
            Self::Paused => "PAUSED",
            Self::Stopped => "STOPPED",
            Self::Blocked => "BLOCKED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Sent,
    Reply,
}

/// The six kinds of generated replies; each maps onto a default category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    Interested,
    MeetingRequest,
    OutOfOffice,
    NotInterested,
    InformationRequest,
    WrongPerson,
}

impl ReplyKind {
    pub const ALL: [ReplyKind; 6] = [
        Self::Interested,
        Self::MeetingRequest,
        Self::OutOfOffice,
        Self::NotInterested,
        Self::InformationRequest,
        Self::WrongPerson,
    ];

    pub fn category_id(self) -> i64 {
        match self {
            Self::Interested => 1,
            Self::MeetingRequest => 2,
            Self::NotInterested => 3,
            Self::InformationRequest => 5,
            Self::OutOfOffice => 6,
            Self::WrongPerson => 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CustomContent {
    pub subject: Option<String>,
    pub body: String,
    pub message_id: String,
    pub cc: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    /// A sequence step (and its variant) rendered for the lead.
    Step,
    /// A generated reply: kind plus which of its templates.
    Reply { kind: ReplyKind, template: u8 },
    /// Text that came in through the API (manual replies, injected replies).
    Custom(Box<CustomContent>),
}

#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub kind: MessageKind,
    pub stats_id: Uuid,
    /// Seeds the RFC 5322 Message-ID of generated messages.
    pub token: u64,
    pub time: DateTime<Utc>,
    /// 1-based step number; `None` for manual replies sent from the inbox.
    pub seq_number: Option<u8>,
    pub variant: u8,
    pub open_count: u16,
    pub click_count: u16,
    pub bounced: bool,
    pub content: Content,
}

/// How long after a send the emulator places its first open and click.
const OPEN_AFTER_MINUTES: i64 = 42;
const CLICK_AFTER_MINUTES: i64 = 47;

impl Message {
    pub fn is_sequence_send(&self) -> bool {
        self.kind == MessageKind::Sent && self.seq_number.is_some()
    }

    /// When the email was first opened, if it was.
    pub fn open_time(&self) -> Option<DateTime<Utc>> {
        (self.open_count > 0).then(|| self.time + chrono::Duration::minutes(OPEN_AFTER_MINUTES))
    }

    /// When a link in the email was first clicked, if one was.
    pub fn click_time(&self) -> Option<DateTime<Utc>> {
        (self.click_count > 0).then(|| self.time + chrono::Duration::minutes(CLICK_AFTER_MINUTES))
    }

    /// Every event this item carries: the send or the reply itself (a bounce
    /// happens at the send), then its open and click.
    pub fn event_times(&self) -> impl Iterator<Item = DateTime<Utc>> {
        [Some(self.time), self.open_time(), self.click_time()]
            .into_iter()
            .flatten()
    }

    /// Whether one of its events happened after `since` and by `now` (an open
    /// placed after `now` has not happened yet).
    pub fn has_event_between(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.event_times().any(|t| t > since && t <= now)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub map_id: i64,
    pub lead: u32,
    pub campaign: u32,
    pub account: u32,
    pub status: LeadStatus,
    pub category_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// When the category was last set through the API or by an injected reply
    /// (generated categories arrive with the reply or bounce that set them).
    pub category_changed_at: Option<DateTime<Utc>>,
    pub history: Vec<Message>,
}

impl Membership {
    /// `event_time_gt`: whether the membership had an event after `since`
    /// (and by `now`). Events are what Smartlead reports per lead: sends,
    /// opens, clicks, replies, bounces (at the send), the unsubscribe and a
    /// category change. Being added to the campaign is not one: that is
    /// `created_at`, which has its own filter (`created_at_gt`).
    pub fn has_event_between(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let in_window = |t: DateTime<Utc>| t > since && t <= now;
        self.unsubscribed_at.is_some_and(in_window)
            || self.category_changed_at.is_some_and(in_window)
            || self.history.iter().any(|m| m.has_event_between(since, now))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Category {
    pub id: i64,
    pub name: String,
    pub sentiment_type: Option<&'static str>,
    pub created_at: DateTime<Utc>,
}

/// Everything the Smartlead emulator knows; guarded by one lock in `SmartleadState`.
#[derive(Debug, Clone)]
pub(crate) struct Data {
    pub user_id: i64,
    pub clients: Vec<Client>,
    pub campaigns: Vec<Campaign>,
    pub accounts: Vec<EmailAccount>,
    pub leads: Vec<Lead>,
    pub memberships: Vec<Membership>,
    pub categories: Vec<Category>,
    pub lead_by_id: HashMap<i64, u32>,
    pub lead_by_email: HashMap<String, u32>,
    pub next_campaign_id: i64,
    pub next_lead_id: i64,
    pub next_map_id: i64,
    pub next_webhook_id: i64,
    pub next_token: u64,
}

impl Data {
    pub fn campaign_index(&self, id: i64) -> Option<usize> {
        self.campaigns.iter().position(|c| c.id == id)
    }

    pub fn membership_of(&self, campaign: usize, lead_id: i64) -> Option<usize> {
        let lead = *self.lead_by_id.get(&lead_id)?;
        self.leads[lead as usize]
            .memberships
            .iter()
            .map(|&m| m as usize)
            .find(|&m| self.memberships[m].campaign as usize == campaign)
    }

    pub fn category_name(&self, id: Option<i64>) -> Option<&str> {
        let id = id?;
        self.categories
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    }

    pub fn take_token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }
}

/// ISO 8601 with milliseconds and `Z`, as Smartlead emits.
pub(crate) fn iso(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
