//! Reading and writing RFC 822 mail: `parse` (mail-parser) and
//! `build_message` / `build_reply` (mail-builder).
//!
//! Message-IDs are handled bare (no angle brackets) everywhere in this
//! module; the builder adds the brackets on the wire.

mod build;
mod parse;

pub use build::{
    AttachedFile, OutgoingEmail, ReplyDraft, build_message, build_reply, reply_email, reply_subject,
};
pub use parse::{html_to_text, parse, parse_gmail_message};

use chrono::{DateTime, Utc};

/// A display name and an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    pub fn new(name: Option<&str>, address: &str) -> Self {
        Self {
            name: name.map(str::to_string).filter(|n| !n.trim().is_empty()),
            address: address.to_string(),
        }
    }
}

/// An attachment as listed in a message (content not kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub filename: Option<String>,
    pub mime_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// Gmail's id for fetching large attachment content, when known.
    pub attachment_id: Option<String>,
}

/// What outpost keeps of an email.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedEmail {
    pub from: Option<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// RFC 2047 decoded.
    pub subject: Option<String>,
    pub date: Option<DateTime<Utc>>,
    /// Bare, without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    /// Oldest first, bare.
    pub references: Vec<String>,
    /// The plain text body; derived from the HTML when there is no text part.
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
}

#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    #[error("the message has no recipients (To, Cc or Bcc)")]
    NoRecipients,
    #[error("invalid address {0:?}")]
    InvalidAddress(String),
    #[error("invalid Message-ID {0:?}")]
    InvalidMessageId(String),
    #[error("invalid header {0:?}: names are letters, digits and '-', values are one line")]
    InvalidHeader(String),
    #[error("the Gmail message has neither a raw body nor a payload")]
    NoContent,
    #[error("the Gmail message body is not valid base64: {0}")]
    BadBase64(String),
    #[error("could not write the message: {0}")]
    Write(String),
}

/// Strips surrounding whitespace and angle brackets from a Message-ID.
pub fn bare_message_id(id: &str) -> &str {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
}

#[cfg(test)]
mod tests;
