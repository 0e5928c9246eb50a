//! What happens when a snooze or a reminder comes due: nothing is written
//! (the inbox reads the time itself), so something must say so to whoever
//! shows the inbox. Runs beside the TUI and in the daemon.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::NotifyHook;
use crate::engine::{Engine, ReminderView};
use crate::model::{Thread, Triage, TriageState};
use crate::store::{Change, Kind, Op, StoreResult};

/// How often due snoozes and reminders are looked for.
const TICK: Duration = Duration::from_secs(15);

/// Announces due snoozes and reminders until shut down; reminders also go
/// to the notify hook, so a rep with the TUI closed still hears of them.
pub async fn run(engine: Engine, hook: NotifyHook, shutdown: CancellationToken) {
    let mut since = engine.clock().now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        match tick(&engine, since) {
            Ok(looked) => {
                since = looked.at;
                crate::notify::deliver_reminders(&hook, &looked.reminders).await;
            }
            Err(e) => tracing::warn!(error = %e, "could not check snoozes and reminders"),
        }
    }
}

/// What one look found.
#[derive(Debug)]
pub struct Tick {
    /// The time looked at; the next look starts from it.
    pub at: DateTime<Utc>,
    /// The reminders that came due, each claimed by this look alone.
    pub reminders: Vec<ReminderView>,
}

/// One look: conversations whose snooze ended after `since` are announced
/// as changed (the inbox lists them again, first), and every due reminder
/// not yet announced is, once.
pub fn tick(engine: &Engine, since: DateTime<Utc>) -> StoreResult<Tick> {
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
    let reminders = engine.take_due_reminders()?;
    for due in &reminders {
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
    Ok(Tick { at: now, reminders })
}
