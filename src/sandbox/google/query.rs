//! The subset of Gmail search (`q`) and list filters the sandbox understands.
//!
//! Supported terms: `rfc822msgid:`, `in:` (inbox, sent, trash, spam, drafts,
//! anywhere), `label:`, `is:` (unread, read, starred, important), `from:`,
//! `to:`, `subject:`, `after:`/`before:` (yyyy/mm/dd or epoch seconds), and
//! bare words matched against subject, sender and snippet.

use chrono::{NaiveDate, TimeZone, Utc};

use super::mailbox::{Mailbox, StoredMessage};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Rfc822MsgId(String),
    HasLabel(String),
    LacksLabel(String),
    Anywhere,
    From(String),
    To(String),
    Subject(String),
    AfterMs(i64),
    BeforeMs(i64),
    Text(String),
    /// A term naming something that cannot match (e.g. an unknown label).
    Nothing,
}

/// Everything that narrows a messages.list / threads.list call.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    terms: Vec<Term>,
    label_ids: Vec<String>,
    include_spam_trash: bool,
}

impl MessageFilter {
    pub fn new(
        mailbox: &Mailbox,
        q: Option<&str>,
        label_ids: Vec<String>,
        include_spam_trash: bool,
    ) -> Self {
        let terms = q
            .map(|q| {
                q.split_whitespace()
                    .map(|t| parse_term(mailbox, t))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            terms,
            label_ids,
            include_spam_trash,
        }
    }

    pub fn matches(&self, message: &StoredMessage) -> bool {
        let asks_for_hidden = self.terms.iter().any(|t| match t {
            Term::Anywhere => true,
            Term::HasLabel(l) => l == "TRASH" || l == "SPAM",
            _ => false,
        }) || self.label_ids.iter().any(|l| l == "TRASH" || l == "SPAM");
        if !self.include_spam_trash
            && !asks_for_hidden
            && (message.has_label("TRASH") || message.has_label("SPAM"))
        {
            return false;
        }
        self.label_ids.iter().all(|l| message.has_label(l))
            && self.terms.iter().all(|t| term_matches(t, message))
    }
}

fn parse_term(mailbox: &Mailbox, term: &str) -> Term {
    let (negated, term) = match term.strip_prefix('-') {
        Some(rest) if !rest.is_empty() => (true, rest),
        _ => (false, term),
    };
    let parsed = match term.split_once(':') {
        Some((key, value)) => parse_operator(mailbox, &key.to_ascii_lowercase(), value),
        None => Term::Text(term.to_lowercase()),
    };
    match (negated, parsed) {
        (true, Term::HasLabel(l)) => Term::LacksLabel(l),
        (_, other) => other,
    }
}

fn parse_operator(mailbox: &Mailbox, key: &str, value: &str) -> Term {
    let value = value.trim_matches('"');
    match key {
        "rfc822msgid" => Term::Rfc822MsgId(
            value
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_ascii_lowercase(),
        ),
        "in" | "label" => match value.to_ascii_lowercase().as_str() {
            "anywhere" if key == "in" => Term::Anywhere,
            "drafts" | "draft" => Term::HasLabel("DRAFT".into()),
            "inbox" => Term::HasLabel("INBOX".into()),
            _ => match mailbox.resolve_label(value) {
                Some(label) => Term::HasLabel(label.id.clone()),
                None => match value.to_ascii_lowercase().as_str() {
                    "sent" => Term::HasLabel("SENT".into()),
                    "trash" => Term::HasLabel("TRASH".into()),
                    "spam" => Term::HasLabel("SPAM".into()),
                    _ => Term::Nothing,
                },
            },
        },
        "is" => match value.to_ascii_lowercase().as_str() {
            "unread" => Term::HasLabel("UNREAD".into()),
            "read" => Term::LacksLabel("UNREAD".into()),
            "starred" => Term::HasLabel("STARRED".into()),
            "important" => Term::HasLabel("IMPORTANT".into()),
            _ => Term::Nothing,
        },
        "from" => Term::From(value.to_lowercase()),
        "to" => Term::To(value.to_lowercase()),
        "subject" => Term::Subject(value.to_lowercase()),
        "after" | "newer" => parse_date_ms(value).map_or(Term::Nothing, Term::AfterMs),
        "before" | "older" => parse_date_ms(value).map_or(Term::Nothing, Term::BeforeMs),
        _ => Term::Text(format!("{key}:{value}").to_lowercase()),
    }
}

fn parse_date_ms(value: &str) -> Option<i64> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds * 1000);
    }
    let date = NaiveDate::parse_from_str(value, "%Y/%m/%d")
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y-%m-%d"))
        .ok()?;
    let midnight = date.and_hms_opt(0, 0, 0)?;
    Some(Utc.from_utc_datetime(&midnight).timestamp_millis())
}

