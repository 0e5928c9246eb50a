//! Group commit for everything the daemon is told from outside.
//!
//! Handlers hand a [`Job`] (events, plus record updates such as a reply's
//! thread) to the writer and wait. The writer takes every job queued so far
//! as one batch and runs it through two stages, each on its own thread
//! (below the request threads' priority, see [`stage_thread`]), so the next
//! batch's first stage overlaps this batch's second:
//!
//! 1. **events**: each lead's new events into its activity record, dedupe
//!    included, one atomic swap per record (what is new to the store is
//!    known from here on);
//! 2. **records**: the payloads' record changes (a batch's replies are
//!    grouped by conversation; each thread is read and moved once, with its
//!    new messages, in one transaction that lands only if the thread did
//!    not change meanwhile, see `apply::PendingReplies`), then
//!    every changed lead (last events moved; swapped in alone unless its
//!    index entries move, see `store/each.rs`), then the sequences'
//!    reactions.
//!
//! It then starts one flush for the batch; the flush answers the batch's
//! jobs. So one fsync acknowledges many requests, and no 2xx ever leaves
//! before its event is on disk.
//!
//! **When the stages are busy**, a webhook delivery does not wait for them:
//! it is appended to the store's queue of deliveries ([`QueuedDelivery`],
//! one small record each, flushed together) and answered `202`, and the
//! stages apply the queue in arrival order as they catch up, removing each
//! delivery once applied. A burst is acknowledged at the speed of an append
//! and a flush, and what it changes shows up as soon as the stages get to
//! it (the `outpost_ingest_queued` gauge says how far behind they are).
//! While anything is queued, new deliveries queue behind it, so they are
//! applied in the order they arrived. A crash leaves the queue in the
//! store, and the next daemon applies it before anything new. Jobs that
//! must be applied before their answer (an unsubscribe, a tracking hit)
//! use [`Ingest::submit`] and never queue. On Postgres nothing queues yet:
//! another replica would have to claim a dead replica's queue.
//!
//! Events are stored before the records stage. If that stage fails, the
//! batch is answered with an error and the sender retries (a queued batch
//! stays queued and is tried again); the retry finds its events known, so
//! the records stage moves leads on *every* event of a batch (idempotent: a
//! last event only moves forward) and the retry repairs them. The
//! sequences react only to new events, as a reaction must happen once (a
//! rep may have resumed an enrollment since).

pub mod apply;
pub mod payload;
mod stage_thread;

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::engine::{Engine, LeadChanges};
use crate::model::{EmailEvent, QueuedDelivery};
use crate::store::{Store, StoreResult};
use apply::{PendingReplies, apply_into};
use payload::Payload;
use stage_thread::StageThread;

/// The record changes that must happen with a job's events: the webhook
/// payloads they came in (a reply's thread and message, a lead first heard
/// of, a category). A plain value, so a job can be queued, logged, compared
/// and replayed; the writer applies it with [`apply`], which puts
/// lead changes into the batch's map of changed leads (stored together) and
/// writes other records directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordChanges {
    pub account: String,
    pub payloads: Vec<Payload>,
    /// A store failure to act out (tests of the writer's failure path).
    #[cfg(test)]
    #[serde(skip)]
    fail: Option<&'static str>,
}

impl RecordChanges {
    pub fn new(account: impl Into<String>, payloads: Vec<Payload>) -> RecordChanges {
        RecordChanges {
            account: account.into(),
            payloads,
            #[cfg(test)]
            fail: None,
        }
    }

    fn apply(
        &self,
        engine: &Engine,
        leads: &mut LeadChanges,
        replies: &mut PendingReplies,
    ) -> StoreResult<()> {
        #[cfg(test)]
        if let Some(detail) = self.fail {
            return Err(crate::store::StoreError::Io {
                path: engine.store().path().to_path_buf(),
                detail: detail.into(),
            });
        }
        for payload in &self.payloads {
            apply_into(engine, leads, replies, &self.account, payload)?;
        }
        Ok(())
    }
}

/// What one request hands the writer: its events and the record changes
/// that go with them. Queued as JSON (see [`QueuedDelivery`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub events: Vec<EmailEvent>,
    pub changes: Option<RecordChanges>,
}

pub struct Job {
    delivery: Delivery,
    /// May be queued and answered before it is applied.
    may_queue: bool,
    done: Answer,
}

/// What a job's events turned out to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events new to the store.
    pub fresh: usize,
    /// Events already known (duplicate deliveries, or seen by sync first).
    pub known: usize,
}

/// How a job that may queue was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Applied and on disk.
    Applied(Outcome),
    /// On disk in the queue; applied once the stages get to it.
    Queued,
}

/// Most deliveries queued at once (about 1.5 KB each on disk); past it a
/// delivery that would queue is refused with a retry-later answer, so a
/// writer that cannot keep up for hours does not fill the disk.
const MAX_QUEUED: u64 = 1_000_000;
/// Most jobs written in one batch.
const MAX_BATCH: usize = 2048;
/// Batches in the stages at once: one in each, so the events stage of the
/// next batch overlaps the records stage of this one.
const IN_STAGES: usize = 2;
/// Batches written but still waiting for their flush. Two lets one flush
/// overlap the next batch's writes; more would only queue behind the disk.
const FLUSHES_IN_FLIGHT: usize = 2;
/// How long the stages wait before trying a queued batch again after the
/// store failed it.
const RETRY_QUEUED_AFTER: Duration = Duration::from_secs(1);

/// Where the writer's time goes, for benchmarks and diagnosis: counts and
/// nanoseconds per phase since start (plain atomics, read any time).
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub jobs: AtomicU64,
    pub events: AtomicU64,
    /// Payload record writes (`Apply`), lead reads included.
    pub apply_nanos: AtomicU64,
    /// Dedupe and storing events in their activity records.
    pub store_nanos: AtomicU64,
    /// Moving leads' last event and writing the batch's leads.
    pub lead_nanos: AtomicU64,
    /// The sequences' reactions to new events.
    pub react_nanos: AtomicU64,
    /// Waiting for the flush (overlaps the next batch's writes).
    pub flush_nanos: AtomicU64,
    /// Flushes that answered batches (group commits).
    pub flushes: AtomicU64,
    /// Events new to the store.
    pub events_ingested: AtomicU64,
    /// Deliveries answered from the queue, before being applied.
    pub queued_total: AtomicU64,
    /// Deliveries in the queue now (answered, not yet applied and
    /// removed); see `queue_is_empty`.
    pub queued_now: AtomicU64,
}

