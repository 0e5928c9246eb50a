//! One ordered key-value tree of the store, on whichever backend holds it:
//! a sled tree in the data dir (one rep), or a range of the `kv` table in
//! Postgres (a team). Records, index entries and the store's own metadata
//! all live in trees; everything above this module is the same code on both.
//!
//! Keys compare as bytes on both (sled orders them so; Postgres compares
//! `bytea` with memcmp), so prefix and range scans of an index return the
//! same entries in the same order.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

use super::keys::prefix_end;
use super::postgres::{PgTree, PgTx};
use super::{StoreError, StoreResult};

/// Bytes read from a tree: sled's shared buffer, or a row's value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Sled(sled::IVec),
    Owned(Vec<u8>),
}

impl Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Value::Sled(v) => v,
            Value::Owned(v) => v,
        }
    }
}

impl Value {
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Value::Sled(v) => v.to_vec(),
            Value::Owned(v) => v,
        }
    }
}

/// A key and its value, as scans return them.
pub(crate) type Entry = (Value, Value);
pub(crate) type Entries<'a> = Box<dyn Iterator<Item = StoreResult<Entry>> + 'a>;

#[derive(Clone)]
pub(crate) struct Tree {
    /// The data dir (or database) the tree belongs to, for error messages.
    path: Arc<PathBuf>,
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Sled(sled::Tree),
    Pg(PgTree),
}

impl Tree {
    pub(crate) fn sled(path: Arc<PathBuf>, tree: sled::Tree) -> Tree {
        Tree {
            path,
            inner: Inner::Sled(tree),
        }
    }

    pub(crate) fn pg(path: Arc<PathBuf>, tree: PgTree) -> Tree {
        Tree {
            path,
            inner: Inner::Pg(tree),
        }
    }

    fn sled_err(&self, err: sled::Error) -> StoreError {
        StoreError::from_sled(&self.path, err)
    }

    pub(crate) fn get(&self, key: &[u8]) -> StoreResult<Option<Value>> {
        match &self.inner {
            Inner::Sled(t) => Ok(t.get(key).map_err(|e| self.sled_err(e))?.map(Value::Sled)),
            Inner::Pg(t) => Ok(t.get(key)?.map(Value::Owned)),
        }
    }

    /// The values at `keys`, in their order (None where absent): one
    /// statement on Postgres, a read per key on sled.
    pub(crate) fn get_many(&self, keys: &[&[u8]]) -> StoreResult<Vec<Option<Value>>> {
        match &self.inner {
            Inner::Sled(_) => keys.iter().map(|key| self.get(key)).collect(),
            Inner::Pg(t) => Ok(t
                .get_many(keys)?
                .into_iter()
                .map(|value| value.map(Value::Owned))
                .collect()),
        }
    }

    pub(crate) fn contains_key(&self, key: &[u8]) -> StoreResult<bool> {
        match &self.inner {
            Inner::Sled(t) => t.contains_key(key).map_err(|e| self.sled_err(e)),
            Inner::Pg(t) => Ok(t.get(key)?.is_some()),
        }
    }

    /// Writes outside any transaction (metadata, tests that plant damage).
    pub(crate) fn insert(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        match &self.inner {
            Inner::Sled(t) => t
                .insert(key, value)
                .map(|_| ())
                .map_err(|e| self.sled_err(e)),
            Inner::Pg(t) => t.insert(key, value),
        }
    }

    pub(crate) fn remove(&self, key: &[u8]) -> StoreResult<()> {
        match &self.inner {
            Inner::Sled(t) => t.remove(key).map(|_| ()).map_err(|e| self.sled_err(e)),
            Inner::Pg(t) => t.remove(key),
        }
    }

    /// Removes `key`; whether it was there. Exact on sled, where two
    /// removers of one key see one `true`; on Postgres a read and a delete.
    pub(crate) fn remove_existing(&self, key: &[u8]) -> StoreResult<bool> {
        match &self.inner {
            Inner::Sled(t) => t
                .remove(key)
                .map(|old| old.is_some())
                .map_err(|e| self.sled_err(e)),
            Inner::Pg(t) => {
                let existed = t.get(key)?.is_some();
                t.remove(key)?;
                Ok(existed)
            }
        }
    }

