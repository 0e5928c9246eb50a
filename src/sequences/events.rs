//! Reacting to what happens outside the scheduler: the outbox worker's results
//! and new email events from sync, webhooks and tracking.

use chrono::{DateTime, Duration, Utc};

use super::cancel_pending;
use super::scheduler::{execution, lead_for, record_sent};
use crate::clock::Clock;
use crate::model::*;
use crate::store::{Index, Store, StoreResult, keys::KeyBuf};

/// The worker sent `item`: record the execution and threading, move the
/// enrollment to its next step (due at once). Safe to call more than once.
///
/// For Gmail, set `delivery = GmailSend { thread_id: Some(..) }` (or
/// `thread_key`) on the item first, so follow-ups land in the same thread.
pub fn on_outbox_sent(store: &Store, item: &OutboxItem, clock: &dyn Clock) -> StoreResult<()> {
    let (Some(enrollment_id), Some(step)) = (&item.enrollment_id, item.step) else {
        return Ok(());
    };
    let Some(mut enr) = store.get::<Enrollment>(enrollment_id)? else {
        return Ok(());
    };
    let key = format!("{enrollment_id}/{step:05}");
    let already = store
        .get::<StepExecution>(&key)?
        .is_some_and(|e| e.outcome == ExecutionOutcome::Sent);
    if already || step != enr.current_step {
        return Ok(());
    }
    let exec = record_sent(&mut enr, item, step, clock.now());
    store.put(&exec)?;
    store.put(&enr)?;
    Ok(())
}

/// The worker gave up on `item`: the enrollment fails with the reason.
pub fn on_outbox_failed(
    store: &Store,
    item: &OutboxItem,
    error: &str,
    clock: &dyn Clock,
) -> StoreResult<()> {
    let (Some(enrollment_id), Some(step)) = (&item.enrollment_id, item.step) else {
        return Ok(());
    };
    let Some(mut enr) = store.get::<Enrollment>(enrollment_id)? else {
        return Ok(());
    };
    if step != enr.current_step
        || matches!(
            enr.state,
            EnrollmentState::Completed | EnrollmentState::Failed
        )
    {
        return Ok(());
    }
    let now = clock.now();
    let exec = execution(&enr, step, ExecutionOutcome::Failed, now, |e| {
        e.error = Some(error.to_string());
        e.attempts = item.attempts;
    });
    enr.state = EnrollmentState::Failed;
    enr.reason = Some(format!("step {} could not be sent: {error}", step + 1));
    enr.next_due_at = None;
    enr.resume_at = None;
    enr.updated_at = now;
    store.put(&exec)?;
    store.put(&enr)?;
    Ok(())
}

