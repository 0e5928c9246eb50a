//! Campaigns, their analytics, daily snapshots and sending mailboxes.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Counters as Smartlead's campaign analytics report them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub sent: u64,
    pub unique_sent: u64,
    pub opened: u64,
    pub unique_opened: u64,
    pub clicked: u64,
    pub unique_clicked: u64,
    pub replied: u64,
    pub bounced: u64,
    pub unsubscribed: u64,
    pub spam_reported: u64,
    pub blocked: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.unique_sent += other.unique_sent;
        self.opened += other.opened;
        self.unique_opened += other.unique_opened;
        self.clicked += other.clicked;
        self.unique_clicked += other.unique_clicked;
        self.replied += other.replied;
        self.bounced += other.bounced;
        self.unsubscribed += other.unsubscribed;
        self.spam_reported += other.spam_reported;
        self.blocked += other.blocked;
    }

    /// Delivered = sent minus bounced (Smartlead has no delivery event).
    pub fn delivered(&self) -> u64 {
        self.sent.saturating_sub(self.bounced)
    }
}

/// Lead progress inside a campaign (`campaign_lead_stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadStats {
    pub total: u64,
    pub not_started: u64,
    pub in_progress: u64,
    pub completed: u64,
    pub paused: u64,
    pub stopped: u64,
    pub blocked: u64,
    pub interested: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub account: String,
    pub id: i64,
    pub name: String,
    pub status: String,
    pub client_id: Option<i64>,
    pub parent_campaign_id: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub sequence_count: u32,
    pub counts: Counts,
    pub lead_stats: LeadStats,
    /// The sending mailboxes (Smartlead email account ids) attached to it.
    pub email_account_ids: Vec<i64>,
    pub timezone: Option<String>,
    pub synced_at: Option<DateTime<Utc>>,
}

impl Campaign {
    pub fn key(&self) -> String {
        Self::key_for(&self.account, self.id)
    }

    pub fn key_for(account: &str, id: i64) -> String {
        super::scoped_key(account, id)
    }
}

/// One day of a campaign's analytics, for the charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignDay {
    pub account: String,
    pub campaign_id: i64,
    pub date: NaiveDate,
    pub counts: Counts,
}

impl CampaignDay {
    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            Campaign::key_for(&self.account, self.campaign_id),
            self.date.format("%Y-%m-%d")
        )
    }

    /// The prefix under which all days of one campaign sort by date.
    pub fn prefix_for(account: &str, campaign_id: i64) -> String {
        format!("{}/", Campaign::key_for(account, campaign_id))
    }
}

/// A sending mailbox known to Smartlead, with its deliverability figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    pub account: String,
    pub id: i64,
    pub from_email: String,
    pub from_name: Option<String>,
    pub kind: Option<String>,
    pub daily_limit: Option<u64>,
    pub sent_today: Option<u64>,
    pub warmup_status: Option<String>,
    pub warmup_reputation: Option<String>,
    pub warmup_sent: Option<u64>,
    pub warmup_spam: Option<u64>,
    pub client_id: Option<i64>,
}

impl Mailbox {
    pub fn key(&self) -> String {
        super::scoped_key(&self.account, self.id)
    }
}
