//! Users of a shared outpost: who asks ([`Viewer`]), what each sees, and
//! the API tokens they authenticate with.
//!
//! What belongs to whom, in one place: every record carries the account
//! (config name) it came from or goes out through, and a user sees a
//! record when [`Viewer::sees`] its account:
//!
//! - a conversation: any account holding a copy of it (Smartlead's and the
//!   Gmail mailbox it was sent through are one conversation; either makes
//!   it visible);
//! - a lead record: its `account` (the Smartlead account whose campaigns it
//!   is in, or the Gmail account that met it); a lead seen through several
//!   accounts shows only the records, enrollments and activity of the
//!   user's;
//! - campaigns, sequences, enrollments, outbox items, drafts, tasks,
//!   suppressions: their `account`.
//!
//! Lists leave out what a user does not see; naming one thing outside the
//! user's accounts (a conversation key, a sequence, an outbox item) is
//! refused as forbidden (403), the same whether it exists elsewhere or not,
//! so a user cannot probe what other accounts hold. What
//! spans every account (sync, export and import, sequence files, tokens,
//! pausing a lead everywhere, undo) is for admins. The live change stream
//! is narrowed the same way ([`Engine::change_for`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::door::{DoorError, DoorResult, ErrorKind, Request, Response};
use super::{Engine, TimelineItem};
use crate::model::{Assignment, Enrollment, OutboxItem, Sequence, Thread, UserToken};

/// What a token starts with, so one is recognised in a config or a log scan.
pub const TOKEN_PREFIX: &str = "op_";

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// The data dir's owner (a local command, the `api.token`) or an admin
    /// user: sees everything. `user`: who "me" is, when known.
    Admin { user: Option<String> },
    /// A user: sees their accounts only.
    User {
        name: String,
        accounts: BTreeSet<String>,
    },
}

impl Viewer {
    /// Whether records of this account are the viewer's to see.
    pub fn sees(&self, account: &str) -> bool {
        match self {
            Viewer::Admin { .. } => true,
            Viewer::User { accounts, .. } => accounts.contains(account),
        }
    }

    /// The accounts a user sees; None: every account.
    pub fn accounts(&self) -> Option<&BTreeSet<String>> {
        match self {
            Viewer::Admin { .. } => None,
            Viewer::User { accounts, .. } => Some(accounts),
        }
    }

    /// Who "me" is (`inbox --mine`, `assigned:me`).
    pub fn user(&self) -> Option<&str> {
        match self {
            Viewer::Admin { user } => user.as_deref(),
            Viewer::User { name, .. } => Some(name),
        }
    }

    /// The viewer a configured user authenticates as.
    pub fn for_user(user: &crate::config::User) -> Viewer {
        match user.admin {
            true => Viewer::Admin {
                user: Some(user.name.clone()),
            },
            false => Viewer::User {
                name: user.name.clone(),
                accounts: user.accounts.clone(),
            },
        }
    }

    /// Whether a conversation is the viewer's: any account holding a copy.
    pub fn sees_conversation(&self, thread: &Thread) -> bool {
        self.accounts().is_none()
            || super::conversation_accounts(thread)
                .iter()
                .any(|a| self.sees(a))
    }
}

/// What narrows a query to a viewer; set by the door, never by the caller
/// (it does not travel over the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only these accounts' records; None: every account.
    pub accounts: Option<BTreeSet<String>>,
    /// Who "me" is for `assigned:me` and `--mine`.
    pub me: Option<String>,
}

impl Scope {
    pub fn of(viewer: &Viewer) -> Scope {
        Scope {
            accounts: viewer.accounts().cloned(),
            me: viewer.user().map(str::to_string),
        }
    }

    pub fn sees(&self, account: &str) -> bool {
        self.accounts.as_ref().is_none_or(|a| a.contains(account))
    }
}

/// A token just minted: shown once, never stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintedToken {
    pub user: String,
    pub token: String,
    pub created_at: DateTime<Utc>,
    /// True when it replaced an earlier token (which no longer works).
    pub replaced: bool,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("user", &self.user)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// One configured user, as `outpost user list` shows them (never a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub name: String,
    pub admin: bool,
    pub accounts: Vec<String>,
    pub has_token: bool,
    pub token_created_at: Option<DateTime<Utc>>,
}

