//! The search syntax, one parser for `/` in the TUI, `inbox --search` and
//! `leads --search`: free words (all must match, case-insensitive, each at
//! the start of a word: `meet` finds "meeting", not "sweet"), "quoted
//! phrases" (whole words in that order), `key:value` operators, and
//! `-term` negation.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use super::index::Needle;
use crate::triage::when::{local, parse_delay, parse_weekday};

/// The operators, as an error lists them.
pub const KEYS: &str = "from: to: category: campaign: tag: label: is:unread is:read is:snoozed \
                        is:archived has:attachment before:DATE after:DATE assigned:me|NAME|nobody";

/// A state `is:` asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Unread,
    Read,
    Snoozed,
    Archived,
}

/// One condition a conversation must meet. Text values are lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A free word: the start of a word anywhere in subject, bodies,
    /// names, addresses, attachment names.
    Text(String),
    /// A quoted phrase: whole words in that order, in the same places.
    Phrase(String),
    From(String),
    To(String),
    Category(String),
    /// A substring of the campaign's name.
    Campaign(String),
    Tag(String),
    Label(String),
    Is(Flag),
    HasAttachment,
    /// The newest message is before this instant.
    Before(DateTime<Utc>),
    /// The newest message is at or after this instant.
    After(DateTime<Utc>),
    /// Assigned to this user (lower-cased), `me`, or `nobody`.
    Assigned(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub negated: bool,
    pub condition: Condition,
}

impl Condition {
    /// What a free word or phrase looks for in a conversation's text.
    pub fn needle(&self) -> Option<Needle<'_>> {
        match self {
            Condition::Text(text) => Some(Needle { text, whole: false }),
            Condition::Phrase(text) => Some(Needle { text, whole: true }),
            _ => None,
        }
    }
}

/// A parsed query: every term must hold (a negated one must not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<Term>,
}

impl SearchQuery {
    /// Parses QUERY; dates are read at `now` in `zone` (the rep's).
    pub fn parse<Z: TimeZone>(
        text: &str,
        now: DateTime<Utc>,
        zone: &Z,
    ) -> Result<SearchQuery, String> {
        let mut terms = Vec::new();
        for (negated, word, quoted) in split(text)? {
            let condition = if quoted {
                // One space between words, as the indexed texts have.
                let words: Vec<&str> = word.split_whitespace().collect();
                Condition::Phrase(words.join(" ").to_lowercase())
            } else {
                condition(&word, now, zone)?
            };
            terms.push(Term { negated, condition });
        }
        Ok(SearchQuery { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The conditions asked for (not negated).
    pub fn wanted(&self) -> impl Iterator<Item = &Condition> {
        self.terms
            .iter()
            .filter(|t| !t.negated)
            .map(|t| &t.condition)
    }

    /// Every condition, negated or not.
    pub fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.terms.iter().map(|t| &t.condition)
    }

    /// Whether `is:` asks for this state (then the list is that state's,
    /// not the inbox).
    pub fn asks(&self, flag: Flag) -> bool {
        self.wanted().any(|c| *c == Condition::Is(flag))
    }
}

/// Splits on whitespace, keeping "quoted phrases" (also `key:"two words"`
/// and `-"phrase"`) whole. Each word says whether it was negated (a
/// leading `-`) and whether it was a bare phrase.
fn split(text: &str) -> Result<Vec<(bool, String, bool)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        let mut phrase = false;
        let mut quoted_only = true;
        let mut negated = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' {
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    word.push(c);
                }
                if !closed {
                    return Err(format!("a quote is not closed in {text:?}"));
                }
                phrase = true;
            } else if c == '-' && word.is_empty() && !phrase && !negated {
                // A leading `-` negates: `-"a phrase"` is still a phrase.
                negated = true;
            } else {
                quoted_only = false;
                word.push(c);
            }
        }
        // `"a b"` and `-"a b"` are phrases; `from:"Ann Lee"` is an operator.
        let bare_phrase = phrase && quoted_only;
        if word.trim().is_empty() {
            // `""` and a lone `-` ask for nothing.
            continue;
        }
        out.push((negated, word, bare_phrase));
    }
    Ok(out)
}

fn condition<Z: TimeZone>(word: &str, now: DateTime<Utc>, zone: &Z) -> Result<Condition, String> {
    let Some((key, value)) = word.split_once(':') else {
        return Ok(Condition::Text(word.to_lowercase()));
    };
    // A URL or a time of day is a word, not an operator.
    if key.is_empty() || value.starts_with("//") || key.chars().all(|c| c.is_ascii_digit()) {
        return Ok(Condition::Text(word.to_lowercase()));
    }
    let value = value.trim();
    let lower = value.to_lowercase();
    let key = key.to_lowercase();
    if value.is_empty()
        && matches!(
            key.as_str(),
            "from"
                | "to"
                | "category"
                | "campaign"
                | "tag"
                | "label"
                | "is"
                | "has"
                | "before"
                | "after"
                | "assigned"
        )
    {
        return Err(format!("{key}: needs a value, as in {key}:something"));
    }
    Ok(match key.as_str() {
        "from" => Condition::From(lower),
        "to" => Condition::To(lower),
        "category" => Condition::Category(lower),
        "campaign" => Condition::Campaign(lower),
        "tag" => Condition::Tag(lower),
        "label" => Condition::Label(lower),
        "assigned" => Condition::Assigned(lower),
        "is" => Condition::Is(match lower.as_str() {
            "unread" => Flag::Unread,
            "read" => Flag::Read,
            "snoozed" => Flag::Snoozed,
            "archived" | "done" => Flag::Archived,
            _ => {
                return Err(format!(
                    "unknown is:{value}; use is:unread, is:read, is:snoozed or is:archived"
                ));
            }
        }),
        "has" => match lower.as_str() {
            "attachment" | "attachments" => Condition::HasAttachment,
            _ => return Err(format!("unknown has:{value}; use has:attachment")),
        },
        "before" => Condition::Before(date(value, now, zone)?),
        "after" => Condition::After(date(value, now, zone)?),
        _ => {
            return Err(format!(
                "unknown search key {key:?}; the keys are {KEYS}, and -term negates"
            ));
        }
    })
}

