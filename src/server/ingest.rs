//! Group commit for everything the daemon is told from outside.
//!
//! Handlers hand a [`Job`] (events, plus record updates such as a reply's
//! thread) to the writer and wait. The writer takes every job queued so far
//! as one batch and runs it through two stages, each on its own thread, so
//! the next batch's first stage overlaps this batch's second:
//!
//! 1. **events**: each lead's new events into its activity record, dedupe
//!    included, one atomic swap per record (what is new to the store is
//!    known from here on);
//! 2. **records**: the payloads' record changes (a batch's replies are
//!    grouped by conversation; each thread is read and moved once, with its
//!    new messages, in one transaction that lands only if the thread did
//!    not change meanwhile, see `webhooks::apply::PendingReplies`), then
//!    every changed lead (last events moved; swapped in alone unless its
//!    index entries move, see `store/each.rs`), then the sequences'
//!    reactions.
//!
//! It then starts one flush for the batch; the flush answers the batch's
//! jobs. So one fsync acknowledges many requests, and no 2xx ever leaves
//! before its event is on disk.
//!
//! Events are stored before the records stage. If that stage fails, the
//! batch is answered with an error and the sender retries; the retry finds
//! its events known, so the records stage moves leads on *every* event of a
//! batch (idempotent: a last event only moves forward) and the retry repairs
//! them. The sequences react only to new events, as a reaction must happen
//! once (a rep may have resumed an enrollment since).

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use super::metrics::Metrics;
use crate::engine::{Engine, LeadChanges};
use crate::model::EmailEvent;
use crate::server::routes::webhooks::apply::{PendingReplies, apply_into};
use crate::server::routes::webhooks::parse::Payload;
use crate::store::StoreResult;

/// The record changes that must happen with a job's events: the webhook
/// payloads they came in (a reply's thread and message, a lead first heard
/// of, a category). A plain value, so a job can be logged, compared and
/// replayed; the writer applies it with `webhooks::apply`, which puts lead
/// changes into the batch's map of changed leads (stored together) and
/// writes other records directly.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordChanges {
    pub account: String,
    pub payloads: Vec<Payload>,
    /// A store failure to act out (tests of the writer's failure path).
    #[cfg(test)]
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

pub struct Job {
    pub changes: Option<RecordChanges>,
    pub events: Vec<EmailEvent>,
    done: oneshot::Sender<Result<Outcome, String>>,
}

/// What a job's events turned out to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events new to the store.
    pub fresh: usize,
    /// Events already known (duplicate deliveries, or seen by sync first).
    pub known: usize,
}

/// Most jobs written in one batch.
const MAX_BATCH: usize = 2048;
/// Batches written but still waiting for their flush. Two lets one flush
/// overlap the next batch's writes; more would only queue behind the disk.
const FLUSHES_IN_FLIGHT: usize = 2;

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
}

impl WriterStats {
    fn add(&self, counter: &AtomicU64, since: Instant) {
        Metrics::add(counter, since.elapsed().as_nanos() as u64);
    }
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
}

impl Ingest {
    /// Starts the writer task; it ends once every `Ingest` handle is dropped
    /// and the queue is drained (so shutdown finishes acknowledged work).
    pub fn start(engine: Engine, metrics: Arc<Metrics>) -> (Ingest, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriterStats::default());
        let task = tokio::spawn(writer(engine, metrics, stats.clone(), rx));
        (Ingest { tx, stats }, task)
    }

    /// The writer's counters.
    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }

    /// Writes `events` (and `changes`) durably; returns once they are on disk.
    pub async fn submit(
        &self,
        events: Vec<EmailEvent>,
        changes: Option<RecordChanges>,
    ) -> Result<Outcome, IngestError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                changes,
                events,
                done,
            })
            .await
            .map_err(|_| IngestError::Closed)?;
        match wait.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(message)) => Err(IngestError::Store(message)),
            Err(_) => Err(IngestError::Closed),
        }
    }
}

/// A batch past the events stage, on its way to the records stage.
struct Stored {
    answers: Vec<Answer>,
    changes: Vec<RecordChanges>,
    events: Vec<EmailEvent>,
    fresh: Vec<EmailEvent>,
    outcomes: Vec<Outcome>,
}

