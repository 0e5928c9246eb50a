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
///
/// The enrollment is changed as it is when written, never as it was read
/// earlier: a reply that paused it meanwhile stays paused (the step is still
/// recorded as sent, since it was).
pub fn on_outbox_sent(store: &Store, item: &OutboxItem, clock: &dyn Clock) -> StoreResult<()> {
    let (Some(enrollment_id), Some(step)) = (&item.enrollment_id, item.step) else {
        return Ok(());
    };
    let now = clock.now();
    let execution_key = format!("{enrollment_id}/{step:05}");
    store.modify_together::<Enrollment, ()>(enrollment_id, |enr, batch| {
        // An earlier report of this send moved it on already.
        let Some(mut enr) = enr.filter(|e| e.current_step == step) else {
            return Ok(None);
        };
        // An execution without the enrollment's move (written apart by an
        // older outpost, cut off by a crash) is kept; the move still happens.
        let already = store
            .get::<StepExecution>(&execution_key)?
            .is_some_and(|e| e.outcome == ExecutionOutcome::Sent);
        let exec = record_sent(&mut enr, item, step, now);
        if !already {
            batch.put(&exec)?;
        }
        batch.put(&enr)?;
        Ok(Some(()))
    })?;
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
    let now = clock.now();
    store.modify_together::<Enrollment, ()>(enrollment_id, |enr, batch| {
        let Some(mut enr) = enr.filter(|e| {
            e.current_step == step
                && !matches!(
                    e.state,
                    EnrollmentState::Completed | EnrollmentState::Failed
                )
        }) else {
            return Ok(None);
        };
        let exec = execution(&enr, step, ExecutionOutcome::Failed, now, |e| {
            e.error = Some(error.to_string());
            e.attempts = item.attempts;
        });
        enr.state = EnrollmentState::Failed;
        enr.reason = Some(format!("step {} could not be sent: {error}", step + 1));
        enr.next_due_at = None;
        enr.resume_at = None;
        enr.updated_at = now;
        batch.put(&exec)?;
        batch.put(&enr)?;
        Ok(Some(()))
    })?;
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
    ]
    .iter()
    .any(|p| lower.contains(p))
        // "OOO" only as a word of its own, never inside one ("cooperation").
        || lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| word == "ooo")
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
        // A soft bounce stays on the timeline; the provider retries it.
        EventType::EmailBounced if BounceClass::of(detail) == BounceClass::Soft => {}
        EventType::EmailBounced => {
            suppress(store, event, SuppressionReason::Bounced, now)?;
            for_each_open(store, &email, now, |enr, seq| {
                if seq.settings.pause_on_bounce {
                    let why = detail.unwrap_or("hard bounce");
                    stop(enr, format!("bounced on {day} ({why})"));
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
            let company_stops = for_each_open(store, &email, now, |enr, seq| {
                if ooo {
                    pause_until(enr, seq, event.at, "out of office");
                    return None;
                }
                if seq.settings.pause_on_reply {
                    enr.state = EnrollmentState::Paused;
                    enr.reason = Some(format!("replied on {day}"));
                    enr.resume_at = None;
                } else {
                    wake_conditional(enr, seq, now);
                }
                seq.settings.stop_company_on_reply.then(|| seq.name.clone())
            })?;
            for sequence in company_stops.into_iter().flatten() {
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
            for_each_open(store, &email, now, |enr, seq| {
                wake_conditional(enr, seq, now)
            })?;
        }
        _ => {}
    }
    Ok(())
}

/// A conditional waiting for an open, click or reply decides now instead of
/// at its deadline.
fn wake_conditional(enr: &mut Enrollment, seq: &Sequence, now: DateTime<Utc>) {
    let waiting = matches!(
        seq.steps.get(enr.current_step).map(|s| &s.kind),
        Some(StepKind::Conditional { .. })
    );
    if waiting && enr.state == EnrollmentState::Active && enr.next_due_at.is_some_and(|d| d > now) {
        enr.next_due_at = Some(now);
    }
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
    // The first reason recorded stands: inserted only when absent, in one step.
    store.insert_new(&[Suppression {
        account: event.account.clone(),
        email,
        reason,
        at: now,
        note: event.detail.clone(),
    }])?;
    Ok(())
}

/// Runs `change` on each active or paused enrollment of a lead and writes
/// those it changed (cancelling a queued email that has not left yet, in the
/// same transaction). Each enrollment is changed as a compare-and-swap, so
/// `change` may run more than once on one (on a fresh read each time) and
/// must depend on nothing else. Returns what `change` returned for each open
/// enrollment, on its last run.
pub(crate) fn for_each_open<T>(
    store: &Store,
    email: &str,
    now: DateTime<Utc>,
    change: impl Fn(&mut Enrollment, &Sequence) -> T,
) -> StoreResult<Vec<T>> {
    let prefix = KeyBuf::new().text(email).into_prefix();
    let ids: Vec<String> = store
        .index_keys(Index::EnrollmentsByLead, &prefix, false)
        .map(|entry| entry.map(|(_, id)| id))
        .collect::<StoreResult<_>>()?;
    let mut results = Vec::new();
    for id in ids {
        let last_run = std::cell::Cell::new(None);
        store.modify_together::<Enrollment, ()>(&id, |enr, batch| {
            last_run.set(None);
            let Some(mut enr) = enr
                .filter(|e| matches!(e.state, EnrollmentState::Active | EnrollmentState::Paused))
            else {
                return Ok(None);
            };
            let Some(seq) = store.get::<Sequence>(&enr.sequence)? else {
                return Ok(None);
            };
            let before = enr.clone();
            last_run.set(Some(change(&mut enr, &seq)));
            if enr == before {
                return Ok(None);
            }
            if enr.state != EnrollmentState::Active {
                cancel_pending(store, &enr, now, batch)?;
            }
            enr.updated_at = now;
            batch.put(&enr)?;
            Ok(Some(()))
        })?;
        results.extend(last_run.into_inner());
    }
    Ok(results)
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
    let colleagues: Vec<String> = store
        .index_keys(Index::EnrollmentsBySequence, &prefix, false)
        .map(|entry| entry.map(|(_, id)| id))
        .collect::<StoreResult<_>>()?;
    let same_company = |email: &str| {
        let same_domain = domain.is_some() && company_domain(email) == domain;
        same_domain
            || name.is_some() && {
                let other = lead_for(store, &seq.account, email).ok();
                other.as_ref().and_then(company_name) == name
            }
    };
    for id in colleagues {
        store.modify_together::<Enrollment, ()>(&id, |enr, batch| {
            let Some(mut enr) = enr.filter(|e| {
                matches!(e.state, EnrollmentState::Active | EnrollmentState::Paused)
                    && normalize_email(&e.lead_email) != replier
                    && same_company(&normalize_email(&e.lead_email))
            }) else {
                return Ok(None);
            };
            cancel_pending(store, &enr, now, batch)?;
            stop(&mut enr, format!("{replier} at {label} replied"));
            enr.updated_at = now;
            batch.put(&enr)?;
            Ok(Some(()))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::looks_out_of_office;

    #[test]
    fn ooo_counts_only_as_a_word() {
        assert!(looks_out_of_office("OOO until Monday"));
        assert!(looks_out_of_office("Re: [OOO] quick question"));
        assert!(!looks_out_of_office("Looking forward to our cooperation"));
    }
}
