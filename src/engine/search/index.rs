//! The engine's in-memory search index: per conversation in the inbox, its
//! thread and a lower-cased text of everything a search reads (subject,
//! names, addresses, every message body), so a keystroke never re-reads the
//! messages; and a word index over those texts (every distinct word, sorted,
//! with the conversations holding it), so a typed word is a range of that
//! list instead of a scan of every text. Built on first use, kept fresh
//! from the store's change feed: before each use the changes since are
//! drained and only the conversations they touched are read again; a feed
//! that lagged rebuilds all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memchr::memmem::Finder;
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
    /// Its place in the word index, when the index holds it.
    slot: Option<u32>,
}

/// The words of a text: its runs of letters and digits (`ann.lee@acme.io`
/// holds `ann`, `lee`, `acme` and `io`).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// What a search looks for in a conversation's text, lower-cased: a free
/// word, found at the start of a word (`meet` finds `meeting`, not
/// `sweet`), or a "quoted phrase", found as whole words in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needle<'a> {
    pub text: &'a str,
    /// A phrase: it must also end where a word ends.
    pub whole: bool,
}

impl Needle<'_> {
    /// Whether `text` (lower-cased) holds the needle.
    pub fn occurs_in(&self, text: &str) -> bool {
        self.occurs_with(&Finder::new(self.text), text)
    }

    /// [`Needle::occurs_in`] with the needle's searcher made once for many
    /// texts (a phrase is checked in thousands).
    fn occurs_with(&self, finder: &Finder<'_>, text: &str) -> bool {
        let needle = self.text;
        // Punctuation at an end (`@acme`, `acme.`) may touch anything.
        let free_start = !needle.starts_with(char::is_alphanumeric);
        let free_end = !self.whole || !needle.ends_with(char::is_alphanumeric);
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        // A match of valid UTF-8 in valid UTF-8 starts and ends on char
        // boundaries, so slicing there is safe.
        finder.find_iter(text.as_bytes()).any(|at| {
            (free_start || boundary(text[..at].chars().next_back()))
                && (free_end || boundary(text[at + needle.len()..].chars().next()))
        })
    }
}

/// A set of word-index slots (conversations), as bits.
#[derive(Debug, Clone, Default)]
pub struct SlotSet(Vec<u64>);

impl SlotSet {
    fn insert(&mut self, slot: u32) {
        let (word, bit) = (slot as usize / 64, slot % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    pub fn contains(&self, slot: u32) -> bool {
        self.0
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    fn intersect(&mut self, other: &SlotSet) {
        self.0.truncate(other.0.len());
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine &= theirs;
        }
    }

    fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| (i * 64 + bit) as u32)
        })
    }
}

/// Which conversations hold each text of a query (its free words and
/// phrases), from the word index.
#[derive(Debug, Clone, Default)]
pub struct TextHits {
    /// Each needle (text, whole) and the slots of the documents holding it.
    by_text: Vec<((String, bool), SlotSet)>,
    /// The conversations holding every text the query asks for (not those
    /// it negates); `None` when it asks for none.
    candidates: Option<SlotSet>,
}

impl TextHits {
    /// Whether the conversation in `doc` holds `needle`: from the index
    /// when both know it, else by reading the document's text.
    pub fn holds(hits: Option<&TextHits>, doc: &Doc, needle: Needle<'_>) -> bool {
        let known = hits
            .zip(doc.slot)
            .and_then(|(hits, slot)| hits.find(needle).map(|set| set.contains(slot)));
        known.unwrap_or_else(|| needle.occurs_in(&doc.text))
    }

    fn find(&self, needle: Needle<'_>) -> Option<&SlotSet> {
        self.by_text
            .iter()
            .find(|((text, whole), _)| text == needle.text && *whole == needle.whole)
            .map(|(_, set)| set)
    }

    /// Whether a conversation can match at all: it holds every text asked for.
    pub fn candidate(&self, doc: &Doc) -> bool {
        match (&self.candidates, doc.slot) {
            (None, _) => true,
            (Some(set), Some(slot)) => set.contains(slot),
            (Some(_), None) => false,
        }
    }
}

/// How big the index is, for the benchmark and `doctor`-style reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexSize {
    pub documents: usize,
    /// The lower-cased texts kept for phrases.
    pub text_bytes: usize,
    pub words: usize,
    /// Conversation entries over every word's list.
    pub postings: usize,
    /// Bytes of the sorted word list and its lists.
    pub posting_bytes: usize,
    /// How many documents' texts searches have read (phrases and words
    /// with punctuation, checked on the conversations holding their words).
    pub texts_read: u64,
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
    /// Every distinct word of the documents, sorted, with the slots of the
    /// documents holding it, ascending.
    postings: BTreeMap<Box<str>, Vec<u32>>,
    /// The document in each slot; `None` is a free slot.
    slots: Vec<Option<Arc<Doc>>>,
    free_slots: Vec<u32>,
}