    /// Writes `new` at `key` only if the tree still holds `old` there (None:
    /// absent). False when someone else wrote it first.
    pub(crate) fn compare_and_swap(
        &self,
        key: &[u8],
        old: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        match &self.inner {
            Inner::Sled(t) => Ok(t
                .compare_and_swap(key, old, Some(new))
                .map_err(|e| self.sled_err(e))?
                .is_ok()),
            Inner::Pg(t) => t.compare_and_swap(key, old, new),
        }
    }

    /// Entries whose key starts with `prefix`, in key order or reversed.
    pub(crate) fn scan_prefix(&self, prefix: &[u8], reverse: bool) -> Entries<'_> {
        match &self.inner {
            Inner::Sled(t) => {
                let iter = t.scan_prefix(prefix);
                let map = move |item: sled::Result<(sled::IVec, sled::IVec)>| {
                    let (k, v) = item.map_err(|e| self.sled_err(e))?;
                    Ok((Value::Sled(k), Value::Sled(v)))
                };
                if reverse {
                    Box::new(iter.rev().map(map))
                } else {
                    Box::new(iter.map(map))
                }
            }
            Inner::Pg(t) => Box::new(t.scan(prefix.to_vec(), prefix_end(prefix), reverse)),
        }
    }

    /// Entries with keys in `[start, end)`, in key order or reversed.
    pub(crate) fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> Entries<'_> {
        match &self.inner {
            Inner::Sled(t) => {
                let iter = t.range(start.to_vec()..end.to_vec());
                let map = move |item: sled::Result<(sled::IVec, sled::IVec)>| {
                    let (k, v) = item.map_err(|e| self.sled_err(e))?;
                    Ok((Value::Sled(k), Value::Sled(v)))
                };
                if reverse {
                    Box::new(iter.rev().map(map))
                } else {
                    Box::new(iter.map(map))
                }
            }
            Inner::Pg(t) => Box::new(t.scan(start.to_vec(), Some(end.to_vec()), reverse)),
        }
    }

    /// How many entries start with `prefix`.
    pub(crate) fn count_prefix(&self, prefix: &[u8]) -> StoreResult<usize> {
        match &self.inner {
            Inner::Sled(t) if prefix.is_empty() => Ok(t.len()),
            Inner::Sled(t) => Ok(t.scan_prefix(prefix).count()),
            Inner::Pg(t) => t.count(prefix.to_vec(), prefix_end(prefix)),
        }
    }

    fn as_sled(&self) -> Option<&sled::Tree> {
        match &self.inner {
            Inner::Sled(t) => Some(t),
            Inner::Pg(_) => None,
        }
    }

    fn as_pg(&self) -> Option<&PgTree> {
        match &self.inner {
            Inner::Pg(t) => Some(t),
            Inner::Sled(_) => None,
        }
    }

    /// Runs `body` in one transaction over `trees` (all of one backend):
    /// everything it writes lands together or not at all, and what it read
    /// is what it wrote over. When another writer got in between, the
    /// backend runs `body` again on fresh reads (sled on a conflict,
    /// Postgres on a serialization failure), so `body` must depend only on
    /// what it reads and is given.
    pub(crate) fn transaction<T>(
        trees: &[&Tree],
        body: impl Fn(&[TxTree<'_>]) -> Result<T, TxError>,
    ) -> StoreResult<T> {
        let Some(first) = trees.first() else {
            return body(&[]).map_err(|e| match e {
                TxError::Abort(e) => e,
                other => StoreError::Database {
                    detail: format!("{other:?}"),
                },
            });
        };
        let path = first.path.clone();
        if let Some(sled_trees) = trees
            .iter()
            .map(|t| t.as_sled())
            .collect::<Option<Vec<_>>>()
        {
            return sled_transaction(&path, &sled_trees, body);
        }
        let pg_trees = Self::all_pg(trees);
        super::postgres::transaction(&pg_trees, |tx| body(&pg_views(tx, &pg_trees)))
    }

    fn all_pg<'t>(trees: &[&'t Tree]) -> Vec<&'t PgTree> {
        trees
            .iter()
            .map(|t| t.as_pg())
            .collect::<Option<Vec<_>>>()
            .expect("a transaction's trees are all of one backend")
    }

    /// Claims entries of the index `trees[walked]` (its values are primary
    /// keys) with keys in `[start, end)`: walks them in key order and hands
    /// each to `take`, inside one transaction over `trees`, until `limit`
    /// were taken (`take` returned Some) or the range ends; returns what
    /// `take` returned. An entry another claimer holds is skipped, and one
    /// is never handed over twice.
    ///
    /// On Postgres the walk locks rows with `FOR UPDATE SKIP LOCKED`, so
    /// two replicas claiming at once take different entries; `take`'s reads
    /// lock their rows too (see `postgres::claim`). On sled (one process)
    /// the walk is read before the transaction (sled iterators inside one
    /// deadlock) and each entry is handed over only if the transaction
    /// still finds it as walked: a compare-and-swap, which reruns on a
    /// conflict like any sled transaction. Either way `take` must depend
    /// only on what it reads and is given.
    pub(crate) fn claim<T>(
        trees: &[&Tree],
        walked: usize,
        start: &[u8],
        end: &[u8],
        limit: usize,
        take: impl Fn(&[TxTree<'_>], &[u8], &[u8]) -> Result<Option<T>, TxError>,
    ) -> StoreResult<Vec<T>> {
        if limit == 0 || start >= end {
            return Ok(Vec::new());
        }
        let path = trees[0].path.clone();
        if let Some(sled_trees) = trees
            .iter()
            .map(|t| t.as_sled())
            .collect::<Option<Vec<_>>>()
        {
            return sled_claim(&path, &sled_trees, walked, start, end, limit, take);
        }
        let pg_trees = Self::all_pg(trees);
        super::postgres::claim(
            &pg_trees,
            pg_trees[walked].name(),
            start,
            end,
            limit,
            |tx, key, value| take(&pg_views(tx, &pg_trees), key, value),
        )
    }
}

fn pg_views<'a>(tx: &'a PgTx, trees: &[&'a PgTree]) -> Vec<TxTree<'a>> {
    trees
        .iter()
        .map(|t| TxTree::Pg { tx, name: t.name() })
        .collect()
}

/// One sled transaction over `trees`; a conflict runs `body` again.
fn sled_transaction<T>(
    path: &Arc<PathBuf>,
    trees: &[&sled::Tree],
    body: impl Fn(&[TxTree<'_>]) -> Result<T, TxError>,
) -> StoreResult<T> {
    let result = trees.transaction(|views| {
        let wrapped: Vec<TxTree<'_>> = views.iter().map(TxTree::Sled).collect();
        body(&wrapped).map_err(|e| match e {
            TxError::Abort(e) => ConflictableTransactionError::Abort(e),
            TxError::Sled(e) => e.into(),
            TxError::Pg(e) => ConflictableTransactionError::Abort(e.into_store_error()),
        })
    });
    match result {
        Ok(value) => Ok(value),
        Err(TransactionError::Abort(err)) => Err(err),
        Err(TransactionError::Storage(err)) => Err(StoreError::from_sled(path, err)),
    }
}

/// [`Tree::claim`] on sled: a page of the walk at a time, each page's
/// entries handed over in one transaction if still there as walked.
fn sled_claim<T>(
    path: &Arc<PathBuf>,
    trees: &[&sled::Tree],
    walked: usize,
    start: &[u8],
    end: &[u8],
    limit: usize,
    take: impl Fn(&[TxTree<'_>], &[u8], &[u8]) -> Result<Option<T>, TxError>,
) -> StoreResult<Vec<T>> {
    let mut claimed = Vec::new();
    let mut from = start.to_vec();
    let mut seen = std::collections::HashSet::new();
    while claimed.len() < limit {
        let want = limit - claimed.len();
        let mut page = Vec::with_capacity(want);
        for item in trees[walked].range(from.clone()..end.to_vec()) {
            let (key, value) = item.map_err(|e| StoreError::from_sled(path, e))?;
            if seen.insert(value.clone()) {
                page.push((key, value));
                if page.len() == want {
                    break;
                }
            }
        }
        let Some((last, _)) = page.last() else {
            break;
        };
        // The next page starts just after this one's last key.
        from = last.to_vec();
        from.push(0);
        let got = sled_transaction(path, trees, |views| {
            let mut got = Vec::new();
            for (key, value) in &page {
                if views[walked].get(key)?.as_deref() != Some(&value[..]) {
                    continue; // taken or moved since the walk
                }
                if let Some(taken) = take(views, key, value)? {
                    got.push(taken);
                }
            }
            Ok(got)
        })?;
        claimed.extend(got);
        if page.len() < want {
            break;
        }
    }
    Ok(claimed)
}

/// A tree as a transaction sees it.
pub(crate) enum TxTree<'a> {
    Sled(&'a TransactionalTree),
    Pg { tx: &'a PgTx, name: &'a str },
}

/// Why a transaction's body stopped.
#[derive(Debug)]
pub(crate) enum TxError {
    /// The body refused: nothing is written, the error is returned.
    Abort(StoreError),
    /// sled: a conflict (the body runs again) or a storage failure.
    Sled(UnabortableTransactionError),
    /// Postgres: a serialization failure (the body runs again) or another
    /// database error.
    Pg(super::postgres::PgTxError),
}

impl From<UnabortableTransactionError> for TxError {
    fn from(e: UnabortableTransactionError) -> Self {
        TxError::Sled(e)
    }
}

impl TxTree<'_> {
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Value>, TxError> {
        match self {
            TxTree::Sled(t) => Ok(t.get(key)?.map(Value::Sled)),
            TxTree::Pg { tx, name } => {
                Ok(tx.get(name, key).map_err(TxError::Pg)?.map(Value::Owned))
            }
        }
    }

    /// The values at `keys` as the transaction sees them, in their order:
    /// one statement on Postgres, a read per key on sled.
    pub(crate) fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Value>>, TxError> {
        match self {
            TxTree::Sled(_) => keys.iter().map(|key| self.get(key)).collect(),
            TxTree::Pg { tx, name } => Ok(tx
                .get_many(name, keys)
                .map_err(TxError::Pg)?
                .into_iter()
                .map(|value| value.map(Value::Owned))
                .collect()),
        }
    }

    pub(crate) fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), TxError> {
        match self {
            TxTree::Sled(t) => {
                t.insert(key, value)?;
                Ok(())
            }
            TxTree::Pg { tx, name } => tx.insert(name, key, value).map_err(TxError::Pg),
        }
    }

    pub(crate) fn remove(&self, key: &[u8]) -> Result<(), TxError> {
        match self {
            TxTree::Sled(t) => {
                t.remove(key)?;
                Ok(())
            }
            TxTree::Pg { tx, name } => tx.remove(name, key).map_err(TxError::Pg),
        }
    }
}

/// Values a transaction read up front, all in one go (one statement on
/// Postgres), for a loop that then takes each key's once: a key's first
/// take is the value read up front, a later one (the loop wrote it since)
/// reads it again, as the transaction now sees it.
pub(crate) struct FirstReads<'k> {
    values: std::collections::HashMap<&'k str, Option<Value>>,
}

/// Reads `keys` of `view` up front (see [`FirstReads`]).
pub(crate) fn read_first<'k>(
    view: &TxTree<'_>,
    keys: impl Iterator<Item = &'k str>,
) -> Result<FirstReads<'k>, TxError> {
    let mut unique: Vec<&'k str> = keys.collect();
    unique.sort_unstable();
    unique.dedup();
    let raw: Vec<&[u8]> = unique.iter().map(|key| key.as_bytes()).collect();
    let values = unique.into_iter().zip(view.get_many(&raw)?).collect();
    Ok(FirstReads { values })
}

impl FirstReads<'_> {
    pub(crate) fn take(&mut self, view: &TxTree<'_>, key: &str) -> Result<Option<Value>, TxError> {
        match self.values.remove(key) {
            Some(read) => Ok(read),
            None => view.get(key.as_bytes()),
        }
    }
}
