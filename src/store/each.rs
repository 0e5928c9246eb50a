//! Writes that keep each record atomic on its own instead of a batch as a
//! whole, for the hot paths that write many unrelated records at once.
//!
//! A sled transaction holds one store-wide exclusive lock from its first
//! read to its commit, so while one runs every other read and write in the
//! process waits. A compare-and-swap takes the shared side of that lock:
//! two writers of different records (the webhook writer's two stages, a
//! sync, the TUI's reads) go on side by side. A record is swapped alone only
//! when no index entry has to change with it; anything else still goes
//! through a transaction, so an index never disagrees with its record.

use super::records::{self, Record};
use super::{Store, StoreError, StoreResult};

/// What one attempt to swap a record in did.
enum Swap {
    /// Written, or already stored as is (`changed` says which).
    Done { changed: bool },
    /// Someone else wrote the record since it was read: read it again.
    Raced,
    /// Index entries change with it: needs a transaction.
    NeedsIndexes,
}

impl Store {
    /// Like [`Store::modify`], but each record is read, changed and written
    /// on its own (a compare-and-swap, retried when another writer got there
    /// first), so no update is lost, yet a batch is not atomic as a whole:
    /// after a crash some of its records may be written and others not.
    /// For kinds whose writes are independent facts (a lead's activity).
    /// A record whose index entries change is written in a transaction.
    pub fn modify_each<R: Record, T>(
        &self,
        keys: &[String],
        change: impl Fn(&str, Option<R>) -> Option<(R, T)>,
    ) -> StoreResult<Vec<T>> {
        let tree = self.tree(R::KIND);
        let mut values = Vec::with_capacity(keys.len());
        let mut changed = Vec::new();
        for key in keys {
            loop {
                let old = tree.get(key.as_bytes())?;
                let current = match &old {
                    Some(bytes) => Some(Self::decode::<R>(key.as_bytes(), bytes)?),
                    None => None,
                };
                let Some((record, value)) = change(key, current) else {
                    break;
                };
                if record.key() != *key {
                    return Err(StoreError::Encode {
                        kind: R::KIND,
                        detail: format!(
                            "a change to {key} produced a record keyed {}",
                            record.key()
                        ),
                    });
                }
                match self.swap(&record, key, old.as_deref())? {
                    Swap::Done { changed: written } => {
                        if written {
                            changed.push(key.clone());
                        }
                    }
                    Swap::Raced => continue,
                    Swap::NeedsIndexes => {
                        // `modify` rereads inside its transaction and runs
                        // the change again on what it finds.
                        let mut again = self.modify::<R, T>(std::slice::from_ref(key), &change)?;
                        values.append(&mut again);
                        break;
                    }
                }
                values.push(value);
                break;
            }
        }
        self.announce(R::KIND, &changed);
        Ok(values)
    }

    /// Writes records of one kind, each on its own (see the module docs):
    /// a record whose index entries stay as they are is swapped in without
    /// the store-wide lock; the others are written together in one
    /// [`Store::put_all`] transaction. Returns how many changed. Not atomic
    /// as a batch.
    pub fn put_each<R: Record>(&self, records: &[R]) -> StoreResult<usize> {
        let tree = self.tree(R::KIND);
        let mut changed = Vec::new();
        let mut with_indexes = Vec::new();
        for record in records {
            let key = record.key();
            loop {
                let old = tree.get(key.as_bytes())?;
                match self.swap(record, &key, old.as_deref())? {
                    Swap::Done { changed: written } => {
                        if written {
                            changed.push(key.clone());
                        }
                    }
                    Swap::Raced => continue,
                    Swap::NeedsIndexes => with_indexes.push(record.clone()),
                }
                break;
            }
        }
        self.announce(R::KIND, &changed);
        Ok(changed.len() + self.put_all(&with_indexes)?)
    }

