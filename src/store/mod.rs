//! The store: trees for records, secondary-index trees kept in step with
//! them, a schema version, and a change feed. The trees live in sled (the
//! embedded default, one rep) or in Postgres (a team; see `postgres.rs`);
//! everything here is the same on both.
//!
//! A record and its index entries always change together: readers never see an
//! index entry pointing at a missing or stale record. Writes that move index
//! entries are transactions; the hot paths write records whose entries do not
//! move with a compare-and-swap instead (`each.rs`), which does not stop the
//! rest of the store meanwhile.

pub mod activity;
mod batch;
mod claim;
mod each;
mod error;
mod feed;
pub mod keys;
mod kinds;
mod lock;
mod migrations;
mod pg_tls;
pub mod portable;
mod postgres;
mod queue;
mod records;
pub mod schema;
mod tree;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

pub use batch::WriteBatch;
pub use claim::ClaimReads;
pub use error::{StoreError, StoreResult};
pub use feed::{Change, Op, SyncProgress};
pub use kinds::{Index, Kind};
pub use lock::{DataDirLock, LockInfo, current_holder};
pub use postgres::MIGRATIONS as POSTGRES_MIGRATIONS;
pub use records::{IndexEntry, Record};
pub(crate) use tree::{Tree, TxError, TxTree, read_first};

/// A cheap-to-clone handle to the open cache.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    path: PathBuf,
    /// Per kind: the record tree followed by its index trees (slot order).
    trees: Vec<Vec<Tree>>,
    /// The store's own metadata (schema version, notes of migrations);
    /// Some until the store is dropped.
    meta: Option<Tree>,
    feed: broadcast::Sender<Change>,
    writes: AtomicU64,
    /// Checkpoint on close after any write, not only a big session's.
    checkpoint_on_close: std::sync::atomic::AtomicBool,
    lock: std::sync::Mutex<Option<DataDirLock>>,
}

