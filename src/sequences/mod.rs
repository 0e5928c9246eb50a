//! Sequences: multi-step outreach written as TOML, enrollments, and the
//! scheduler that turns due steps into outbox items.
//!
//! The scheduler never talks to a mail provider. An email step becomes an
//! `OutboxItem` (idempotency key `seq:{enrollment}:{step}`, Message-ID fixed at
//! creation); the outbox worker sends it and calls [`on_outbox_sent`] or
//! [`on_outbox_failed`]. Sync and webhooks call [`react_to_event`] for every
//! new event so replies pause, bounces and unsubscribes stop.
//!
//! Crash safety: the outbox item and the enrollment's move on are written in
//! one transaction, and a due enrollment still first looks its step up by
//! idempotency key (an item the worker sent but did not report, or one left by
//! an older outpost that wrote them apart), so a crash neither loses nor
//! repeats a step.

mod compose;
mod enroll;
mod events;
pub mod format;
mod ledger;
mod manage;
mod metrics;
mod plan;
pub mod rules;
mod scheduler;
mod tasks;
pub mod template;
pub mod tokens;

pub use enroll::{EnrollReport, LeadInput, Skipped, enroll_leads, read_leads_csv};
pub(crate) use events::for_each_open;
pub use events::{on_outbox_failed, on_outbox_sent, react_to_event};
pub use format::{FormatError, ParsedSequence, parse_sequence};
pub use manage::{
    ApplyReport, EnrollmentAction, apply_sequence, find_enrollment, pause_sequence,
    resume_sequence, set_enrollment_state, update_step_text,
};
pub use metrics::{SequenceDetail, SequenceSummary, StepStats, VariantStats, list, show};
pub use plan::{Plan, PlanEntry, PlanQuery, PlanStall, SmartleadStep, plan};
pub use scheduler::{
    Scheduler, SchedulerConfig, TickReport, TickTimings, WebhookJob, webhook_client,
};
pub use tasks::{add_task, close_task, end_of_day, find_task, list_tasks};
pub use tokens::{TokenClaims, TokenError, TokenKind, TrackingKey};

use crate::model::{Enrollment, OutboxItem, OutboxState};
use crate::store::{Index, Store, StoreError, StoreResult, WriteBatch, keys::KeyBuf};

#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

pub type SequenceResult<T> = Result<T, SequenceError>;

/// The idempotency key of one step of one enrollment.
pub fn idempotency_key(enrollment_id: &str, step: usize) -> String {
    format!("seq:{enrollment_id}:{step}")
}

/// The live (not cancelled) outbox item for a step, if one was ever written.
pub fn outbox_item_for(
    store: &Store,
    enrollment_id: &str,
    step: usize,
) -> StoreResult<Option<OutboxItem>> {
    let prefix = KeyBuf::new()
        .text(&idempotency_key(enrollment_id, step))
        .into_prefix();
    for item in store.by_index::<OutboxItem>(Index::OutboxByIdempotency, &prefix, false) {
        let item = item?;
        if item.state != OutboxState::Cancelled {
            return Ok(Some(item));
        }
    }
    Ok(None)
}

/// Cancels the step's outbox item if it has not left yet (pause, stop), as
/// part of `batch`: the batch lands only if the item is then still as read,
/// so a cancel never undoes the outbox worker's claim of it (nor the other
/// way round); whoever comes second reads again.
pub(crate) fn cancel_pending(
    store: &Store,
    enrollment: &Enrollment,
    now: chrono::DateTime<chrono::Utc>,
    batch: &mut WriteBatch,
) -> StoreResult<()> {
    if let Some(item) = outbox_item_for(store, &enrollment.id, enrollment.current_step)?
        && item.state == OutboxState::Pending
    {
        batch.expect_unchanged(&item)?;
        let mut cancelled = item;
        cancelled.state = OutboxState::Cancelled;
        cancelled.updated_at = now;
        batch.put(&cancelled)?;
    }
    Ok(())
}

/// A stable 64-bit seed from text (A/B picks, spintax, gaps).
pub(crate) fn seed_of(parts: &[&str]) -> u64 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}
