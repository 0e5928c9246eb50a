//! Changes to lead records, gathered over a batch and applied to each lead
//! as it is stored when they are written: a compare-and-swap per lead, run
//! again on a fresh read when another writer (a sync, another replica's
//! webhook writer) changed the lead meanwhile. So no writer undoes another's
//! change, without a lock that only one process could hold.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::Engine;
use crate::model::{Category, EventType, Lead, Membership};
use crate::store::StoreResult;

/// What a Smartlead webhook says about its lead.
#[derive(Debug, Clone)]
pub struct PayloadLead {
    pub account: String,
    pub email: String,
    /// "First Last", used only when the lead is new.
    pub name: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub lead_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub map_id: Option<i64>,
    pub campaign_name: Option<String>,
    /// The category it moved the lead to, completed from the account's list.
    pub category: Option<Category>,
}

/// One change to one lead, as a function of the lead as stored.
#[derive(Debug, Clone)]
pub enum LeadEdit {
    /// The lead exists (a webhook can arrive before the first sync), with the
    /// payload's ids, membership and category.
    Payload(Box<PayloadLead>),
    /// An event moves the lead's last interaction; an unsubscribe marks it.
    Event { kind: EventType, at: DateTime<Utc> },
}

impl LeadEdit {
    /// The lead after this change; None when there is no lead to change.
    pub fn apply(&self, lead: Option<Lead>) -> Option<Lead> {
        match self {
            LeadEdit::Payload(p) => Some(apply_payload(lead, p)),
            LeadEdit::Event { kind, at } => {
                let mut lead = lead?;
                lead.note_event(*kind, *at);
                if *kind == EventType::EmailUnsubscribed {
                    lead.unsubscribed = true;
                }
                Some(lead)
            }
        }
    }
}

fn apply_payload(lead: Option<Lead>, p: &PayloadLead) -> Lead {
    let mut lead = lead.unwrap_or_else(|| {
        let mut lead = Lead::new(&p.account, &p.email);
        if let Some(name) = &p.name {
            let mut parts = name.splitn(2, ' ');
            lead.first_name = parts.next().map(str::to_string).filter(|s| !s.is_empty());
            lead.last_name = parts.next().map(str::to_string).filter(|s| !s.is_empty());
        }
        lead.created_at = p.at;
        lead
    });
    if lead.smartlead_lead_id.is_none() {
        lead.smartlead_lead_id = p.lead_id;
    }
    if let Some(campaign_id) = p.campaign_id {
        match lead
            .memberships
            .iter_mut()
            .find(|m| m.campaign_id == campaign_id)
        {
            Some(m) => {
                if m.map_id.is_none() {
                    m.map_id = p.map_id;
                }
                if m.campaign_name.is_none() {
                    m.campaign_name = p.campaign_name.clone();
                }
            }
            None => {
                lead.memberships.push(Membership {
                    campaign_id,
                    campaign_name: p.campaign_name.clone(),
                    map_id: p.map_id,
                    status: None,
                    category_id: None,
                });
                lead.memberships.sort_by_key(|m| m.campaign_id);
            }
        }
    }
    if let Some(category) = &p.category {
        if let Some(campaign_id) = p.campaign_id {
            for m in lead
                .memberships
                .iter_mut()
                .filter(|m| m.campaign_id == campaign_id)
            {
                m.category_id = Some(category.id);
            }
        }
        lead.category = Some(category.clone());
    }
    lead
}

/// A batch's lead changes: the edits per lead, and each changed lead as the
/// batch sees it so far (read from here first: a lead the batch created is
/// found though no index knows it yet).
#[derive(Debug, Default)]
pub struct LeadChanges {
    edits: BTreeMap<String, Vec<LeadEdit>>,
    view: BTreeMap<String, Lead>,
}

impl LeadChanges {
    /// The lead as the batch has it, when the batch changed it.
    pub fn get(&self, key: &str) -> Option<&Lead> {
        self.view.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.view.contains_key(key)
    }

