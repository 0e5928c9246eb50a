//! Provider threads that share Message-IDs become one conversation.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use super::summary::{lead_name_for, summarize};
use crate::model::{Message, Provider, Thread};
use crate::store::{Index, Store, StoreResult, keys::KeyBuf};

/// More threads than this in one conversation means something else shares
/// the Message-IDs (a mailing list, a broken client); stop gathering there.
const MAX_THREADS: usize = 16;

/// One copy of each message, in date order, each with the accounts it
/// reached outpost through. Copies with the same Message-ID become one: the
/// copy with the fuller MIME (Gmail's HTML, attachments, labels) is kept and
/// gains the Smartlead reference of the other; it is read when any copy is
/// (the rep read it in Gmail, or opened it here).
pub fn merge_copies(messages: Vec<Message>) -> Vec<(Message, Vec<String>)> {
    let mut groups: BTreeMap<String, Vec<Message>> = BTreeMap::new();
    for message in messages {
        let identity = message
            .message_id
            .clone()
            .unwrap_or_else(|| format!("key:{}", message.key()));
        groups.entry(identity).or_default().push(message);
    }
    let mut out: Vec<(Message, Vec<String>)> = groups
        .into_values()
        .map(|mut copies| {
            copies.sort_by_key(|m| std::cmp::Reverse(fullness(m)));
            let mut accounts: Vec<String> = copies.iter().map(|m| m.account.clone()).collect();
            accounts.sort();
            accounts.dedup();
            let mut copies = copies.into_iter();
            let mut kept = copies.next().expect("a group has a copy");
            for other in copies {
                kept.read |= other.read;
                if kept.smartlead.is_none() {
                    kept.smartlead = other.smartlead;
                }
                for label in other.labels {
                    if !kept.labels.contains(&label) {
                        kept.labels.push(label);
                    }
                }
                if kept.html_body.is_none() {
                    kept.html_body = other.html_body;
                }
                if kept.text_body.trim().is_empty() {
                    kept.text_body = other.text_body;
                }
            }
            (kept, accounts)
        })
        .collect();
    out.sort_by(|a, b| a.0.date.cmp(&b.0.date).then(a.0.key().cmp(&b.0.key())));
    out
}

/// How much of the original mail a copy carries.
fn fullness(m: &Message) -> (usize, usize, usize) {
    (
        m.attachments.len(),
        usize::from(m.html_body.is_some()),
        m.labels.len(),
    )
}

fn messages_of(store: &Store, thread_key: &str) -> StoreResult<Vec<Message>> {
    let prefix = KeyBuf::new().text(thread_key).into_prefix();
    store
        .by_index::<Message>(Index::MessagesByThread, &prefix, false)
        .collect()
}

/// Threads holding a message with this Message-ID.
fn threads_with(store: &Store, message_id: &str) -> StoreResult<BTreeSet<String>> {
    let prefix = KeyBuf::new().text(message_id).into_prefix();
    store
        .by_index::<Message>(Index::MessagesByMessageId, &prefix, false)
        .map(|m| m.map(|m| m.thread_key))
        .collect()
}

/// A conversation's threads and all their messages.
struct Group {
    threads: Vec<Thread>,
    messages: Vec<Message>,
}

/// Every thread linked to `start`: by the links already stored, and by
/// Message-IDs their messages share.
fn gather(store: &Store, start: &str) -> StoreResult<Group> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue = VecDeque::from([start.to_string()]);
    let mut group = Group {
        threads: Vec::new(),
        messages: Vec::new(),
    };
    while let Some(key) = queue.pop_front() {
        if !seen.insert(key.clone()) || group.threads.len() >= MAX_THREADS {
            continue;
        }
        let Some(thread) = store.get::<Thread>(&key)? else {
            continue;
        };
        queue.extend(thread.merged_into.iter().cloned());
        queue.extend(thread.sources.iter().cloned());
        let messages = messages_of(store, &key)?;
        for id in messages.iter().filter_map(|m| m.message_id.as_deref()) {
            queue.extend(threads_with(store, id)?);
        }
        group.threads.push(thread);
        group.messages.extend(messages);
    }
    Ok(group)
}

/// The thread a conversation is listed under: a Smartlead thread when there
/// is one (it has the campaign and category, and a reply through Smartlead
/// stops its sequence), else the oldest key, so the choice is stable.
fn primary_of(threads: &[Thread]) -> String {
    threads
        .iter()
        .min_by_key(|t| (t.provider != Provider::Smartlead, t.key()))
        .map(Thread::key)
        .unwrap_or_default()
}

