//! Attachments a conversation received: listed from the cache, their bytes
//! fetched from Gmail when asked (`messages.get` finds the part, then its
//! inline data or `messages.attachments.get`). Smartlead carries none.

use serde::{Deserialize, Serialize};

use super::{CommandError, CommandResult, Engine};
use crate::model::*;
use crate::providers::gmail::MessageFormat;
use crate::providers::gmail::types::MessagePart;
use crate::store::{Index, keys::KeyBuf};

/// One attachment of a conversation, numbered from 1 in message order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentView {
    pub number: usize,
    pub filename: String,
    pub mime_type: String,
    pub size: u64,
    /// The message's key, and who sent it when.
    pub message: String,
    pub from: String,
    pub date: chrono::DateTime<chrono::Utc>,
}

/// An attachment's bytes, with what a face needs to save or open it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentContent {
    pub number: usize,
    pub filename: String,
    pub mime_type: String,
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

/// Bytes as base64 in JSON (the engine API carries them).
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

impl Engine {
    /// Every attachment of a conversation, numbered from 1.
    pub fn attachments(&self, key: &str) -> CommandResult<Vec<AttachmentView>> {
        Ok(self
            .numbered_attachments(key)?
            .into_iter()
            .map(|(view, _, _)| view)
            .collect())
    }

    /// Each attachment with its message and its place among that message's.
    fn numbered_attachments(
        &self,
        key: &str,
    ) -> CommandResult<Vec<(AttachmentView, Message, usize)>> {
        let view = self.thread(key)?.ok_or_else(|| {
            CommandError::NotFound(format!(
                "no conversation {key:?}; `outpost inbox` lists their keys"
            ))
        })?;
        let mut out = Vec::new();
        for message in view.messages {
            for (index, attachment) in message.attachments.iter().enumerate() {
                let view = AttachmentView {
                    number: out.len() + 1,
                    filename: attachment.filename.clone(),
                    mime_type: attachment.mime_type.clone(),
                    size: attachment.size,
                    message: message.key(),
                    from: message.from.email.clone(),
                    date: message.date,
                };
                out.push((view, message.clone(), index));
            }
        }
        Ok(out)
    }

    /// The bytes of a conversation's attachment `number` (from 1).
    pub async fn attachment(&self, key: &str, number: usize) -> CommandResult<AttachmentContent> {
        let all = self.numbered_attachments(key)?;
        let count = all.len();
        let Some((view, message, index)) = all.into_iter().find(|(v, _, _)| v.number == number)
        else {
            return Err(CommandError::Invalid(match count {
                0 => format!("conversation {key} has no attachments"),
                n => format!("conversation {key} has attachments 1 to {n}, not {number}"),
            }));
        };
        let (account, gmail_id) = self.gmail_copy(&message)?.ok_or_else(|| {
            CommandError::Invalid(format!(
                "{} came through Smartlead only, which carries no attachments; \
                 add the rep's Gmail mailbox to get its files",
                view.filename
            ))
        })?;
        let providers = self.providers();
        let gmail = providers.gmail.get(&account).ok_or_else(|| {
            CommandError::Invalid(format!(
                "Gmail account {account} is not configured here (or not signed in: \
                 `outpost auth gmail --account {account}`)"
            ))
        })?;
        let fetch_error = |e: crate::providers::gmail::GmailError| {
            CommandError::Invalid(format!("Gmail did not give {}: {e}", view.filename))
        };
        let full = gmail
            .client
            .get_message(&gmail_id, MessageFormat::Full)
            .await
            .map_err(fetch_error)?;
        let mut parts = Vec::new();
        if let Some(payload) = &full.payload {
            attachment_parts(payload, &mut parts);
        }
        // The part with this file name, else the one in the same place.
        let part = parts
            .iter()
            .find(|p| p.filename.as_deref() == Some(view.filename.as_str()))
            .or_else(|| parts.get(index))
            .ok_or_else(|| {
                CommandError::Invalid(format!(
                    "Gmail's copy of the message no longer has {}",
                    view.filename
                ))
            })?;
        let body = part.body.clone().unwrap_or_default();
        let data = match (body.data, body.attachment_id) {
            (Some(inline), _) if !inline.is_empty() => {
                crate::providers::gmail::encoding::decode_base64_lenient(&inline)
                    .map_err(|e| CommandError::Invalid(format!("{}: {e}", view.filename)))?
            }
            (_, Some(id)) => gmail
                .client
                .get_attachment(&gmail_id, &id)
                .await
                .map_err(fetch_error)?,
            _ => Vec::new(),
        };
        Ok(AttachmentContent {
            number,
            filename: view.filename,
            mime_type: view.mime_type,
            data,
        })
    }

    /// The Gmail account and id of a message's Gmail copy, if it has one.
    fn gmail_copy(&self, message: &Message) -> CommandResult<Option<(String, String)>> {
        let is_gmail = |m: &Message| -> CommandResult<bool> {
            Ok(self.providers().gmail.contains_key(&m.account)
                || self
                    .store
                    .get::<Thread>(&m.thread_key)?
                    .is_some_and(|t| t.provider == Provider::Gmail))
        };
        if is_gmail(message)? {
            return Ok(Some((message.account.clone(), message.provider_id.clone())));
        }
        let Some(id) = &message.message_id else {
            return Ok(None);
        };
        let prefix = KeyBuf::new().text(id).into_prefix();
        for copy in self
            .store
            .by_index::<Message>(Index::MessagesByMessageId, &prefix, false)
        {
            let copy = copy?;
            if is_gmail(&copy)? {
                return Ok(Some((copy.account, copy.provider_id)));
            }
        }
        Ok(None)
    }
}

/// The parts that are attachments (a file name), in MIME order.
fn attachment_parts<'a>(part: &'a MessagePart, out: &mut Vec<&'a MessagePart>) {
    if part.filename.as_deref().is_some_and(|f| !f.is_empty()) {
        out.push(part);
    }
    for child in &part.parts {
        attachment_parts(child, out);
    }
}

/// A file name safe to create in a directory: the sender's name without
/// any path (no separators, no `..`), no control characters, not hidden;
/// `attachment-N` when nothing is left.
pub fn safe_file_name(sent: &str, number: usize) -> String {
    let last = sent.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| if c.is_control() || c == ':' { '_' } else { c })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        format!("attachment-{number}")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn a_sender_file_name_cannot_leave_the_directory() {
        assert_eq!(safe_file_name("overview.pdf", 1), "overview.pdf");
        assert_eq!(safe_file_name("../../.bashrc", 2), "bashrc");
        assert_eq!(safe_file_name("..", 3), "attachment-3");
        assert_eq!(safe_file_name("/etc/passwd", 4), "passwd");
        assert_eq!(safe_file_name("C:\\Users\\x\\a.doc", 5), "a.doc");
        assert_eq!(safe_file_name("a\nb.txt", 6), "a_b.txt");
        assert_eq!(safe_file_name("", 7), "attachment-7");
        assert_eq!(safe_file_name("Q3 plan.pdf", 8), "Q3 plan.pdf");
    }
}
