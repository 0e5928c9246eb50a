//! The scheduler: each tick walks the due-time index up to now (O(due), never
//! every enrollment), runs the steps that are due and writes email steps to the
//! outbox. All writes of a tick are batched per kind, in an order that makes a
//! crash harmless: send ledger, tasks, outbox items, executions, enrollments.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::compose::{ComposeInput, Links, build_item};
use super::ledger::Ledger;
use super::rules::SendRules;
use super::template::Template;
use super::tokens::TrackingKey;
use super::{SequenceError, SequenceResult, outbox_item_for, seed_of};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::model::*;
use crate::store::{Index, Store, keys};

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
}

impl SchedulerConfig {
    pub fn new(cap_timezone: Tz) -> Self {
        Self {
            public_url: None,
            tracking_key: None,
            cap_timezone,
            max_per_tick: 5_000,
        }
    }

    /// From the loaded config; reads (or creates) the tracking key when links are on.
    pub fn from_config(config: &Config) -> SequenceResult<Self> {
        let mut out = Self::new(config.sending.timezone);
        if let Some(url) = &config.daemon.public_url {
            out.public_url = Some(url.clone());
            out.tracking_key = Some(TrackingKey::load_or_create(config.data_dir())?);
        }
        Ok(out)
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
        let end = keys::time(now + Duration::milliseconds(1));
        let mut due = Vec::new();
        for entry in self
            .store
            .index_range(Index::EnrollmentsByDue, &[], &end, false)
        {
            due.push(entry?.1);
            if due.len() > self.config.max_per_tick {
                break;
            }
        }
        let mut work = Work::new(self, now);
        work.report.more = due.len() > self.config.max_per_tick;
        due.truncate(self.config.max_per_tick);
        for id in due {
            if let Some(enrollment) = self.store.get::<Enrollment>(&id)? {
                work.report.due += 1;
                work.process(enrollment)?;
            }
        }
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
        let Some(mut enr) = self.store.get::<Enrollment>(&job.enrollment_id)? else {
            return Ok(());
        };
        if enr.current_step != job.step || enr.state != EnrollmentState::Active {
            return Ok(());
        }
        let (outcome, error) = match result {
            Ok(()) => (ExecutionOutcome::WebhookDelivered, None),
            Err(e) => (ExecutionOutcome::Failed, Some(e)),
        };
        let exec = execution(&enr, job.step, outcome, now, |e| {
            e.error = error;
            e.attempts = attempts;
        });
        enr.current_step += 1;
        enr.next_due_at = Some(now);
        enr.updated_at = now;
        self.store.put(&exec)?;
        self.store.put(&enr)?;
        Ok(())
    }

    /// Ticks until `shutdown`: at the next due time or every few seconds,
    /// whichever is sooner; delivers webhook steps with retries.
    pub async fn run(self, clock: SharedClock, shutdown: CancellationToken) {
        self.run_observed(clock, shutdown, |_| {}).await
    }

    /// `run`, reporting how long each tick took (the daemon's `/metrics`).
    /// The tick reads and writes the store, so it runs off the async workers.
    pub async fn run_observed(
        self,
        clock: SharedClock,
        shutdown: CancellationToken,
        on_tick: impl Fn(std::time::Duration) + Send,
    ) {
        let client = webhook_client();
        loop {
            let mut pause = std::time::Duration::from_secs(5);
            let started = std::time::Instant::now();
            let ticked = {
                let scheduler = self.clone();
                let now = clock.now();
                tokio::task::spawn_blocking(move || scheduler.tick(now)).await
            };
            on_tick(started.elapsed());
            match ticked {
                Ok(Ok(report)) => {
                    if report.more {
                        pause = std::time::Duration::ZERO;
                    }
                    self.deliver_webhooks(&client, &report.webhooks, &clock, &shutdown)
                        .await;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "sequence tick failed"),
                Err(e) => tracing::error!(error = %e, "sequence tick stopped"),
            }
            if let Ok(Some(next)) = self.next_due_at() {
                let until = (next - clock.now()).to_std().unwrap_or_default();
                pause = pause.min(until);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause.max(std::time::Duration::from_millis(50))) => {}
            }
        }
    }
}

