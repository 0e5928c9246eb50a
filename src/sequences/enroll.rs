//! Enrolling leads: one address, or many from a CSV file. Duplicates and
//! suppressed (bounced, unsubscribed) addresses are skipped; unless forced,
//! so is a lead the guard holds back (replied, Interested / Meeting Request /
//! Do Not Contact, active in a Smartlead campaign or another sequence); each
//! with its reason.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::scheduler::is_suppressed;
use super::{SequenceError, SequenceResult};
use crate::model::*;
use crate::store::{Index, Store, keys::KeyBuf};

/// A lead as given on the command line or in a CSV row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadInput {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub timezone: Option<String>,
    pub custom_fields: BTreeMap<String, String>,
    /// The CSV line it came from, for messages.
    pub line: Option<u64>,
}

impl LeadInput {
    pub fn email(email: &str) -> Self {
        Self {
            email: email.to_string(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub email: String,
    pub line: Option<u64>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnrollReport {
    pub sequence: String,
    pub enrolled: Vec<Enrollment>,
    pub skipped: Vec<Skipped>,
}

/// Reads leads from CSV with a header row. `email` is required; `first_name`,
/// `last_name`, `company` (or `company_name`) and `timezone` are lead fields;
/// every other column becomes a custom field.
pub fn read_leads_csv(reader: impl Read, file: &str) -> SequenceResult<Vec<LeadInput>> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(reader);
    let headers: Vec<String> = csv
        .headers()
        .map_err(|e| SequenceError::Invalid(format!("{file}: cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase().replace([' ', '-'], "_"))
        .collect();
    if !headers.iter().any(|h| h == "email") {
        return Err(SequenceError::Invalid(format!(
            "{file}:1: the header row has no `email` column (found: {})",
            headers.join(", ")
        )));
    }
    let mut out = Vec::new();
    for row in csv.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            SequenceError::Invalid(format!("{file}:{line}: {e}"))
        })?;
        let line = row.position().map(|p| p.line());
        let mut input = LeadInput {
            line,
            ..LeadInput::default()
        };
        for (header, value) in headers.iter().zip(row.iter()) {
            let value = value.trim();
            let some = (!value.is_empty()).then(|| value.to_string());
            match header.as_str() {
                "email" => input.email = value.to_string(),
                "first_name" => input.first_name = some,
                "last_name" => input.last_name = some,
                "company" | "company_name" => input.company = some,
                "timezone" | "time_zone" => input.timezone = some,
                other => {
                    if let Some(v) = some {
                        input.custom_fields.insert(other.to_string(), v);
                    }
                }
            }
        }
        out.push(input);
    }
    Ok(out)
}

/// Enrolls leads in a sequence, first due at `start`.
pub fn enroll_leads(
    store: &Store,
    sequence: &str,
    inputs: &[LeadInput],
    start: DateTime<Utc>,
    force: bool,
    now: DateTime<Utc>,
) -> SequenceResult<EnrollReport> {
    let seq = store.get::<Sequence>(sequence)?.ok_or_else(|| {
        SequenceError::NotFound(format!(
            "no sequence named {sequence:?}; `outpost sequence list` shows them, `outpost sequence apply FILE` adds one"
        ))
    })?;
    let mut report = EnrollReport {
        sequence: seq.name.clone(),
        ..EnrollReport::default()
    };
    let mut seen: BTreeMap<String, Option<u64>> = BTreeMap::new();
    let mut leads = Vec::new();
    for input in inputs {
        let email = normalize_email(&input.email);
        let skip = |reason: String| Skipped {
            email: email.clone(),
            line: input.line,
            reason,
        };
        if !crate::model::is_valid_email(&email) {
            report
                .skipped
                .push(skip(format!("{:?} is not an email address", input.email)));
            continue;
        }
        if let Some(first) = seen.get(&email) {
            let at = first
                .map(|l| format!(" (first on line {l})"))
                .unwrap_or_default();
            report.skipped.push(skip(format!("duplicate{at}")));
            continue;
        }
        seen.insert(email.clone(), input.line);
        // A suppression is never overridden: the scheduler would stop at
        // the first email anyway.
        if let Some(s) = is_suppressed(store, &email)? {
            report.skipped.push(skip(format!(
                "suppressed: {} on {} (--force does not override a suppression)",
                suppression_words(s.reason),
                s.at.format("%Y-%m-%d")
            )));
            continue;
        }
        let prefix = KeyBuf::new().text(&email).into_prefix();
        let existing: Vec<Enrollment> = store
            .by_index::<Enrollment>(Index::EnrollmentsByLead, &prefix, false)
            .collect::<Result<_, _>>()?;
        if let Some(e) = existing.iter().find(|e| e.sequence == seq.name) {
            report.skipped.push(skip(format!(
                "already enrolled ({}, {})",
                e.state.as_str(),
                e.id
            )));
            continue;
        }
        let busy = existing
            .iter()
            .find(|e| matches!(e.state, EnrollmentState::Active | EnrollmentState::Paused));
        if let (Some(e), false) = (busy, force) {
            report.skipped.push(skip(format!(
                "{} in sequence {:?}; pass --force to enroll anyway",
                e.state.as_str(),
                e.sequence
            )));
            continue;
        }
        if !force && let Some(why) = guard_refusal(store, &email)? {
            report
                .skipped
                .push(skip(format!("{why}; pass --force to enroll anyway")));
            continue;
        }
        if let Some(lead) = merged_lead(store, &seq.account, &email, input)? {
            leads.push(lead);
        }
        report.enrolled.push(Enrollment {
            id: uuid::Uuid::new_v4().to_string(),
            account: seq.account.clone(),
            sequence: seq.name.clone(),
            lead_email: email,
            state: EnrollmentState::Active,
            reason: None,
            current_step: 0,
            next_due_at: Some(start),
            enrolled_at: now,
            started_at: start,
            updated_at: now,
            mailbox: None,
            thread_id: None,
            last_message_id: None,
            references: Vec::new(),
            last_subject: None,
            variants: BTreeMap::new(),
            resume_at: None,
        });
    }
    for chunk in leads.chunks(1000) {
        store.put_all(chunk)?;
    }
    for chunk in report.enrolled.chunks(1000) {
        store.put_all(chunk)?;
    }
    Ok(report)
}

fn suppression_words(reason: SuppressionReason) -> &'static str {
    match reason {
        SuppressionReason::Unsubscribed => "unsubscribed",
        SuppressionReason::Bounced => "address bounced",
        SuppressionReason::SpamReported => "marked as spam",
        SuppressionReason::Manual => "suppressed by hand",
    }
}

/// Categories that mean a person is already talking to the rep, or must
/// not be written to: Smartlead's defaults 1, 2 and 4.
const HANDS_OFF_CATEGORIES: [(i64, &str); 3] = [
    (1, "Interested"),
    (2, "Meeting Request"),
    (4, "Do Not Contact"),
];

/// Smartlead lead statuses under which a campaign still writes to the lead.
const ACTIVE_CAMPAIGN_STATUSES: [&str; 3] = ["STARTED", "INPROGRESS", "PAUSED"];

/// Why a lead should not get a sequence's cold emails, from what every
/// account knows of the address: an answer already given, a category that
/// means hands off, a Smartlead campaign still writing to it, or an
/// unsubscribe recorded on the lead. None when nothing stands in the way.
pub(crate) fn guard_refusal(store: &Store, email: &str) -> SequenceResult<Option<String>> {
    let prefix = KeyBuf::new().text(email).into_prefix();
    let leads: Vec<Lead> = store
        .by_index::<Lead>(Index::LeadsByEmail, &prefix, false)
        .collect::<Result<_, _>>()?;
    for lead in &leads {
        if lead.unsubscribed {
            return Ok(Some(format!("unsubscribed in {}", lead.account)));
        }
        let named = lead.category.as_ref().and_then(|c| {
            HANDS_OFF_CATEGORIES
                .iter()
                .find(|(_, name)| c.name.eq_ignore_ascii_case(name))
                .map(|(_, name)| *name)
        });
        let by_membership = lead.memberships.iter().find_map(|m| {
            HANDS_OFF_CATEGORIES
                .iter()
                .find(|(id, _)| m.category_id == Some(*id))
                .map(|(_, name)| *name)
        });
        if let Some(category) = named.or(by_membership) {
            return Ok(Some(format!("marked {category} in {}", lead.account)));
        }
        let campaign = lead.memberships.iter().find(|m| {
            m.status.as_deref().is_some_and(|s| {
                ACTIVE_CAMPAIGN_STATUSES
                    .iter()
                    .any(|a| s.eq_ignore_ascii_case(a))
            })
        });
        if let Some(m) = campaign {
            let name = m
                .campaign_name
                .as_ref()
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            return Ok(Some(format!(
                "active in Smartlead campaign {}{name} ({})",
                m.campaign_id,
                m.status.as_deref().unwrap_or_default().to_lowercase()
            )));
        }
    }
    // Replies are looked up in every account: a Gmail answer is kept under
    // the mailbox's account, not the Smartlead lead's.
    for account in store.iter::<Account>() {
        let account = account?;
        let events = store.activity_events(&Lead::key_for(&account.name, email), None)?;
        if let Some(reply) = events
            .iter()
            .rev()
            .find(|e| e.kind.base() == EventType::EmailReplied)
        {
            return Ok(Some(format!(
                "replied on {} ({})",
                reply.at.format("%Y-%m-%d"),
                account.name
            )));
        }
    }
    Ok(None)
}

/// The lead record to write: the input's fields over what the store has (None
/// when there is nothing new to say).
fn merged_lead(
    store: &Store,
    account: &str,
    email: &str,
    input: &LeadInput,
) -> SequenceResult<Option<Lead>> {
    let existing = store.get::<Lead>(&Lead::key_for(account, email))?;
    let known_elsewhere = existing.is_some()
        || store.index_len(
            Index::LeadsByEmail,
            &KeyBuf::new().text(email).into_prefix(),
        ) > 0;
    let has_data = input.first_name.is_some()
        || input.last_name.is_some()
        || input.company.is_some()
        || input.timezone.is_some()
        || !input.custom_fields.is_empty();
    if known_elsewhere && !has_data {
        return Ok(None);
    }
    let mut lead = existing.unwrap_or_else(|| Lead::new(account, email));
    let set = |field: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            *field = value.clone();
        }
    };
    set(&mut lead.first_name, &input.first_name);
    set(&mut lead.last_name, &input.last_name);
    set(&mut lead.company, &input.company);
    set(&mut lead.timezone, &input.timezone);
    lead.custom_fields.extend(input.custom_fields.clone());
    Ok(Some(lead))
}

/// Every custom field name known in the store (for template checks).
pub(crate) fn known_custom_fields(store: &Store) -> SequenceResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for lead in store.iter::<Lead>() {
        out.extend(lead?.custom_fields.into_keys());
    }
    Ok(out)
}
