//! The one door: every query and command a CLI verb runs is a value of
//! [`Request`], answered with a [`Response`] by [`Engine::execute`]
//! in-process, or by [`RemoteEngine::execute`] over `POST /api/exec` on the
//! outpost process that holds the data dir (a TUI or a daemon). A [`Door`]
//! is either one; the caller does not care which.
//!
//! Adding a command: a variant here, its arm in [`Engine::execute`], and the
//! caller that prints it. The HTTP route and the client are already there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::remote::RemoteEngine;
use super::{
    CommandError, Engine, Filters, ForwardDraft, InboxQuery, LeadQuery, LeadView, ReplyDraft,
    ReplyRoute, StatsQuery, StatsReport, ThreadView,
};
use super::{SequenceDetail as PaneDetail, SequenceSummary as PaneSummary};
use crate::model::{
    Account, Campaign, Category, Draft, Enrollment, Lead, OutboxItem, OutboxState, Sequence,
    SequenceStatus, Suppression, Task, TaskOutcome,
};
use crate::sequences::{
    self, ApplyReport, EnrollReport, EnrollmentAction, LeadInput, Plan, PlanQuery, SequenceDetail,
    SequenceError, SequenceSummary,
};
use crate::store::StoreError;
use crate::store::portable::{PortableError, PortableSummary};

