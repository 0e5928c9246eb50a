//! Writes of several kinds in one transaction: a step's outbox item and
//! its enrollment's advance land together or not at all.

use super::records::{IndexEntry, Record};
use super::tree::read_first;
use super::{Kind, Store, StoreError, StoreResult, Tree, TxError};

/// Records to write together, encoded as they are added.
#[derive(Debug, Default)]
pub struct WriteBatch {
    puts: Vec<Put>,
    /// Records as they were read: if any differs when the batch lands, the
    /// whole batch is refused (`StoreError::Changed`), so a write based on a
    /// stale read never undoes someone else's (a pause on reply, say).
    expected: Vec<Expected>,
}

/// A record as it was read: its bytes, or None when it was absent.
#[derive(Debug)]
struct Expected {
    kind: Kind,
    key: String,
    bytes: Option<Vec<u8>>,
    entries: Vec<IndexEntry>,
}

#[derive(Debug)]
struct Put {
    kind: Kind,
    key: String,
    bytes: Vec<u8>,
    entries: Vec<IndexEntry>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record (with its index entries) to the batch.
    pub fn put<R: Record>(&mut self, record: &R) -> StoreResult<()> {
        self.puts.push(Put {
            kind: R::KIND,
            key: record.key(),
            bytes: Store::encode(record)?,
            entries: record.index_entries(),
        });
        Ok(())
    }

    pub fn put_all<R: Record>(&mut self, records: &[R]) -> StoreResult<()> {
        self.puts.reserve(records.len());
        records.iter().try_for_each(|r| self.put(r))
    }

    /// Refuses the batch unless `as_read` is still what the store holds
    /// when the batch is written.
    pub fn expect_unchanged<R: Record>(&mut self, as_read: &R) -> StoreResult<()> {
        self.expected.push(Expected {
            kind: R::KIND,
            key: as_read.key(),
            bytes: Some(Store::encode(as_read)?),
            // A put of the same key replaces these: knowing them spares
            // decoding the stored record inside the transaction.
            entries: as_read.index_entries(),
        });
        Ok(())
    }

    /// Refuses the batch if a record of kind `R` was written at `key` by the
    /// time the batch is: it was read as absent.
    pub fn expect_absent<R: Record>(&mut self, key: &str) {
        self.expected.push(Expected {
            kind: R::KIND,
            key: key.to_string(),
            bytes: None,
            entries: Vec::new(),
        });
    }

    pub fn len(&self) -> usize {
        self.puts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }
}

impl Store {
    /// Writes every record `fill` adds, of any kinds, in ONE transaction over
    /// the union of their trees: all of them land or none does. Each record is
    /// written as `put` writes it (identical bytes skipped, index entries kept
    /// in step); a later put of the same key wins. Returns how many changed.
    pub fn write(
        &self,
        fill: impl FnOnce(&mut WriteBatch) -> StoreResult<()>,
    ) -> StoreResult<usize> {
        let mut batch = WriteBatch::new();
        fill(&mut batch)?;
        self.write_all(&batch)
    }

