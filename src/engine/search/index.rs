//! The engine's in-memory search index: per conversation in the inbox, its
//! thread and a lower-cased text of everything a search reads (subject,
//! names, addresses, every message body), so a keystroke never re-reads the
//! messages. Built on first use, kept fresh from the store's change feed:
//! before each use the changes since are drained and only the conversations
//! they touched are read again; a feed that lagged rebuilds all.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::{Receiver, error::TryRecvError};

use crate::engine::InboxCounts;
use crate::model::{Message, Thread};
use crate::store::{Change, Index, Kind, Op, Store, StoreResult, keys::KeyBuf};

/// What a search knows of one conversation.
#[derive(Debug, Clone)]
pub struct Doc {
    pub thread: Thread,
    /// Subject, names, addresses and bodies, lower-cased, one per line.
    pub text: String,
    /// Each sender as `name <address>`, lower-cased.
    pub from: String,
    /// Each To and Cc recipient as `name <address>`, lower-cased.
    pub to: String,
    /// `(account, label id)` of every copy of every message, sorted.
    pub labels: Vec<(String, String)>,
    pub has_attachment: bool,
    /// The message keys read into this document.
    messages: Vec<String>,
}

/// Every conversation of the inbox (archived and snoozed included), newest first.
pub type Docs = Vec<Arc<Doc>>;

#[derive(Default)]
struct State {
    feed: Option<Receiver<Change>>,
    docs: HashMap<String, Arc<Doc>>,
    /// Every inbox conversation has its document (not only those asked for).
    complete: bool,
    /// Conversations changed since their document was made.
    stale: HashSet<String>,
    /// Which conversation a message was read into.
    message_conversation: HashMap<String, String>,
    /// The last full list, while nothing changed since.
    ordered: Option<Arc<Docs>>,
}

/// Shared by every clone of an engine.
#[derive(Default)]
pub struct SearchIndex {
    state: Mutex<State>,
    /// The counts the last search listing found, by what they are good for.
    counts: Mutex<Option<(String, InboxCounts)>>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchIndex")
    }
}

impl SearchIndex {
    /// Every inbox conversation's document, newest first.
    pub fn all(&self, store: &Store) -> StoreResult<Arc<Docs>> {
        let mut state = self.lock();
        state.catch_up(store)?;
        if let Some(ordered) = &state.ordered {
            return Ok(ordered.clone());
        }
        if !state.complete {
            state.docs.clear();
            state.message_conversation.clear();
            state.stale.clear();
            for thread in store.by_index::<Thread>(Index::ThreadsByTime, b"", true) {
                let thread = thread?;
                state.insert(store, thread)?;
            }
            state.complete = true;
        } else {
            for key in std::mem::take(&mut state.stale) {
                state.refresh_one(store, &key)?;
            }
        }
        let mut ordered: Docs = state.docs.values().cloned().collect();
        ordered.sort_by(|a, b| {
            b.thread
                .last_message_at
                .cmp(&a.thread.last_message_at)
                .then_with(|| b.thread.key().cmp(&a.thread.key()))
        });
        let ordered = Arc::new(ordered);
        state.ordered = Some(ordered.clone());
        Ok(ordered)
    }

    /// One conversation's document (read now if it was not kept).
    pub fn doc(&self, store: &Store, thread: &Thread) -> StoreResult<Arc<Doc>> {
        let mut state = self.lock();
        state.catch_up(store)?;
        let key = thread.key();
        if !state.stale.contains(&key)
            && let Some(doc) = state.docs.get(&key)
        {
            return Ok(doc.clone());
        }
        let doc = Arc::new(build(store, thread.clone())?);
        // Only a complete index keeps single documents: a partial one would
        // have to track which conversations it lacks.
        if state.complete && thread.is_primary() && thread.has_reply {
            state.stale.remove(&key);
            state.remember(doc.clone());
        }
        Ok(doc)
    }

    /// Keeps the counts a search listing found on its way.
    pub fn keep_counts(&self, key: String, counts: InboxCounts) {
        *self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((key, counts));
    }

