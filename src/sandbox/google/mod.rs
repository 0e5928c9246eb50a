//! The Gmail API and Google OAuth emulator.
//!
//! `GoogleSandbox` holds a deterministic mailbox generated from the contacts
//! it is given, an OAuth token store and a quota meter; `router` serves the
//! Gmail REST API, the OAuth endpoints and a control API for tests.

mod bounces;
mod control;
mod error;
mod generate;
mod gmail_http;
mod gmail_send;
mod gmail_views;
mod mailbox;
mod mime;
mod oauth;
mod oauth_http;
mod params;
mod query;
mod quota;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;

use super::Contact;
use crate::clock::SharedClock;

pub use bounces::{BounceKind, bounce_kind_for};
pub use control::{ControlError, HeldMessage, InboundMessage, InjectedMessage};
pub use error::{ApiError, ApiErrorDetails};
pub use mailbox::SentMessage;
pub use oauth::{DEFAULT_ACCESS_LIFETIME_SECS, IssuedTokens};
pub use quota::{DEFAULT_UNITS_PER_MINUTE, GoogleCounters, QuotaErrorStyle, QuotaSettings};

/// The scope outpost asks for: read, label and send.
pub const GMAIL_MODIFY_SCOPE: &str = "https://www.googleapis.com/auth/gmail.modify";

pub(crate) use generate::display_name_of;

/// What the Google side of the sandbox is built from.
#[derive(Debug, Clone)]
pub struct GoogleOptions {
    pub mailbox_email: String,
    pub client_id: String,
    pub client_secret: String,
    pub contacts: Vec<Contact>,
    /// Campaign conversations Smartlead sent through this mailbox.
    pub campaign_copies: Vec<Vec<crate::sandbox::smartlead::MailboxCopy>>,
    pub seed: u64,
    pub clock: SharedClock,
}

/// Shared state of the emulator; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct GoogleSandbox {
    clock: SharedClock,
    mailbox: Mutex<mailbox::Mailbox>,
    oauth: Mutex<oauth::OAuthStore>,
    quota: Mutex<quota::Quota>,
}

/// History ids start here, so they look like a mailbox with a past.
const FIRST_HISTORY_ID: u64 = 70_000;

impl GoogleSandbox {
    /// Generate the mailbox (deterministic for a given seed, contacts and clock time).
    pub fn new(options: GoogleOptions) -> Arc<Self> {
        let now = options.clock.now();
        let mut mailbox = mailbox::Mailbox::new(options.mailbox_email.clone(), FIRST_HISTORY_ID);
        generate::populate(&mut mailbox, &options.contacts, options.seed, now);
        generate::add_campaign_copies(&mut mailbox, &options.campaign_copies, options.seed);
        Arc::new(Self {
            oauth: Mutex::new(oauth::OAuthStore::new(
                options.client_id,
                options.client_secret,
                options.mailbox_email,
            )),
            clock: options.clock,
            mailbox: Mutex::new(mailbox),
            quota: Mutex::new(quota::Quota::default()),
        })
    }

    fn mailbox(&self) -> MutexGuard<'_, mailbox::Mailbox> {
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn oauth(&self) -> MutexGuard<'_, oauth::OAuthStore> {
        self.oauth.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn quota_meter(&self) -> MutexGuard<'_, quota::Quota> {
        self.quota.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Everything the emulator serves: Gmail under `/gmail/v1` and `/upload/gmail/v1`,
/// OAuth at `/o/oauth2/v2/auth`, `/token`, `/revoke`, `/device/code`, and the
/// control API under `/_sandbox/google/`.
pub fn router(state: Arc<GoogleSandbox>) -> Router {
    Router::new()
        .merge(gmail_http::routes())
        .merge(oauth_http::routes())
        .merge(control::routes())
        .with_state(state)
}
