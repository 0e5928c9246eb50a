//! Deterministic mailbox generation: outreach threads with each contact and
//! a few unrelated newsletters, built as real RFC 822 with mail-builder.
//!
//! The first five replying contacts cover one reply style each (quoted
//! plain text, multipart/alternative, HTML only, attachment, RFC 2047
//! encoded subject and name) so even a tiny mailbox exercises every shape.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::mailbox::Mailbox;
use crate::sandbox::Contact;
use crate::sandbox::smartlead::MailboxCopy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyStyle {
    QuotedPlain,
    Alternative,
    HtmlOnly,
    Attachment,
    Encoded,
}

const REPLY_STYLES: [ReplyStyle; 5] = [
    ReplyStyle::QuotedPlain,
    ReplyStyle::Alternative,
    ReplyStyle::HtmlOnly,
    ReplyStyle::Attachment,
    ReplyStyle::Encoded,
];

const OPENERS: [&str; 4] = [
    "Quick question about {company}",
    "{first}, an idea for {company}",
    "Outbound at {company}",
    "{company} + a faster pipeline",
];

const REPLIES: [&str; 6] = [
    "Thanks for reaching out. Could you send over pricing for a team of 12?",
    "Interesting timing, we are reviewing vendors this quarter. Does Thursday at 2pm work for a call?",
    "Not the right person, please talk to our VP of Sales instead.",
    "We are locked into a contract until next year. Follow up in Q3?",
    "Please remove me from your list.",
    "Sounds good. Who else from your side would join the demo?",
];

struct Newsletter {
    from_name: &'static str,
    from_email: &'static str,
    subject: &'static str,
    category: &'static str,
}

const NEWSLETTERS: [Newsletter; 3] = [
    Newsletter {
        from_name: "The SDR Weekly",
        from_email: "digest@sdrweekly.example",
        subject: "5 cold email openers that still work",
        category: "CATEGORY_PROMOTIONS",
    },
    Newsletter {
        from_name: "Pipeline Tools",
        from_email: "updates@pipelinetools.example",
        subject: "Your weekly workspace summary",
        category: "CATEGORY_UPDATES",
    },
    Newsletter {
        from_name: "RevOps Forum",
        from_email: "forum@revops.example",
        subject: "New in the forum: territory planning",
        category: "CATEGORY_FORUMS",
    },
];

/// One message waiting to be stored, in time order.
struct Planned {
    raw: Vec<u8>,
    /// Its Message-ID, which the stored id is derived from.
    message_id: String,
    thread_key: usize,
    labels: Vec<&'static str>,
    at: DateTime<Utc>,
}

/// Message-IDs of one conversation, oldest first.
#[derive(Default)]
struct Conversation {
    message_ids: Vec<String>,
    subject: String,
}

impl Conversation {
    /// In-Reply-To and References for the next message.
    fn reply_headers(&self) -> Option<(String, Vec<String>)> {
        let parent = self.message_ids.last()?.clone();
        Some((parent, self.message_ids.clone()))
    }
}

fn fill(template: &str, contact: &Contact) -> String {
    template
        .replace("{company}", &contact.company)
        .replace("{first}", &contact.first_name)
}

fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map_or("example.com", |(_, d)| d)
}

