//! What the composer adds to a reply, and forwarding: recipients checked
//! once for every face, reply-all, send later, attachments, the account's
//! signature, and a conversation passed on with `Fwd:` and the original below.

use chrono::{DateTime, Duration, Utc};

use super::{CommandError, CommandResult, Engine, ForwardDraft, ThreadView};
use crate::model::*;
use crate::store::keys::KeyBuf;

/// The line a signature starts under (RFC 3676's signature separator).
const SIGNATURE_SEPARATOR: &str = "\n-- \n";

/// `text` with the signature under it, unless it already ends with it.
pub fn signed(text: &str, signature: Option<&str>) -> String {
    let Some(signature) = signature.map(str::trim_end).filter(|s| !s.is_empty()) else {
        return text.to_string();
    };
    let body = text.trim_end();
    if body.ends_with(signature) {
        return text.to_string();
    }
    format!("{body}{SIGNATURE_SEPARATOR}{signature}")
}

/// An HTML body with the signature under it, unless it already ends with it.
pub fn signed_html(html: &str, signature: &str) -> String {
    let escaped = crate::outbox::text_to_html(signature.trim_end());
    if html.trim_end().ends_with(&escaped) {
        return html.to_string();
    }
    format!("{}<p>-- </p>{escaped}", html.trim_end())
}

/// Addresses as a face hands them over (one per entry, or comma lists),
/// trimmed, each checked; duplicates dropped. `field` names the option.
pub fn clean_addresses(field: &str, given: &[String]) -> CommandResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for address in given.iter().flat_map(|g| g.split(',')).map(str::trim) {
        if address.is_empty() {
            continue;
        }
        if !is_address(address) {
            return Err(CommandError::Invalid(format!(
                "{field}: {address:?} is not an email address; give one like ae@acme.io \
                 (several: repeat {field} or separate them with commas)"
            )));
        }
        if !out.iter().any(|a| a.eq_ignore_ascii_case(address)) {
            out.push(address.to_string());
        }
    }
    Ok(out)
}

/// `local@domain.tld`, nothing a header could be broken with.
fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]\\".contains(c))
        && !domain.contains('@')
}

/// When a send may leave: the rep's chosen time (which must be ahead), else
/// after the undo window.
pub fn not_before(
    send_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    delay: Duration,
) -> CommandResult<DateTime<Utc>> {
    match send_at {
        Some(at) if at <= now => Err(CommandError::Invalid(format!(
            "the time to send, {}, has already passed; give a time ahead (e.g. tomorrow 9:00)",
            at.format("%Y-%m-%d %H:%M UTC")
        ))),
        Some(at) => Ok(at),
        None => Ok(now + delay),
    }
}

/// Attachments within Gmail's limit, each with a name.
pub fn check_attachments(attachments: &[OutgoingAttachment]) -> CommandResult<()> {
    if let Some(unnamed) = attachments.iter().find(|a| a.filename.trim().is_empty()) {
        return Err(CommandError::Invalid(format!(
            "an attachment ({} bytes) has no file name",
            unnamed.data.len()
        )));
    }
    let total: u64 = attachments.iter().map(|a| a.data.len() as u64).sum();
    match attachments_too_large(total) {
        Some(why) => Err(CommandError::Invalid(why)),
        None => Ok(()),
    }
}

/// `Fwd: ` once, never `Fwd: Fwd: `.
pub fn forward_subject(subject: &str) -> String {
    let trimmed = subject.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("fwd:") || lower.starts_with("fw:") {
        trimmed.to_string()
    } else {
        format!("Fwd: {trimmed}")
    }
}

fn shown(address: &Address) -> String {
    match address.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} <{}>", address.email),
        None => address.email.clone(),
    }
}

