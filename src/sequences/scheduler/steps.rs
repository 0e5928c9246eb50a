//! The step kinds a due enrollment runs: email, task, conditional, webhook.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::super::compose::{ComposeInput, Links, build_item};
use super::super::rules::SendRules;
use super::super::template::Template;
use super::super::{SequenceResult, outbox_item_for, seed_of};
use super::lookups::{events_between, is_suppressed, last_sent_at, mailbox_keys, sender_address};
use super::work::Work;
use super::{Flow, RECHECK, WEBHOOK_LEASE, WebhookJob, execution, record_sent};
use crate::model::*;

/// How often a step waiting on a paused mailbox looks again.
const PAUSED_MAILBOX_RECHECK: Duration = Duration::hours(1);

impl Work<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn email_step(
        &mut self,
        enr: &mut Enrollment,
        seq: &Sequence,
        index: usize,
        variants: &[Variant],
        same_thread: bool,
        t: DateTime<Utc>,
    ) -> SequenceResult<Flow> {
        let now = self.now;
        let looking = Instant::now();
        // The outbox is the source of truth: a step written before a crash is reused.
        let existing = outbox_item_for(self.store(), &enr.id, index)?;
        self.report.timings.lookups += looking.elapsed();
        if let Some(item) = existing {
            match item.state {
                OutboxState::Sent => {
                    let at = item.updated_at;
                    self.executions.push(record_sent(enr, &item, index, at));
                    return Ok(Flow::Continue(at));
                }
                OutboxState::Failed => {
                    let why = item
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "the provider refused it".into());
                    self.executions.push(execution(
                        enr,
                        index,
                        ExecutionOutcome::Failed,
                        now,
                        |e| {
                            e.error = Some(why.clone());
                            e.attempts = item.attempts;
                        },
                    ));
                    self.finish(
                        enr,
                        EnrollmentState::Failed,
                        format!("step {} could not be sent: {why}", index + 1),
                    );
                    return Ok(Flow::Stop);
                }
                _ => {
                    enr.next_due_at = Some(item.not_before.max(now) + RECHECK);
                    return Ok(Flow::Stop);
                }
            }
        }
        let looking = Instant::now();
        let suppressed = is_suppressed(self.store(), &enr.lead_email)?;
        self.report.timings.lookups += looking.elapsed();
        if let Some(s) = suppressed {
            let reason =
                format!("{} is suppressed ({:?})", enr.lead_email, s.reason).to_lowercase();
            self.finish(enr, EnrollmentState::Stopped, reason);
            return Ok(Flow::Stop);
        }
        let looking = Instant::now();
        let lead = self.lead(&seq.account, &enr.lead_email)?;
        self.report.timings.lookups += looking.elapsed();
        let variant = pick_variant(enr, index, variants);
        let rules = SendRules::for_lead(
            &seq.settings,
            lead.timezone.as_deref(),
            self.scheduler.config.cap_timezone,
        );
        if self.senders_all_paused(enr, seq) {
            // Not blocked: the step goes out once the rep resumes a mailbox.
            enr.next_due_at = Some(now + PAUSED_MAILBOX_RECHECK);
            return Ok(Flow::Stop);
        }
        let Some((mailbox, slot)) = self.choose_slot(enr, seq, &rules, index, t)? else {
            self.block(
                enr,
                seq,
                index,
                "no sending slot in the next 400 days; check the window, weekends and holidays"
                    .into(),
            );
            return Ok(Flow::Stop);
        };
        let composing = Instant::now();
        let from = sender_address(self.store(), seq, &mailbox)?;
        let item_id = uuid::Uuid::new_v4().to_string();
        let links = Links {
            public_url: self.scheduler.config.public_url.as_ref(),
            key: self.scheduler.config.tracking_key.as_ref(),
        };
        let unsubscribe = links.unsubscribe(&item_id);
        let extra = |name: &str| match name {
            "sender_email" => Some(from.clone()),
            "unsubscribe_url" => unsubscribe.clone(),
            _ => None,
        };
        let seed = seed_of(&[&enr.id, &index.to_string()]);
        let rendered = self
            .render(&variant.subject, &lead, &extra, seed)
            .and_then(|s| Ok((s, self.render(&variant.body, &lead, &extra, seed ^ 1)?)));
        let (subject, text) = match rendered {
            Ok(pair) => pair,
            Err(why) => {
                self.block(enr, seq, index, why);
                return Ok(Flow::Stop);
            }
        };
        enr.variants.insert(index, variant.label.clone());
        enr.mailbox = Some(mailbox.clone());
        let day = slot
            .with_timezone(&self.scheduler.config.cap_timezone)
            .date_naive();
        self.ledger
            .record(self.store(), &seq.account, &mailbox, day, slot)?;
        let item = build_item(
            ComposeInput {
                sequence: seq,
                enrollment: enr,
                step: index,
                same_thread,
                from,
                mailbox,
                subject,
                text,
                not_before: slot,
                now,
            },
            &links,
            unsubscribe,
            item_id,
        );
        self.report.timings.compose += composing.elapsed();
        self.report.queued.push(item.id.clone());
        enr.next_due_at = Some(slot.max(now) + RECHECK);
        self.outbox.push(item);
        Ok(Flow::Stop)
    }

    /// The mailbox and time for a send: the pinned mailbox, or the rotation's
    /// earliest; inside the window, under the daily cap, after the random gap.
    fn choose_slot(
        &mut self,
        enr: &Enrollment,
        seq: &Sequence,
        rules: &SendRules,
        index: usize,
        t: DateTime<Utc>,
    ) -> SequenceResult<Option<(String, DateTime<Utc>)>> {
        let all = mailbox_keys(seq);
        let candidates: Vec<String> = match &enr.mailbox {
            Some(pinned) if all.contains(pinned) => vec![pinned.clone()],
            _ => {
                let start = (seed_of(&[&enr.id]) % all.len() as u64) as usize;
                (0..all.len())
                    .map(|k| all[(start + k) % all.len()].clone())
                    .collect()
            }
        };
        let mut candidates = candidates;
        candidates.retain(|m| !self.mailbox_paused(seq, m));
        let (min, max) = seq.settings.random_gap_secs;
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of(&[&enr.id, &index.to_string(), "gap"]));
        let gap = Duration::seconds(i64::from(rng.random_range(min..=max.max(min))));
        let mut best: Option<(String, DateTime<Utc>)> = None;
        for mailbox in candidates {
            let Some(mut slot) = self.slot_for(seq, &mailbox, rules, gap, t)? else {
                continue;
            };
            // A late tick keeps its slot only while the same window is still open.
            if slot < self.now
                && !(rules.is_open(self.now)
                    && rules.local_date(slot) == rules.local_date(self.now))
            {
                match self.slot_for(seq, &mailbox, rules, gap, self.now)? {
                    Some(later) => slot = later,
                    None => continue,
                }
            }
            if best.as_ref().is_none_or(|(_, b)| slot < *b) {
                best = Some((mailbox, slot));
            }
        }
        Ok(best)
    }

    /// Whether a mailbox is in its bounce pause (a failed read counts as
    /// not paused: the pause is a guard, not a reason to stop the tick).
    fn mailbox_paused(&self, seq: &Sequence, mailbox: &str) -> bool {
        self.store()
            .get::<MailboxPause>(&MailboxPause::key_for(&seq.send_via.account, mailbox))
            .ok()
            .flatten()
            .is_some_and(|p| p.is_paused())
    }

    /// Whether every mailbox the step could go from is in its bounce pause
    /// (the pinned one, for a follow-up in its thread).
    fn senders_all_paused(&self, enr: &Enrollment, seq: &Sequence) -> bool {
        let all = mailbox_keys(seq);
        let senders: Vec<String> = match &enr.mailbox {
            Some(pinned) if all.contains(pinned) => vec![pinned.clone()],
            _ => all,
        };
        !senders.is_empty() && senders.iter().all(|m| self.mailbox_paused(seq, m))
    }

    fn slot_for(
        &mut self,
        seq: &Sequence,
        mailbox: &str,
        rules: &SendRules,
        gap: Duration,
        from: DateTime<Utc>,
    ) -> SequenceResult<Option<DateTime<Utc>>> {
        let cap_tz = self.scheduler.config.cap_timezone;
        let limit = seq.settings.daily_limit_per_mailbox;
        let mut t = rules.next_open(from);
        for _ in 0..800 {
            if !rules.is_open(t) {
                return Ok(None);
            }
            let day = t.with_timezone(&cap_tz).date_naive();
            let used = self.ledger.get(self.store(), &seq.account, mailbox, day)?;
            if used.count >= limit {
                let next_day = day + Duration::days(1);
                let start = SendRules {
                    tz: cap_tz,
                    ..rules.clone()
                }
                .instant(next_day, chrono::NaiveTime::MIN);
                t = rules.next_open(start);
                continue;
            }
            // The earliest time that keeps the gap around every send already
            // booked, so an early window fits in before later leads' sends.
            let free = used.first_free(t, gap);
            if free != t {
                t = rules.next_open(free);
                continue;
            }
            return Ok(Some(t));
        }
        Ok(None)
    }

    /// A task step writes its task once, then holds the enrollment until
    /// the rep closes the task (`outpost task done|skip`, which makes the
    /// enrollment due again) or it skips itself after `auto_skip_after_days`.
    pub(super) fn task_step(
        &mut self,
        enr: &mut Enrollment,
        seq: &Sequence,
        index: usize,
        (title, body): (&str, &str),
        auto_skip_after_days: Option<u32>,
        t: DateTime<Utc>,
    ) -> SequenceResult<Flow> {
        let id = task_id(&enr.id, index);
        let looking = Instant::now();
        let existing = self.store().get::<Task>(&id)?;
        self.report.timings.lookups += looking.elapsed();
        let task = match existing {
            Some(task) => task,
            None => {
                let lead = self.lead(&seq.account, &enr.lead_email)?;
                let seed = seed_of(&[&enr.id, &index.to_string()]);
                let none = |_: &str| None;
                let rendered = self
                    .render(title, &lead, &none, seed)
                    .and_then(|t| Ok((t, self.render(body, &lead, &none, seed ^ 1)?)));
                let (title, body) = match rendered {
                    Ok(pair) => pair,
                    Err(why) => {
                        self.block(enr, seq, index, why);
                        return Ok(Flow::Stop);
                    }
                };
                let task = Task {
                    id: id.clone(),
                    account: seq.account.clone(),
                    lead_email: enr.lead_email.clone(),
                    title,
                    body,
                    due_at: t,
                    done_at: None,
                    enrollment_id: Some(enr.id.clone()),
                    outcome: None,
                    note: None,
                    step: Some(index),
                    auto_skip_at: auto_skip_after_days
                        .map(|days| t + Duration::days(i64::from(days))),
                };
                self.executions.push(execution(
                    enr,
                    index,
                    ExecutionOutcome::TaskCreated,
                    self.now,
                    |_| {},
                ));
                self.report.tasks.push(id.clone());
                self.tasks.push(task.clone());
                task
            }
        };
        if let Some(closed) = task.done_at {
            enr.current_step = index + 1;
            return Ok(Flow::Continue(closed.max(t)));
        }
        match task.auto_skip_at {
            Some(at) if at <= self.now => {
                let mut skipped = task;
                skipped.done_at = Some(at);
                skipped.outcome = Some(TaskOutcome::Skipped);
                skipped.note = Some(format!(
                    "skipped by itself after {} day(s)",
                    auto_skip_after_days.unwrap_or_default()
                ));
                // A task written this tick is replaced, not written twice.
                self.tasks.retain(|t| t.id != skipped.id);
                self.tasks.push(skipped);
                self.executions.push(execution(
                    enr,
                    index,
                    ExecutionOutcome::Skipped,
                    self.now,
                    |e| e.error = Some("the task was not done in time".into()),
                ));
                enr.current_step = index + 1;
                Ok(Flow::Continue(at))
            }
            // Waits for the rep; with an auto-skip, looked at again then.
            auto_skip_at => {
                enr.next_due_at = auto_skip_at;
                Ok(Flow::Stop)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn conditional_step(
        &mut self,
        enr: &mut Enrollment,
        index: usize,
        condition: Condition,
        within_hours: u32,
        (then_step, else_step): (usize, usize),
        t: DateTime<Utc>,
    ) -> SequenceResult<Flow> {
        let since = last_sent_at(self.store(), &enr.id)?.unwrap_or(enr.started_at);
        let deadline = since + Duration::hours(i64::from(within_hours));
        let seen = events_between(self.store(), &enr.lead_email, since, deadline.min(self.now))?;
        let has = |kind: EventType| seen.contains(&kind);
        // (branch taken, decided only because the deadline passed)
        let decided = match condition {
            Condition::Opened if has(EventType::EmailOpened) => Some((true, false)),
            Condition::Clicked if has(EventType::EmailClicked) => Some((true, false)),
            Condition::Replied if has(EventType::EmailReplied) => Some((true, false)),
            Condition::NoReply if has(EventType::EmailReplied) => Some((false, false)),
            _ if self.now >= deadline => Some((condition == Condition::NoReply, true)),
            _ => None,
        };
        let Some((taken, by_deadline)) = decided else {
            enr.next_due_at = Some(deadline);
            return Ok(Flow::Stop);
        };
        let target = if taken { then_step } else { else_step };
        let label = if taken { "then" } else { "else" };
        self.executions.push(execution(
            enr,
            index,
            ExecutionOutcome::Branched,
            self.now,
            |e| {
                e.variant = Some(format!("{label} -> step {}", target + 1));
            },
        ));
        enr.current_step = target;
        let at = if by_deadline { t.max(deadline) } else { t };
        Ok(Flow::Continue(at))
    }

    pub(super) fn webhook_step(
        &mut self,
        enr: &mut Enrollment,
        seq: &Sequence,
        index: usize,
        url: &str,
        payload: Option<&str>,
    ) -> SequenceResult<Flow> {
        let lead = self.lead(&seq.account, &enr.lead_email)?;
        let body = match payload {
            None => serde_json::json!({
                "event": "sequence_step",
                "sequence": seq.name,
                "step": index + 1,
                "step_name": seq.steps.get(index).map(|s| s.name.clone()),
                "enrollment_id": enr.id,
                "lead": {
                    "email": lead.email,
                    "first_name": lead.first_name,
                    "last_name": lead.last_name,
                    "company": lead.company,
                },
            }),
            Some(text) => {
                // Values are JSON-escaped so a quote in a name cannot break the document.
                let json_lookup = |name: &str| {
                    lead.field(name).map(|v| {
                        let quoted = serde_json::to_string(&v).unwrap_or_default();
                        quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
                    })
                };
                let rendered = Template::parse(text)
                    .map_err(|e| e.message)
                    .and_then(|t| t.render(&json_lookup, 0).map_err(|e| e.to_string()));
                match rendered.and_then(|r| {
                    serde_json::from_str(&r)
                        .map_err(|e| format!("the payload is not valid JSON: {e}"))
                }) {
                    Ok(value) => value,
                    Err(why) => {
                        self.block(enr, seq, index, why);
                        return Ok(Flow::Stop);
                    }
                }
            }
        };
        self.report.webhooks.push(WebhookJob {
            enrollment_id: enr.id.clone(),
            step: index,
            url: url.to_string(),
            body,
        });
        enr.next_due_at = Some(self.now + WEBHOOK_LEASE);
        Ok(Flow::Stop)
    }
}

fn pick_variant<'v>(enr: &Enrollment, index: usize, variants: &'v [Variant]) -> &'v Variant {
    if let Some(label) = enr.variants.get(&index)
        && let Some(v) = variants.iter().find(|v| &v.label == label)
    {
        return v;
    }
    let total: u64 = variants
        .iter()
        .map(|v| u64::from(v.weight))
        .sum::<u64>()
        .max(1);
    let mut roll = seed_of(&[&enr.id, &index.to_string(), "variant"]) % total;
    for v in variants {
        let w = u64::from(v.weight);
        if roll < w {
            return v;
        }
        roll -= w;
    }
    &variants[0]
}

/// The id of the task a sequence's task step writes for one enrollment.
pub(crate) fn task_id(enrollment_id: &str, step: usize) -> String {
    format!("{enrollment_id}/{step:05}")
}
