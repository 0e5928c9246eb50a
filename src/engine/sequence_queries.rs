//! What the sequences pane and the lead actions need: sequences with their
//! per-step funnel, one sequence's enrollments, pause/resume, enrolling and
//! pausing a lead, suppressing an address, and a new email to a lead.
//!
//! The scheduler that runs sequences lives elsewhere; this file only reads
//! and writes the records it shares with it.

use std::collections::BTreeMap;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{CommandError, CommandResult, Engine, new_message_id};
use crate::model::*;
use crate::sequences::seed_of;
use crate::sequences::template::Template;
use crate::store::{Index, StoreResult, keys::KeyBuf};

/// How many enrollments got through each step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFunnel {
    pub step: usize,
    pub name: String,
    /// Enrollments for which this step ran (sent, task made, branched...).
    pub done: u64,
    /// Enrollments sitting at this step now.
    pub waiting: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceSummary {
    pub sequence: Sequence,
    pub enrolled: u64,
    pub by_state: BTreeMap<String, u64>,
    pub funnel: Vec<StepFunnel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceDetail {
    pub summary: SequenceSummary,
    /// Soonest due first; finished ones last.
    pub enrollments: Vec<Enrollment>,
    /// When each enrollment's next email, task or webhook goes out, by
    /// enrollment id, as the plan forecasts it (window, gaps and caps
    /// included): the one next-send time every face shows.
    #[serde(default)]
    pub next_sends: std::collections::BTreeMap<String, chrono::DateTime<chrono::Utc>>,
}

/// How far ahead a next send is looked for.
const NEXT_SEND_DAYS: u32 = 30;

/// Fills a reply's or a new email's variables from the lead with the renderer
/// sequence steps use: the same syntax, defaults and spintax (picked once
/// per lead, so a redraft keeps its wording). A variable the lead cannot
/// answer is an error, so nothing half-filled is ever sent.
pub fn render_template(text: &str, lead: &Lead) -> CommandResult<String> {
    let template = Template::parse(text).map_err(|e| {
        CommandError::Invalid(format!("template line {}: {}", e.line + 1, e.message))
    })?;
    let seed = seed_of(&[&lead.account, &lead.email]);
    template
        .render(&|name| lead.field(name), seed)
        .map_err(|e| CommandError::Invalid(format!("for {}: {e}", lead.email)))
}

/// The variables offered by the composer's insert menu for one lead.
pub fn template_variables(lead: &Lead) -> Vec<(String, Option<String>)> {
    Lead::STANDARD_FIELDS
        .iter()
        .map(|name| name.to_string())
        .chain(lead.custom_fields.keys().cloned())
        .map(|name| {
            let value = lead.field(&name);
            (name, value)
        })
        .collect()
}

impl Engine {
    /// A sequence's counts and funnel, from the same metrics `outpost
    /// sequence show` prints, and its enrollment records.
    fn summarize(&self, sequence: Sequence) -> CommandResult<(SequenceSummary, Vec<Enrollment>)> {
        let detail = crate::sequences::show(&self.store, &sequence.name)?;
        let prefix = KeyBuf::new().text(&sequence.name).into_prefix();
        let enrollments = self
            .store
            .by_index::<Enrollment>(Index::EnrollmentsBySequence, &prefix, false)
            .collect::<StoreResult<Vec<_>>>()?;
        let (by_state, funnel) = match detail {
            Some(detail) => {
                let s = &detail.summary;
                let by_state = [
                    (EnrollmentState::Active, s.active),
                    (EnrollmentState::Paused, s.paused),
                    (EnrollmentState::Completed, s.completed),
                    (EnrollmentState::Stopped, s.stopped),
                    (EnrollmentState::Failed, s.failed),
                ]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(state, n)| (state.as_str().to_string(), n))
                .collect();
                let funnel = detail
                    .step_stats
                    .iter()
                    .enumerate()
                    .map(|(i, step)| StepFunnel {
                        step: i,
                        name: step.name.clone(),
                        done: step.done,
                        waiting: step.waiting,
                    })
                    .collect();
                (by_state, funnel)
            }
            None => (BTreeMap::new(), Vec::new()),
        };
        Ok((
            SequenceSummary {
                enrolled: enrollments.len() as u64,
                by_state,
                funnel,
                sequence,
            },
            enrollments,
        ))
    }

    /// Every sequence with its counts and funnel, by name.
    pub fn sequences(&self) -> CommandResult<Vec<SequenceSummary>> {
        let mut out = Vec::new();
        for sequence in self.store.iter::<Sequence>() {
            out.push(self.summarize(sequence?)?.0);
        }
        Ok(out)
    }

    pub fn sequence_detail(&self, name: &str) -> CommandResult<Option<SequenceDetail>> {
        let Some(sequence) = self.store.get::<Sequence>(name)? else {
            return Ok(None);
        };
        let (summary, mut enrollments) = self.summarize(sequence)?;
        enrollments.sort_by_key(|e| (e.next_due_at.is_none(), e.next_due_at, e.id.clone()));
        let next_sends = self.next_sends(name, None)?;
        Ok(Some(SequenceDetail {
            summary,
            enrollments,
            next_sends,
        }))
    }

    /// When each enrollment of `sequence` (of one lead, if given) next has
    /// something go out, from the plan: the scheduler's own rules run
    /// forward, so it is the time the send will happen, not when the step
    /// became due.
    pub fn next_sends(
        &self,
        sequence: &str,
        lead: Option<&str>,
    ) -> CommandResult<std::collections::BTreeMap<String, chrono::DateTime<chrono::Utc>>> {
        let config = self.settings().scheduler()?;
        let query = crate::sequences::PlanQuery {
            sequence: Some(sequence.to_string()),
            lead: lead.map(str::to_string),
            days: NEXT_SEND_DAYS,
        };
        let plan = crate::sequences::plan(&self.store, &config, &query, self.clock.now())?;
        let mut next = std::collections::BTreeMap::new();
        for entry in plan.entries {
            next.entry(entry.enrollment_id)
                .and_modify(|at: &mut chrono::DateTime<chrono::Utc>| *at = (*at).min(entry.at))
                .or_insert(entry.at);
        }
        Ok(next)
    }

    /// Pauses or resumes a whole sequence, by the same rules as `outpost
    /// sequence pause|resume` (pausing cancels queued, unsent emails).
    pub fn set_sequence_status(
        &self,
        name: &str,
        status: SequenceStatus,
    ) -> CommandResult<Sequence> {
        let now = self.clock.now();
        Ok(match status {
            SequenceStatus::Paused => crate::sequences::pause_sequence(&self.store, name, now)?,
            SequenceStatus::Active => crate::sequences::resume_sequence(&self.store, name, now)?,
        })
    }

    /// Enrolls one lead at the first step, due now, by the rules of
    /// `outpost enroll` (a suppressed address, a lead already in this
    /// sequence or active in another are refused, with the reason).
    pub fn enroll_lead(
        &self,
        sequence: &str,
        lead_email: &str,
        force: bool,
    ) -> CommandResult<Enrollment> {
        let now = self.clock.now();
        let mut report = crate::sequences::enroll_leads(
            &self.store,
            sequence,
            &[crate::sequences::LeadInput::email(lead_email)],
            now,
            force,
            now,
        )?;
        match (report.enrolled.pop(), report.skipped.pop()) {
            (Some(enrollment), _) => Ok(enrollment),
            (None, Some(skipped)) => Err(CommandError::Invalid(format!(
                "{} was not enrolled: {}",
                skipped.email, skipped.reason
            ))),
            (None, None) => Err(CommandError::Invalid(format!(
                "{lead_email} was not enrolled"
            ))),
        }
    }

    /// Pauses every active enrollment of a lead, each as `outpost enrollment
    /// pause` does (its queued, unsent email is cancelled); returns how many.
    pub fn pause_lead(&self, lead_email: &str) -> CommandResult<usize> {
        Ok(self.pause_lead_enrollments(lead_email)?.len())
    }

    /// [`Engine::pause_lead`], answering the ids of the enrollments paused.
    pub(crate) fn pause_lead_enrollments(&self, lead_email: &str) -> CommandResult<Vec<String>> {
        self.change_lead_enrollments(
            lead_email,
            EnrollmentState::Active,
            crate::sequences::EnrollmentAction::Pause,
            Some("paused by the rep"),
        )
    }

    /// Resumes every paused enrollment of a lead, each as `outpost
    /// enrollment resume` does (its step is looked at again now); returns
    /// how many.
    pub fn resume_lead(&self, lead_email: &str) -> CommandResult<usize> {
        Ok(self
            .change_lead_enrollments(
                lead_email,
                EnrollmentState::Paused,
                crate::sequences::EnrollmentAction::Resume,
                None,
            )?
            .len())
    }

    fn change_lead_enrollments(
        &self,
        lead_email: &str,
        from: EnrollmentState,
        action: crate::sequences::EnrollmentAction,
        reason: Option<&str>,
    ) -> CommandResult<Vec<String>> {
        let prefix = KeyBuf::new()
            .text(&normalize_email(lead_email))
            .into_prefix();
        let matching: Vec<Enrollment> = self
            .store
            .by_index::<Enrollment>(Index::EnrollmentsByLead, &prefix, false)
            .filter(|e| e.as_ref().map_or(true, |e| e.state == from))
            .collect::<StoreResult<_>>()?;
        let now = self.clock.now();
        for e in &matching {
            crate::sequences::set_enrollment_state(&self.store, &e.id, action, reason, now)?;
        }
        Ok(matching.into_iter().map(|e| e.id).collect())
    }

    /// Never mail this address again from `account`, and stop its enrollments.
    pub fn suppress_lead(&self, account: &str, lead_email: &str) -> CommandResult<Suppression> {
        let now = self.clock.now();
        let suppression = Suppression {
            account: account.to_string(),
            email: normalize_email(lead_email),
            reason: SuppressionReason::Manual,
            at: now,
            note: Some("suppressed by the rep in outpost".into()),
        };
        self.store.put(&suppression)?;
        crate::sequences::for_each_open(&self.store, &suppression.email, now, |e, _| {
            e.state = EnrollmentState::Stopped;
            e.reason = Some("suppressed".into());
            e.next_due_at = None;
            e.resume_at = None;
        })?;
        Ok(suppression)
    }

    /// A new email to a lead, through the first Gmail account, after `delay`
    /// (the undo window). Template variables are filled from the lead first.
    pub fn queue_new_email(
        &self,
        lead_key: &str,
        subject: &str,
        body: &str,
        delay: Duration,
    ) -> CommandResult<OutboxItem> {
        let lead = self
            .store
            .get::<Lead>(lead_key)?
            .ok_or_else(|| CommandError::NotFound(format!("no lead {lead_key:?}")))?;
        let prefix = KeyBuf::new().text(&lead.email).into_prefix();
        if self
            .store
            .by_index::<Suppression>(Index::SuppressionsByEmail, &prefix, false)
            .next()
            .is_some()
        {
            return Err(CommandError::Invalid(format!(
                "{} is suppressed; nothing was sent",
                lead.email
            )));
        }
        let subject = render_template(subject, &lead)?;
        let text = render_template(body, &lead)?;
        if text.trim().is_empty() || subject.trim().is_empty() {
            return Err(CommandError::Invalid(
                "a new email needs a subject and a body".into(),
            ));
        }
        let account = self
            .accounts()?
            .into_iter()
            .find(|a| a.provider == Provider::Gmail)
            .ok_or_else(|| {
                CommandError::Invalid(
                    "new emails leave through a Gmail account and none is set up; \
                     Smartlead sends only inside campaigns (enroll the lead instead)"
                        .into(),
                )
            })?;
        let from = account.email.clone().unwrap_or_default();
        let text = super::compose::signed(&text, self.settings().signature(&account.name));
        let now = self.clock.now();
        let id = uuid::Uuid::new_v4().to_string();
        let item = OutboxItem {
            idempotency_key: format!("compose:{id}"),
            id,
            account: account.name.clone(),
            provider: Provider::Gmail,
            state: OutboxState::Pending,
            not_before: now + delay,
            message_id: new_message_id(&from),
            email: OutgoingEmail {
                from,
                to: vec![lead.email.clone()],
                cc: Vec::new(),
                bcc: Vec::new(),
                subject,
                text_body: text,
                html_body: None,
                in_reply_to: None,
                references: Vec::new(),
                headers: Vec::new(),
                attachments: Vec::new(),
            },
            delivery: Delivery::GmailSend { thread_id: None },
            thread_key: None,
            enrollment_id: None,
            step: None,
            attempts: 0,
            last_error: None,
            provider_id: None,
            created_at: now,
            updated_at: now,
            send_at: None,
            attachments_left_out: Vec::new(),
            lease: None,
        };
        self.store.put(&item)?;
        Ok(item)
    }
}