/// The rep's note, then the original as Gmail lays a forward out.
pub fn forward_text(note: &str, original: &Message) -> String {
    let mut text = String::new();
    if !note.trim().is_empty() {
        text.push_str(note.trim_end());
        text.push_str("\n\n");
    }
    text.push_str("---------- Forwarded message ---------\n");
    text.push_str(&format!("From: {}\n", shown(&original.from)));
    text.push_str(&format!(
        "Date: {}\n",
        original.date.format("%a, %b %-d, %Y at %H:%M UTC")
    ));
    text.push_str(&format!("Subject: {}\n", original.subject));
    let to: Vec<String> = original.to.iter().map(shown).collect();
    text.push_str(&format!("To: {}\n", to.join(", ")));
    if !original.cc.is_empty() {
        let cc: Vec<String> = original.cc.iter().map(shown).collect();
        text.push_str(&format!("Cc: {}\n", cc.join(", ")));
    }
    text.push('\n');
    text.push_str(original_text(original).trim_end());
    text.push('\n');
    text
}

/// The message's text, from its HTML when it came without a plain part.
fn original_text(message: &Message) -> String {
    if !message.text_body.trim().is_empty() {
        return message.text_body.clone();
    }
    message
        .html_body
        .as_deref()
        .map(crate::providers::gmail::mime::html_to_text)
        .unwrap_or_default()
}

/// Everyone else on `answered` for a reply-all: its From, To and Cc, less
/// the rep's own mailboxes and whoever the reply already goes to.
pub fn reply_all_cc(answered: &Message, to: &[String], own: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let everyone = std::iter::once(&answered.from)
        .chain(&answered.to)
        .chain(&answered.cc);
    for address in everyone {
        let email = address.email.trim();
        let taken = |list: &[String]| list.iter().any(|a| a.eq_ignore_ascii_case(email));
        if email.is_empty() || taken(to) || taken(own) || taken(&out) {
            continue;
        }
        out.push(email.to_string());
    }
    out
}

/// `extra` after `list`, without repeating an address.
pub fn merged(mut list: Vec<String>, extra: Vec<String>) -> Vec<String> {
    for address in extra {
        if !list.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
            list.push(address);
        }
    }
    list
}

impl Engine {
    /// Every address the rep sends from: the accounts' mailboxes and the
    /// conversation's routes.
    pub(super) fn own_addresses(&self, view: &ThreadView) -> CommandResult<Vec<String>> {
        let routes = self.routes_of(view)?;
        let mut own: Vec<String> = self
            .accounts()?
            .into_iter()
            .filter_map(|a| a.email)
            .chain(routes.into_iter().filter_map(|r| r.mailbox))
            .chain(
                self.providers()
                    .gmail
                    .values()
                    .map(|account| account.email.clone()),
            )
            .collect();
        own.sort();
        own.dedup();
        Ok(own)
    }

