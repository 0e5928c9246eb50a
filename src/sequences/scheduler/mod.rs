//! The scheduler: each tick walks the due-time index up to now (O(due), never
//! every enrollment), runs the steps that are due and writes email steps to the
//! outbox. All writes of a tick (send ledger, tasks, outbox items, executions,
//! enrollments) go to the store in one transaction, so a crash keeps all of
//! them or none.
//!
//! Replicas on one database do not split a tick with `FOR UPDATE SKIP
//! LOCKED` as the outbox claims its items: a tick decides every due
//! enrollment against state they share (each mailbox's daily cap and gap,
//! whose window opens first) and commits it all at once. Two replicas each
//! locking half the due rows would still both write the same cap cursors
//! and collide, and each would order only its half. So a tick stays one
//! commit, refused when a due enrollment changed since it was read, and
//! runs again on fresh reads; the outbox items it writes are what replicas
//! claim without colliding.

mod lookups;
mod run;
mod steps;
mod work;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use url::Url;

use super::tokens::TrackingKey;
use super::{SequenceError, SequenceResult};
use crate::config::Config;
use crate::model::*;
use crate::store::{Index, Store, StoreError, keys};
pub(crate) use lookups::{is_suppressed, lead_for};
pub use run::webhook_client;
pub(crate) use steps::task_id;
use work::Work;

/// An enrollment waiting on its outbox item is looked at again this long after
/// the item was due, in case the worker died before reporting back.
pub(crate) const RECHECK: Duration = Duration::hours(1);
/// A webhook step is leased for this long; if no result comes back, it is retried.
const WEBHOOK_LEASE: Duration = Duration::minutes(10);
/// Enrollments of a paused sequence are looked at again after this long.
const PAUSED_SEQUENCE_RECHECK: Duration = Duration::minutes(15);

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Base of unsubscribe and tracking links (`[daemon].public_url`).
    pub public_url: Option<Url>,
    pub tracking_key: Option<TrackingKey>,
    /// The day boundary for per-mailbox daily caps (`[sending].timezone`).
    pub cap_timezone: Tz,
    /// Most enrollments handled per tick; the rest wait for the next one.
    pub max_per_tick: usize,
    /// The longest wait between two ticks when nothing is due sooner
    /// (`[daemon].work_interval_ms`): a step another writer made due, the
    /// outbox moving an enrollment on, is seen within it.
    pub tick_every: std::time::Duration,
}

/// How long a running scheduler waits at most between two ticks.
pub const DEFAULT_TICK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl SchedulerConfig {
    pub fn new(cap_timezone: Tz) -> Self {
        Self {
            public_url: None,
            tracking_key: None,
            cap_timezone,
            max_per_tick: 5_000,
            tick_every: DEFAULT_TICK_EVERY,
        }
    }

    /// From the loaded config; reads (or creates) the tracking key when links are on.
    pub fn from_config(config: &Config) -> SequenceResult<Self> {
        crate::engine::EngineSettings::from_config(config).scheduler()
    }
}

/// A webhook step to deliver; report back with [`Scheduler::finish_webhook`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookJob {
    pub enrollment_id: String,
    pub step: usize,
    pub url: String,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TickReport {
    /// Enrollments looked at.
    pub due: usize,
    /// Outbox items written this tick.
    pub queued: Vec<String>,
    /// Task records created this tick.
    pub tasks: Vec<String>,
    pub completed: usize,
    pub blocked: usize,
    pub stopped: usize,
    pub webhooks: Vec<WebhookJob>,
    /// More enrollments were due than one tick handles.
    pub more: bool,
    /// Where the tick's time went (not part of the report's JSON).
    #[serde(skip)]
    pub timings: TickTimings,
}

/// One tick's engine time, phase by phase. `lookups` and `compose` are parts
/// of `handle`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickTimings {
    /// Walking the due index.
    pub scan: std::time::Duration,
    /// Reading the due enrollments.
    pub load: std::time::Duration,
    /// Running the due steps, lookups and composing included.
    pub handle: std::time::Duration,
    /// Store reads while running steps: outbox items, suppressions, leads, caps.
    pub lookups: std::time::Duration,
    /// Rendering templates and building outbox items.
    pub compose: std::time::Duration,
    /// Writing the tick's records.
    pub commit: std::time::Duration,
}

#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    config: Arc<SchedulerConfig>,
}

enum Flow {
    Continue(DateTime<Utc>),
    Stop,
}

