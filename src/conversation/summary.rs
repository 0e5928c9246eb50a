//! A thread's summary (times, counts, unread, preview) from its messages:
//! the one computation every writer of threads uses.

use crate::model::{Direction, Lead, Message, Thread};
use crate::store::{Index, Store, StoreResult, keys::KeyBuf};

/// How long a row's snippet and preview are.
const PREVIEW_CHARS: usize = 140;

/// Splits a body into what the sender wrote and the quoted tail.
pub fn split_quoted(body: &str) -> (Vec<&str>, Vec<&str>) {
    let lines: Vec<&str> = body.lines().collect();
    let start = lines.iter().position(|l| {
        let t = l.trim_start();
        t.starts_with('>')
            || (t.starts_with("On ") && t.trim_end().ends_with("wrote:"))
            || t.starts_with("-----Original Message-----")
    });
    match start {
        Some(at) => (lines[..at].to_vec(), lines[at..].to_vec()),
        None => (lines, Vec::new()),
    }
}

/// The readable text of a message: its text part, else its HTML as text.
pub fn readable_text(message: &Message) -> String {
    if !message.text_body.trim().is_empty() {
        return message.text_body.replace("\r\n", "\n");
    }
    match &message.html_body {
        Some(html) => html2text::from_read(html.as_bytes(), 78).unwrap_or_else(|_| html.clone()),
        None => String::new(),
    }
}

/// What the sender wrote in a message, without the quoted tail, on one line.
fn own_words(message: &Message) -> String {
    let text = readable_text(message);
    let (fresh, _) = split_quoted(&text);
    let words = crate::engine::snippet(&fresh.join(" "), PREVIEW_CHARS);
    if words.is_empty() {
        // All of it was quoted: better the whole than nothing.
        crate::engine::snippet(&text, PREVIEW_CHARS)
    } else {
        words
    }
}

/// Fills the summary fields of `thread` from its messages (one copy of each,
/// see [`merge_copies`](super::merge_copies)). Fields the provider decides
/// (subject, campaign, category, participants, whether it is a reply) are
/// left alone.
pub fn summarize(thread: &mut Thread, messages: &[Message]) {
    let Some(last) = messages.iter().max_by_key(|m| m.date) else {
        return;
    };
    thread.last_message_at = last.date;
    thread.last_inbound_at = Thread::last_inbound_in(messages);
    thread.message_count = messages.len() as u32;
    thread.unread = Thread::unread_in(messages);
    thread.snippet = crate::engine::snippet(&readable_text(last), PREVIEW_CHARS);
    let last_inbound = messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .max_by_key(|m| m.date);
    thread.preview = last_inbound.map(own_words).unwrap_or_default();
    thread.answered_last = last_inbound.is_some() && last.direction == Direction::Outbound;
    if thread.lead_name.is_none() {
        thread.lead_name = display_name_in(messages, thread.lead_email.as_deref());
    }
}

/// Brings a summary up to date with messages that were not stored before,
/// without reading the rest of the conversation: what a webhook reply costs
/// does not grow with the conversation it joins. Gives what [`summarize`]
/// gives over all the messages, except that the newest message wins ties.
pub fn fold(thread: &mut Thread, added: &[Message]) {
    let mut added: Vec<&Message> = added.iter().collect();
    added.sort_by_key(|m| m.date);
    // Whether our message is the newest so far.
    let mut newest_ours = thread.message_count > 0
        && (thread.answered_last
            || thread
                .last_inbound_at
                .is_none_or(|at| at < thread.last_message_at));
    for m in added {
        let first = thread.message_count == 0;
        thread.message_count += 1;
        if first || m.date >= thread.last_message_at {
            thread.last_message_at = m.date;
            thread.snippet = crate::engine::snippet(&readable_text(m), PREVIEW_CHARS);
            newest_ours = m.direction == Direction::Outbound;
        }
        if m.direction == Direction::Inbound {
            if thread.last_inbound_at.is_none_or(|at| m.date >= at) {
                thread.last_inbound_at = Some(m.date);
                thread.preview = own_words(m);
            }
            thread.unread |= !m.read;
        }
    }
    thread.answered_last = newest_ours && thread.last_inbound_at.is_some();
}