    /// Puts a forward of a conversation in the outbox: a new message from the
    /// rep's Gmail mailbox that holds the conversation, with `Fwd:` and the
    /// message forwarded (the lead's newest, else the newest) below the note.
    /// Its attachments go along when Gmail still has their bytes; the others
    /// are named in [`OutboxItem::attachments_left_out`].
    pub async fn queue_forward(
        &self,
        key: &str,
        draft: &ForwardDraft,
        delay: Duration,
    ) -> CommandResult<OutboxItem> {
        let now = self.clock().now();
        let not_before = not_before(draft.send_at, now, delay)?;
        let to = clean_addresses("--to", &draft.to)?;
        if to.is_empty() {
            return Err(CommandError::Invalid(
                "a forward needs someone to go to; give --to ADDR".into(),
            ));
        }
        let cc = clean_addresses("--cc", &draft.cc)?;
        let bcc = clean_addresses("--bcc", &draft.bcc)?;
        check_attachments(&draft.attachments)?;
        let view = self.thread(key)?.ok_or_else(|| {
            CommandError::NotFound(format!(
                "no thread {key:?}; `outpost inbox` lists thread ids"
            ))
        })?;
        let routes = self.routes_of(&view)?;
        let route = routes
            .iter()
            .find(|r| r.provider == Provider::Gmail)
            .cloned()
            .ok_or_else(|| {
                CommandError::Invalid(format!(
                    "this conversation is only in Smartlead, which cannot forward mail; a \
                     forward leaves from your own Gmail mailbox, and none of yours holds \
                     conversation {key}"
                ))
            })?;
        let from = route.mailbox.clone().ok_or_else(|| {
            CommandError::Invalid(format!(
                "cannot tell which mailbox of account {} to forward from; run `outpost sync` first",
                route.account
            ))
        })?;
        let original = Self::message_to_answer(&view.messages)
            .ok_or_else(|| {
                CommandError::Invalid(format!("conversation {key:?} has no message to forward"))
            })?
            .clone();
        let (carried, left_out) = self.original_attachments(&route, &original).await?;
        let note = if draft.without_signature {
            draft.text.clone()
        } else {
            signed(&draft.text, self.settings().signature(&route.account))
        };
        let mut attachments = draft.attachments.clone();
        attachments.extend(carried);
        check_attachments(&attachments)?;
        let id = uuid::Uuid::new_v4().to_string();
        let item = OutboxItem {
            idempotency_key: format!("forward:{id}"),
            id,
            account: route.account.clone(),
            provider: Provider::Gmail,
            state: OutboxState::Pending,
            not_before,
            message_id: super::new_message_id(&from),
            email: OutgoingEmail {
                from,
                to,
                cc,
                bcc,
                subject: forward_subject(&view.thread.subject),
                text_body: forward_text(&note, &original),
                html_body: None,
                in_reply_to: None,
                references: Vec::new(),
                headers: Vec::new(),
                attachments,
            },
            // A new conversation with whoever it goes to, not the lead's thread.
            delivery: Delivery::GmailSend { thread_id: None },
            thread_key: None,
            enrollment_id: None,
            step: None,
            attempts: 0,
            last_error: None,
            provider_id: None,
            created_at: now,
            updated_at: now,
            send_at: draft.send_at,
            attachments_left_out: left_out,
            lease: None,
        };
        self.store().put(&item)?;
        Ok(item)
    }

