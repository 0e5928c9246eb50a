//! Gmail: Google OAuth sign-in, token storage, the REST client and MIME
//! handling, following the Gmail API v1 reference.

mod api;
mod client;
pub mod encoding;
mod error;
mod login;
pub mod mime;
pub mod oauth;
mod retry;
mod token_store;
pub mod types;

pub use api::{HistoryDelta, HistoryType, ListMessagesQuery, MessageFormat, ThreadFormat};
pub use client::{GmailClient, GmailClientConfig};
pub use error::GmailError;
pub use login::{login, login_with_clock};
pub use oauth::{GMAIL_MODIFY_SCOPE, OAuthParams, TokenSet};
pub use retry::RetryPolicy;
pub use token_store::TokenStore;
