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
    /// The configured users, to pick who a conversation is assigned to.
    Assignees {
        thread_key: String,
        name: String,
    },
    Assign {
        key: String,
        to: Option<String>,
        name: String,
    },
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
        /// People whose tags changed.
        tag_emails: Vec<String>,
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
        /// For the inbox's selection rather than one conversation.
        for_selection: bool,
    },
    /// One change to many conversations (kept for one undo).
    Bulk {
        operation: BulkOp,
        target: BulkTarget,
    },
    /// Undo a bulk change.
    Undo {
        id: String,
    },
    /// Fetch a conversation's attachment `number`, save it to the downloads
    /// directory, and open it when asked.
    Attachment {
        key: String,
        number: usize,
        open: bool,
        /// Where it is saved (the downloads directory).
        to: std::path::PathBuf,
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
    /// The conversation passed on to someone new.
    Forward {
        thread_key: String,
        draft_id: String,
        forward: ForwardDraft,
        delay_secs: u64,
    },
    /// The message a reply quotes or a forward carries, for the composer.
    Original {
        thread_key: String,
    },
    /// A file the rep attaches, read here (never on the UI task); `~` is
    /// the home directory.
    ReadAttachment {
        draft_id: String,
        path: String,
    },
    /// The canned replies in the snippets folder, for the composer's picker.
    Snippets {
        dir: std::path::PathBuf,
    },
    /// Tab in the attach prompt: the typed path completed from its folder.
    CompletePath {
        typed: String,
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
        /// For the leads table's selection rather than one lead.
        for_selection: bool,
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
    /// Who a conversation can be assigned to, for the picker.
    Assignees {
        thread_key: String,
        name: String,
        users: Vec<String>,
    },
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
        /// The tags on each person found or asked about, by email.
        tags: std::collections::BTreeMap<String, Vec<String>>,
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
        for_selection: bool,
    },
    Bulk(BulkReport),
    Undone(UndoReport),
    CategorySet {
        thread_key: String,
        category: Category,
    },
    /// The lead's variables for the insert menu, and the lead itself (a
    /// snippet is filled from it), None when it is not cached.
    Variables {
        variables: Vec<(String, Option<String>)>,
        lead: Option<Box<Lead>>,
    },
    Original {
        thread_key: String,
        view: Box<Option<ThreadView>>,
    },
    Attached {
        draft_id: String,
        attachment: OutgoingAttachment,
    },
    Snippets(Vec<crate::snippets::Snippet>),
    PathCompleted {
        typed: String,
        completion: PathCompletion,
    },
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
        /// The send time the rep picked, when it is not now.
        scheduled: Option<chrono::DateTime<chrono::Utc>>,
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
        for_selection: bool,
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
    /// The door refused a reply or forward; nothing was queued.
    SendRefused {
        draft_id: String,
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
        Job::Assignees { .. } => ("users", Request::Users),
        Job::Assign { key, to, .. } => ("assign", Request::Assign { key, to }),
        Job::LeadIndex => ("leads", Request::LeadIndex),
        Job::LeadRows { keys, tag_emails } => ("lead", Request::LeadRecords { keys, tag_emails }),
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
        Job::Bulk { operation, target } => ("bulk change", Request::Bulk { operation, target }),
        Job::Undo { id } => ("undo", Request::Undo { id: Some(id) }),
        Job::Attachment { key, number, .. } => ("attachment", Request::Attachment { key, number }),
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
        Job::Forward {
            thread_key,
            forward,
            delay_secs,
            ..
        } => (
            "not forwarded",
            Request::Forward {
                key: thread_key,
                forward,
                delay_secs,
            },
        ),
        Job::Original { thread_key } => ("original message", Request::Thread { key: thread_key }),
        // Read from this machine's disk in `run`, never through the door.
        Job::ReadAttachment { .. } | Job::Snippets { .. } | Job::CompletePath { .. } => {
            unreachable!("file jobs are answered in `run`")
        }
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
                .filter(|v| !v.labels.is_empty() || !v.tags.is_empty() || v.assigned_to.is_some())
                .map(|v| {
                    let marks = crate::tui::panes::inbox::RowMarks {
                        labels: v.labels.clone(),
                        tags: v.tags.clone(),
                        assigned_to: v.assigned_to.clone(),
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
            tags: records.tags,
        },
        (Job::Lead { email }, Response::Lead(view)) => JobResult::Lead {
            email,
            view: Box::new(view),
        },
        (Job::Stats, Response::Stats(report)) => JobResult::Stats(Box::new(report)),
        (Job::Sequences, Response::SequencesPane(all)) => JobResult::Sequences(all),
        (
            Job::SequenceNames {
                email,
                for_selection,
            },
            Response::SequencesPane(all),
        ) => JobResult::SequenceNames {
            email,
            names: all.into_iter().map(|s| s.sequence.name).collect(),
            for_selection,
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
        (
            Job::Categories {
                thread_key,
                for_selection,
                ..
            },
            Response::Categories(categories),
        ) => JobResult::Categories {
            thread_key,
            categories,
            for_selection,
        },
        (Job::Bulk { .. }, Response::Bulk(report)) => JobResult::Bulk(report),
        (Job::Undo { .. }, Response::Undone(report)) => JobResult::Undone(report),
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
        (Job::Assignees { thread_key, name }, Response::Users(users)) => JobResult::Assignees {
            thread_key,
            name,
            users: users.into_iter().map(|u| u.name).collect(),
        },
        (Job::Assign { name, .. }, Response::Assignment(assignment)) => {
            JobResult::Done(match assignment {
                Some(a) => format!("{name} is assigned to {}", a.user),
                None => format!("{name} is assigned to nobody"),
            })
        }
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
            Job::QueueReply {
                draft_id, reply, ..
            },
            Response::OutboxItem(item),
        ) => JobResult::Queued {
            item: Box::new(item),
            draft_id,
            scheduled: reply.send_at,
        },
        (
            Job::Forward {
                draft_id, forward, ..
            },
            Response::OutboxItem(item),
        ) => JobResult::Queued {
            item: Box::new(item),
            draft_id,
            scheduled: forward.send_at,
        },
        (Job::QueueNew { draft_id, .. }, Response::OutboxItem(item)) => JobResult::Queued {
            item: Box::new(item),
            draft_id,
            scheduled: None,
        },
        (Job::Original { thread_key }, Response::Thread(view)) => JobResult::Original {
            thread_key,
            view: Box::new(view),
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
    match job {
        Job::ReadAttachment { draft_id, path } => {
            return match tokio::task::spawn_blocking(move || read_attachment(&path)).await {
                Ok(Ok(attachment)) => JobResult::Attached {
                    draft_id,
                    attachment,
                },
                Ok(Err(e)) => JobResult::Failed(format!("not attached: {e}")),
                Err(e) => failed("not attached", e),
            };
        }
        Job::CompletePath { typed } => {
            let asked = typed.clone();
            return match tokio::task::spawn_blocking(move || complete_path(&asked)).await {
                Ok(completion) => JobResult::PathCompleted { typed, completion },
                Err(e) => failed("completion", e),
            };
        }
        Job::Snippets { dir } => {
            return match tokio::task::spawn_blocking(move || crate::snippets::load_all(&dir)).await
            {
                Ok(Ok(snippets)) => JobResult::Snippets(snippets),
                Ok(Err(e)) => failed("snippets", e),
                Err(e) => failed("snippets", e),
            };
        }
        _ => {}
    }
    let (what, request) = request_for(&job);
    match door.execute(request).await {
        // Saved (and opened) here, off the UI task.
        Ok(Response::Attachment(content)) => {
            let (to, open) = match &job {
                Job::Attachment { to, open, .. } => (to.clone(), *open),
                _ => (super::files::downloads_dir(), false),
            };
            let deliver = move || super::files::deliver(&content, &to, open);
            match tokio::task::spawn_blocking(deliver).await {
                Ok(Ok(text)) => JobResult::Done(text),
                Ok(Err(text)) => JobResult::Failed(text),
                Err(e) => failed(what, e),
            }
        }
        Ok(Response::LeadIndex(source)) => {
            // Building sorts every column: off the async workers.
            let built = tokio::task::spawn_blocking(move || {
                let names = source
                    .campaigns
                    .into_iter()
                    .map(|c| ((c.account, c.id), c.name))
                    .collect();
                let mut index = LeadIndex::from_leads(&source.leads, names);
                for (email, tags) in source.tags {
                    index.set_tags(&email, tags);
                }
                index
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
            // The composer stays open with the reason (a route that cannot
            // carry an attachment, say) and what else it could do.
            Job::QueueReply { draft_id, .. } | Job::Forward { draft_id, .. } => {
                JobResult::SendRefused {
                    draft_id,
                    reason: format!("{what}: {e}"),
                }
            }
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
        Some(lead) => JobResult::Variables {
            variables: template_variables(&lead),
            lead: Some(Box::new(lead)),
        },
        None => JobResult::Variables {
            variables: Lead::STANDARD_FIELDS
                .iter()
                .map(|n| (n.to_string(), None))
                .collect(),
            lead: None,
        },
    }
}

/// A typed path completed as far as its folder's entries agree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathCompletion {
    /// The path as typed (its `~` kept), extended by the common part; a
    /// lone folder ends in `/`.
    pub path: String,
    /// The entries still matching when there is more than one.
    pub choices: Vec<String>,
}

/// Completes the last part of a typed path from its folder (hidden entries
/// only when a `.` was typed), as a shell's Tab does.
pub fn complete_path(typed: &str) -> PathCompletion {
    let (folder, start) = match typed.rfind('/') {
        Some(at) => (&typed[..=at], &typed[at + 1..]),
        None => ("", typed),
    };
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    let read_from = if folder.is_empty() {
        std::path::PathBuf::from(".")
    } else {
        crate::config::expand_tilde(std::path::Path::new(folder), home.as_deref())
    };
    let Ok(entries) = std::fs::read_dir(&read_from) else {
        return PathCompletion {
            path: typed.to_string(),
            choices: Vec::new(),
        };
    };
    let mut matches: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let hidden_ok = start.starts_with('.') || !name.starts_with('.');
            (name.starts_with(start) && hidden_ok).then(|| (name, entry.path().is_dir()))
        })
        .collect();
    matches.sort();
    let common = match matches.as_slice() {
        [] => start.to_string(),
        [(name, is_dir)] => format!("{name}{}", if *is_dir { "/" } else { "" }),
        [(first, _), rest @ ..] => {
            let mut common = first.clone();
            for (name, _) in rest {
                while !name.starts_with(&common) {
                    common.pop();
                }
            }
            common
        }
    };
    PathCompletion {
        path: format!("{folder}{common}"),
        choices: if matches.len() > 1 {
            matches.into_iter().map(|(name, _)| name).collect()
        } else {
            Vec::new()
        },
    }
}

/// Reads a file to attach: `~` expanded, refused when Gmail could never
/// carry it.
pub fn read_attachment(typed: &str) -> Result<OutgoingAttachment, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err("type the path of a file".into());
    }
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    let path = crate::config::expand_tilde(std::path::Path::new(typed), home.as_deref());
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(why) = crate::model::attachments_too_large(meta.len()) {
        return Err(format!("{}: {why}", path.display()));
    }
    OutgoingAttachment::from_file(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_completes_a_path_as_far_as_the_folder_agrees() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        std::fs::write(dir.join("pricing-2026.pdf"), "x").unwrap();
        std::fs::write(dir.join("pricing-2025.pdf"), "x").unwrap();
        std::fs::write(dir.join(".secret"), "x").unwrap();
        std::fs::create_dir(dir.join("decks")).unwrap();
        let base = format!("{}/", dir.display());
        let done = complete_path(&format!("{base}pri"));
        assert_eq!(done.path, format!("{base}pricing-202"));
        assert_eq!(done.choices, ["pricing-2025.pdf", "pricing-2026.pdf"]);
        let done = complete_path(&format!("{base}de"));
        assert_eq!(
            done.path,
            format!("{base}decks/"),
            "a lone folder ends in /"
        );
        assert!(done.choices.is_empty());
        let done = complete_path(&base);
        assert!(!done.choices.contains(&".secret".to_string()), "{done:?}");
        let done = complete_path(&format!("{base}nothing"));
        assert_eq!(done.path, format!("{base}nothing"), "no match leaves it");
    }

    #[test]
    fn an_attachment_is_read_whole_with_its_type_and_a_missing_file_is_named() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("Deck.PDF");
        std::fs::write(&path, b"%PDF").unwrap();
        let read = read_attachment(&path.display().to_string()).unwrap();
        assert_eq!(read.filename, "Deck.PDF");
        assert_eq!(read.mime_type, "application/pdf");
        assert_eq!(read.data, b"%PDF");
        let missing = root.path().join("gone.pdf").display().to_string();
        let err = read_attachment(&missing).unwrap_err();
        assert!(err.contains("gone.pdf"), "{err}");
        let err = read_attachment(&root.path().display().to_string()).unwrap_err();
        assert!(err.contains("is not a file"), "{err}");
    }
}
