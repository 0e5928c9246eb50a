//! Outgoing mail as RFC 822 bytes, including correctly threaded replies.

use chrono::{DateTime, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;

use super::{Mailbox, MimeError, ParsedEmail, bare_message_id};

/// A complete outgoing message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The account's address and display name.
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub subject: String,
    /// Chosen by the caller (the outbox stores it before sending so a crash
    /// can be reconciled); with or without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// Oldest first.
    pub references: Vec<String>,
    /// e.g. `List-Unsubscribe`, `List-Unsubscribe-Post`.
    pub extra_headers: Vec<(String, String)>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// `Date:`; the current time when absent.
    pub date: Option<DateTime<Utc>>,
    /// Files sent along: the message becomes multipart/mixed.
    pub attachments: Vec<AttachedFile>,
}

/// A file in an outgoing message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachedFile {
    pub filename: String,
    pub mime_type: String,
    pub data: Vec<u8>,
}

/// What the rep writes when answering a message; threading is derived from
/// the parent by [`reply_email`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyDraft {
    pub from: Mailbox,
    /// Empty: reply to the parent's Reply-To, else its From.
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub message_id: String,
    pub extra_headers: Vec<(String, String)>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub date: Option<DateTime<Utc>>,
}

/// `Re: <subject>` with exactly one `Re:` however many the parent had.
pub fn reply_subject(parent_subject: Option<&str>) -> String {
    let mut rest = parent_subject.unwrap_or("").trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        let stripped = ["re:", "re :"]
            .iter()
            .find(|prefix| lower.starts_with(*prefix))
            .map(|prefix| rest[prefix.len()..].trim_start());
        match stripped {
            Some(next) => rest = next,
            None => break,
        }
    }
    if rest.is_empty() {
        "Re:".to_string()
    } else {
        format!("Re: {rest}")
    }
}

/// The reply to `parent` as a full outgoing message: `Re:` subject,
/// `In-Reply-To` = parent Message-ID, `References` = parent References (or
/// its In-Reply-To) followed by the parent Message-ID.
pub fn reply_email(parent: &ParsedEmail, draft: ReplyDraft) -> OutgoingEmail {
    let to = if !draft.to.is_empty() {
        draft.to
    } else if !parent.reply_to.is_empty() {
        parent.reply_to.clone()
    } else {
        parent.from.iter().cloned().collect()
    };
    let mut references: Vec<String> = if parent.references.is_empty() {
        parent.in_reply_to.iter().cloned().collect()
    } else {
        parent.references.clone()
    };
    if let Some(parent_id) = &parent.message_id
        && references.last() != Some(parent_id)
    {
        references.retain(|r| r != parent_id);
        references.push(parent_id.clone());
    }
    OutgoingEmail {
        from: draft.from,
        to,
        cc: draft.cc,
        bcc: draft.bcc,
        subject: reply_subject(parent.subject.as_deref()),
        message_id: draft.message_id,
        in_reply_to: parent.message_id.clone(),
        references,
        extra_headers: draft.extra_headers,
        text_body: draft.text_body,
        html_body: draft.html_body,
        date: draft.date,
        attachments: Vec::new(),
    }
}

/// Builds the RFC 822 bytes of a reply to `parent`.
pub fn build_reply(parent: &ParsedEmail, draft: ReplyDraft) -> Result<Vec<u8>, MimeError> {
    build_message(reply_email(parent, draft))
}

/// Builds the RFC 822 bytes of `email`.
pub fn build_message(email: OutgoingEmail) -> Result<Vec<u8>, MimeError> {
    if email.to.is_empty() && email.cc.is_empty() && email.bcc.is_empty() {
        return Err(MimeError::NoRecipients);
    }
    let message_id = checked_message_id(&email.message_id)?;
    let mut builder = MessageBuilder::new()
        .from(address(std::slice::from_ref(&email.from))?)
        .subject(Text::new(one_line(&email.subject)))
        .message_id(message_id)
        .date(Date::new(email.date.unwrap_or_else(Utc::now).timestamp()));
    if !email.to.is_empty() {
        builder = builder.to(address(&email.to)?);
    }
    if !email.cc.is_empty() {
        builder = builder.cc(address(&email.cc)?);
    }
    if !email.bcc.is_empty() {
        builder = builder.bcc(address(&email.bcc)?);
    }
    if let Some(parent) = &email.in_reply_to {
        builder = builder.in_reply_to(checked_message_id(parent)?);
    }
    if !email.references.is_empty() {
        let ids = email
            .references
            .iter()
            .map(|r| checked_message_id(r))
            .collect::<Result<Vec<_>, _>>()?;
        builder = builder.references(MessageId::new_list(ids.into_iter()));
    }
    for (name, value) in &email.extra_headers {
        let valid_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid_name || value.contains(['\r', '\n']) {
            return Err(MimeError::InvalidHeader(name.clone()));
        }
        builder = if value.is_ascii() {
            builder.header(name.clone(), Raw::new(value.clone()))
        } else {
            builder.header(name.clone(), Text::new(value.clone()))
        };
    }
    for file in &email.attachments {
        let name = one_line(&file.filename);
        if name.is_empty() || file.mime_type.contains(['\r', '\n']) {
            return Err(MimeError::InvalidHeader(format!(
                "attachment {:?}",
                file.filename
            )));
        }
        builder = builder.attachment(file.mime_type.as_str(), name, file.data.as_slice());
    }
    match (email.text_body, email.html_body) {
        (text, Some(html)) => {
            builder = builder.html_body(html);
            if let Some(text) = text {
                builder = builder.text_body(text);
            }
        }
        (text, None) => builder = builder.text_body(text.unwrap_or_default()),
    }
    builder
        .write_to_vec()
        .map_err(|err| MimeError::Write(err.to_string()))
}

fn checked_message_id(id: &str) -> Result<String, MimeError> {
    let bare = bare_message_id(id);
    let valid = !bare.is_empty()
        && bare.is_ascii()
        && !bare.contains(|c: char| {
            c.is_ascii_whitespace() || c.is_ascii_control() || c == '<' || c == '>'
        });
    if valid {
        Ok(bare.to_string())
    } else {
        Err(MimeError::InvalidMessageId(id.to_string()))
    }
}

fn address(mailboxes: &[Mailbox]) -> Result<Address<'static>, MimeError> {
    let mut list = Vec::with_capacity(mailboxes.len());
    for mailbox in mailboxes {
        let email = mailbox.address.trim();
        let valid = email.contains('@')
            && !email
                .contains(|c: char| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
        if !valid {
            return Err(MimeError::InvalidAddress(mailbox.address.clone()));
        }
        let name = mailbox
            .name
            .as_deref()
            .map(one_line)
            .filter(|n| !n.is_empty());
        list.push(Address::new_address(name, email.to_string()));
    }
    Ok(if list.len() == 1 {
        list.remove(0)
    } else {
        Address::new_list(list)
    })
}

/// Header text must stay on one line: CR/LF would start a new header.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ").trim().to_string()
}
