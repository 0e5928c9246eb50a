//! The records outpost keeps. Every record belongs to an account (the config
//! name of a Smartlead key or a Gmail mailbox). Records are plain structs: the
//! store encodes them with a version byte so that old data can be migrated.
//!
//! Keys are strings built from the account and the provider's own id, so they
//! read well in logs, exports and `--json` output.

mod bounce;
mod bulk;
mod campaign;
mod deliverability;
mod event;
mod lead;
mod mail;
mod notified;
mod outbox;
mod pass_on;
mod queued;
mod sequence;
mod tags;
mod triage;
mod users;
mod workspace;

pub use bounce::*;
pub use bulk::*;
pub use campaign::*;
pub use deliverability::*;
pub use event::*;
pub use lead::*;
pub use mail::*;
pub use notified::*;
pub use outbox::*;
pub use pass_on::*;
pub use queued::*;
pub use sequence::*;
pub use tags::*;
pub use triage::*;
pub use users::*;
pub use workspace::*;

use serde::{Deserialize, Serialize};

/// Which remote service a record came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Smartlead,
    Gmail,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Smartlead => "smartlead",
            Provider::Gmail => "gmail",
        }
    }

    /// The name a rep reads ("Smartlead", "Gmail").
    pub fn title(self) -> &'static str {
        match self {
            Provider::Smartlead => "Smartlead",
            Provider::Gmail => "Gmail",
        }
    }

    /// Parses `smartlead` / `gmail` (any case).
    pub fn parse(name: &str) -> Option<Provider> {
        match name.trim().to_ascii_lowercase().as_str() {
            "smartlead" => Some(Provider::Smartlead),
            "gmail" => Some(Provider::Gmail),
            _ => None,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Joins an account name and a provider-side id into a record key.
/// Account names never contain '/', so the first '/' splits them back.
pub fn scoped_key(account: &str, id: impl std::fmt::Display) -> String {
    format!("{account}/{id}")
}

/// Lower-cases and trims an address so lookups by email match however it was typed.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

/// Whether `email` reads as an address (a local part, `@`, a dotted domain,
/// no spaces): the check enrollment and the composer's Cc/Bcc share.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.contains(char::is_whitespace)
}

/// A name and address as they appear in a header.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

impl Address {
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            name: None,
            email: email.into(),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) if !name.is_empty() => write!(f, "{name} <{}>", self.email),
            _ => f.write_str(&self.email),
        }
    }
}
