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