/// One query or command, as it travels over the wire (`{"op": "inbox", ...}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Inbox {
        query: InboxQuery,
    },
    /// How many conversations match, and how many are unread.
    InboxCounts {
        query: InboxQuery,
    },
    /// Pull every account now (`outpost sync --once` while another outpost
    /// holds the data dir: the holder syncs).
    Sync,
    Thread {
        key: String,
    },
    Leads {
        query: LeadQuery,
    },
    Lead {
        email: String,
    },
    Stats {
        query: StatsQuery,
    },
    /// The routes a reply to a conversation can take, the default first.
    ReplyRoutes {
        key: String,
    },
    /// Queue a reply and give it one quick try now (the CLI's `reply`: no
    /// undo window). The answer is the item as that try left it: sent, or
    /// still in the outbox with the reason.
    Reply {
        thread_key: String,
        reply: ReplyDraft,
    },
    SequenceList,
    SequenceShow {
        name: String,
    },
    /// A sequence file's text; `file` names it in error messages.
    SequenceApply {
        file: String,
        text: String,
    },
    SequencePause {
        name: String,
    },
    SequenceResume {
        name: String,
    },
    /// `start`: when the first step is due (None: now, on the executor's clock).
    Enroll {
        sequence: String,
        leads: Vec<LeadInput>,
        start: Option<DateTime<Utc>>,
        force: bool,
    },
    Enrollment {
        id: String,
        action: EnrollmentAction,
        reason: Option<String>,
    },
    Plan {
        query: PlanQuery,
    },
    /// Items in these states, oldest first.
    OutboxList {
        states: Vec<OutboxState>,
    },
    /// Cancel a reply or email of the rep's own that has not left (by id or prefix).
    OutboxCancel {
        id: String,
    },
    /// Queue a failed reply or email again (by id or prefix).
    OutboxRetry {
        id: String,
    },

    /// The whole cache as JSON lines (`outpost export` through a holder).
    Export,
    /// Part of an export, whose first line is line `first_line` of the file
    /// (`outpost import` through a holder sends it a few MB at a time).
    Import {
        text: String,
        first_line: u64,
    },

    // What the TUI does beyond the CLI verbs.
    /// The account records.
    Accounts,
    /// Read (opening it), or its replies unread again (the rep's mark).
    MarkRead {
        key: String,
        #[serde(default = "read_by_default")]
        read: bool,
    },
    SetCategory {
        key: String,
        category: Category,
    },
    /// Re-read a conversation from its provider (a follow-up the periodic
    /// sync cannot see yet).
    RefreshThread {
        key: String,
    },
    /// Every lead and campaign name, to build the leads table's index.
    LeadIndex,
    /// Lead records by store key (`account/email`), and the tags on the
    /// people with these emails (tags changed without their records).
    LeadRecords {
        keys: Vec<String>,
        #[serde(default)]
        tag_emails: Vec<String>,
    },
    LeadRecord {
        key: String,
    },
    Categories {
        account: String,
    },
    Draft {
        thread_key: String,
    },
    SaveDraft {
        draft: Draft,
    },
    DeleteDraft {
        id: String,
    },
    /// A reply that leaves after the undo window (at most an hour).
    QueueReply {
        thread_key: String,
        reply: ReplyDraft,
        delay_secs: u64,
    },
    /// A conversation forwarded to someone new (`Fwd:` and the original
    /// below); it leaves after the undo window (0 from the CLI), or at the
    /// draft's `send_at`.
    Forward {
        key: String,
        forward: ForwardDraft,
        delay_secs: u64,
    },
    /// A new email to a lead; template variables are filled from the lead.
    QueueNew {
        lead_key: String,
        subject: String,
        body: String,
        delay_secs: u64,
    },
    /// Give a queued send its one quick try now, before its time (the TUI
    /// quitting during an undo window); the answer is the item after it.
    SendNow {
        id: String,
    },
    /// Undo a queued send; the answer says whether it was still in time.
    CancelOutbox {
        id: String,
    },
    OutboxItem {
        id: String,
    },
    /// Sequences with the sequences pane's state counts and funnel.
    SequencesPane,
    SequencePane {
        name: String,
    },
    SetSequenceStatus {
        name: String,
        status: SequenceStatus,
    },
    /// An email step's text edited in the composer (checked like `apply`).
    UpdateStepText {
        sequence: String,
        step: usize,
        variant: Option<String>,
        subject: Option<String>,
        body: String,
    },
    EnrollLead {
        sequence: String,
        email: String,
        /// Past the enrollment guard (a suppression still refuses).
        #[serde(default)]
        force: bool,
    },
    /// Pause every active enrollment of a lead.
    PauseLead {
        email: String,
    },
    /// Resume every paused enrollment of a lead.
    ResumeLead {
        email: String,
    },
    Suppress {
        account: String,
        email: String,
    },
    // Done, snooze and reminders (engine/triage.rs).
    Archive {
        key: String,
        archived: bool,
    },
    Snooze {
        key: String,
        until: Option<DateTime<Utc>>,
    },
    ClearWokenSnooze {
        key: String,
    },
    Remind {
        key: String,
        at: DateTime<Utc>,
        note: Option<String>,
    },
    Reminders {
        all: bool,
    },
    ReminderDone {
        id: String,
    },

    // Bulk changes and their undo (engine/bulk.rs).
    /// One operation on many conversations (or leads), kept for one undo.
    Bulk {
        operation: crate::model::BulkOp,
        target: super::BulkTarget,
    },
    /// Undo a bulk change: the latest not yet undone, or the one `id` names.
    Undo {
        id: Option<String>,
    },

    // Attachments received (engine/attachments.rs).
    /// A conversation's attachments, numbered from 1.
    Attachments {
        key: String,
    },
    /// One attachment's bytes (from Gmail).
    Attachment {
        key: String,
        number: usize,
    },
    // Local tags (engine/tags.rs).
    /// Add and remove tags on a conversation (its key) or a lead (its
    /// email or key); the answer is the tags as they are after.
    Tag {
        key: String,
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    /// Tags in use, with how many conversations and leads carry each.
    Tags,

    // The rep's tasks (sequence task steps and tasks added by hand).
    /// Open tasks due by the end of today in `[sending].timezone`, earliest
    /// first; with `all`, every task, later and closed ones too.
    Tasks {
        #[serde(default)]
        all: bool,
    },
    TaskAdd {
        lead: String,
        title: String,
        /// None: due now, on the executor's clock.
        due: Option<DateTime<Utc>>,
    },
    /// Mark a task done or skipped (by id or a unique prefix); a sequence
    /// task's next step then becomes due.
    TaskClose {
        id: String,
        outcome: TaskOutcome,
        note: Option<String>,
    },
    /// When each enrollment of a sequence (of one lead) next sends, from the plan.
    NextSends {
        sequence: String,
        lead: Option<String>,
    },
    /// Each Gmail mailbox's sends, bounces, bounce rate and bounce pause.
    MailboxBounces,
    /// Let a mailbox its bounce rate paused send sequence steps again.
    MailboxResume {
        mailbox: String,
    },
    /// Deliverability preflight of a sequence's sending domains and unsubscribe
    /// headers, and of these leads' mail servers (DNS lookups; warnings only).
    Preflight {
        sequence: String,
        leads: Vec<String>,
    },

    // Users of a shared outpost (engine/users.rs).
    /// Mint a user's API token (replacing the one they had); shown once.
    UserToken {
        name: String,
    },
    /// The configured users and whether each has a token.
    Users,
    /// Assign a conversation to a user, or to nobody (`to` None).
    Assign {
        key: String,
        to: Option<String>,
    },
    /// Store a provider account's secret, sealed (engine/credentials.rs).
    AccountAdd {
        account: super::credentials::NewAccount,
    },
    /// The accounts added through `AccountAdd` (never their secrets).
    StoredAccounts,
}

