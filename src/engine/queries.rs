//! Read-side queries: inbox, thread, leads, lead timeline.
//! Each one walks an index and stops when the page is full.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::search::{
    Condition, Context, Doc, Docs, Flag, LabelNames, SearchQuery, Term, TextHits,
    conversation_copies, label_names,
};
use super::{CommandError, CommandResult, Engine};
use crate::model::*;
use crate::store::{Index, StoreResult, keys::KeyBuf};

/// Which replies to list. Empty filters match everything.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InboxQuery {
    pub account: Option<String>,
    pub campaign_id: Option<i64>,
    /// Category name, case-insensitive ("interested", "out of office", ...).
    pub category: Option<String>,
    pub unread_only: bool,
    /// The search syntax of [`super::search::SearchQuery`].
    pub search: Option<String>,
    /// A Gmail user label, by name (case-insensitive).
    pub label: Option<String>,
    /// The conversations marked done instead of the inbox.
    pub archived: bool,
    /// The snoozed conversations instead of the inbox.
    pub snoozed: bool,
    pub offset: usize,
    pub limit: Option<usize>,
    /// Only the conversations assigned to "me" (the token's user, or the
    /// config's `user`).
    pub mine: bool,
    /// Set by the door from who asks; never read from the wire.
    #[serde(skip)]
    pub scope: super::Scope,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThreadView {
    pub key: String,
    pub thread: Thread,
    /// One copy of each message (a message both providers hold is listed
    /// once), oldest first.
    pub messages: Vec<Message>,
    /// Who the conversation is with: the lead's name, else the display name
    /// on their mail, else their address.
    pub name: String,
    /// The person's last words to us (their newest message, without what it
    /// quotes).
    pub preview: String,
    /// True when we wrote last.
    pub answered_last: bool,
    /// For each message, the accounts it reached outpost through (two when
    /// Smartlead sent through the rep's Gmail mailbox).
    #[serde(default)]
    pub message_sources: Vec<Vec<String>>,
    /// The accounts holding a copy of the conversation, the primary's first.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Done, snoozed, back from a snooze, or in the inbox as usual.
    #[serde(default)]
    pub triage: TriageState,
    /// When a snooze ends (set while snoozed or just back).
    #[serde(default)]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The Gmail user labels on its messages, by name.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The rep's own tags on it.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The user it is assigned to (`outpost assign KEY --to NAME`).
    #[serde(default)]
    pub assigned_to: Option<String>,
}

impl ThreadView {
    /// A row of a list: the conversation without its messages.
    pub fn row(thread: Thread) -> ThreadView {
        let accounts = conversation_accounts(&thread);
        ThreadView {
            key: thread.key(),
            name: thread.person().to_string(),
            preview: thread.preview.clone(),
            answered_last: thread.answered_last,
            thread,
            messages: Vec::new(),
            message_sources: Vec::new(),
            accounts,
            triage: TriageState::Inbox,
            snoozed_until: None,
            labels: Vec::new(),
            tags: Vec::new(),
            assigned_to: None,
        }
    }

    /// The row, with how the rep left it at `now`.
    fn with_triage(mut self, triage: Option<&Triage>, now: DateTime<Utc>) -> ThreadView {
        if let Some(triage) = triage {
            self.triage = triage.state(self.thread.last_inbound_at, now);
            self.snoozed_until = triage.snoozed_until;
        }
        self
    }
}

/// The accounts of a conversation's threads (keys are `account/id`).
pub(crate) fn conversation_accounts(thread: &Thread) -> Vec<String> {
    let mut accounts = vec![thread.account.clone()];
    for source in &thread.sources {
        if let Some((account, _)) = source.split_once('/')
            && !accounts.iter().any(|a| a == account)
        {
            accounts.push(account.to_string());
        }
    }
    accounts
}

/// How leads are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSort {
    /// By account, then email: the stable order for exports.
    #[default]
    Email,
    /// Most recent interaction first.
    LastEvent,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LeadQuery {
    pub account: Option<String>,
    pub campaign_id: Option<i64>,
    /// Case-insensitive substring of the company name.
    pub company: Option<String>,
    /// The type of the lead's last interaction.
    pub event: Option<EventType>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Case-insensitive substring of name, email or company.
    pub search: Option<String>,
    pub sort: LeadSort,
    pub offset: usize,
    pub limit: Option<usize>,
    /// Set by the door from who asks; never read from the wire.
    #[serde(skip)]
    pub scope: super::Scope,
}

