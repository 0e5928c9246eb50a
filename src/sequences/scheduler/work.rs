//! One tick's work: the due enrollments walked step by step, their writes
//! buffered and committed together.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use super::super::SequenceResult;
use super::super::ledger::Ledger;
use super::super::rules::SendRules;
use super::super::template::Template;
use super::lookups::lead_for;
use super::{Flow, PAUSED_SEQUENCE_RECHECK, Scheduler, SequenceError, TickReport, execution};
use crate::model::*;
use crate::store::Store;

/// One tick's state and buffered writes.
pub(super) struct Work<'a> {
    pub(super) scheduler: &'a Scheduler,
    pub(super) now: DateTime<Utc>,
    pub(super) sequences: HashMap<String, Option<Arc<Sequence>>>,
    pub(super) templates: RefCell<HashMap<String, Result<Rc<Template>, String>>>,
    /// Leads read this tick, by (account, email).
    leads: HashMap<(String, String), Rc<Lead>>,
    pub(super) ledger: Ledger,
    pub(super) tasks: Vec<Task>,
    pub(super) outbox: Vec<OutboxItem>,
    pub(super) executions: Vec<StepExecution>,
    pub(super) enrollments: Vec<Enrollment>,
    /// The due enrollments as read: the commit is refused if any changed
    /// meanwhile (a reply paused it), and the tick runs again.
    pub(super) as_read: Vec<Enrollment>,
    pub(super) report: TickReport,
}

impl<'a> Work<'a> {
    /// A tick over `due` enrollments (each writes itself, usually one
    /// outbox item, sometimes an execution).
    pub(super) fn new(scheduler: &'a Scheduler, now: DateTime<Utc>, due: usize) -> Self {
        let mut report = TickReport::default();
        report.queued.reserve(due);
        Self {
            scheduler,
            now,
            sequences: HashMap::new(),
            templates: RefCell::new(HashMap::new()),
            leads: HashMap::new(),
            ledger: Ledger::default(),
            tasks: Vec::new(),
            outbox: Vec::with_capacity(due),
            executions: Vec::new(),
            enrollments: Vec::with_capacity(due),
            as_read: Vec::with_capacity(due),
            report,
        }
    }

    pub(super) fn store(&self) -> &'a Store {
        &self.scheduler.store
    }

    /// Writes the whole tick in one transaction: each outbox item lands
    /// together with its enrollment's advance and its cap count, or none does.
    pub(super) fn commit(mut self) -> Result<TickReport, SequenceError> {
        let started = Instant::now();
        let ledger = self.ledger.drain();
        self.store().write(|batch| {
            for enrollment in &self.as_read {
                batch.expect_unchanged(enrollment)?;
            }
            batch.put_all(&ledger)?;
            batch.put_all(&self.tasks)?;
            batch.put_all(&self.outbox)?;
            batch.put_all(&self.executions)?;
            batch.put_all(&self.enrollments)
        })?;
        self.report.timings.commit = started.elapsed();
        Ok(self.report)
    }

    pub(super) fn sequence(&mut self, name: &str) -> SequenceResult<Option<Arc<Sequence>>> {
        if let Some(found) = self.sequences.get(name) {
            return Ok(found.clone());
        }
        let found = self.store().get::<Sequence>(name)?.map(Arc::new);
        self.sequences.insert(name.to_string(), found.clone());
        Ok(found)
    }

    /// The lead an enrollment writes to, read once per tick.
    pub(super) fn lead(&mut self, account: &str, email: &str) -> SequenceResult<Rc<Lead>> {
        let key = (account.to_string(), email.to_string());
        if let Some(found) = self.leads.get(&key) {
            return Ok(found.clone());
        }
        let found = Rc::new(lead_for(self.store(), account, email)?);
        self.leads.insert(key, found.clone());
        Ok(found)
    }

    /// Reads the leads of `enrollments` in one go (one round trip on
    /// Postgres) into the tick's cache; a lead not found under its
    /// sequence's account is left to [`lead_for`]'s walk of the email index.
    fn read_leads(&mut self, enrollments: &[Enrollment]) -> SequenceResult<()> {
        let mut wanted = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for enr in enrollments {
            if let Some(seq) = self.sequence(&enr.sequence)? {
                let cached = (seq.account.clone(), enr.lead_email.clone());
                if !self.leads.contains_key(&cached) && seen.insert(cached.clone()) {
                    wanted.push(cached);
                }
            }
        }
        let keys: Vec<String> = wanted
            .iter()
            .map(|(account, email)| Lead::key_for(account, &normalize_email(email)))
            .collect();
        for ((account, email), found) in wanted
            .into_iter()
            .zip(self.store().get_many::<Lead>(&keys)?)
        {
            if let Some(lead) = found
                && lead.account == account
                && lead.email == normalize_email(&email)
            {
                self.leads.insert((account, email), Rc::new(lead));
            }
        }
        Ok(())
    }

    /// Sorts due enrollments by when their lead's sending window next opens
    /// (stable, so equal openings keep their due order). Slots and caps are
    /// then handed out in time order: a lead whose window opens at 01:00 UTC
    /// is not pushed a day back by leads due earlier whose windows open later.
    pub(super) fn order_by_window(
        &mut self,
        enrollments: &mut Vec<Enrollment>,
    ) -> SequenceResult<()> {
        self.read_leads(enrollments)?;
        let mut keyed = Vec::with_capacity(enrollments.len());
        for enr in enrollments.drain(..) {
            let due = enr.next_due_at.or(enr.resume_at).unwrap_or(self.now);
            let opens = match self.sequence(&enr.sequence)? {
                Some(seq) => {
                    let lead = self.lead(&seq.account, &enr.lead_email)?;
                    SendRules::for_lead(
                        &seq.settings,
                        lead.timezone.as_deref(),
                        self.scheduler.config.cap_timezone,
                    )
                    .next_open(due)
                }
                None => due,
            };
            keyed.push((opens, enr));
        }
        keyed.sort_by_key(|(opens, _)| *opens);
        enrollments.extend(keyed.into_iter().map(|(_, enr)| enr));
        Ok(())
    }

    pub(super) fn process(&mut self, mut enr: Enrollment) -> SequenceResult<()> {
        self.as_read.push(enr.clone());
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

    pub(super) fn finish(&mut self, enr: &mut Enrollment, state: EnrollmentState, reason: String) {
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

    pub(super) fn walk(
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
                        let lead = self.lead(&seq.account, &enr.lead_email)?;
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
                StepKind::Task {
                    title,
                    body,
                    auto_skip_after_days,
                } => self.task_step(enr, seq, index, (title, body), *auto_skip_after_days, t)?,
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

    pub(super) fn block(
        &mut self,
        enr: &mut Enrollment,
        seq: &Sequence,
        index: usize,
        why: String,
    ) {
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
    pub(super) fn template(&self, text: &str) -> Result<Rc<Template>, String> {
        if let Some(found) = self.templates.borrow().get(text) {
            return found.clone();
        }
        let parsed = Template::parse(text).map(Rc::new).map_err(|e| e.message);
        self.templates
            .borrow_mut()
            .insert(text.to_string(), parsed.clone());
        parsed
    }

    pub(super) fn render(
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
}