impl WriterStats {
    fn add(&self, counter: &AtomicU64, since: Instant) {
        add(counter, since.elapsed().as_nanos() as u64);
    }

    /// A counter's value now.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}
/// Jobs waiting for the writer before handlers are made to wait to enqueue.
const QUEUE: usize = 16 * 1024;

/// The handle handlers submit through; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
    stats: Arc<WriterStats>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the daemon is shutting down")]
    Closed,
    #[error("cannot store the event: {0}")]
    Store(String),
    /// The queue is full: the writer is far behind, the sender should retry
    /// later.
    #[error("the webhook queue is full (the writer is far behind); retry later")]
    Behind,
}

impl Ingest {
    /// Starts the writer task; it ends once every `Ingest` handle is dropped,
    /// the jobs handed to it are answered and the queue is applied (a
    /// caller that cannot wait for the queue may drop the task: what is
    /// queued stays in the store for the next start).
    pub fn start(engine: Engine) -> (Ingest, tokio::task::JoinHandle<()>) {
        Self::start_gated(engine, None, MAX_QUEUED)
    }

    /// A writer whose stages wait until `true` is sent on the returned
    /// channel; requests are still taken and queued meanwhile (tests of
    /// what happens while the stages are behind).
    #[cfg(test)]
    fn start_held(
        engine: Engine,
    ) -> (
        Ingest,
        tokio::task::JoinHandle<()>,
        tokio::sync::watch::Sender<bool>,
    ) {
        Self::start_held_queueing(engine, MAX_QUEUED)
    }

    /// [`start_held`](Self::start_held) with a smaller queue.
    #[cfg(test)]
    pub(crate) fn start_held_queueing(
        engine: Engine,
        max_queued: u64,
    ) -> (
        Ingest,
        tokio::task::JoinHandle<()>,
        tokio::sync::watch::Sender<bool>,
    ) {
        let (open, gate) = tokio::sync::watch::channel(false);
        let (ingest, task) = Self::start_gated(engine, Some(gate), max_queued);
        (ingest, task, open)
    }

    fn start_gated(
        engine: Engine,
        gate: Option<tokio::sync::watch::Receiver<bool>>,
        max_queued: u64,
    ) -> (Ingest, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriterStats::default());
        let limits = Limits { gate, max_queued };
        let task = tokio::spawn(writer(engine, stats.clone(), rx, limits));
        (Ingest { tx, stats }, task)
    }

    /// The writer's counters.
    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }

    /// Writes `events` (and `changes`) durably and applies them; returns
    /// once they are on disk.
    pub async fn submit(
        &self,
        events: Vec<EmailEvent>,
        changes: Option<RecordChanges>,
    ) -> Result<Outcome, IngestError> {
        match self.send(events, changes, false).await? {
            Accepted::Applied(outcome) => Ok(outcome),
            Accepted::Queued => unreachable!("a job that may not queue is never queued"),
        }
    }

    /// Like [`submit`](Self::submit), but when the writer is behind the job
    /// is queued (durably) and answered before it is applied.
    pub async fn submit_or_queue(
        &self,
        events: Vec<EmailEvent>,
        changes: Option<RecordChanges>,
    ) -> Result<Accepted, IngestError> {
        self.send(events, changes, true).await
    }

    async fn send(
        &self,
        events: Vec<EmailEvent>,
        changes: Option<RecordChanges>,
        may_queue: bool,
    ) -> Result<Accepted, IngestError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                delivery: Delivery { events, changes },
                may_queue,
                done,
            })
            .await
            .map_err(|_| IngestError::Closed)?;
        match wait.await {
            Ok(Ok(accepted)) => Ok(accepted),
            Ok(Err(Refusal::Failed(message))) => Err(IngestError::Store(message)),
            Ok(Err(Refusal::Behind)) => Err(IngestError::Behind),
            Err(_) => Err(IngestError::Closed),
        }
    }
}

type Answer = oneshot::Sender<Result<Accepted, Refusal>>;

/// Why the writer did not take a job.
enum Refusal {
    Failed(String),
    Behind,
}

/// A batch on its way through the stages: deliveries answered when applied,
/// or taken from the queue (no one waits; removed from the queue once
/// applied).
struct Work {
    deliveries: Vec<Delivery>,
    answers: Vec<Answer>,
    queued: Vec<String>,
    /// Held until the records stage is done with the batch.
    slot: OwnedSemaphorePermit,
}

/// How the writer is started: a gate its stages wait behind (tests), and
/// how many deliveries may be queued.
struct Limits {
    gate: Option<tokio::sync::watch::Receiver<bool>>,
    max_queued: u64,
}

/// What the writer's tasks share about the queue.
struct QueueState {
    /// Wakes the events stage when something was queued, applied or should
    /// be retried.
    wake: Notify,
    /// Set when a queued batch failed: the events stage reads the queue from
    /// its start again.
    rewind: std::sync::atomic::AtomicBool,
    /// Whether deliveries may queue at all (not on Postgres, see the top).
    enabled: bool,
}

/// Whether any delivery is queued (answered, not yet applied and removed).
/// While one is, new ones queue behind it, so deliveries apply in the order
/// they arrived. A count kept exact (counted up per append, down per key a
/// removal found, so a batch read twice after a retry counts once) rather
/// than a look at the queue's first key: a queue's tree keeps the pages its
/// removed keys were on, and a scan from its start walks them all.
fn queue_is_empty(stats: &WriterStats) -> bool {
    stats.queued_now.load(Ordering::SeqCst) == 0
}

/// Counts `removed` deliveries out of the queue.
fn dequeued(stats: &WriterStats, removed: usize) {
    // Saturating: a process applying a queue it did not count (see
    // `apply_queue`) starts from zero.
    let _ = stats
        .queued_now
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            Some(n.saturating_sub(removed as u64))
        });
}

/// A batch past the events stage, on its way to the records stage.
struct Stored {
    answers: Vec<Answer>,
    queued: Vec<String>,
    changes: Vec<RecordChanges>,
    events: Vec<EmailEvent>,
    fresh: Vec<EmailEvent>,
    outcomes: Vec<Outcome>,
}

