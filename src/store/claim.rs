//! Claiming queued work: a replica takes due records off an index (pending
//! outbox items, expired sends) so that no other replica takes the same
//! ones, and two replicas reaching at once take different ones (see
//! [`Tree::claim`]: `FOR UPDATE SKIP LOCKED` on Postgres, a compare-and-swap
//! on sled).

use std::cell::RefCell;

use super::records::Record;
use super::{Index, Kind, Store, StoreError, StoreResult, Tree, TxError, TxTree};

/// Records of other kinds a claim reads while deciding, inside its
/// transaction: on Postgres each read locks its row until the claim
/// commits, on sled it is part of the compare-and-swap, so a decision
/// resting on it cannot be undone by a writer in between.
pub struct ClaimReads<'a> {
    views: &'a [TxTree<'a>],
    /// Where each kind's record tree is among `views`.
    starts: &'a [(Kind, usize)],
    /// A conflict met by a read: the claim runs again instead of failing.
    conflict: RefCell<Option<TxError>>,
}

impl ClaimReads<'_> {
    /// The record of kind `R` at `key` as the claim's transaction reads it.
    /// `R` must be the claimed kind or one of the kinds the claim said it
    /// reads.
    pub fn get<R: Record>(&self, key: &str) -> StoreResult<Option<R>> {
        let Some(&(_, start)) = self.starts.iter().find(|(kind, _)| *kind == R::KIND) else {
            return Err(StoreError::Encode {
                kind: R::KIND,
                detail: "a claim read a kind it did not name among its reads".into(),
            });
        };
        match self.views[start].get(key.as_bytes()) {
            Ok(Some(bytes)) => Ok(Some(Store::decode(key.as_bytes(), &bytes)?)),
            Ok(None) => Ok(None),
            Err(TxError::Abort(e)) => Err(e),
            Err(conflict) => {
                *self.conflict.borrow_mut() = Some(conflict);
                Err(StoreError::Database {
                    detail: "the claim met a conflicting writer and runs again".into(),
                })
            }
        }
    }

    fn failed(&self, err: StoreError) -> TxError {
        self.conflict.take().unwrap_or(TxError::Abort(err))
    }
}

impl Store {
    /// Claims up to `limit` records of kind `R` through `index`, walking its
    /// entries with keys in `[start, end)` in order: `change` sees each
    /// record as its transaction holds it and returns the record to write
    /// (the claim: a new state, a lease) with a value for the caller, or
    /// None to leave it (it does not count towards `limit`). All of it is
    /// one transaction. A record another replica is claiming at that moment
    /// is skipped, never waited for, and no record is handed to two
    /// claimers: on Postgres the walk is `SELECT … FOR UPDATE SKIP LOCKED`,
    /// on sled each record is written only if still as walked. `reads`
    /// names the other kinds `change` reads through [`ClaimReads`]. Like
    /// `modify`, `change` may run again on fresh reads, so it must depend
    /// only on what it is given; the last run's values are returned.
    pub fn claim<R: Record, T>(
        &self,
        index: Index,
        start: &[u8],
        end: &[u8],
        limit: usize,
        reads: &[Kind],
        change: impl Fn(R, &ClaimReads<'_>) -> StoreResult<Option<(R, T)>>,
    ) -> StoreResult<Vec<T>> {
        assert_eq!(index.kind(), R::KIND, "a claim walks its own kind's index");
        let own: Vec<&Tree> = self.group(R::KIND).iter().collect();
        let own_len = own.len();
        let mut trees = own;
        let mut starts = vec![(R::KIND, 0)];
        for kind in reads.iter().filter(|kind| **kind != R::KIND) {
            if starts.iter().any(|(k, _)| k == kind) {
                continue;
            }
            starts.push((*kind, trees.len()));
            // Only the record tree: a claim writes nothing of other kinds.
            trees.push(&self.group(*kind)[0]);
        }
        let claimed = Tree::claim(
            &trees,
            index.slot(),
            start,
            end,
            limit,
            |views, entry, primary| {
                let key = String::from_utf8_lossy(primary).into_owned();
                let Some(old) = views[0].get(primary)? else {
                    return Ok(None); // an entry left by a record since deleted
                };
                let record = Self::decode::<R>(primary, &old).map_err(TxError::Abort)?;
                let old_entries = record.index_entries();
                // The record must still be the one the entry is of.
                if !old_entries
                    .iter()
                    .any(|e| e.index == index && e.key.as_slice() == entry)
                {
                    return Ok(None);
                }
                let reads = ClaimReads {
                    views,
                    starts: &starts,
                    conflict: RefCell::new(None),
                };
                let decided = change(record, &reads).map_err(|e| reads.failed(e))?;
                let Some((record, value)) = decided else {
                    return Ok(None);
                };
                if record.key() != key {
                    return Err(TxError::Abort(StoreError::Encode {
                        kind: R::KIND,
                        detail: format!(
                            "a claim of {key} produced a record keyed {}",
                            record.key()
                        ),
                    }));
                }
                let bytes = Self::encode(&record).map_err(TxError::Abort)?;
                let changed = Self::replace_in_tx(
                    &views[..own_len],
                    R::KIND,
                    &key,
                    Some(&old),
                    Some(&old_entries),
                    &bytes,
                    &record.index_entries(),
                )?;
                Ok(Some((value, changed.then_some(key))))
            },
        )?;
        let mut values = Vec::with_capacity(claimed.len());
        let mut changed = Vec::new();
        for (value, key) in claimed {
            values.push(value);
            changed.extend(key);
        }
        self.announce(R::KIND, &changed);
        Ok(values)
    }
}
