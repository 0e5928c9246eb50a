//! What a sequence did: enrollment states, a per-step funnel and per-variant
//! sent / opened / clicked / replied / bounced, for `sequence list|show` and
//! the TUI's sequences pane.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::SequenceResult;
use crate::model::*;
use crate::store::{Index, Store, keys::KeyBuf};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub sent: u64,
    pub opened: u64,
    pub clicked: u64,
    pub replied: u64,
    pub bounced: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceSummary {
    pub name: String,
    pub account: String,
    pub category: SequenceCategory,
    pub status: SequenceStatus,
    pub provider: Provider,
    pub steps: usize,
    pub enrolled: u64,
    pub active: u64,
    pub paused: u64,
    pub completed: u64,
    pub stopped: u64,
    pub failed: u64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Completed enrollments over all enrollments (0 when none).
    pub completion_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantStats {
    pub label: String,
    pub weight: u32,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// 1-based, as shown to people.
    pub number: usize,
    pub name: String,
    pub kind: String,
    /// Enrollments that executed this step (any outcome).
    pub reached: u64,
    /// Enrollments for which this step ran (sent, task made, webhook
    /// delivered, branched): the funnel the TUI draws.
    pub done: u64,
    /// Active or paused enrollments sitting at this step now.
    pub waiting: u64,
    #[serde(flatten)]
    pub counts: Counts,
    pub variants: Vec<VariantStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollmentRow {
    pub id: String,
    pub lead_email: String,
    pub state: EnrollmentState,
    pub reason: Option<String>,
    pub current_step: usize,
    pub next_due_at: Option<DateTime<Utc>>,
    pub resume_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceDetail {
    #[serde(flatten)]
    pub summary: SequenceSummary,
    pub description: String,
    pub source_file: Option<String>,
    pub settings: SequenceSettings,
    pub send_via: SendVia,
    pub step_stats: Vec<StepStats>,
    pub enrollments: Vec<EnrollmentRow>,
}

/// Whether a step's execution moved the enrollment through it.
fn ran(outcome: ExecutionOutcome) -> bool {
    matches!(
        outcome,
        ExecutionOutcome::Sent
            | ExecutionOutcome::TaskCreated
            | ExecutionOutcome::WebhookDelivered
            | ExecutionOutcome::Branched
    )
}

fn bump(counts: &mut Counts, kind: EventType) {
    match kind {
        EventType::EmailOpened => counts.opened += 1,
        EventType::EmailClicked => counts.clicked += 1,
        EventType::EmailReplied => counts.replied += 1,
        EventType::EmailBounced => counts.bounced += 1,
        _ => {}
    }
}

/// An event as metrics need it: kind (base), time, Message-ID.
type EventFact = (EventType, DateTime<Utc>, Option<String>);

/// A lead's events (any account) since `from`.
fn lead_events(store: &Store, email: &str, from: DateTime<Utc>) -> SequenceResult<Vec<EventFact>> {
    let mut out = Vec::new();
    let prefix = KeyBuf::new().text(&normalize_email(email)).into_prefix();
    for lead in store.index_keys(Index::LeadsByEmail, &prefix, false) {
        let (_, lead_key) = lead?;
        let since = from - Duration::seconds(1);
        for e in store.activity_events(&lead_key, Some(since))? {
            out.push((e.kind.base(), e.at, e.message_id));
        }
    }
    Ok(out)
}

fn detail_of(store: &Store, seq: &Sequence, with_rows: bool) -> SequenceResult<SequenceDetail> {
    let prefix = KeyBuf::new().text(&seq.name).into_prefix();
    let mut summary = SequenceSummary {
        name: seq.name.clone(),
        account: seq.account.clone(),
        category: seq.category,
        status: seq.status,
        provider: seq.send_via.provider,
        steps: seq.steps.len(),
        enrolled: 0,
        active: 0,
        paused: 0,
        completed: 0,
        stopped: 0,
        failed: 0,
        counts: Counts::default(),
        completion_rate: 0.0,
    };
    let mut steps: Vec<StepStats> = seq
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepStats {
            number: i + 1,
            name: s.name.clone(),
            kind: s.kind.summary(),
            reached: 0,
            done: 0,
            waiting: 0,
            counts: Counts::default(),
            variants: match &s.kind {
                StepKind::Email { variants, .. } => variants
                    .iter()
                    .map(|v| VariantStats {
                        label: v.label.clone(),
                        weight: v.weight,
                        counts: Counts::default(),
                    })
                    .collect(),
                _ => Vec::new(),
            },
        })
        .collect();
    let mut rows = Vec::new();
    for enr in store.by_index::<Enrollment>(Index::EnrollmentsBySequence, &prefix, false) {
        let enr = enr?;
        summary.enrolled += 1;
        match enr.state {
            EnrollmentState::Active => summary.active += 1,
            EnrollmentState::Paused => summary.paused += 1,
            EnrollmentState::Completed => summary.completed += 1,
            EnrollmentState::Stopped => summary.stopped += 1,
            EnrollmentState::Failed => summary.failed += 1,
        }
        if matches!(enr.state, EnrollmentState::Active | EnrollmentState::Paused)
            && let Some(stats) = steps.get_mut(enr.current_step)
        {
            stats.waiting += 1;
        }
        // Steps that ran for this enrollment, each counted once in `done`.
        let mut ran_steps = BTreeSet::new();
        // (step, variant, sent at, Message-ID) of each email that left.
        let mut sent = Vec::new();
        for exec in store.scan_prefix::<StepExecution>(&format!("{}/", enr.id)) {
            let exec = exec?;
            let Some(stats) = steps.get_mut(exec.step) else {
                continue;
            };
            stats.reached += 1;
            if ran(exec.outcome) && ran_steps.insert(exec.step) {
                stats.done += 1;
            }
            if exec.outcome == ExecutionOutcome::Sent {
                stats.counts.sent += 1;
                summary.counts.sent += 1;
                if let Some(v) = stats
                    .variants
                    .iter_mut()
                    .find(|v| Some(&v.label) == exec.variant.as_ref())
                {
                    v.counts.sent += 1;
                }
                sent.push((
                    exec.step,
                    exec.variant.clone(),
                    exec.at,
                    exec.message_id.clone(),
                ));
            }
        }
        if !sent.is_empty() {
            sent.sort_by_key(|s| s.2);
            let mut seen: BTreeSet<(usize, EventType)> = BTreeSet::new();
            for (kind, at, message_id) in lead_events(store, &enr.lead_email, sent[0].2)? {
                let target = message_id
                    .as_ref()
                    .and_then(|m| sent.iter().find(|s| s.3.as_ref() == Some(m)))
                    .or_else(|| sent.iter().rev().find(|s| s.2 <= at));
                let Some((step, variant, _, _)) = target else {
                    continue;
                };
                if !matches!(
                    kind,
                    EventType::EmailOpened
                        | EventType::EmailClicked
                        | EventType::EmailReplied
                        | EventType::EmailBounced
                ) || !seen.insert((*step, kind))
                {
                    continue;
                }
                bump(&mut summary.counts, kind);
                if let Some(stats) = steps.get_mut(*step) {
                    bump(&mut stats.counts, kind);
                    if let Some(v) = stats
                        .variants
                        .iter_mut()
                        .find(|v| Some(&v.label) == variant.as_ref())
                    {
                        bump(&mut v.counts, kind);
                    }
                }
            }
        }
        if with_rows {
            rows.push(EnrollmentRow {
                id: enr.id,
                lead_email: enr.lead_email,
                state: enr.state,
                reason: enr.reason,
                current_step: enr.current_step,
                next_due_at: enr.next_due_at,
                resume_at: enr.resume_at,
            });
        }
    }
    if summary.enrolled > 0 {
        summary.completion_rate = summary.completed as f64 / summary.enrolled as f64;
    }
    Ok(SequenceDetail {
        summary,
        description: seq.description.clone(),
        source_file: seq.source_file.clone(),
        settings: seq.settings.clone(),
        send_via: seq.send_via.clone(),
        step_stats: steps,
        enrollments: rows,
    })
}

/// Every sequence with its totals, by name.
pub fn list(store: &Store) -> SequenceResult<Vec<SequenceSummary>> {
    let mut out = Vec::new();
    for seq in store.iter::<Sequence>() {
        out.push(detail_of(store, &seq?, false)?.summary);
    }
    Ok(out)
}

/// One sequence with its steps, funnel, variants and enrollments.
pub fn show(store: &Store, name: &str) -> SequenceResult<Option<SequenceDetail>> {
    match store.get::<Sequence>(name)? {
        Some(seq) => Ok(Some(detail_of(store, &seq, true)?)),
        None => Ok(None),
    }
}
