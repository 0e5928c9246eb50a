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
        };
        shared.applied = shared.migrate()?;
        let shared = Arc::new(shared);
        shared.listen(config, tls, feed);
        Ok(shared)
    }

    pub(crate) fn applied_at_open(&self) -> &[i32] {
        &self.applied
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

    /// Announces changes made outside a transaction.
    fn notify(&self, client: &Object, changes: &[(String, Vec<u8>, Op)]) -> StoreResult<()> {
        for payload in payloads(&self.origin, changes) {
            block_on(client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]))
                .map_err(db_error)?;
        }
        Ok(())
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
        block_on(async {
            let statement = client.prepare_cached(GET).await?;
            let row = client.query_opt(&statement, &[&self.name, &key]).await?;
            Ok(row.map(|row| row.get(0)))
        })
        .map_err(db_error)
    }

    pub(crate) fn insert(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        let client = self.pg.client()?;
        block_on(async {
            let statement = client.prepare_cached(UPSERT).await?;
            client
                .execute(&statement, &[&self.name, &key, &value])
                .await
        })
        .map_err(db_error)?;
        if self.announces() {
            self.pg
                .notify(&client, &[(self.name.to_string(), key.to_vec(), Op::Put)])?;
        }
        Ok(())
    }

    pub(crate) fn remove(&self, key: &[u8]) -> StoreResult<()> {
        let client = self.pg.client()?;
        let removed = block_on(async {
            let statement = client.prepare_cached(DELETE).await?;
            client.execute(&statement, &[&self.name, &key]).await
        })
        .map_err(db_error)?;
        if removed > 0 && self.announces() {
            self.pg.notify(
                &client,
                &[(self.name.to_string(), key.to_vec(), Op::Delete)],
            )?;
        }
        Ok(())
    }

    pub(crate) fn compare_and_swap(
        &self,
        key: &[u8],
        old: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        let client = self.pg.client()?;
        let swapped = block_on(async {
            match old {
                Some(old) => {
                    let statement = client.prepare_cached(SWAP).await?;
                    client
                        .execute(&statement, &[&self.name, &key, &old, &new])
                        .await
                }
                None => {
                    let statement = client.prepare_cached(INSERT_NEW).await?;
                    client.execute(&statement, &[&self.name, &key, &new]).await
                }
            }
        })
        .map_err(db_error)?
            == 1;
        if swapped && self.announces() {
            self.pg
                .notify(&client, &[(self.name.to_string(), key.to_vec(), Op::Put)])?;
        }
        Ok(swapped)
    }

    pub(crate) fn count(&self, start: Vec<u8>, end: Option<Vec<u8>>) -> StoreResult<usize> {
        let client = self.pg.client()?;
        let count: i64 = block_on(async {
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
        })
        .map_err(db_error)?;
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
        let rows = block_on(async {
            let statement = client.prepare_cached(&sql).await?;
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
        })
        .map_err(db_error)?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}

const GET: &str = "SELECT value FROM kv WHERE tree = $1 AND key = $2";
const UPSERT: &str = "INSERT INTO kv (tree, key, value) VALUES ($1, $2, $3) \
     ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value";
const INSERT_NEW: &str =
    "INSERT INTO kv (tree, key, value) VALUES ($1, $2, $3) ON CONFLICT (tree, key) DO NOTHING";
const SWAP: &str = "UPDATE kv SET value = $4 WHERE tree = $1 AND key = $2 AND value = $3";
const DELETE: &str = "DELETE FROM kv WHERE tree = $1 AND key = $2";
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

/// An open transaction on one pooled connection: SERIALIZABLE, or a
/// claim's READ COMMITTED whose reads lock what they read.
pub(crate) struct PgTx {
    client: Object,
    /// A claim: every read takes the row's lock (see [`claim`]).
    locking: bool,
    /// Record writes, announced at commit.
    changes: RefCell<Vec<(String, Vec<u8>, Op)>>,
    finished: std::cell::Cell<bool>,
}

impl PgTx {
    pub(crate) fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, PgTxError> {
        let sql = if self.locking { GET_FOR_UPDATE } else { GET };
        block_on(async {
            let statement = self.client.prepare_cached(sql).await?;
            let row = self.client.query_opt(&statement, &[&tree, &key]).await?;
            Ok(row.map(|row| row.get(0)))
        })
        .map_err(PgTxError)
    }

    pub(crate) fn insert(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), PgTxError> {
        block_on(async {
            let statement = self.client.prepare_cached(UPSERT).await?;
            self.client
                .execute(&statement, &[&tree, &key, &value])
                .await
        })
        .map_err(PgTxError)?;
        self.note(tree, key, Op::Put);
        Ok(())
    }

    pub(crate) fn remove(&self, tree: &str, key: &[u8]) -> Result<(), PgTxError> {
        let removed = block_on(async {
            let statement = self.client.prepare_cached(DELETE).await?;
            self.client.execute(&statement, &[&tree, &key]).await
        })
        .map_err(PgTxError)?;
        if removed > 0 {
            self.note(tree, key, Op::Delete);
        }
        Ok(())
    }

    /// Up to `limit` rows of `tree` in key order from `from` (inclusive,
    /// or after it once a page was read) to before `end` that no other
    /// transaction holds, locked for this one.
    fn lock_page(
        &self,
        tree: &str,
        from: &[u8],
        inclusive: bool,
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Row>, PgTxError> {
        let sql = if inclusive { CLAIM_FIRST } else { CLAIM_NEXT };
        let limit = limit as i64;
        let rows = block_on(async {
            let statement = self.client.prepare_cached(sql).await?;
            self.client
                .query(&statement, &[&tree, &from, &end, &limit])
                .await
        })
        .map_err(PgTxError)?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn note(&self, tree: &str, key: &[u8], op: Op) {
        if Kind::parse(tree).is_some() {
            self.changes
                .borrow_mut()
                .push((tree.to_string(), key.to_vec(), op));
        }
    }

    fn commit(&self, origin: &str) -> Result<(), PgTxError> {
        let changes = self.changes.take();
        let result = block_on(async {
            for payload in payloads(origin, &changes) {
                self.client
                    .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                    .await?;
            }
            self.client.batch_execute("COMMIT").await
        });
        self.finished.set(true);
        result.map_err(PgTxError)
    }

    fn rollback(&self) {
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
    begin: &str,
    locking: bool,
    body: impl Fn(&PgTx) -> Result<T, super::tree::TxError>,
) -> StoreResult<T> {
    use super::tree::TxError;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let client = pg.client()?;
        block_on(client.batch_execute(begin)).map_err(db_error)?;
        let tx = PgTx {
            client,
            locking,
            changes: RefCell::new(Vec::new()),
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
