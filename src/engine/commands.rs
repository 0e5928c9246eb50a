//! Commands that change only the cache: read state, drafts, and queuing
//! replies in the durable outbox (the outbox worker does the sending).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{Engine, ThreadView, compose};
use crate::model::*;
use crate::store::{Index, StoreError, keys::KeyBuf};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type CommandResult<T> = Result<T, CommandError>;

impl From<crate::sequences::SequenceError> for CommandError {
    fn from(e: crate::sequences::SequenceError) -> Self {
        use crate::sequences::SequenceError;
        match e {
            SequenceError::NotFound(m) => CommandError::NotFound(m),
            SequenceError::Store(s) => CommandError::Store(s),
            invalid => CommandError::Invalid(invalid.to_string()),
        }
    }
}

/// A reply as the composer hands it over.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReplyDraft {
    pub text: String,
    pub html: Option<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    /// Which copy of the conversation the reply leaves through (Smartlead's
    /// reply-email-thread, or a send from the rep's Gmail in the Gmail
    /// copy's thread); `None` is the primary's, see [`Engine::reply_routes`].
    #[serde(default)]
    pub route: Option<Provider>,
    /// Also answer everyone else on the message answered (its To and Cc,
    /// the rep's own addresses aside).
    #[serde(default)]
    pub reply_all: bool,
    /// Files sent with the reply (read by the face that took them, so a
    /// holder of the data dir on another user's account needs no access).
    #[serde(default)]
    pub attachments: Vec<OutgoingAttachment>,
    /// Not sent before this time (send later); `None` sends now.
    #[serde(default)]
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Leave the account's `signature` off this once.
    #[serde(default)]
    pub without_signature: bool,
}

/// A conversation passed on to someone new: `Fwd:` and the original below.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForwardDraft {
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    /// The rep's note above the forwarded message.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<OutgoingAttachment>,
    #[serde(default)]
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Leave the account's `signature` off this once.
    #[serde(default)]
    pub without_signature: bool,
}

/// One way a reply to a conversation can leave: through one of its copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRoute {
    pub provider: Provider,
    pub account: String,
    /// The address the reply goes out from, when known.
    pub mailbox: Option<String>,
    /// The provider thread the reply goes into.
    pub thread_key: String,
}

impl ReplyRoute {
    /// `via Smartlead · acme · sam@acme.io`, `via Gmail · sam@acme.io`.
    pub fn label(&self) -> String {
        let mailbox = self.mailbox.as_deref().unwrap_or("address unknown");
        match self.provider {
            Provider::Smartlead => format!("via Smartlead · {} · {mailbox}", self.account),
            Provider::Gmail => format!("via Gmail · {mailbox}"),
        }
    }

    /// `smartlead (acme, sam@acme.io)`, for error messages.
    fn describe(&self) -> String {
        match &self.mailbox {
            Some(mailbox) => format!("{} ({}, {mailbox})", self.provider, self.account),
            None => format!("{} ({})", self.provider, self.account),
        }
    }
}

/// `Re: ` once, never `Re: Re: `.
pub fn reply_subject(subject: &str) -> String {
    let trimmed = subject.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("re:") {
        trimmed.to_string()
    } else if trimmed.is_empty() {
        "Re:".to_string()
    } else {
        format!("Re: {trimmed}")
    }
}

/// A Message-ID outpost fixes before sending, under the sender's domain.
pub fn new_message_id(from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
        .unwrap_or("outpost.invalid");
    format!("<{}@{domain}>", uuid::Uuid::new_v4().simple())
}

impl Engine {
    /// Marks a thread and its messages read; true if anything changed.
    pub fn mark_thread_read(&self, thread_key: &str) -> CommandResult<bool> {
        self.set_thread_read(thread_key, true)
    }

    /// Marks a conversation's messages read (or its replies unread again),
    /// in every copy of it; a Gmail copy also gets a [`ReadChange`] that the
    /// read pusher takes to Gmail, and that keeps a sync from undoing the
    /// mark meanwhile. True when anything changed.
    pub fn set_thread_read(&self, thread_key: &str, read: bool) -> CommandResult<bool> {
        Ok(!self.set_conversation_read(thread_key, read)?.is_empty())
    }