/// One line of a lead's activity: an event or a message, from either provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum TimelineItem {
    Event(EmailEvent),
    Message {
        key: String,
        thread_key: String,
        account: String,
        direction: Direction,
        from: String,
        subject: String,
        date: DateTime<Utc>,
        snippet: String,
    },
}

impl TimelineItem {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TimelineItem::Event(e) => e.at,
            TimelineItem::Message { date, .. } => *date,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeadView {
    /// The lead as each account knows it (one per Smartlead account).
    pub records: Vec<Lead>,
    pub enrollments: Vec<Enrollment>,
    pub suppressed: Vec<Suppression>,
    /// Newest first.
    pub timeline: Vec<TimelineItem>,
    /// The name of each campaign the records and timeline mention, by id,
    /// so every view says "Webinar Invite #1", not "campaign #1764613".
    #[serde(default)]
    pub campaign_names: std::collections::BTreeMap<i64, String>,
    /// The rep's own tags on the person (`outpost tag EMAIL +name`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A lead as a list shows it: the record and the rep's tags on the person.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaggedLead {
    #[serde(flatten)]
    pub lead: Lead,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl LeadView {
    /// A campaign as the rep knows it: its name, else its id.
    pub fn campaign_label(&self, id: i64) -> String {
        self.campaign_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("campaign #{id}"))
    }
}

fn contains_ci(haystack: &str, needle_lower: &str) -> bool {
    haystack.to_lowercase().contains(needle_lower)
}

/// What counts of a query are good for: the query (its page aside), the
/// store as it was (its write count) and the second (snoozes end in time).
fn counts_key(q: &InboxQuery, writes: u64, now: DateTime<Utc>) -> String {
    let page_aside = InboxQuery {
        offset: 0,
        limit: None,
        ..q.clone()
    };
    // The scope does not travel in the JSON; two viewers' counts differ.
    format!(
        "{}|{:?}|{writes}|{}",
        serde_json::to_string(&page_aside).unwrap_or_default(),
        q.scope,
        now.timestamp()
    )
}

/// One conversation of a walk: read from the store, or held by the index
/// (then not copied unless it is listed).
enum Found {
    Stored(Box<Thread>),
    Indexed(Arc<Doc>),
}

impl Found {
    fn thread(&self) -> &Thread {
        match self {
            Found::Stored(thread) => thread,
            Found::Indexed(doc) => &doc.thread,
        }
    }

    fn doc(&self) -> Option<&Doc> {
        match self {
            Found::Stored(_) => None,
            Found::Indexed(doc) => Some(doc),
        }
    }
}

/// Conversations newest first.
type Walk<'a> = Box<dyn Iterator<Item = StoreResult<Found>> + 'a>;

/// How many conversations match an inbox query, and how many are unread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCounts {
    pub total: usize,
    pub unread: usize,
}

/// One inbox query made ready to run: its search parsed (with `--label`
/// as one more condition), and the small trees it reads (triage, tags,
/// label names) read once. Rows, counts and woken conversations all match
/// through [`InboxFilter::matches`].
struct InboxFilter<'a> {
    q: &'a InboxQuery,
    search: SearchQuery,
    triage: HashMap<String, Triage>,
    tags: HashMap<String, Vec<String>>,
    labels: LabelNames,
    /// Who each conversation is assigned to, by key.
    assignments: HashMap<String, String>,
    now: DateTime<Utc>,
    /// The in-memory index's documents and the query's word hits, when the
    /// search walks the index instead of the store.
    indexed: Option<(Arc<Docs>, TextHits)>,
}