impl Engine {
    /// Fills the subjects of a plan's Smartlead-sent emails from the
    /// campaigns' own sequences (what Smartlead will send), for accounts
    /// this engine can reach. Entries it cannot fill keep no subject and
    /// their "sent by Smartlead campaign N, step k" marker.
    pub(crate) async fn fill_smartlead_copy(&self, plan: &mut crate::sequences::Plan) {
        let mut wanted: BTreeMap<(String, i64), Vec<usize>> = BTreeMap::new();
        for (at, entry) in plan.entries.iter().enumerate() {
            let Some(step) = &entry.smartlead else {
                continue;
            };
            let Ok(Some(seq)) = self.store().get::<Sequence>(&entry.sequence) else {
                continue;
            };
            wanted
                .entry((seq.account.clone(), step.campaign_id))
                .or_default()
                .push(at);
        }
        for ((account, campaign_id), entries) in wanted {
            let providers = self.providers();
            let Some(smartlead) = providers.smartlead.get(&account) else {
                continue;
            };
            let campaign = crate::providers::smartlead::CampaignId(campaign_id);
            let steps = match smartlead.client.campaign_sequences(campaign).await {
                Ok(steps) => steps,
                Err(e) => {
                    tracing::warn!(%account, campaign_id, error = %e, "cannot read the campaign's sequence for the plan");
                    continue;
                }
            };
            for at in entries {
                let entry = &mut plan.entries[at];
                let Some(number) = entry.smartlead.as_ref().map(|s| i64::from(s.step)) else {
                    continue;
                };
                // An empty subject is Smartlead's "same thread": no subject of its own.
                entry.subject = steps
                    .iter()
                    .find(|s| s.seq_number == number)
                    .map(|s| s.subject.trim().to_string())
                    .filter(|s| !s.is_empty());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_fields_and_refuse_missing_ones() {
        let mut lead = Lead::new("acme", "dana@northwind.example");
        lead.first_name = Some("Dana".into());
        lead.custom_fields.insert("role".into(), "CFO".into());
        assert_eq!(
            render_template("Hi {{first_name}}, as {{ role }}…", &lead).unwrap(),
            "Hi Dana, as CFO…"
        );
        assert!(render_template("Hi {{company}}", &lead).is_err());
        assert!(render_template("Hi {{first_name", &lead).is_err());
        // The composer renders like a sequence step: defaults, filters and
        // spintax stable per lead.
        let spun = "{Hi|Hello|Hey} {{ company | default('there') | upper }}";
        let first = render_template(spun, &lead).unwrap();
        assert!(first.ends_with(" THERE"), "{first}");
        assert_eq!(render_template(spun, &lead).unwrap(), first);
        let vars = template_variables(&lead);
        assert!(
            vars.iter()
                .any(|(n, v)| n == "role" && v.as_deref() == Some("CFO"))
        );
    }
}