/// The HTTP client webhook steps are delivered with.
pub fn webhook_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap_or_default()
}

impl Scheduler {
    /// Delivers a tick's webhook steps (with retries) and records each outcome.
    pub async fn deliver_webhooks(
        &self,
        client: &reqwest::Client,
        jobs: &[WebhookJob],
        clock: &SharedClock,
        shutdown: &CancellationToken,
    ) {
        for job in jobs {
            let (result, attempts) = deliver_webhook(client, job, shutdown).await;
            if let Err(e) = self.finish_webhook(job, result, attempts, clock.now()) {
                tracing::warn!(error = %e, "cannot record a webhook step");
            }
        }
    }
}

/// POSTs a webhook body, retrying 5xx and network errors with backoff.
/// Stops retrying once `shutdown` is cancelled, so a stop is never held up.
async fn deliver_webhook(
    client: &reqwest::Client,
    job: &WebhookJob,
    shutdown: &CancellationToken,
) -> (Result<(), String>, u32) {
    let mut attempts = 0;
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        attempts += 1;
        let outcome = client.post(&job.url).json(&job.body).send().await;
        let retryable = match outcome {
            Ok(resp) if resp.status().is_success() => return (Ok(()), attempts),
            Ok(resp) => {
                let status = resp.status();
                if !(status.is_server_error() || status.as_u16() == 429) {
                    return (Err(format!("the webhook answered {status}")), attempts);
                }
                format!("the webhook answered {status}")
            }
            Err(e) => format!("cannot reach the webhook: {}", e.without_url()),
        };
        if attempts >= 4 || shutdown.is_cancelled() {
            return (Err(retryable), attempts);
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
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

/// The lead record for an enrollment: the sequence's account first, else any.
pub(crate) fn lead_for(store: &Store, account: &str, email: &str) -> SequenceResult<Lead> {
    let prefix = keys::KeyBuf::new()
        .text(&normalize_email(email))
        .into_prefix();
    let mut fallback = None;
    for lead in store.by_index::<Lead>(Index::LeadsByEmail, &prefix, false) {
        let lead = lead?;
        if lead.account == account {
            return Ok(lead);
        }
        fallback.get_or_insert(lead);
    }
    Ok(fallback.unwrap_or_else(|| Lead::new(account, email)))
}

pub(crate) fn is_suppressed(store: &Store, email: &str) -> SequenceResult<Option<Suppression>> {
    let prefix = keys::KeyBuf::new()
        .text(&normalize_email(email))
        .into_prefix();
    Ok(store
        .by_index::<Suppression>(Index::SuppressionsByEmail, &prefix, false)
        .next()
        .transpose()?)
}

/// One tick's state and buffered writes.
struct Work<'a> {
    scheduler: &'a Scheduler,
    now: DateTime<Utc>,
    sequences: HashMap<String, Option<Arc<Sequence>>>,
    templates: RefCell<HashMap<String, Result<Rc<Template>, String>>>,
    ledger: Ledger,
    tasks: Vec<Task>,
    outbox: Vec<OutboxItem>,
    executions: Vec<StepExecution>,
    enrollments: Vec<Enrollment>,
    report: TickReport,
}

impl<'a> Work<'a> {
    fn new(scheduler: &'a Scheduler, now: DateTime<Utc>) -> Self {
        Self {
            scheduler,
            now,
            sequences: HashMap::new(),
            templates: RefCell::new(HashMap::new()),
            ledger: Ledger::default(),
            tasks: Vec::new(),
            outbox: Vec::new(),
            executions: Vec::new(),
            enrollments: Vec::new(),
            report: TickReport::default(),
        }
    }

    fn store(&self) -> &'a Store {
        &self.scheduler.store
    }

    fn commit(mut self) -> Result<TickReport, SequenceError> {
        let store = self.store();
        store.put_all(&self.ledger.drain())?;
        store.put_all(&self.tasks)?;
        store.put_all(&self.outbox)?;
        store.put_all(&self.executions)?;
        store.put_all(&self.enrollments)?;
        Ok(self.report)
    }

    fn sequence(&mut self, name: &str) -> SequenceResult<Option<Arc<Sequence>>> {
        if let Some(found) = self.sequences.get(name) {
            return Ok(found.clone());
        }
        let found = self.store().get::<Sequence>(name)?.map(Arc::new);
        self.sequences.insert(name.to_string(), found.clone());
        Ok(found)
    }

    fn process(&mut self, mut enr: Enrollment) -> SequenceResult<()> {
        let now = self.now;
        let t = match enr.state {
            EnrollmentState::Paused => match enr.resume_at {
                Some(at) if at <= now => {
                    enr.state = EnrollmentState::Active;
                    enr.resume_at = None;
                    enr.reason = None;
                    at
                }
                _ => return Ok(()),
            },
            EnrollmentState::Active => enr.next_due_at.unwrap_or(now),
            _ => return Ok(()),
        };
        let Some(seq) = self.sequence(&enr.sequence)? else {
            let reason = format!("sequence {:?} no longer exists", enr.sequence);
            self.finish(&mut enr, EnrollmentState::Failed, reason);
            self.enrollments.push(enr);
            return Ok(());
        };
        if seq.status == SequenceStatus::Paused {
            enr.next_due_at = Some(now + PAUSED_SEQUENCE_RECHECK);
            self.enrollments.push(enr);
            return Ok(());
        }
        self.walk(&mut enr, &seq, t)?;
        enr.updated_at = now;
        self.enrollments.push(enr);
        Ok(())
    }

    fn finish(&mut self, enr: &mut Enrollment, state: EnrollmentState, reason: String) {
        enr.state = state;
        enr.reason = Some(reason);
        enr.next_due_at = None;
        enr.resume_at = None;
        match state {
            EnrollmentState::Completed => self.report.completed += 1,
            EnrollmentState::Stopped => self.report.stopped += 1,
            _ => {}
        }
    }

    fn walk(
        &mut self,
        enr: &mut Enrollment,
        seq: &Sequence,
        mut t: DateTime<Utc>,
    ) -> SequenceResult<()> {
        let now = self.now;
        for _ in 0..=seq.steps.len() + 1 {
            let index = enr.current_step;
            let Some(step) = seq.steps.get(index) else {
                self.finish(
                    enr,
                    EnrollmentState::Completed,
                    format!("finished all {} steps", seq.steps.len()),
                );
                return Ok(());
            };
            let flow = match &step.kind {
                StepKind::Email {
                    variants,
                    same_thread,
                } => self.email_step(enr, seq, index, variants, *same_thread, t)?,
                StepKind::Wait {
                    days,
                    hours,
                    business_days,
                } => {
                    let due = if *business_days {
                        let lead = lead_for(self.store(), &seq.account, &enr.lead_email)?;
                        let rules = SendRules::for_lead(
                            &seq.settings,
                            lead.timezone.as_deref(),
                            self.scheduler.config.cap_timezone,
                        );
                        rules.add_business_days(t, *days) + Duration::hours(i64::from(*hours))
                    } else {
                        t + Duration::days(i64::from(*days)) + Duration::hours(i64::from(*hours))
                    };
                    enr.current_step += 1;
                    if due > now {
                        enr.next_due_at = Some(due);
                        Flow::Stop
                    } else {
                        Flow::Continue(due)
                    }
                }
                StepKind::Task { title, body } => {
                    self.task_step(enr, seq, index, title, body, t)?
                }
                StepKind::Conditional {
                    condition,
                    within_hours,
                    then_step,
                    else_step,
                } => self.conditional_step(
                    enr,
                    index,
                    *condition,
                    *within_hours,
                    (*then_step, *else_step),
                    t,
                )?,
                StepKind::Webhook { url, payload } => {
                    self.webhook_step(enr, seq, index, url, payload.as_deref())?
                }
            };
            match flow {
                Flow::Continue(next) => t = next,
                Flow::Stop => return Ok(()),
            }
        }
        Ok(())
    }

    fn block(&mut self, enr: &mut Enrollment, seq: &Sequence, index: usize, why: String) {
        let name = seq.steps.get(index).map_or("", |s| s.name.as_str());
        let reason = format!(
            "blocked at step {} ({name}): {why}; then run `outpost enrollment resume {}`",
            index + 1,
            enr.id
        );
        self.executions.push(execution(
            enr,
            index,
            ExecutionOutcome::Blocked,
            self.now,
            |e| {
                e.error = Some(why.clone());
            },
        ));
        enr.state = EnrollmentState::Paused;
        enr.reason = Some(reason);
        enr.next_due_at = None;
        enr.resume_at = None;
        self.report.blocked += 1;
    }

    /// A parsed template, parsed once per tick (every enrollment at a step
    /// shares its text).
    fn template(&self, text: &str) -> Result<Rc<Template>, String> {
        if let Some(found) = self.templates.borrow().get(text) {
            return found.clone();
        }
        let parsed = Template::parse(text).map(Rc::new).map_err(|e| e.message);
        self.templates
            .borrow_mut()
            .insert(text.to_string(), parsed.clone());
        parsed
    }

    fn render(
        &self,
        text: &str,
        lead: &Lead,
        extra: &dyn Fn(&str) -> Option<String>,
        seed: u64,
    ) -> Result<String, String> {
        let template = self.template(text)?;
        let lookup = |name: &str| extra(name).or_else(|| lead.field(name));
        let out = template.render(&lookup, seed).map_err(|e| e.to_string())?;
        if out.contains("{{") || out.contains("}}") {
            return Err("the rendered text still contains `{{` or `}}` (from a lead field); fix the lead's data".into());
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn email_step(
        &mut self,
        enr: &mut Enrollment,
        seq: &Sequence,
        index: usize,
        variants: &[Variant],
        same_thread: bool,
        t: DateTime<Utc>,
    ) -> SequenceResult<Flow> {
        let now = self.now;
        // The outbox is the source of truth: a step written before a crash is reused.
        if let Some(item) = outbox_item_for(self.store(), &enr.id, index)? {
            match item.state {
                OutboxState::Sent => {
                    let at = item.updated_at;
                    self.executions.push(record_sent(enr, &item, index, at));
                    return Ok(Flow::Continue(at));
                }
                OutboxState::Failed => {
                    let why = item
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "the provider refused it".into());
                    self.executions.push(execution(
                        enr,
                        index,
                        ExecutionOutcome::Failed,
                        now,
                        |e| {
                            e.error = Some(why.clone());
                            e.attempts = item.attempts;
                        },
                    ));
                    self.finish(
                        enr,
                        EnrollmentState::Failed,
                        format!("step {} could not be sent: {why}", index + 1),
                    );
                    return Ok(Flow::Stop);
                }
                _ => {
                    enr.next_due_at = Some(item.not_before.max(now) + RECHECK);
                    return Ok(Flow::Stop);
                }
            }
        }
        if let Some(s) = is_suppressed(self.store(), &enr.lead_email)? {
            let reason =
                format!("{} is suppressed ({:?})", enr.lead_email, s.reason).to_lowercase();
            self.finish(enr, EnrollmentState::Stopped, reason);
            return Ok(Flow::Stop);
        }
        let lead = lead_for(self.store(), &seq.account, &enr.lead_email)?;
        let variant = pick_variant(enr, index, variants);
        let rules = SendRules::for_lead(
            &seq.settings,
            lead.timezone.as_deref(),
            self.scheduler.config.cap_timezone,
        );
        let Some((mailbox, slot)) = self.choose_slot(enr, seq, &rules, index, t)? else {
            self.block(
                enr,
                seq,
                index,
                "no sending slot in the next 400 days; check the window, weekends and holidays"
                    .into(),
            );
            return Ok(Flow::Stop);
        };
        let from = sender_address(self.store(), seq, &mailbox)?;
        let item_id = uuid::Uuid::new_v4().to_string();
        let links = Links {
            public_url: self.scheduler.config.public_url.as_ref(),
            key: self.scheduler.config.tracking_key.as_ref(),
        };
        let unsubscribe = links.unsubscribe(&item_id, &normalize_email(&enr.lead_email));
        let extra = |name: &str| match name {
            "sender_email" => Some(from.clone()),
            "unsubscribe_url" => unsubscribe.clone(),
            _ => None,
        };
        let seed = seed_of(&[&enr.id, &index.to_string()]);
        let rendered = self
            .render(&variant.subject, &lead, &extra, seed)
            .and_then(|s| Ok((s, self.render(&variant.body, &lead, &extra, seed ^ 1)?)));
        let (subject, text) = match rendered {
            Ok(pair) => pair,
            Err(why) => {
                self.block(enr, seq, index, why);
                return Ok(Flow::Stop);
            }
        };
        enr.variants.insert(index, variant.label.clone());
        enr.mailbox = Some(mailbox.clone());
        let day = slot
            .with_timezone(&self.scheduler.config.cap_timezone)
            .date_naive();
        self.ledger
            .record(self.store(), &seq.account, &mailbox, day, slot)?;
        let item = build_item(
            ComposeInput {
                sequence: seq,
                enrollment: enr,
                step: index,
                same_thread,
                from,
                mailbox,
                subject,
                text,
                not_before: slot,
                now,
            },
            &links,
            unsubscribe,
            item_id,
        );
        self.report.queued.push(item.id.clone());
        enr.next_due_at = Some(slot.max(now) + RECHECK);
        self.outbox.push(item);
        Ok(Flow::Stop)
    }

    /// The mailbox and time for a send: the pinned mailbox, or the rotation's
    /// earliest; inside the window, under the daily cap, after the random gap.
    fn choose_slot(
        &mut self,
        enr: &Enrollment,
        seq: &Sequence,
        rules: &SendRules,
        index: usize,
        t: DateTime<Utc>,
    ) -> SequenceResult<Option<(String, DateTime<Utc>)>> {
        let all = mailbox_keys(seq);
        let candidates: Vec<String> = match &enr.mailbox {
            Some(pinned) if all.contains(pinned) => vec![pinned.clone()],
            _ => {
                let start = (seed_of(&[&enr.id]) % all.len() as u64) as usize;
                (0..all.len())
                    .map(|k| all[(start + k) % all.len()].clone())
                    .collect()
            }
        };
        let (min, max) = seq.settings.random_gap_secs;
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of(&[&enr.id, &index.to_string(), "gap"]));
        let gap = Duration::seconds(i64::from(rng.random_range(min..=max.max(min))));
        let mut best: Option<(String, DateTime<Utc>)> = None;
        for mailbox in candidates {
            let Some(mut slot) = self.slot_for(seq, &mailbox, rules, gap, t)? else {
                continue;
            };
            // A late tick keeps its slot only while the same window is still open.
            if slot < self.now
                && !(rules.is_open(self.now)
                    && rules.local_date(slot) == rules.local_date(self.now))
            {
                match self.slot_for(seq, &mailbox, rules, gap, self.now)? {
                    Some(later) => slot = later,
                    None => continue,
                }
            }
            if best.as_ref().is_none_or(|(_, b)| slot < *b) {
                best = Some((mailbox, slot));
            }
        }
        Ok(best)
    }

    fn slot_for(
        &mut self,
        seq: &Sequence,
        mailbox: &str,
        rules: &SendRules,
        gap: Duration,
        from: DateTime<Utc>,
    ) -> SequenceResult<Option<DateTime<Utc>>> {
        let cap_tz = self.scheduler.config.cap_timezone;
        let limit = seq.settings.daily_limit_per_mailbox;
        let mut t = rules.next_open(from);
        for _ in 0..800 {
            if !rules.is_open(t) {
                return Ok(None);
            }
            let day = t.with_timezone(&cap_tz).date_naive();
            let used = self.ledger.get(self.store(), &seq.account, mailbox, day)?;
            if used.count >= limit {
                let next_day = day + Duration::days(1);
                let start = SendRules {
                    tz: cap_tz,
                    ..rules.clone()
                }
                .instant(next_day, chrono::NaiveTime::MIN);
                t = rules.next_open(start);
                continue;
            }
            let candidate = rules.next_open(used.last_at.map_or(t, |last| t.max(last + gap)));
            if candidate.with_timezone(&cap_tz).date_naive() != day {
                t = candidate;
                continue;
            }
            return Ok(Some(candidate));
        }
        Ok(None)
    }

    fn task_step(
        &mut self,
        enr: &mut Enrollment,
        seq: &Sequence,
        index: usize,
        title: &str,
        body: &str,
        t: DateTime<Utc>,
    ) -> SequenceResult<Flow> {
        let lead = lead_for(self.store(), &seq.account, &enr.lead_email)?;
        let seed = seed_of(&[&enr.id, &index.to_string()]);
        let none = |_: &str| None;
        let rendered = self
            .render(title, &lead, &none, seed)
            .and_then(|t| Ok((t, self.render(body, &lead, &none, seed ^ 1)?)));
        let (title, body) = match rendered {
            Ok(pair) => pair,
            Err(why) => {
                self.block(enr, seq, index, why);
                return Ok(Flow::Stop);
            }
        };
        self.tasks.push(Task {
            id: format!("{}/{index:05}", enr.id),
            account: seq.account.clone(),
            lead_email: enr.lead_email.clone(),
            title,
            body,
            due_at: t,
            done_at: None,
            enrollment_id: Some(enr.id.clone()),
        });
        self.executions.push(execution(
            enr,
            index,
            ExecutionOutcome::TaskCreated,
            self.now,
            |_| {},
        ));
        self.report.tasks.push(format!("{}/{index:05}", enr.id));
        enr.current_step += 1;
        Ok(Flow::Continue(t))
    }

    #[allow(clippy::too_many_arguments)]
    fn conditional_step(
        &mut self,
        enr: &mut Enrollment,
        index: usize,
        condition: Condition,
        within_hours: u32,
        (then_step, else_step): (usize, usize),
        t: DateTime<Utc>,
    ) -> SequenceResult<Flow> {
        let since = last_sent_at(self.store(), &enr.id)?.unwrap_or(enr.started_at);
        let deadline = since + Duration::hours(i64::from(within_hours));
        let seen = events_between(self.store(), &enr.lead_email, since, deadline.min(self.now))?;
        let has = |kind: EventType| seen.contains(&kind);
        // (branch taken, decided only because the deadline passed)
        let decided = match condition {
            Condition::Opened if has(EventType::EmailOpened) => Some((true, false)),
            Condition::Clicked if has(EventType::EmailClicked) => Some((true, false)),
            Condition::Replied if has(EventType::EmailReplied) => Some((true, false)),
            Condition::NoReply if has(EventType::EmailReplied) => Some((false, false)),
            _ if self.now >= deadline => Some((condition == Condition::NoReply, true)),
            _ => None,
        };
        let Some((taken, by_deadline)) = decided else {
            enr.next_due_at = Some(deadline);
            return Ok(Flow::Stop);
        };
        let target = if taken { then_step } else { else_step };
        let label = if taken { "then" } else { "else" };
        self.executions.push(execution(
            enr,
            index,
            ExecutionOutcome::Branched,
            self.now,
            |e| {
                e.variant = Some(format!("{label} -> step {}", target + 1));
            },
        ));
        enr.current_step = target;
        let at = if by_deadline { t.max(deadline) } else { t };
        Ok(Flow::Continue(at))
    }

    fn webhook_step(
        &mut self,
        enr: &mut Enrollment,
        seq: &Sequence,
        index: usize,
        url: &str,
        payload: Option<&str>,
    ) -> SequenceResult<Flow> {
        let lead = lead_for(self.store(), &seq.account, &enr.lead_email)?;
        let body = match payload {
            None => serde_json::json!({
                "event": "sequence_step",
                "sequence": seq.name,
                "step": index + 1,
                "step_name": seq.steps.get(index).map(|s| s.name.clone()),
                "enrollment_id": enr.id,
                "lead": {
                    "email": lead.email,
                    "first_name": lead.first_name,
                    "last_name": lead.last_name,
                    "company": lead.company,
                },
            }),
            Some(text) => {
                // Values are JSON-escaped so a quote in a name cannot break the document.
                let json_lookup = |name: &str| {
                    lead.field(name).map(|v| {
                        let quoted = serde_json::to_string(&v).unwrap_or_default();
                        quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
                    })
                };
                let rendered = Template::parse(text)
                    .map_err(|e| e.message)
                    .and_then(|t| t.render(&json_lookup, 0).map_err(|e| e.to_string()));
                match rendered.and_then(|r| {
                    serde_json::from_str(&r)
                        .map_err(|e| format!("the payload is not valid JSON: {e}"))
                }) {
                    Ok(value) => value,
                    Err(why) => {
                        self.block(enr, seq, index, why);
                        return Ok(Flow::Stop);
                    }
                }
            }
        };
        self.report.webhooks.push(WebhookJob {
            enrollment_id: enr.id.clone(),
            step: index,
            url: url.to_string(),
            body,
        });
        enr.next_due_at = Some(self.now + WEBHOOK_LEASE);
        Ok(Flow::Stop)
    }
}