    /// The forwarded message's attachments fetched from the Gmail copy
    /// (attachments.get), and the names of those that could not be.
    async fn original_attachments(
        &self,
        route: &super::ReplyRoute,
        original: &Message,
    ) -> CommandResult<(Vec<OutgoingAttachment>, Vec<String>)> {
        if original.attachments.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let all_names = || {
            original
                .attachments
                .iter()
                .map(|a| a.filename.clone())
                .collect()
        };
        // The same message as the Gmail copy holds it (the view's may be
        // the Smartlead copy, which has no bytes).
        let prefix = KeyBuf::new().text(&route.thread_key).into_prefix();
        let gmail_copy = self
            .store()
            .by_index::<Message>(crate::store::Index::MessagesByThread, &prefix, false)
            .filter_map(|m| m.ok())
            .find(|m| m.message_id.is_some() && m.message_id == original.message_id);
        let providers = self.providers();
        let (Some(copy), Some(account)) = (gmail_copy, providers.gmail.get(&route.account)) else {
            return Ok((Vec::new(), all_names()));
        };
        let fetched = account
            .client
            .get_message(
                &copy.provider_id,
                crate::providers::gmail::MessageFormat::Full,
            )
            .await;
        let parsed = match fetched
            .ok()
            .and_then(|m| crate::providers::gmail::mime::parse_gmail_message(&m).ok())
        {
            Some(parsed) => parsed,
            None => return Ok((Vec::new(), all_names())),
        };
        let mut carried = Vec::new();
        let mut left_out = Vec::new();
        for (n, info) in parsed.attachments.iter().enumerate() {
            let filename = info
                .filename
                .clone()
                .unwrap_or_else(|| format!("attachment-{}", n + 1));
            let data = match &info.attachment_id {
                Some(id) => account
                    .client
                    .get_attachment(&copy.provider_id, id)
                    .await
                    .ok(),
                None => None,
            };
            match data {
                Some(data) => carried.push(OutgoingAttachment {
                    filename,
                    mime_type: info.mime_type.clone(),
                    data,
                }),
                None => left_out.push(filename),
            }
        }
        Ok((carried, left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_appended_once() {
        let once = signed("Tuesday works.", Some("Sam Carter\nAcme"));
        assert_eq!(once, "Tuesday works.\n-- \nSam Carter\nAcme");
        assert_eq!(signed(&once, Some("Sam Carter\nAcme")), once);
        assert_eq!(signed("Hi", None), "Hi");
        let html = signed_html("<p>Tuesday works.</p>", "Sam & Co");
        assert_eq!(html, "<p>Tuesday works.</p><p>-- </p><p>Sam &amp; Co</p>");
        assert_eq!(signed_html(&html, "Sam & Co"), html);
    }

    #[test]
    fn addresses_split_on_commas_and_bad_ones_are_refused() {
        let list = clean_addresses(
            "--cc",
            &[
                "ae@acme.io, cfo@ledgerly.example".into(),
                "AE@acme.io".into(),
            ],
        )
        .unwrap();
        assert_eq!(list, vec!["ae@acme.io", "cfo@ledgerly.example"]);
        for bad in [
            "ae",
            "ae@acme",
            "a e@acme.io",
            "ae@acme.io\r\nBcc: x@y.z",
            "<ae@acme.io>",
        ] {
            let err = clean_addresses("--cc", &[bad.to_string()]).unwrap_err();
            assert!(err.to_string().contains("--cc"), "{err}");
        }
    }

    #[test]
    fn attachments_over_gmails_limit_or_without_a_name_are_refused() {
        let file = |name: &str, size: u64| OutgoingAttachment {
            filename: name.into(),
            mime_type: "application/pdf".into(),
            data: vec![0; size as usize],
        };
        assert!(check_attachments(&[file("a.pdf", MAX_ATTACHMENT_BYTES)]).is_ok());
        let over = check_attachments(&[
            file("a.pdf", MAX_ATTACHMENT_BYTES / 2 + 1),
            file("b.pdf", MAX_ATTACHMENT_BYTES / 2),
        ]);
        assert!(over.unwrap_err().to_string().contains("25 MB"));
        assert!(check_attachments(&[file(" ", 3)]).is_err());
    }

    #[test]
    fn fwd_is_not_doubled() {
        assert_eq!(forward_subject("Pricing"), "Fwd: Pricing");
        assert_eq!(forward_subject("Fwd: Pricing"), "Fwd: Pricing");
        assert_eq!(forward_subject("FW: Pricing"), "FW: Pricing");
    }

    #[test]
    fn a_time_already_passed_is_refused() {
        let now: DateTime<Utc> = "2026-03-02T15:00:00Z".parse().unwrap();
        assert!(not_before(Some(now), now, Duration::zero()).is_err());
        let later = now + Duration::hours(1);
        assert_eq!(
            not_before(Some(later), now, Duration::seconds(5)).unwrap(),
            later
        );
        assert_eq!(
            not_before(None, now, Duration::seconds(5)).unwrap(),
            now + Duration::seconds(5)
        );
    }

    #[test]
    fn reply_all_leaves_out_the_rep_and_whoever_is_already_in_to() {
        let mut answered = Message {
            account: "gm".into(),
            provider_id: "1".into(),
            thread_key: "gm/t".into(),
            direction: Direction::Inbound,
            message_id: None,
            in_reply_to: None,
            references: Vec::new(),
            from: Address::new("dana@ledgerly.example"),
            to: vec![
                Address::new("sam@acme.io"),
                Address::new("cfo@ledgerly.example"),
            ],
            cc: vec![
                Address::new("ops@ledgerly.example"),
                Address::new("SAM@acme.io"),
            ],
            subject: "Re: hi".into(),
            date: Utc::now(),
            text_body: String::new(),
            html_body: None,
            attachments: Vec::new(),
            read: false,
            labels: Vec::new(),
            smartlead: None,
        };
        let cc = reply_all_cc(
            &answered,
            &["dana@ledgerly.example".into()],
            &["sam@acme.io".into()],
        );
        assert_eq!(cc, vec!["cfo@ledgerly.example", "ops@ledgerly.example"]);
        answered.cc.clear();
        assert_eq!(
            reply_all_cc(
                &answered,
                &["dana@ledgerly.example".into()],
                &["sam@acme.io".into()]
            ),
            vec!["cfo@ledgerly.example"]
        );
    }
}