fn term_matches(term: &Term, message: &StoredMessage) -> bool {
    match term {
        Term::Rfc822MsgId(wanted) => message.parsed.message_id.as_deref().is_some_and(|id| {
            id.trim_start_matches('<')
                .trim_end_matches('>')
                .eq_ignore_ascii_case(wanted)
        }),
        Term::HasLabel(label) => message.has_label(label),
        Term::LacksLabel(label) => !message.has_label(label),
        Term::Anywhere => true,
        Term::From(who) => message.parsed.from.to_lowercase().contains(who),
        Term::To(who) => {
            message
                .parsed
                .recipients
                .iter()
                .any(|r| r.to_lowercase().contains(who))
                || message
                    .parsed
                    .header("To")
                    .is_some_and(|to| to.to_lowercase().contains(who))
        }
        Term::Subject(word) => message.parsed.subject.to_lowercase().contains(word),
        Term::AfterMs(ms) => message.internal_date_ms >= *ms,
        Term::BeforeMs(ms) => message.internal_date_ms < *ms,
        Term::Text(word) => {
            message.parsed.subject.to_lowercase().contains(word)
                || message.parsed.from.to_lowercase().contains(word)
                || message.parsed.snippet.to_lowercase().contains(word)
        }
        Term::Nothing => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox() -> (Mailbox, String, String) {
        let mut mailbox = Mailbox::new("rep@acme.io".into(), 10);
        let inbound = mailbox
            .insert(
                b"From: Ann <ann@example.com>\r\nTo: rep@acme.io\r\nSubject: Pricing\r\nMessage-ID: <p1@example.com>\r\n\r\nhow much\r\n".to_vec(),
                None,
                &["INBOX", "UNREAD"],
                1_700_000_000_000,
            )
            .expect("insert");
        let sent = mailbox
            .insert(
                b"From: rep@acme.io\r\nTo: Ann <ann@example.com>\r\nSubject: Re: Pricing\r\nMessage-ID: <p2@acme.io>\r\n\r\ncheap\r\n".to_vec(),
                Some(&inbound),
                &["SENT"],
                1_700_000_100_000,
            )
            .expect("insert");
        (mailbox, inbound, sent)
    }

    fn matching(mailbox: &Mailbox, q: &str) -> Vec<String> {
        let filter = MessageFilter::new(mailbox, Some(q), Vec::new(), false);
        let mut ids: Vec<String> = mailbox
            .messages
            .values()
            .filter(|m| filter.matches(m))
            .map(|m| m.id.clone())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn operators_select_the_right_messages() {
        let (mailbox, inbound, sent) = mailbox();
        assert_eq!(
            matching(&mailbox, "rfc822msgid:<p1@example.com>"),
            vec![inbound.clone()]
        );
        assert_eq!(
            matching(&mailbox, "rfc822msgid:p2@acme.io"),
            vec![sent.clone()]
        );
        assert_eq!(matching(&mailbox, "in:sent"), vec![sent.clone()]);
        assert_eq!(
            matching(&mailbox, "label:inbox is:unread"),
            vec![inbound.clone()]
        );
        assert_eq!(matching(&mailbox, "-label:UNREAD"), vec![sent.clone()]);
        assert_eq!(
            matching(&mailbox, "from:ann@example.com"),
            vec![inbound.clone()]
        );
        assert_eq!(matching(&mailbox, "after:1700000050"), vec![sent]);
        assert!(matching(&mailbox, "label:no-such-label").is_empty());
    }

    #[test]
    fn trash_is_hidden_unless_asked_for() {
        let (mut mailbox, inbound, _) = mailbox();
        mailbox.apply_labels(&inbound, &["TRASH".into()], &[]);
        assert!(!matching(&mailbox, "pricing").contains(&inbound));
        assert_eq!(matching(&mailbox, "in:trash"), vec![inbound]);
    }
}
