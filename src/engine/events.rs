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
        let fresh = self.store_events(events)?;
        if fresh.is_empty() {
            return Ok(fresh);
        }
        self.advance_leads(&fresh)?;
        self.after_new_events(&fresh)?;
        Ok(fresh)
    }

    /// Stores the events not seen before, each in its lead's activity record,
    /// and returns them. Dedupe (within the batch and against what is stored)
    /// happens inside the write's transaction, so two writers racing with the
    /// same fact store it once.
    pub(crate) fn store_events(&self, events: &[EmailEvent]) -> StoreResult<Vec<EmailEvent>> {
        let mut by_lead: BTreeMap<String, Vec<&EmailEvent>> = BTreeMap::new();
        for event in events {
            by_lead.entry(event.lead_key()).or_default().push(event);
        }
        let keys: Vec<String> = by_lead.keys().cloned().collect();
        let fresh = self
            .store
            .modify::<Activity, Vec<EmailEvent>>(&keys, |key, current| {
                let incoming = by_lead.get(key)?;
                let first = incoming.first()?;
                let mut activity =
                    current.unwrap_or_else(|| Activity::new(&first.account, &first.lead_email));
                let mut added = Vec::new();
                for event in incoming {
                    if activity.insert((*event).clone()) {
                        added.push((*event).clone());
                    }
                }
                (!added.is_empty()).then_some((activity, added))
            })?;
        Ok(fresh.into_iter().flatten().collect())
    }

    /// Every event stored for one lead key (`account/email`), oldest first.
    pub fn lead_events(&self, lead_key: &str) -> StoreResult<Vec<EmailEvent>> {
        Ok(self
            .store
            .get::<Activity>(lead_key)?
            .map(|a| a.events)
            .unwrap_or_default())
    }

    /// Every stored event, lead by lead (checks, tests, exports).
    pub fn all_events(&self) -> impl Iterator<Item = StoreResult<EmailEvent>> + '_ {
        self.store
            .iter::<Activity>()
            .flat_map(|activity| match activity {
                Ok(a) => a.events.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
    }

    /// How many events are stored (reads every activity record).
    pub fn event_count(&self) -> StoreResult<usize> {
        let mut count = 0;
        for activity in self.store.iter::<Activity>() {
            count += activity?.events.len();
        }
        Ok(count)
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
            let Some(activity) = self
                .store
                .get::<Activity>(&Lead::key_for(&account.name, &email))?
            else {
                continue;
            };
            let latest = activity
                .events
                .iter()
                .rev()
                .find(|e| e.kind != EventType::CategoryChanged);
            if let Some(event) = latest
                && newest.is_none_or(|(kind, at)| (event.at, event.kind) > (at, kind))
            {
                newest = Some((event.kind, event.at));
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
