//! One operation on many conversations (or leads) at once, undone in one
//! step. Every per-key write is the same compare-and-swap the single-key
//! command makes; the change is then kept as a [`BulkChange`] holding, per
//! key, the state before and the state it left, so an undo restores a key
//! only when it is still what the change left (anything that touched it
//! since wins, and the undo says which it skipped).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::triage::{archive_change, snooze_change};
use super::{CommandError, CommandResult, Engine, InboxQuery};
use crate::model::*;
use crate::sequences::EnrollmentAction;
use crate::store::Change;

/// Which keys a bulk change applies to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum BulkTarget {
    /// Conversation keys as `inbox` prints them; for enroll and pause, a
    /// lead's email (or `account/email`) too.
    Keys { keys: Vec<String> },
    /// Every conversation an inbox query matches (its page aside).
    Query { query: InboxQuery },
}

/// A key the change (or its undo) left alone, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkSkip {
    pub key: String,
    pub reason: String,
}

/// What a bulk change did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkReport {
    /// The undo id (`outpost undo ID`); none when nothing changed.
    pub id: Option<String>,
    pub op: BulkOp,
    /// Keys changed (the conversation key, or the lead email).
    pub changed: Vec<String>,
    /// Keys already as asked.
    pub unchanged: Vec<String>,
    /// Keys the change could not be made to.
    pub failed: Vec<BulkSkip>,
}

/// What an undo restored and what it left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoReport {
    pub id: String,
    pub op: BulkOp,
    pub restored: Vec<String>,
    pub skipped: Vec<BulkSkip>,
}

/// How many bulk changes are kept for undo; older ones are dropped.
const KEPT_CHANGES: usize = 100;

/// From how many keys a bulk change says how far it is as it goes.
const LONG_CHANGE: usize = 20;

/// How many times a long change says how far it is.
const PROGRESS_NOTES: usize = 20;

/// What one key's change did.
enum Outcome {
    Changed(BulkEffect),
    Unchanged,
    Failed(String),
}

/// A key resolved before anything is written.
struct Target {
    /// The key as the report names it.
    key: String,
    thread: Option<Thread>,
    lead_email: Option<String>,
    /// The category a category change sets on this key.
    category: Option<Category>,
}

