//! Leads: the people a rep writes to, with their campaign memberships.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EventType;

/// A reply category (Smartlead's lead categories: Interested, Out Of Office, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub id: i64,
    pub name: String,
    /// "positive", "negative" or None, as Smartlead reports it.
    pub sentiment: Option<String>,
}

/// One campaign a lead belongs to. Smartlead keeps status and category per
/// membership, under the campaign-lead map id (not the lead id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub campaign_id: i64,
    pub campaign_name: Option<String>,
    /// Smartlead's `campaign_lead_map_id` (= webhook `sl_email_lead_map_id`).
    pub map_id: Option<i64>,
    pub status: Option<String>,
    pub category_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub account: String,
    /// Lower-cased address; with the account it is the key.
    pub email: String,
    /// Smartlead's account-wide lead id (= webhook `sl_email_lead_id`).
    pub smartlead_lead_id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub linkedin_url: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub location: Option<String>,
    /// IANA timezone used for sending windows, when known.
    pub timezone: Option<String>,
    pub custom_fields: BTreeMap<String, String>,
    pub category: Option<Category>,
    pub status: Option<String>,
    pub last_event: Option<EventType>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub memberships: Vec<Membership>,
    pub unsubscribed: bool,
    pub created_at: Option<DateTime<Utc>>,
}

impl Lead {
    pub fn new(account: &str, email: &str) -> Self {
        Self {
            account: account.to_string(),
            email: super::normalize_email(email),
            smartlead_lead_id: None,
            first_name: None,
            last_name: None,
            company: None,
            linkedin_url: None,
            phone: None,
            website: None,
            location: None,
            timezone: None,
            custom_fields: BTreeMap::new(),
            category: None,
            status: None,
            last_event: None,
            last_event_at: None,
            memberships: Vec::new(),
            unsubscribed: false,
            created_at: None,
        }
    }

    pub fn key(&self) -> String {
        super::scoped_key(&self.account, &self.email)
    }

    pub fn key_for(account: &str, email: &str) -> String {
        super::scoped_key(account, super::normalize_email(email))
    }

    pub fn full_name(&self) -> String {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .collect();
        parts.join(" ")
    }

    /// Keeps the newest event as the lead's "last interaction".
    pub fn note_event(&mut self, kind: EventType, at: DateTime<Utc>) -> bool {
        if kind == EventType::CategoryChanged {
            return false;
        }
        match self.last_event_at {
            Some(prev) if prev > at => false,
            // Same instant: the later stage of the lifecycle wins (a bounce
            // over the send it bounced), so the result never depends on order.
            Some(prev) if prev == at && self.last_event.is_some_and(|k| k >= kind) => false,
            _ => {
                self.last_event = Some(kind);
                self.last_event_at = Some(at);
                true
            }
        }
    }

    pub fn membership(&self, campaign_id: i64) -> Option<&Membership> {
        self.memberships
            .iter()
            .find(|m| m.campaign_id == campaign_id)
    }

    /// The value of a template variable: a standard field or a custom field.
    pub fn field(&self, name: &str) -> Option<String> {
        let value = match name {
            "first_name" => self.first_name.clone(),
            "last_name" => self.last_name.clone(),
            "company" | "company_name" => self.company.clone(),
            "email" => Some(self.email.clone()),
            "phone" | "phone_number" => self.phone.clone(),
            "website" => self.website.clone(),
            "linkedin_url" | "linkedin_profile" => self.linkedin_url.clone(),
            "location" => self.location.clone(),
            "full_name" => Some(self.full_name()).filter(|n| !n.is_empty()),
            other => self.custom_fields.get(other).cloned(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// The standard variables every lead can answer (custom fields come on top).
    pub const STANDARD_FIELDS: &'static [&'static str] = &[
        "first_name",
        "last_name",
        "company",
        "company_name",
        "email",
        "phone",
        "phone_number",
        "website",
        "linkedin_url",
        "linkedin_profile",
        "location",
        "full_name",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn last_event_keeps_the_newest() {
        let mut lead = Lead::new("acme", "Dana@Ledgerly.example");
        assert_eq!(lead.email, "dana@ledgerly.example");
        assert!(lead.note_event(EventType::EmailSent, at("2025-06-03T13:00:00Z")));
        assert!(lead.note_event(EventType::EmailReplied, at("2025-06-04T08:00:00Z")));
        assert!(!lead.note_event(EventType::EmailOpened, at("2025-06-03T14:00:00Z")));
        assert_eq!(lead.last_event, Some(EventType::EmailReplied));
        assert!(!lead.note_event(EventType::CategoryChanged, at("2025-06-05T08:00:00Z")));
    }

    #[test]
    fn fields_answer_template_variables() {
        let mut lead = Lead::new("acme", "dana@ledgerly.example");
        lead.first_name = Some("Dana".into());
        lead.custom_fields.insert("role".into(), "CFO".into());
        lead.company = Some("  ".into());
        assert_eq!(lead.field("first_name").as_deref(), Some("Dana"));
        assert_eq!(lead.field("role").as_deref(), Some("CFO"));
        assert_eq!(lead.field("company"), None, "blank counts as missing");
    }
}