fn pick_variant<'v>(enr: &Enrollment, index: usize, variants: &'v [Variant]) -> &'v Variant {
    if let Some(label) = enr.variants.get(&index)
        && let Some(v) = variants.iter().find(|v| &v.label == label)
    {
        return v;
    }
    let total: u64 = variants
        .iter()
        .map(|v| u64::from(v.weight))
        .sum::<u64>()
        .max(1);
    let mut roll = seed_of(&[&enr.id, &index.to_string(), "variant"]) % total;
    for v in variants {
        let w = u64::from(v.weight);
        if roll < w {
            return v;
        }
        roll -= w;
    }
    &variants[0]
}

/// The keys caps are counted under: Gmail addresses, Smartlead email account
/// ids, or the campaign itself when it picks its own senders.
pub(crate) fn mailbox_keys(seq: &Sequence) -> Vec<String> {
    if seq.send_via.mailboxes.is_empty() {
        vec![format!(
            "campaign-{}",
            seq.send_via.campaign_id.unwrap_or_default()
        )]
    } else {
        seq.send_via.mailboxes.clone()
    }
}

fn sender_address(store: &Store, seq: &Sequence, mailbox: &str) -> SequenceResult<String> {
    if mailbox.contains('@') {
        return Ok(mailbox.to_string());
    }
    if let Ok(id) = mailbox.parse::<i64>()
        && let Some(mb) = store.get::<Mailbox>(&scoped_key(&seq.account, id))?
    {
        return Ok(mb.from_email);
    }
    Ok(store
        .get::<Account>(&seq.account)?
        .and_then(|a| a.email)
        .unwrap_or_default())
}

pub(crate) fn last_sent_at(
    store: &Store,
    enrollment_id: &str,
) -> SequenceResult<Option<DateTime<Utc>>> {
    let mut last = None;
    for exec in store.scan_prefix::<StepExecution>(&format!("{enrollment_id}/")) {
        let exec = exec?;
        if exec.outcome == ExecutionOutcome::Sent {
            last = Some(last.map_or(exec.at, |l: DateTime<Utc>| l.max(exec.at)));
        }
    }
    Ok(last)
}

/// The kinds (opens, clicks and replies folded to their base) a lead produced in `[from, to]`.
pub(crate) fn events_between(
    store: &Store,
    email: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SequenceResult<Vec<EventType>> {
    let mut out = Vec::new();
    if to < from {
        return Ok(out);
    }
    let prefix = keys::KeyBuf::new()
        .text(&normalize_email(email))
        .into_prefix();
    for lead in store.index_keys(Index::LeadsByEmail, &prefix, false) {
        let (_, lead_key) = lead?;
        if let Some(activity) = store.get::<Activity>(&lead_key)? {
            out.extend(activity.between(from, to).map(|e| e.kind.base()));
        }
    }
    Ok(out)
}