/// The answer to a [`Request`] (`{"kind": "threads", "value": [...]}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Response {
    Threads(Vec<ThreadView>),
    InboxCounts(super::InboxCounts),
    Synced(crate::sync::SyncSummary),
    Thread(Option<ThreadView>),
    Leads(Vec<super::TaggedLead>),
    Lead(Option<LeadView>),
    Stats(StatsReport),
    Sequences(Vec<SequenceSummary>),
    SequenceDetail(Option<SequenceDetail>),
    Applied(ApplyReport),
    Sequence(Sequence),
    Enrolled(EnrollReport),
    Enrollment(Enrollment),
    Plan(Plan),
    OutboxItem(OutboxItem),
    OutboxItems(Vec<OutboxItem>),
    MaybeOutboxItem(Option<OutboxItem>),
    Accounts(Vec<Account>),
    /// Whether the command changed something.
    Flag(bool),
    /// How many records the command touched.
    Count(usize),
    Done,
    LeadIndex(LeadIndexSource),
    LeadRecords(LeadRecords),
    LeadRecord(Option<Lead>),
    Categories(Vec<Category>),
    Draft(Option<Draft>),
    SequencesPane(Vec<PaneSummary>),
    SequencePane(Option<PaneDetail>),
    Suppression(Suppression),
    ReplyRoutes(Vec<ReplyRoute>),
    Triage(crate::model::Triage),
    Reminder(crate::model::Reminder),
    Reminders(Vec<super::ReminderView>),
    TagSet(crate::model::TagSet),
    Tags(Vec<super::TagCount>),
    Tasks(Vec<Task>),
    Task(Task),
    NextSends(std::collections::BTreeMap<String, DateTime<Utc>>),
    Mailboxes(Vec<super::MailboxBounces>),
    Mailbox(super::MailboxBounces),
    Preflight(super::preflight::PreflightReport),
    Exported {
        text: String,
        summary: PortableSummary,
    },
    Imported(PortableSummary),
    Bulk(super::BulkReport),
    Undone(super::UndoReport),
    Attachments(Vec<super::AttachmentView>),
    Attachment(super::AttachmentContent),
    UserToken(super::MintedToken),
    Users(Vec<super::UserView>),
    Assignment(Option<crate::model::Assignment>),
    StoredAccount(super::credentials::StoredAccountView),
    StoredAccounts(Vec<super::credentials::StoredAccountView>),
}

/// The answer to [`Request::LeadRecords`]: the records found and the keys that are gone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadRecords {
    pub found: Vec<Lead>,
    pub missing: Vec<String>,
    /// The tags on each person found or asked about, by email (none: untagged).
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, Vec<String>>,
}

/// One campaign's display name, for the leads table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignName {
    pub account: String,
    pub id: i64,
    pub name: String,
}

/// Everything the leads table's in-memory index is built from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadIndexSource {
    pub leads: Vec<Lead>,
    pub campaigns: Vec<CampaignName>,
    /// The tags on every tagged person, by email.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, Vec<String>>,
}

/// What kind of failure, kept across the wire: the CLI exits 2 for the
/// first two (the rep can fix the input) and 1 for the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    Invalid,
    Runtime,
    /// Outside what the asking user may see or do.
    Forbidden,
}

impl ErrorKind {
    /// The `code` of the API's error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Runtime => "runtime",
            ErrorKind::Forbidden => "forbidden",
        }
    }

    pub fn parse(code: &str) -> ErrorKind {
        match code {
            "not_found" => ErrorKind::NotFound,
            "invalid" => ErrorKind::Invalid,
            "forbidden" => ErrorKind::Forbidden,
            _ => ErrorKind::Runtime,
        }
    }
}

/// A failed request: its kind and the message that says what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct DoorError {
    pub kind: ErrorKind,
    pub message: String,
}