    /// The counts kept under `key`, if the last listing was that one.
    pub fn kept_counts(&self, key: &str) -> Option<InboxCounts> {
        let kept = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.as_ref()
            .filter(|(kept_key, _)| kept_key == key)
            .map(|(_, counts)| *counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    /// Takes in the changes since the last use; a lagged feed starts over.
    fn catch_up(&mut self, store: &Store) -> StoreResult<()> {
        let feed = self.feed.get_or_insert_with(|| store.subscribe());
        let mut touched: Vec<(Kind, String, Op)> = Vec::new();
        let mut lagged = false;
        loop {
            match feed.try_recv() {
                Ok(Change::Record { kind, key, op }) => {
                    if matches!(kind, Kind::Thread | Kind::Message) {
                        touched.push((kind, key, op));
                    }
                }
                Ok(_) => {}
                Err(TryRecvError::Lagged(_)) => lagged = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if lagged {
            *self = State {
                feed: self.feed.take(),
                ..State::default()
            };
            return Ok(());
        }
        for (kind, key, op) in touched {
            let conversation = match kind {
                Kind::Thread => match store.get::<Thread>(&key)? {
                    Some(thread) => {
                        // A copy merging in changes its primary too.
                        if let Some(primary) = thread.merged_into {
                            self.mark(primary);
                        }
                        Some(key)
                    }
                    None => Some(key),
                },
                _ => match self.message_conversation.get(&key) {
                    Some(conversation) => Some(conversation.clone()),
                    None if op == Op::Put => store
                        .get::<Message>(&key)?
                        .map(|m| primary_of(store, &m.thread_key))
                        .transpose()?,
                    // A message never read into a document changes none.
                    None => None,
                },
            };
            if let Some(conversation) = conversation {
                self.mark(conversation);
            }
        }
        Ok(())
    }

    fn mark(&mut self, conversation: String) {
        self.ordered = None;
        if let Some(doc) = self.docs.remove(&conversation) {
            for message in &doc.messages {
                self.message_conversation.remove(message);
            }
        }
        if self.complete {
            self.stale.insert(conversation);
        }
    }

    /// Reads one changed conversation again: kept if it is in the inbox.
    fn refresh_one(&mut self, store: &Store, key: &str) -> StoreResult<()> {
        match store.get::<Thread>(key)? {
            Some(thread) if thread.is_primary() && thread.has_reply => self.insert(store, thread),
            _ => Ok(()),
        }
    }

    fn insert(&mut self, store: &Store, thread: Thread) -> StoreResult<()> {
        let doc = Arc::new(build(store, thread)?);
        self.remember(doc);
        Ok(())
    }

    fn remember(&mut self, doc: Arc<Doc>) {
        let key = doc.thread.key();
        for message in &doc.messages {
            self.message_conversation
                .insert(message.clone(), key.clone());
        }
        self.docs.insert(key, doc);
    }
}

/// The conversation a provider thread belongs to.
fn primary_of(store: &Store, thread_key: &str) -> StoreResult<String> {
    Ok(match store.get::<Thread>(thread_key)? {
        Some(Thread {
            merged_into: Some(primary),
            ..
        }) => primary,
        _ => thread_key.to_string(),
    })
}

/// Every stored copy of a conversation's messages: its primary thread's and
/// those of the provider threads merged into it.
pub fn conversation_copies(store: &Store, thread: &Thread) -> StoreResult<Vec<Message>> {
    let mut copies = Vec::new();
    for thread_key in std::iter::once(thread.key()).chain(thread.sources.iter().cloned()) {
        let prefix = KeyBuf::new().text(&thread_key).into_prefix();
        for message in store.by_index::<Message>(Index::MessagesByThread, &prefix, false) {
            copies.push(message?);
        }
    }
    Ok(copies)
}

fn build(store: &Store, thread: Thread) -> StoreResult<Doc> {
    let copies = conversation_copies(store, &thread)?;
    let mut labels: Vec<(String, String)> = copies
        .iter()
        .flat_map(|m| m.labels.iter().map(|l| (m.account.clone(), l.clone())))
        .collect();
    labels.sort();
    labels.dedup();
    let messages: Vec<String> = copies.iter().map(Message::key).collect();
    let has_attachment = copies.iter().any(|m| !m.attachments.is_empty());
    let mut text = String::new();
    let mut from = String::new();
    let mut to = String::new();
    for line in [
        &thread.subject,
        &thread.campaign_name.clone().unwrap_or_default(),
    ]
    .into_iter()
    .chain(thread.lead_name.iter())
    .chain(thread.lead_email.iter())
    .chain(thread.participants.iter())
    {
        push_line(&mut text, line);
    }
    // One copy of each message: text both providers hold is read once.
    for (message, _) in crate::conversation::merge_copies(copies) {
        let sender = person(&message.from);
        push_line(&mut from, &sender);
        push_line(&mut text, &sender);
        for address in message.to.iter().chain(message.cc.iter()) {
            let recipient = person(address);
            push_line(&mut to, &recipient);
            push_line(&mut text, &recipient);
        }
        push_line(&mut text, &message.subject);
        push_line(&mut text, &message.text_body);
        for attachment in &message.attachments {
            push_line(&mut text, &attachment.filename);
        }
    }
    Ok(Doc {
        thread,
        text,
        from,
        to,
        labels,
        has_attachment,
        messages,
    })
}

fn person(address: &crate::model::Address) -> String {
    match &address.name {
        Some(name) => format!("{name} <{}>", address.email),
        None => address.email.clone(),
    }
}

/// Appends a lower-cased line; whitespace runs become one space, so a
/// phrase matches across the line breaks of a wrapped body.
fn push_line(out: &mut String, text: &str) {
    for word in text.split_whitespace() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push(' ');
        }
        for c in word.chars() {
            out.extend(c.to_lowercase());
        }
    }
    out.push('\n');
}
