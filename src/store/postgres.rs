//! The store on Postgres, for a team: every tree is a range of one table,
//! `kv (tree, key, value)`, whose primary key (tree, key) is the ordered
//! index every lookup and scan of the panes and the scheduler walks. The
//! layout above it (records, their index entries, compare-and-swap) is the
//! store's own and the same as on sled, so both backends pass one suite.
//!
//! The store's interface is synchronous (sled is): queries run on the
//! client side of a pooled connection, awaited on the calling thread, while
//! the connections themselves live on a small runtime of their own. A
//! caller inside an async task blocks its thread for a round trip, as it
//! would for a disk read; it never needs the runtime it runs on.
//!
//! Transactions are SERIALIZABLE: when two replicas read and write the same
//! rows, Postgres refuses one (SQLSTATE 40001) and its body runs again on
//! fresh reads, as sled reruns a conflicting transaction. Changes are
//! announced with NOTIFY at commit, so every replica's change feed (and so
//! every attached TUI) hears of writes made by the others.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures::executor::block_on;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;
use tokio_postgres::error::SqlState;

use super::pg_tls::PgTls;

use super::feed::{Change, Op};
use super::kinds::Kind;
use super::{StoreError, StoreResult};

/// The NOTIFY channel record changes are announced on.
const CHANNEL: &str = "outpost_changes";
/// Rows fetched per round trip by a scan.
const PAGE: i64 = 256;
/// A NOTIFY payload must stay under 8000 bytes.
const NOTIFY_CHUNK: usize = 7000;
/// The advisory lock held while migrating, so replicas starting together
/// apply each migration once.
const MIGRATION_LOCK: i64 = 0x6f75_7470_6f73_7431;

/// Versioned schema changes, applied in order by `outpost migrate` and on
/// every open. Never edit one that shipped: add the next.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "records, index entries and metadata as ordered key-value rows",
    "CREATE TABLE kv (
         tree  text COLLATE \"C\" NOT NULL,
         key   bytea NOT NULL,
         value bytea NOT NULL,
         PRIMARY KEY (tree, key)
     )",
)];

/// An open connection pool with the runtime its connections run on.
pub(crate) struct PgShared {
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// Who this process is on the NOTIFY channel (its own changes are
    /// already on its feed).
    origin: String,
    /// The migrations the open applied.
    applied: Vec<i32>,
    /// Round trips to the server so far (reads, writes, commits), for
    /// measuring what an operation costs.
    round_trips: std::sync::atomic::AtomicU64,
}

