//! Gmail: Google OAuth sign-in, token storage, the REST client and MIME
//! handling, following the Gmail API v1 reference.

mod api;
mod classify;
mod client;
pub mod dsn;
pub mod encoding;
mod error;
#[cfg(feature = "keyring")]
pub mod keyring_store;
mod login;
pub mod mime;
pub mod oauth;
mod token_store;
pub mod types;

/// Gmail retries through the shared HTTP layer, with its policy.
pub use crate::providers::http::RetryPolicy;
pub use api::{HistoryDelta, HistoryType, ListMessagesQuery, MessageFormat, ThreadFormat};
pub use client::{GmailClient, GmailClientConfig};
pub use error::GmailError;
pub use login::{login, login_with_clock};
pub use oauth::{GMAIL_MODIFY_SCOPE, OAuthParams, TokenSet};
pub use token_store::{TokenStore, TokenVault, decode_tokens, encode_tokens};