async fn writer(
    engine: Engine,
    metrics: Arc<Metrics>,
    stats: Arc<WriterStats>,
    mut rx: mpsc::Receiver<Job>,
) {
    // One slot: the events stage runs at most one batch ahead of the records stage.
    let (to_records, from_events) = mpsc::channel::<Stored>(1);
    let records = tokio::spawn(records_stage(
        engine.clone(),
        metrics,
        stats.clone(),
        from_events,
    ));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        // sled calls are synchronous; keep them off the request threads.
        let (engine, stats) = (engine.clone(), stats.clone());
        let stored =
            match tokio::task::spawn_blocking(move || store_batch(&engine, &stats, jobs)).await {
                Ok(Ok(stored)) => stored,
                Ok(Err((answers, message))) => {
                    answer_failure(answers, &message);
                    continue;
                }
                Err(join) => {
                    tracing::error!(error = %join, "the ingest writer failed");
                    continue;
                }
            };
        if let Err(refused) = to_records.send(stored).await {
            answer_failure(refused.0.answers, "the ingest writer stopped");
        }
    }
    // Shutdown: the records stage finishes, flushes and answers what it holds.
    drop(to_records);
    let _ = records.await;
}

/// The second stage: record changes, leads, reactions; then the flush that
/// answers the batch, overlapping the next batch's work.
async fn records_stage(
    engine: Engine,
    metrics: Arc<Metrics>,
    stats: Arc<WriterStats>,
    mut rx: mpsc::Receiver<Stored>,
) {
    let flush_slots = Arc::new(Semaphore::new(FLUSHES_IN_FLIGHT));
    let mut flushing = JoinSet::new();
    while let Some(mut stored) = rx.recv().await {
        let answers = std::mem::take(&mut stored.answers);
        let (engine_for_batch, stats_for_batch) = (engine.clone(), stats.clone());
        let written = tokio::task::spawn_blocking(move || {
            write_records(&engine_for_batch, &stats_for_batch, stored)
        })
        .await;
        let outcomes = match written {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(message)) => {
                answer_failure(answers, &message);
                continue;
            }
            Err(join) => {
                answer_failure(answers, &format!("the ingest writer failed: {join}"));
                continue;
            }
        };
        // A flush covers everything written before it started, so this
        // batch's answers wait for this flush only, and the disk wait
        // overlaps the next batch's work.
        let Ok(slot) = flush_slots.clone().acquire_owned().await else {
            answer_failure(answers, "the ingest writer stopped");
            continue;
        };
        let (store, metrics, stats) = (engine.store().clone(), metrics.clone(), stats.clone());
        flushing.spawn(async move {
            let started = Instant::now();
            let flushed = store.flush_async().await;
            stats.add(&stats.flush_nanos, started);
            drop(slot);
            match flushed {
                Ok(()) => {
                    Metrics::add(&metrics.flushes, 1);
                    let fresh: usize = outcomes.iter().map(|o| o.fresh).sum();
                    Metrics::add(&metrics.events_ingested, fresh as u64);
                    for (done, outcome) in answers.into_iter().zip(outcomes) {
                        let _ = done.send(Ok(outcome));
                    }
                }
                Err(e) => answer_failure(answers, &e.to_string()),
            }
        });
        // Finished flushes leave the set here, so it stays small over a long run.
        while flushing.try_join_next().is_some() {}
    }
    // Shutdown: every written batch is flushed and answered before the task ends.
    while flushing.join_next().await.is_some() {}
}

fn answer_failure(answers: Vec<Answer>, message: &str) {
    tracing::error!(error = %message, "cannot store incoming events");
    for done in answers {
        let _ = done.send(Err(message.to_string()));
    }
}

type Answer = oneshot::Sender<Result<Outcome, String>>;

