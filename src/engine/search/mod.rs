//! Search: one syntax ([`SearchQuery`]) for `/` in the TUI, `inbox --search`
//! and `leads --search`, answered from the engine's in-memory
//! [`SearchIndex`] so that each keystroke reads no message from disk.

mod index;
mod query;

use std::collections::HashMap;

pub use index::{Doc, Docs, IndexSize, Needle, SearchIndex, TextHits, conversation_copies};
pub use query::{Condition, Flag, KEYS, SearchQuery, Term};

use crate::model::{GmailLabels, Lead, Thread, TriageState};

/// The names of every Gmail account's labels, by account.
pub type LabelNames = HashMap<String, GmailLabels>;

/// The user labels of a conversation, by name, sorted; system labels
/// (INBOX, UNREAD, CATEGORY_*) are flags the rows show otherwise.
pub fn label_names(doc: &Doc, names: &LabelNames) -> Vec<String> {
    let mut out: Vec<String> = doc
        .labels
        .iter()
        .filter_map(|(account, id)| names.get(account)?.user_label(id))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What matching a conversation needs besides the query.
pub struct Context<'a> {
    /// The conversation's own tags.
    pub tags: &'a [String],
    pub labels: &'a LabelNames,
    pub state: TriageState,
    /// Who the conversation is assigned to.
    pub assigned_to: Option<&'a str>,
    /// Who "me" is for `assigned:me`.
    pub me: Option<&'a str>,
    /// Which conversations hold the query's words, from the word index;
    /// without it a document's text is read.
    pub hits: Option<&'a TextHits>,
}

impl SearchQuery {
    /// The free words and phrases: every one (to look up) and those a
    /// match must hold (not negated).
    pub fn needles(&self) -> (Vec<Needle<'_>>, Vec<Needle<'_>>) {
        let mut every = Vec::new();
        let mut wanted = Vec::new();
        for term in &self.terms {
            if let Some(needle) = term.condition.needle() {
                every.push(needle);
                if !term.negated {
                    wanted.push(needle);
                }
            }
        }
        (every, wanted)
    }

    /// Whether matching needs the conversation's messages (bodies, senders,
    /// labels, attachments), not only its thread record.
    pub fn needs_messages(&self) -> bool {
        self.conditions().any(|c| {
            matches!(
                c,
                Condition::Text(_)
                    | Condition::Phrase(_)
                    | Condition::From(_)
                    | Condition::To(_)
                    | Condition::Label(_)
                    | Condition::HasAttachment
            )
        })
    }

    /// Whether a conversation matches. `doc` is needed when
    /// [`SearchQuery::needs_messages`]; without it, only the thread record's
    /// text is searched.
    pub fn matches(&self, thread: &Thread, doc: Option<&Doc>, cx: &Context<'_>) -> bool {
        self.terms
            .iter()
            .all(|term| holds(&term.condition, thread, doc, cx) != term.negated)
    }

    /// Whether a lead matches: its words over name, address and company,
    /// `tag:` over the lead's tags, `campaign:` over its campaigns' names.
    /// Conditions about mail (`is:`, `label:`, dates...) do not apply to a
    /// lead and are refused by [`SearchQuery::lead_error`].
    pub fn matches_lead(&self, lead: &Lead, tags: &[String]) -> bool {
        self.terms.iter().all(|term| {
            let hit = match &term.condition {
                Condition::Text(_) | Condition::Phrase(_) => {
                    let needle = term.condition.needle().expect("a text");
                    [
                        lead.email.to_lowercase(),
                        lead.full_name().to_lowercase(),
                        lead.company.as_deref().unwrap_or_default().to_lowercase(),
                    ]
                    .iter()
                    .any(|field| needle.occurs_in(field))
                }
                Condition::Tag(tag) => tags.iter().any(|t| t == tag),
                Condition::Campaign(name) => lead.memberships.iter().any(|m| {
                    m.campaign_name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(name.as_str()))
                }),
                _ => true,
            };
            hit != term.negated
        })
    }

    /// The first condition a leads search cannot answer, as an error.
    pub fn lead_error(&self) -> Option<String> {
        self.conditions()
            .find(|c| {
                !matches!(
                    c,
                    Condition::Text(_)
                        | Condition::Phrase(_)
                        | Condition::Tag(_)
                        | Condition::Campaign(_)
                )
            })
            .map(|_| {
                "a leads search takes words, tag: and campaign:; the other keys are for the inbox"
                    .to_string()
            })
    }
}

fn holds(condition: &Condition, thread: &Thread, doc: Option<&Doc>, cx: &Context<'_>) -> bool {
    let lower_contains = |text: &str, needle: &str| text.to_lowercase().contains(needle);
    match condition {
        Condition::Text(_) | Condition::Phrase(_) => {
            let needle = condition.needle().expect("a text");
            match doc {
                Some(doc) => TextHits::holds(cx.hits, doc, needle),
                None => [&thread.subject, &thread.snippet, &thread.preview]
                    .into_iter()
                    .chain(thread.lead_name.iter())
                    .chain(thread.lead_email.iter())
                    .chain(thread.participants.iter())
                    .any(|field| needle.occurs_in(&field.to_lowercase())),
            }
        }
        Condition::From(needle) => doc.is_some_and(|d| d.from.contains(needle.as_str())),
        Condition::To(needle) => doc.is_some_and(|d| d.to.contains(needle.as_str())),
        Condition::Category(name) => thread
            .category
            .as_ref()
            .is_some_and(|c| c.name.to_lowercase() == *name),
        Condition::Campaign(name) => thread
            .campaign_name
            .as_deref()
            .is_some_and(|n| lower_contains(n, name)),
        Condition::Tag(tag) => cx.tags.iter().any(|t| t == tag),
        Condition::Label(name) => doc.is_some_and(|d| {
            d.labels.iter().any(|(account, id)| {
                cx.labels
                    .get(account)
                    .and_then(|l| l.user_label(id))
                    .is_some_and(|l| l.to_lowercase() == *name)
            })
        }),
        Condition::Is(Flag::Unread) => thread.unread,
        Condition::Is(Flag::Read) => !thread.unread,
        Condition::Is(Flag::Snoozed) => cx.state == TriageState::Snoozed,
        Condition::Is(Flag::Archived) => cx.state == TriageState::Archived,
        Condition::HasAttachment => doc.is_some_and(|d| d.has_attachment),
        Condition::Before(at) => thread.last_message_at < *at,
        Condition::After(at) => thread.last_message_at >= *at,
        Condition::Assigned(who) => match who.as_str() {
            "nobody" => cx.assigned_to.is_none(),
            "me" => cx.me.is_some() && cx.assigned_to == cx.me,
            name => cx.assigned_to.is_some_and(|a| a.eq_ignore_ascii_case(name)),
        },
    }
}