/// Opens sled's files. Holding the data-dir lock means no other outpost uses
/// them, but sled's background flusher of a handle this process just closed
/// can keep its file lock for a moment: that one error is waited out (for at
/// most two seconds), every other error is returned at once.
fn open_sled(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match config.open() {
            // sled words it so, as an `ErrorKind::Other`.
            Err(sled::Error::Io(e))
                if e.to_string().starts_with("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Removes snapshot files sled left half-made in `db_path`. sled writes each
/// snapshot as `snap.<lsn>.generating`, syncs it and renames it to
/// `snap.<lsn>`; a process killed before the rename leaves the first behind.
/// sled 0.34 then reads the newest-named `snap.*` file, that one included,
/// and refuses to open when it is torn ("corrupted"), on every start from
/// then on. Such a file is never a finished snapshot (the finished one is
/// the renamed file, and without one sled replays its log from the one
/// before), so removing it loses nothing. Returns the names removed.
fn clear_unfinished_snapshots(db_path: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(db_path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(db_path.join(&name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            tracing::debug!(file = %name, "removed an unfinished sled snapshot");
            removed.push(name);
        }
    }
    Ok(removed)
}

/// Opens a cache's sled files directly, without the data-dir lock or the
/// schema check (repair tools and tests that plant damage), waiting out the
/// file lock a handle this process just closed may still hold.
pub fn open_raw(cache_dir: &Path) -> sled::Result<sled::Db> {
    open_sled(&sled::Config::new().path(cache_dir))
}

/// After this many record writes in one session, closing the store also
/// checkpoints it (see `Drop for Inner`).
const CHECKPOINT_AFTER_WRITES: u64 = 20_000;

impl Drop for Inner {
    /// sled writes its snapshot (the page table) only while opening, so the
    /// next open replays every log entry written since the last one: after a
    /// big sync or import that is seconds of startup. Reopening once here,
    /// while the data-dir lock is still held, moves that cost to the end of
    /// the session that wrote so much, and the next start is quick.
    fn drop(&mut self) {
        let Backend::Sled(db) = &mut self.backend else {
            return;
        };
        let Some(db) = db.take() else {
            return;
        };
        let writes = self.writes.load(Ordering::Relaxed);
        let big_session = writes >= CHECKPOINT_AFTER_WRITES
            || (writes > 0 && self.checkpoint_on_close.load(Ordering::Relaxed));
        let on_disk = self.lock.get_mut().map(|l| l.is_some()).unwrap_or(false);
        if let Err(e) = db.flush() {
            tracing::warn!(error = %e, "flushing the cache on close failed");
            return;
        }
        // The trees share the database's internals; all must go before the
        // files can be opened again.
        self.trees.clear();
        self.meta = None;
        drop(db);
        if big_session && on_disk {
            let started = std::time::Instant::now();
            let db_path = self.path.join(CACHE_DIR);
            if let Err(e) = clear_unfinished_snapshots(&db_path) {
                tracing::warn!(error = %e, "clearing unfinished snapshots before the checkpoint failed");
                return;
            }
            match open_sled(&sled::Config::new().path(&db_path)) {
                Ok(db) => {
                    drop(db);
                    tracing::debug!(
                        ms = started.elapsed().as_millis() as u64,
                        "cache checkpointed"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "checkpointing the cache on close failed"),
            }
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// The directory inside a data dir that holds sled's files.
const CACHE_DIR: &str = "cache";

impl Store {
    /// Whether `data_dir` holds a cache already (checked without creating
    /// anything, for commands that must not leave one behind).
    pub fn exists_in(data_dir: &Path) -> bool {
        data_dir.join(CACHE_DIR).is_dir()
    }

    /// Opens (creating if needed) the cache in `data_dir`, taking the data-dir
    /// lock for `mode` ("tui", "daemon", "cli").
    pub fn open(data_dir: &Path, mode: &str) -> StoreResult<Store> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::from_io(data_dir, &e))?;
        let lock = DataDirLock::acquire(data_dir, mode)?;
        let db_path = data_dir.join(CACHE_DIR);
        // Under the data-dir lock: no other outpost is writing a snapshot.
        clear_unfinished_snapshots(&db_path).map_err(|e| StoreError::from_io(&db_path, &e))?;
        let config = sled::Config::new()
            .path(&db_path)
            .flush_every_ms(Some(200))
            // sled's default page cache is 1 GiB; the indexes make most reads
            // short, so a small cache keeps a rep's laptop light.
            .cache_capacity(64 * 1024 * 1024);
        let db = open_sled(&config).map_err(|e| StoreError::from_sled(&db_path, e))?;
        Self::from_db(db, data_dir.to_path_buf(), Some(lock))
    }

    /// Opens the store where `location` says, taking the data-dir lock for
    /// `mode` either way: a replica on Postgres keeps its own data dir (its
    /// lock, log and tokens), the records live in the shared database.
    pub fn open_at(data_dir: &Path, mode: &str, location: &Location) -> StoreResult<Store> {
        match location {
            Location::Embedded => Self::open(data_dir, mode),
            Location::Postgres(url) => {
                std::fs::create_dir_all(data_dir).map_err(|e| StoreError::from_io(data_dir, &e))?;
                let lock = DataDirLock::acquire(data_dir, mode)?;
                Self::from_postgres(url.expose_secret(), data_dir.to_path_buf(), Some(lock))
            }
        }
    }

    /// A store on the Postgres database at `url`, without a data dir (tests,
    /// `outpost import` into a team database).
    pub fn postgres(url: &str) -> StoreResult<Store> {
        Self::from_postgres(url, PathBuf::from("<postgres>"), None)
    }

    /// Opens the store at `location` without a data dir or its lock (checks
    /// of a team database; an embedded cache is only opened under its lock,
    /// so it is refused here).
    pub fn open_unlocked(location: &Location) -> StoreResult<Store> {
        match location {
            Location::Postgres(url) => Self::postgres(url.expose_secret()),
            Location::Embedded => Err(StoreError::Io {
                path: PathBuf::from("<embedded>"),
                detail: "the embedded cache opens only with its data dir".into(),
            }),
        }
    }

    /// Applies the Postgres migrations the database at `url` lacks and
    /// returns their versions (`outpost migrate`; opening does it too).
    pub fn migrate_postgres(url: &str) -> StoreResult<Vec<i32>> {
        let (feed, _) = broadcast::channel(16);
        let pg = postgres::PgShared::connect(url, feed)?;
        Ok(pg.applied_at_open().to_vec())
    }

    /// An in-memory store for tests and throwaway demos.
    pub fn temporary() -> StoreResult<Store> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|e| StoreError::from_sled(Path::new("<memory>"), e))?;
        Self::from_db(db, PathBuf::from("<memory>"), None)
    }

    fn from_db(db: sled::Db, path: PathBuf, lock: Option<DataDirLock>) -> StoreResult<Store> {
        schema::ensure(&db, &path, schema::CURRENT, schema::MIGRATIONS)?;
        let shared_path = Arc::new(path.clone());
        let open = |name: &str| {
            db.open_tree(name)
                .map(|tree| Tree::sled(shared_path.clone(), tree))
                .map_err(|e| StoreError::from_sled(&path, e))
        };
        let trees = Self::kind_trees(open)?;
        let meta = open("meta")?;
        let (feed, _) = broadcast::channel(4096);
        Ok(Self::assemble(
            Backend::Sled(Some(db)),
            path,
            trees,
            meta,
            feed,
            lock,
        ))
    }

    fn from_postgres(url: &str, path: PathBuf, lock: Option<DataDirLock>) -> StoreResult<Store> {
        let (feed, _) = broadcast::channel(4096);
        let pg = postgres::PgShared::connect(url, feed.clone())?;
        let shared_path = Arc::new(path.clone());
        let open = |name: &'static str| {
            Ok::<_, StoreError>(Tree::pg(
                shared_path.clone(),
                postgres::PgTree::new(pg.clone(), name),
            ))
        };
        let trees = Self::kind_trees(open)?;
        let meta = open("meta")?;
        // An index tree's rows go one by one: the tree API has no bulk
        // delete, and these steps run once per database.
        let drop_tree = |name: &'static str| -> StoreResult<()> {
            let tree = Tree::pg(shared_path.clone(), postgres::PgTree::new(pg.clone(), name));
            let keys: Vec<tree::Value> = tree
                .scan_prefix(&[], false)
                .map(|entry| entry.map(|(key, _)| key))
                .collect::<StoreResult<_>>()?;
            keys.iter().try_for_each(|key| tree.remove(key))
        };
        schema::ensure_in_tree(
            &meta,
            &path,
            schema::CURRENT,
            migrations::INDEX_DROPS,
            drop_tree,
        )?;
        Ok(Self::assemble(
            Backend::Postgres(pg),
            path,
            trees,
            meta,
            feed,
            lock,
        ))
    }

    /// Per kind, its record tree followed by its index trees.
    fn kind_trees(
        mut open: impl FnMut(&'static str) -> StoreResult<Tree>,
    ) -> StoreResult<Vec<Vec<Tree>>> {
        let mut trees = Vec::with_capacity(Kind::ALL.len());
        for kind in Kind::ALL {
            let mut group = vec![open(kind.tree())?];
            for index in kind.indexes() {
                group.push(open(index.tree())?);
            }
            trees.push(group);
        }
        Ok(trees)
    }

    fn assemble(
        backend: Backend,
        path: PathBuf,
        trees: Vec<Vec<Tree>>,
        meta: Tree,
        feed: broadcast::Sender<Change>,
        lock: Option<DataDirLock>,
    ) -> Store {
        Store {
            inner: Arc::new(Inner {
                backend,
                path,
                trees,
                meta: Some(meta),
                feed,
                writes: AtomicU64::new(0),
                checkpoint_on_close: std::sync::atomic::AtomicBool::new(false),
                lock: std::sync::Mutex::new(lock),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// "sled" or "postgres", for `/health` and `outpost doctor`.
    pub fn backend_name(&self) -> &'static str {
        match self.inner.backend {
            Backend::Sled(_) => "sled",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Whether the database answers (always, for the embedded store).
    pub fn ping(&self) -> StoreResult<()> {
        match &self.inner.backend {
            Backend::Sled(_) => Ok(()),
            Backend::Postgres(pg) => pg.ping(),
        }
    }

    /// Round trips to the database server since the store opened (None
    /// for the embedded store, which has no server): what the benches and
    /// tests measure an operation's cost on Postgres by.
    pub fn database_round_trips(&self) -> Option<u64> {
        match &self.inner.backend {
            Backend::Sled(_) => None,
            Backend::Postgres(pg) => Some(pg.round_trips()),
        }
    }

    #[cfg(test)]
    fn db(&self) -> &sled::Db {
        match &self.inner.backend {
            Backend::Sled(db) => db
                .as_ref()
                .expect("the database is open while the store is"),
            Backend::Postgres(_) => panic!("not a sled store"),
        }
    }

    fn meta(&self) -> &Tree {
        self.inner
            .meta
            .as_ref()
            .expect("the metadata tree is open while the store is")
    }

    /// Records who holds the data dir (e.g. the daemon's API address).
    pub fn set_lock_info(&self, info: &LockInfo) -> StoreResult<()> {
        let mut guard = self.inner.lock.lock().expect("lock mutex");
        match guard.as_mut() {
            Some(lock) => lock.write_info(info),
            None => Ok(()),
        }
    }

    /// Whether the migration to schema 4 left the conversations to be
    /// linked (see `migrations::PENDING_SETTLE`).
    pub fn conversations_pending(&self) -> StoreResult<bool> {
        self.meta().contains_key(migrations::PENDING_SETTLE)
    }

    /// The conversations are linked: forget the migration's note.
    pub fn conversations_settled(&self) -> StoreResult<()> {
        self.meta().remove(migrations::PENDING_SETTLE)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.feed.subscribe()
    }

    /// Publishes a change that did not come from a record write (sync progress, notices).
    pub fn publish(&self, change: Change) {
        let _ = self.inner.feed.send(change);
    }

    /// Checkpoints the cache on close whenever this session wrote anything
    /// (by default only after a big session's 20,000 writes). For the TUI:
    /// every session writes a little (sync state, poll leases), and sled
    /// would replay it at the next start, before the first frame; the
    /// checkpoint moves that to the end of the session, after the terminal
    /// is given back. A short command keeps its quick exit instead.
    pub fn checkpoint_on_close(&self) {
        self.inner
            .checkpoint_on_close
            .store(true, Ordering::Relaxed);
    }

    /// How many records were actually written (changed) since open.
    pub fn write_count(&self) -> u64 {
        self.inner.writes.load(Ordering::Relaxed)
    }

    fn group(&self, kind: Kind) -> &[Tree] {
        &self.inner.trees[kind as usize]
    }

    fn tree(&self, kind: Kind) -> &Tree {
        &self.group(kind)[0]
    }

    fn index_tree(&self, index: Index) -> &Tree {
        &self.group(index.kind())[index.slot()]
    }

    pub fn encode<R: Record>(record: &R) -> StoreResult<Vec<u8>> {
        let mut out = vec![R::VERSION];
        let body = postcard::to_stdvec(record).map_err(|e| StoreError::Encode {
            kind: R::KIND,
            detail: e.to_string(),
        })?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn decode<R: Record>(key: &[u8], bytes: &[u8]) -> StoreResult<R> {
        let corrupt = |detail: String| StoreError::Corrupt {
            kind: R::KIND,
            key: String::from_utf8_lossy(key).into_owned(),
            detail,
        };
        match bytes.split_first() {
            Some((version, body)) if *version == R::VERSION => {
                postcard::from_bytes(body).map_err(|e| corrupt(e.to_string()))
            }
            Some((version, _)) => Err(corrupt(format!(
                "encoded with record version {version}, expected {}",
                R::VERSION
            ))),
            None => Err(corrupt("empty record".into())),
        }
    }

    pub fn get<R: Record>(&self, key: &str) -> StoreResult<Option<R>> {
        match self.tree(R::KIND).get(key.as_bytes())? {
            Some(bytes) => Ok(Some(Self::decode(key.as_bytes(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// The records at `keys`, in their order (None where absent): one
    /// round trip on Postgres, where a `get` per key would be one each.
    pub fn get_many<R: Record>(&self, keys: &[String]) -> StoreResult<Vec<Option<R>>> {
        let raw: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes()).collect();
        self.tree(R::KIND)
            .get_many(&raw)?
            .into_iter()
            .zip(&raw)
            .map(|(bytes, key)| bytes.map(|bytes| Self::decode(key, &bytes)).transpose())
            .collect()
    }

    pub fn contains<R: Record>(&self, key: &str) -> StoreResult<bool> {
        self.tree(R::KIND).contains_key(key.as_bytes())
    }

    /// Writes a record and its index entries atomically. Returns false (and
    /// writes nothing) when the stored record is already identical.
    pub fn put<R: Record>(&self, record: &R) -> StoreResult<bool> {
        Ok(self.put_all(std::slice::from_ref(record))? == 1)
    }

    /// Writes many records of one kind in a single transaction; returns how many
    /// actually changed.
    pub fn put_all<R: Record>(&self, records: &[R]) -> StoreResult<usize> {
        self.write_batch::<R>(records, false)
    }

    /// Inserts records that are not there yet (events are immutable facts:
    /// the first sighting wins). Returns how many were new.
    pub fn insert_new<R: Record>(&self, records: &[R]) -> StoreResult<usize> {
        self.write_batch::<R>(records, true)
    }

    fn write_batch<R: Record>(&self, records: &[R], only_new: bool) -> StoreResult<usize> {
        if records.is_empty() {
            return Ok(0);
        }
        let mut prepared = Vec::with_capacity(records.len());
        for record in records {
            prepared.push((record.key(), Self::encode(record)?, record.index_entries()));
        }
        let group: Vec<&Tree> = self.group(R::KIND).iter().collect();
        let changed = Tree::transaction(&group, |views| {
            let mut changed = Vec::new();
            let mut olds = read_first(&views[0], prepared.iter().map(|(key, ..)| key.as_str()))?;
            for (key, bytes, entries) in &prepared {
                let old = olds.take(&views[0], key)?;
                if old.is_some() && only_new {
                    continue;
                }
                if Self::replace_in_tx(views, R::KIND, key, old.as_deref(), None, bytes, entries)? {
                    changed.push(key.clone());
                }
            }
            Ok(changed)
        })?;
        self.announce(R::KIND, &changed);
        Ok(changed.len())
    }

    /// Reads, changes and writes records of one kind in one transaction.
    /// `change` sees each key's current record (None when absent) and returns
    /// the record to write, or None to leave it; with it, a value handed back
    /// to the caller. The backend reruns the closure when another writer got
    /// there first, so read-modify-write never loses an update; only the
    /// last run's values are returned.
    pub fn modify<R: Record, T>(
        &self,
        keys: &[String],
        change: impl Fn(&str, Option<R>) -> Option<(R, T)>,
    ) -> StoreResult<Vec<T>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let group: Vec<&Tree> = self.group(R::KIND).iter().collect();
        let (changed, values) = Tree::transaction(&group, |views| {
            let mut changed = Vec::new();
            let mut values = Vec::new();
            let mut olds = read_first(&views[0], keys.iter().map(String::as_str))?;
            for key in keys {
                let old = olds.take(&views[0], key)?;
                let current = match &old {
                    Some(bytes) => {
                        Some(Self::decode::<R>(key.as_bytes(), bytes).map_err(TxError::Abort)?)
                    }
                    None => None,
                };
                // Taken before `change` has the record: no second decode below.
                let old_entries = current.as_ref().map(Record::index_entries);
                let Some((record, value)) = change(key, current) else {
                    continue;
                };
                values.push(value);
                if record.key() != *key {
                    return Err(TxError::Abort(StoreError::Encode {
                        kind: R::KIND,
                        detail: format!(
                            "a change to {key} produced a record keyed {}",
                            record.key()
                        ),
                    }));
                }
                let bytes = Self::encode(&record).map_err(TxError::Abort)?;
                let entries = record.index_entries();
                if Self::replace_in_tx(
                    views,
                    R::KIND,
                    key,
                    old.as_deref(),
                    old_entries.as_deref(),
                    &bytes,
                    &entries,
                )? {
                    changed.push(key.clone());
                }
            }
            Ok((changed, values))
        })?;
        self.announce(R::KIND, &changed);
        Ok(values)
    }

    /// Writes one record over `old` inside a transaction, touching only the
    /// index entries that differ. False when the bytes are already stored.
    /// `views` are the kind's record tree followed by its index trees.
    /// `old_entries` are `old`'s index entries when the caller knows them
    /// (it decoded `old` already); otherwise `old` is decoded here, inside
    /// the transaction.
    pub(super) fn replace_in_tx(
        views: &[TxTree<'_>],
        kind: Kind,
        key: &str,
        old: Option<&[u8]>,
        old_entries: Option<&[IndexEntry]>,
        bytes: &[u8],
        entries: &[IndexEntry],
    ) -> Result<bool, TxError> {
        // Entries the old record already has are left alone: an index key
        // embeds the primary key, so an equal entry is identical, and most
        // updates (a due time moving) touch one index only.
        let mut kept = Vec::new();
        if let Some(old) = old {
            if old == bytes {
                return Ok(false);
            }
            let previous = match old_entries {
                Some(known) => known.to_vec(),
                None => records::entries_of(kind, key.as_bytes(), old).map_err(TxError::Abort)?,
            };
            for stale in previous {
                if entries.contains(&stale) {
                    kept.push(stale);
                } else {
                    views[stale.index.slot()].remove(&stale.key)?;
                }
            }
        }
        for entry in entries.iter().filter(|e| !kept.contains(e)) {
            views[entry.index.slot()].insert(entry.key.as_slice(), key.as_bytes())?;
        }
        views[0].insert(key.as_bytes(), bytes)?;
        Ok(true)
    }

    fn announce(&self, kind: Kind, changed: &[String]) {
        self.inner
            .writes
            .fetch_add(changed.len() as u64, Ordering::Relaxed);
        for key in changed {
            self.publish(Change::Record {
                kind,
                key: key.clone(),
                op: Op::Put,
            });
        }
    }

    /// Removes a record and its index entries atomically; false if it was absent.
    pub fn delete<R: Record>(&self, key: &str) -> StoreResult<bool> {
        self.delete_where::<R>(key, |_| true)
    }

    /// Deletes a record only if it is still exactly `expected` (a
    /// compare-and-swap): work that finished on a record someone changed
    /// since must not take the newer version with it. False when it changed
    /// or is gone.
    pub fn delete_if_unchanged<R: Record>(&self, expected: &R) -> StoreResult<bool> {
        let bytes = Self::encode(expected)?;
        self.delete_where::<R>(&expected.key(), |old| old == bytes.as_slice())
    }

    /// Deletes the record at `key` with its index entries, in one
    /// transaction, if it is there and `keep_going` agrees with its bytes.
    fn delete_where<R: Record>(
        &self,
        key: &str,
        keep_going: impl Fn(&[u8]) -> bool,
    ) -> StoreResult<bool> {
        let group: Vec<&Tree> = self.group(R::KIND).iter().collect();
        let removed = Tree::transaction(&group, |views| {
            let Some(old) = views[0].get(key.as_bytes())? else {
                return Ok(false);
            };
            if !keep_going(&old) {
                return Ok(false);
            }
            views[0].remove(key.as_bytes())?;
            let previous: R = Self::decode(key.as_bytes(), &old).map_err(TxError::Abort)?;
            for stale in previous.index_entries() {
                views[stale.index.slot()].remove(&stale.key)?;
            }
            Ok(true)
        })?;
        if removed {
            self.inner.writes.fetch_add(1, Ordering::Relaxed);
            self.publish(Change::Record {
                kind: R::KIND,
                key: key.to_string(),
                op: Op::Delete,
            });
        }
        Ok(removed)
    }

    /// Every record of a kind, in key order.
    pub fn iter<R: Record>(&self) -> impl Iterator<Item = StoreResult<R>> + '_ {
        self.scan_prefix::<R>("")
    }

    /// Records whose key starts with `prefix`, in key order.
    pub fn scan_prefix<R: Record>(
        &self,
        prefix: &str,
    ) -> impl Iterator<Item = StoreResult<R>> + '_ {
        self.tree(R::KIND)
            .scan_prefix(prefix.as_bytes(), false)
            .map(move |item| {
                let (key, value) = item?;
                Self::decode(&key, &value)
            })
    }

    pub fn count<R: Record>(&self) -> usize {
        self.tree(R::KIND).count_prefix(&[]).unwrap_or_else(|e| {
            tracing::warn!(error = %e, kind = ?R::KIND, "counting records failed");
            0
        })
    }

    /// Primary keys from an index, for entries whose index key starts with
    /// `prefix`, in index order (or reversed).
    pub fn index_keys(
        &self,
        index: Index,
        prefix: &[u8],
        reverse: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<(Vec<u8>, String)>> + '_> {
        Box::new(
            self.index_tree(index)
                .scan_prefix(prefix, reverse)
                .map(Self::index_item),
        )
    }

    /// Index entries with keys in `[start, end)`, in order (or reversed).
    pub fn index_range(
        &self,
        index: Index,
        start: &[u8],
        end: &[u8],
        reverse: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<(Vec<u8>, String)>> + '_> {
        Box::new(
            self.index_tree(index)
                .range(start, end, reverse)
                .map(Self::index_item),
        )
    }

    fn index_item(item: StoreResult<tree::Entry>) -> StoreResult<(Vec<u8>, String)> {
        let (k, v) = item?;
        Ok((k.into_vec(), String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records reached through an index (prefix scan), skipping none.
    pub fn by_index<R: Record>(
        &self,
        index: Index,
        prefix: &[u8],
        reverse: bool,
    ) -> impl Iterator<Item = StoreResult<R>> + '_ {
        debug_assert_eq!(index.kind(), R::KIND);
        self.index_keys(index, prefix, reverse)
            .filter_map(move |item| match item {
                Ok((_, key)) => self.get::<R>(&key).transpose(),
                Err(e) => Some(Err(e)),
            })
    }

    pub fn index_len(&self, index: Index, prefix: &[u8]) -> usize {
        self.index_tree(index)
            .count_prefix(prefix)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, ?index, "counting index entries failed");
                0
            })
    }

    /// Waits until everything written so far is on disk (a committed
    /// Postgres transaction is already).
    pub async fn flush_async(&self) -> StoreResult<()> {
        match &self.inner.backend {
            Backend::Sled(Some(db)) => db
                .flush_async()
                .await
                .map(|_| ())
                .map_err(|e| StoreError::from_sled(&self.inner.path, e)),
            _ => Ok(()),
        }
    }

    pub fn flush(&self) -> StoreResult<()> {
        match &self.inner.backend {
            Backend::Sled(Some(db)) => db
                .flush()
                .map(|_| ())
                .map_err(|e| StoreError::from_sled(&self.inner.path, e)),
            _ => Ok(()),
        }
    }

    /// Checks every index against the records, both ways. Used by tests and
    /// `outpost doctor`; returns a description of each disagreement.
    pub fn verify_indexes(&self) -> StoreResult<Vec<String>> {
        let mut problems = Vec::new();
        for kind in Kind::ALL {
            if kind.indexes().is_empty() {
                continue;
            }
            self.verify_kind(kind, &mut problems)?;
        }
        Ok(problems)
    }

    fn verify_kind(&self, kind: Kind, problems: &mut Vec<String>) -> StoreResult<()> {
        use std::collections::BTreeSet;
        let mut expected: Vec<BTreeSet<Vec<u8>>> = vec![BTreeSet::new(); kind.indexes().len()];
        for item in self.tree(kind).scan_prefix(&[], false) {
            let (key, value) = item?;
            let entries = records::entries_of(kind, &key, &value)?;
            for entry in entries {
                expected[entry.index.slot() - 1].insert(entry.key);
            }
        }
        for (slot, index) in kind.indexes().iter().enumerate() {
            let mut actual = BTreeSet::new();
            for item in self.index_tree(*index).scan_prefix(&[], false) {
                let (k, v) = item?;
                if !self.tree(kind).contains_key(&v)? {
                    problems.push(format!(
                        "{}: entry points at missing record {}",
                        index.tree(),
                        String::from_utf8_lossy(&v)
                    ));
                }
                actual.insert(k.into_vec());
            }
            for missing in expected[slot].difference(&actual) {
                problems.push(format!(
                    "{}: missing entry {:?}",
                    index.tree(),
                    String::from_utf8_lossy(missing)
                ));
            }
            for stale in actual.difference(&expected[slot]) {
                problems.push(format!(
                    "{}: stale entry {:?}",
                    index.tree(),
                    String::from_utf8_lossy(stale)
                ));
            }
        }
        Ok(())
    }
}

/// Where the records live: the embedded sled cache in the data dir (one
/// rep), or a Postgres database several replicas share (a team).
#[derive(Clone)]
pub enum Location {
    Embedded,
    /// The connection URL (it may carry a password: never printed).
    Postgres(secrecy::SecretString),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Embedded => f.write_str("Embedded"),
            Location::Postgres(_) => f.write_str("Postgres(<url>)"),
        }
    }
}

use secrecy::ExposeSecret;

enum Backend {
    /// Some until the store is dropped (see `Drop for Inner`).
    Sled(Option<sled::Db>),
    Postgres(postgres::Pg),
}