    /// [`Engine::set_thread_read`], answering the keys of the messages it
    /// flipped (what a bulk change records to undo).
    pub(crate) fn set_conversation_read(
        &self,
        thread_key: &str,
        read: bool,
    ) -> CommandResult<Vec<String>> {
        let Some(thread) = self.store.get::<Thread>(thread_key)? else {
            return Err(CommandError::NotFound(format!(
                "no thread {thread_key:?}; `outpost inbox` lists thread ids"
            )));
        };
        let primary = match thread.merged_into.clone() {
            Some(key) => self.store.get::<Thread>(&key)?.unwrap_or(thread),
            None => thread,
        };
        let mut flipped = Vec::new();
        for key in std::iter::once(primary.key()).chain(primary.sources.iter().cloned()) {
            let Some(copy) = self.store.get::<Thread>(&key)? else {
                continue;
            };
            let prefix = KeyBuf::new().text(&key).into_prefix();
            // Unread is about what the lead wrote; our own mail stays read.
            let keys: Vec<String> = self
                .store
                .by_index::<Message>(Index::MessagesByThread, &prefix, false)
                .filter_map(|m| m.ok())
                .filter(|m| m.read != read && (read || m.direction == Direction::Inbound))
                .map(|m| m.key())
                .collect();
            flipped.extend(self.flip_read(&copy, &keys, read)?);
        }
        if !flipped.is_empty() {
            crate::conversation::settle(&self.store, &primary.key())?;
        }
        Ok(flipped)
    }

    /// Sets these messages of one copy of a conversation to `read`, each by
    /// compare-and-swap; a Gmail copy also gets a [`ReadChange`] per message
    /// that the read pusher takes to Gmail, and that keeps a sync from
    /// undoing the mark meanwhile. Answers the keys flipped.
    pub(crate) fn flip_read(
        &self,
        copy: &Thread,
        keys: &[String],
        read: bool,
    ) -> CommandResult<Vec<String>> {
        let flipped = self
            .store
            .modify::<Message, (String, String)>(keys, |key, current| {
                let mut message = current?;
                if message.read == read {
                    return None;
                }
                message.read = read;
                let id = message.provider_id.clone();
                Some((message, (key.to_string(), id)))
            })?;
        if copy.provider == Provider::Gmail && !flipped.is_empty() {
            let now = self.clock.now();
            let changes: Vec<ReadChange> = flipped
                .iter()
                .map(|(_, gmail_id)| ReadChange {
                    account: copy.account.clone(),
                    gmail_id: gmail_id.clone(),
                    read,
                    at: now,
                })
                .collect();
            self.store.put_all(&changes)?;
        }
        Ok(flipped.into_iter().map(|(key, _)| key).collect())
    }

    pub fn save_draft(&self, draft: &Draft) -> CommandResult<()> {
        self.store.put(draft)?;
        Ok(())
    }

    pub fn delete_draft(&self, id: &str) -> CommandResult<bool> {
        Ok(self.store.delete::<Draft>(id)?)
    }

    /// The newest draft kept for a thread, if any.
    pub fn draft_for_thread(&self, thread_key: &str) -> CommandResult<Option<Draft>> {
        let prefix = KeyBuf::new().text(thread_key).into_prefix();
        let mut drafts = self
            .store
            .by_index::<Draft>(Index::DraftsByThread, &prefix, false)
            .collect::<Result<Vec<_>, _>>()?;
        drafts.sort_by_key(|d| d.updated_at);
        Ok(drafts.pop())
    }

