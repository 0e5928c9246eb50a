//! Group commit for everything the daemon is told from outside.
//!
//! Handlers hand a [`Job`] (events, plus record updates such as a reply's
//! thread) to one writer task and wait. The writer takes every job queued so
//! far, applies them, records all their events in one `record_events` call,
//! lets the sequences react, then flushes the store once and answers every
//! job. While it flushes, new jobs queue up and form the next batch, so one
//! fsync acknowledges many requests: that is what makes sustained ingest
//! cheap, and no 2xx ever leaves before its event is on disk.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::metrics::Metrics;
use crate::engine::Engine;
use crate::model::EmailEvent;
use crate::store::StoreResult;

/// Record writes that must happen with a job's events (thread, message, lead).
pub type Apply = Box<dyn FnOnce(&Engine) -> StoreResult<()> + Send>;

pub struct Job {
    pub apply: Option<Apply>,
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
/// Jobs waiting for the writer before handlers are made to wait to enqueue.
const QUEUE: usize = 16 * 1024;

/// The handle handlers submit through; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
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
        let task = tokio::spawn(writer(engine, metrics, rx));
        (Ingest { tx }, task)
    }

    /// Writes `events` (and `apply`) durably; returns once they are on disk.
    pub async fn submit(
        &self,
        events: Vec<EmailEvent>,
        apply: Option<Apply>,
    ) -> Result<Outcome, IngestError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                apply,
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

async fn writer(engine: Engine, metrics: Arc<Metrics>, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        // sled calls are synchronous; keep them off the request threads.
        let engine_for_batch = engine.clone();
        let written =
            tokio::task::spawn_blocking(move || write_batch(&engine_for_batch, jobs)).await;
        let (jobs, result) = match written {
            Ok(pair) => pair,
            Err(join) => {
                tracing::error!(error = %join, "the ingest writer failed");
                continue;
            }
        };
        let result = match result {
            Ok(outcomes) => match engine.store().flush_async().await {
                Ok(()) => {
                    Metrics::add(&metrics.flushes, 1);
                    Ok(outcomes)
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(outcomes) => {
                let fresh: usize = outcomes.iter().map(|o| o.fresh).sum();
                Metrics::add(&metrics.events_ingested, fresh as u64);
                for (done, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = done.send(Ok(outcome));
                }
            }
            Err(message) => {
                tracing::error!(error = %message, "cannot store incoming events");
                for done in jobs {
                    let _ = done.send(Err(message.clone()));
                }
            }
        }
    }
}

type Answer = oneshot::Sender<Result<Outcome, String>>;

/// Applies a batch; returns each job's answer channel and outcome.
fn write_batch(engine: &Engine, jobs: Vec<Job>) -> (Vec<Answer>, Result<Vec<Outcome>, String>) {
    let mut answers = Vec::with_capacity(jobs.len());
    let mut all_events = Vec::new();
    let mut spans = Vec::with_capacity(jobs.len());
    let mut failure = None;
    for job in jobs {
        answers.push(job.done);
        if failure.is_none()
            && let Some(apply) = job.apply
            && let Err(e) = apply(engine)
        {
            failure = Some(e.to_string());
        }
        let start = all_events.len();
        all_events.extend(job.events);
        spans.push(start..all_events.len());
    }
    if let Some(message) = failure {
        return (answers, Err(message));
    }
    // `record_events` also runs the sequences' reactions for new events.
    let fresh = match engine.record_events(&all_events) {
        Ok(fresh) => fresh,
        Err(e) => return (answers, Err(e.to_string())),
    };
    let fresh_ids: std::collections::HashSet<&str> = fresh.iter().map(|e| e.id.as_str()).collect();
    // An id is counted fresh for the first job in the batch that carries it.
    let mut claimed = std::collections::HashSet::new();
    let outcomes = spans
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
        .collect();
    (answers, Ok(outcomes))
}
