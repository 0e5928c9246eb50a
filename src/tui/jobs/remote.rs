//! The jobs of an attached TUI: each one is a call (or two) to the daemon's
//! engine API, answered with the same `JobResult` a local run gives, so the
//! app cannot tell the backends apart. Failures read like local ones
//! ("not sent: ..."), with the daemon's reason.

use super::*;
use crate::engine::remote::wire::StepTextRequest;

pub(super) async fn run(remote: &RemoteEngine, job: Job) -> JobResult {
    match job {
        Job::Accounts => match remote.accounts().await {
            Ok(a) => JobResult::Accounts(a),
            Err(e) => failed("accounts", e),
        },
        Job::Inbox { generation, query } => match remote.inbox(&query).await {
            Ok(views) => JobResult::Inbox {
                generation,
                offset: query.offset,
                rows: views.into_iter().map(|v| v.thread).collect(),
            },
            Err(e) => failed("inbox", e),
        },
        Job::Thread { key } => match remote.thread(&key).await {
            Ok(view) => JobResult::Thread(Box::new(view)),
            Err(e) => failed("thread", e),
        },
        Job::MarkRead { key } => match remote.mark_thread_read(&key).await {
            Ok(_) => JobResult::Quiet,
            Err(e) => failed("mark read", e),
        },
        Job::LeadIndex => match remote.lead_index_source().await {
            Ok(source) => {
                // Building sorts every column: off the async workers.
                let built = tokio::task::spawn_blocking(move || {
                    let names = source
                        .campaigns
                        .into_iter()
                        .map(|c| ((c.account, c.id), c.name))
                        .collect();
                    LeadIndex::from_leads(&source.leads, names)
                })
                .await;
                match built {
                    Ok(index) => JobResult::LeadIndex(Box::new(index)),
                    Err(e) => failed("leads", e),
                }
            }
            Err(e) => failed("leads", e),
        },
        Job::LeadRows { keys } => match remote.lead_records(keys).await {
            Ok(records) => JobResult::LeadRows {
                found: records.found,
                missing: records.missing,
            },
            Err(e) => failed("lead", e),
        },
        Job::Lead { email } => match remote.lead(&email).await {
            Ok(view) => JobResult::Lead {
                email,
                view: Box::new(view),
            },
            Err(e) => failed("lead", e),
        },
        Job::Stats => match remote.stats(&StatsQuery::default()).await {
            Ok(report) => JobResult::Stats(Box::new(report)),
            Err(e) => failed("stats", e),
        },
        Job::Sequences => match remote.sequences().await {
            Ok(s) => JobResult::Sequences(s),
            Err(e) => failed("sequences", e),
        },
        Job::SequenceDetail { name } => match remote.sequence_detail(&name).await {
            Ok(d) => JobResult::SequenceDetail(Box::new(d)),
            Err(e) => failed("sequence", e),
        },
        Job::Categories {
            thread_key,
            account,
        } => match remote.categories(&account).await {
            Ok(categories) => JobResult::Categories {
                thread_key,
                categories,
            },
            Err(e) => failed("categories", e),
        },
        Job::SetCategory {
            thread_key,
            category,
        } => match remote
            .set_thread_category(&thread_key, category.clone())
            .await
        {
            Ok(()) => JobResult::CategorySet {
                thread_key,
                category,
            },
            Err(e) => failed("category not set", e),
        },
        Job::RefreshThread { key } => match remote.refresh_thread(&key).await {
            Ok(_) => JobResult::Quiet,
            Err(e) => failed("could not refresh the conversation", e),
        },
        Job::Variables { lead_key } => match remote.lead_record(&lead_key).await {
            Ok(lead) => variables(lead),
            Err(e) => failed("variables", e),
        },
        Job::LoadDraft { thread_key } => match remote.draft_for_thread(&thread_key).await {
            Ok(draft) => JobResult::Draft { thread_key, draft },
            Err(e) => failed("draft", e),
        },
        Job::SaveDraft(draft) => match remote.save_draft(&draft).await {
            Ok(()) => JobResult::Done("Draft kept".into()),
            Err(e) => failed("draft not saved", e),
        },
        Job::DeleteDraft { id } => match remote.delete_draft(&id).await {
            Ok(_) => JobResult::Quiet,
            Err(e) => failed("draft", e),
        },
        Job::QueueReply {
            thread_key,
            draft_id,
            reply,
            delay_secs,
        } => queued(
            remote
                .queue_reply(&thread_key, &reply, seconds(delay_secs))
                .await,
            draft_id,
        ),
        Job::QueueNew {
            lead_key,
            draft_id,
            subject,
            body,
            delay_secs,
        } => queued(
            remote
                .queue_new_email(&lead_key, &subject, &body, seconds(delay_secs))
                .await,
            draft_id,
        ),
        Job::CancelOutbox { id } => match remote.cancel_outbox(&id).await {
            Ok(cancelled) => JobResult::Cancelled { id, cancelled },
            Err(e) => failed("undo", e),
        },
        Job::OutboxItem { id } => match remote.outbox_item(&id).await {
            Ok(item) => JobResult::OutboxItem(Box::new(item)),
            Err(e) => failed("outbox", e),
        },
        Job::SetSequenceStatus { name, status } => {
            match remote.set_sequence_status(&name, status).await {
                Ok(s) => sequence_status_set(&s),
                Err(e) => failed("sequence", e),
            }
        }
        Job::SequenceNames { email } => match remote.sequences().await {
            Ok(all) => JobResult::SequenceNames {
                email,
                names: all.into_iter().map(|s| s.sequence.name).collect(),
            },
            Err(e) => failed("sequences", e),
        },
        Job::UpdateStepText {
            sequence,
            step,
            variant,
            subject,
            body,
        } => {
            let request = StepTextRequest {
                sequence,
                step,
                variant,
                subject,
                body,
            };
            match remote.update_step_text(&request).await {
                Ok(_) => JobResult::StepSaved {
                    sequence: request.sequence,
                    step,
                },
                Err(e) => failed("step not saved", e),
            }
        }
        Job::Enroll { sequence, email } => match remote.enroll_lead(&sequence, &email).await {
            Ok(_) => enrolled(&sequence, &email),
            Err(e) => failed("not enrolled", e),
        },
        Job::PauseLead { email } => match remote.pause_lead(&email).await {
            Ok(n) => lead_paused(&email, n),
            Err(e) => failed("pause", e),
        },
        Job::Suppress { account, email } => match remote.suppress_lead(&account, &email).await {
            Ok(_) => suppressed(&email),
            Err(e) => failed("suppress", e),
        },
    }
}