    /// Applies `edit` to the lead at `key` (as the batch has it, else
    /// `stored`), keeps it for the write, and returns the lead after it.
    /// An edit that changes nothing on a lead the batch has not touched is
    /// not kept: there is nothing to write.
    pub fn push(&mut self, key: &str, stored: Option<Lead>, edit: LeadEdit) -> Option<Lead> {
        let pending = self.view.contains_key(key);
        let before = match self.view.get(key) {
            Some(lead) => Some(lead.clone()),
            None => stored,
        };
        let after = edit.apply(before.clone())?;
        if !pending && before.as_ref() == Some(&after) {
            return Some(after);
        }
        self.edits.entry(key.to_string()).or_default().push(edit);
        self.view.insert(key.to_string(), after.clone());
        Some(after)
    }

    /// The leads the batch changed, by key.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.edits.keys()
    }

    pub fn len(&self) -> usize {
        self.edits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }
}

impl Engine {
    /// Writes a batch's lead changes, each lead on its own: its edits are
    /// applied to the lead as stored, in a compare-and-swap that runs again
    /// on a fresh read when someone else wrote the lead first. Returns how
    /// many leads were written.
    pub(crate) fn write_lead_changes(&self, changes: LeadChanges) -> StoreResult<usize> {
        if changes.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = changes.edits.keys().cloned().collect();
        let written = self.store.modify_each::<Lead, ()>(&keys, |key, stored| {
            let edits = changes.edits.get(key)?;
            let lead = edits
                .iter()
                .fold(stored.clone(), |lead, edit| edit.apply(lead))?;
            (stored.as_ref() != Some(&lead)).then_some((lead, ()))
        })?;
        Ok(written.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::FakeClock;
    use crate::store::Store;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_770_000_000 + minute * 60, 0).expect("time")
    }

    fn payload(category: Option<&str>) -> LeadEdit {
        LeadEdit::Payload(Box::new(PayloadLead {
            account: "acme".into(),
            email: "ann@example.com".into(),
            name: Some("Ann Lee".into()),
            at: Some(at(0)),
            lead_id: Some(7),
            campaign_id: Some(42),
            map_id: Some(9),
            campaign_name: Some("Q3".into()),
            category: category.map(|name| Category {
                id: 3,
                name: name.into(),
                sentiment: None,
            }),
        }))
    }

    #[test]
    fn a_batch_written_over_a_lead_changed_meanwhile_keeps_both_changes() {
        // Another replica moves the lead's last event after this batch read
        // it; the batch's category lands on the newer record, the event stays.
        let engine = Engine::new(
            Store::temporary().expect("store"),
            Arc::new(FakeClock::new(at(0))),
        );
        let key = Lead::key_for("acme", "ann@example.com");
        let stored = Lead::new("acme", "ann@example.com");
        engine.store().put(&stored).expect("put");
        let mut changes = LeadChanges::default();
        let seen = changes
            .push(&key, Some(stored.clone()), payload(Some("Interested")))
            .expect("a lead");
        assert_eq!(seen.first_name, None, "an existing lead keeps its name");
        let mut meanwhile = stored.clone();
        meanwhile.note_event(EventType::EmailOpened, at(30));
        engine.store().put(&meanwhile).expect("the other writer");
        assert_eq!(engine.write_lead_changes(changes).expect("write"), 1);
        let lead: Lead = engine.store().get(&key).expect("get").expect("lead");
        assert_eq!(lead.category.map(|c| c.name), Some("Interested".into()));
        assert_eq!(lead.last_event_at, Some(at(30)), "the other change stands");
        assert_eq!(lead.memberships.len(), 1);
    }

    #[test]
    fn an_event_for_no_lead_changes_nothing_and_an_unchanged_lead_is_not_kept() {
        let mut changes = LeadChanges::default();
        let event = LeadEdit::Event {
            kind: EventType::EmailOpened,
            at: at(5),
        };
        assert!(changes.push("acme/x", None, event.clone()).is_none());
        let mut lead = Lead::new("acme", "ann@example.com");
        lead.note_event(EventType::EmailReplied, at(9));
        changes.push(&lead.key(), Some(lead.clone()), event);
        assert!(changes.is_empty(), "an older event moves nothing");
        let created = changes
            .push("acme/ann@example.com", None, payload(None))
            .expect("created");
        assert_eq!(created.first_name.as_deref(), Some("Ann"));
        assert_eq!(changes.len(), 1);
    }
}
