//! `outpost plan`: a dry run of the scheduler. The real scheduler runs on a
//! throwaway copy of the cache with a simulated outbox worker that sends each
//! item at its `not_before`, so the forecast is exactly what ticks would do
//! (as long as the worker sends on time and no new events arrive).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::scheduler::{Scheduler, SchedulerConfig};
use super::{SequenceResult, on_outbox_sent};
use crate::clock::FakeClock;
use crate::model::*;
use crate::store::{Index, Record, Store, keys};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanQuery {
    pub sequence: Option<String>,
    pub lead: Option<String>,
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub at: DateTime<Utc>,
    pub sequence: String,
    pub enrollment_id: String,
    pub lead_email: String,
    /// 1-based step number.
    pub step: usize,
    pub step_name: String,
    /// "email", "task" or "webhook".
    pub action: String,
    pub mailbox: Option<String>,
    pub variant: Option<String>,
    pub subject: Option<String>,
    /// Already in the outbox when the plan was made.
    pub already_queued: bool,
    /// Set when Smartlead, not outpost, writes and sends this email: the
    /// campaign's own step is what the lead gets, so `subject` is that
    /// step's subject (when the campaign could be read) and never outpost's.
    #[serde(default)]
    pub smartlead: Option<SmartleadStep>,
}

/// The Smartlead campaign step an email step of a Smartlead-sent sequence stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmartleadStep {
    pub campaign_id: i64,
    /// 1-based: the k-th email step is the campaign's step k.
    pub step: u32,
    /// "sent by Smartlead campaign N, step k".
    pub sent_by: String,
}

impl SmartleadStep {
    /// For the email step at `index` of a sequence sent through a Smartlead
    /// campaign; None for a sequence outpost sends itself.
    pub fn for_step(seq: &Sequence, index: usize) -> Option<SmartleadStep> {
        if seq.send_via.provider != Provider::Smartlead {
            return None;
        }
        let campaign_id = seq.send_via.campaign_id?;
        let step = seq.steps[..=index.min(seq.steps.len().saturating_sub(1))]
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Email { .. }))
            .count() as u32;
        Some(SmartleadStep {
            campaign_id,
            step,
            sent_by: format!("sent by Smartlead campaign {campaign_id}, step {step}"),
        })
    }
}

/// An enrollment that sends nothing in the horizon, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStall {
    pub enrollment_id: String,
    pub sequence: String,
    pub lead_email: String,
    pub state: EnrollmentState,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub entries: Vec<PlanEntry>,
    pub stalls: Vec<PlanStall>,
}

fn copy_all<R: Record>(from: &Store, to: &Store) -> SequenceResult<()> {
    let mut batch = Vec::with_capacity(1000);
    for record in from.iter::<R>() {
        batch.push(record?);
        if batch.len() == 1000 {
            to.put_all(&batch)?;
            batch.clear();
        }
    }
    to.put_all(&batch)?;
    Ok(())
}

fn matches(query: &PlanQuery, sequence: &str, email: &str) -> bool {
    query.sequence.as_deref().is_none_or(|s| s == sequence)
        && query
            .lead
            .as_deref()
            .is_none_or(|l| normalize_email(l) == normalize_email(email))
}

