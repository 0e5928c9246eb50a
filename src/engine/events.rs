//! The single door for email events, whatever brought them (sync, webhook,
//! tracking): dedupe, keep each lead's last interaction current, and let the
//! sequences react.

use std::collections::BTreeMap;

use super::Engine;
use crate::model::*;
use crate::store::StoreResult;

impl Engine {
    /// Stores the events not seen before and returns those. Each lead's last
    /// interaction (in the event's account and any other account that knows the
    /// address) moves forward when an event is newer.
    pub fn record_events(&self, events: &[EmailEvent]) -> StoreResult<Vec<EmailEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Dedupe within the batch first; the store dedupes against the past.
        let mut unique: BTreeMap<String, &EmailEvent> = BTreeMap::new();
        for event in events {
            unique.entry(event.id.clone()).or_insert(event);
        }
        let mut fresh = Vec::new();
        for event in unique.values() {
            if !self.store.contains::<EmailEvent>(&event.id)? {
                fresh.push((*event).clone());
            }
        }
        if fresh.is_empty() {
            return Ok(fresh);
        }
        self.store.insert_new(&fresh)?;
        self.advance_leads(&fresh)?;
        self.after_new_events(&fresh)?;
        Ok(fresh)
    }

    /// The newest interaction with an address recorded under any account
    /// (a lead first seen in one account may have Gmail activity in another).
    pub fn newest_event_for(
        &self,
        email: &str,
    ) -> StoreResult<Option<(EventType, chrono::DateTime<chrono::Utc>)>> {
        let email = normalize_email(email);
        let mut newest: Option<(EventType, chrono::DateTime<chrono::Utc>)> = None;
        for account in self.store.iter::<Account>() {
            let account = account?;
            let prefix = crate::store::keys::KeyBuf::new()
                .text(&Lead::key_for(&account.name, &email))
                .into_prefix();
            for event in
                self.store
                    .by_index::<EmailEvent>(crate::store::Index::EventsByLead, &prefix, true)
            {
                let event = event?;
                if event.kind == EventType::CategoryChanged {
                    continue;
                }
                if newest.is_none_or(|(kind, at)| (event.at, event.kind) > (at, kind)) {
                    newest = Some((event.kind, event.at));
                }
                break;
            }
        }
        Ok(newest)
    }

    fn advance_leads(&self, events: &[EmailEvent]) -> StoreResult<()> {
        let _guard = self.lock_leads();
        let mut touched: BTreeMap<String, Lead> = BTreeMap::new();
        for event in events {
            if event.kind == EventType::CategoryChanged {
                continue;
            }
            let email = normalize_email(&event.lead_email);
            let prefix = crate::store::keys::KeyBuf::new().text(&email).into_prefix();
            let keys: Vec<String> = self
                .store
                .index_keys(crate::store::Index::LeadsByEmail, &prefix, false)
                .map(|item| item.map(|(_, key)| key))
                .collect::<StoreResult<_>>()?;
            for key in keys {
                let lead = match touched.remove(&key) {
                    Some(lead) => Some(lead),
                    None => self.store.get::<Lead>(&key)?,
                };
                if let Some(mut lead) = lead {
                    lead.note_event(event.kind, event.at);
                    if event.kind == EventType::EmailUnsubscribed {
                        lead.unsubscribed = true;
                    }
                    touched.insert(key, lead);
                }
            }
        }
        let leads: Vec<Lead> = touched.into_values().collect();
        self.store.put_all(&leads)?;
        Ok(())
    }
}
