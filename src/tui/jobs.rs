//! Background work. The UI task never touches the disk or the network: it
//! queues `Job`s, a worker runs them on blocking threads (or awaits the
//! network), and each comes back as a `JobResult` the app applies.
//!
//! Jobs run against a [`Backend`]: the local engine, or a daemon's engine API
//! when the TUI is attached (`remote.rs`). Both give the same results.

mod remote;

use chrono::Duration;

use crate::engine::remote::RemoteEngine;
use crate::engine::*;
use crate::model::*;

/// Where the TUI's data lives: this process's engine, or a daemon's.
#[derive(Debug, Clone)]
pub enum Backend {
    Local(Engine),
    Remote(RemoteEngine),
}

impl From<Engine> for Backend {
    fn from(engine: Engine) -> Self {
        Backend::Local(engine)
    }
}

impl From<RemoteEngine> for Backend {
    fn from(remote: RemoteEngine) -> Self {
        Backend::Remote(remote)
    }
}

#[derive(Debug, Clone)]
pub enum Job {
    Accounts,
    Inbox {
        generation: u64,
        query: InboxQuery,
    },
    Thread {
        key: String,
    },
    MarkRead {
        key: String,
    },
    LeadIndex,
    /// Re-read leads that changed, for the in-memory index.
    LeadRows {
        keys: Vec<String>,
    },
    Lead {
        email: String,
    },
    Stats,
    Sequences,
    SequenceDetail {
        name: String,
    },
    Categories {
        thread_key: String,
        account: String,
    },
    SetCategory {
        thread_key: String,
        category: Category,
    },
    /// Re-read an opened conversation from its provider (a follow-up reply
    /// the periodic sync cannot see); changes arrive through the feed.
    RefreshThread {
        key: String,
    },
    /// The lead's variables for the composer's insert menu.
    Variables {
        lead_key: String,
    },
    LoadDraft {
        thread_key: String,
    },
    SaveDraft(Draft),
    DeleteDraft {
        id: String,
    },
    QueueReply {
        thread_key: String,
        draft_id: String,
        reply: ReplyDraft,
        delay_secs: u64,
    },
    QueueNew {
        lead_key: String,
        draft_id: String,
        subject: String,
        body: String,
        delay_secs: u64,
    },
    CancelOutbox {
        id: String,
    },
    OutboxItem {
        id: String,
    },
    SetSequenceStatus {
        name: String,
        status: SequenceStatus,
    },
    SequenceNames {
        email: String,
    },
    /// Saves an email step's text edited in the composer.
    UpdateStepText {
        sequence: String,
        step: usize,
        variant: Option<String>,
        subject: Option<String>,
        body: String,
    },
    Enroll {
        sequence: String,
        email: String,
    },
    PauseLead {
        email: String,
    },
    Suppress {
        account: String,
        email: String,
    },
}

#[derive(Debug)]
pub enum JobResult {
    Accounts(Vec<Account>),
    Inbox {
        generation: u64,
        offset: usize,
        rows: Vec<Thread>,
    },
    Thread(Box<Option<ThreadView>>),
    LeadIndex(Box<LeadIndex>),
    LeadRows {
        found: Vec<Lead>,
        missing: Vec<String>,
    },
    Lead {
        email: String,
        view: Box<Option<LeadView>>,
    },
    Stats(Box<StatsReport>),
    Sequences(Vec<SequenceSummary>),
    SequenceDetail(Box<Option<SequenceDetail>>),
    Categories {
        thread_key: String,
        categories: Vec<Category>,
    },
    CategorySet {
        thread_key: String,
        category: Category,
    },
    Variables(Vec<(String, Option<String>)>),
    Draft {
        thread_key: String,
        draft: Option<Draft>,
    },
    Queued {
        item: Box<OutboxItem>,
        draft_id: String,
    },
    Cancelled {
        id: String,
        cancelled: bool,
    },
    OutboxItem(Box<Option<OutboxItem>>),
    SequenceNames {
        email: String,
        names: Vec<String>,
    },
    StepSaved {
        sequence: String,
        step: usize,
    },
    /// A command that succeeded; the text is shown to the rep.
    Done(String),
    /// A job that failed; the text says what went wrong.
    Failed(String),
    /// Nothing to show (e.g. a draft saved quietly).
    Quiet,
}