async fn writer(
    engine: Engine,
    stats: Arc<WriterStats>,
    mut rx: mpsc::Receiver<Job>,
    Limits { gate, max_queued }: Limits,
) {
    let store = engine.store().clone();
    let queue = Arc::new(QueueState {
        wake: Notify::new(),
        rewind: Default::default(),
        enabled: store.backend_name() == "sled",
    });
    stats
        .queued_now
        .store(store.count::<QueuedDelivery>() as u64, Ordering::SeqCst);
    let mut next_seq = match store.last::<QueuedDelivery>() {
        Ok(last) => last.map_or(0, |q| q.seq + 1),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the queue of webhook deliveries");
            0
        }
    };
    let slots = Arc::new(Semaphore::new(IN_STAGES));
    // Shared by the queue's flushes and the stages': sled runs flushes on
    // its own small thread pool, which also writes the log they wait for,
    // so flushes without a bound can take every thread and wait forever.
    let flush_slots = Arc::new(Semaphore::new(FLUSHES_IN_FLIGHT));
    // Batches that are answered once applied, in arrival order. The slots
    // bound how many exist at once.
    let (to_events, from_writer) = mpsc::unbounded_channel::<Work>();
    // One slot: the events stage runs at most one batch ahead of the records stage.
    let (to_records, from_events) = mpsc::channel::<(Stored, OwnedSemaphorePermit)>(1);
    let events = tokio::spawn(events_stage(
        engine.clone(),
        gate,
        stats.clone(),
        queue.clone(),
        slots.clone(),
        from_writer,
        to_records,
    ));
    let records = tokio::spawn(records_stage(
        engine.clone(),
        stats.clone(),
        queue.clone(),
        flush_slots.clone(),
        from_events,
    ));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut flushing = JoinSet::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let (now, later): (Vec<Job>, Vec<Job>) = if queue.enabled {
            jobs.into_iter().partition(|job| !job.may_queue)
        } else {
            (jobs, Vec::new())
        };
        // Jobs that may queue go through the stages too when the stages
        // have room and nothing is queued before them.
        let (now, later) = if !later.is_empty() && queue_is_empty(&stats) {
            match slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    let all: Vec<Job> = now.into_iter().chain(later).collect();
                    let _ = to_events.send(work(all, slot));
                    (Vec::new(), Vec::new())
                }
                Err(_) => (now, later),
            }
        } else {
            (now, later)
        };
        if !now.is_empty() {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let _ = to_events.send(work(now, slot));
        }
        let queued = stats.queued_now.load(Ordering::SeqCst);
        let later = if queued + later.len() as u64 > max_queued {
            for job in later {
                let _ = job.done.send(Err(Refusal::Behind));
            }
            Vec::new()
        } else {
            later
        };
        if !later.is_empty() {
            let first = next_seq;
            next_seq += later.len() as u64;
            let received_at = engine.clock().now();
            let Ok(flush_slot) = flush_slots.clone().acquire_owned().await else {
                break;
            };
            enqueue(
                &store,
                &queue,
                &stats,
                (&mut flushing, flush_slot),
                later,
                first,
                received_at,
            )
            .await;
        }
        while flushing.try_join_next().is_some() {}
    }
    while flushing.join_next().await.is_some() {}
    // Shutdown: the stages finish what they hold and apply the queue.
    drop(to_events);
    let _ = events.await;
    let _ = records.await;
    let left = store.count::<QueuedDelivery>();
    if left > 0 {
        tracing::warn!(
            queued = left,
            "webhook deliveries are still queued; the next start applies them"
        );
    }
}

fn work(jobs: Vec<Job>, slot: OwnedSemaphorePermit) -> Work {
    let (deliveries, answers) = jobs.into_iter().map(|j| (j.delivery, j.done)).unzip();
    Work {
        deliveries,
        answers,
        queued: Vec::new(),
        slot,
    }
}

