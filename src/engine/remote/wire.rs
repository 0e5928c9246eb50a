//! The request and answer bodies of the daemon's `/api`, shared by the
//! daemon's routes and [`RemoteEngine`](super::RemoteEngine) so both sides
//! agree by construction. Answers that are engine views use the engine's own
//! types; only the envelopes live here.

use serde::{Deserialize, Serialize};

use crate::engine::ReplyDraft;
use crate::model::{Category, Lead, SequenceStatus};

#[derive(Debug, Serialize, Deserialize)]
pub struct KeyParam {
    pub key: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EmailParam {
    pub email: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AccountParam {
    pub account: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ThreadKeyParam {
    pub thread_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IdParam {
    pub id: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct NameParam {
    pub name: String,
}

/// Marks a conversation read, or its replies unread again.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReadRequest {
    pub key: String,
    #[serde(default = "read_by_default")]
    pub read: bool,
}

fn read_by_default() -> bool {
    true
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CategoryRequest {
    pub key: String,
    pub category: Category,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ReplyRequest {
    pub thread_key: String,
    pub reply: ReplyDraft,
    /// The undo window before the reply leaves.
    pub delay_secs: i64,
}

/// A new email to a lead (the composer's "new email" target).
#[derive(Debug, Serialize, Deserialize)]
pub struct NewEmailRequest {
    pub lead_key: String,
    pub subject: String,
    pub body: String,
    /// The undo window before the email leaves.
    pub delay_secs: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SequenceStatusRequest {
    pub name: String,
    pub status: SequenceStatus,
}

/// An email step's text edited in the composer.
#[derive(Debug, Serialize, Deserialize)]
pub struct StepTextRequest {
    pub sequence: String,
    pub step: usize,
    pub variant: Option<String>,
    pub subject: Option<String>,
    pub body: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub sequence: String,
    pub email: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SuppressRequest {
    pub account: String,
    pub email: String,
}

/// Several lead records by store key (`account/email`).
#[derive(Debug, Serialize, Deserialize)]
pub struct LeadKeys {
    pub keys: Vec<String>,
}

/// The answer to [`LeadKeys`]: the records found and the keys that are gone.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LeadRecords {
    pub found: Vec<Lead>,
    pub missing: Vec<String>,
}

/// One campaign's display name, for the leads table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignName {
    pub account: String,
    pub id: i64,
    pub name: String,
}

/// Everything the leads table's in-memory index is built from.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LeadIndexSource {
    pub leads: Vec<Lead>,
    pub campaigns: Vec<CampaignName>,
}

/// `{"value": true}`: whether a command changed something.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flag {
    pub value: bool,
}

/// `{"count": 3}`: how many records a command touched.
#[derive(Debug, Serialize, Deserialize)]
pub struct Count {
    pub count: usize,
}