/// The display name the person's address carries on the conversation's mail
/// (their From, or our To), when it has one.
fn display_name_in(messages: &[Message], email: Option<&str>) -> Option<String> {
    let email = email?;
    messages
        .iter()
        .flat_map(|m| {
            std::iter::once(&m.from)
                .chain(m.to.iter())
                .chain(m.cc.iter())
        })
        .filter(|a| a.email.eq_ignore_ascii_case(email))
        .filter_map(|a| a.name.clone())
        .map(|n| n.trim().trim_matches('"').to_string())
        .find(|n| !n.is_empty() && !n.contains('@'))
}

/// The name a lead record gives this address, in any account.
pub fn lead_name_for(store: &Store, email: &str) -> StoreResult<Option<String>> {
    let prefix = KeyBuf::new()
        .text(&crate::model::normalize_email(email))
        .into_prefix();
    for lead in store.by_index::<Lead>(Index::LeadsByEmail, &prefix, false) {
        let name = lead?.full_name();
        if !name.trim().is_empty() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::model::{Address, Provider};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).unwrap_or_default()
    }

    fn message(id: &str, inbound: bool, secs: i64, text: &str) -> Message {
        let lead = Address {
            name: Some("Dana Reyes".into()),
            email: "dana@lead.example".into(),
        };
        let us = Address::new("rep@acme.example");
        Message {
            account: "a".into(),
            provider_id: id.into(),
            thread_key: "a/t".into(),
            direction: if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            message_id: Some(format!("<{id}@x>")),
            in_reply_to: None,
            references: Vec::new(),
            from: if inbound { lead.clone() } else { us.clone() },
            to: vec![if inbound { us } else { lead }],
            cc: Vec::new(),
            subject: "Hello".into(),
            date: at(secs),
            text_body: text.into(),
            html_body: None,
            attachments: Vec::new(),
            read: !inbound,
            labels: Vec::new(),
            smartlead: None,
        }
    }

    fn thread() -> Thread {
        Thread {
            account: "a".into(),
            provider: Provider::Gmail,
            provider_thread_id: "t".into(),
            subject: "Hello".into(),
            lead_email: Some("dana@lead.example".into()),
            campaign_id: None,
            campaign_name: None,
            last_message_at: at(0),
            last_inbound_at: None,
            message_count: 0,
            unread: false,
            has_reply: true,
            category: None,
            snippet: String::new(),
            participants: vec!["dana@lead.example".into()],
            lead_name: None,
            preview: String::new(),
            answered_last: false,
            merged_into: None,
            sources: Vec::new(),
        }
    }

    #[test]
    fn the_preview_is_the_persons_last_words_and_marks_our_answer() {
        let messages = vec![
            message("1", false, 0, "Hi Dana, worth a chat?"),
            message(
                "2",
                true,
                60,
                "Yes, Tuesday works.\n\nOn Mon, Rep wrote:\n> Hi Dana, worth a chat?",
            ),
            message("3", false, 120, "Great, invite sent."),
        ];
        let mut t = thread();
        summarize(&mut t, &messages);
        assert_eq!(t.preview, "Yes, Tuesday works.");
        assert_eq!(t.snippet, "Great, invite sent.");
        assert!(t.answered_last);
        assert!(t.unread);
        assert_eq!(t.message_count, 3);
        assert_eq!(t.last_message_at, at(120));
        assert_eq!(t.last_inbound_at, Some(at(60)));
        assert_eq!(t.lead_name.as_deref(), Some("Dana Reyes"));
        assert_eq!(t.person(), "Dana Reyes");
    }

    #[test]
    fn folding_in_new_messages_gives_what_summarizing_all_of_them_gives() {
        let all = vec![
            message("1", false, 0, "Hi Dana, worth a chat?"),
            message("2", true, 60, "Yes.\n> Hi Dana"),
            message("3", false, 120, "Great."),
            message("4", true, 180, "One more question"),
            message("5", false, 240, "Answered."),
        ];
        for split in 0..all.len() {
            let mut whole = thread();
            summarize(&mut whole, &all);
            let mut folded = thread();
            summarize(&mut folded, &all[..split]);
            fold(&mut folded, &all[split..]);
            if split == 0 {
                // An empty summary has no display name to start from.
                folded.lead_name = whole.lead_name.clone();
            }
            assert_eq!(folded, whole, "split at {split}");
        }
    }

    #[test]
    fn a_lead_who_wrote_last_is_not_marked_answered() {
        let messages = vec![
            message("1", false, 0, "Hi"),
            message("2", true, 60, "Tell me more"),
        ];
        let mut t = thread();
        summarize(&mut t, &messages);
        assert!(!t.answered_last);
        assert_eq!(t.preview, "Tell me more");
    }
}
