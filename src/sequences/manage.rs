//! Changing sequences and enrollments: apply a file, pause and resume, edit a
//! step's text, pause/resume/stop one enrollment.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::enroll::known_custom_fields;
use super::format::{FormatError, TemplateSite, parse_sequence};
use super::template::{Template, unknown_variables};
use super::{SequenceError, SequenceResult, cancel_pending};
use crate::config::SendingConfig;
use crate::model::*;
use crate::store::{Index, Store, keys::KeyBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub sequence: Sequence,
    /// False when a sequence of that name was replaced.
    pub created: bool,
}

fn unknown_variable_error(file: &str, site: &TemplateSite, name: &str, line: u32) -> FormatError {
    FormatError {
        file: file.to_string(),
        line: site.line + line,
        column: 1,
        message: format!(
            "unknown variable {{{{{name}}}}} in the {} of step {}: it is neither a standard lead field ({}) nor a custom field known in the cache; fix the name, declare it in custom_fields = [..], or give it a default",
            site.field,
            site.step + 1,
            crate::model::Lead::STANDARD_FIELDS.join(", ")
        ),
    }
}

/// Parses, validates and stores a sequence file. Unknown variables are refused
/// (naming the variable, file and line) before anything is stored.
pub fn apply_sequence(
    store: &Store,
    file: &str,
    text: &str,
    defaults: &SendingConfig,
    now: DateTime<Utc>,
) -> SequenceResult<ApplyReport> {
    let parsed = parse_sequence(file, text, defaults, now)?;
    let mut custom = known_custom_fields(store)?;
    custom.extend(parsed.declared_fields.iter().cloned());
    for site in &parsed.templates {
        if let Some(bad) = unknown_variables(&site.template, &custom).first() {
            return Err(unknown_variable_error(file, site, &bad.name, bad.line).into());
        }
    }
    let status_given = parsed.status_given;
    let mut sequence = parsed.sequence;
    let existing = store.get::<Sequence>(&sequence.name)?;
    if let Some(old) = &existing {
        sequence.created_at = old.created_at;
        if !status_given {
            sequence.status = old.status;
        }
    }
    store.put(&sequence)?;
    Ok(ApplyReport {
        created: existing.is_none(),
        sequence,
    })
}

fn get_sequence(store: &Store, name: &str) -> SequenceResult<Sequence> {
    store.get::<Sequence>(name)?.ok_or_else(|| {
        SequenceError::NotFound(format!(
            "no sequence named {name:?}; `outpost sequence list` shows them"
        ))
    })
}

fn sequence_enrollment_ids(store: &Store, name: &str) -> SequenceResult<Vec<String>> {
    let prefix = KeyBuf::new().text(name).into_prefix();
    Ok(store
        .index_keys(Index::EnrollmentsBySequence, &prefix, false)
        .map(|entry| entry.map(|(_, id)| id))
        .collect::<Result<_, _>>()?)
}

/// Pauses a sequence: nothing new is queued and emails not yet sent are
/// cancelled (they are queued again on resume).
pub fn pause_sequence(store: &Store, name: &str, now: DateTime<Utc>) -> SequenceResult<Sequence> {
    let mut seq = get_sequence(store, name)?;
    seq.status = SequenceStatus::Paused;
    seq.updated_at = now;
    store.put(&seq)?;
    for id in sequence_enrollment_ids(store, name)? {
        store.modify_together::<Enrollment, ()>(&id, |enr, batch| {
            let Some(mut enr) = enr.filter(|e| e.state == EnrollmentState::Active) else {
                return Ok(None);
            };
            let queued = super::outbox_item_for(store, &enr.id, enr.current_step)?
                .is_some_and(|item| item.state == OutboxState::Pending);
            if !queued {
                return Ok(None);
            }
            cancel_pending(store, &enr, now, batch)?;
            enr.next_due_at = Some(now);
            enr.updated_at = now;
            batch.put(&enr)?;
            Ok(Some(()))
        })?;
    }
    Ok(seq)
}

/// Resumes a sequence; its enrollments are looked at on the next tick.
pub fn resume_sequence(store: &Store, name: &str, now: DateTime<Utc>) -> SequenceResult<Sequence> {
    let mut seq = get_sequence(store, name)?;
    seq.status = SequenceStatus::Active;
    seq.updated_at = now;
    store.put(&seq)?;
    for id in sequence_enrollment_ids(store, name)? {
        store.modify_together::<Enrollment, ()>(&id, |enr, batch| {
            // Those parked while the sequence was paused are due within
            // minutes; bring them back now.
            let Some(mut enr) = enr.filter(|e| {
                e.state == EnrollmentState::Active
                    && e.next_due_at
                        .is_some_and(|d| d > now && d <= now + chrono::Duration::minutes(15))
            }) else {
                return Ok(None);
            };
            if super::outbox_item_for(store, &enr.id, enr.current_step)?.is_some() {
                return Ok(None);
            }
            enr.next_due_at = Some(now);
            batch.put(&enr)?;
            Ok(Some(()))
        })?;
    }
    Ok(seq)
}