/// Shared by every clone of an engine.
#[derive(Default)]
pub struct SearchIndex {
    state: Mutex<State>,
    /// The counts the last search listing found, by what they are good for.
    counts: Mutex<Option<(String, InboxCounts)>>,
    texts_read: AtomicU64,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchIndex")
    }
}

impl SearchIndex {
    /// Every inbox conversation's document, newest first, and which of them
    /// hold each needle (the query's free words and phrases): a word is a
    /// prefix range of the sorted word list; a phrase, or a word with
    /// punctuation, is read only in the documents holding its words.
    /// `wanted`: the needles every match must hold (those not negated).
    pub fn lookup(
        &self,
        store: &Store,
        needles: &[Needle<'_>],
        wanted: &[Needle<'_>],
    ) -> StoreResult<(Arc<Docs>, TextHits)> {
        let mut state = self.lock();
        let docs = state.fresh(store)?;
        let mut hits = TextHits::default();
        for &needle in needles {
            if hits.find(needle).is_some() {
                continue;
            }
            let (set, read) = state.holding(needle);
            self.texts_read.fetch_add(read, Ordering::Relaxed);
            hits.by_text
                .push(((needle.text.to_string(), needle.whole), set));
        }
        for &needle in wanted {
            let set = hits.find(needle).cloned().unwrap_or_default();
            match &mut hits.candidates {
                Some(candidates) => candidates.intersect(&set),
                None => hits.candidates = Some(set),
            }
        }
        Ok((docs, hits))
    }

    /// Whether the index holds every inbox conversation (a search after
    /// this one reads nothing from disk).
    pub fn is_built(&self) -> bool {
        self.lock().complete
    }

    pub fn size(&self) -> IndexSize {
        let state = self.lock();
        let postings: usize = state.postings.values().map(Vec::len).sum();
        IndexSize {
            documents: state.docs.len(),
            text_bytes: state.docs.values().map(|d| d.text.len()).sum(),
            words: state.postings.len(),
            postings,
            posting_bytes: postings * size_of::<u32>()
                + state
                    .postings
                    .keys()
                    .map(|w| w.len() + size_of::<Box<str>>() + size_of::<Vec<u32>>())
                    .sum::<usize>(),
            texts_read: self.texts_read.load(Ordering::Relaxed),
        }
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
        let doc = build(store, thread.clone())?;
        // Only a complete index keeps single documents: a partial one would
        // have to track which conversations it lacks.
        if state.complete && thread.is_primary() && thread.has_reply {
            state.stale.remove(&key);
            return Ok(state.remember(doc));
        }
        Ok(Arc::new(doc))
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
    /// Every document, newest first, after taking in the changes since the
    /// last use.
    fn fresh(&mut self, store: &Store) -> StoreResult<Arc<Docs>> {
        self.catch_up(store)?;
        if let Some(ordered) = &self.ordered {
            return Ok(ordered.clone());
        }
        if !self.complete {
            let feed = self.feed.take();
            *self = State {
                feed,
                ..State::default()
            };
            for thread in store.by_index::<Thread>(Index::ThreadsByTime, b"", true) {
                let thread = thread?;
                self.insert(store, thread)?;
            }
            self.complete = true;
        } else {
            for key in std::mem::take(&mut self.stale) {
                self.refresh_one(store, &key)?;
            }
        }
        let mut ordered: Docs = self.docs.values().cloned().collect();
        ordered.sort_by(|a, b| {
            b.thread
                .last_message_at
                .cmp(&a.thread.last_message_at)
                .then_with(|| b.thread.key().cmp(&a.thread.key()))
        });
        let ordered = Arc::new(ordered);
        self.ordered = Some(ordered.clone());
        Ok(ordered)
    }

    /// The slots of the documents holding `needle`, and how many
    /// documents' texts were read to know.
    fn holding(&self, needle: Needle<'_>) -> (SlotSet, u64) {
        let text = needle.text;
        let mut tokens: Vec<&str> = words(text).collect();
        tokens.sort_unstable();
        tokens.dedup();
        let mut found: Option<SlotSet> = None;
        for token in &tokens {
            let mut set = SlotSet::default();
            let from = (Bound::Included(*token), Bound::Unbounded);
            for (_, slots) in self
                .postings
                .range::<str, _>(from)
                .take_while(|(word, _)| word.starts_with(token))
            {
                for &slot in slots {
                    set.insert(slot);
                }
            }
            match &mut found {
                Some(found) => found.intersect(&set),
                None => found = Some(set),
            }
        }
        // One free word as typed: its prefix range is the answer; one
        // quoted word: its own list. Otherwise the ranges only narrow, and
        // the texts say where the words stand.
        if tokens.len() == 1 && tokens[0] == text {
            if !needle.whole {
                return (found.unwrap_or_default(), 0);
            }
            let mut set = SlotSet::default();
            for &slot in self.postings.get(text).into_iter().flatten() {
                set.insert(slot);
            }
            return (set, 0);
        }
        let candidates: Vec<u32> = match &found {
            Some(set) => set.slots().collect(),
            // No letter or digit in it: every document may hold it.
            None => (0..self.slots.len() as u32).collect(),
        };
        let finder = Finder::new(text);
        let mut set = SlotSet::default();
        let mut read = 0;
        for slot in candidates {
            if let Some(doc) = &self.slots[slot as usize] {
                read += 1;
                if needle.occurs_with(&finder, &doc.text) {
                    set.insert(slot);
                }
            }
        }
        (set, read)
    }

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
        self.forget(&conversation);
        if self.complete {
            self.stale.insert(conversation);
        }
    }

    /// Drops a conversation's document, its words and its slot.
    fn forget(&mut self, conversation: &str) {
        let Some(doc) = self.docs.remove(conversation) else {
            return;
        };
        for message in &doc.messages {
            self.message_conversation.remove(message);
        }
        let Some(slot) = doc.slot else {
            return;
        };
        for word in distinct_words(&doc.text) {
            if let Some(slots) = self.postings.get_mut(word) {
                if let Ok(at) = slots.binary_search(&slot) {
                    slots.remove(at);
                }
                if slots.is_empty() {
                    self.postings.remove(word);
                }
            }
        }
        self.slots[slot as usize] = None;
        self.free_slots.push(slot);
    }

    /// Reads one changed conversation again: kept if it is in the inbox.
    fn refresh_one(&mut self, store: &Store, key: &str) -> StoreResult<()> {
        match store.get::<Thread>(key)? {
            Some(thread) if thread.is_primary() && thread.has_reply => self.insert(store, thread),
            _ => Ok(()),
        }
    }

    fn insert(&mut self, store: &Store, thread: Thread) -> StoreResult<()> {
        let doc = build(store, thread)?;
        self.remember(doc);
        Ok(())
    }

    /// Keeps a document: in the list, and its words in the word index.
    fn remember(&mut self, mut doc: Doc) -> Arc<Doc> {
        let key = doc.thread.key();
        self.forget(&key);
        let slot = self.free_slots.pop().unwrap_or(self.slots.len() as u32);
        doc.slot = Some(slot);
        for word in distinct_words(&doc.text) {
            let slots = self.postings.entry(word.into()).or_default();
            // Slots mostly grow, so this is mostly a push.
            if let Err(at) = slots.binary_search(&slot) {
                slots.insert(at, slot);
            }
        }
        for message in &doc.messages {
            self.message_conversation
                .insert(message.clone(), key.clone());
        }
        let doc = Arc::new(doc);
        if slot as usize == self.slots.len() {
            self.slots.push(Some(doc.clone()));
        } else {
            self.slots[slot as usize] = Some(doc.clone());
        }
        self.docs.insert(key, doc.clone());
        doc
    }
}

fn distinct_words(text: &str) -> Vec<&str> {
    let mut words: Vec<&str> = words(text).collect();
    words.sort_unstable();
    words.dedup();
    words
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
        slot: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Needle<'_> {
        Needle { text, whole: false }
    }

    fn phrase(text: &str) -> Needle<'_> {
        Needle { text, whole: true }
    }

