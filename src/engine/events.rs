//! The single door for email events, whatever brought them (sync, webhook,
//! tracking): dedupe, keep each lead's last interaction current, and let the
//! sequences react.

use std::collections::{BTreeMap, HashMap};

use super::{Engine, LeadChanges, LeadEdit};
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
        let mut leads = LeadChanges::default();
        self.advance_leads(&fresh, &mut leads)?;
        self.write_lead_changes(leads)?;
        self.react_to_new_events(&fresh)?;
        Ok(fresh)
    }

    /// Runs the sequences' reactions to events that were new to the store.
    /// Separate from [`Engine::record_events`] for a writer that batches the
    /// steps itself (the daemon's group commit).
    pub(crate) fn react_to_new_events(&self, fresh: &[EmailEvent]) -> StoreResult<()> {
        if fresh.is_empty() {
            return Ok(());
        }
        self.after_new_events(fresh)
    }

    /// Stores the events not seen before, each in its lead's activity record,
    /// and returns them. Dedupe (within the batch and against what is stored)
    /// happens in the same atomic step that writes each activity record, so
    /// two writers racing with the same fact store it once. Records are
    /// written one by one (`Store::modify_each`), not under the store-wide
    /// lock of a transaction: a lead's events are independent of another's.
    pub(crate) fn store_events(&self, events: &[EmailEvent]) -> StoreResult<Vec<EmailEvent>> {
        let mut by_lead: BTreeMap<String, Vec<&EmailEvent>> = BTreeMap::new();
        for event in events {
            by_lead.entry(event.lead_key()).or_default().push(event);
        }
        let keys: Vec<String> = by_lead.keys().cloned().collect();
        // A lookup of the sealed events that fails stops the batch; the
        // change itself cannot return an error.
        let failed = std::cell::RefCell::new(None);
        let fresh = self
            .store
            .modify_each::<Activity, (Vec<EmailEvent>, bool)>(&keys, |key, current| {
                let incoming = by_lead.get(key)?;
                let first = incoming.first()?;
                let mut activity =
                    current.unwrap_or_else(|| Activity::new(&first.account, &first.lead_email));
                let mut added = Vec::new();
                // Most leads have no sealed page: then no event needs the
                // index lookup. (A page sealed after this look changes the
                // record too, so this change runs again on a fresh read.)
                let has_pages = match self.store.has_activity_pages(key) {
                    Ok(has) => has,
                    Err(e) => {
                        *failed.borrow_mut() = Some(e);
                        return None;
                    }
                };
                for event in incoming {
                    if activity.contains(&event.id) {
                        continue;
                    }
                    if !has_pages {
                        if activity.insert((*event).clone()) {
                            added.push((*event).clone());
                        }
                        continue;
                    }
                    match self.store.event_sealed(key, &event.id) {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => {
                            *failed.borrow_mut() = Some(e);
                            return None;
                        }
                    }
                    if activity.insert((*event).clone()) {
                        added.push((*event).clone());
                    }
                }
                let seal = activity.events.len() > crate::store::activity::HEAD_MAX;
                (!added.is_empty()).then_some((activity, (added, seal)))
            })?;
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        let mut out = Vec::new();
        for (added, seal) in fresh {
            if seal && let Some(first) = added.first() {
                self.store.seal_activity(&first.lead_key())?;
            }
            out.extend(added);
        }
        Ok(out)
    }

    /// Every event stored for one lead key (`account/email`), oldest first.
    pub fn lead_events(&self, lead_key: &str) -> StoreResult<Vec<EmailEvent>> {
        self.store.activity_events(lead_key, None)
    }

    /// Every stored event, lead by lead (checks, tests, exports).
    pub fn all_events(&self) -> impl Iterator<Item = StoreResult<EmailEvent>> + '_ {
        self.store.activity_events_with_prefix("")
    }

    /// How many events are stored (reads every activity record and page).
    pub fn event_count(&self) -> StoreResult<usize> {
        let mut count = 0;
        for event in self.all_events() {
            event?;
            count += 1;
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
            let lead_key = Lead::key_for(&account.name, &email);
            let Some(activity) = self.store.get::<Activity>(&lead_key)? else {
                continue;
            };
            // The record holds the newest events (only older ones are
            // sealed into pages), so the pages are read only in the odd
            // case that it holds nothing but category changes.
            let found = activity
                .events
                .iter()
                .rev()
                .find(|e| e.kind != EventType::CategoryChanged)
                .cloned();
            let latest = match found {
                Some(event) => Some(event),
                None => self
                    .store
                    .activity_events(&lead_key, None)?
                    .into_iter()
                    .rev()
                    .find(|e| e.kind != EventType::CategoryChanged),
            };
            let latest = latest.as_ref();
            if let Some(event) = latest
                && newest.is_none_or(|(kind, at)| (event.at, event.kind) > (at, kind))
            {
                newest = Some((event.kind, event.at));
            }
        }
        Ok(newest)
    }

    /// Moves each lead's last interaction forward for `fresh` events, as
    /// changes kept in `leads` (the batch's lead changes so far; a lead the
    /// batch created is found there though no index knows it yet), which
    /// the caller writes with [`Engine::write_lead_changes`].
    pub(crate) fn advance_leads(
        &self,
        fresh: &[EmailEvent],
        leads: &mut LeadChanges,
    ) -> StoreResult<()> {
        // One index walk per address, however many events it has here.
        let mut indexed: HashMap<String, Vec<String>> = HashMap::new();
        for event in fresh {
            if event.kind == EventType::CategoryChanged {
                continue;
            }
            let email = normalize_email(&event.lead_email);
            let mut keys = match indexed.get(&email) {
                Some(keys) => keys.clone(),
                None => {
                    let keys = self.indexed_lead_keys(&email)?;
                    indexed.insert(email.clone(), keys.clone());
                    keys
                }
            };
            let own = Lead::key_for(&event.account, &email);
            if leads.contains(&own) && !keys.contains(&own) {
                keys.push(own);
            }
            for key in &keys {
                let stored = match leads.contains(key) {
                    true => None,
                    false => self.store.get::<Lead>(key)?,
                };
                leads.push(
                    key,
                    stored,
                    LeadEdit::Event {
                        kind: event.kind,
                        at: event.at,
                    },
                );
            }
        }
        Ok(())
    }

    /// Keys of every stored lead with this address, in any account.
    fn indexed_lead_keys(&self, email: &str) -> StoreResult<Vec<String>> {
        let prefix = crate::store::keys::KeyBuf::new().text(email).into_prefix();
        self.store
            .index_keys(crate::store::Index::LeadsByEmail, &prefix, false)
            .map(|item| item.map(|(_, key)| key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::clock::FakeClock;
    use crate::store::Store;

    fn engine() -> Engine {
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        Engine::new(
            Store::temporary().expect("store"),
            Arc::new(FakeClock::new(start)),
        )
    }

    fn open(account: &str, email: &str, id: &str, minute: i64) -> EmailEvent {
        EmailEvent {
            id: id.into(),
            account: account.into(),
            kind: EventType::EmailOpened,
            lead_email: email.into(),
            campaign_id: Some(1),
            sequence_number: Some(1),
            at: DateTime::<Utc>::from_timestamp(1_770_000_000 + minute * 60, 0).expect("time"),
            source: EventSource::Webhook,
            dedupe_key: id.into(),
            message_id: None,
            detail: None,
        }
    }

    #[test]
    fn a_lead_created_in_the_same_batch_is_advanced_before_any_index_knows_it() {
        let engine = engine();
        let mut leads = LeadChanges::default();
        let created = Lead::new("acme", "New@Example.com");
        let webhook = LeadEdit::Payload(Box::new(super::super::PayloadLead {
            account: "acme".into(),
            email: "New@Example.com".into(),
            name: None,
            at: None,
            lead_id: None,
            campaign_id: None,
            map_id: None,
            campaign_name: None,
            category: None,
        }));
        leads.push(&created.key(), None, webhook);
        let events = [
            open("acme", "new@example.com", "e1", 5),
            open("acme", "NEW@example.com", "e2", 9),
        ];
        let fresh = engine.store_events(&events).expect("store events");
        engine.advance_leads(&fresh, &mut leads).expect("advance");
        assert_eq!(
            leads.get(&created.key()).and_then(|l| l.last_event_at),
            Some(events[1].at)
        );
        engine.write_lead_changes(leads).expect("write leads");
        let stored = engine.store().get::<Lead>(&created.key()).expect("get");
        assert_eq!(stored.and_then(|l| l.last_event_at), Some(events[1].at));
    }

    #[test]
    fn stored_leads_in_every_account_move_and_unchanged_ones_are_not_rewritten() {
        let engine = engine();
        let mut in_other = Lead::new("other", "ann@example.com");
        in_other.note_event(EventType::EmailReplied, open("x", "x", "x", 60).at);
        engine
            .store()
            .put_all(&[Lead::new("acme", "ann@example.com"), in_other.clone()])
            .expect("put");
        let mut leads = LeadChanges::default();
        let fresh = engine
            .store_events(&[open("acme", "ann@example.com", "e1", 5)])
            .expect("store events");
        engine.advance_leads(&fresh, &mut leads).expect("advance");
        // The other account's lead already has a newer event: nothing to write.
        let keys: Vec<&String> = leads.keys().collect();
        assert_eq!(keys, ["acme/ann@example.com"]);
    }

    #[test]
    fn a_long_history_is_sealed_into_pages_and_old_events_still_dedupe() {
        let engine = engine();
        engine
            .store()
            .put(&Lead::new("acme", "ann@example.com"))
            .expect("put");
        let events: Vec<EmailEvent> = (0..2_000)
            .map(|i| open("acme", "ann@example.com", &format!("e{i}"), i))
            .collect();
        for batch in events.chunks(64) {
            assert_eq!(
                engine.record_events(batch).expect("record").len(),
                batch.len()
            );
        }
        // The record rewritten per event stays bounded; the rest is in pages.
        let head = engine
            .store()
            .get::<Activity>("acme/ann@example.com")
            .expect("get")
            .expect("activity");
        assert!(head.events.len() <= crate::store::activity::HEAD_MAX);
        assert!(engine.store().count::<ActivityPage>() >= 2);
        // Every event once, in time order; the oldest, long sealed, and a
        // recent one are both recognised when they come again.
        let stored = engine.lead_events("acme/ann@example.com").expect("events");
        assert_eq!(stored.len(), events.len());
        assert!(stored.windows(2).all(|w| w[0].at <= w[1].at));
        let again = [events[0].clone(), events[1_990].clone()];
        assert!(engine.record_events(&again).expect("again").is_empty());
        assert_eq!(engine.event_count().expect("count"), events.len());
        assert!(engine.store().verify_indexes().expect("verify").is_empty());
    }

    #[test]
    fn record_events_dedupes_and_moves_the_lead() {
        let engine = engine();
        let lead = Lead::new("acme", "ann@example.com");
        engine.store().put(&lead).expect("put");
        let event = open("acme", "ann@example.com", "e1", 5);
        assert_eq!(
            engine
                .record_events(std::slice::from_ref(&event))
                .expect("record")
                .len(),
            1
        );
        assert!(
            engine
                .record_events(std::slice::from_ref(&event))
                .expect("again")
                .is_empty()
        );
        let stored = engine.store().get::<Lead>(&lead.key()).expect("get");
        assert_eq!(stored.and_then(|l| l.last_event_at), Some(event.at));
        assert_eq!(engine.event_count().expect("count"), 1);
    }
}