/// Links `thread_key` with every thread it shares Message-IDs with and
/// brings the primary's summary up to date over all of their messages.
/// Safe to call any number of times; a thread alone is summarized too.
pub fn settle(store: &Store, thread_key: &str) -> StoreResult<()> {
    let group = gather(store, thread_key)?;
    if group.threads.is_empty() {
        return Ok(());
    }
    let primary_key = primary_of(&group.threads);
    let primary = group
        .threads
        .iter()
        .find(|t| t.key() == primary_key)
        .expect("the primary is one of the group");
    let merged: Vec<Message> = merge_copies(group.messages)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    // The conversation's summary: the primary's own fields, filled in from
    // the copies where it has none.
    let mut conversation = primary.clone();
    let others = || group.threads.iter().filter(|t| t.key() != primary_key);
    if conversation.lead_email.is_none() {
        conversation.lead_email = others().find_map(|t| t.lead_email.clone());
    }
    if conversation.category.is_none() {
        conversation.category = others().find_map(|t| t.category.clone());
    }
    conversation.has_reply = group.threads.iter().any(|t| t.has_reply);
    let mut participants: BTreeSet<String> = BTreeSet::new();
    for t in &group.threads {
        participants.extend(t.participants.iter().cloned());
    }
    conversation.participants = participants.into_iter().collect();
    if conversation.lead_name.is_none() {
        conversation.lead_name = match &conversation.lead_email {
            Some(email) => lead_name_for(store, email)?,
            None => None,
        }
        .or_else(|| others().find_map(|t| t.lead_name.clone()));
    }
    summarize(&mut conversation, &merged);
    let mut sources: Vec<String> = others().map(Thread::key).collect();
    sources.sort();
    let keys: Vec<String> = group.threads.iter().map(Thread::key).collect();
    store.modify::<Thread, ()>(&keys, |key, current| {
        let mut thread = current?;
        if key == primary_key {
            // Fields only this thread's own writer decides stay as stored.
            let own = thread;
            thread = Thread {
                subject: own.subject,
                campaign_id: own.campaign_id,
                campaign_name: own.campaign_name,
                category: own.category.or_else(|| conversation.category.clone()),
                ..conversation.clone()
            };
            thread.merged_into = None;
            thread.sources = sources.clone();
        } else {
            thread.merged_into = Some(primary_key.clone());
            thread.sources = Vec::new();
        }
        Some((thread, ()))
    })?;
    Ok(())
}

/// The webhook's fast path: settles only when `thread` (as just written)
/// is already part of a larger conversation or one of `added` (the messages
/// just written to it) has a Message-ID another thread also holds. Returns
/// whether it settled.
pub fn settle_if_linked(store: &Store, thread: &Thread, added: &[Message]) -> StoreResult<bool> {
    let thread_key = thread.key();
    let linked = thread.merged_into.is_some() || !thread.sources.is_empty();
    let settles = linked || in_another_thread(store, &thread_key, added)?;
    if settles {
        settle(store, &thread_key)?;
    }
    Ok(settles)
}

/// Whether a thread other than `thread_key` holds a message with one of
/// `messages`' Message-IDs. Reads the Message-ID index only: a message is
/// read (for its thread) only when its key is not one of `messages`' own,
/// which are in `thread_key` by construction.
fn in_another_thread(store: &Store, thread_key: &str, messages: &[Message]) -> StoreResult<bool> {
    let own: HashSet<String> = messages.iter().map(Message::key).collect();
    for id in messages.iter().filter_map(|m| m.message_id.as_deref()) {
        let prefix = KeyBuf::new().text(id).into_prefix();
        for entry in store.index_keys(Index::MessagesByMessageId, &prefix, false) {
            let (_, key) = entry?;
            if own.contains(&key) {
                continue;
            }
            if store
                .get::<Message>(&key)?
                .is_some_and(|other| other.thread_key != thread_key)
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Settles every conversation in the cache (after a migration brought the
/// link fields, or an import). Returns how many threads it looked at.
pub fn settle_all(store: &Store) -> StoreResult<usize> {
    let keys: Vec<String> = store
        .iter::<Thread>()
        .map(|t| t.map(|t| t.key()))
        .collect::<StoreResult<_>>()?;
    let mut done: HashSet<String> = HashSet::new();
    for key in &keys {
        if done.contains(key) {
            continue;
        }
        settle(store, key)?;
        if let Some(t) = store.get::<Thread>(key)? {
            done.insert(key.clone());
            done.extend(t.sources);
            done.extend(t.merged_into);
        }
    }
    Ok(keys.len())
}