impl DoorError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Runtime, message)
    }

    /// An answer of the wrong kind: the two ends run different outpost builds.
    pub fn unexpected(response: &Response) -> Self {
        let kind = serde_json::to_value(response)
            .ok()
            .and_then(|v| v["kind"].as_str().map(str::to_string))
            .unwrap_or_default();
        Self::runtime(format!(
            "unexpected answer ({kind}) from the outpost holding the data dir; \
             are both the same outpost version?"
        ))
    }
}

impl From<StoreError> for DoorError {
    fn from(e: StoreError) -> Self {
        Self::runtime(e.to_string())
    }
}

impl From<PortableError> for DoorError {
    fn from(e: PortableError) -> Self {
        match e {
            PortableError::BadLine { .. } => Self::invalid(e.to_string()),
            other => Self::runtime(other.to_string()),
        }
    }
}

impl From<CommandError> for DoorError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NotFound(m) => Self::new(ErrorKind::NotFound, m),
            CommandError::Invalid(m) => Self::invalid(m),
            CommandError::Store(s) => s.into(),
        }
    }
}

impl From<SequenceError> for DoorError {
    fn from(e: SequenceError) -> Self {
        match e {
            SequenceError::NotFound(m) => Self::new(ErrorKind::NotFound, m),
            SequenceError::Format(_) | SequenceError::Invalid(_) => Self::invalid(e.to_string()),
            other => Self::runtime(other.to_string()),
        }
    }
}

pub type DoorResult<T = Response> = Result<T, DoorError>;

/// A send's undo window, at most an hour.
fn undo_window(delay_secs: u64) -> DoorResult<chrono::Duration> {
    if delay_secs > 3600 {
        return Err(DoorError::invalid(
            "the undo window must be between 0 and 3600 seconds",
        ));
    }
    Ok(chrono::Duration::seconds(delay_secs as i64))
}

/// A reply the CLI sends at once is held this far ahead while it is being
/// sent, so the holder's own outbox worker (which sends only what is due)
/// never picks it up at the same moment.
const HOLD_WHILE_SENDING: chrono::Duration = chrono::Duration::hours(1);