/// Replaces one step's subject and/or body (the TUI composer edits them). The
/// new text is checked like `apply` checks a file.
pub fn update_step_text(
    store: &Store,
    name: &str,
    step: usize,
    variant: Option<&str>,
    subject: Option<&str>,
    body: Option<&str>,
    now: DateTime<Utc>,
) -> SequenceResult<Sequence> {
    let mut seq = get_sequence(store, name)?;
    let custom: BTreeSet<String> = known_custom_fields(store)?;
    let check = |field: &str, text: &str| -> SequenceResult<()> {
        let template = Template::parse(text).map_err(|e| {
            SequenceError::Invalid(format!("{field}, line {}: {}", e.line + 1, e.message))
        })?;
        if let Some(bad) = unknown_variables(&template, &custom).first() {
            return Err(SequenceError::Invalid(format!(
                "{field}, line {}: unknown variable {{{{{}}}}}: neither a standard lead field nor a custom field known in the cache",
                bad.line + 1,
                bad.name
            )));
        }
        Ok(())
    };
    let total = seq.steps.len();
    let target = seq.steps.get_mut(step).ok_or_else(|| {
        SequenceError::NotFound(format!(
            "sequence {name:?} has steps 1 to {total}, not {}",
            step + 1
        ))
    })?;
    match &mut target.kind {
        StepKind::Email { variants, .. } => {
            let found = match variant {
                Some(label) => variants.iter_mut().find(|v| v.label == label),
                None => variants.first_mut(),
            };
            let v = found.ok_or_else(|| {
                SequenceError::NotFound(format!("step {} has no variant {variant:?}", step + 1))
            })?;
            if let Some(s) = subject {
                check("subject", s)?;
                v.subject = s.to_string();
            }
            if let Some(b) = body {
                check("body", b)?;
                v.body = b.to_string();
            }
        }
        StepKind::Task {
            title,
            body: task_body,
            ..
        } => {
            if let Some(s) = subject {
                check("title", s)?;
                *title = s.to_string();
            }
            if let Some(b) = body {
                check("body", b)?;
                *task_body = b.to_string();
            }
        }
        _ => {
            return Err(SequenceError::Invalid(format!(
                "step {} has no text to edit (only email and task steps do)",
                step + 1
            )));
        }
    }
    seq.updated_at = now;
    store.put(&seq)?;
    Ok(seq)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentAction {
    Pause,
    Resume,
    Stop,
}

/// An enrollment by its id or a unique prefix of it (at least 6 characters).
pub fn find_enrollment(store: &Store, id: &str) -> SequenceResult<Enrollment> {
    if let Some(found) = store.get::<Enrollment>(id)? {
        return Ok(found);
    }
    if id.len() >= 6 {
        let matches: Vec<Enrollment> = store
            .scan_prefix::<Enrollment>(id)
            .take(2)
            .collect::<Result<_, _>>()?;
        if let [only] = matches.as_slice() {
            return Ok(only.clone());
        }
    }
    Err(SequenceError::NotFound(format!(
        "no enrollment {id:?}; `outpost lead EMAIL` lists a lead's enrollments"
    )))
}

/// Pauses, resumes or stops one enrollment.
pub fn set_enrollment_state(
    store: &Store,
    id: &str,
    action: EnrollmentAction,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> SequenceResult<Enrollment> {
    let found = find_enrollment(store, id)?;
    let open =
        |e: &Enrollment| matches!(e.state, EnrollmentState::Active | EnrollmentState::Paused);
    // Decided on the record as it is when written (a reply may stop it
    // between the lookup above and the write).
    let changed = store.modify_together::<Enrollment, Enrollment>(&found.id, |enr, batch| {
        let Some(mut enr) = enr.filter(open) else {
            return Ok(None);
        };
        match action {
            EnrollmentAction::Pause => {
                cancel_pending(store, &enr, now, batch)?;
                enr.state = EnrollmentState::Paused;
                enr.reason = Some(reason.unwrap_or("paused by hand").to_string());
                enr.resume_at = None;
            }
            EnrollmentAction::Resume => {
                enr.state = EnrollmentState::Active;
                enr.reason = None;
                enr.resume_at = None;
                // Pausing cancelled any queued email, so the step is looked at again now.
                enr.next_due_at = Some(now);
            }
            EnrollmentAction::Stop => {
                cancel_pending(store, &enr, now, batch)?;
                enr.state = EnrollmentState::Stopped;
                enr.reason = Some(reason.unwrap_or("stopped by hand").to_string());
                enr.next_due_at = None;
                enr.resume_at = None;
            }
        }
        enr.updated_at = now;
        batch.put(&enr)?;
        Ok(Some(enr))
    })?;
    if let Some(enr) = changed {
        return Ok(enr);
    }
    let closed = store.get::<Enrollment>(&found.id)?.unwrap_or(found);
    Err(SequenceError::Invalid(format!(
        "enrollment {} is {} ({}); only active or paused ones can change",
        closed.id,
        closed.state.as_str(),
        closed.reason.as_deref().unwrap_or("no reason recorded")
    )))
}