/// Appends jobs to the queue and answers them `Queued` once flushed.
async fn enqueue(
    store: &Store,
    queue: &Arc<QueueState>,
    stats: &Arc<WriterStats>,
    (flushing, flush_slot): (&mut JoinSet<()>, OwnedSemaphorePermit),
    jobs: Vec<Job>,
    first_seq: u64,
    received_at: DateTime<Utc>,
) {
    let (deliveries, answers): (Vec<Delivery>, Vec<Answer>) =
        jobs.into_iter().map(|j| (j.delivery, j.done)).unzip();
    let count = deliveries.len() as u64;
    let (for_append, encode) = (store.clone(), move || {
        queue_records(&deliveries, first_seq, received_at)
    });
    // On a request thread's priority, unlike the stages: this is what
    // answers the request.
    let appended = tokio::task::spawn_blocking(move || {
        let records = encode().map_err(|e| format!("cannot queue a delivery: {e}"))?;
        for_append.append(&records).map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|join| Err(format!("the queue writer failed: {join}")));
    if let Err(message) = appended {
        answer_failure(answers, &message);
        return;
    }
    stats.queued_now.fetch_add(count, Ordering::SeqCst);
    add(&stats.queued_total, count);
    queue.wake.notify_one();
    spawn_flush(
        flushing,
        store,
        stats,
        flush_slot,
        move |flushed| match flushed {
            Ok(()) => {
                for done in answers {
                    let _ = done.send(Ok(Accepted::Queued));
                }
            }
            Err(e) => answer_failure(answers, &e),
        },
    );
}

/// Flushes the store in the background, holding `slot` (see
/// `FLUSHES_IN_FLIGHT`), and hands the outcome to `answer`. A flush covers
/// everything written before it started.
fn spawn_flush(
    flushing: &mut JoinSet<()>,
    store: &Store,
    stats: &Arc<WriterStats>,
    slot: OwnedSemaphorePermit,
    answer: impl FnOnce(Result<(), String>) + Send + 'static,
) {
    let (store, stats) = (store.clone(), stats.clone());
    flushing.spawn(async move {
        let started = Instant::now();
        let flushed = store.flush_async().await;
        stats.add(&stats.flush_nanos, started);
        drop(slot);
        answer(flushed.map_err(|e| e.to_string()));
    });
}

fn queue_records(
    deliveries: &[Delivery],
    first_seq: u64,
    received_at: DateTime<Utc>,
) -> Result<Vec<QueuedDelivery>, serde_json::Error> {
    deliveries
        .iter()
        .zip(first_seq..)
        .map(|(delivery, seq)| {
            Ok(QueuedDelivery {
                seq,
                received_at,
                delivery: serde_json::to_string(delivery)?,
            })
        })
        .collect()
}

/// The first stage: answered batches first (they arrived before anything
/// queued after them), else the next deliveries from the queue.
async fn events_stage(
    engine: Engine,
    mut gate: Option<tokio::sync::watch::Receiver<bool>>,
    stats: Arc<WriterStats>,
    queue: Arc<QueueState>,
    slots: Arc<Semaphore>,
    mut from_writer: mpsc::UnboundedReceiver<Work>,
    to_records: mpsc::Sender<(Stored, OwnedSemaphorePermit)>,
) {
    let stage = Arc::new(StageThread::spawn("outpost-events"));
    if let Some(gate) = gate.as_mut() {
        let _ = gate.wait_for(|open| *open).await;
    }
    // The last queued delivery handed on; the next read starts after it.
    let mut cursor: Option<String> = None;
    let mut writer_open = true;
    loop {
        let work = match next_answered(&mut from_writer, &mut writer_open) {
            Some(work) => work,
            None => {
                if queue.rewind.swap(false, Ordering::SeqCst) {
                    // Only once the stages are empty, so nothing read again
                    // is still on its way.
                    let Ok(all) = slots.clone().acquire_many_owned(IN_STAGES as u32).await else {
                        return;
                    };
                    cursor = None;
                    drop(all);
                }
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                // An answered batch that came while this waited arrived
                // before what is queued now; it goes first.
                if let Some(work) = next_answered(&mut from_writer, &mut writer_open) {
                    drop(slot);
                    work
                } else if let Some(work) =
                    next_from_queue(&engine, &stats, &stage, &mut cursor, slot).await
                {
                    work
                } else if writer_open {
                    tokio::select! {
                        work = from_writer.recv() => match work {
                            Some(work) => work,
                            None => { writer_open = false; continue; }
                        },
                        () = queue.wake.notified() => continue,
                    }
                } else {
                    if queue_is_empty(&stats) {
                        return;
                    }
                    // Shutting down with deliveries still being applied or
                    // to retry: wait for them.
                    queue.wake.notified().await;
                    continue;
                }
            }
        };
        let (engine, stats_for_batch) = (engine.clone(), stats.clone());
        let Work {
            deliveries,
            answers,
            queued,
            slot,
        } = work;
        let stored = stage
            .run(move || store_batch(&engine, &stats_for_batch, deliveries))
            .await
            .unwrap_or_else(|| Err("the ingest writer failed".into()));
        match stored {
            Ok(batch) => {
                let stored = Stored {
                    answers,
                    queued,
                    changes: batch.changes,
                    events: batch.events,
                    fresh: batch.fresh,
                    outcomes: batch.outcomes,
                };
                if let Err(refused) = to_records.send((stored, slot)).await {
                    answer_failure(refused.0.0.answers, "the ingest writer stopped");
                    return;
                }
            }
            Err(message) => {
                if !queued.is_empty() {
                    retry_queue_later(&queue);
                }
                answer_failure(answers, &message);
            }
        }
    }
}

/// An answered batch from the writer, if one waits.
fn next_answered(
    from_writer: &mut mpsc::UnboundedReceiver<Work>,
    writer_open: &mut bool,
) -> Option<Work> {
    match from_writer.try_recv() {
        Ok(work) => Some(work),
        Err(mpsc::error::TryRecvError::Disconnected) => {
            *writer_open = false;
            None
        }
        Err(mpsc::error::TryRecvError::Empty) => None,
    }
}

/// The next queued deliveries after `cursor`, as a batch (None when there
/// are none). One that cannot be read is logged and removed: no later
/// version could read it either, and it must not stop the queue.
async fn next_from_queue(
    engine: &Engine,
    stats: &Arc<WriterStats>,
    stage: &Arc<StageThread>,
    cursor: &mut Option<String>,
    slot: OwnedSemaphorePermit,
) -> Option<Work> {
    let (store, stats, after) = (engine.store().clone(), stats.clone(), cursor.clone());
    let read = stage
        .run(move || read_queue(&store, &stats, after.as_deref()))
        .await;
    match read {
        Some(Ok((deliveries, keys))) if !keys.is_empty() => {
            *cursor = keys.last().cloned();
            Some(Work {
                deliveries,
                answers: Vec::new(),
                queued: keys,
                slot,
            })
        }
        Some(Ok(_)) => None,
        Some(Err(e)) => {
            tracing::error!(error = %e, "cannot read the queue of webhook deliveries");
            None
        }
        None => None,
    }
}

/// Up to a batch of queued deliveries after key `after`, with their keys.
/// One that cannot be read is logged and removed: no later version could
/// read it either, and it must not stop the queue.
fn read_queue(
    store: &Store,
    stats: &WriterStats,
    after: Option<&str>,
) -> StoreResult<(Vec<Delivery>, Vec<String>)> {
    let records = store.first_after::<QueuedDelivery>(after, MAX_BATCH)?;
    let mut deliveries = Vec::with_capacity(records.len());
    let mut keys = Vec::with_capacity(records.len());
    let mut unreadable = Vec::new();
    for record in records {
        match serde_json::from_str::<Delivery>(&record.delivery) {
            Ok(delivery) => {
                deliveries.push(delivery);
                keys.push(record.key());
            }
            Err(e) => {
                tracing::error!(key = %record.key(), error = %e, "a queued webhook delivery cannot be read; dropped");
                unreadable.push(record.key());
            }
        }
    }
    dequeued(stats, store.remove_all::<QueuedDelivery>(&unreadable)?);
    Ok((deliveries, keys))
}

/// The records stage of a batch, then its queued deliveries out of the
/// queue. A crash before the removal is on disk applies them again, which
/// changes nothing.
fn write_and_dequeue(
    engine: &Engine,
    stats: &WriterStats,
    stored: Stored,
    queued: &[String],
) -> Result<Vec<Outcome>, String> {
    let outcomes = write_records(engine, stats, stored)?;
    let removed = engine
        .store()
        .remove_all::<QueuedDelivery>(queued)
        .map_err(|e| e.to_string())?;
    dequeued(stats, removed);
    Ok(outcomes)
}

/// Applies every queued delivery now, in order, on the calling thread, and
/// flushes: for a process that opens a data dir whose daemon stopped before
/// it caught up (killed, or out of time at shutdown) and that runs no
/// writer of its own, so what was acknowledged is there to read.
/// `progress` hears how many are applied so far after each batch; returns
/// how many were applied.
pub fn apply_queue(engine: &Engine, mut progress: impl FnMut(usize)) -> Result<usize, String> {
    let stats = WriterStats::default();
    let mut applied = 0;
    let mut cursor: Option<String> = None;
    loop {
        let (deliveries, keys) =
            read_queue(engine.store(), &stats, cursor.as_deref()).map_err(|e| e.to_string())?;
        let Some(last) = keys.last() else {
            break;
        };
        cursor = Some(last.clone());
        let batch = store_batch(engine, &stats, deliveries)?;
        let stored = Stored {
            answers: Vec::new(),
            queued: Vec::new(),
            changes: batch.changes,
            events: batch.events,
            fresh: batch.fresh,
            outcomes: batch.outcomes,
        };
        write_and_dequeue(engine, &stats, stored, &keys)?;
        applied += keys.len();
        progress(applied);
    }
    if applied > 0 {
        engine.store().flush().map_err(|e| e.to_string())?;
    }
    Ok(applied)
}

/// After a queued batch failed: read the queue from its start again, after
/// a pause (the store may need a moment, e.g. a full disk being cleared).
fn retry_queue_later(queue: &Arc<QueueState>) {
    let queue = queue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(RETRY_QUEUED_AFTER).await;
        queue.rewind.store(true, Ordering::SeqCst);
        queue.wake.notify_one();
    });
}

