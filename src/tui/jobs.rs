//! Background work. The UI task never touches the disk or the network: it
//! queues `Job`s, each runs as one request through the door (the local
//! engine on a blocking thread, or the engine API of the process that holds
//! the data when the TUI is attached), and each comes back as a `JobResult`
//! the app applies. Both backends give the same results by construction.

use crate::engine::door::{Door, DoorError, Request, Response};
use crate::engine::*;
use crate::model::*;

/// Where the TUI's data lives: this process's engine, or the engine API of
/// the process that holds it. Every job is one door request either way.
pub type Backend = Door;

#[derive(Debug, Clone)]
pub enum Job {
    Accounts,
    Inbox {
        generation: u64,
        query: InboxQuery,
    },
    /// Exact counts for the inbox title.
    InboxCounts {
        generation: u64,
        query: InboxQuery,
    },
    Thread {
        key: String,
    },
    /// Done with a conversation (or back to the inbox).
    Archive {
        key: String,
        archived: bool,
        name: String,
    },
    /// Hidden until a time (None: the snooze taken off).
    Snooze {
        key: String,
        until: Option<chrono::DateTime<chrono::Utc>>,
        label: String,
    },
    /// Tags added and removed on a conversation (its key) or a lead (email).
    Tag {
        key: String,
        add: Vec<String>,
        remove: Vec<String>,
        name: String,
    },
    /// The tags in use, for the tag prompt's completion.
    Tags,
    /// A conversation back from a snooze was opened: it is ordinary again.
    ClearWokenSnooze {
        key: String,
    },
    /// Read (opening it), or unread again (the rep's mark).
    MarkRead {
        key: String,
        read: bool,
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
    /// Open tasks due by the end of today.
    Tasks,
    CloseTask {
        id: String,
        outcome: TaskOutcome,
    },
    /// The deliverability preflight of a sequence (DNS lookups: a job, so
    /// the screen never waits on them).
    Preflight {
        sequence: String,
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
    /// The routes a reply to the conversation can take, for the composer.
    ReplyRoutes {
        thread_key: String,
    },
    SaveDraft(Draft),
    DeleteDraft {
        id: String,
    },
    /// The rep emptied the composer and left: the kept draft goes too.
    DiscardDraft {
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
    /// Send an item in its undo window now: the rep is quitting.
    SendNow {
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
        force: bool,
    },
    PauseLead {
        email: String,
    },
    ResumeLead {
        email: String,
    },
    /// Every account synced once, now (the palette's "sync now").
    SyncNow,
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
        /// The rows back from a snooze (listed first, marked).
        woke: Vec<String>,
        /// Each row's Gmail labels and tags, by key (rows without either absent).
        marks: Vec<(String, crate::tui::panes::inbox::RowMarks)>,
    },
    InboxCounts {
        generation: u64,
        counts: crate::engine::InboxCounts,
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
    Tasks(Vec<Task>),
    TaskClosed(Box<Task>),
    Preflight {
        sequence: String,
        warnings: Vec<String>,
    },
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
    ReplyRoutes {
        thread_key: String,
        routes: Vec<ReplyRoute>,
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
    /// A send in its undo window after its quick try at quitting.
    SentNow(Result<Box<OutboxItem>, String>),
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
    /// Every tag in use, by name.
    KnownTags(Vec<String>),
    /// A job that failed; the text says what went wrong.
    Failed(String),
    /// The enrollment guard held a lead back; picking the same sequence
    /// again enrolls it anyway.
    EnrollRefused {
        sequence: String,
        email: String,
        reason: String,
    },
    /// Nothing to show (e.g. a draft saved quietly).
    Quiet,
}

fn failed(what: &str, err: impl std::fmt::Display) -> JobResult {
    JobResult::Failed(format!("{what}: {err}"))
}

/// The door request a job makes, and the label its failure is shown with.
fn request_for(job: &Job) -> (&'static str, Request) {
    match job.clone() {
        Job::Accounts => ("accounts", Request::Accounts),
        Job::Inbox { query, .. } => ("inbox", Request::Inbox { query }),
        Job::InboxCounts { query, .. } => ("inbox", Request::InboxCounts { query }),
        Job::Thread { key } => ("thread", Request::Thread { key }),
        Job::MarkRead { key, read } => ("mark read", Request::MarkRead { key, read }),
        Job::Archive { key, archived, .. } => ("archive", Request::Archive { key, archived }),
        Job::Snooze { key, until, .. } => ("snooze", Request::Snooze { key, until }),
        Job::ClearWokenSnooze { key } => ("snooze", Request::ClearWokenSnooze { key }),
        Job::Tag {
            key, add, remove, ..
        } => ("tag", Request::Tag { key, add, remove }),
        Job::Tags => ("tags", Request::Tags),
        Job::LeadIndex => ("leads", Request::LeadIndex),
        Job::LeadRows { keys } => ("lead", Request::LeadRecords { keys }),
        Job::Lead { email } => ("lead", Request::Lead { email }),
        Job::Stats => (
            "stats",
            Request::Stats {
                query: StatsQuery::default(),
            },
        ),
        Job::Sequences | Job::SequenceNames { .. } => ("sequences", Request::SequencesPane),
        Job::SequenceDetail { name } => ("sequence", Request::SequencePane { name }),
        Job::Tasks => ("tasks", Request::Tasks { all: false }),
        Job::CloseTask { id, outcome } => (
            "task",
            Request::TaskClose {
                id,
                outcome,
                note: None,
            },
        ),
        Job::Preflight { sequence } => (
            "deliverability preflight",
            Request::Preflight {
                sequence,
                leads: Vec::new(),
            },
        ),
        Job::Categories { account, .. } => ("categories", Request::Categories { account }),
        Job::SetCategory {
            thread_key,
            category,
        } => (
            "category not set",
            Request::SetCategory {
                key: thread_key,
                category,
            },
        ),
        Job::RefreshThread { key } => (
            "could not refresh the conversation",
            Request::RefreshThread { key },
        ),
        Job::Variables { lead_key } => ("variables", Request::LeadRecord { key: lead_key }),
        Job::LoadDraft { thread_key } => ("draft", Request::Draft { thread_key }),
        Job::ReplyRoutes { thread_key } => {
            ("reply routes", Request::ReplyRoutes { key: thread_key })
        }
        Job::SaveDraft(draft) => ("draft not saved", Request::SaveDraft { draft }),
        Job::DeleteDraft { id } | Job::DiscardDraft { id } => {
            ("draft", Request::DeleteDraft { id })
        }
        Job::SendNow { id } => ("not sent", Request::SendNow { id }),
        Job::QueueReply {
            thread_key,
            reply,
            delay_secs,
            ..
        } => (
            "not sent",
            Request::QueueReply {
                thread_key,
                reply,
                delay_secs,
            },
        ),
        Job::QueueNew {
            lead_key,
            subject,
            body,
            delay_secs,
            ..
        } => (
            "not sent",
            Request::QueueNew {
                lead_key,
                subject,
                body,
                delay_secs,
            },
        ),
        Job::CancelOutbox { id } => ("undo", Request::CancelOutbox { id }),
        Job::OutboxItem { id } => ("outbox", Request::OutboxItem { id }),
        Job::SetSequenceStatus { name, status } => {
            ("sequence", Request::SetSequenceStatus { name, status })
        }
        Job::UpdateStepText {
            sequence,
            step,
            variant,
            subject,
            body,
        } => (
            "step not saved",
            Request::UpdateStepText {
                sequence,
                step,
                variant,
                subject,
                body,
            },
        ),
        Job::Enroll {
            sequence,
            email,
            force,
        } => (
            "not enrolled",
            Request::EnrollLead {
                sequence,
                email,
                force,
            },
        ),
        Job::PauseLead { email } => ("pause", Request::PauseLead { email }),
        Job::ResumeLead { email } => ("resume", Request::ResumeLead { email }),
        Job::SyncNow => ("sync", Request::Sync),
        Job::Suppress { account, email } => ("suppress", Request::Suppress { account, email }),
    }
}

/// What the app is told once the job's request was answered.
fn result_for(job: Job, response: Response) -> JobResult {
    match (job, response) {
        (Job::Accounts, Response::Accounts(a)) => JobResult::Accounts(a),
        (Job::Inbox { generation, query }, Response::Threads(views)) => JobResult::Inbox {
            generation,
            offset: query.offset,
            woke: views
                .iter()
                .filter(|v| v.triage == crate::model::TriageState::Woke)
                .map(|v| v.key.clone())
                .collect(),
            marks: views
                .iter()
                .filter(|v| !v.labels.is_empty() || !v.tags.is_empty())
                .map(|v| {
                    let marks = crate::tui::panes::inbox::RowMarks {
                        labels: v.labels.clone(),
                        tags: v.tags.clone(),
                    };
                    (v.key.clone(), marks)
                })
                .collect(),
            rows: views.into_iter().map(|v| v.thread).collect(),
        },
        (Job::InboxCounts { generation, .. }, Response::InboxCounts(counts)) => {
            JobResult::InboxCounts { generation, counts }
        }
        (Job::Thread { .. }, Response::Thread(view)) => JobResult::Thread(Box::new(view)),
        (Job::MarkRead { .. }, Response::Flag(_)) => JobResult::Quiet,
        (Job::LeadRows { .. }, Response::LeadRecords(records)) => JobResult::LeadRows {
            found: records.found,
            missing: records.missing,
        },
        (Job::Lead { email }, Response::Lead(view)) => JobResult::Lead {
            email,
            view: Box::new(view),
        },
        (Job::Stats, Response::Stats(report)) => JobResult::Stats(Box::new(report)),
        (Job::Sequences, Response::SequencesPane(all)) => JobResult::Sequences(all),
        (Job::SequenceNames { email }, Response::SequencesPane(all)) => JobResult::SequenceNames {
            email,
            names: all.into_iter().map(|s| s.sequence.name).collect(),
        },
        (Job::SequenceDetail { .. }, Response::SequencePane(detail)) => {
            JobResult::SequenceDetail(Box::new(detail))
        }
        (Job::Tasks, Response::Tasks(tasks)) => JobResult::Tasks(tasks),
        (Job::CloseTask { .. }, Response::Task(task)) => JobResult::TaskClosed(Box::new(task)),
        (Job::Preflight { sequence }, Response::Preflight(report)) => JobResult::Preflight {
            sequence,
            warnings: report.warnings(),
        },
        (Job::Categories { thread_key, .. }, Response::Categories(categories)) => {
            JobResult::Categories {
                thread_key,
                categories,
            }
        }
        (
            Job::SetCategory {
                thread_key,
                category,
            },
            Response::Done,
        ) => JobResult::CategorySet {
            thread_key,
            category,
        },
        (Job::RefreshThread { .. }, Response::Flag(_)) => JobResult::Quiet,
        (Job::ClearWokenSnooze { .. }, Response::Flag(_)) => JobResult::Quiet,
        (Job::Archive { archived, name, .. }, Response::Triage(_)) => {
            JobResult::Done(if archived {
                format!("Done: {name} (back when they write; `inbox --archived` lists it)")
            } else {
                format!("Back in the inbox: {name}")
            })
        }
        (Job::Snooze { label, .. }, Response::Triage(_)) => JobResult::Done(label),
        (Job::Tag { name, .. }, Response::TagSet(set)) => JobResult::Done(if set.tags.is_empty() {
            format!("No tags on {name}")
        } else {
            format!("Tags on {name}: {}", set.tags.join(" "))
        }),
        (Job::Tags, Response::Tags(tags)) => {
            JobResult::KnownTags(tags.into_iter().map(|t| t.name).collect())
        }
        (Job::Variables { .. }, Response::LeadRecord(lead)) => variables(lead),
        (Job::LoadDraft { thread_key }, Response::Draft(draft)) => {
            JobResult::Draft { thread_key, draft }
        }
        (Job::ReplyRoutes { thread_key }, Response::ReplyRoutes(routes)) => {
            JobResult::ReplyRoutes { thread_key, routes }
        }
        (Job::SaveDraft(_), Response::Done) => JobResult::Done("Draft kept".into()),
        (Job::DeleteDraft { .. }, Response::Flag(_)) => JobResult::Quiet,
        (Job::DiscardDraft { .. }, Response::Flag(true)) => {
            JobResult::Done("Draft discarded".into())
        }
        (Job::DiscardDraft { .. }, Response::Flag(false)) => JobResult::Quiet,
        (Job::SendNow { .. }, Response::OutboxItem(item)) => JobResult::SentNow(Ok(Box::new(item))),
        (
            Job::QueueReply { draft_id, .. } | Job::QueueNew { draft_id, .. },
            Response::OutboxItem(item),
        ) => JobResult::Queued {
            item: Box::new(item),
            draft_id,
        },
        (Job::CancelOutbox { id }, Response::Flag(cancelled)) => {
            JobResult::Cancelled { id, cancelled }
        }
        (Job::OutboxItem { .. }, Response::MaybeOutboxItem(item)) => {
            JobResult::OutboxItem(Box::new(item))
        }
        (Job::SetSequenceStatus { .. }, Response::Sequence(s)) => sequence_status_set(&s),
        (Job::UpdateStepText { sequence, step, .. }, Response::Sequence(_)) => {
            JobResult::StepSaved { sequence, step }
        }
        (
            Job::Enroll {
                sequence, email, ..
            },
            Response::Enrollment(_),
        ) => enrolled(&sequence, &email),
        (Job::PauseLead { email }, Response::Count(n)) => lead_paused(&email, n),
        (Job::ResumeLead { email }, Response::Count(n)) => lead_resumed(&email, n),
        (Job::SyncNow, Response::Synced(summary)) => synced(&summary),
        (Job::Suppress { email, .. }, Response::Suppression(_)) => suppressed(&email),
        (job, other) => failed(request_for(&job).0, DoorError::unexpected(&other)),
    }
}

/// Runs one job to completion through the door: this process's engine or
/// the engine API of the process that holds the data.
pub async fn run(backend: impl Into<Backend>, job: Job) -> JobResult {
    let door = backend.into();
    if let (Door::Local(engine), Job::LeadIndex) = (&door, &job) {
        // Built as the leads stream from the store: holding every full Lead
        // at once (what the API sends) would cost several times the index.
        let engine = engine.clone();
        return match tokio::task::spawn_blocking(move || LeadIndex::build(&engine)).await {
            Ok(Ok(index)) => JobResult::LeadIndex(Box::new(index)),
            Ok(Err(e)) => failed("leads", e),
            Err(e) => failed("leads", e),
        };
    }
    let (what, request) = request_for(&job);
    match door.execute(request).await {
        Ok(Response::LeadIndex(source)) => {
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
                Err(e) => failed(what, e),
            }
        }
        // An enrolled lead whose domain takes no mail is flagged at once,
        // as `outpost enroll` does (the lookup runs here, off the UI task).
        Ok(response @ Response::Enrollment(_)) => {
            let flagged = match &job {
                Job::Enroll {
                    sequence, email, ..
                } => no_mail_server(&door, sequence, email).await,
                _ => None,
            };
            match (result_for(job, response), flagged) {
                (JobResult::Done(text), Some(warning)) => {
                    JobResult::Done(format!("{text} — warning: {warning}"))
                }
                (result, _) => result,
            }
        }
        Ok(response) => result_for(job, response),
        // Quitting waits on this answer, so a failure must come back as one.
        Err(e) if matches!(job, Job::SendNow { .. }) => JobResult::SentNow(Err(e.to_string())),
        Err(e) => match job {
            Job::Enroll {
                sequence,
                email,
                force: false,
            } if e.kind == crate::engine::door::ErrorKind::Invalid => JobResult::EnrollRefused {
                sequence,
                email,
                reason: e.message,
            },
            _ => failed(what, e),
        },
    }
}

// The texts the rep sees.

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

/// The preflight's warning when `email`'s domain names no mail server.
async fn no_mail_server(door: &Door, sequence: &str, email: &str) -> Option<String> {
    let request = Request::Preflight {
        sequence: sequence.to_string(),
        leads: vec![email.to_string()],
    };
    match door.execute(request).await {
        Ok(Response::Preflight(report)) if !report.no_mx.is_empty() => report
            .warnings()
            .into_iter()
            .find(|line| line.starts_with(email)),
        _ => None,
    }
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

fn lead_resumed(email: &str, count: usize) -> JobResult {
    match count {
        0 => JobResult::Done(format!("{email} has no paused enrollment")),
        n => JobResult::Done(format!("Resumed {n} enrollment(s) of {email}")),
    }
}

fn synced(summary: &crate::sync::SyncSummary) -> JobResult {
    let failed: Vec<&str> = summary
        .accounts
        .iter()
        .filter(|a| a.error.is_some())
        .map(|a| a.account.as_str())
        .collect();
    if failed.is_empty() {
        JobResult::Done(format!("Synced {} account(s)", summary.accounts.len()))
    } else {
        JobResult::Failed(format!("Sync failed for {}", failed.join(", ")))
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
