//! Typed client for the Smartlead REST API (see the project's
//! `reference/smartlead-api.md`): campaigns, analytics, leads, message
//! history and replies, categories, mailboxes, webhooks and agency clients.
//!
//! Auth is the `api_key` query parameter on every call; the key is held in a
//! [`secrecy::SecretString`] and scrubbed from every error.

mod accounts;
mod campaigns;
mod client;
pub mod de;
mod error;
mod leads;
pub mod types;

pub use client::{Client, SmartleadConfig};
pub use error::SmartleadError;
pub use types::*;