/// Forecasts every step the scheduler would run from `now` for `query.days`.
pub fn plan(
    store: &Store,
    config: &SchedulerConfig,
    query: &PlanQuery,
    now: DateTime<Utc>,
) -> SequenceResult<Plan> {
    let until = now + Duration::days(i64::from(query.days.max(1)));
    let sim = Store::temporary()?;
    copy_all::<Sequence>(store, &sim)?;
    copy_all::<Enrollment>(store, &sim)?;
    copy_all::<Lead>(store, &sim)?;
    copy_all::<Suppression>(store, &sim)?;
    copy_all::<Cursor>(store, &sim)?;
    copy_all::<Activity>(store, &sim)?;
    copy_all::<ActivityPage>(store, &sim)?;
    copy_all::<StepExecution>(store, &sim)?;
    copy_all::<OutboxItem>(store, &sim)?;
    copy_all::<Mailbox>(store, &sim)?;
    copy_all::<Account>(store, &sim)?;
    let scheduler = Scheduler::new(sim.clone(), config.clone());
    let mut entries = Vec::new();

    let step_info = |seq_name: &str, index: usize| -> SequenceResult<String> {
        Ok(sim
            .get::<Sequence>(seq_name)?
            .and_then(|s| s.steps.get(index).map(|st| st.name.clone()))
            .unwrap_or_default())
    };
    let email_entry = |item: &OutboxItem, already: bool| -> SequenceResult<Option<PlanEntry>> {
        let (Some(id), Some(step)) = (&item.enrollment_id, item.step) else {
            return Ok(None);
        };
        let Some(enr) = sim.get::<Enrollment>(id)? else {
            return Ok(None);
        };
        let smartlead = sim
            .get::<Sequence>(&enr.sequence)?
            .and_then(|seq| SmartleadStep::for_step(&seq, step));
        // Smartlead sends its campaign's copy, not the step's text: the
        // subject is filled from the campaign when it can be read.
        let (subject, variant) = match &smartlead {
            Some(_) => (None, None),
            None => (
                Some(item.email.subject.clone()),
                enr.variants.get(&step).cloned(),
            ),
        };
        Ok(Some(PlanEntry {
            at: item.not_before,
            sequence: enr.sequence.clone(),
            enrollment_id: id.clone(),
            lead_email: enr.lead_email.clone(),
            step: step + 1,
            step_name: step_info(&enr.sequence, step)?,
            action: "email".into(),
            mailbox: enr.mailbox.clone(),
            variant,
            subject,
            already_queued: already,
            smartlead,
        }))
    };
    let pending_prefix = keys::KeyBuf::new()
        .byte(OutboxState::Pending.as_byte())
        .into_prefix();
    for item in sim.by_index::<OutboxItem>(Index::OutboxByState, &pending_prefix, false) {
        if let Some(e) = email_entry(&item?, true)? {
            entries.push(e);
        }
    }

    for _ in 0..1_000_000 {
        let next_item = sim
            .index_keys(Index::OutboxByState, &pending_prefix, false)
            .next()
            .transpose()?
            .and_then(|(k, _)| keys::time_from(&k[1..]));
        let next_due = scheduler.next_due_at()?;
        let Some(t) = [next_item, next_due].into_iter().flatten().min() else {
            break;
        };
        let t = t.max(now);
        if t > until {
            break;
        }
        // The simulated worker: everything due leaves now.
        let sendable: Vec<OutboxItem> = sim
            .by_index::<OutboxItem>(Index::OutboxByState, &pending_prefix, false)
            .take_while(|i| i.as_ref().map_or(true, |i| i.not_before <= t))
            .collect::<Result<_, _>>()?;
        for mut item in sendable {
            let at = item.not_before.max(now);
            item.state = OutboxState::Sent;
            item.attempts = 1;
            item.updated_at = at;
            if let (Delivery::GmailSend { thread_id: None }, Some(id)) =
                (&item.delivery, &item.enrollment_id)
            {
                item.delivery = Delivery::GmailSend {
                    thread_id: Some(format!("planned-{id}")),
                };
            }
            sim.put(&item)?;
            on_outbox_sent(&sim, &item, &FakeClock::new(at))?;
        }
        let report = scheduler.tick(t)?;
        for id in &report.queued {
            if let Some(item) = sim.get::<OutboxItem>(id)?
                && let Some(e) = email_entry(&item, false)?
            {
                entries.push(e);
            }
        }
        for id in &report.tasks {
            if let Some(task) = sim.get::<Task>(id)?
                && let Some(enr_id) = &task.enrollment_id
                && let Some(enr) = sim.get::<Enrollment>(enr_id)?
            {
                let step = id
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.parse::<usize>().ok())
                    .unwrap_or(0);
                entries.push(PlanEntry {
                    at: task.due_at,
                    sequence: enr.sequence.clone(),
                    enrollment_id: enr.id.clone(),
                    lead_email: enr.lead_email.clone(),
                    step: step + 1,
                    step_name: step_info(&enr.sequence, step)?,
                    action: "task".into(),
                    mailbox: None,
                    variant: None,
                    subject: Some(task.title.clone()),
                    already_queued: false,
                    smartlead: None,
                });
            }
        }
        for job in &report.webhooks {
            if let Some(enr) = sim.get::<Enrollment>(&job.enrollment_id)? {
                entries.push(PlanEntry {
                    at: t,
                    sequence: enr.sequence.clone(),
                    enrollment_id: enr.id.clone(),
                    lead_email: enr.lead_email.clone(),
                    step: job.step + 1,
                    step_name: step_info(&enr.sequence, job.step)?,
                    action: "webhook".into(),
                    mailbox: None,
                    variant: None,
                    subject: Some(job.url.clone()),
                    already_queued: false,
                    smartlead: None,
                });
            }
            scheduler.finish_webhook(job, Ok(()), 1, t)?;
        }
    }
    entries.retain(|e| matches(query, &e.sequence, &e.lead_email));
    entries.sort_by(|a, b| {
        (a.at, &a.sequence, &a.lead_email, a.step).cmp(&(b.at, &b.sequence, &b.lead_email, b.step))
    });

    let sends: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.action == "email")
        .map(|e| e.enrollment_id.as_str())
        .collect();
    let mut stalls = Vec::new();
    for enr in sim.iter::<Enrollment>() {
        let enr = enr?;
        if sends.contains(enr.id.as_str()) || !matches(query, &enr.sequence, &enr.lead_email) {
            continue;
        }
        let reason = match (enr.state, &enr.reason) {
            (EnrollmentState::Active, _) => {
                let waiting_task = sim
                    .get::<Task>(&super::scheduler::task_id(&enr.id, enr.current_step))?
                    .filter(Task::is_open);
                match (waiting_task, enr.next_due_at) {
                    (Some(task), _) => format!(
                        "waiting for the rep's task {:?} ({}): `outpost task done|skip {}`",
                        task.title,
                        task.auto_skip_at
                            .map_or("no auto-skip".into(), |at| format!(
                                "skips itself {}",
                                at.format("%Y-%m-%d %H:%M UTC")
                            )),
                        task.id
                    ),
                    (None, Some(at)) => format!(
                        "next step due {} (after the plan's horizon)",
                        at.format("%Y-%m-%d %H:%M UTC")
                    ),
                    (None, None) => "waiting on its queued email".into(),
                }
            }
            (_, Some(reason)) => reason.clone(),
            (state, None) => state.as_str().to_string(),
        };
        stalls.push(PlanStall {
            enrollment_id: enr.id.clone(),
            sequence: enr.sequence.clone(),
            lead_email: enr.lead_email.clone(),
            state: enr.state,
            reason,
        });
    }
    Ok(Plan {
        from: now,
        until,
        entries,
        stalls,
    })
}
