//! The rep's tasks: those a sequence's task step writes (which hold their
//! enrollment until closed) and those the rep adds by hand. Closing a
//! sequence task makes its enrollment due again, so the next step follows
//! on the next tick.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use super::rules::SendRules;
use super::{SequenceError, SequenceResult};
use crate::model::*;
use crate::store::{Index, Store, keys};

/// Open tasks due at or before `until`, earliest first; with `all`, every
/// task (later ones and closed ones too).
pub fn list_tasks(store: &Store, all: bool, until: DateTime<Utc>) -> SequenceResult<Vec<Task>> {
    if all {
        let mut every: Vec<Task> = store.iter::<Task>().collect::<Result<_, _>>()?;
        every.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        return Ok(every);
    }
    // The index holds open tasks only, in due order.
    let end = keys::time(until + chrono::Duration::milliseconds(1));
    let mut due = Vec::new();
    for entry in store.index_range(Index::TasksByDue, &[], &end, false) {
        let (_, id) = entry?;
        if let Some(task) = store.get::<Task>(&id)? {
            due.push(task);
        }
    }
    Ok(due)
}

/// The last instant of `at`'s day in `tz` ("due today" reaches that far).
pub fn end_of_day(at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let day = SendRules {
        tz,
        start: NaiveTime::MIN,
        end: NaiveTime::MIN,
        skip_weekends: false,
        holidays: Vec::new(),
    };
    day.next_day_start(at) - chrono::Duration::milliseconds(1)
}

/// A task the rep adds for a lead they know; due `due` (default: now).
pub fn add_task(
    store: &Store,
    lead_email: &str,
    title: &str,
    due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> SequenceResult<Task> {
    let title = title.trim();
    if title.is_empty() {
        return Err(SequenceError::Invalid("a task needs a title".into()));
    }
    let email = normalize_email(lead_email);
    let prefix = keys::KeyBuf::new().text(&email).into_prefix();
    let lead = store
        .by_index::<Lead>(Index::LeadsByEmail, &prefix, false)
        .next()
        .transpose()?
        .ok_or_else(|| {
            SequenceError::NotFound(format!(
                "no lead {email:?}; `outpost leads` lists the leads outpost knows"
            ))
        })?;
    let task = Task {
        id: uuid::Uuid::new_v4().to_string(),
        account: lead.account,
        lead_email: lead.email,
        title: title.to_string(),
        body: String::new(),
        due_at: due.unwrap_or(now),
        done_at: None,
        enrollment_id: None,
        outcome: None,
        note: None,
        step: None,
        auto_skip_at: None,
    };
    store.put(&task)?;
    Ok(task)
}

/// A task by its id or a unique prefix of it (at least 6 characters).
pub fn find_task(store: &Store, id: &str) -> SequenceResult<Task> {
    let id = id.trim();
    if let Some(found) = store.get::<Task>(id)? {
        return Ok(found);
    }
    if id.len() >= 6 {
        let matches: Vec<Task> = store
            .scan_prefix::<Task>(id)
            .take(2)
            .collect::<Result<_, _>>()?;
        match matches.as_slice() {
            [only] => return Ok(only.clone()),
            [_, _] => {
                return Err(SequenceError::Invalid(format!(
                    "{id:?} matches more than one task; give more of its id"
                )));
            }
            _ => {}
        }
    }
    Err(SequenceError::NotFound(format!(
        "no task {id:?}; `outpost tasks --all` lists them"
    )))
}

/// Marks a task done or skipped. A sequence task's enrollment, when it is
/// active and waiting at the task's step, becomes due now, in the same
/// write; a paused one moves on once resumed (the task stays closed).
pub fn close_task(
    store: &Store,
    id: &str,
    outcome: TaskOutcome,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> SequenceResult<Task> {
    let found = find_task(store, id)?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    let closed = store.modify_together::<Task, Task>(&found.id, |task, batch| {
        let Some(mut task) = task.filter(Task::is_open) else {
            return Ok(None);
        };
        task.done_at = Some(now);
        task.outcome = Some(outcome);
        task.note = note.map(String::from);
        batch.put(&task)?;
        if let (Some(enrollment_id), Some(step)) = (&task.enrollment_id, task.step)
            && let Some(enr) = store.get::<Enrollment>(enrollment_id)?
            && enr.state == EnrollmentState::Active
            && enr.current_step == step
        {
            batch.expect_unchanged(&enr)?;
            let mut enr = enr;
            enr.next_due_at = Some(now);
            enr.updated_at = now;
            batch.put(&enr)?;
        }
        Ok(Some(task))
    })?;
    if let Some(task) = closed {
        return Ok(task);
    }
    let task = store.get::<Task>(&found.id)?.unwrap_or(found);
    Err(SequenceError::Invalid(format!(
        "task {} is already {}{}",
        task.id,
        task.outcome.map_or("closed", TaskOutcome::as_str),
        task.done_at
            .map(|at| format!(" (since {})", at.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default()
    )))
}