impl Drop for PgShared {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which async code may not
        // do; the connections are closed by the server when the socket goes.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub(crate) type Pg = Arc<PgShared>;

fn db_error(err: tokio_postgres::Error) -> StoreError {
    StoreError::Database {
        detail: describe(&err),
    }
}

/// The server's own words when it gave some, else the client's, with causes.
pub(super) fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl PgShared {
    /// Connects, applies pending migrations and starts listening for other
    /// replicas' changes, which go out on `feed`.
    pub(crate) fn connect(url: &str, feed: broadcast::Sender<Change>) -> StoreResult<Pg> {
        let (mut config, tls) = super::pg_tls::connect_options(url)?;
        // A database behind a dead network must not hang a request forever.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("outpost-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database {
                detail: format!("cannot start the database runtime: {e}"),
            })?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool =
            Pool::builder(manager)
                .max_size(16)
                .build()
                .map_err(|e| StoreError::Database {
                    detail: format!("cannot build the connection pool: {e}"),
                })?;
        let mut shared = PgShared {
            runtime: Some(runtime),
            pool,
            origin: uuid::Uuid::new_v4().simple().to_string(),
            applied: Vec::new(),
            round_trips: std::sync::atomic::AtomicU64::new(0),
        };
        shared.applied = shared.migrate()?;
        let shared = Arc::new(shared);
        shared.listen(config, tls, feed);
        Ok(shared)
    }

    pub(crate) fn applied_at_open(&self) -> &[i32] {
        &self.applied
    }

    /// Round trips to the server since the store opened.
    pub(crate) fn round_trips(&self) -> u64 {
        self.round_trips.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs one statement (or several sent together) outside a transaction.
    fn send<T>(
        &self,
        statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        self.round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        block_on(statement).map_err(db_error)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the pool")
    }

    /// A pooled connection. Connections are made on the pool's runtime
    /// (their i/o runs there); using one needs no runtime at all.
    fn client(&self) -> StoreResult<Object> {
        let pool = self.pool.clone();
        // Answered over a plain channel: a tokio JoinHandle awaited here,
        // inside a caller's tokio task, would spend that task's cooperative
        // budget and then wait for a wake-up its scheduler never sends.
        let (answer, got) = futures::channel::oneshot::channel();
        self.runtime().spawn(async move {
            let _ = answer.send(pool.get().await);
        });
        let got = block_on(got).map_err(|_| StoreError::Database {
            detail: "the connection task stopped".into(),
        })?;
        got.map_err(|e| StoreError::Database {
            detail: match e {
                deadpool_postgres::PoolError::Backend(e) => {
                    format!("cannot connect to the database: {}", describe(&e))
                }
                other => format!("cannot connect to the database: {other}"),
            },
        })
    }

    /// Applies the migrations this database lacks; returns their versions.
    fn migrate(&self) -> StoreResult<Vec<i32>> {
        let mut client = self.client()?;
        block_on(async {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS outpost_migrations (
                     version    integer PRIMARY KEY,
                     describe   text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await?;
            let applied: Vec<i32> = tx
                .query("SELECT version FROM outpost_migrations", &[])
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let mut done = Vec::new();
            for (version, describe, sql) in MIGRATIONS {
                if applied.contains(version) {
                    continue;
                }
                tracing::info!(version, what = describe, "migrating the database");
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO outpost_migrations (version, describe) VALUES ($1, $2)",
                    &[version, describe],
                )
                .await?;
                done.push(*version);
            }
            tx.commit().await?;
            Ok(done)
        })
        .map_err(db_error)
    }

    /// Whether the database answers (for `/health` and `outpost doctor`).
    pub(crate) fn ping(&self) -> StoreResult<()> {
        let client = self.client()?;
        block_on(client.simple_query("SELECT 1"))
            .map(|_| ())
            .map_err(db_error)
    }

    /// Forwards other replicas' changes to `feed`, reconnecting when the
    /// listening connection drops.
    fn listen(
        self: &Arc<Self>,
        config: tokio_postgres::Config,
        tls: PgTls,
        feed: broadcast::Sender<Change>,
    ) {
        let origin = self.origin.clone();
        self.runtime().spawn(async move {
            loop {
                if let Err(e) = listen_once(&config, tls.clone(), &origin, &feed).await {
                    tracing::warn!(error = %describe(&e), "listening for other replicas' changes failed; again in 2 s");
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    tls: PgTls,
    origin: &str,
    feed: &broadcast::Sender<Change>,
) -> Result<(), tokio_postgres::Error> {
    use futures::StreamExt;
    let (client, mut connection) = config.connect(tls).await?;
    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    let messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let pump = tokio::spawn(async move {
        let mut messages = std::pin::pin!(messages);
        while let Some(message) = messages.next().await {
            if tx.unbounded_send(message).is_err() {
                break;
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    while let Some(message) = rx.next().await {
        match message {
            Ok(AsyncMessage::Notification(note)) => {
                for change in parse_payload(origin, note.payload()) {
                    let _ = feed.send(change);
                }
            }
            Ok(_) => {}
            Err(e) => {
                pump.abort();
                return Err(e);
            }
        }
    }
    pump.abort();
    Ok(())
}

/// NOTIFY payloads for `changes` of record trees, each under the size limit.
fn payloads(origin: &str, changes: &[(String, Vec<u8>, Op)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut items: Vec<serde_json::Value> = Vec::new();
    let mut size = 0;
    for (tree, key, op) in changes {
        let item = serde_json::json!([tree, String::from_utf8_lossy(key), op]);
        let len = item.to_string().len() + 1;
        if size + len > NOTIFY_CHUNK && !items.is_empty() {
            out.push(serde_json::json!({ "o": origin, "c": items }).to_string());
            items = Vec::new();
            size = 0;
        }
        size += len;
        items.push(item);
    }
    if !items.is_empty() {
        out.push(serde_json::json!({ "o": origin, "c": items }).to_string());
    }
    out
}

/// The changes another replica announced (none of our own).
fn parse_payload(origin: &str, payload: &str) -> Vec<Change> {
    #[derive(serde::Deserialize)]
    struct Payload {
        o: String,
        c: Vec<(String, String, Op)>,
    }
    let Ok(parsed) = serde_json::from_str::<Payload>(payload) else {
        tracing::debug!("an unreadable change notice was ignored");
        return Vec::new();
    };
    if parsed.o == origin {
        return Vec::new();
    }
    parsed
        .c
        .into_iter()
        .filter_map(|(tree, key, op)| {
            Kind::parse(&tree).map(|kind| Change::Record { kind, key, op })
        })
        .collect()
}

/// One tree: the rows of `kv` whose `tree` is `name`.
#[derive(Clone)]
pub(crate) struct PgTree {
    pg: Pg,
    name: &'static str,
}

impl PgTree {
    pub(crate) fn new(pg: Pg, name: &'static str) -> PgTree {
        PgTree { pg, name }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Whether writes to this tree are record changes the feed announces.
    fn announces(&self) -> bool {
        Kind::parse(self.name).is_some()
    }

    pub(crate) fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let client = self.pg.client()?;
        let statement = block_on(client.prepare_cached(GET)).map_err(db_error)?;
        let row = self
            .pg
            .send(client.query_opt(&statement, &[&self.name, &key]))?;
        Ok(row.map(|row| row.get(0)))
    }

    pub(crate) fn get_many(&self, keys: &[&[u8]]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pg.client()?;
        let statement = block_on(client.prepare_cached(GET_MANY)).map_err(db_error)?;
        let rows = self
            .pg
            .send(client.query(&statement, &[&self.name, &keys]))?;
        Ok(in_order(keys, &rows))
    }

    /// Runs a write of one row (`plain`, or `announced` on a record tree:
    /// the same write with the change notice in the same statement, sent
    /// only when a row changed); returns how many rows changed. `params`
    /// come before the notice's channel and payload.
    fn write_one(
        &self,
        plain: &str,
        announced: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        key: &[u8],
        op: Op,
    ) -> StoreResult<u64> {
        let client = self.pg.client()?;
        if !self.announces() {
            let statement = block_on(client.prepare_cached(plain)).map_err(db_error)?;
            return self.pg.send(client.execute(&statement, params));
        }
        let payload = payloads(
            &self.pg.origin,
            &[(self.name.to_string(), key.to_vec(), op)],
        )
        .pop()
        .expect("one change makes one payload");
        let mut all = params.to_vec();
        all.push(&CHANNEL);
        all.push(&payload);
        let statement = block_on(client.prepare_cached(announced)).map_err(db_error)?;
        self.pg.send(client.execute(&statement, &all))
    }

    pub(crate) fn insert(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.write_one(
            UPSERT,
            UPSERT_ANNOUNCED,
            &[&self.name, &key, &value],
            key,
            Op::Put,
        )
        .map(|_| ())
    }

    pub(crate) fn remove(&self, key: &[u8]) -> StoreResult<()> {
        self.write_one(
            DELETE,
            DELETE_ANNOUNCED,
            &[&self.name, &key],
            key,
            Op::Delete,
        )
        .map(|_| ())
    }

    pub(crate) fn compare_and_swap(
        &self,
        key: &[u8],
        old: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        let swapped = match old {
            Some(old) => self.write_one(
                SWAP,
                SWAP_ANNOUNCED,
                &[&self.name, &key, &old, &new],
                key,
                Op::Put,
            )?,
            None => self.write_one(
                INSERT_NEW,
                INSERT_NEW_ANNOUNCED,
                &[&self.name, &key, &new],
                key,
                Op::Put,
            )?,
        };
        Ok(swapped == 1)
    }

    pub(crate) fn count(&self, start: Vec<u8>, end: Option<Vec<u8>>) -> StoreResult<usize> {
        let client = self.pg.client()?;
        let count: i64 = self.pg.send(async {
            let row = match &end {
                Some(end) => {
                    let statement = client.prepare_cached(COUNT_RANGE).await?;
                    client
                        .query_one(&statement, &[&self.name, &start, end])
                        .await?
                }
                None => {
                    let statement = client.prepare_cached(COUNT_FROM).await?;
                    client.query_one(&statement, &[&self.name, &start]).await?
                }
            };
            Ok(row.get(0))
        })?;
        Ok(count as usize)
    }

    /// Entries with keys in `[start, end)` (no end: to the tree's end), a
    /// page per round trip.
    pub(crate) fn scan(
        &self,
        start: Vec<u8>,
        end: Option<Vec<u8>>,
        reverse: bool,
    ) -> impl Iterator<Item = StoreResult<super::tree::Entry>> + use<> {
        Scan {
            tree: self.clone(),
            start,
            start_inclusive: true,
            end,
            reverse,
            page: std::collections::VecDeque::new(),
            done: false,
        }
    }

    fn page(&self, scan: &Scan) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let lower = if scan.start_inclusive { ">=" } else { ">" };
        let upper = if scan.end.is_some() {
            "AND key < $3"
        } else {
            ""
        };
        let order = if scan.reverse { "DESC" } else { "ASC" };
        let limit = if scan.end.is_some() { "$4" } else { "$3" };
        let sql = format!(
            "SELECT key, value FROM kv WHERE tree = $1 AND key {lower} $2 {upper} ORDER BY key {order} LIMIT {limit}"
        );
        let client = self.pg.client()?;
        let statement = block_on(client.prepare_cached(&sql)).map_err(db_error)?;
        let rows = self.pg.send(async {
            match &scan.end {
                Some(end) => {
                    client
                        .query(&statement, &[&self.name, &scan.start, end, &PAGE])
                        .await
                }
                None => {
                    client
                        .query(&statement, &[&self.name, &scan.start, &PAGE])
                        .await
                }
            }
        })?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}

const GET: &str = "SELECT value FROM kv WHERE tree = $1 AND key = $2";
const GET_MANY: &str = "SELECT key, value FROM kv WHERE tree = $1 AND key = ANY($2)";
const GET_MANY_FOR_UPDATE: &str =
    "SELECT key, value FROM kv WHERE tree = $1 AND key = ANY($2) FOR UPDATE";
const UPSERT: &str = "INSERT INTO kv (tree, key, value) VALUES ($1, $2, $3) \
     ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value";
const INSERT_NEW: &str =
    "INSERT INTO kv (tree, key, value) VALUES ($1, $2, $3) ON CONFLICT (tree, key) DO NOTHING";
const SWAP: &str = "UPDATE kv SET value = $4 WHERE tree = $1 AND key = $2 AND value = $3";
const DELETE: &str = "DELETE FROM kv WHERE tree = $1 AND key = $2";
/// The one-row writes of a record tree, each with its change notice in the
/// same statement, sent only when a row changed (the count is of those).
const UPSERT_ANNOUNCED: &str = "WITH written AS (INSERT INTO kv (tree, key, value) VALUES ($1, $2, $3) \
     ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value RETURNING 1) \
     SELECT pg_notify($4, $5) FROM written";
const INSERT_NEW_ANNOUNCED: &str = "WITH written AS (INSERT INTO kv (tree, key, value) VALUES ($1, $2, $3) \
     ON CONFLICT (tree, key) DO NOTHING RETURNING 1) SELECT pg_notify($4, $5) FROM written";
const SWAP_ANNOUNCED: &str = "WITH written AS (UPDATE kv SET value = $4 WHERE tree = $1 AND key = $2 \
     AND value = $3 RETURNING 1) SELECT pg_notify($5, $6) FROM written";
const DELETE_ANNOUNCED: &str = "WITH gone AS (DELETE FROM kv WHERE tree = $1 AND key = $2 RETURNING 1) \
     SELECT pg_notify($3, $4) FROM gone";
/// A transaction's kept writes at its commit: every upsert in one
/// statement, every removal in another (answering which rows were there),
/// and the change notices in a third.
const UPSERT_MANY: &str = "INSERT INTO kv (tree, key, value) \
     SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) \
     ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value";
const DELETE_MANY: &str = "DELETE FROM kv WHERE (tree, key) IN \
     (SELECT t COLLATE \"C\", k FROM unnest($1::text[], $2::bytea[]) AS d(t, k)) RETURNING tree, key";
const NOTIFY_ALL: &str = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload";
const COUNT_RANGE: &str = "SELECT count(*) FROM kv WHERE tree = $1 AND key >= $2 AND key < $3";
const COUNT_FROM: &str = "SELECT count(*) FROM kv WHERE tree = $1 AND key >= $2";
/// A claim's reads: the row as last committed, locked until the claim ends.
const GET_FOR_UPDATE: &str = "SELECT value FROM kv WHERE tree = $1 AND key = $2 FOR UPDATE";
/// A claim's first page of a range, and the pages after it: rows no other
/// transaction holds, locked, the held ones skipped.
const CLAIM_FIRST: &str = "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 AND key < $3 \
     ORDER BY key LIMIT $4 FOR UPDATE SKIP LOCKED";
const CLAIM_NEXT: &str = "SELECT key, value FROM kv WHERE tree = $1 AND key > $2 AND key < $3 \
     ORDER BY key LIMIT $4 FOR UPDATE SKIP LOCKED";

struct Scan {
    tree: PgTree,
    /// The next page starts here (after the last key read, once one was).
    start: Vec<u8>,
    start_inclusive: bool,
    /// Keys stop before this one; a reverse scan's next page ends at the
    /// last key it read.
    end: Option<Vec<u8>>,
    reverse: bool,
    page: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
}

impl Iterator for Scan {
    type Item = StoreResult<super::tree::Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        use super::tree::Value;
        if self.page.is_empty() && !self.done {
            match self.tree.page(self) {
                Ok(rows) => {
                    self.done = (rows.len() as i64) < PAGE;
                    if let Some((last, _)) = rows.last() {
                        if self.reverse {
                            self.end = Some(last.clone());
                        } else {
                            self.start = last.clone();
                            self.start_inclusive = false;
                        }
                    }
                    self.page = rows.into();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let (key, value) = self.page.pop_front()?;
        Some(Ok((Value::Owned(key), Value::Owned(value))))
    }
}

/// A key and its value, as read from `kv`.
type Row = (Vec<u8>, Vec<u8>);

/// The values of `rows` (key, value) in the order of `keys`, None where
/// no row answered.
fn in_order(keys: &[&[u8]], rows: &[tokio_postgres::Row]) -> Vec<Option<Vec<u8>>> {
    let found: std::collections::HashMap<Vec<u8>, Vec<u8>> =
        rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    keys.iter().map(|key| found.get(*key).cloned()).collect()
}

/// A failed statement inside a transaction.
#[derive(Debug)]
pub(crate) struct PgTxError(tokio_postgres::Error);

impl PgTxError {
    /// Another transaction got there first: run the body again.
    fn retryable(&self) -> bool {
        matches!(
            self.0.code(),
            Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
        )
    }

    pub(crate) fn into_store_error(self) -> StoreError {
        db_error(self.0)
    }
}

/// A transaction's writes until its commit, by tree and key: the value to
/// write, or None to remove the row. One entry per row: the last write wins.
type KeptWrites = std::collections::BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>;

/// An open transaction on one pooled connection: SERIALIZABLE, or a
/// claim's READ COMMITTED whose reads lock what they read.
///
/// Round trips are what a transaction costs here (each one a wake-up of
/// the connection's thread and of the caller's), so: `BEGIN` goes with the
/// first statement, writes are kept until the commit and go as one
/// multi-row upsert and one multi-row delete, and the change notice goes
/// with them and the `COMMIT`, all sent together. Reads see the
/// transaction's own kept writes first.
pub(crate) struct PgTx {
    client: Object,
    /// The statement that begins the transaction, until it was sent.
    begin: std::cell::Cell<Option<&'static str>>,
    /// A claim: every read takes the row's lock (see [`claim`]).
    locking: bool,
    /// Writes kept for the commit.
    writes: RefCell<KeptWrites>,
    /// The pool's shared state, for its count of round trips.
    pg: Pg,
    finished: std::cell::Cell<bool>,
}

impl PgTx {
    /// Runs `statement` on the connection, `BEGIN` sent in front of it (in
    /// the same round trip) if this is the transaction's first.
    fn send<T>(
        &self,
        statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgTxError> {
        self.pg
            .round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.begin.take() {
            None => block_on(statement).map_err(PgTxError),
            Some(begin) => {
                let (begun, answer) = block_on(futures::future::join(
                    self.client.batch_execute(begin),
                    statement,
                ));
                begun.map_err(PgTxError)?;
                answer.map_err(PgTxError)
            }
        }
    }

    fn prepared(&self, sql: &str) -> Result<tokio_postgres::Statement, PgTxError> {
        block_on(self.client.prepare_cached(sql)).map_err(PgTxError)
    }

    pub(crate) fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, PgTxError> {
        if let Some(kept) = self.writes.borrow().get(&(tree.to_string(), key.to_vec())) {
            return Ok(kept.clone());
        }
        let statement = self.prepared(if self.locking { GET_FOR_UPDATE } else { GET })?;
        let row = self.send(self.client.query_opt(&statement, &[&tree, &key]))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// The values at `keys` in their order, the kept writes first, the
    /// rest in one statement (locking them in a claim).
    pub(crate) fn get_many(
        &self,
        tree: &str,
        keys: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>, PgTxError> {
        let mut values = Vec::with_capacity(keys.len());
        let mut unread = Vec::new();
        {
            let writes = self.writes.borrow();
            for key in keys {
                match writes.get(&(tree.to_string(), key.to_vec())) {
                    Some(kept) => values.push(Some(kept.clone())),
                    None => {
                        values.push(None);
                        unread.push(*key);
                    }
                }
            }
        }
        if unread.is_empty() {
            return Ok(values.into_iter().map(Option::flatten).collect());
        }
        let statement = self.prepared(if self.locking {
            GET_MANY_FOR_UPDATE
        } else {
            GET_MANY
        })?;
        let rows = self.send(self.client.query(&statement, &[&tree, &unread]))?;
        let mut read = in_order(&unread, &rows).into_iter();
        Ok(values
            .into_iter()
            .map(|kept| match kept {
                Some(kept) => kept,
                None => read.next().flatten(),
            })
            .collect())
    }

    pub(crate) fn insert(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), PgTxError> {
        self.writes
            .borrow_mut()
            .insert((tree.to_string(), key.to_vec()), Some(value.to_vec()));
        Ok(())
    }

    pub(crate) fn remove(&self, tree: &str, key: &[u8]) -> Result<(), PgTxError> {
        self.writes
            .borrow_mut()
            .insert((tree.to_string(), key.to_vec()), None);
        Ok(())
    }

    /// Up to `limit` rows of `tree` in key order from `from` (inclusive,
    /// or after it once a page was read) to before `end` that no other
    /// transaction holds, locked for this one. A row this transaction
    /// already rewrote is handed over as rewritten (gone if it removed it).
    fn lock_page(
        &self,
        tree: &str,
        from: &[u8],
        inclusive: bool,
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Row>, PgTxError> {
        let statement = self.prepared(if inclusive { CLAIM_FIRST } else { CLAIM_NEXT })?;
        let limit = limit as i64;
        let rows = self.send(self.client.query(&statement, &[&tree, &from, &end, &limit]))?;
        let writes = self.writes.borrow();
        Ok(rows
            .iter()
            .filter_map(|row| {
                let key: Vec<u8> = row.get(0);
                match writes.get(&(tree.to_string(), key.clone())) {
                    Some(Some(kept)) => Some((key, kept.clone())),
                    Some(None) => None,
                    None => Some((key, row.get(1))),
                }
            })
            .collect())
    }

    /// Writes what the transaction kept, announces the record changes and
    /// commits: one round trip, or two when record rows were removed (the
    /// notice names only rows that were there, which the delete answers).
    fn commit(&self, origin: &str) -> Result<(), PgTxError> {
        let writes = self.writes.take();
        if writes.is_empty() && self.begin.get().is_some() {
            // Nothing read, nothing written: no transaction to end.
            self.finished.set(true);
            return Ok(());
        }
        let mut put = (Vec::new(), Vec::new(), Vec::new());
        let mut removed = (Vec::new(), Vec::new());
        let mut removes_records = false;
        for ((tree, key), value) in writes {
            match value {
                Some(value) => {
                    put.0.push(tree);
                    put.1.push(key);
                    put.2.push(value);
                }
                None => {
                    removes_records |= Kind::parse(&tree).is_some();
                    removed.0.push(tree);
                    removed.1.push(key);
                }
            }
        }
        let mut changes: Vec<(String, Vec<u8>, Op)> = put
            .0
            .iter()
            .zip(&put.1)
            .filter(|(tree, _)| Kind::parse(tree).is_some())
            .map(|(tree, key)| (tree.clone(), key.clone(), Op::Put))
            .collect();
        // Until the COMMIT is sent, a failure leaves the transaction open
        // for `rollback` (here, or when the transaction is dropped).
        self.write_and_commit(origin, &put, &removed, removes_records, &mut changes)
    }

    fn write_and_commit(
        &self,
        origin: &str,
        put: &(Vec<String>, Vec<Vec<u8>>, Vec<Vec<u8>>),
        removed: &(Vec<String>, Vec<Vec<u8>>),
        removes_records: bool,
        changes: &mut Vec<(String, Vec<u8>, Op)>,
    ) -> Result<(), PgTxError> {
        let upsert = self.prepared(UPSERT_MANY)?;
        let delete = self.prepared(DELETE_MANY)?;
        let notify = self.prepared(NOTIFY_ALL)?;
        let upsert = async {
            if put.0.is_empty() {
                return Ok(0);
            }
            self.client
                .execute(&upsert, &[&put.0, &put.1, &put.2])
                .await
        };
        let delete = async {
            if removed.0.is_empty() {
                return Ok(Vec::new());
            }
            self.client.query(&delete, &[&removed.0, &removed.1]).await
        };
        if removes_records {
            // The notice must name only rows that were there: wait for the
            // delete's answer before sending it.
            let sent = self.send(async {
                let (upserted, deleted) = futures::future::join(upsert, delete).await;
                upserted?;
                deleted
            });
            let deleted = match sent {
                Ok(deleted) => deleted,
                Err(e) => {
                    self.rollback();
                    return Err(e);
                }
            };
            changes.extend(deleted.iter().filter_map(|row| {
                let tree: String = row.get(0);
                Kind::parse(&tree)
                    .is_some()
                    .then(|| (tree, row.get(1), Op::Delete))
            }));
            let payloads = payloads(origin, changes);
            return self.send(async {
                let notified = async {
                    if payloads.is_empty() {
                        return Ok(0);
                    }
                    self.client.execute(&notify, &[&CHANNEL, &payloads]).await
                };
                self.finished.set(true);
                let (notified, committed) =
                    futures::future::join(notified, self.client.batch_execute("COMMIT")).await;
                notified?;
                committed
            });
        }
        let payloads = payloads(origin, changes);
        self.send(async {
            let notified = async {
                if payloads.is_empty() {
                    return Ok(0);
                }
                self.client.execute(&notify, &[&CHANNEL, &payloads]).await
            };
            // Sent together, answered in order: a failed write aborts the
            // transaction, so the COMMIT behind it rolls back, and the
            // write's own error (a serialization failure, say) is returned.
            self.finished.set(true);
            let (upserted, deleted, notified, committed) = futures::join!(
                upsert,
                delete,
                notified,
                self.client.batch_execute("COMMIT")
            );
            upserted?;
            deleted?;
            notified?;
            committed
        })
    }

    fn rollback(&self) {
        if self.begin.get().is_some() {
            // Nothing was sent: there is no transaction to end.
            self.finished.set(true);
        }
        if !self.finished.replace(true)
            && let Err(e) = block_on(self.client.batch_execute("ROLLBACK"))
        {
            tracing::warn!(error = %describe(&e), "rolling back a transaction failed");
        }
    }
}

impl Drop for PgTx {
    /// A body that panicked must not hand the connection back mid-transaction.
    fn drop(&mut self) {
        self.rollback();
    }
}

/// Runs `body` in a SERIALIZABLE transaction, again on a serialization
/// failure (see the module docs).
pub(crate) fn transaction<T>(
    trees: &[&PgTree],
    body: impl Fn(&PgTx) -> Result<T, super::tree::TxError>,
) -> StoreResult<T> {
    run(
        &trees[0].pg,
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        false,
        body,
    )
}

/// Claims rows of the tree `walked` with keys in `[start, end)`: up to
/// `limit` that `take` accepts, walking the range in key order, all in one
/// transaction. Each page is `SELECT … FOR UPDATE SKIP LOCKED`: a row
/// another transaction holds (another replica claiming it right now) is
/// skipped, not waited for, so two replicas claiming at once get different
/// rows. The transaction is READ COMMITTED, where serializable's predicate
/// locks on a small queue would make two disjoint claims conflict anyway;
/// in their place every read `take` makes locks its row (`FOR UPDATE`, the
/// latest committed version), so what it decided on stays as read until
/// the commit, as a compare-and-swap would guarantee. A deadlock with
/// another writer runs the whole claim again.
pub(crate) fn claim<T>(
    trees: &[&PgTree],
    walked: &str,
    start: &[u8],
    end: &[u8],
    limit: usize,
    take: impl Fn(&PgTx, &[u8], &[u8]) -> Result<Option<T>, super::tree::TxError>,
) -> StoreResult<Vec<T>> {
    use super::tree::TxError;
    run(
        &trees[0].pg,
        "BEGIN ISOLATION LEVEL READ COMMITTED",
        true,
        |tx| {
            let mut claimed = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            // A row `take` rewrote under a later key of the range comes
            // round again; it was decided on once.
            let mut seen = std::collections::HashSet::new();
            while claimed.len() < limit {
                let want = limit - claimed.len();
                let page = match &after {
                    None => tx.lock_page(walked, start, true, end, want),
                    Some(last) => tx.lock_page(walked, last, false, end, want),
                }
                .map_err(TxError::Pg)?;
                let short = page.len() < want;
                for (key, value) in page {
                    if seen.insert(value.clone())
                        && let Some(got) = take(tx, &key, &value)?
                    {
                        claimed.push(got);
                    }
                    after = Some(key);
                }
                if short {
                    break;
                }
            }
            Ok(claimed)
        },
    )
}

/// Runs `body` in a transaction begun with `begin`, again when Postgres
/// refuses it for a conflict (a serialization failure or a deadlock).
fn run<T>(
    pg: &Pg,
    begin: &'static str,
    locking: bool,
    body: impl Fn(&PgTx) -> Result<T, super::tree::TxError>,
) -> StoreResult<T> {
    use super::tree::TxError;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let client = pg.client()?;
        let tx = PgTx {
            client,
            begin: std::cell::Cell::new(Some(begin)),
            locking,
            writes: RefCell::new(KeptWrites::new()),
            pg: pg.clone(),
            finished: std::cell::Cell::new(false),
        };
        let failure = match body(&tx) {
            Ok(value) => match tx.commit(&pg.origin) {
                Ok(()) => return Ok(value),
                Err(e) => e,
            },
            Err(TxError::Pg(e)) => {
                tx.rollback();
                e
            }
            Err(TxError::Abort(e)) => {
                tx.rollback();
                return Err(e);
            }
            Err(TxError::Sled(e)) => {
                tx.rollback();
                return Err(StoreError::Database {
                    detail: format!("a sled error in a Postgres transaction: {e:?}"),
                });
            }
        };
        if !failure.retryable() {
            return Err(failure.into_store_error());
        }
        // Writers that keep colliding back off a little, each by a
        // different amount, so one of them gets through.
        let spread = 1u64 << attempt.min(8);
        let wait = rand::random::<u64>() % (spread * 200);
        tracing::trace!(
            attempt,
            "serialization failure; running the transaction again"
        );
        std::thread::sleep(Duration::from_micros(wait));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_under_the_notify_limit_and_skip_our_own() {
        let changes: Vec<(String, Vec<u8>, Op)> = (0..500)
            .map(|n| {
                (
                    "threads".to_string(),
                    format!("acme/thread-{n:04}").into_bytes(),
                    Op::Put,
                )
            })
            .collect();
        let payloads = payloads("me", &changes);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8000));
        let theirs: Vec<Change> = payloads
            .iter()
            .flat_map(|p| parse_payload("someone-else", p))
            .collect();
        assert_eq!(theirs.len(), 500);
        assert_eq!(
            theirs[7],
            Change::Record {
                kind: Kind::Thread,
                key: "acme/thread-0007".into(),
                op: Op::Put
            }
        );
        assert!(payloads.iter().all(|p| parse_payload("me", p).is_empty()));
    }
}