fn failed(what: &str, err: impl std::fmt::Display) -> JobResult {
    JobResult::Failed(format!("{what}: {err}"))
}

/// What queuing a reply or an email came to, from either backend.
fn queued<E: std::fmt::Display>(result: Result<OutboxItem, E>, draft_id: String) -> JobResult {
    match result {
        Ok(item) => JobResult::Queued {
            item: Box::new(item),
            draft_id,
        },
        Err(e) => failed("not sent", e),
    }
}

/// Runs one job to completion against either backend.
pub async fn run(backend: impl Into<Backend>, job: Job) -> JobResult {
    match backend.into() {
        Backend::Local(engine) => run_local(engine, job).await,
        Backend::Remote(remote) => remote::run(&remote, job).await,
    }
}

/// Runs one job on the local engine. Store work goes to a blocking thread so
/// the async runtime (and the UI task on it) never waits on the disk.
async fn run_local(engine: Engine, job: Job) -> JobResult {
    if let Job::SetCategory {
        thread_key,
        category,
    } = job
    {
        return match engine
            .set_thread_category(&thread_key, category.clone())
            .await
        {
            Ok(()) => JobResult::CategorySet {
                thread_key,
                category,
            },
            Err(e) => failed("category not set", e),
        };
    }
    if let Job::RefreshThread { key } = job {
        return match crate::sync::SyncEngine::new(engine)
            .refresh_thread(&key)
            .await
        {
            Ok(_) => JobResult::Quiet,
            Err(e) => failed("could not refresh the conversation", e),
        };
    }
    match tokio::task::spawn_blocking(move || run_blocking(&engine, job)).await {
        Ok(result) => result,
        Err(e) => failed("background job stopped", e),
    }
}