/// A date as a search reads it, in `zone`: `2026-12-01` (its midnight),
/// RFC 3339, `today`, `yesterday`, a weekday (the last one), or an age
/// (`2d`, `3h`, `1w`: that long ago).
fn date<Z: TimeZone>(text: &str, now: DateTime<Utc>, zone: &Z) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let lower = text.to_ascii_lowercase();
    if let Some(age) = parse_delay(&lower) {
        return Ok(now - age);
    }
    let today = now.with_timezone(zone).date_naive();
    let day = match lower.as_str() {
        "today" => Some(today),
        "yesterday" => today.pred_opt(),
        other => NaiveDate::parse_from_str(other, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(other, "%Y/%m/%d"))
            .ok()
            .or_else(|| {
                let wanted = parse_weekday(other)?;
                let back = (7 + today.weekday().num_days_from_monday() as i64
                    - wanted.num_days_from_monday() as i64)
                    % 7;
                Some(today - Duration::days(if back == 0 { 7 } else { back }))
            }),
    };
    day.and_then(|d| local(zone, d, NaiveTime::MIN))
        .ok_or_else(|| {
            format!(
                "cannot read {text:?} as a date; use 2026-12-01, RFC 3339, today, yesterday, \
             a weekday (mon) or an age (3d, 2w)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-10T15:00:00Z".parse().unwrap()
    }

    fn parse(text: &str) -> Result<SearchQuery, String> {
        SearchQuery::parse(text, now(), &chrono_tz::America::New_York)
    }

    fn term(negated: bool, condition: Condition) -> Term {
        Term { negated, condition }
    }

    #[test]
    fn words_phrases_and_negation() {
        let q = parse(r#"Pricing "next  QUARTER" -budget -"not now""#).unwrap();
        assert_eq!(
            q.terms,
            vec![
                term(false, Condition::Text("pricing".into())),
                term(false, Condition::Phrase("next quarter".into())),
                term(true, Condition::Text("budget".into())),
                term(true, Condition::Phrase("not now".into())),
            ]
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse(r#"an "open quote"#).unwrap_err().contains("quote"));
    }

    #[test]
    fn every_operator() {
        let q = parse(
            r#"from:Ann to:sam@acme.io category:"Meeting Request" campaign:webinar tag:hot label:Prospects is:unread -is:snoozed has:attachment assigned:Me"#,
        )
        .unwrap();
        assert_eq!(
            q.terms,
            vec![
                term(false, Condition::From("ann".into())),
                term(false, Condition::To("sam@acme.io".into())),
                term(false, Condition::Category("meeting request".into())),
                term(false, Condition::Campaign("webinar".into())),
                term(false, Condition::Tag("hot".into())),
                term(false, Condition::Label("prospects".into())),
                term(false, Condition::Is(Flag::Unread)),
                term(true, Condition::Is(Flag::Snoozed)),
                term(false, Condition::HasAttachment),
                term(false, Condition::Assigned("me".into())),
            ]
        );
        assert!(q.asks(Flag::Unread) && !q.asks(Flag::Snoozed));
    }

    #[test]
    fn dates_are_the_reps_midnight_or_an_age() {
        let q = parse("after:2026-12-01 before:yesterday after:2d before:mon").unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            q.terms
                .iter()
                .map(|t| t.condition.clone())
                .collect::<Vec<_>>(),
            vec![
                // New York is five hours behind UTC in December.
                Condition::After(at("2026-12-01T05:00:00Z")),
                Condition::Before(at("2026-12-09T05:00:00Z")),
                Condition::After(at("2026-12-08T15:00:00Z")),
                // 2026-12-10 is a Thursday: the last Monday is the 7th.
                Condition::Before(at("2026-12-07T05:00:00Z")),
            ]
        );
        assert!(parse("after:someday").unwrap_err().contains("as a date"));
    }

    #[test]
    fn unknown_keys_are_refused_with_the_list() {
        let err = parse("subject:hello").unwrap_err();
        assert!(
            err.contains("\"subject\"") && err.contains("from:") && err.contains("has:attachment"),
            "{err}"
        );
        assert!(parse("is:starred").unwrap_err().contains("is:unread"));
        assert!(parse("from:").unwrap_err().contains("needs a value"));
        // Times and links are words.
        assert_eq!(
            parse("10:30 https://acme.io").unwrap().terms[1].condition,
            Condition::Text("https://acme.io".into())
        );
    }
}