/// The SHA-256 of a token, as the store keeps it (hex).
fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 bytes from the operating system's RNG, URL-safe base64 after the prefix.
fn new_token() -> DoorResult<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| DoorError::runtime(format!("the system's random source failed: {e}")))?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

fn forbidden(message: String) -> DoorError {
    DoorError::new(ErrorKind::Forbidden, message)
}

impl Engine {
    fn configured_user(&self, name: &str) -> DoorResult<&crate::config::User> {
        self.settings().users.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.settings().users.keys().map(String::as_str).collect();
            DoorError::invalid(match known.is_empty() {
                true => format!("no user {name:?}: declare one as a [users.NAME] section"),
                false => format!("no user {name:?}; the users are: {}", known.join(", ")),
            })
        })
    }

    /// Mints a user's API token; the store keeps its hash only, and a new
    /// token replaces the user's old one.
    pub fn mint_user_token(&self, name: &str) -> DoorResult<MintedToken> {
        self.configured_user(name)?;
        let token = new_token()?;
        let record = UserToken {
            user: name.to_string(),
            hash: token_hash(&token),
            created_at: self.clock().now(),
        };
        let replaced = self
            .store()
            .modify::<UserToken, bool>(&[name.to_string()], |_, old| {
                Some((record.clone(), old.is_some()))
            })?;
        Ok(MintedToken {
            user: name.to_string(),
            token,
            created_at: record.created_at,
            replaced: replaced.first().copied().unwrap_or(false),
        })
    }

    /// Every configured user, and whether they have a token.
    pub fn users(&self) -> DoorResult<Vec<UserView>> {
        let mut tokens: BTreeMap<String, UserToken> = BTreeMap::new();
        for token in self.store().iter::<UserToken>() {
            let token = token?;
            tokens.insert(token.user.clone(), token);
        }
        Ok(self
            .settings()
            .users
            .values()
            .map(|u| UserView {
                name: u.name.clone(),
                admin: u.admin,
                accounts: u.accounts.iter().cloned().collect(),
                has_token: tokens.contains_key(&u.name),
                token_created_at: tokens.get(&u.name).map(|t| t.created_at),
            })
            .collect())
    }

    /// The viewer a user token authenticates as; None for a token no
    /// configured user holds. Every stored hash is compared in constant time.
    pub fn viewer_for_token(&self, token: &str) -> DoorResult<Option<Viewer>> {
        let given = token_hash(token);
        let mut found = None;
        for record in self.store().iter::<UserToken>() {
            let record = record?;
            if bool::from(record.hash.as_bytes().ct_eq(given.as_bytes())) {
                found = Some(record.user);
            }
        }
        let Some(user) = found.and_then(|user| self.settings().users.get(&user)) else {
            return Ok(None);
        };
        let mut viewer = Viewer::for_user(user);
        // The accounts a user added through the API are theirs too.
        if let Viewer::User { name, accounts } = &mut viewer {
            for stored in self.store().iter::<crate::model::StoredAccount>() {
                let stored = stored?;
                if stored.owner.as_deref() == Some(name.as_str()) {
                    accounts.insert(stored.name);
                }
            }
        }
        Ok(Some(viewer))
    }

    /// Who each conversation is assigned to, by conversation key.
    pub(crate) fn assignment_map(&self) -> crate::store::StoreResult<HashMap<String, String>> {
        self.store()
            .iter::<Assignment>()
            .map(|a| a.map(|a| (a.conversation, a.user)))
            .collect()
    }

    /// Assigns a conversation to a configured user who sees it, or to
    /// nobody (`to` None); compare-and-swap on the conversation's
    /// assignment. The answer is the assignment as it is after.
    pub fn assign(
        &self,
        key: &str,
        to: Option<&str>,
        by: Option<&str>,
    ) -> DoorResult<Option<Assignment>> {
        let thread = self.conversation(key)?;
        let key = thread.key();
        let Some(name) = to else {
            self.store().delete::<Assignment>(&key)?;
            return Ok(None);
        };
        let user = self.configured_user(name)?;
        if !Viewer::for_user(user).sees_conversation(&thread) {
            return Err(DoorError::invalid(format!(
                "{name} does not see conversation {key:?} (its accounts: {}); add one of \
                 them to [users.{name}] accounts first",
                super::conversation_accounts(&thread).join(", ")
            )));
        }
        let now = self.clock().now();
        let written = self.store().modify::<Assignment, Assignment>(
            std::slice::from_ref(&key),
            |_, current| {
                // Assigning again to the same user keeps when it first was.
                let assignment = match current {
                    Some(a) if a.user == name => a,
                    _ => Assignment {
                        conversation: key.clone(),
                        user: name.to_string(),
                        assigned_at: now,
                        assigned_by: by.map(str::to_string),
                    },
                };
                Some((assignment.clone(), assignment))
            },
        )?;
        Ok(written.into_iter().next())
    }

    /// Refuses an "assigned to" filter that cannot mean anyone: "me" where
    /// no one is known, or a name that is not a configured user.
    pub(crate) fn check_assignee_filter(
        &self,
        q: &super::InboxQuery,
        search: &super::search::SearchQuery,
    ) -> super::CommandResult<()> {
        let mut names: Vec<&str> = search
            .conditions()
            .filter_map(|c| match c {
                super::search::Condition::Assigned(who) => Some(who.as_str()),
                _ => None,
            })
            .collect();
        if q.mine {
            names.push("me");
        }
        for name in names {
            match name {
                "me" if q.scope.me.is_none() => {
                    return Err(super::CommandError::Invalid(
                        "who is \"me\"? set `user = \"NAME\"` at the top of the config, or use \
                         --remote with a user's token"
                            .into(),
                    ));
                }
                "me" | "nobody" => {}
                name if !self
                    .settings()
                    .users
                    .keys()
                    .any(|u| u.eq_ignore_ascii_case(name)) =>
                {
                    let known: Vec<&str> =
                        self.settings().users.keys().map(String::as_str).collect();
                    return Err(super::CommandError::Invalid(format!(
                        "no user {name:?} for assigned:; use assigned:me, assigned:nobody{}",
                        match known.is_empty() {
                            true => String::new(),
                            false => format!(" or one of: {}", known.join(", ")),
                        }
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The viewer of this process's own commands: the data dir's owner.
    pub fn owner(&self) -> Viewer {
        Viewer::Admin {
            user: self.settings().me.clone(),
        }
    }

    /// Refuses a request the viewer may not make, and narrows the queries
    /// it may make to what the viewer sees.
    pub(super) fn admit(&self, viewer: &Viewer, request: &mut Request) -> DoorResult<()> {
        let scope = Scope::of(viewer);
        // Every viewer's queries know who "me" is.
        match request {
            Request::Inbox { query }
            | Request::InboxCounts { query }
            | Request::Bulk {
                target: super::BulkTarget::Query { query },
                ..
            } => query.scope = scope.clone(),
            Request::Leads { query } => query.scope = scope.clone(),
            Request::Stats { query } => query.scope = scope.clone(),
            _ => {}
        }
        if viewer.accounts().is_none() {
            return Ok(());
        }
        match request {
            Request::Inbox { .. }
            | Request::InboxCounts { .. }
            | Request::Leads { .. }
            | Request::Stats { .. }
            | Request::Lead { .. }
            | Request::LeadIndex
            | Request::LeadRecords { .. }
            | Request::LeadRecord { .. }
            | Request::Accounts
            | Request::SequenceList
            | Request::SequencesPane
            | Request::OutboxList { .. }
            | Request::Reminders { .. }
            | Request::Tasks { .. }
            // A user's own accounts: they see what they add.
            | Request::AccountAdd { .. }
            | Request::StoredAccounts
            // Who they can assign to; narrowed below.
            | Request::Users => Ok(()),
            Request::Thread { key }
            | Request::ReplyRoutes { key }
            | Request::Reply {
                thread_key: key, ..
            }
            | Request::MarkRead { key, .. }
            | Request::SetCategory { key, .. }
            | Request::RefreshThread { key }
            | Request::Archive { key, .. }
            | Request::Snooze { key, .. }
            | Request::ClearWokenSnooze { key }
            | Request::Remind { key, .. }
            | Request::Attachments { key }
            | Request::Attachment { key, .. }
            | Request::Draft { thread_key: key }
            | Request::QueueReply {
                thread_key: key, ..
            }
            | Request::Forward { key, .. }
            | Request::Assign { key, .. } => self.check_conversation(viewer, key),
            Request::Tag { key, .. } => self.check_conversation_or_lead(viewer, key),
            Request::Categories { account } | Request::Suppress { account, .. } => {
                self.check_account(viewer, account)
            }
            Request::Bulk {
                operation: crate::model::BulkOp::Pause,
                ..
            } => Err(forbidden(
                "pausing a lead's enrollments reaches every account's sequences; it is for \
                 admins (pause one enrollment with `outpost enrollment pause ID`)"
                    .into(),
            )),
            Request::Bulk {
                operation: crate::model::BulkOp::Enroll { sequence },
                ..
            } if self.check_sequence(viewer, sequence).is_err() => {
                self.check_sequence(viewer, sequence)
            }
            Request::Bulk { target, .. } => match target {
                // Narrowed to the viewer's conversations above.
                super::BulkTarget::Query { .. } => Ok(()),
                super::BulkTarget::Keys { keys } => {
                    for key in keys.iter() {
                        self.check_conversation_or_lead(viewer, key)?;
                    }
                    Ok(())
                }
            },
            Request::TaskClose { id, .. } => {
                let account = crate::sequences::find_task(self.store(), id)
                    .ok()
                    .map(|t| t.account);
                self.check_owner(viewer, account.as_deref(), "task", id)
            }
            Request::SequenceShow { name }
            | Request::SequencePane { name }
            | Request::SequencePause { name }
            | Request::SequenceResume { name }
            | Request::SetSequenceStatus { name, .. }
            | Request::UpdateStepText { sequence: name, .. }
            | Request::Enroll { sequence: name, .. }
            | Request::EnrollLead { sequence: name, .. }
            | Request::NextSends { sequence: name, .. }
            | Request::Preflight { sequence: name, .. } => self.check_sequence(viewer, name),
            Request::Enrollment { id, .. } => {
                let account = crate::sequences::find_enrollment(self.store(), id)
                    .ok()
                    .map(|e: Enrollment| e.account);
                self.check_owner(viewer, account.as_deref(), "enrollment", id)
            }
            Request::OutboxCancel { id }
            | Request::OutboxRetry { id }
            | Request::SendNow { id }
            | Request::CancelOutbox { id }
            | Request::OutboxItem { id } => {
                let account = self
                    .find_outbox_item(id)
                    .ok()
                    .map(|i: OutboxItem| i.account);
                self.check_owner(viewer, account.as_deref(), "outbox item", id)
            }
            Request::QueueNew { lead_key, .. } => {
                let account = lead_key.split_once('/').map(|(a, _)| a);
                self.check_owner(viewer, account, "lead", lead_key)
            }
            Request::SaveDraft { draft } => {
                self.check_owner(viewer, Some(&draft.account), "draft", &draft.id)
            }
            Request::DeleteDraft { id } => {
                let account = self
                    .store()
                    .get::<crate::model::Draft>(id)?
                    .map(|d| d.account);
                self.check_owner(viewer, account.as_deref(), "draft", id)
            }
            Request::ReminderDone { id } => {
                let reminder = self
                    .store()
                    .iter::<crate::model::Reminder>()
                    .filter_map(Result::ok)
                    .find(|r| r.id.starts_with(id.as_str()));
                match reminder {
                    Some(r) => self.check_conversation(viewer, &r.conversation),
                    None => self.check_owner(viewer, None, "reminder", id),
                }
            }
            // What spans every account, or changes things for all of them.
            other => Err(forbidden(format!(
                "`{}` is for admins: it reaches beyond your accounts; ask an admin, or \
                 use a token of a user with `admin = true`",
                op_name(other)
            ))),
        }
    }

    fn check_account(&self, viewer: &Viewer, account: &str) -> DoorResult<()> {
        self.check_owner(viewer, Some(account), "account", account)
    }

    /// Refuses a thing named by a user unless its account (None: no such
    /// thing) is theirs. Missing and someone else's read the same, so a
    /// user cannot probe what other accounts hold.
    fn check_owner(
        &self,
        viewer: &Viewer,
        account: Option<&str>,
        what: &str,
        name: &str,
    ) -> DoorResult<()> {
        match account.is_some_and(|a| viewer.sees(a)) {
            true => Ok(()),
            false => Err(forbidden(format!(
                "{what} {name:?} is not in your accounts (or does not exist); ask an admin \
                 if it should be"
            ))),
        }
    }

    fn check_conversation(&self, viewer: &Viewer, key: &str) -> DoorResult<()> {
        let seen = match self.conversation(key) {
            Ok(thread) => viewer.sees_conversation(&thread),
            Err(super::CommandError::NotFound(_)) => false,
            Err(other) => return Err(other.into()),
        };
        match seen {
            true => Ok(()),
            false => Err(forbidden(format!(
                "conversation {key:?} is not in your accounts (or does not exist); \
                 `outpost inbox` lists yours"
            ))),
        }
    }

    fn check_sequence(&self, viewer: &Viewer, name: &str) -> DoorResult<()> {
        let account = self.store().get::<Sequence>(name)?.map(|s| s.account);
        self.check_owner(viewer, account.as_deref(), "sequence", name)
    }

    /// A key naming a conversation, else a lead (its email or `account/email`).
    fn check_conversation_or_lead(&self, viewer: &Viewer, key: &str) -> DoorResult<()> {
        if self.store().get::<Thread>(key)?.is_some() {
            return self.check_conversation(viewer, key);
        }
        match self.store().get::<crate::model::Lead>(key)? {
            Some(lead) => self.check_owner(viewer, Some(&lead.account), "lead", key),
            None => self.check_lead_email(viewer, key),
        }
    }

    /// A lead named by email: the viewer must see one of its records.
    fn check_lead_email(&self, viewer: &Viewer, email: &str) -> DoorResult<()> {
        let email = crate::model::normalize_email(email);
        let seen = self
            .store()
            .iter::<crate::model::Lead>()
            .filter_map(Result::ok)
            .any(|l| l.email == email && viewer.sees(&l.account));
        match seen {
            true => Ok(()),
            false => Err(forbidden(format!(
                "{email:?} is not a conversation or lead of your accounts"
            ))),
        }
    }

    /// A store change as the viewer may see it on the live stream: records
    /// of their accounts (by the account the key starts with, or the
    /// record's own account), their accounts' sync progress; None for the
    /// rest, notices included (they may name anything).
    pub fn change_for(
        &self,
        viewer: &Viewer,
        change: crate::store::Change,
    ) -> Option<crate::store::Change> {
        use crate::store::{Change, Kind};
        if viewer.accounts().is_none() {
            return Some(change);
        }
        let visible = match &change {
            Change::Progress(p) => viewer.sees(&p.account),
            Change::Notice { .. } => false,
            Change::Record { kind, key, .. } => {
                let store = self.store();
                let account = match kind {
                    Kind::Outbox => store
                        .get::<OutboxItem>(key)
                        .ok()
                        .flatten()
                        .map(|i| i.account),
                    Kind::Sequence => store.get::<Sequence>(key).ok().flatten().map(|s| s.account),
                    Kind::Enrollment => store
                        .get::<Enrollment>(key)
                        .ok()
                        .flatten()
                        .map(|e| e.account),
                    Kind::Task => store
                        .get::<crate::model::Task>(key)
                        .ok()
                        .flatten()
                        .map(|t| t.account),
                    Kind::Draft => store
                        .get::<crate::model::Draft>(key)
                        .ok()
                        .flatten()
                        .map(|d| d.account),
                    Kind::Account | Kind::StoredAccount => Some(key.clone()),
                    // Keyed by account first: threads, messages, leads,
                    // campaigns, and what hangs on a conversation's key.
                    _ => key.split_once('/').map(|(account, _)| account.to_string()),
                };
                account.is_some_and(|a| viewer.sees(&a))
            }
        };
        visible.then_some(change)
    }

    /// Leaves out of an answer what the viewer does not see.
    pub(super) fn narrow(&self, viewer: &Viewer, answer: Response) -> Response {
        if viewer.accounts().is_none() {
            return answer;
        }
        let sees = |account: &str| viewer.sees(account);
        match answer {
            Response::Lead(Some(mut view)) => {
                view.records.retain(|l| sees(&l.account));
                view.enrollments.retain(|e| sees(&e.account));
                view.suppressed.retain(|s| sees(&s.account));
                view.timeline.retain(|item| match item {
                    TimelineItem::Event(e) => sees(&e.account),
                    TimelineItem::Message { account, .. } => sees(account),
                });
                match view.records.is_empty() && view.timeline.is_empty() {
                    true => Response::Lead(None),
                    false => Response::Lead(Some(view)),
                }
            }
            Response::Leads(mut leads) => {
                leads.retain(|l| sees(&l.lead.account));
                Response::Leads(leads)
            }
            Response::Threads(mut threads) => {
                threads.retain(|t| viewer.sees_conversation(&t.thread));
                Response::Threads(threads)
            }
            Response::LeadIndex(mut source) => {
                source.leads.retain(|l| sees(&l.account));
                source.campaigns.retain(|c| sees(&c.account));
                Response::LeadIndex(source)
            }
            Response::LeadRecords(mut records) => {
                let (kept, hidden): (Vec<_>, Vec<_>) =
                    records.found.into_iter().partition(|l| sees(&l.account));
                records.found = kept;
                records.missing.extend(hidden.iter().map(|l| l.key()));
                Response::LeadRecords(records)
            }
            Response::LeadRecord(lead) => Response::LeadRecord(lead.filter(|l| sees(&l.account))),
            Response::Accounts(mut accounts) => {
                accounts.retain(|a| sees(&a.name));
                Response::Accounts(accounts)
            }
            Response::Sequences(mut list) => {
                list.retain(|s| sees(&s.account));
                Response::Sequences(list)
            }
            Response::SequencesPane(mut list) => {
                list.retain(|s| sees(&s.sequence.account));
                Response::SequencesPane(list)
            }
            Response::OutboxItems(mut items) => {
                items.retain(|i| sees(&i.account));
                Response::OutboxItems(items)
            }
            // The users who could take one of the viewer's conversations
            // (admins, and users sharing an account), with the shared
            // accounts only and nothing about tokens.
            Response::Users(users) => Response::Users(
                users
                    .into_iter()
                    .filter(|u| u.admin || u.accounts.iter().any(|a| sees(a)))
                    .map(|u| UserView {
                        accounts: u.accounts.into_iter().filter(|a| sees(a)).collect(),
                        has_token: false,
                        token_created_at: None,
                        ..u
                    })
                    .collect(),
            ),
            Response::Tasks(mut tasks) => {
                tasks.retain(|t| sees(&t.account));
                Response::Tasks(tasks)
            }
            Response::Reminders(mut reminders) => {
                reminders.retain(|r| {
                    self.conversation(&r.reminder.conversation)
                        .is_ok_and(|t| viewer.sees_conversation(&t))
                });
                Response::Reminders(reminders)
            }
            other => other,
        }
    }
}

/// A request's `op` as it travels, for messages.
fn op_name(request: &Request) -> String {
    serde_json::to_value(request)
        .ok()
        .and_then(|v| v["op"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_url_safe_and_distinct() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        let body = a.strip_prefix(TOKEN_PREFIX).unwrap();
        // 32 bytes in unpadded base64.
        assert_eq!(body.len(), 43);
        assert!(
            body.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn a_user_sees_their_accounts_and_an_admin_sees_all() {
        let user = Viewer::User {
            name: "sam".into(),
            accounts: ["acme".to_string()].into(),
        };
        assert!(user.sees("acme"));
        assert!(!user.sees("other"));
        assert_eq!(user.user(), Some("sam"));
        let admin = Viewer::Admin { user: None };
        assert!(admin.sees("other"));
        assert_eq!(admin.user(), None);
    }
}