/// The store-only jobs, run synchronously (tests call this directly too).
pub fn run_blocking(engine: &Engine, job: Job) -> JobResult {
    match job {
        Job::Accounts => match engine.accounts() {
            Ok(a) => JobResult::Accounts(a),
            Err(e) => failed("accounts", e),
        },
        Job::Inbox { generation, query } => match engine.inbox(&query) {
            Ok(views) => JobResult::Inbox {
                generation,
                offset: query.offset,
                rows: views.into_iter().map(|v| v.thread).collect(),
            },
            Err(e) => failed("inbox", e),
        },
        Job::Thread { key } => match engine.thread(&key) {
            Ok(view) => JobResult::Thread(Box::new(view)),
            Err(e) => failed("thread", e),
        },
        Job::MarkRead { key } => match engine.mark_thread_read(&key) {
            Ok(_) => JobResult::Quiet,
            Err(e) => failed("mark read", e),
        },
        Job::LeadIndex => match LeadIndex::build(engine) {
            Ok(index) => JobResult::LeadIndex(Box::new(index)),
            Err(e) => failed("leads", e),
        },
        Job::LeadRows { keys } => {
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for key in keys {
                match engine.store().get::<Lead>(&key) {
                    Ok(Some(lead)) => found.push(lead),
                    Ok(None) => missing.push(key),
                    Err(e) => return failed("lead", e),
                }
            }
            JobResult::LeadRows { found, missing }
        }
        Job::Lead { email } => match engine.lead(&email) {
            Ok(view) => JobResult::Lead {
                email,
                view: Box::new(view),
            },
            Err(e) => failed("lead", e),
        },
        Job::Stats => match engine.stats(&StatsQuery::default()) {
            Ok(report) => JobResult::Stats(Box::new(report)),
            Err(e) => failed("stats", e),
        },
        Job::Sequences => match engine.sequences() {
            Ok(s) => JobResult::Sequences(s),
            Err(e) => failed("sequences", e),
        },
        Job::SequenceDetail { name } => match engine.sequence_detail(&name) {
            Ok(d) => JobResult::SequenceDetail(Box::new(d)),
            Err(e) => failed("sequence", e),
        },
        Job::Categories {
            thread_key,
            account,
        } => match engine.categories(&account) {
            Ok(categories) => JobResult::Categories {
                thread_key,
                categories,
            },
            Err(e) => failed("categories", e),
        },
        Job::SetCategory { .. } => failed("category", "needs the async runner"),
        Job::RefreshThread { .. } => failed("refresh", "needs the async runner"),
        Job::Variables { lead_key } => match engine.store().get::<Lead>(&lead_key) {
            Ok(lead) => variables(lead),
            Err(e) => failed("variables", e),
        },
        Job::LoadDraft { thread_key } => match engine.draft_for_thread(&thread_key) {
            Ok(draft) => JobResult::Draft { thread_key, draft },
            Err(e) => failed("draft", e),
        },
        Job::SaveDraft(draft) => match engine.save_draft(&draft) {
            Ok(()) => JobResult::Done("Draft kept".into()),
            Err(e) => failed("draft not saved", e),
        },
        Job::DeleteDraft { id } => match engine.delete_draft(&id) {
            Ok(_) => JobResult::Quiet,
            Err(e) => failed("draft", e),
        },
        Job::QueueReply {
            thread_key,
            draft_id,
            reply,
            delay_secs,
        } => queued(
            engine.queue_reply(&thread_key, &reply, seconds(delay_secs)),
            draft_id,
        ),
        Job::QueueNew {
            lead_key,
            draft_id,
            subject,
            body,
            delay_secs,
        } => queued(
            engine.queue_new_email(&lead_key, &subject, &body, seconds(delay_secs)),
            draft_id,
        ),
        Job::CancelOutbox { id } => match engine.cancel_outbox(&id) {
            Ok(cancelled) => JobResult::Cancelled { id, cancelled },
            Err(e) => failed("undo", e),
        },
        Job::OutboxItem { id } => match engine.outbox_item(&id) {
            Ok(item) => JobResult::OutboxItem(Box::new(item)),
            Err(e) => failed("outbox", e),
        },
        Job::SetSequenceStatus { name, status } => {
            match engine.set_sequence_status(&name, status) {
                Ok(s) => sequence_status_set(&s),
                Err(e) => failed("sequence", e),
            }
        }
        Job::SequenceNames { email } => match engine.sequences() {
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
        } => match crate::sequences::update_step_text(
            engine.store(),
            &sequence,
            step,
            variant.as_deref(),
            subject.as_deref(),
            Some(&body),
            engine.clock().now(),
        ) {
            Ok(_) => JobResult::StepSaved { sequence, step },
            Err(e) => failed("step not saved", e),
        },
        Job::Enroll { sequence, email } => match engine.enroll_lead(&sequence, &email) {
            Ok(_) => enrolled(&sequence, &email),
            Err(e) => failed("not enrolled", e),
        },
        Job::PauseLead { email } => match engine.pause_lead(&email) {
            Ok(n) => lead_paused(&email, n),
            Err(e) => failed("pause", e),
        },
        Job::Suppress { account, email } => match engine.suppress_lead(&account, &email) {
            Ok(_) => suppressed(&email),
            Err(e) => failed("suppress", e),
        },
    }
}

// The texts and shapes both backends answer with.

fn sequence_status_set(sequence: &Sequence) -> JobResult {
    JobResult::Done(format!(
        "Sequence {} {}",
        sequence.name,
        match sequence.status {
            SequenceStatus::Active => "resumed",
            SequenceStatus::Paused => "paused",
        }
    ))
}

fn enrolled(sequence: &str, email: &str) -> JobResult {
    JobResult::Done(format!("Enrolled {email} in {sequence}"))
}

fn lead_paused(email: &str, count: usize) -> JobResult {
    match count {
        0 => JobResult::Done(format!("{email} has no active enrollment")),
        n => JobResult::Done(format!("Paused {n} enrollment(s) of {email}")),
    }
}

fn suppressed(email: &str) -> JobResult {
    JobResult::Done(format!("{email} suppressed; enrollments stopped"))
}

/// The composer's insert menu: the lead's variables, or the standard names
/// (empty) when the lead is not cached.
fn variables(lead: Option<Lead>) -> JobResult {
    match lead {
        Some(lead) => JobResult::Variables(template_variables(&lead)),
        None => JobResult::Variables(
            Lead::STANDARD_FIELDS
                .iter()
                .map(|n| (n.to_string(), None))
                .collect(),
        ),
    }
}

fn seconds(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1_000))
}