/// The longest a queued reply's first try holds the command that queued it.
const FIRST_ATTEMPT_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Engine {
    /// Makes a just-queued send durable, then gives it the one quick try the
    /// rep waits for (never the outbox's retries); a send for later is left
    /// to wait for its time.
    async fn first_attempt_unless_scheduled(&self, item: OutboxItem) -> DoorResult<OutboxItem> {
        self.store().flush_async().await?;
        if item.send_at.is_some() {
            return Ok(item);
        }
        let sent = crate::outbox::OutboxWorker::new(self.clone())
            .first_attempt(item, FIRST_ATTEMPT_LIMIT)
            .await?;
        self.store().flush_async().await?;
        Ok(sent)
    }

    /// Answers one request on this process's data, as its owner.
    pub async fn execute(&self, request: Request) -> DoorResult {
        self.execute_as(&self.owner(), request).await
    }

    /// Answers one request as `viewer` sees the data: a user's queries are
    /// narrowed to their accounts and commands outside them refused.
    pub async fn execute_as(&self, viewer: &super::Viewer, mut request: Request) -> DoorResult {
        self.admit(viewer, &mut request)?;
        let answer = match request {
            // Who assigns is the one thing a command records about the asker.
            Request::Assign { key, to } => {
                Response::Assignment(self.assign(&key, to.as_deref(), viewer.user())?)
            }
            Request::AccountAdd { account } => {
                Response::StoredAccount(self.add_stored_account(&account, viewer)?)
            }
            Request::StoredAccounts => Response::StoredAccounts(self.stored_accounts(viewer)?),
            request => self.execute_admitted(request).await?,
        };
        Ok(self.narrow(viewer, answer))
    }

    async fn execute_admitted(&self, request: Request) -> DoorResult {
        let store = self.store();
        let now = self.clock().now();
        Ok(match request {
            Request::Inbox { query } => {
                self.check_filters(Filters {
                    account: query.account.as_deref(),
                    campaign_id: query.campaign_id,
                    category: query.category.as_deref(),
                    ..Filters::default()
                })?;
                Response::Threads(self.inbox(&query)?)
            }
            Request::InboxCounts { query } => Response::InboxCounts(self.inbox_counts(&query)?),
            // Idempotent and compare-and-swap throughout, so it may overlap
            // the holder's own pollers.
            Request::Sync => {
                Response::Synced(crate::sync::SyncEngine::new(self.clone()).sync_all().await)
            }
            Request::Thread { key } => Response::Thread(self.thread(&key)?),
            Request::Leads { query } => {
                self.check_filters(Filters {
                    account: query.account.as_deref(),
                    campaign_id: query.campaign_id,
                    ..Filters::default()
                })?;
                Response::Leads(self.tagged_leads(&query)?)
            }
            Request::Lead { email } => Response::Lead(self.lead(&email)?),
            Request::Stats { query } => {
                self.check_filters(Filters {
                    account: query.account.as_deref(),
                    campaign_id: query.campaign_id,
                    ..Filters::default()
                })?;
                Response::Stats(self.stats(&query)?)
            }
            Request::ReplyRoutes { key } => Response::ReplyRoutes(self.reply_routes(&key)?),
            Request::Reply { thread_key, reply } => {
                // A reply for later waits in the outbox for its time.
                let hold = match reply.send_at {
                    Some(_) => chrono::Duration::zero(),
                    None => HOLD_WHILE_SENDING,
                };
                let item = self.queue_reply(&thread_key, &reply, hold)?;
                Response::OutboxItem(self.first_attempt_unless_scheduled(item).await?)
            }
            Request::SequenceList => Response::Sequences(sequences::list(store)?),
            Request::SequenceShow { name } => {
                Response::SequenceDetail(sequences::show(store, &name)?)
            }
            Request::SequenceApply { file, text } => Response::Applied(sequences::apply_sequence(
                store,
                &file,
                &text,
                &self.settings().sending,
                now,
            )?),
            Request::SequencePause { name } => {
                Response::Sequence(sequences::pause_sequence(store, &name, now)?)
            }
            Request::SequenceResume { name } => {
                Response::Sequence(sequences::resume_sequence(store, &name, now)?)
            }
            Request::Enroll {
                sequence,
                leads,
                start,
                force,
            } => Response::Enrolled(sequences::enroll_leads(
                store,
                &sequence,
                &leads,
                start.unwrap_or(now),
                force,
                now,
            )?),
            Request::Enrollment { id, action, reason } => Response::Enrollment(
                sequences::set_enrollment_state(store, &id, action, reason.as_deref(), now)?,
            ),
            Request::Plan { query } => {
                self.check_filters(Filters {
                    sequence: query.sequence.as_deref(),
                    ..Filters::default()
                })?;
                let config = self.settings().scheduler()?;
                let mut plan = sequences::plan(store, &config, &query, now)?;
                self.fill_smartlead_copy(&mut plan).await;
                Response::Plan(plan)
            }
            Request::OutboxList { states } => {
                let mut items = Vec::new();
                for state in states {
                    items.extend(self.outbox_in_state(state)?);
                }
                items.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
                Response::OutboxItems(items)
            }
            Request::OutboxCancel { id } => Response::OutboxItem(self.cancel_own_send(&id)?),
            Request::OutboxRetry { id } => {
                let item = self.find_outbox_item(&id)?;
                Response::OutboxItem(self.retry_outbox(&item.id)?)
            }
            Request::Export => {
                let mut out = Vec::new();
                let summary = self.export_to(&mut out)?;
                let text = String::from_utf8(out)
                    .map_err(|_| DoorError::runtime("the export is not UTF-8"))?;
                Response::Exported { text, summary }
            }
            Request::Import { text, first_line } => Response::Imported(
                self.import_from(&mut std::io::Cursor::new(text.as_bytes()), first_line)?,
            ),
            Request::Accounts => Response::Accounts(self.accounts()?),
            Request::MarkRead { key, read } => Response::Flag(self.set_thread_read(&key, read)?),
            Request::Archive { key, archived } => Response::Triage(self.archive(&key, archived)?),
            Request::Snooze { key, until } => Response::Triage(self.snooze(&key, until)?),
            Request::ClearWokenSnooze { key } => Response::Flag(self.clear_woken_snooze(&key)?),
            Request::Remind { key, at, note } => Response::Reminder(self.remind(&key, at, note)?),
            Request::Reminders { all } => Response::Reminders(self.reminders(all)?),
            Request::Tag { key, add, remove } => Response::TagSet(self.tag(&key, &add, &remove)?),
            Request::Tags => Response::Tags(self.tags()?),
            Request::ReminderDone { id } => Response::Reminder(self.reminder_done(&id)?),
            Request::Bulk { operation, target } => {
                Response::Bulk(self.bulk(&operation, &target).await?)
            }
            Request::Undo { id } => Response::Undone(self.undo_bulk(id.as_deref()).await?),
            Request::Attachments { key } => Response::Attachments(self.attachments(&key)?),
            Request::Attachment { key, number } => {
                Response::Attachment(self.attachment(&key, number).await?)
            }
            Request::SetCategory { key, category } => {
                self.set_thread_category(&key, category).await?;
                Response::Done
            }
            Request::RefreshThread { key } => Response::Flag(
                crate::sync::SyncEngine::new(self.clone())
                    .refresh_thread(&key)
                    .await
                    .map_err(|e| match e {
                        crate::sync::SyncError::Store(s) => DoorError::from(s),
                        provider => DoorError::runtime(provider.to_string()),
                    })?,
            ),
            Request::LeadIndex => Response::LeadIndex(self.lead_index_source()?),
            Request::LeadRecords { keys, tag_emails } => {
                let mut records = LeadRecords::default();
                for key in keys {
                    match store.get::<Lead>(&key)? {
                        Some(lead) => records.found.push(lead),
                        None => records.missing.push(key),
                    }
                }
                let emails = records.found.iter().map(|l| l.email.clone());
                for email in emails.chain(tag_emails) {
                    let email = crate::model::normalize_email(&email);
                    let target = crate::model::TagTarget::lead(&email);
                    let tags = store
                        .get::<crate::model::TagSet>(&target.record_key())?
                        .map(|set| set.tags)
                        .unwrap_or_default();
                    records.tags.insert(email, tags);
                }
                Response::LeadRecords(records)
            }
            Request::LeadRecord { key } => Response::LeadRecord(store.get::<Lead>(&key)?),
            Request::Categories { account } => Response::Categories(self.categories(&account)?),
            Request::Draft { thread_key } => Response::Draft(self.draft_for_thread(&thread_key)?),
            Request::SaveDraft { draft } => {
                self.save_draft(&draft)?;
                Response::Done
            }
            Request::DeleteDraft { id } => Response::Flag(self.delete_draft(&id)?),
            Request::QueueReply {
                thread_key,
                reply,
                delay_secs,
            } => Response::OutboxItem(self.queue_reply(
                &thread_key,
                &reply,
                undo_window(delay_secs)?,
            )?),
            Request::Forward {
                key,
                forward,
                delay_secs,
            } => {
                // No undo window (the CLI): one quick try now, as a reply gets.
                let at_once = delay_secs == 0 && forward.send_at.is_none();
                let hold = match at_once {
                    true => HOLD_WHILE_SENDING,
                    false => undo_window(delay_secs)?,
                };
                let item = self.queue_forward(&key, &forward, hold).await?;
                match at_once {
                    true => Response::OutboxItem(self.first_attempt_unless_scheduled(item).await?),
                    false => Response::OutboxItem(item),
                }
            }
            Request::QueueNew {
                lead_key,
                subject,
                body,
                delay_secs,
            } => Response::OutboxItem(self.queue_new_email(
                &lead_key,
                &subject,
                &body,
                undo_window(delay_secs)?,
            )?),
            Request::SendNow { id } => {
                let item = self.outbox_item(&id)?.ok_or_else(|| {
                    DoorError::new(ErrorKind::NotFound, format!("no outbox item {id}"))
                })?;
                let item = crate::outbox::OutboxWorker::new(self.clone())
                    .first_attempt(item, FIRST_ATTEMPT_LIMIT)
                    .await?;
                store.flush_async().await?;
                Response::OutboxItem(item)
            }
            Request::CancelOutbox { id } => Response::Flag(self.cancel_outbox(&id)?),
            Request::OutboxItem { id } => Response::MaybeOutboxItem(self.outbox_item(&id)?),
            Request::SequencesPane => Response::SequencesPane(self.sequences()?),
            Request::SequencePane { name } => Response::SequencePane(self.sequence_detail(&name)?),
            Request::SetSequenceStatus { name, status } => {
                Response::Sequence(self.set_sequence_status(&name, status)?)
            }
            Request::UpdateStepText {
                sequence,
                step,
                variant,
                subject,
                body,
            } => Response::Sequence(sequences::update_step_text(
                store,
                &sequence,
                step,
                variant.as_deref(),
                subject.as_deref(),
                Some(&body),
                now,
            )?),
            Request::EnrollLead {
                sequence,
                email,
                force,
            } => Response::Enrollment(self.enroll_lead(&sequence, &email, force)?),
            Request::PauseLead { email } => Response::Count(self.pause_lead(&email)?),
            Request::ResumeLead { email } => Response::Count(self.resume_lead(&email)?),
            Request::Suppress { account, email } => {
                Response::Suppression(self.suppress_lead(&account, &email)?)
            }

            Request::Tasks { all } => {
                let today_ends = sequences::end_of_day(now, self.settings().sending.timezone);
                Response::Tasks(sequences::list_tasks(store, all, today_ends)?)
            }
            Request::TaskAdd { lead, title, due } => {
                Response::Task(sequences::add_task(store, &lead, &title, due, now)?)
            }
            Request::TaskClose { id, outcome, note } => Response::Task(sequences::close_task(
                store,
                &id,
                outcome,
                note.as_deref(),
                now,
            )?),
            Request::NextSends { sequence, lead } => {
                Response::NextSends(self.next_sends(&sequence, lead.as_deref())?)
            }
            Request::MailboxBounces => Response::Mailboxes(self.mailbox_bounces()?),
            Request::MailboxResume { mailbox } => Response::Mailbox(self.resume_mailbox(&mailbox)?),
            Request::Preflight { sequence, leads } => {
                Response::Preflight(self.preflight(&sequence, &leads).await?)
            }

            Request::UserToken { name } => Response::UserToken(self.mint_user_token(&name)?),
            Request::Users => Response::Users(self.users()?),
            Request::Assign { key, to } => {
                Response::Assignment(self.assign(&key, to.as_deref(), None)?)
            }
            Request::AccountAdd { account } => {
                Response::StoredAccount(self.add_stored_account(&account, &self.owner())?)
            }
            Request::StoredAccounts => {
                Response::StoredAccounts(self.stored_accounts(&self.owner())?)
            }
        })
    }

    /// Every lead and campaign name (the leads table's index is built from them).
    fn lead_index_source(&self) -> DoorResult<LeadIndexSource> {
        let store = self.store();
        let mut source = LeadIndexSource::default();
        for campaign in store.iter::<Campaign>() {
            let campaign = campaign?;
            source.campaigns.push(CampaignName {
                account: campaign.account,
                id: campaign.id,
                name: campaign.name,
            });
        }
        source.leads.reserve(store.count::<Lead>());
        for lead in store.iter::<Lead>() {
            source.leads.push(lead?);
        }
        source.tags = self.lead_tag_map()?.into_iter().collect();
        Ok(source)
    }

    /// Cancels a reply or email of the rep's own by id or prefix; a sequence
    /// step is paused or stopped through its enrollment instead.
    fn cancel_own_send(&self, id: &str) -> DoorResult<OutboxItem> {
        let item = self.find_outbox_item(id)?;
        if let Some(enrollment) = &item.enrollment_id {
            return Err(DoorError::invalid(format!(
                "outbox item {} is a step of enrollment {enrollment}; pause or stop the \
                 enrollment instead (outpost enrollment pause {enrollment})",
                item.id
            )));
        }
        if !self.cancel_outbox(&item.id)? {
            return Err(DoorError::invalid(format!(
                "outbox item {} is {}; only a send that has not left can be cancelled",
                item.id,
                item.state.as_str()
            )));
        }
        self.outbox_item(&item.id)?
            .ok_or_else(|| DoorError::runtime(format!("outbox item {} vanished", item.id)))
    }
}