impl Scheduler {
    pub fn new(store: Store, config: SchedulerConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles every enrollment due at or before `now`.
    pub fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, SequenceError> {
        // A tick writes nothing until its one commit, so when a reply or a
        // rep changed a due enrollment meanwhile, it simply runs again on
        // fresh reads.
        for attempt in 1..=5 {
            match self.tick_once(now) {
                Err(SequenceError::Store(StoreError::Changed { key, .. })) => {
                    tracing::debug!(%key, attempt, "an enrollment changed during the tick; again");
                }
                other => return other,
            }
        }
        // Still racing busy writers: nothing was written, so hand the work
        // to the next tick (soon, as `more` says) rather than fail.
        Ok(TickReport {
            more: true,
            ..TickReport::default()
        })
    }

    fn tick_once(&self, now: DateTime<Utc>) -> Result<TickReport, SequenceError> {
        let started = Instant::now();
        let end = keys::time(now + Duration::milliseconds(1));
        // Sized up front: growing a large vector on a busy heap costs more
        // than the walk itself.
        let mut due = Vec::with_capacity(self.config.max_per_tick.min(4096) + 1);
        for entry in self
            .store
            .index_range(Index::EnrollmentsByDue, &[], &end, false)
        {
            due.push(entry?.1);
            if due.len() > self.config.max_per_tick {
                break;
            }
        }
        let mut work = Work::new(self, now, due.len());
        work.report.more = due.len() > self.config.max_per_tick;
        due.truncate(self.config.max_per_tick);
        work.report.timings.scan = started.elapsed();
        let loading = Instant::now();
        // One read for all of them (one round trip on Postgres).
        let mut enrollments: Vec<Enrollment> =
            self.store.get_many(&due)?.into_iter().flatten().collect();
        let handling = Instant::now();
        work.report.timings.load = handling - loading;
        // Mailbox gaps and daily caps go to the leads whose windows open
        // first, not to whoever happens to be due first.
        work.order_by_window(&mut enrollments)?;
        for enrollment in enrollments {
            work.report.due += 1;
            work.process(enrollment)?;
        }
        work.report.timings.handle = handling.elapsed();
        work.commit()
    }

    /// The earliest time anything is due (to sleep until then).
    pub fn next_due_at(&self) -> SequenceResult<Option<DateTime<Utc>>> {
        match self
            .store
            .index_keys(Index::EnrollmentsByDue, &[], false)
            .next()
        {
            Some(entry) => Ok(keys::time_from(&entry?.0)),
            None => Ok(None),
        }
    }

    /// Records a webhook step's outcome and moves the enrollment on (a webhook
    /// that failed after its retries is recorded and does not stop the sequence).
    pub fn finish_webhook(
        &self,
        job: &WebhookJob,
        result: Result<(), String>,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> SequenceResult<()> {
        let (outcome, error) = match result {
            Ok(()) => (ExecutionOutcome::WebhookDelivered, None),
            Err(e) => (ExecutionOutcome::Failed, Some(e)),
        };
        self.store
            .modify_together::<Enrollment, ()>(&job.enrollment_id, |enr, batch| {
                // Decided on the fresh read: a reply may have paused it, or
                // an earlier report moved it on, since the job was handed out.
                let Some(mut enr) = enr
                    .filter(|e| e.current_step == job.step && e.state == EnrollmentState::Active)
                else {
                    return Ok(None);
                };
                let exec = execution(&enr, job.step, outcome, now, |e| {
                    e.error = error.clone();
                    e.attempts = attempts;
                });
                enr.current_step += 1;
                enr.next_due_at = Some(now);
                enr.updated_at = now;
                batch.put(&exec)?;
                batch.put(&enr)?;
                Ok(Some(()))
            })?;
        Ok(())
    }
}

pub(crate) fn execution(
    enr: &Enrollment,
    step: usize,
    outcome: ExecutionOutcome,
    at: DateTime<Utc>,
    fill: impl FnOnce(&mut StepExecution),
) -> StepExecution {
    let mut exec = StepExecution {
        enrollment_id: enr.id.clone(),
        account: enr.account.clone(),
        sequence: enr.sequence.clone(),
        step,
        variant: enr.variants.get(&step).cloned(),
        outcome,
        provider_id: None,
        message_id: None,
        error: None,
        attempts: 0,
        at,
    };
    fill(&mut exec);
    exec
}

/// Applies a sent outbox item to its enrollment: threading, the execution
/// record, and the move to the next step (due at once).
pub(crate) fn record_sent(
    enr: &mut Enrollment,
    item: &OutboxItem,
    step: usize,
    at: DateTime<Utc>,
) -> StepExecution {
    let thread = match &item.delivery {
        Delivery::GmailSend { thread_id: Some(t) } => Some(t.clone()),
        _ => item
            .thread_key
            .as_deref()
            .and_then(|k| k.split_once('/'))
            .map(|(_, t)| t.to_string()),
    };
    if thread.is_some() {
        enr.thread_id = thread;
    }
    let mut references = item.email.references.clone();
    if !references.contains(&item.message_id) {
        references.push(item.message_id.clone());
    }
    enr.references = references;
    enr.last_message_id = Some(item.message_id.clone());
    enr.last_subject = Some(item.email.subject.clone());
    if step == enr.current_step {
        enr.current_step = step + 1;
        enr.next_due_at = Some(at);
    }
    enr.updated_at = at;
    execution(enr, step, ExecutionOutcome::Sent, at, |e| {
        e.provider_id = item.provider_id.clone();
        e.message_id = Some(item.message_id.clone());
        e.attempts = item.attempts;
    })
}