    /// One compare-and-swap of `record` over `old`, if its index entries
    /// allow it.
    fn swap<R: Record>(&self, record: &R, key: &str, old: Option<&[u8]>) -> StoreResult<Swap> {
        let bytes = Self::encode(record)?;
        if old == Some(bytes.as_slice()) {
            return Ok(Swap::Done { changed: false });
        }
        let entries = record.index_entries();
        let same_entries = match old {
            Some(old) => records::entries_of(R::KIND, key.as_bytes(), old)? == entries,
            None => entries.is_empty(),
        };
        if !same_entries {
            return Ok(Swap::NeedsIndexes);
        }
        let swapped = self
            .tree(R::KIND)
            .compare_and_swap(key.as_bytes(), old, &bytes)?;
        Ok(if swapped {
            Swap::Done { changed: true }
        } else {
            Swap::Raced
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use crate::model::{Activity, EmailEvent, EventSource, EventType, Lead, Membership};
    use crate::store::{Change, Index, Kind, Store, keys::KeyBuf};

    fn lead(email: &str, campaign: Option<i64>) -> Lead {
        let mut lead = Lead::new("acme", email);
        lead.memberships = campaign
            .into_iter()
            .map(|campaign_id| Membership {
                campaign_id,
                campaign_name: None,
                map_id: None,
                status: None,
                category_id: None,
            })
            .collect();
        lead
    }

    #[test]
    fn put_each_keeps_indexes_in_step_whichever_way_a_record_is_written() {
        let store = Store::temporary().unwrap();
        let mut feed = store.subscribe();
        // New records have index entries: written in a transaction.
        let mut a = lead("a@x.example", Some(1));
        assert_eq!(
            store
                .put_each(&[a.clone(), lead("b@x.example", None)])
                .unwrap(),
            2
        );
        // Same entries: swapped in; unchanged: not written at all.
        a.company = Some("Acme".into());
        assert_eq!(store.put_each(&[a.clone()]).unwrap(), 1);
        assert_eq!(store.put_each(&[a.clone()]).unwrap(), 0);
        // A campaign entry moves: through a transaction again.
        a.memberships[0].campaign_id = 2;
        assert_eq!(store.put_each(&[a.clone()]).unwrap(), 1);
        let in_campaign = |id| {
            store.index_len(
                Index::LeadsByCampaign,
                &KeyBuf::new()
                    .text(&crate::model::Campaign::key_for("acme", id))
                    .into_prefix(),
            )
        };
        assert_eq!((in_campaign(1), in_campaign(2)), (0, 1));
        let stored: Lead = store.get(&a.key()).unwrap().unwrap();
        assert_eq!(stored, a);
        let mut announced = 0;
        while let Ok(change) = feed.try_recv() {
            if matches!(
                change,
                Change::Record {
                    kind: Kind::Lead,
                    ..
                }
            ) {
                announced += 1;
            }
        }
        assert_eq!(announced, 4, "every write announced once");
    }

    #[test]
    fn modify_each_loses_no_update_between_racing_writers() {
        let store = Store::temporary().unwrap();
        let key = "acme/a@x.example".to_string();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (store, key) = (store.clone(), key.clone());
                std::thread::spawn(move || {
                    for n in 0..50 {
                        let tag = format!("{t}-{n}");
                        store
                            .modify_each::<Activity, ()>(
                                std::slice::from_ref(&key),
                                |_, current| {
                                    let mut activity = current
                                        .unwrap_or_else(|| Activity::new("acme", "a@x.example"));
                                    activity.events.push(event(&tag));
                                    Some((activity, ()))
                                },
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let activity: Activity = store.get(&key).unwrap().unwrap();
        assert_eq!(activity.events.len(), 200);
    }

    fn event(tag: &str) -> EmailEvent {
        EmailEvent {
            id: tag.into(),
            account: "acme".into(),
            kind: EventType::EmailOpened,
            lead_email: "a@x.example".into(),
            campaign_id: None,
            sequence_number: None,
            at: DateTime::from_timestamp(1_770_000_000, 0).expect("time"),
            source: EventSource::Webhook,
            dedupe_key: tag.into(),
            message_id: None,
            detail: None,
        }
    }
}