/// Where requests go: this process's engine, or the engine API of the
/// process that holds the data dir.
#[derive(Debug, Clone)]
pub enum Door {
    Local(Engine),
    Remote(RemoteEngine),
}

impl From<Engine> for Door {
    fn from(engine: Engine) -> Self {
        Door::Local(engine)
    }
}

impl From<RemoteEngine> for Door {
    fn from(remote: RemoteEngine) -> Self {
        Door::Remote(remote)
    }
}

impl Door {
    /// Runs a request; a local one on a blocking thread, so the async
    /// runtime (a UI task, a server) never waits on the disk.
    pub async fn execute(&self, request: Request) -> DoorResult {
        match self {
            Door::Local(engine) => self.execute_as(engine.owner(), request).await,
            Door::Remote(remote) => remote.execute(&request).await,
        }
    }

    /// Runs a request as `viewer` (the daemon's API, for the token's user).
    /// A remote door's viewer is the token it holds.
    pub async fn execute_as(&self, viewer: super::Viewer, request: Request) -> DoorResult {
        match self {
            Door::Local(engine) => {
                let engine = engine.clone();
                let runtime = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || {
                    runtime.block_on(engine.execute_as(&viewer, request))
                })
                .await
                .unwrap_or_else(|e| Err(DoorError::runtime(format!("the request stopped: {e}"))))
            }
            Door::Remote(remote) => remote.execute(&request).await,
        }
    }

    /// Lets the local engine's writes reach the disk before the process exits.
    pub async fn flush(&self) -> DoorResult<()> {
        if let Door::Local(engine) = self {
            engine.flush().await?;
        }
        Ok(())
    }
}