/// "Dana Reyes" for dana.reyes@…: how a mailbox's owner signs.
pub(crate) fn display_name_of(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    local
        .split(['.', '_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Generator<'a> {
    rng: ChaCha8Rng,
    rep_email: &'a str,
    rep_name: String,
    planned: Vec<Planned>,
    message_counter: u64,
}

impl Generator<'_> {
    fn message_id(&mut self, domain: &str) -> String {
        self.message_counter += 1;
        let noise: u64 = self.rng.random();
        format!(
            "{:x}.{:012x}@{domain}",
            self.message_counter,
            noise & 0xFFFF_FFFF_FFFF
        )
    }

    fn finish(builder: MessageBuilder<'_>) -> Vec<u8> {
        builder.write_to_vec().unwrap_or_default()
    }

    fn outbound(
        &mut self,
        contact: &Contact,
        conversation: &mut Conversation,
        body: String,
        at: DateTime<Utc>,
        thread_key: usize,
    ) {
        let id = self.message_id("mail.gmail.com");
        let subject = match conversation.reply_headers() {
            Some(_) => format!("Re: {}", conversation.subject),
            None => conversation.subject.clone(),
        };
        let mut builder = MessageBuilder::new()
            .from((self.rep_name.clone(), self.rep_email.to_string()))
            .to(Address::new_address(
                Some(format!("{} {}", contact.first_name, contact.last_name)),
                contact.email.clone(),
            ))
            .subject(subject)
            .message_id(id.clone())
            .date(at.timestamp())
            .text_body(body);
        if let Some((parent, references)) = conversation.reply_headers() {
            builder = builder
                .in_reply_to(parent)
                .references(MessageId::from(references));
        }
        conversation.message_ids.push(id.clone());
        self.planned.push(Planned {
            raw: Self::finish(builder),
            message_id: id,
            thread_key,
            labels: vec!["SENT"],
            at,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn inbound(
        &mut self,
        contact: &Contact,
        conversation: &mut Conversation,
        style: ReplyStyle,
        text: &str,
        at: DateTime<Utc>,
        unread: bool,
        thread_key: usize,
    ) {
        let id = self.message_id(domain_of(&contact.email));
        let mut name = format!("{} {}", contact.first_name, contact.last_name);
        let mut subject = format!("Re: {}", conversation.subject);
        if style == ReplyStyle::Encoded {
            name = format!("{name} · {}", contact.company);
            subject = format!("{subject} — réponse");
        }
        let quoted = format!(
            "{text}\n\nOn {}, {} <{}> wrote:\n> Hi {},\n> I lead outbound at our team and had an idea for {}.\n",
            at.format("%a, %b %-d, %Y"),
            self.rep_name,
            self.rep_email,
            contact.first_name,
            contact.company
        );
        let html = format!(
            "<div dir=\"ltr\"><p>{text}</p><p>Best,<br>{}</p></div>",
            contact.first_name
        );
        let mut builder = MessageBuilder::new()
            .from(Address::new_address(Some(name), contact.email.clone()))
            .to((self.rep_name.clone(), self.rep_email.to_string()))
            .subject(subject)
            .message_id(id.clone())
            .date(at.timestamp());
        if let Some((parent, references)) = conversation.reply_headers() {
            builder = builder
                .in_reply_to(parent)
                .references(MessageId::from(references));
        }
        builder = match style {
            ReplyStyle::QuotedPlain | ReplyStyle::Encoded => builder.text_body(quoted),
            ReplyStyle::Alternative => builder.text_body(quoted).html_body(html),
            ReplyStyle::HtmlOnly => builder.html_body(html),
            ReplyStyle::Attachment => {
                let csv = format!("seat,price\nstarter,49\nteam,99\n# {}\n", contact.company);
                builder
                    .text_body(quoted)
                    .attachment("text/csv", "requirements.csv", csv.into_bytes())
                    .attachment(
                        "application/pdf",
                        "overview.pdf",
                        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n".to_vec(),
                    )
            }
        };
        conversation.message_ids.push(id.clone());
        let mut labels = vec!["INBOX", "IMPORTANT", "CATEGORY_PERSONAL"];
        if unread {
            labels.push("UNREAD");
        }
        // The rep's own filing, by conversation so a thread is filed once:
        // "Prospects" and "Follow up" (the mailbox's user labels).
        match thread_key % 4 {
            0 => labels.push("Label_1"),
            1 => labels.push("Label_2"),
            _ => {}
        }
        self.planned.push(Planned {
            raw: Self::finish(builder),
            message_id: id,
            thread_key,
            labels,
            at,
        });
    }

    fn newsletter(&mut self, letter: &Newsletter, at: DateTime<Utc>, thread_key: usize) {
        let id = self.message_id(domain_of(letter.from_email));
        let text = format!(
            "{}\n\nThis week: three ideas for your outbound team.\nRead online: https://{}/issue\n",
            letter.subject,
            domain_of(letter.from_email)
        );
        let html = format!(
            "<html><body><h1>{}</h1><p>This week: three ideas for your outbound team.</p><a href=\"https://{}/unsubscribe\">Unsubscribe</a></body></html>",
            letter.subject,
            domain_of(letter.from_email)
        );
        let builder = MessageBuilder::new()
            .from((letter.from_name, letter.from_email))
            .to(self.rep_email.to_string())
            .subject(letter.subject)
            .message_id(id.clone())
            .date(at.timestamp())
            .header(
                "List-Unsubscribe",
                Raw::new(format!(
                    "<https://{}/unsubscribe>",
                    domain_of(letter.from_email)
                )),
            )
            .text_body(text)
            .html_body(html);
        let mut labels = vec!["INBOX", letter.category];
        if self.rng.random_bool(0.5) {
            labels.push("UNREAD");
        }
        self.planned.push(Planned {
            raw: Self::finish(builder),
            message_id: id,
            thread_key,
            labels,
            at,
        });
    }
}

/// A time `days_ago` days before `now`, during a working morning or afternoon.
fn working_time(rng: &mut ChaCha8Rng, now: DateTime<Utc>, days_ago: i64) -> DateTime<Utc> {
    now - Duration::days(days_ago) - Duration::minutes(rng.random_range(0..600))
}

/// Fill `mailbox` with threads for `contacts`; same seed and `now` give the same mailbox.
pub fn populate(mailbox: &mut Mailbox, contacts: &[Contact], seed: u64, now: DateTime<Utc>) {
    let rep_email = mailbox.email.clone();
    let mut generator = Generator {
        rng: ChaCha8Rng::seed_from_u64(seed),
        rep_name: display_name_of(&rep_email),
        rep_email: &rep_email,
        planned: Vec::new(),
        message_counter: 0,
    };
    let mut replies_so_far = 0usize;
    for (index, contact) in contacts.iter().enumerate() {
        let rng = &mut generator.rng;
        let opener = OPENERS[rng.random_range(0..OPENERS.len())];
        let mut conversation = Conversation {
            subject: fill(opener, contact),
            ..Conversation::default()
        };
        let first_day = rng.random_range(6..30);
        let first_at = working_time(rng, now, first_day);
        let replies = replies_so_far < REPLY_STYLES.len() || rng.random_bool(0.45);
        let body = format!(
            "Hi {},\n\nI lead outbound at our team and had an idea for {}. Worth a 15 minute chat next week?\n\nBest,\n{}",
            contact.first_name, contact.company, generator.rep_name
        );
        generator.outbound(contact, &mut conversation, body, first_at, index);
        if replies {
            let rng = &mut generator.rng;
            let style = if replies_so_far < REPLY_STYLES.len() {
                REPLY_STYLES[replies_so_far]
            } else {
                REPLY_STYLES[rng.random_range(0..REPLY_STYLES.len())]
            };
            replies_so_far += 1;
            let text = REPLIES[rng.random_range(0..REPLIES.len())];
            let reply_at = first_at + Duration::hours(rng.random_range(2..72));
            let unread = rng.random_bool(0.6);
            let rep_answers = rng.random_bool(0.3);
            generator.inbound(
                contact,
                &mut conversation,
                style,
                text,
                reply_at,
                unread,
                index,
            );
            if rep_answers {
                let answer_at = reply_at + Duration::hours(3);
                let body = format!("Thanks {}, sending details shortly.", contact.first_name);
                generator.outbound(contact, &mut conversation, body, answer_at, index);
            }
        } else {
            let follow_ups = generator.rng.random_range(0..=2);
            for step in 1..=follow_ups {
                let at = first_at + Duration::days(3 * step);
                let body = format!(
                    "Hi {}, floating this back to the top of your inbox. Any thoughts?",
                    contact.first_name
                );
                generator.outbound(contact, &mut conversation, body, at, index);
            }
        }
    }
    for (offset, letter) in NEWSLETTERS.iter().enumerate() {
        let days = generator.rng.random_range(1..20);
        let at = working_time(&mut generator.rng, now, days);
        generator.newsletter(letter, at, contacts.len() + offset);
    }
    let mut planned = std::mem::take(&mut generator.planned);
    // Stable sort keeps each thread's order for equal times.
    planned.sort_by_key(|p| p.at);
    let mut thread_ids: HashMap<usize, String> = HashMap::new();
    for message in planned {
        // Every planned message comes from mail-builder, so parsing cannot fail;
        // a failure would only drop that one message.
        let thread = thread_ids.get(&message.thread_key).cloned();
        if let Ok(id) = mailbox.insert_generated(
            message.raw,
            thread.as_deref(),
            &message.labels,
            message.at.timestamp_millis(),
            &message.message_id,
        ) {
            thread_ids.entry(message.thread_key).or_insert(id);
        }
    }
}

/// Adds the campaign conversations Smartlead sent through this mailbox:
/// each step as sent mail and each answer in the inbox, with Smartlead's
/// Message-IDs and threaded by In-Reply-To / References, as Gmail keeps them.
pub fn add_campaign_copies(mailbox: &mut Mailbox, conversations: &[Vec<MailboxCopy>], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_C0B1);
    for conversation in conversations {
        let mut thread: Option<String> = None;
        let mut earlier: Vec<String> = Vec::new();
        for copy in conversation {
            let mut labels = if copy.inbound {
                vec!["INBOX", "IMPORTANT", "CATEGORY_PERSONAL"]
            } else {
                vec!["SENT"]
            };
            if copy.inbound && rng.random_bool(0.5) {
                labels.push("UNREAD");
            }
            let raw = campaign_copy_raw(copy, &earlier);
            if let Ok(id) = mailbox.insert_generated(
                raw,
                thread.as_deref(),
                &labels,
                copy.at.timestamp_millis(),
                &copy.message_id,
            ) {
                // A refused step comes back a few minutes later, in its thread.
                if copy.bounced {
                    let notice_at = copy.at + chrono::Duration::minutes(3);
                    mailbox.file_generated_bounce_notice(
                        &id,
                        &copy.to_email,
                        notice_at.timestamp_millis(),
                    );
                }
                thread.get_or_insert(id);
            }
            earlier.push(copy.message_id.clone());
        }
    }
}

/// A campaign message as the mailbox holds it: Smartlead's Message-ID,
/// threaded by In-Reply-To / References on `earlier` (the conversation's
/// Message-IDs before it, oldest first).
pub(crate) fn campaign_copy_raw(copy: &MailboxCopy, earlier: &[String]) -> Vec<u8> {
    let bare = |id: &str| id.trim_matches(['<', '>']).to_string();
    let mut builder = MessageBuilder::new()
        .from(Address::new_address(
            Some(copy.from_name.clone()),
            copy.from_email.clone(),
        ))
        .to(Address::new_address(
            Some(copy.to_name.clone()),
            copy.to_email.clone(),
        ))
        .subject(copy.subject.clone())
        .message_id(bare(&copy.message_id))
        .date(copy.at.timestamp())
        .html_body(copy.html.clone())
        .text_body(
            html2text::from_read(copy.html.as_bytes(), 100).unwrap_or_else(|_| copy.html.clone()),
        );
    if let Some(parent) = earlier.last() {
        builder = builder
            .in_reply_to(bare(parent))
            .references(MessageId::from(
                earlier.iter().map(|id| bare(id)).collect::<Vec<_>>(),
            ));
    }
    builder.write_to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contacts(n: usize) -> Vec<Contact> {
        (0..n)
            .map(|i| Contact {
                email: format!("lead{i}@company{i}.example"),
                first_name: format!("Lead{i}"),
                last_name: "Person".into(),
                company: format!("Company {i}"),
            })
            .collect()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn same_seed_same_mailbox() {
        let mut a = Mailbox::new("rep@acme.io".into(), 100);
        let mut b = Mailbox::new("rep@acme.io".into(), 100);
        populate(&mut a, &contacts(8), 7, now());
        populate(&mut b, &contacts(8), 7, now());
        let mut ids_a: Vec<_> = a.messages.keys().cloned().collect();
        let mut ids_b: Vec<_> = b.messages.keys().cloned().collect();
        ids_a.sort();
        ids_b.sort();
        assert_eq!(ids_a, ids_b);
        // mail-builder draws multipart boundaries at random, so compare what
        // the messages say rather than their bytes.
        for id in &ids_a {
            let (x, y) = (&a.messages[id], &b.messages[id]);
            assert_eq!(x.parsed.message_id, y.parsed.message_id);
            assert_eq!(x.parsed.header("Subject"), y.parsed.header("Subject"));
            assert_eq!((&x.thread_id, &x.labels), (&y.thread_id, &y.labels));
        }
    }

    #[test]
    fn ids_follow_the_message_not_the_clock() {
        // A demo started again later makes the same mail with moved dates;
        // its ids must not move with them.
        let mut a = Mailbox::new("rep@acme.io".into(), 100);
        let mut b = Mailbox::new("rep@acme.io".into(), 100);
        populate(&mut a, &contacts(8), 7, now());
        populate(&mut b, &contacts(8), 7, now() + Duration::hours(30));
        let ids = |m: &Mailbox| {
            let mut ids: Vec<_> = m.messages.keys().cloned().collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&a), ids(&b));
    }

    #[test]
    fn replies_thread_correctly_and_cover_every_style() {
        let mut mailbox = Mailbox::new("rep@acme.io".into(), 100);
        populate(&mut mailbox, &contacts(6), 1, now());
        let mut html_only = false;
        let mut alternative = false;
        let mut attachment = false;
        let mut encoded = false;
        for message in mailbox.messages.values() {
            let mime = message.parsed.payload["mimeType"]
                .as_str()
                .unwrap_or_default();
            html_only |= mime == "text/html";
            alternative |=
                mime == "multipart/alternative" && message.has_label("CATEGORY_PERSONAL");
            attachment |= !message.parsed.attachments.is_empty();
            encoded |= String::from_utf8_lossy(&message.raw).contains("=?utf-8?");
            if message.id != message.thread_id {
                let first = &mailbox.messages[&message.thread_id];
                let parent = first.parsed.message_id.clone().unwrap_or_default();
                let references = message.parsed.header("References").unwrap_or_default();
                assert!(references.contains(&parent), "{references} lacks {parent}");
                assert!(message.parsed.header("In-Reply-To").is_some());
                assert!(message.internal_date_ms >= first.internal_date_ms);
            }
        }
        assert!(html_only && alternative && attachment && encoded);
        assert!(
            mailbox
                .messages
                .values()
                .any(|m| m.has_label("CATEGORY_PROMOTIONS"))
        );
        assert!(
            mailbox
                .messages
                .values()
                .all(|m| m.internal_date_ms < now().timestamp_millis())
        );
    }
}