/// The events stage: stores the batch's events, deduped; on failure hands
/// the answer channels back with the reason.
fn store_batch(
    engine: &Engine,
    stats: &WriterStats,
    jobs: Vec<Job>,
) -> Result<Stored, (Vec<Answer>, String)> {
    Metrics::add(&stats.batches, 1);
    Metrics::add(&stats.jobs, jobs.len() as u64);
    let mut answers = Vec::with_capacity(jobs.len());
    let mut changes = Vec::with_capacity(jobs.len());
    let mut events = Vec::new();
    let mut spans = Vec::with_capacity(jobs.len());
    for job in jobs {
        answers.push(job.done);
        changes.extend(job.changes);
        let start = events.len();
        events.extend(job.events);
        spans.push(start..events.len());
    }
    Metrics::add(&stats.events, events.len() as u64);
    let started = Instant::now();
    let fresh = match engine.store_events(&events) {
        Ok(fresh) => fresh,
        Err(e) => return Err((answers, e.to_string())),
    };
    stats.add(&stats.store_nanos, started);
    let outcomes = outcomes(&events, spans, &fresh);
    Ok(Stored {
        answers,
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

    fn open(email: &str, id: &str) -> EmailEvent {
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
        let engine = Engine::new(
            Store::temporary().expect("store"),
            Arc::new(FakeClock::new(start)),
        );
        let metrics = Arc::new(Metrics::default());
        let (ingest, writer) = Ingest::start(engine.clone(), metrics.clone());
        let mut handles = Vec::new();
        for n in 0..200u32 {
            let ingest = ingest.clone();
            // Every event is sent twice, so some duplicates share a batch.
            let email = if (n / 2) % 2 == 0 {
                "a@x.example"
            } else {
                "b@x.example"
            };
            let event = open(email, &format!("e{}", n / 2));
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
        assert_eq!(Metrics::get(&stats.jobs), 200);
        assert!(Metrics::get(&metrics.flushes) >= 1);
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
    fn reply_job(email: &str, n: u32) -> (Job, oneshot::Receiver<Result<Outcome, String>>) {
        let at = |secs: i64| {
            DateTime::<Utc>::from_timestamp(1_770_000_000 + i64::from(n) * 60 + secs, 0)
                .expect("time")
                .to_rfc3339()
        };
        let payload = crate::server::routes::webhooks::parse::parse(&serde_json::json!({
            "event_type": "EMAIL_REPLY", "campaign_id": 7, "sl_email_lead_id": 42,
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
            crate::server::routes::webhooks::apply::event_for("acme", &payload, || "d".into(), now)
                .expect("a reply is an event");
        let (done, answer) = oneshot::channel();
        let job = Job {
            changes: Some(RecordChanges::new("acme", vec![payload])),
            events: vec![event],
            done,
        };
        (job, answer)
    }

    #[test]
    fn one_batch_with_two_replies_in_one_conversation_stores_both_and_the_pause() {
        let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
        let engine = Engine::new(
            Store::temporary().expect("store"),
            Arc::new(FakeClock::new(start)),
        );
        let email = "dana@lead.example";
        let enrollment = enrolled(&engine, email);
        let stats = WriterStats::default();
        let (first, _a) = reply_job(email, 1);
        let (second, _b) = reply_job(email, 2);
        let stored = store_batch(&engine, &stats, vec![first, second])
            .map_err(|(_, e)| e)
            .expect("events stored");
        let outcomes = write_records(&engine, &stats, stored).expect("records written");
        assert_eq!(outcomes.iter().map(|o| o.fresh).sum::<usize>(), 2);

        let store = engine.store();
        let thread: crate::model::Thread = store
            .get("acme/7:42")
            .expect("get")
            .expect("the replies made the thread");
        assert_eq!(thread.message_count, 4, "two sent emails and two replies");
        assert!(thread.unread);
        assert_eq!(thread.preview, "Reply number 2");
        let prefix = crate::store::keys::KeyBuf::new()
            .text("acme/7:42")
            .into_prefix();
        let messages: Vec<crate::model::Message> = store
            .by_index(crate::store::Index::MessagesByThread, &prefix, false)
            .collect::<Result<_, _>>()
            .expect("messages");
        let ids: Vec<&str> = messages
            .iter()
            .filter_map(|m| m.message_id.as_deref())
            .collect();
        assert_eq!(
            ids,
            [
                "<sent1@acme.example>",
                "<reply1@lead.example>",
                "<sent2@acme.example>",
                "<reply2@lead.example>"
            ]
        );
        let after: crate::model::Enrollment =
            store.get(&enrollment.id).expect("get").expect("enrollment");
        assert_eq!(after.state, crate::model::EnrollmentState::Paused);
        assert!(store.verify_indexes().expect("verify").is_empty());

        // The same batch delivered again adds nothing and keeps the pause.
        let (first, _a) = reply_job(email, 1);
        let (second, _b) = reply_job(email, 2);
        let stored = store_batch(&engine, &stats, vec![first, second])
            .map_err(|(_, e)| e)
            .expect("events stored");
        let outcomes = write_records(&engine, &stats, stored).expect("records written");
        assert_eq!(outcomes.iter().map(|o| o.known).sum::<usize>(), 2);
        let again: crate::model::Thread = store.get("acme/7:42").expect("get").expect("thread");
        assert_eq!(again, thread);
    }

    #[tokio::test]
    async fn a_failing_apply_fails_its_batch_and_the_retry_completes_the_lead() {
        let engine = Engine::new(
            Store::temporary().expect("store"),
            Arc::new(FakeClock::new(
                DateTime::from_timestamp(1_770_000_000, 0).expect("time"),
            )),
        );
        let (ingest, _writer) = Ingest::start(engine.clone(), Arc::new(Metrics::default()));
        let failing = RecordChanges {
            fail: Some("disk full"),
            ..create_lead("a@x.example")
        };
        let result = ingest
            .submit(vec![open("a@x.example", "e1")], Some(failing))
            .await;
        assert!(matches!(result, Err(IngestError::Store(m)) if m.contains("disk full")));
        let key = Lead::key_for("acme", "a@x.example");
        assert_eq!(engine.store().get::<Lead>(&key).expect("get"), None);
        // The sender retries: its event is known by now, yet the lead it
        // creates still gets the event as its last one.
        let retried = ingest
            .submit(
                vec![open("a@x.example", "e1")],
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