impl InboxFilter<'_> {
    fn state(&self, key: &str, thread: &Thread) -> TriageState {
        self.triage.get(key).map_or(TriageState::Inbox, |t| {
            t.state(thread.last_inbound_at, self.now)
        })
    }

    /// Whether a conversation in this triage state belongs to the list:
    /// the inbox, or the done or snoozed ones when asked (`--archived`,
    /// `is:archived`).
    fn wants(&self, state: TriageState) -> bool {
        if self.q.archived || self.search.asks(Flag::Archived) {
            state == TriageState::Archived
        } else if self.q.snoozed || self.search.asks(Flag::Snoozed) {
            state == TriageState::Snoozed
        } else {
            matches!(state, TriageState::Inbox | TriageState::Woke)
        }
    }

    fn listed(&self) -> bool {
        !(self.q.archived
            || self.q.snoozed
            || self.search.asks(Flag::Archived)
            || self.search.asks(Flag::Snoozed))
    }

    /// Whether a conversation is listed: its triage state belongs to the
    /// list and it matches every filter. `apart`: conversations back from a
    /// snooze are listed apart (first) and left out here.
    fn admits(&self, thread: &Thread, doc: Option<&Doc>, apart: bool) -> bool {
        // Built once per conversation: a query walks thousands.
        let key = thread.key();
        let state = self.state(&key, thread);
        if (apart && state == TriageState::Woke) || !self.wants(state) {
            return false;
        }
        let hits = self.indexed.as_ref().map(|(_, hits)| hits);
        self.matches(&key, state, thread, doc, hits)
    }

    /// `hits`: the word index's answers for the documents of this query's
    /// walk (without them, documents' texts are read).
    fn matches(
        &self,
        key: &str,
        state: TriageState,
        thread: &Thread,
        doc: Option<&Doc>,
        hits: Option<&TextHits>,
    ) -> bool {
        let q = self.q;
        if q.scope.accounts.is_some()
            && !conversation_accounts(thread)
                .iter()
                .any(|a| q.scope.sees(a))
        {
            return false;
        }
        if let Some(account) = q.account.as_deref()
            && !conversation_accounts(thread).iter().any(|a| a == account)
        {
            return false;
        }
        let assigned_to = self.assignments.get(key).map(String::as_str);
        if q.mine && (q.scope.me.is_none() || assigned_to != q.scope.me.as_deref()) {
            return false;
        }
        if q.campaign_id.is_some() && q.campaign_id != thread.campaign_id {
            return false;
        }
        if q.unread_only && !thread.unread {
            return false;
        }
        if let Some(wanted) = &q.category {
            let matches = thread
                .category
                .as_ref()
                .is_some_and(|c| c.name.eq_ignore_ascii_case(wanted.trim()));
            if !matches {
                return false;
            }
        }
        let tags = if self
            .search
            .conditions()
            .any(|c| matches!(c, Condition::Tag(_)))
        {
            super::tags::conversation_tags(&self.tags, key)
        } else {
            Vec::new()
        };
        let cx = Context {
            tags: &tags,
            labels: &self.labels,
            state,
            assigned_to,
            me: q.scope.me.as_deref(),
            hits,
        };
        self.search.matches(thread, doc, &cx)
    }

    /// The row as a list shows it.
    fn row(&self, thread: Thread, doc: Option<&Doc>) -> ThreadView {
        let key = thread.key();
        let mut row = ThreadView::row(thread).with_triage(self.triage.get(&key), self.now);
        row.tags = super::tags::conversation_tags(&self.tags, &key);
        row.assigned_to = self.assignments.get(&key).cloned();
        if let Some(doc) = doc {
            row.labels = label_names(doc, &self.labels);
        }
        row
    }
}