/// The second stage: record changes, leads, reactions; then the flush that
/// answers the batch, overlapping the next batch's work.
async fn records_stage(
    engine: Engine,
    stats: Arc<WriterStats>,
    queue: Arc<QueueState>,
    flush_slots: Arc<Semaphore>,
    mut rx: mpsc::Receiver<(Stored, OwnedSemaphorePermit)>,
) {
    let stage = Arc::new(StageThread::spawn("outpost-records"));
    let mut flushing = JoinSet::new();
    while let Some((mut stored, slot)) = rx.recv().await {
        let answers = std::mem::take(&mut stored.answers);
        let queued = std::mem::take(&mut stored.queued);
        let (engine_for_batch, stats_for_batch) = (engine.clone(), stats.clone());
        let keys = queued.clone();
        let written = stage
            .run(move || write_and_dequeue(&engine_for_batch, &stats_for_batch, stored, &keys))
            .await
            .unwrap_or_else(|| Err("the ingest writer failed".to_string()));
        drop(slot);
        let outcomes = match written {
            Ok(outcomes) => outcomes,
            Err(message) => {
                if !queued.is_empty() {
                    retry_queue_later(&queue);
                }
                answer_failure(answers, &message);
                continue;
            }
        };
        if !queued.is_empty() {
            // The events stage may be waiting for the last of the queue.
            queue.wake.notify_one();
        }
        // A flush covers everything written before it started, so this
        // batch's answers wait for this flush only, and the disk wait
        // overlaps the next batch's work.
        let Ok(flush_slot) = flush_slots.clone().acquire_owned().await else {
            answer_failure(answers, "the ingest writer stopped");
            continue;
        };
        let for_answers = stats.clone();
        spawn_flush(
            &mut flushing,
            engine.store(),
            &stats,
            flush_slot,
            move |flushed| match flushed {
                Ok(()) => {
                    add(&for_answers.flushes, 1);
                    let fresh: usize = outcomes.iter().map(|o| o.fresh).sum();
                    add(&for_answers.events_ingested, fresh as u64);
                    for (done, outcome) in answers.into_iter().zip(outcomes) {
                        let _ = done.send(Ok(Accepted::Applied(outcome)));
                    }
                }
                Err(e) => answer_failure(answers, &e),
            },
        );
        // Finished flushes leave the set here, so it stays small over a long run.
        while flushing.try_join_next().is_some() {}
    }
    // Shutdown: every written batch is flushed and answered before the task ends.
    while flushing.join_next().await.is_some() {}
}

fn answer_failure(answers: Vec<Answer>, message: &str) {
    if answers.is_empty() {
        tracing::error!(error = %message, "cannot apply queued webhook deliveries; they stay queued");
        return;
    }
    tracing::error!(error = %message, "cannot store incoming events");
    for done in answers {
        let _ = done.send(Err(Refusal::Failed(message.to_string())));
    }
}

/// A batch's deliveries after the events stage.
struct StoredBatch {
    changes: Vec<RecordChanges>,
    events: Vec<EmailEvent>,
    fresh: Vec<EmailEvent>,
    outcomes: Vec<Outcome>,
}

/// The events stage: stores the batch's events, deduped.
fn store_batch(
    engine: &Engine,
    stats: &WriterStats,
    deliveries: Vec<Delivery>,
) -> Result<StoredBatch, String> {
    add(&stats.batches, 1);
    add(&stats.jobs, deliveries.len() as u64);
    let mut changes = Vec::with_capacity(deliveries.len());
    let mut events = Vec::new();
    let mut spans = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        changes.extend(delivery.changes);
        let start = events.len();
        events.extend(delivery.events);
        spans.push(start..events.len());
    }
    add(&stats.events, events.len() as u64);
    let started = Instant::now();
    let fresh = engine.store_events(&events).map_err(|e| e.to_string())?;
    stats.add(&stats.store_nanos, started);
    let outcomes = outcomes(&events, spans, &fresh);
    Ok(StoredBatch {
        changes,
        events,
        fresh,
        outcomes,
    })
}

/// The records stage of one batch; returns each job's outcome.
fn write_records(
    engine: &Engine,
    stats: &WriterStats,
    stored: Stored,
) -> Result<Vec<Outcome>, String> {
    {
        // The payloads' own lead changes and the last-event moves are
        // gathered in memory and written lead by lead, each a
        // compare-and-swap over the lead as stored then (another replica's
        // writer may have changed it meanwhile).
        let mut leads = LeadChanges::default();
        let mut replies = PendingReplies::default();
        let started = Instant::now();
        for change in &stored.changes {
            change
                .apply(engine, &mut leads, &mut replies)
                .map_err(|e| e.to_string())?;
        }
        // The batch's replies, one transaction per conversation.
        replies.write(engine).map_err(|e| e.to_string())?;
        stats.add(&stats.apply_nanos, started);
        let started = Instant::now();
        engine
            .advance_leads(&stored.events, &mut leads)
            .and_then(|()| engine.write_lead_changes(leads))
            .map_err(|e| e.to_string())?;
        stats.add(&stats.lead_nanos, started);
    }
    let started = Instant::now();
    engine
        .react_to_new_events(&stored.fresh)
        .map_err(|e| e.to_string())?;
    stats.add(&stats.react_nanos, started);
    Ok(stored.outcomes)
}