impl Engine {
    /// Applies `op` to every key of `target`. Unknown keys, an unknown
    /// category or sequence refuse the whole change before anything is written.
    pub async fn bulk(&self, op: &BulkOp, target: &BulkTarget) -> CommandResult<BulkReport> {
        let targets = self.bulk_targets(op, target)?;
        let now = self.clock.now();
        let mut report = BulkReport {
            id: None,
            op: op.clone(),
            changed: Vec::new(),
            unchanged: Vec::new(),
            failed: Vec::new(),
        };
        let mut entries = Vec::new();
        let total = targets.len();
        let step = (total / PROGRESS_NOTES).max(1);
        for (done, target) in targets.into_iter().enumerate() {
            // On the feed every UI listens to, so a TUI's message line
            // runs ("Archiving 120/500…") while the job works; the report
            // says the rest when it ends.
            if total >= LONG_CHANGE && done > 0 && done % step == 0 {
                self.store.publish(Change::Notice {
                    level: "info".into(),
                    text: format!("{} {done}/{total}…", op.doing()),
                });
            }
            match self.apply_one(op, &target).await? {
                Outcome::Changed(effect) => {
                    report.changed.push(target.key.clone());
                    entries.push(BulkEntry {
                        key: target.key,
                        effect,
                    });
                }
                Outcome::Unchanged => report.unchanged.push(target.key),
                Outcome::Failed(reason) => report.failed.push(BulkSkip {
                    key: target.key,
                    reason,
                }),
            }
        }
        if !entries.is_empty() {
            let latest = self
                .store
                .iter::<BulkChange>()
                .filter_map(|c| c.ok())
                .map(|c| c.seq)
                .max()
                .unwrap_or(0);
            let change = BulkChange {
                id: format!("bulk-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
                seq: latest + 1,
                op: op.clone(),
                at: now,
                entries,
                undone_at: None,
            };
            self.store.put(&change)?;
            report.id = Some(change.id);
            self.forget_old_bulk_changes()?;
        }
        Ok(report)
    }

    /// Resolves every key (or the query's matches) before anything changes.
    fn bulk_targets(&self, op: &BulkOp, target: &BulkTarget) -> CommandResult<Vec<Target>> {
        let asked: Vec<String> = match target {
            BulkTarget::Keys { keys } => keys.clone(),
            BulkTarget::Query { query } => {
                let all = InboxQuery {
                    offset: 0,
                    limit: None,
                    ..query.clone()
                };
                self.inbox(&all)?.into_iter().map(|v| v.key).collect()
            }
        };
        if asked.is_empty() {
            return Err(CommandError::Invalid(
                "no conversations to change: give keys, or a search that matches some".into(),
            ));
        }
        let for_leads = matches!(op, BulkOp::Enroll { .. } | BulkOp::Pause);
        // A tag goes on a conversation or on a person, as `outpost tag` has it.
        let tags = matches!(op, BulkOp::Tag { .. });
        if let BulkOp::Enroll { sequence } = op
            && self.store.get::<Sequence>(sequence)?.is_none()
        {
            return Err(CommandError::NotFound(format!(
                "no sequence {sequence:?}; `outpost sequence list` lists them"
            )));
        }
        let mut seen = HashSet::new();
        let mut unknown = Vec::new();
        let mut targets = Vec::new();
        for key in asked {
            let thread = match self.conversation(&key) {
                Ok(thread) => Some(thread),
                Err(CommandError::NotFound(_)) if for_leads && key.contains('@') => None,
                Err(CommandError::NotFound(_)) if tags => match self.tag_target(&key) {
                    Ok(person) => {
                        let email = person.key;
                        if seen.insert(email.clone()) {
                            targets.push(Target {
                                key: email.clone(),
                                thread: None,
                                lead_email: Some(email),
                                category: None,
                            });
                        }
                        continue;
                    }
                    Err(CommandError::NotFound(_)) => {
                        unknown.push(key);
                        continue;
                    }
                    Err(other) => return Err(other),
                },
                Err(CommandError::NotFound(_)) => {
                    unknown.push(key);
                    continue;
                }
                Err(other) => return Err(other),
            };
            let (key, lead_email) = match &thread {
                Some(thread) => (thread.key(), thread.lead_email.clone()),
                // `account/email` or the email alone.
                None => {
                    let email = key.rsplit('/').next().unwrap_or(&key);
                    let email = normalize_email(email);
                    (email.clone(), Some(email))
                }
            };
            if !seen.insert(key.clone()) {
                continue;
            }
            targets.push(Target {
                key,
                thread,
                lead_email,
                category: None,
            });
        }
        if !unknown.is_empty() {
            let (what, lists) = if tags {
                (
                    "conversation or lead",
                    "`outpost inbox` lists conversation keys and `outpost leads` leads' emails",
                )
            } else {
                ("conversation", "`outpost inbox` lists their keys")
            };
            return Err(CommandError::NotFound(format!(
                "no {what} {}; {lists} (nothing was changed)",
                unknown
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let BulkOp::Category { name } = op {
            for target in &mut targets {
                let account = target.thread.as_ref().map(|t| t.account.clone());
                let offered = self.categories(account.as_deref().unwrap_or_default())?;
                let Some(category) = offered
                    .into_iter()
                    .find(|c| c.name.eq_ignore_ascii_case(name.trim()))
                else {
                    return Err(CommandError::Invalid(format!(
                        "account {} has no category {name:?} (nothing was changed)",
                        account.unwrap_or_default()
                    )));
                };
                target.category = Some(category);
            }
        }
        Ok(targets)
    }

    /// One key's change, as the single-key command makes it.
    async fn apply_one(&self, op: &BulkOp, target: &Target) -> CommandResult<Outcome> {
        let now = self.clock.now();
        Ok(match op {
            BulkOp::Archive => self.triage_one(target, archive_change(true, now))?,
            BulkOp::Unarchive => self.triage_one(target, archive_change(false, now))?,
            BulkOp::Snooze { until } => {
                self.triage_one(target, snooze_change(Some(*until), now)?)?
            }
            BulkOp::Unsnooze => self.triage_one(target, snooze_change(None, now)?)?,
            BulkOp::Read | BulkOp::Unread => {
                let read = *op == BulkOp::Read;
                let messages = self.set_conversation_read(&target.key, read)?;
                if messages.is_empty() {
                    Outcome::Unchanged
                } else {
                    Outcome::Changed(BulkEffect::Read { read, messages })
                }
            }
            BulkOp::Category { .. } => {
                let (Some(thread), Some(after)) = (&target.thread, &target.category) else {
                    return Ok(Outcome::Failed("not a conversation".into()));
                };
                let before = thread.category.clone();
                if before.as_ref().is_some_and(|c| c.id == after.id) {
                    return Ok(Outcome::Unchanged);
                }
                match self.set_thread_category(&target.key, after.clone()).await {
                    Ok(()) => Outcome::Changed(BulkEffect::Category {
                        before,
                        after: after.clone(),
                    }),
                    Err(CommandError::Store(e)) => return Err(e.into()),
                    Err(refused) => Outcome::Failed(refused.to_string()),
                }
            }
            BulkOp::Enroll { sequence } => {
                let Some(email) = &target.lead_email else {
                    return Ok(Outcome::Failed("the conversation has no lead".into()));
                };
                match self.enroll_lead(sequence, email, false) {
                    Ok(enrollment) => Outcome::Changed(BulkEffect::Enrolled {
                        enrollment: enrollment.id,
                    }),
                    Err(CommandError::Store(e)) => return Err(e.into()),
                    Err(refused) => Outcome::Failed(refused.to_string()),
                }
            }
            BulkOp::Tag { add, remove } => {
                let (before, after) = self.retag(&target.key, add, remove)?;
                if before == after.tags {
                    Outcome::Unchanged
                } else {
                    Outcome::Changed(BulkEffect::Tags {
                        record: after.key(),
                        before,
                        after: after.tags,
                    })
                }
            }
            BulkOp::Pause => {
                let Some(email) = &target.lead_email else {
                    return Ok(Outcome::Failed("the conversation has no lead".into()));
                };
                let enrollments = self.pause_lead_enrollments(email)?;
                if enrollments.is_empty() {
                    Outcome::Unchanged
                } else {
                    Outcome::Changed(BulkEffect::Paused { enrollments })
                }
            }
        })
    }

    /// A triage change by compare-and-swap, keeping the record before it.
    fn triage_one(&self, target: &Target, change: impl Fn(&mut Triage)) -> CommandResult<Outcome> {
        let key = target.key.clone();
        let written = self.store.modify::<Triage, (Option<Triage>, Triage)>(
            std::slice::from_ref(&key),
            |_, current| {
                let mut triage = current.clone().unwrap_or_else(|| Triage::new(&key));
                change(&mut triage);
                let same = match &current {
                    Some(current) => *current == triage,
                    None => triage.is_empty(),
                };
                (!same).then(|| (triage.clone(), (current, triage)))
            },
        )?;
        Ok(match written.into_iter().next() {
            Some((before, after)) => Outcome::Changed(BulkEffect::Triage { before, after }),
            None => Outcome::Unchanged,
        })
    }

    /// Undoes a bulk change (the latest not yet undone, or `id`, or a
    /// unique start of it): each key goes back to its state before, unless
    /// something changed it since.
    pub async fn undo_bulk(&self, id: Option<&str>) -> CommandResult<UndoReport> {
        let found = self.find_bulk_change(id)?;
        let now = self.clock.now();
        // Claimed first, so two undos of one change never both run.
        let claimed = self.store.modify::<BulkChange, BulkChange>(
            std::slice::from_ref(&found.id),
            |_, current| {
                let mut change = current.filter(|c| c.undone_at.is_none())?;
                change.undone_at = Some(now);
                Some((change.clone(), change))
            },
        )?;
        let Some(change) = claimed.into_iter().next() else {
            return Err(CommandError::Invalid(format!(
                "bulk change {} is already undone",
                found.id
            )));
        };
        let mut report = UndoReport {
            id: change.id.clone(),
            op: change.op.clone(),
            restored: Vec::new(),
            skipped: Vec::new(),
        };
        for entry in &change.entries {
            match self.undo_one(entry).await? {
                Ok(()) => report.restored.push(entry.key.clone()),
                Err(reason) => report.skipped.push(BulkSkip {
                    key: entry.key.clone(),
                    reason,
                }),
            }
        }
        Ok(report)
    }

    /// One key back to its state before; `Err(reason)` when it was left alone.
    async fn undo_one(&self, entry: &BulkEntry) -> CommandResult<Result<(), String>> {
        const CHANGED_SINCE: &str = "changed since the bulk change; left as it is";
        let now = self.clock.now();
        Ok(match &entry.effect {
            BulkEffect::Triage { before, after } => {
                let restored = match before {
                    Some(before) => !self
                        .store
                        .modify::<Triage, ()>(std::slice::from_ref(&entry.key), |_, current| {
                            (current.as_ref() == Some(after)).then(|| (before.clone(), ()))
                        })?
                        .is_empty(),
                    None => self.store.delete_if_unchanged(after)?,
                };
                restored.then_some(()).ok_or_else(|| CHANGED_SINCE.into())
            }
            BulkEffect::Read { read, messages } => {
                let mut by_copy: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for key in messages {
                    match self.store.get::<Message>(key)? {
                        Some(m) if m.read == *read => by_copy
                            .entry(m.thread_key.clone())
                            .or_default()
                            .push(key.clone()),
                        _ => return Ok(Err(CHANGED_SINCE.into())),
                    }
                }
                for (copy_key, keys) in by_copy {
                    if let Some(copy) = self.store.get::<Thread>(&copy_key)? {
                        self.flip_read(&copy, &keys, !read)?;
                    }
                }
                crate::conversation::settle(&self.store, &entry.key)?;
                Ok(())
            }
            BulkEffect::Category { before, after } => {
                let current = self.store.get::<Thread>(&entry.key)?;
                if current.and_then(|t| t.category).map(|c| c.id) != Some(after.id) {
                    return Ok(Err(CHANGED_SINCE.into()));
                }
                let Some(before) = before else {
                    return Ok(Err(format!(
                        "had no category before; {} is kept (a category cannot be cleared)",
                        after.name
                    )));
                };
                match self.set_thread_category(&entry.key, before.clone()).await {
                    Ok(()) => Ok(()),
                    Err(CommandError::Store(e)) => return Err(e.into()),
                    Err(refused) => Err(refused.to_string()),
                }
            }
            BulkEffect::Enrolled { enrollment } => {
                let sent = self
                    .store
                    .scan_prefix::<StepExecution>(&format!("{enrollment}/"))
                    .filter_map(|e| e.ok())
                    .any(|e| e.outcome == ExecutionOutcome::Sent);
                if sent {
                    return Ok(Err(format!(
                        "enrollment {enrollment} already sent a step; stop it with \
                         `outpost enrollment stop {enrollment}`"
                    )));
                }
                match crate::sequences::set_enrollment_state(
                    &self.store,
                    enrollment,
                    EnrollmentAction::Stop,
                    Some("enrollment undone by the rep"),
                    now,
                ) {
                    Ok(_) => Ok(()),
                    Err(crate::sequences::SequenceError::Store(e)) => return Err(e.into()),
                    Err(refused) => Err(refused.to_string()),
                }
            }
            BulkEffect::Tags {
                record,
                before,
                after,
            } => {
                if self.untag(record, before, after)? {
                    Ok(())
                } else {
                    Err(CHANGED_SINCE.into())
                }
            }
            BulkEffect::Paused { enrollments } => {
                let mut resumed = 0;
                for id in enrollments {
                    let still_paused = self
                        .store
                        .get::<Enrollment>(id)?
                        .is_some_and(|e| e.state == EnrollmentState::Paused);
                    if still_paused
                        && crate::sequences::set_enrollment_state(
                            &self.store,
                            id,
                            EnrollmentAction::Resume,
                            None,
                            now,
                        )
                        .is_ok()
                    {
                        resumed += 1;
                    }
                }
                if resumed > 0 {
                    Ok(())
                } else {
                    Err(CHANGED_SINCE.into())
                }
            }
        })
    }

    /// The bulk change `id` names (or a unique start of it), else the
    /// latest one not yet undone.
    fn find_bulk_change(&self, id: Option<&str>) -> CommandResult<BulkChange> {
        let all: Vec<BulkChange> = self.store.iter::<BulkChange>().collect::<Result<_, _>>()?;
        let Some(id) = id else {
            return all
                .into_iter()
                .filter(|c| c.undone_at.is_none())
                .max_by_key(|c| c.seq)
                .ok_or_else(|| CommandError::NotFound("no bulk change to undo".into()));
        };
        let mut matches: Vec<BulkChange> =
            all.into_iter().filter(|c| c.id.starts_with(id)).collect();
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(CommandError::NotFound(format!(
                "no bulk change {id:?}; the id is printed by the bulk command"
            ))),
            _ => Err(CommandError::Invalid(format!(
                "{id:?} matches several bulk changes; give more of the id"
            ))),
        }
    }

    /// Keeps the newest [`KEPT_CHANGES`] bulk changes.
    fn forget_old_bulk_changes(&self) -> CommandResult<()> {
        if self.store.count::<BulkChange>() <= KEPT_CHANGES {
            return Ok(());
        }
        let mut all: Vec<BulkChange> = self.store.iter::<BulkChange>().collect::<Result<_, _>>()?;
        all.sort_by_key(|c| std::cmp::Reverse(c.seq));
        for old in all.iter().skip(KEPT_CHANGES) {
            self.store.delete_if_unchanged(old)?;
        }
        Ok(())
    }
}