    /// The message a reply answers: the newest one from the lead, else the newest.
    pub fn message_to_answer(messages: &[Message]) -> Option<&Message> {
        messages
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Inbound)
            .or_else(|| messages.last())
    }

    /// The routes a reply to this conversation can take, the default (the
    /// primary's) first; one per provider.
    pub fn reply_routes(&self, thread_key: &str) -> CommandResult<Vec<ReplyRoute>> {
        let view = self
            .thread(thread_key)?
            .ok_or_else(|| no_thread(thread_key))?;
        self.routes_of(&view)
    }

    pub(super) fn routes_of(&self, view: &ThreadView) -> CommandResult<Vec<ReplyRoute>> {
        let mut routes: Vec<ReplyRoute> = Vec::new();
        let copies = std::iter::once(view.thread.key()).chain(view.thread.sources.iter().cloned());
        for key in copies {
            let Some(copy) = self.store.get::<Thread>(&key)? else {
                continue;
            };
            if routes.iter().any(|r| r.provider == copy.provider) {
                continue;
            }
            let mailbox = match self.store.get::<Account>(&copy.account)? {
                Some(Account {
                    email: Some(email), ..
                }) => Some(email),
                _ => Self::mailbox_in(view, &copy.account),
            };
            routes.push(ReplyRoute {
                provider: copy.provider,
                account: copy.account.clone(),
                mailbox,
                thread_key: key,
            });
        }
        Ok(routes)
    }

    /// The rep's address in the messages that reached outpost through
    /// `account`: the sender of our newest mail, else whom the lead wrote to.
    fn mailbox_in(view: &ThreadView, account: &str) -> Option<String> {
        let through_account = view
            .messages
            .iter()
            .zip(&view.message_sources)
            .filter(|(_, sources)| sources.iter().any(|s| s == account))
            .map(|(m, _)| m);
        let mut ours = None;
        let mut theirs = None;
        for message in through_account {
            match message.direction {
                Direction::Outbound => ours = Some(message.from.email.clone()),
                Direction::Inbound => theirs = message.to.first().map(|a| a.email.clone()),
            }
        }
        ours.or(theirs).filter(|e| !e.is_empty())
    }

    /// Puts a reply to a thread in the outbox, to leave after `delay` (the undo
    /// window) or at the draft's `send_at`. The provider follows the thread:
    /// Smartlead's reply-email-thread with the fields of the message answered,
    /// or a Gmail send in the thread. Everything is checked before anything
    /// is written: a bad address, a time passed, or an attachment Smartlead
    /// cannot carry leaves the outbox as it was.
    pub fn queue_reply(
        &self,
        thread_key: &str,
        reply: &ReplyDraft,
        delay: Duration,
    ) -> CommandResult<OutboxItem> {
        if reply.text.trim().is_empty() && reply.html.as_deref().is_none_or(|h| h.trim().is_empty())
        {
            return Err(CommandError::Invalid(
                "the reply is empty; write something first".into(),
            ));
        }
        let now = self.clock.now();
        let not_before = compose::not_before(reply.send_at, now, delay)?;
        let cc = compose::clean_addresses("--cc", &reply.cc)?;
        let bcc = compose::clean_addresses("--bcc", &reply.bcc)?;
        compose::check_attachments(&reply.attachments)?;
        let view = self
            .thread(thread_key)?
            .ok_or_else(|| no_thread(thread_key))?;
        let routes = self.routes_of(&view)?;
        let route = match reply.route {
            None => routes.first(),
            Some(wanted) => routes.iter().find(|r| r.provider == wanted),
        }
        .cloned()
        .ok_or_else(|| {
            let wanted = reply.route.map_or("any", Provider::as_str);
            let known: Vec<String> = routes.iter().map(ReplyRoute::describe).collect();
            CommandError::Invalid(format!(
                "this conversation has no {wanted} copy to reply through; its routes: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })?;
        if route.provider == Provider::Smartlead && !reply.attachments.is_empty() {
            let gmail = routes.iter().find(|r| r.provider == Provider::Gmail);
            return Err(CommandError::Invalid(match gmail {
                Some(gmail) => format!(
                    "Smartlead's reply endpoint cannot carry attachments; nothing was queued. \
                     This conversation is also in your Gmail mailbox ({}): send it from \
                     there with --via gmail",
                    gmail.mailbox.as_deref().unwrap_or(&gmail.account)
                ),
                None => "Smartlead's reply endpoint cannot carry attachments, and this \
                         conversation is in none of your Gmail mailboxes; nothing was queued. \
                         Send the reply without --attach (a link to the file works)"
                    .to_string(),
            }));
        }
        let copy = self
            .store
            .get::<Thread>(&route.thread_key)?
            .ok_or_else(|| no_thread(&route.thread_key))?;
        // Template variables work in replies too, filled from the thread's lead.
        let mut reply = reply.clone();
        if reply.text.contains("{{") {
            reply.text = self.fill_from_lead(&view.thread, &reply.text)?;
        }
        if !reply.without_signature
            && let Some(signature) = self.settings().signature(&copy.account)
        {
            reply.text = compose::signed(&reply.text, Some(signature));
            reply.html = reply
                .html
                .map(|html| compose::signed_html(&html, signature));
        }
        let reply = &reply;
        let parent = Self::message_to_answer(&view.messages).ok_or_else(|| {
            CommandError::Invalid(format!("thread {thread_key:?} has no message to answer"))
        })?;
        let from = route
            .mailbox
            .clone()
            .or_else(|| match parent.direction {
                Direction::Inbound => parent.to.first().map(|a| a.email.clone()),
                Direction::Outbound => Some(parent.from.email.clone()),
            })
            .unwrap_or_default();
        let to = match parent.direction {
            Direction::Inbound => vec![parent.from.email.clone()],
            Direction::Outbound => parent.to.iter().map(|a| a.email.clone()).collect(),
        };
        if to.is_empty() {
            return Err(CommandError::Invalid(format!(
                "cannot tell whom to answer in thread {thread_key:?}"
            )));
        }
        let cc = if reply.reply_all {
            let mut own = self.own_addresses(&view)?;
            own.push(from.clone());
            compose::merged(cc, compose::reply_all_cc(parent, &to, &own))
        } else {
            cc
        };
        let mut references = parent.references.clone();
        if let Some(id) = &parent.message_id
            && !references.contains(id)
        {
            references.push(id.clone());
        }
        let delivery = match copy.provider {
            Provider::Gmail => Delivery::GmailSend {
                thread_id: Some(copy.provider_thread_id.clone()),
            },
            Provider::Smartlead => {
                let sl = parent.smartlead.as_ref().ok_or_else(|| {
                    CommandError::Invalid(
                        "the message answered has no Smartlead ids; run `outpost sync` first"
                            .into(),
                    )
                })?;
                let stats_id = sl.stats_id.clone().ok_or_else(|| {
                    CommandError::Invalid(
                        "the message answered has no Smartlead stats id; run `outpost sync` first"
                            .into(),
                    )
                })?;
                Delivery::SmartleadReply(SmartleadReply {
                    campaign_id: sl.campaign_id,
                    email_stats_id: stats_id,
                    reply_message_id: parent.message_id.clone().unwrap_or_default(),
                    reply_email_time: parent.date,
                    reply_email_body: parent
                        .html_body
                        .clone()
                        .unwrap_or_else(|| parent.text_body.clone()),
                })
            }
        };
        let id = uuid::Uuid::new_v4().to_string();
        let item = OutboxItem {
            idempotency_key: format!("reply:{id}"),
            id,
            account: copy.account.clone(),
            provider: copy.provider,
            state: OutboxState::Pending,
            not_before,
            message_id: new_message_id(&from),
            email: OutgoingEmail {
                from,
                to,
                cc,
                bcc,
                subject: reply_subject(&view.thread.subject),
                text_body: reply.text.clone(),
                html_body: reply.html.clone(),
                in_reply_to: parent.message_id.clone(),
                references,
                headers: Vec::new(),
                attachments: reply.attachments.clone(),
            },
            delivery,
            // The copy the reply goes into (for the default route, the
            // conversation's own key, also when another copy's key was given).
            thread_key: Some(route.thread_key.clone()),
            enrollment_id: None,
            step: None,
            attempts: 0,
            last_error: None,
            provider_id: None,
            created_at: now,
            updated_at: now,
            send_at: reply.send_at,
            attachments_left_out: Vec::new(),
            lease: None,
        };
        self.store.put(&item)?;
        Ok(item)
    }

    /// Fills `text`'s `{{ variables }}` from the lead of a conversation.
    fn fill_from_lead(&self, thread: &Thread, text: &str) -> CommandResult<String> {
        let email = thread.lead_email.clone().ok_or_else(|| {
            CommandError::Invalid("this conversation has no lead to fill variables from".into())
        })?;
        let lead = self
            .store
            .get::<Lead>(&Lead::key_for(&thread.account, &email))?
            .unwrap_or_else(|| Lead::new(&thread.account, &email));
        super::render_template(text, &lead)
    }

    /// Cancels an outbox item still in its undo window; false if it already left.
    pub fn cancel_outbox(&self, id: &str) -> CommandResult<bool> {
        if !self.store.contains::<OutboxItem>(id)? {
            return Err(CommandError::NotFound(format!("no outbox item {id:?}")));
        }
        let now = self.clock.now();
        // Decided on the item as it is when written: the worker may be
        // claiming it this very moment, and then it has left.
        let cancelled = self
            .store
            .modify::<OutboxItem, ()>(&[id.to_string()], |_, item| {
                let mut item = item.filter(|i| i.state == OutboxState::Pending)?;
                item.state = OutboxState::Cancelled;
                item.updated_at = now;
                Some((item, ()))
            })?;
        Ok(!cancelled.is_empty())
    }

    /// Queues a failed send again, to go out on the outbox's next pass with
    /// a fresh count of attempts. Only for sends of its own (a reply, a
    /// composed email): a sequence step belongs to its enrollment, which
    /// failed with it and is resumed instead.
    pub fn retry_outbox(&self, id: &str) -> CommandResult<OutboxItem> {
        let now = self.clock.now();
        let refusal = std::cell::RefCell::new(None);
        let retried = self.store.modify::<OutboxItem, OutboxItem>(&[id.to_string()], |_, item| {
            let refuse = |why: CommandError| {
                *refusal.borrow_mut() = Some(why);
                None
            };
            let Some(mut item) = item else {
                return refuse(CommandError::NotFound(format!("no outbox item {id:?}")));
            };
            if item.state != OutboxState::Failed {
                return refuse(CommandError::Invalid(format!(
                    "outbox item {id} is {}; only a failed send can be retried",
                    item.state.as_str()
                )));
            }
            if let Some(enrollment) = &item.enrollment_id {
                return refuse(CommandError::Invalid(format!(
                    "outbox item {id} is a step of enrollment {enrollment}; resume the enrollment \
                     instead (outpost enrollment resume {enrollment})"
                )));
            }
            *refusal.borrow_mut() = None;
            item.state = OutboxState::Pending;
            item.not_before = now;
            item.attempts = 0;
            item.last_error = None;
            item.updated_at = now;
            Some((item.clone(), item))
        })?;
        match (retried.into_iter().next(), refusal.into_inner()) {
            (Some(item), _) => Ok(item),
            (None, Some(why)) => Err(why),
            (None, None) => Err(CommandError::NotFound(format!("no outbox item {id:?}"))),
        }
    }

    /// The outbox item with this id, or the only one whose id starts with it
    /// (at least 6 characters).
    pub fn find_outbox_item(&self, id: &str) -> CommandResult<OutboxItem> {
        if let Some(item) = self.store.get::<OutboxItem>(id)? {
            return Ok(item);
        }
        if id.len() >= 6 {
            let mut matches = self.store.scan_prefix::<OutboxItem>(id);
            if let Some(first) = matches.next().transpose()? {
                if matches.next().is_some() {
                    return Err(CommandError::Invalid(format!(
                        "{id:?} matches several outbox items; give more of the id"
                    )));
                }
                return Ok(first);
            }
        }
        Err(CommandError::NotFound(format!("no outbox item {id:?}")))
    }

    pub fn outbox_item(&self, id: &str) -> CommandResult<Option<OutboxItem>> {
        Ok(self.store.get::<OutboxItem>(id)?)
    }

    /// Outbox items in one state, oldest `not_before` first.
    pub fn outbox_in_state(&self, state: OutboxState) -> CommandResult<Vec<OutboxItem>> {
        let prefix = KeyBuf::new().byte(state.as_byte()).into_prefix();
        Ok(self
            .store
            .by_index::<OutboxItem>(Index::OutboxByState, &prefix, false)
            .collect::<Result<Vec<_>, _>>()?)
    }
}

fn no_thread(thread_key: &str) -> CommandError {
    CommandError::NotFound(format!(
        "no thread {thread_key:?}; `outpost inbox` lists thread ids"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subject_adds_re_once() {
        assert_eq!(reply_subject("Quick question"), "Re: Quick question");
        assert_eq!(reply_subject("Re: Quick question"), "Re: Quick question");
        assert_eq!(reply_subject("RE: x"), "RE: x");
    }

    #[test]
    fn message_ids_use_the_sender_domain() {
        let id = new_message_id("sam@acme.example");
        assert!(
            id.starts_with('<') && id.ends_with("@acme.example>"),
            "{id}"
        );
        assert_ne!(id, new_message_id("sam@acme.example"));
    }
}