fn read_by_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_round_trip_through_json() {
        let requests = vec![
            Request::Inbox {
                query: InboxQuery {
                    unread_only: true,
                    search: Some("pricing".into()),
                    limit: Some(5),
                    ..InboxQuery::default()
                },
            },
            Request::Reply {
                thread_key: "sl/1:2".into(),
                reply: ReplyDraft {
                    text: "Tuesday works".into(),
                    ..ReplyDraft::default()
                },
            },
            Request::Enroll {
                sequence: "cfo".into(),
                leads: vec![LeadInput::email("dana@ledgerly.example")],
                start: Some("2026-03-02T12:00:00Z".parse().unwrap()),
                force: true,
            },
            Request::Enrollment {
                id: "abcdef".into(),
                action: EnrollmentAction::Stop,
                reason: Some("asked".into()),
            },
            Request::OutboxList {
                states: vec![OutboxState::Failed],
            },
            Request::SequenceList,
            Request::Bulk {
                operation: crate::model::BulkOp::Snooze {
                    until: "2026-03-03T09:00:00Z".parse().unwrap(),
                },
                target: super::super::BulkTarget::Query {
                    query: InboxQuery {
                        search: Some("pricing".into()),
                        ..InboxQuery::default()
                    },
                },
            },
            Request::Undo {
                id: Some("bulk-1a2b3c4d".into()),
            },
            Request::Attachment {
                key: "gm/1".into(),
                number: 2,
            },
        ];
        for request in requests {
            let text = serde_json::to_string(&request).unwrap();
            let back: Request = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), text);
        }
        let text = serde_json::to_string(&Request::SequenceList).unwrap();
        assert_eq!(text, r#"{"op":"sequence_list"}"#);

        let answers = vec![
            Response::Thread(None),
            Response::Threads(Vec::new()),
            Response::Enrolled(EnrollReport {
                sequence: "cfo".into(),
                ..EnrollReport::default()
            }),
            Response::Bulk(super::super::BulkReport {
                id: Some("bulk-1a2b3c4d".into()),
                op: crate::model::BulkOp::Category {
                    name: "Interested".into(),
                },
                changed: vec!["sl/1:2".into()],
                unchanged: Vec::new(),
                failed: vec![super::super::BulkSkip {
                    key: "sl/1:3".into(),
                    reason: "Smartlead refused".into(),
                }],
            }),
            // Bytes travel as base64 and come back the same.
            Response::Attachment(super::super::AttachmentContent {
                number: 1,
                filename: "overview.pdf".into(),
                mime_type: "application/pdf".into(),
                data: vec![0, 159, 146, 150, 255],
            }),
        ];
        for answer in answers {
            let text = serde_json::to_string(&answer).unwrap();
            assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), answer);
        }
        let error = DoorError::new(ErrorKind::NotFound, "no sequence \"x\"");
        let text = serde_json::to_string(&error).unwrap();
        assert_eq!(serde_json::from_str::<DoorError>(&text).unwrap(), error);
    }

    #[test]
    fn failures_keep_their_kind() {
        let from_sequences: DoorError = SequenceError::NotFound("gone".into()).into();
        assert_eq!(from_sequences.kind, ErrorKind::NotFound);
        let from_commands: DoorError = CommandError::Invalid("empty".into()).into();
        assert_eq!(from_commands.kind, ErrorKind::Invalid);
        for kind in [ErrorKind::NotFound, ErrorKind::Invalid, ErrorKind::Runtime] {
            assert_eq!(ErrorKind::parse(kind.as_str()), kind);
        }
    }
}