    /// A compare-and-swap of one record that may carry writes to others:
    /// reads the record at `key` (None when absent), lets `change` decide on
    /// that fresh read what to write (the record itself and whatever must go
    /// with it, added to the batch), and writes the batch in one transaction
    /// only if the record is still as read. Otherwise nothing is written and
    /// `change` runs again on a fresh read, so `change` must be a function of
    /// what it is given (and of records it adds expectations for). It returns
    /// None to write nothing; so does this, then.
    pub fn modify_together<R: Record, T>(
        &self,
        key: &str,
        change: impl Fn(Option<R>, &mut WriteBatch) -> StoreResult<Option<T>>,
    ) -> StoreResult<Option<T>> {
        loop {
            let current = self.get::<R>(key)?;
            let mut batch = WriteBatch::new();
            match &current {
                Some(record) => batch.expect_unchanged(record)?,
                None => batch.expect_absent::<R>(key),
            }
            let Some(value) = change(current, &mut batch)? else {
                return Ok(None);
            };
            match self.write_all(&batch) {
                Ok(_) => return Ok(Some(value)),
                Err(StoreError::Changed { kind, key }) => {
                    tracing::trace!(?kind, %key, "changed while being updated; again");
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Writes a prepared batch in one transaction (see [`Store::write`]).
    pub fn write_all(&self, batch: &WriteBatch) -> StoreResult<usize> {
        if batch.is_empty() && batch.expected.is_empty() {
            return Ok(0);
        }
        // Each kind's trees once, in first-use order; `firsts[i]` is where
        // put i's group (record tree, then index trees) begins among the views.
        let mut trees: Vec<&Tree> = Vec::new();
        let mut start_of_kind: Vec<Option<usize>> = vec![None; Kind::ALL.len()];
        let mut firsts = Vec::with_capacity(batch.puts.len());
        let kinds = batch.puts.iter().map(|put| put.kind);
        for kind in kinds.chain(batch.expected.iter().map(|expected| expected.kind)) {
            let first = *start_of_kind[kind as usize].get_or_insert_with(|| {
                let first = trees.len();
                trees.extend(self.group(kind));
                first
            });
            firsts.push(first);
        }
        let (firsts, expected_firsts) = firsts.split_at(batch.puts.len());
        // Only records read as present: their entries are known.
        let expected_by_key: std::collections::HashMap<(Kind, &str), &Expected> = batch
            .expected
            .iter()
            .filter(|expected| expected.bytes.is_some())
            .map(|expected| ((expected.kind, expected.key.as_str()), expected))
            .collect();
        let changed = Tree::transaction(&trees, |views| {
            // What the checks read, so that the put of a checked record
            // does not read it again (until a put changes it).
            let mut read = std::collections::HashMap::with_capacity(batch.expected.len());
            // Every record the batch checks or writes, read in one go per
            // kind (one statement each on Postgres).
            let mut olds = std::collections::HashMap::new();
            let checked = batch
                .expected
                .iter()
                .map(|e| e.key.as_str())
                .zip(expected_firsts);
            let written = batch.puts.iter().map(|p| p.key.as_str()).zip(firsts);
            let all: Vec<(&str, &usize)> = checked.chain(written).collect();
            for first in all
                .iter()
                .map(|(_, first)| **first)
                .collect::<std::collections::BTreeSet<_>>()
            {
                let keys = all
                    .iter()
                    .filter(|(_, f)| **f == first)
                    .map(|(key, _)| *key);
                olds.insert(first, read_first(&views[first], keys)?);
            }
            let mut old_of = |first: usize, key: &str| {
                olds.get_mut(&first)
                    .expect("every kind's keys were read up front")
                    .take(&views[first], key)
            };
            for (expected, first) in batch.expected.iter().zip(expected_firsts) {
                let now = old_of(*first, &expected.key)?;
                if now.as_deref() != expected.bytes.as_deref() {
                    return Err(TxError::Abort(StoreError::Changed {
                        kind: expected.kind,
                        key: expected.key.clone(),
                    }));
                }
                read.insert((expected.kind, expected.key.as_str()), now);
            }
            let mut changed = Vec::new();
            for (put, first) in batch.puts.iter().zip(firsts) {
                let group = &views[*first..*first + 1 + put.kind.indexes().len()];
                let old = match read.remove(&(put.kind, put.key.as_str())) {
                    Some(checked) => checked,
                    None => old_of(*first, &put.key)?,
                };
                // The stored record is the one read earlier (the check
                // above, or an earlier put of the batch changed it: compare).
                let old_entries = expected_by_key
                    .get(&(put.kind, put.key.as_str()))
                    .filter(|expected| old.as_deref() == expected.bytes.as_deref())
                    .map(|expected| expected.entries.as_slice());
                if Store::replace_in_tx(
                    group,
                    put.kind,
                    &put.key,
                    old.as_deref(),
                    old_entries,
                    &put.bytes,
                    &put.entries,
                )? {
                    changed.push((put.kind, put.key.clone()));
                }
            }
            Ok(changed)
        })?;

        for (kind, key) in &changed {
            self.announce(*kind, std::slice::from_ref(key));
        }
        Ok(changed.len())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::model::{Cursor, Enrollment, EnrollmentState, Suppression, SuppressionReason};
    use crate::store::Index;

    fn enrollment(id: &str, due: DateTime<Utc>) -> Enrollment {
        Enrollment {
            id: id.into(),
            account: "acme".into(),
            sequence: "seq".into(),
            lead_email: "dana@ledgerly.example".into(),
            state: EnrollmentState::Active,
            reason: None,
            current_step: 0,
            next_due_at: Some(due),
            enrolled_at: due,
            started_at: due,
            updated_at: due,
            mailbox: None,
            thread_id: None,
            last_message_id: None,
            references: Vec::new(),
            last_subject: None,
            variants: Default::default(),
            resume_at: None,
        }
    }

    fn due_keys(store: &Store) -> Vec<String> {
        store
            .index_keys(Index::EnrollmentsByDue, &[], false)
            .map(|e| e.unwrap().1)
            .collect()
    }

    #[test]
    fn writes_several_kinds_and_keeps_indexes_in_step() {
        let store = Store::temporary().unwrap();
        let t0: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
        let mut enr = enrollment("e1", t0);
        store.put(&enr).unwrap();
        enr.next_due_at = Some(t0 + chrono::Duration::hours(1));
        let cursor = Cursor {
            account: "acme".into(),
            name: "mailbox-day/a/2026-03-02".into(),
            value: "1".into(),
        };
        let changed = store
            .write(|batch| {
                batch.put(&cursor)?;
                batch.put(&enr)
            })
            .unwrap();
        assert_eq!(changed, 2);
        assert_eq!(store.get::<Enrollment>("e1").unwrap(), Some(enr.clone()));
        assert_eq!(store.get::<Cursor>(&cursor.key()).unwrap(), Some(cursor));
        assert_eq!(due_keys(&store), vec!["e1".to_string()]);
        assert!(store.verify_indexes().unwrap().is_empty());

        // Unchanged records are not rewritten; a stopped one leaves the due index.
        enr.state = EnrollmentState::Stopped;
        let changed = store.write(|batch| batch.put(&enr)).unwrap();
        assert_eq!(changed, 1);
        assert_eq!(store.write(|batch| batch.put(&enr)).unwrap(), 0);
        assert!(due_keys(&store).is_empty());
        assert!(store.verify_indexes().unwrap().is_empty());
    }

    #[test]
    fn a_put_over_a_record_read_for_the_batch_moves_its_index_entries() {
        // The tick's shape: each due enrollment is expected unchanged and
        // put back with its due time moved (its old entries are the read's).
        let store = Store::temporary().unwrap();
        let t0: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
        let as_read = enrollment("e1", t0);
        store.put(&as_read).unwrap();
        let mut moved = as_read.clone();
        moved.next_due_at = Some(t0 + chrono::Duration::days(2));
        let mut done = enrollment("e2", t0);
        store.put(&done).unwrap();
        let done_as_read = done.clone();
        done.state = EnrollmentState::Completed;
        let changed = store
            .write(|batch| {
                batch.expect_unchanged(&as_read)?;
                batch.expect_unchanged(&done_as_read)?;
                batch.put(&moved)?;
                batch.put(&done)
            })
            .unwrap();
        assert_eq!(changed, 2);
        assert_eq!(due_keys(&store), vec!["e1".to_string()]);
        let due = store
            .index_keys(Index::EnrollmentsByDue, &[], false)
            .map(|e| e.unwrap().0)
            .collect::<Vec<_>>();
        assert_eq!(due.len(), 1, "the old due entry is gone");
        assert!(store.verify_indexes().unwrap().is_empty());
    }

    #[test]
    fn a_batch_made_from_a_stale_read_is_refused_whole() {
        let store = Store::temporary().unwrap();
        let t0: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
        let as_read = enrollment("e1", t0);
        store.put(&as_read).unwrap();
        // A reply pauses the lead between the tick's read and its commit.
        let mut paused = as_read.clone();
        paused.state = EnrollmentState::Paused;
        paused.next_due_at = None;
        store.put(&paused).unwrap();
        let mut advanced = as_read.clone();
        advanced.current_step = 1;
        let err = store
            .write(|batch| {
                batch.expect_unchanged(&as_read)?;
                batch.put(&advanced)?;
                batch.put(&Cursor {
                    account: "acme".into(),
                    name: "tick".into(),
                    value: "1".into(),
                })
            })
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Changed { ref key, .. } if key == "e1"),
            "{err}"
        );
        let stored: Enrollment = store.get("e1").unwrap().unwrap();
        assert_eq!(stored.state, EnrollmentState::Paused, "the pause stands");
        assert_eq!(store.count::<Cursor>(), 0, "nothing of the batch landed");
        // Made from a fresh read, the same batch goes through.
        assert_eq!(
            store
                .write(|batch| {
                    batch.expect_unchanged(&stored)?;
                    batch.put(&advanced)
                })
                .unwrap(),
            1
        );
    }

    #[test]
    fn modify_together_loses_no_update_and_applies_each_change_once() {
        // Racing writers of one record, the first of them creating it: each
        // change lands once with the record that goes with it, none is lost.
        let store = Store::temporary().unwrap();
        let t0: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        store
                            .modify_together::<Enrollment, ()>("e1", |current, batch| {
                                let mut enr = current.unwrap_or_else(|| enrollment("e1", t0));
                                enr.current_step += 1;
                                batch.put(&Cursor {
                                    account: "acme".into(),
                                    name: format!("step-{}", enr.current_step),
                                    value: "1".into(),
                                })?;
                                batch.put(&enr)?;
                                Ok(Some(()))
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            store.get::<Enrollment>("e1").unwrap().unwrap().current_step,
            200
        );
        assert_eq!(store.count::<Cursor>(), 200);
        assert!(store.verify_indexes().unwrap().is_empty());
    }

    #[test]
    fn a_batch_made_from_a_read_of_nothing_is_refused_once_the_record_exists() {
        let store = Store::temporary().unwrap();
        let t0: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
        let cursor = Cursor {
            account: "acme".into(),
            name: "created".into(),
            value: "1".into(),
        };
        // Someone else creates the record between the read and the write.
        store.put(&enrollment("e1", t0)).unwrap();
        let err = store
            .write(|batch| {
                batch.expect_absent::<Enrollment>("e1");
                batch.put(&cursor)
            })
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Changed { ref key, .. } if key == "e1"),
            "{err}"
        );
        assert_eq!(store.count::<Cursor>(), 0);
        // Still absent: goes through.
        store
            .write(|batch| {
                batch.expect_absent::<Enrollment>("e2");
                batch.put(&cursor)
            })
            .unwrap();
        assert_eq!(store.count::<Cursor>(), 1);
    }

    #[test]
    fn a_failed_batch_writes_nothing() {
        let store = Store::temporary().unwrap();
        let t0: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
        let suppression = Suppression {
            account: "acme".into(),
            email: "dana@ledgerly.example".into(),
            reason: SuppressionReason::Manual,
            at: t0,
            note: None,
        };
        // A record stored under an unknown layout cannot be decoded, so the
        // transaction aborts after the enrollment was staged.
        store
            .tree(Kind::Suppression)
            .insert(suppression.key().as_bytes(), &[9u8, 1, 2][..])
            .unwrap();
        let err = store.write(|batch| {
            batch.put(&enrollment("e1", t0))?;
            batch.put(&suppression)
        });
        assert!(err.is_err(), "{err:?}");
        assert_eq!(store.get::<Enrollment>("e1").unwrap(), None);
        assert!(due_keys(&store).is_empty());
    }
}
