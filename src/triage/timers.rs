//! What happens when a snooze or a reminder comes due: nothing is written
//! (the inbox reads the time itself), so something must say so to whoever
//! shows the inbox. Runs beside the TUI and in the daemon.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::model::{Thread, Triage, TriageState};
use crate::store::{Change, Kind, Op, StoreResult};

/// How often due snoozes and reminders are looked for.
const TICK: Duration = Duration::from_secs(15);

/// Announces due snoozes and reminders until shut down.
pub async fn run(engine: Engine, shutdown: CancellationToken) {
    let mut since = engine.clock().now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        match tick(&engine, since) {
            Ok(now) => since = now,
            Err(e) => tracing::warn!(error = %e, "could not check snoozes and reminders"),
        }
    }
}

/// One look: conversations whose snooze ended after `since` are announced
/// as changed (the inbox lists them again, first), and every due reminder
/// not yet announced is, once. Returns the time looked at.
pub fn tick(engine: &Engine, since: DateTime<Utc>) -> StoreResult<DateTime<Utc>> {
    let store = engine.store();
    let now = engine.clock().now();
    for triage in store.iter::<Triage>() {
        let triage = triage?;
        let Some(until) = triage.snoozed_until else {
            continue;
        };
        if until <= since || until > now {
            continue;
        }
        let Some(thread) = store.get::<Thread>(&triage.conversation)? else {
            continue;
        };
        if triage.state(thread.last_inbound_at, now) == TriageState::Woke {
            store.publish(Change::Record {
                kind: Kind::Triage,
                key: triage.conversation.clone(),
                op: Op::Put,
            });
            store.publish(Change::Notice {
                level: "info".into(),
                text: format!("Back from snooze: {} — {}", thread.person(), thread.subject),
            });
        }
    }
    for due in engine.take_due_reminders()? {
        let note = due
            .reminder
            .note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default();
        store.publish(Change::Notice {
            level: "info".into(),
            text: format!("Reminder — {} · {}{note}", due.name, due.subject),
        });
        tracing::info!(id = %due.reminder.id, conversation = %due.reminder.conversation, "reminder due");
    }
    Ok(now)
}