/// Each job's fresh and known counts. An id is counted fresh for the first
/// job in the batch that carries it.
fn outcomes(
    all_events: &[EmailEvent],
    spans: Vec<Range<usize>>,
    fresh: &[EmailEvent],
) -> Vec<Outcome> {
    let fresh_ids: HashSet<&str> = fresh.iter().map(|e| e.id.as_str()).collect();
    let mut claimed = HashSet::new();
    spans
        .into_iter()
        .map(|span| {
            let mut outcome = Outcome::default();
            for event in &all_events[span] {
                if fresh_ids.contains(event.id.as_str()) && claimed.insert(event.id.as_str()) {
                    outcome.fresh += 1;
                } else {
                    outcome.known += 1;
                }
            }
            outcome
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::clock::FakeClock;
    use crate::model::Lead;
    use crate::model::{EventSource, EventType};
    use crate::store::Store;

    fn open_event(email: &str, id: &str) -> EmailEvent {
        EmailEvent {
            id: id.into(),
            account: "acme".into(),
            kind: EventType::EmailOpened,
            lead_email: email.into(),
            campaign_id: Some(1),
            sequence_number: Some(1),
            at: DateTime::<Utc>::from_timestamp(1_770_000_000, 0).expect("time"),
            source: EventSource::Webhook,
            dedupe_key: id.into(),
            message_id: None,
            detail: None,
        }
    }

    /// An open of `email`'s mail: the webhook that first tells of the lead.
    fn create_lead(email: &'static str) -> RecordChanges {
        let payload = crate::server::routes::webhooks::parse::parse(&serde_json::json!({
            "event_type": "EMAIL_OPEN",
            "sl_lead_email": email,
            "campaign_id": 1,
        }))
        .expect("payload");
        RecordChanges::new("acme", vec![payload])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_are_stored_deduped_and_their_new_leads_advanced() {
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let engine = engine_on(Store::temporary().expect("store"), start);
        let (ingest, writer) = Ingest::start(engine.clone());
        let mut handles = Vec::new();
        for n in 0..200u32 {
            let ingest = ingest.clone();
            // Every event is sent twice, so some duplicates share a batch.
            let email = if (n / 2) % 2 == 0 {
                "a@x.example"
            } else {
                "b@x.example"
            };
            let event = open_event(email, &format!("e{}", n / 2));
            handles.push(tokio::spawn(async move {
                ingest
                    .submit(vec![event], Some(create_lead(email)))
                    .await
                    .expect("stored")
            }));
        }
        let mut fresh = 0;
        let mut known = 0;
        for handle in handles {
            let outcome = handle.await.expect("job");
            fresh += outcome.fresh;
            known += outcome.known;
        }
        assert_eq!((fresh, known), (100, 100));
        assert_eq!(engine.event_count().expect("count"), 100);
        for email in ["a@x.example", "b@x.example"] {
            let lead = engine
                .store()
                .get::<Lead>(&Lead::key_for("acme", email))
                .expect("get")
                .expect("the webhook created the lead");
            assert_eq!(lead.last_event, Some(EventType::EmailOpened), "{email}");
        }
        let stats = ingest.stats().clone();
        assert_eq!(WriterStats::get(&stats.jobs), 200);
        assert!(WriterStats::get(&stats.flushes) >= 1);
        drop(ingest);
        writer
            .await
            .expect("the writer ends once every handle is gone");
    }

    /// A sequence that pauses on reply, with the lead enrolled and active.
    fn enrolled(engine: &Engine, email: &str) -> crate::model::Enrollment {
        let now = engine.clock().now();
        let text = r#"
name = "seq"
account = "acme"

[send_via]
provider = "gmail"
mailboxes = ["rep@acme.example"]

[[steps]]
type = "email"
subject = "Hello"
body = "Hi there."

[[steps]]
type = "wait"
days = 2

[[steps]]
type = "email"
body = "Following up."
"#;
        crate::sequences::apply_sequence(
            engine.store(),
            "seq.toml",
            text,
            &crate::config::SendingConfig::default(),
            now,
        )
        .expect("sequence applied");
        let input = crate::sequences::LeadInput {
            email: email.into(),
            ..Default::default()
        };
        let report =
            crate::sequences::enroll_leads(engine.store(), "seq", &[input], now, false, now)
                .expect("enrolled");
        report.enrolled[0].clone()
    }

    /// An EMAIL_REPLY webhook into lead 42's conversation in campaign 7, as
    /// the route makes it into a job.
    fn reply_delivery(email: &str, n: u32) -> Delivery {
        let at = |secs: i64| {
            DateTime::<Utc>::from_timestamp(1_770_000_000 + i64::from(n) * 60 + secs, 0)
                .expect("time")
                .to_rfc3339()
        };
        let payload = crate::server::routes::webhooks::parse::parse(&serde_json::json!({
            "event_type": "EMAIL_REPLY", "campaign_id": 7, "sl_email_lead_id": 42,
            "secret_key": "s3cret",
            "sl_lead_email": email, "from_email": "rep@acme.example",
            "stats_id": format!("st{n}"), "subject": "Re: Hello",
            "sent_message": {"message_id": format!("<sent{n}@acme.example>"),
                             "text": "Hi there.", "time": at(0)},
            "reply_message": {"message_id": format!("<reply{n}@lead.example>"),
                              "text": format!("Reply number {n}"), "time": at(30)},
            "event_timestamp": at(30),
        }))
        .expect("payload");
        let now = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let event =
            apply::event_for("acme", &payload, || "d".into(), now).expect("a reply is an event");
        Delivery {
            changes: Some(RecordChanges::new("acme", vec![payload])),
            events: vec![event],
        }
    }

    /// Both stages over `deliveries`, as the writer runs them.
    fn apply_now(engine: &Engine, stats: &WriterStats, deliveries: Vec<Delivery>) -> Vec<Outcome> {
        let batch = store_batch(engine, stats, deliveries).expect("events stored");
        let stored = Stored {
            answers: Vec::new(),
            queued: Vec::new(),
            changes: batch.changes,
            events: batch.events,
            fresh: batch.fresh,
            outcomes: batch.outcomes,
        };
        write_records(engine, stats, stored).expect("records written")
    }

    #[test]
    fn one_batch_with_two_replies_in_one_conversation_stores_both_and_the_pause() {
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let engine = engine_on(Store::temporary().expect("store"), start);
        let email = "dana@lead.example";
        let enrollment = enrolled(&engine, email);
        let stats = WriterStats::default();
        let outcomes = apply_now(
            &engine,
            &stats,
            vec![reply_delivery(email, 1), reply_delivery(email, 2)],
        );
        assert_eq!(outcomes.iter().map(|o| o.fresh).sum::<usize>(), 2);

        let store = engine.store();
        let thread: crate::model::Thread = store
            .get("acme/7:42")
            .expect("get")
            .expect("the replies made the thread");
        assert_eq!(thread.message_count, 4, "two sent emails and two replies");
        assert!(thread.unread);
        assert_eq!(thread.preview, "Reply number 2");
        assert_eq!(message_ids(&engine, "acme/7:42"), conversation_ids(2));
        let after: crate::model::Enrollment =
            store.get(&enrollment.id).expect("get").expect("enrollment");
        assert_eq!(after.state, crate::model::EnrollmentState::Paused);
        assert!(store.verify_indexes().expect("verify").is_empty());

        // The same batch delivered again adds nothing and keeps the pause.
        let outcomes = apply_now(
            &engine,
            &stats,
            vec![reply_delivery(email, 1), reply_delivery(email, 2)],
        );
        assert_eq!(outcomes.iter().map(|o| o.known).sum::<usize>(), 2);
        let again: crate::model::Thread = store.get("acme/7:42").expect("get").expect("thread");
        assert_eq!(again, thread);
    }

    /// An engine on `store` whose clock stands at `start`.
    fn engine_on(store: Store, start: DateTime<Utc>) -> Engine {
        Engine::new(store, Arc::new(FakeClock::new(start)))
    }

    /// The sent and reply Message-IDs of [`reply_delivery`] 1 to `last`, in
    /// the conversation's order.
    fn conversation_ids(last: u32) -> Vec<String> {
        (1..=last)
            .flat_map(|n| {
                [
                    format!("<sent{n}@acme.example>"),
                    format!("<reply{n}@lead.example>"),
                ]
            })
            .collect()
    }

    /// Waits (at most 30 s) until the writer has applied the whole queue.
    async fn until_queue_applied(engine: &Engine) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while engine.store().count::<QueuedDelivery>() != 0 {
            assert!(Instant::now() < deadline, "the queue was not applied");
            tokio::task::yield_now().await;
        }
    }

    /// Lets the held stages go, waits for the queue to be applied, then
    /// checks that `delivery` is applied before its answer.
    async fn applied_after_the_queue(
        open: &tokio::sync::watch::Sender<bool>,
        engine: &Engine,
        ingest: &Ingest,
        delivery: Delivery,
    ) {
        open.send(true).expect("the stages wait");
        until_queue_applied(engine).await;
        let Delivery { events, changes } = delivery;
        let answer = ingest
            .submit_or_queue(events, changes)
            .await
            .expect("taken");
        assert_eq!(answer, Accepted::Applied(Outcome { fresh: 1, known: 0 }));
    }

    /// The thread's message ids, in the conversation's order.
    fn message_ids(engine: &Engine, thread: &str) -> Vec<String> {
        let prefix = crate::store::keys::KeyBuf::new().text(thread).into_prefix();
        engine
            .store()
            .by_index::<crate::model::Message>(
                crate::store::Index::MessagesByThread,
                &prefix,
                false,
            )
            .map(|m| m.expect("message").message_id.expect("id"))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_queue_behind_a_queue_and_are_applied_in_arrival_order() {
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let engine = engine_on(Store::temporary().expect("store"), start);
        let email = "dana@lead.example";
        let enrollment = enrolled(&engine, email);
        // Reply 1 was queued by a daemon that stopped before applying it.
        // Its payload came with the webhook secret, which a read payload
        // does not keep, so neither does the queue.
        let planted = queue_records(&[reply_delivery(email, 1)], 7, start).expect("encoded");
        assert!(
            !planted[0].delivery.contains("s3cret"),
            "the secret is not kept"
        );
        engine.store().append(&planted).expect("planted");

        let (ingest, writer, open) = Ingest::start_held(engine.clone());
        // The stages are held: with something queued, new deliveries queue
        // behind it and are answered once on disk.
        for n in [2, 3] {
            let Delivery { events, changes } = reply_delivery(email, n);
            let answer = ingest
                .submit_or_queue(events, changes)
                .await
                .expect("taken");
            assert_eq!(answer, Accepted::Queued, "reply {n}");
        }
        let queued: Vec<u64> = engine
            .store()
            .first_after::<QueuedDelivery>(None, 10)
            .expect("queue")
            .iter()
            .map(|q| q.seq)
            .collect();
        assert_eq!(queued, [7, 8, 9], "numbered on after the queue left behind");
        assert!(
            engine
                .store()
                .get::<crate::model::Thread>("acme/7:42")
                .expect("get")
                .is_none()
        );
        assert_eq!(WriterStats::get(&ingest.stats().queued_now), 3);

        // Once the queue is applied, the next delivery is applied before its answer.
        applied_after_the_queue(&open, &engine, &ingest, reply_delivery(email, 4)).await;

        assert_eq!(message_ids(&engine, "acme/7:42"), conversation_ids(4));
        assert_eq!(engine.event_count().expect("count"), 4);
        let after: crate::model::Enrollment = engine
            .store()
            .get(&enrollment.id)
            .expect("get")
            .expect("enrollment");
        assert_eq!(
            after.state,
            crate::model::EnrollmentState::Paused,
            "the queued reply paused it"
        );
        assert_eq!(WriterStats::get(&ingest.stats().queued_now), 0);
        assert_eq!(WriterStats::get(&ingest.stats().queued_total), 2);
        assert!(engine.store().verify_indexes().expect("verify").is_empty());
        drop(ingest);
        writer.await.expect("the writer ends");
    }

    /// Thousands of deliveries at once on an on-disk store, the stages
    /// starting while they are still being queued: every one is answered,
    /// and the writer applies all of them before it ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_queued_deliveries_is_answered_and_then_applied() {
        // On disk: flushes that do nothing in memory must really wait here.
        let dir = tempfile::tempdir().expect("temp dir");
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let engine = engine_on(Store::open(dir.path(), "test").expect("store"), start);
        let planted =
            queue_records(&[reply_delivery("lead0@lead.example", 0)], 0, start).expect("encoded");
        engine.store().append(&planted).expect("planted");
        let (ingest, writer, open) = Ingest::start_held(engine.clone());
        let sends: Vec<_> = (1..=4000u32)
            .map(|n| {
                let ingest = ingest.clone();
                tokio::spawn(async move {
                    let Delivery { events, changes } =
                        reply_delivery(&format!("lead{}@lead.example", n % 50), n);
                    ingest.submit_or_queue(events, changes).await
                })
            })
            .collect();
        // The stages start while the burst is still being queued: their
        // transactions and flushes meet the queue's.
        open.send(true).expect("the stages wait");
        let answered = tokio::time::timeout(Duration::from_secs(120), async {
            for send in sends {
                send.await.expect("task").expect("taken");
            }
        })
        .await;
        assert!(answered.is_ok(), "every delivery is answered");
        drop(ingest);
        tokio::time::timeout(Duration::from_secs(120), writer)
            .await
            .expect("the writer applies the queue and ends")
            .expect("writer");
        assert_eq!(engine.store().count::<QueuedDelivery>(), 0);
        assert_eq!(engine.event_count().expect("count"), 4001);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_with_retry_later_and_takes_deliveries_again_once_applied() {
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let engine = engine_on(Store::temporary().expect("store"), start);
        let email = "dana@lead.example";
        let planted = queue_records(&[reply_delivery(email, 1)], 0, start).expect("encoded");
        engine.store().append(&planted).expect("planted");
        let (ingest, writer, open) = Ingest::start_held_queueing(engine.clone(), 2);
        let Delivery { events, changes } = reply_delivery(email, 2);
        assert_eq!(
            ingest
                .submit_or_queue(events, changes)
                .await
                .expect("queued"),
            Accepted::Queued
        );
        let Delivery { events, changes } = reply_delivery(email, 3);
        let refused = ingest.submit_or_queue(events, changes).await;
        assert!(matches!(refused, Err(IngestError::Behind)), "{refused:?}");
        assert_eq!(
            engine.store().count::<QueuedDelivery>(),
            2,
            "the refused one is not kept"
        );

        // The sender's retry is taken once the queue is applied.
        applied_after_the_queue(&open, &engine, &ingest, reply_delivery(email, 3)).await;
        drop(ingest);
        writer.await.expect("the writer ends");
        assert_eq!(engine.event_count().expect("count"), 3);
    }

    #[test]
    fn a_process_without_a_writer_applies_the_queue_a_stopped_daemon_left() {
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let engine = engine_on(Store::temporary().expect("store"), start);
        let email = "dana@lead.example";
        let left: Vec<Delivery> = (1..=2).map(|n| reply_delivery(email, n)).collect();
        let mut planted = queue_records(&left, 0, start).expect("encoded");
        // One the next version cannot read must not stop the rest.
        planted.push(QueuedDelivery {
            seq: 2,
            received_at: start,
            delivery: "{\"not\": \"a delivery\"}".into(),
        });
        engine.store().append(&planted).expect("planted");
        let mut heard = Vec::new();
        assert_eq!(apply_queue(&engine, |n| heard.push(n)), Ok(2));
        assert_eq!(heard, [2], "one batch");
        assert_eq!(message_ids(&engine, "acme/7:42"), conversation_ids(2));
        assert_eq!(engine.store().count::<QueuedDelivery>(), 0);
        assert_eq!(apply_queue(&engine, |_| {}), Ok(0), "applied once");
        assert_eq!(engine.event_count().expect("count"), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_may_not_queue_waits_for_the_stages_even_behind_a_queue() {
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let engine = engine_on(Store::temporary().expect("store"), start);
        let planted =
            queue_records(&[reply_delivery("dana@lead.example", 1)], 0, start).expect("encoded");
        engine.store().append(&planted).expect("planted");
        let (ingest, writer, open) = Ingest::start_held(engine.clone());
        let unsubscribe = {
            let ingest = ingest.clone();
            tokio::spawn(async move {
                ingest
                    .submit(
                        vec![open_event("b@x.example", "e1")],
                        Some(create_lead("b@x.example")),
                    )
                    .await
            })
        };
        open.send(true).expect("the stages wait");
        let outcome = unsubscribe.await.expect("task").expect("applied");
        assert_eq!(outcome, Outcome { fresh: 1, known: 0 });
        let key = Lead::key_for("acme", "b@x.example");
        assert!(
            engine.store().get::<Lead>(&key).expect("get").is_some(),
            "applied before the answer"
        );
        drop(ingest);
        writer.await.expect("the writer ends, the queue applied");
        assert_eq!(engine.store().count::<QueuedDelivery>(), 0);
        assert!(
            engine
                .store()
                .get::<crate::model::Thread>("acme/7:42")
                .expect("get")
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_failing_apply_fails_its_batch_and_the_retry_completes_the_lead() {
        let engine = engine_on(
            Store::temporary().expect("store"),
            DateTime::from_timestamp(1_770_000_000, 0).expect("time"),
        );
        let (ingest, _writer) = Ingest::start(engine.clone());
        let failing = RecordChanges {
            fail: Some("disk full"),
            ..create_lead("a@x.example")
        };
        let result = ingest
            .submit(vec![open_event("a@x.example", "e1")], Some(failing))
            .await;
        assert!(matches!(result, Err(IngestError::Store(m)) if m.contains("disk full")));
        let key = Lead::key_for("acme", "a@x.example");
        assert_eq!(engine.store().get::<Lead>(&key).expect("get"), None);
        // The sender retries: its event is known by now, yet the lead it
        // creates still gets the event as its last one.
        let retried = ingest
            .submit(
                vec![open_event("a@x.example", "e1")],
                Some(create_lead("a@x.example")),
            )
            .await
            .expect("the retry is stored");
        assert_eq!((retried.fresh, retried.known), (0, 1));
        assert_eq!(engine.event_count().expect("count"), 1);
        let lead = engine
            .store()
            .get::<Lead>(&key)
            .expect("get")
            .expect("lead");
        assert_eq!(lead.last_event, Some(EventType::EmailOpened));
    }
}
