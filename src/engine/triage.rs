//! Done, snooze and reminders: the rep's own handling of conversations.
//! Every change is a compare-and-swap of the conversation's [`Triage`]
//! record; whether a conversation shows follows from it and the thread (see
//! [`Triage::state`]), so a new reply brings it back without any writer
//! having to remember to.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CommandError, CommandResult, Engine};
use crate::model::{Reminder, Thread, Triage, TriageState};
use crate::store::StoreResult;

/// A reminder with what a list needs to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderView {
    #[serde(flatten)]
    pub reminder: Reminder,
    /// Who the conversation is with, and its subject.
    pub name: String,
    pub subject: String,
    pub due: bool,
}

impl Engine {
    /// The conversation a key belongs to (a provider copy's key gives its
    /// primary's), or a clear error.
    pub(super) fn conversation(&self, key: &str) -> CommandResult<Thread> {
        let Some(thread) = self.store.get::<Thread>(key)? else {
            return Err(CommandError::NotFound(format!(
                "no conversation {key:?}; `outpost inbox` lists their keys"
            )));
        };
        Ok(match thread.merged_into.clone() {
            Some(primary) => self.store.get::<Thread>(&primary)?.unwrap_or(thread),
            None => thread,
        })
    }

    /// Changes one conversation's triage record by compare-and-swap.
    fn change_triage(
        &self,
        key: &str,
        change: impl Fn(&mut Triage),
    ) -> CommandResult<(Thread, Triage)> {
        let thread = self.conversation(key)?;
        let key = thread.key();
        let written =
            self.store
                .modify::<Triage, Triage>(std::slice::from_ref(&key), |_, current| {
                    let mut triage = current.unwrap_or_else(|| Triage::new(&key));
                    change(&mut triage);
                    Some((triage.clone(), triage))
                })?;
        let triage = written
            .into_iter()
            .next()
            .unwrap_or_else(|| Triage::new(&key));
        Ok((thread, triage))
    }

    /// Done with a conversation: out of the inbox until something new
    /// arrives. `false` brings it back.
    pub fn archive(&self, key: &str, archived: bool) -> CommandResult<Triage> {
        let now = self.clock.now();
        let (_, triage) = self.change_triage(key, |t| {
            t.archived_at = archived.then_some(now);
            t.snoozed_at = None;
            t.snoozed_until = None;
        })?;
        Ok(triage)
    }

    /// Hides a conversation until `until` (or a reply from the person);
    /// None takes the snooze off.
    pub fn snooze(&self, key: &str, until: Option<DateTime<Utc>>) -> CommandResult<Triage> {
        let now = self.clock.now();
        if until.is_some_and(|until| until <= now) {
            return Err(CommandError::Invalid(
                "a snooze must end in the future".into(),
            ));
        }
        let (_, triage) = self.change_triage(key, |t| {
            t.snoozed_at = until.map(|_| now);
            t.snoozed_until = until;
            t.archived_at = None;
        })?;
        Ok(triage)
    }

    /// The rep opened a conversation back from a snooze: it is an ordinary
    /// inbox conversation again. True when a snooze was cleared.
    pub fn clear_woken_snooze(&self, key: &str) -> CommandResult<bool> {
        let thread = self.conversation(key)?;
        let now = self.clock.now();
        let cleared = self
            .store
            .modify::<Triage, ()>(&[thread.key()], |_, current| {
                let mut triage = current?;
                if triage.state(thread.last_inbound_at, now) != TriageState::Woke {
                    return None;
                }
                triage.snoozed_at = None;
                triage.snoozed_until = None;
                Some((triage, ()))
            })?;
        Ok(!cleared.is_empty())
    }

    /// Every conversation's triage record, by conversation key: a small
    /// tree, read whole once per inbox query.
    pub(crate) fn triage_map(&self) -> StoreResult<HashMap<String, Triage>> {
        self.store
            .iter::<Triage>()
            .map(|t| t.map(|t| (t.conversation.clone(), t)))
            .collect()
    }

    /// "Come back to this conversation at `at`".
    pub fn remind(
        &self,
        key: &str,
        at: DateTime<Utc>,
        note: Option<String>,
    ) -> CommandResult<Reminder> {
        let thread = self.conversation(key)?;
        let now = self.clock.now();
        if at <= now {
            return Err(CommandError::Invalid(
                "a reminder must be in the future".into(),
            ));
        }
        let reminder = Reminder {
            id: format!("rem-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            conversation: thread.key(),
            at,
            note: note.filter(|n| !n.trim().is_empty()),
            created_at: now,
            fired_at: None,
            done: false,
        };
        self.store.put(&reminder)?;
        Ok(reminder)
    }

    /// Reminders not dismissed (or all), soonest first.
    pub fn reminders(&self, all: bool) -> CommandResult<Vec<ReminderView>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for reminder in self.store.iter::<Reminder>() {
            let reminder = reminder?;
            if reminder.done && !all {
                continue;
            }
            let thread = self.store.get::<Thread>(&reminder.conversation)?;
            out.push(ReminderView {
                due: reminder.is_due(now),
                name: thread
                    .as_ref()
                    .map(|t| t.person().to_string())
                    .unwrap_or_default(),
                subject: thread.map(|t| t.subject).unwrap_or_default(),
                reminder,
            });
        }
        out.sort_by(|a, b| (a.reminder.at, &a.reminder.id).cmp(&(b.reminder.at, &b.reminder.id)));
        Ok(out)
    }

    /// Dismisses a reminder (by id, or a unique prefix of it).
    pub fn reminder_done(&self, id: &str) -> CommandResult<Reminder> {
        let matches: Vec<Reminder> = self
            .store
            .iter::<Reminder>()
            .filter_map(|r| r.ok())
            .filter(|r| r.id.starts_with(id))
            .collect();
        let found = match matches.as_slice() {
            [one] => one.id.clone(),
            [] => {
                return Err(CommandError::NotFound(format!(
                    "no reminder {id:?}; `outpost reminders` lists them"
                )));
            }
            _ => {
                return Err(CommandError::Invalid(format!(
                    "{id:?} matches several reminders"
                )));
            }
        };
        let done = self.store.modify::<Reminder, Reminder>(
            std::slice::from_ref(&found),
            |_, current| {
                let mut reminder = current?;
                reminder.done = true;
                Some((reminder.clone(), reminder))
            },
        )?;
        done.into_iter()
            .next()
            .ok_or_else(|| CommandError::NotFound(format!("reminder {found} is gone")))
    }

    /// Marks every due reminder not yet announced as announced, and returns
    /// them: each is announced once, whichever process gets there first.
    pub fn take_due_reminders(&self) -> StoreResult<Vec<ReminderView>> {
        let now = self.clock.now();
        let due: Vec<String> = self
            .store
            .iter::<Reminder>()
            .filter_map(|r| r.ok())
            .filter(|r| r.is_due(now) && r.fired_at.is_none())
            .map(|r| r.id)
            .collect();
        let fired = self
            .store
            .modify::<Reminder, Reminder>(&due, |_, current| {
                let mut reminder = current.filter(|r| r.fired_at.is_none())?;
                reminder.fired_at = Some(now);
                Some((reminder.clone(), reminder))
            })?;
        let mut out = Vec::new();
        for reminder in fired {
            let thread = self.store.get::<Thread>(&reminder.conversation)?;
            out.push(ReminderView {
                due: true,
                name: thread
                    .as_ref()
                    .map(|t| t.person().to_string())
                    .unwrap_or_default(),
                subject: thread.map(|t| t.subject).unwrap_or_default(),
                reminder,
            });
        }
        Ok(out)
    }
}