impl Engine {
    /// The query made ready to run at `now`.
    fn inbox_filter<'a>(
        &self,
        q: &'a InboxQuery,
        now: DateTime<Utc>,
    ) -> CommandResult<InboxFilter<'a>> {
        let mut search = match q.search.as_deref() {
            Some(text) => self
                .settings
                .zone
                .search(text, now)
                .map_err(CommandError::Invalid)?,
            None => SearchQuery::default(),
        };
        let labels = self.label_names()?;
        self.check_search_names(&search, &labels)?;
        self.check_assignee_filter(q, &search)?;
        if let Some(label) = &q.label {
            // Checked as typed, so an error quotes the rep's spelling.
            super::filters::check_label(label, &labels)?;
            search.terms.push(Term {
                negated: false,
                condition: Condition::Label(label.trim().to_lowercase()),
            });
        }
        // A search walks the in-memory index when it reads messages, or
        // once the index is built (then no keystroke reads the store); a
        // one-off `is:unread` from the CLI reads threads, not every body.
        let indexed =
            if search.needs_messages() || (!search.is_empty() && self.search_index.is_built()) {
                let (needles, wanted) = search.needles();
                Some(self.search_index.lookup(&self.store, &needles, &wanted)?)
            } else {
                None
            };
        Ok(InboxFilter {
            q,
            search,
            triage: self.triage_map()?,
            tags: self.tag_map()?,
            labels,
            assignments: self.assignment_map()?,
            now,
            indexed,
        })
    }

    /// Every Gmail account's label names.
    pub(crate) fn label_names(&self) -> StoreResult<LabelNames> {
        self.store
            .iter::<GmailLabels>()
            .map(|l| l.map(|l| (l.account.clone(), l)))
            .collect()
    }

    /// The conversations a filter walks, newest first, each with its
    /// search document when the search walks the in-memory index (no
    /// message read from disk, and only the conversations holding the
    /// query's words), else from the time index.
    fn inbox_walk<'f>(&'f self, filter: &'f InboxFilter<'_>) -> StoreResult<Walk<'f>> {
        if let Some((docs, hits)) = &filter.indexed {
            let walk = docs
                .iter()
                .filter(|doc| hits.candidate(doc))
                .map(|doc| Ok(Found::Indexed(doc.clone())));
            return Ok(Box::new(walk));
        }
        Ok(Box::new(
            self.store
                .by_index::<Thread>(Index::ThreadsByTime, b"", true)
                .map(|t| t.map(|t| Found::Stored(Box::new(t)))),
        ))
    }

    /// A conversation's search document, when its rows show labels or the
    /// search reads messages.
    fn doc_for(&self, filter: &InboxFilter<'_>, thread: &Thread) -> StoreResult<Option<Arc<Doc>>> {
        let shows_labels = filter
            .labels
            .values()
            .any(|l| l.labels.iter().any(|l| !l.system));
        if shows_labels || filter.search.needs_messages() {
            return self.search_index.doc(&self.store, thread).map(Some);
        }
        Ok(None)
    }

    /// Exact counts for an inbox query (its offset and limit aside), so a
    /// list shown a page at a time can still say how long it is.
    pub fn inbox_counts(&self, q: &InboxQuery) -> CommandResult<InboxCounts> {
        let now = self.clock.now();
        // Kept only for a query that ran, so a bad one still gets its error.
        let key = counts_key(q, self.store.write_count(), now);
        if let Some(counts) = self.search_index.kept_counts(&key) {
            return Ok(counts);
        }
        let filter = self.inbox_filter(q, now)?;
        let mut counts = InboxCounts::default();
        for found in self.inbox_walk(&filter)? {
            let found = found?;
            let thread = found.thread();
            if filter.admits(thread, found.doc(), false) {
                counts.total += 1;
                counts.unread += usize::from(thread.unread);
            }
        }
        Ok(counts)
    }

    /// Replies across every account, newest first; conversations back from
    /// a snooze come before the rest, most recently woken first.
    pub fn inbox(&self, q: &InboxQuery) -> CommandResult<Vec<ThreadView>> {
        let filter = self.inbox_filter(q, self.clock.now())?;
        let woke = if filter.listed() {
            self.woken(&filter)?
        } else {
            Vec::new()
        };
        // A search over the in-memory index walks it to the end and keeps
        // the counts: the TUI asks for them next with the same query, and a
        // rare word would otherwise be looked for in every body twice.
        let count_all = filter.indexed.is_some();
        let mut counts = InboxCounts::default();
        let rest = self.inbox_walk(&filter)?.filter(|found| match found {
            Ok(found) => filter.admits(found.thread(), found.doc(), true),
            Err(_) => true,
        });
        let mut out = Vec::new();
        let mut skipped = 0;
        for found in woke.into_iter().map(Ok).chain(rest) {
            let found = found?;
            counts.total += 1;
            counts.unread += usize::from(found.thread().unread);
            let full = q.limit.is_some_and(|limit| out.len() >= limit);
            if full && !count_all {
                break;
            }
            if skipped < q.offset {
                skipped += 1;
                continue;
            }
            if full {
                continue;
            }
            let (thread, doc) = match found {
                Found::Stored(thread) => {
                    let doc = self.doc_for(&filter, &thread)?;
                    (*thread, doc)
                }
                Found::Indexed(doc) => (doc.thread.clone(), Some(doc)),
            };
            out.push(filter.row(thread, doc.as_deref()));
        }
        if count_all {
            self.search_index
                .keep_counts(counts_key(q, self.store.write_count(), filter.now), counts);
        }
        Ok(out)
    }

    /// The conversations back from a snooze that match, most recently
    /// woken first (a reply wakes one when it arrives, a timer at its time).
    fn woken(&self, filter: &InboxFilter<'_>) -> StoreResult<Vec<Found>> {
        let mut woke = Vec::new();
        for t in filter.triage.values().filter(|t| t.snoozed_until.is_some()) {
            let Some(thread) = self.store.get::<Thread>(&t.conversation)? else {
                continue;
            };
            if t.state(thread.last_inbound_at, filter.now) != TriageState::Woke {
                continue;
            }
            let found = if filter.search.needs_messages() {
                Found::Indexed(self.search_index.doc(&self.store, &thread)?)
            } else {
                Found::Stored(Box::new(thread.clone()))
            };
            let key = thread.key();
            // The word hits are for the walk's documents; this one was
            // read again, so its own text says.
            if filter.matches(&key, TriageState::Woke, &thread, found.doc(), None) {
                let by_reply = thread.last_inbound_at.filter(|at| Some(*at) > t.snoozed_at);
                let woke_at = match (by_reply, t.snoozed_until) {
                    (Some(reply), Some(until)) => reply.min(until),
                    (reply, until) => reply.or(until).unwrap_or(filter.now),
                };
                woke.push((woke_at, key, found));
            }
        }
        woke.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        Ok(woke.into_iter().map(|(_, _, found)| found).collect())
    }

    /// A conversation with one copy of each message. The key of a provider
    /// thread merged into another opens the conversation it belongs to.
    pub fn thread(&self, key: &str) -> StoreResult<Option<ThreadView>> {
        let Some(mut thread) = self.store.get::<Thread>(key)? else {
            return Ok(None);
        };
        if let Some(primary) = thread.merged_into.clone()
            && let Some(found) = self.store.get::<Thread>(&primary)?
        {
            thread = found;
        }
        let copies = conversation_copies(&self.store, &thread)?;
        let doc = self.search_index.doc(&self.store, &thread)?;
        let key = thread.key();
        let (messages, message_sources) = crate::conversation::merge_copies(copies)
            .into_iter()
            .unzip();
        let triage = self.store.get::<Triage>(&key)?;
        let row = ThreadView::row(thread).with_triage(triage.as_ref(), self.clock.now());
        Ok(Some(ThreadView {
            messages,
            message_sources,
            labels: label_names(&doc, &self.label_names()?),
            tags: super::tags::conversation_tags(&self.tag_map()?, &key),
            assigned_to: self.store.get::<Assignment>(&key)?.map(|a| a.user),
            ..row
        }))
    }

    /// [`Engine::leads`], each with the tags on the person.
    pub fn tagged_leads(&self, q: &LeadQuery) -> CommandResult<Vec<TaggedLead>> {
        let leads = self.leads(q)?;
        let tags = self.lead_tag_map()?;
        Ok(leads
            .into_iter()
            .map(|lead| TaggedLead {
                tags: tags
                    .get(&normalize_email(&lead.email))
                    .cloned()
                    .unwrap_or_default(),
                lead,
            })
            .collect())
    }

    pub fn leads(&self, q: &LeadQuery) -> CommandResult<Vec<Lead>> {
        let company = q.company.as_ref().map(|s| s.to_lowercase());
        let search = match q.search.as_deref() {
            Some(text) => {
                let search = self
                    .settings
                    .zone
                    .search(text, self.clock.now())
                    .map_err(CommandError::Invalid)?;
                if let Some(error) = search.lead_error() {
                    return Err(CommandError::Invalid(error));
                }
                Some(search)
            }
            None => None,
        };
        let tags = match &search {
            Some(search) if search.conditions().any(|c| matches!(c, Condition::Tag(_))) => {
                self.tag_map()?
            }
            _ => HashMap::new(),
        };
        let keep = |lead: &Lead| -> bool {
            if !q.scope.sees(&lead.account) {
                return false;
            }
            if q.account.as_deref().is_some_and(|a| a != lead.account) {
                return false;
            }
            if let Some(id) = q.campaign_id
                && lead.membership(id).is_none()
            {
                return false;
            }
            if let Some(needle) = &company
                && !lead
                    .company
                    .as_deref()
                    .is_some_and(|c| contains_ci(c, needle))
            {
                return false;
            }
            if let Some(kind) = q.event
                && lead.last_event.map(EventType::base) != Some(kind.base())
            {
                return false;
            }
            if q.since.is_some() || q.until.is_some() {
                let Some(at) = lead.last_event_at else {
                    return false;
                };
                if q.since.is_some_and(|s| at < s) || q.until.is_some_and(|u| at > u) {
                    return false;
                }
            }
            if let Some(search) = &search
                && !search.matches_lead(lead, &super::tags::lead_tags(&tags, &lead.email))
            {
                return false;
            }
            true
        };

        if q.sort == LeadSort::LastEvent {
            return Ok(self.leads_by_last_event(q, keep)?);
        }
        // Pick the narrowest index for the walk; the filter does the rest.
        let source: Box<dyn Iterator<Item = StoreResult<Lead>>> = match (q.campaign_id, &q.account)
        {
            (Some(id), Some(account)) => {
                let prefix = KeyBuf::new()
                    .text(&Campaign::key_for(account, id))
                    .into_prefix();
                Box::new(
                    self.store
                        .by_index::<Lead>(Index::LeadsByCampaign, &prefix, false),
                )
            }
            (_, Some(account)) => Box::new(self.store.scan_prefix::<Lead>(&format!("{account}/"))),
            _ => Box::new(self.store.iter::<Lead>()),
        };
        let mut out = Vec::new();
        let mut skipped = 0;
        for lead in source {
            let lead = lead?;
            if !keep(&lead) {
                continue;
            }
            if skipped < q.offset {
                skipped += 1;
                continue;
            }
            out.push(lead);
            if q.limit.is_some_and(|limit| out.len() >= limit) {
                break;
            }
        }
        Ok(out)
    }

    /// Leads with an interaction, most recent first (ties: later key first).
    /// No index keeps this order (it would move with every event), so the
    /// walk keeps only the best `offset + limit` leads seen so far.
    fn leads_by_last_event(
        &self,
        q: &LeadQuery,
        keep: impl Fn(&Lead) -> bool,
    ) -> StoreResult<Vec<Lead>> {
        let newest_first = |a: &Lead, b: &Lead| {
            (b.last_event_at, &b.account, &b.email).cmp(&(a.last_event_at, &a.account, &a.email))
        };
        let wanted = q.limit.map(|limit| q.offset.saturating_add(limit));
        let source: Box<dyn Iterator<Item = StoreResult<Lead>>> = match &q.account {
            Some(account) => Box::new(self.store.scan_prefix::<Lead>(&format!("{account}/"))),
            None => Box::new(self.store.iter::<Lead>()),
        };
        let mut best: Vec<Lead> = Vec::new();
        for lead in source {
            let lead = lead?;
            if lead.last_event_at.is_none() || !keep(&lead) {
                continue;
            }
            best.push(lead);
            // Trim now and then rather than per lead: amortised linear time.
            if let Some(wanted) = wanted
                && best.len() >= 2 * wanted.max(64)
            {
                best.select_nth_unstable_by(wanted, newest_first);
                best.truncate(wanted);
            }
        }
        best.sort_by(newest_first);
        let mut out: Vec<Lead> = best.into_iter().skip(q.offset).collect();
        if let Some(limit) = q.limit {
            out.truncate(limit);
        }
        Ok(out)
    }

    /// A lead's details and its activity from both providers, merged by address.
    pub fn lead(&self, email: &str) -> StoreResult<Option<LeadView>> {
        let email = normalize_email(email);
        let prefix = KeyBuf::new().text(&email).into_prefix();
        let records = self
            .store
            .by_index::<Lead>(Index::LeadsByEmail, &prefix, false)
            .collect::<StoreResult<Vec<_>>>()?;
        let messages = self
            .store
            .by_index::<Message>(Index::MessagesByAddress, &prefix, true)
            .collect::<StoreResult<Vec<_>>>()?;
        if records.is_empty() && messages.is_empty() {
            return Ok(None);
        }
        let mut timeline = Vec::new();
        // An event both providers reported about one message (the sent step
        // Smartlead lists and Gmail's copy of it) is listed once.
        let mut seen_events = std::collections::HashSet::new();
        for lead in &records {
            for event in self.lead_events(&lead.key())?.into_iter().rev() {
                let first = match &event.message_id {
                    Some(id) => seen_events.insert((event.kind, id.clone())),
                    None => true,
                };
                if first {
                    timeline.push(TimelineItem::Event(event));
                }
            }
        }
        let messages = crate::conversation::merge_copies(messages);
        for (message, _) in messages {
            timeline.push(TimelineItem::Message {
                key: message.key(),
                thread_key: message.thread_key.clone(),
                account: message.account.clone(),
                direction: message.direction,
                from: message.from.to_string(),
                subject: message.subject.clone(),
                date: message.date,
                snippet: snippet(&message.text_body, 120),
            });
        }
        timeline.sort_by_key(|item| std::cmp::Reverse(item.at()));
        let enrollments = self
            .store
            .by_index::<Enrollment>(Index::EnrollmentsByLead, &prefix, false)
            .collect::<StoreResult<Vec<_>>>()?;
        let suppressed = self
            .store
            .by_index::<Suppression>(Index::SuppressionsByEmail, &prefix, false)
            .collect::<StoreResult<Vec<_>>>()?;
        let mut campaign_names = std::collections::BTreeMap::new();
        let mentioned = records
            .iter()
            .flat_map(|l| {
                l.memberships
                    .iter()
                    .map(|m| (l.account.clone(), m.campaign_id))
            })
            .chain(timeline.iter().filter_map(|item| match item {
                TimelineItem::Event(e) => e.campaign_id.map(|id| (e.account.clone(), id)),
                TimelineItem::Message { .. } => None,
            }));
        for (account, id) in mentioned {
            if campaign_names.contains_key(&id) {
                continue;
            }
            let known = records
                .iter()
                .flat_map(|l| &l.memberships)
                .find(|m| m.campaign_id == id)
                .and_then(|m| m.campaign_name.clone());
            let name = match known {
                Some(name) => Some(name),
                None => self
                    .store
                    .get::<Campaign>(&Campaign::key_for(&account, id))?
                    .map(|c| c.name),
            };
            if let Some(name) = name {
                campaign_names.insert(id, name);
            }
        }
        Ok(Some(LeadView {
            records,
            enrollments,
            suppressed,
            timeline,
            campaign_names,
            tags: super::tags::lead_tags(&self.tag_map()?, &email),
        }))
    }

    /// Every account: the synced ones from the store, with those set aside
    /// for a secret that cannot be read saying what to set.
    pub fn accounts(&self) -> StoreResult<Vec<Account>> {
        let mut accounts: Vec<Account> =
            self.store.iter::<Account>().collect::<StoreResult<_>>()?;
        for attention in self.providers().needs_attention.values() {
            let at = match accounts.iter().position(|a| a.name == attention.account) {
                Some(at) => at,
                None => {
                    accounts.push(Account {
                        name: attention.account.clone(),
                        provider: attention.provider,
                        email: None,
                        needs_login: false,
                        last_sync_ok: None,
                        last_error: None,
                        categories: Vec::new(),
                    });
                    accounts.len() - 1
                }
            };
            accounts[at].last_error = Some(attention.summary());
        }
        accounts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(accounts)
    }
}

/// The first `max` characters of a body on one line, for lists.
pub fn snippet(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
