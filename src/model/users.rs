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
