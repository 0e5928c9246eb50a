//! The durable outbox: every email is written here before any provider sees it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Provider;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its undo window or its turn.
    Pending,
    /// Handed to a provider; after a crash it must be reconciled before any retry.
    Sending,
    Sent,
    Failed,
    Cancelled,
}

impl OutboxState {
    pub fn as_byte(self) -> u8 {
        match self {
            OutboxState::Pending => 0,
            OutboxState::Sending => 1,
            OutboxState::Sent => 2,
            OutboxState::Failed => 3,
            OutboxState::Cancelled => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Cancelled => "cancelled",
        }
    }
}

/// What a Smartlead reply-email-thread call needs, copied from the message answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmartleadReply {
    pub campaign_id: i64,
    pub email_stats_id: String,
    pub reply_message_id: String,
    pub reply_email_time: DateTime<Utc>,
    pub reply_email_body: String,
}

/// Adding a lead to a Smartlead campaign (sequence sends through Smartlead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmartleadEnroll {
    pub campaign_id: i64,
    pub email_account_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Delivery {
    GmailSend { thread_id: Option<String> },
    SmartleadReply(SmartleadReply),
    SmartleadAddLead(SmartleadEnroll),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Extra headers such as List-Unsubscribe.
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub attachments: Vec<OutgoingAttachment>,
}

/// A file sent with an email, carried whole in the outbox item so a send
/// after a restart does not depend on the file still being there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingAttachment {
    pub filename: String,
    pub mime_type: String,
    #[serde(with = "attachment_bytes")]
    pub data: Vec<u8>,
}

/// Base64 on the wire (the door's JSON), plain bytes in the store's postcard.
mod attachment_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(data))
        } else {
            s.serialize_bytes(data)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(serde::de::Error::custom)
        } else {
            Vec::<u8>::deserialize(d)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: String,
    pub account: String,
    pub provider: Provider,
    /// One per (enrollment, step) or per composer send; never reused.
    pub idempotency_key: String,
    pub state: OutboxState,
    /// Not sent before this time (the undo window, or a scheduled send).
    /// While the item is `sending` it holds when the current attempt began
    /// instead (the worker sets it then; a due item loses nothing by it):
    /// settling an unknown Smartlead reply measures its grace period from it.
    pub not_before: DateTime<Utc>,
    /// Fixed before sending, so a crash can be reconciled by searching for it.
    pub message_id: String,
    pub email: OutgoingEmail,
    pub delivery: Delivery,
    /// The thread in the store this belongs to, if any.
    pub thread_key: Option<String>,
    pub enrollment_id: Option<String>,
    pub step: Option<usize>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The time the rep chose for it (send later): it waits as `scheduled`
    /// until then. `None` for a send that leaves as soon as it can.
    #[serde(default)]
    pub send_at: Option<DateTime<Utc>>,
    /// A forward's original attachments that could not be fetched and do
    /// not go along, by file name.
    #[serde(default)]
    pub attachments_left_out: Vec<String>,
    /// While `sending`: the replica sending it (or settling it) and until
    /// when; past that another replica settles it (see `outbox`). None
    /// otherwise, and on items from before leases, which count as expired.
    #[serde(default)]
    pub lease: Option<crate::replica::Lease>,
}

impl OutboxItem {
    /// Waiting for the time the rep chose (not for a retry or the undo window).
    pub fn is_scheduled(&self, now: DateTime<Utc>) -> bool {
        self.state == OutboxState::Pending
            && self.attempts == 0
            && self.send_at.is_some_and(|at| at > now)
    }
}

/// Gmail takes at most 25 MB of attachments on a message.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;

impl OutgoingAttachment {
    /// A file read whole to be attached, named by its file name, its type
    /// told by its extension. The CLI's `--attach` and the TUI's attach
    /// prompt both read files this way.
    pub fn from_file(path: &std::path::Path) -> Result<OutgoingAttachment, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a file", path.display()));
        }
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".into());
        Ok(OutgoingAttachment {
            mime_type: mime_type_of(&filename).to_string(),
            filename,
            data,
        })
    }
}

/// The MIME type a file name's extension says, for the common kinds a rep
/// sends.
pub fn mime_type_of(filename: &str) -> &'static str {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "txt" | "text" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "ics" => "text/calendar",
        "json" => "application/json",
        "xml" => "application/xml",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "key" => "application/vnd.apple.keynote",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// What is wrong with attachments of `total` bytes, if they are too many
/// for Gmail (checked by the face before reading files, and by the engine).
pub fn attachments_too_large(total: u64) -> Option<String> {
    (total > MAX_ATTACHMENT_BYTES).then(|| {
        format!(
            "the attachments come to {:.1} MB; Gmail takes at most {} MB per message \
             (share a link to the larger files instead)",
            total as f64 / 1_048_576.0,
            MAX_ATTACHMENT_BYTES / 1_048_576
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_attached_with_its_name_and_the_type_its_extension_says() {
        assert_eq!(mime_type_of("deck.PDF"), "application/pdf");
        assert_eq!(mime_type_of("logo.png"), "image/png");
        assert_eq!(mime_type_of("notes"), "application/octet-stream");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pricing.pdf");
        std::fs::write(&path, b"%PDF-1.7").unwrap();
        let file = OutgoingAttachment::from_file(&path).unwrap();
        assert_eq!(file.filename, "pricing.pdf");
        assert_eq!(file.mime_type, "application/pdf");
        assert_eq!(file.data, b"%PDF-1.7");
        assert!(
            OutgoingAttachment::from_file(dir.path())
                .unwrap_err()
                .contains("not a file")
        );
    }
}