/// Text in a reply that marks it as an automatic out-of-office answer.
fn looks_out_of_office(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "out of office",
        "out-of-office",
        "automatic reply",
        "auto-reply",
        "autoreply",
        "on vacation",
        "on leave",
        "away from the office",
        "ooo",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

fn category_is(detail: Option<&str>, names: &[&str]) -> bool {
    let Some(detail) = detail else { return false };
    let norm = detail.trim().to_lowercase().replace(['_', '-'], " ");
    names.iter().any(|n| norm == *n)
}

/// Applies a new event to the lead's enrollments: replies pause (or stop the
/// company), out-of-office pauses until `ooo_resume_days` later, bounces and
/// unsubscribes stop and suppress, a booked meeting stops.
pub fn react_to_event(store: &Store, event: &EmailEvent, clock: &dyn Clock) -> StoreResult<()> {
    let now = clock.now();
    let email = normalize_email(&event.lead_email);
    let detail = event.detail.as_deref();
    let day = event.at.format("%Y-%m-%d");
    match event.kind.base() {
        EventType::EmailBounced => {
            suppress(store, event, SuppressionReason::Bounced, now)?;
            for_each_open(store, &email, now, |enr, seq| {
                if seq.settings.pause_on_bounce {
                    stop(enr, format!("bounced on {day}"));
                }
            })?;
        }
        EventType::EmailUnsubscribed => {
            suppress(store, event, SuppressionReason::Unsubscribed, now)?;
            for_each_open(store, &email, now, |enr, _| {
                stop(enr, format!("unsubscribed on {day}"))
            })?;
        }
        EventType::EmailSpamReported => {
            suppress(store, event, SuppressionReason::SpamReported, now)?;
            for_each_open(store, &email, now, |enr, _| {
                stop(enr, format!("marked as spam on {day}"))
            })?;
        }
        EventType::EmailReplied => {
            let ooo = detail.is_some_and(looks_out_of_office);
            let mut company_stops = Vec::new();
            for_each_open(store, &email, now, |enr, seq| {
                if ooo {
                    pause_until(enr, seq, event.at, "out of office");
                    return;
                }
                if seq.settings.stop_company_on_reply {
                    company_stops.push(seq.name.clone());
                }
                if seq.settings.pause_on_reply {
                    enr.state = EnrollmentState::Paused;
                    enr.reason = Some(format!("replied on {day}"));
                    enr.resume_at = None;
                }
            })?;
            for sequence in company_stops {
                stop_company(store, &sequence, &email, now)?;
            }
        }
        EventType::CategoryChanged => {
            if category_is(detail, &["out of office", "ooo"]) {
                for_each_open(store, &email, now, |enr, seq| {
                    pause_until(enr, seq, event.at, "out of office")
                })?;
            } else if category_is(
                detail,
                &["meeting booked", "meeting request", "meeting scheduled"],
            ) {
                for_each_open(store, &email, now, |enr, seq| {
                    if seq.settings.pause_on_meeting_booked {
                        stop(enr, format!("meeting booked on {day}"));
                    }
                })?;
            } else if category_is(detail, &["do not contact"]) {
                suppress(store, event, SuppressionReason::Manual, now)?;
                for_each_open(store, &email, now, |enr, _| {
                    stop(enr, "marked do not contact".into())
                })?;
            }
        }
        EventType::EmailOpened | EventType::EmailClicked => {
            // A conditional waiting for this can decide now instead of at its deadline.
            for_each_open(store, &email, now, |enr, seq| {
                let waiting = matches!(
                    seq.steps.get(enr.current_step).map(|s| &s.kind),
                    Some(StepKind::Conditional { .. })
                );
                if waiting
                    && enr.state == EnrollmentState::Active
                    && enr.next_due_at.is_some_and(|d| d > now)
                {
                    enr.next_due_at = Some(now);
                }
            })?;
        }
        _ => {}
    }
    Ok(())
}

fn stop(enr: &mut Enrollment, reason: String) {
    enr.state = EnrollmentState::Stopped;
    enr.reason = Some(reason);
    enr.next_due_at = None;
    enr.resume_at = None;
}

fn pause_until(enr: &mut Enrollment, seq: &Sequence, at: DateTime<Utc>, why: &str) {
    let resume = at + Duration::days(i64::from(seq.settings.ooo_resume_days));
    enr.state = EnrollmentState::Paused;
    enr.reason = Some(format!(
        "{why}; resumes {}",
        resume.format("%Y-%m-%d %H:%M UTC")
    ));
    enr.resume_at = Some(resume);
}

fn suppress(
    store: &Store,
    event: &EmailEvent,
    reason: SuppressionReason,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let email = normalize_email(&event.lead_email);
    let key = scoped_key(&event.account, &email);
    if store.contains::<Suppression>(&key)? {
        return Ok(());
    }
    store.put(&Suppression {
        account: event.account.clone(),
        email,
        reason,
        at: now,
        note: event.detail.clone(),
    })?;
    Ok(())
}

/// Runs `change` on each active or paused enrollment of a lead; writes those it
/// changed (cancelling a queued email that has not left yet).
fn for_each_open(
    store: &Store,
    email: &str,
    now: DateTime<Utc>,
    mut change: impl FnMut(&mut Enrollment, &Sequence),
) -> StoreResult<()> {
    let prefix = KeyBuf::new().text(email).into_prefix();
    let enrollments: Vec<Enrollment> = store
        .by_index::<Enrollment>(Index::EnrollmentsByLead, &prefix, false)
        .collect::<StoreResult<_>>()?;
    for mut enr in enrollments {
        if !matches!(enr.state, EnrollmentState::Active | EnrollmentState::Paused) {
            continue;
        }
        let Some(seq) = store.get::<Sequence>(&enr.sequence)? else {
            continue;
        };
        let before = enr.clone();
        change(&mut enr, &seq);
        if enr != before {
            if enr.state != EnrollmentState::Active {
                cancel_pending(store, &enr, now)?;
            }
            enr.updated_at = now;
            store.put(&enr)?;
        }
    }
    Ok(())
}

/// Free-mail domains say nothing about a company.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "yandex.com",
];

fn company_domain(email: &str) -> Option<String> {
    let domain = email.rsplit_once('@')?.1.to_ascii_lowercase();
    (!FREE_MAIL.contains(&domain.as_str())).then_some(domain)
}

fn company_name(lead: &Lead) -> Option<String> {
    lead.company
        .as_deref()
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty())
}

/// Stops every other lead of the replier's company in `sequence`.
fn stop_company(
    store: &Store,
    sequence: &str,
    replier: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let Some(seq) = store.get::<Sequence>(sequence)? else {
        return Ok(());
    };
    let lead = lead_for(store, &seq.account, replier).map_err(|e| match e {
        super::SequenceError::Store(s) => s,
        other => crate::store::StoreError::Io {
            path: store.path().to_path_buf(),
            detail: other.to_string(),
        },
    })?;
    let (domain, name) = (company_domain(replier), company_name(&lead));
    if domain.is_none() && name.is_none() {
        return Ok(());
    }
    let label = name.clone().or(domain.clone()).unwrap_or_default();
    let prefix = KeyBuf::new().text(sequence).into_prefix();
    let colleagues: Vec<Enrollment> = store
        .by_index::<Enrollment>(Index::EnrollmentsBySequence, &prefix, false)
        .collect::<StoreResult<_>>()?;
    for mut enr in colleagues {
        let email = normalize_email(&enr.lead_email);
        if email == replier
            || !matches!(enr.state, EnrollmentState::Active | EnrollmentState::Paused)
        {
            continue;
        }
        let same_domain = domain.is_some() && company_domain(&email) == domain;
        let same_name = name.is_some() && {
            let other = lead_for(store, &seq.account, &email).ok();
            other.as_ref().and_then(company_name) == name
        };
        if same_domain || same_name {
            cancel_pending(store, &enr, now)?;
            stop(&mut enr, format!("{replier} at {label} replied"));
            enr.updated_at = now;
            store.put(&enr)?;
        }
    }
    Ok(())
}