    #[test]
    fn a_word_starts_a_word_and_a_phrase_is_whole_words() {
        let text = "our purple giraffe budget\nann.lee@northwind.io";
        assert!(word("gir").occurs_in(text));
        assert!(word("giraffe").occurs_in(text));
        assert!(!word("raffe").occurs_in(text));
        assert!(word("north").occurs_in(text) && word("lee@north").occurs_in(text));
        assert!(word("@northwind").occurs_in(text));
        assert!(phrase("purple giraffe").occurs_in(text));
        assert!(!phrase("purple gir").occurs_in(text));
        assert!(!phrase("urple giraffe").occurs_in(text));
        assert!(!phrase("giraffe purple").occurs_in(text));
        assert!(phrase("budget").occurs_in(text) && !phrase("budge").occurs_in(text));
    }

    #[test]
    fn slot_sets_intersect_and_list_their_slots() {
        let mut a = SlotSet::default();
        let mut b = SlotSet::default();
        for slot in [1, 64, 130] {
            a.insert(slot);
        }
        for slot in [64, 130, 200] {
            b.insert(slot);
        }
        a.intersect(&b);
        assert_eq!(a.slots().collect::<Vec<_>>(), [64, 130]);
        assert!(a.contains(130) && !a.contains(1) && !a.contains(200) && !a.contains(9999));
    }
}
