//! Users of a shared outpost: their API tokens (kept only as a hash).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user's API token, as the store keeps it: the SHA-256 of the token
/// (hex), never the token itself. One per user, keyed by the user's name:
/// minting a new token replaces the old one, which stops working.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserToken {
    pub user: String,
    pub hash: String,
    pub created_at: DateTime<Utc>,
}

impl UserToken {
    pub fn key(&self) -> String {
        self.user.clone()
    }
}

// The hash is not a secret, but nothing gains from printing it either.
impl std::fmt::Debug for UserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserToken")
            .field("user", &self.user)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Who a conversation is assigned to (keyed by the conversation's key).
/// Its own record, apart from triage: assigning says nothing about done or
/// snoozed, and triage records go away when they have nothing left to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub conversation: String,
    /// A `[users.NAME]` name.
    pub user: String,
    pub assigned_at: DateTime<Utc>,
    /// Who assigned it, when known.
    pub assigned_by: Option<String>,
}

impl Assignment {
    pub fn key(&self) -> String {
        self.conversation.clone()
    }
}

/// A provider account added through the API (`outpost account add`), with
/// its secret (a Smartlead API key, or a Gmail token file's JSON) sealed
/// with AES-256-GCM under the key in `OUTPOST_SECRET_KEY`. Keyed by name.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAccount {
    pub name: String,
    pub provider: super::Provider,
    /// The user who added it (None: the data dir's owner); they see it.
    pub owner: Option<String>,
    /// Smartlead's API base URL (None: the public one).
    pub base_url: Option<String>,
    /// The Gmail mailbox address.
    pub email: Option<String>,
    /// A fresh 96-bit nonce, then the ciphertext and its tag.
    pub sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoredAccount {
    pub fn key(&self) -> String {
        self.name.clone()
    }
}

// The sealed bytes say nothing to a reader, and nothing gains from them in a log.
impl std::fmt::Debug for StoredAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAccount")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("owner", &self.owner)
            .field("sealed", &"[redacted]")
            .finish_non_exhaustive()
    }
}
