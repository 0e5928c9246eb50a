//! The control API: what tests and the demo use to steer the emulator, both
//! as methods on `GoogleSandbox` and over HTTP under `/_sandbox/google/`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::oauth::IssuedTokens;
use super::quota::{GoogleCounters, QuotaSettings};
use super::{GoogleSandbox, SentMessage};
use crate::sandbox::Contact;
use crate::sandbox::smartlead::MailboxCopy;

/// An inbound message to deliver, as if a contact had just written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub from: Contact,
    /// Reply into this thread; `None` starts a new one.
    pub thread_id: Option<String>,
    /// Defaults to `Re: <thread subject>` in a thread, or a greeting otherwise.
    pub subject: Option<String>,
    pub text: String,
    /// When given, the message is multipart/alternative.
    pub html: Option<String>,
}

/// Ids of an injected message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectedMessage {
    pub id: String,
    pub thread_id: String,
    pub history_id: String,
    /// The RFC 822 Message-ID, with angle brackets.
    pub message_id_header: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("no thread with id {0} in the sandbox mailbox")]
    UnknownThread(String),
    #[error("no message with Message-ID {0} in the sandbox mailbox")]
    UnknownMessage(String),
    #[error("the message could not be built: {0}")]
    Build(String),
}

fn strip_reply_prefix(subject: &str) -> &str {
    let mut rest = subject.trim();
    while let Some(stripped) = rest
        .strip_prefix("Re: ")
        .or_else(|| rest.strip_prefix("RE: "))
        .or_else(|| rest.strip_prefix("re: "))
    {
        rest = stripped.trim_start();
    }
    rest
}

/// A message the mailbox holds, as a test looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMessage {
    pub id: String,
    pub thread_id: String,
    pub labels: Vec<String>,
    /// The RFC 822 bytes as stored.
    pub raw: Vec<u8>,
}

fn held_in(mailbox: &super::mailbox::Mailbox, message_id: &str) -> Option<HeldMessage> {
    mailbox
        .messages
        .values()
        .find(|m| m.parsed.message_id.as_deref() == Some(message_id))
        .map(|m| HeldMessage {
            id: m.id.clone(),
            thread_id: m.thread_id.clone(),
            labels: m.labels.clone(),
            raw: m.raw.clone(),
        })
}

impl GoogleSandbox {
    /// Deliver a message from a contact now; it gets INBOX, UNREAD and a history record.
    pub fn inject_inbound(&self, inbound: InboundMessage) -> Result<InjectedMessage, ControlError> {
        let now = self.clock.now();
        let mut mailbox = self.mailbox();
        let (subject, parent, references) = match &inbound.thread_id {
            Some(thread_id) => {
                let messages = mailbox
                    .thread_messages(thread_id)
                    .ok_or_else(|| ControlError::UnknownThread(thread_id.clone()))?;
                let first_subject = messages
                    .first()
                    .map(|m| m.parsed.subject.clone())
                    .unwrap_or_default();
                let last = messages.last();
                let parent = last.and_then(|m| m.parsed.message_id.clone());
                let mut references: Vec<String> = last
                    .and_then(|m| m.parsed.header("References"))
                    .map(|r| r.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default();
                references.extend(parent.clone());
                let subject = format!("Re: {}", strip_reply_prefix(&first_subject));
                (subject, parent, references)
            }
            None => (
                format!("Hello from {}", inbound.from.company),
                None,
                Vec::new(),
            ),
        };
        let subject = inbound.subject.clone().unwrap_or(subject);
        let domain = inbound
            .from
            .email
            .rsplit_once('@')
            .map_or("example.com", |(_, d)| d)
            .to_string();
        let message_id = format!(
            "{:x}.{}@{domain}",
            now.timestamp_millis(),
            mailbox.messages.len()
        );
        let bare = |id: &str| id.trim_start_matches('<').trim_end_matches('>').to_string();
        let mut builder = MessageBuilder::new()
            .from(Address::new_address(
                Some(format!(
                    "{} {}",
                    inbound.from.first_name, inbound.from.last_name
                )),
                inbound.from.email.clone(),
            ))
            .to(mailbox.email.clone())
            .subject(subject)
            .message_id(message_id.clone())
            .date(now.timestamp())
            .text_body(inbound.text.clone());
        if let Some(html) = &inbound.html {
            builder = builder.html_body(html.clone());
        }
        if let Some(parent) = &parent {
            builder = builder
                .in_reply_to(bare(parent))
                .references(MessageId::from(
                    references.iter().map(|r| bare(r)).collect::<Vec<_>>(),
                ));
        }
        let raw = builder
            .write_to_vec()
            .map_err(|e| ControlError::Build(e.to_string()))?;
        let id = mailbox
            .insert(
                raw,
                inbound.thread_id.as_deref(),
                &["INBOX", "UNREAD", "IMPORTANT", "CATEGORY_PERSONAL"],
                now.timestamp_millis(),
            )
            .map_err(|e| ControlError::Build(e.to_string()))?;
        let stored = mailbox
            .messages
            .get(&id)
            .ok_or_else(|| ControlError::Build("stored message vanished".into()))?;
        Ok(InjectedMessage {
            id: stored.id.clone(),
            thread_id: stored.thread_id.clone(),
            history_id: stored.history_id.to_string(),
            message_id_header: format!("<{message_id}>"),
        })
    }

    /// Bounces a message the mailbox sent (by its Message-ID, with angle
    /// brackets): files the notice Gmail would for each of its recipients,
    /// in its thread, now. Returns the notices' Gmail ids.
    pub fn bounce_sent_message(
        &self,
        message_id: &str,
        kind: super::BounceKind,
    ) -> Result<Vec<String>, ControlError> {
        let now_ms = self.clock.now().timestamp_millis();
        let mut mailbox = self.mailbox();
        let held = held_in(&mailbox, message_id)
            .ok_or_else(|| ControlError::UnknownMessage(message_id.to_string()))?;
        let recipients = mailbox
            .messages
            .get(&held.id)
            .map(|m| m.parsed.recipients.clone())
            .unwrap_or_default();
        Ok(recipients
            .iter()
            .filter_map(|r| mailbox.file_bounce_notice(&held.id, r, kind, now_ms))
            .collect())
    }

    /// Files a message of a campaign Smartlead runs through this mailbox as
    /// the mailbox itself would: our mail in SENT, the lead's in the INBOX
    /// unread, with Smartlead's Message-ID, in the thread of the message it
    /// follows. A Message-ID already here is not filed twice. Returns the
    /// Gmail id.
    pub fn file_campaign_message(
        &self,
        copy: &MailboxCopy,
        earlier: &[String],
    ) -> Result<String, ControlError> {
        let mut mailbox = self.mailbox();
        if let Some(held) = held_in(&mailbox, &copy.message_id) {
            return Ok(held.id);
        }
        let thread = earlier
            .iter()
            .rev()
            .find_map(|id| held_in(&mailbox, id))
            .map(|held| held.thread_id);
        let labels: &[&str] = if copy.inbound {
            &["INBOX", "UNREAD", "IMPORTANT", "CATEGORY_PERSONAL"]
        } else {
            &["SENT"]
        };
        let raw = super::generate::campaign_copy_raw(copy, earlier);
        mailbox
            .insert(raw, thread.as_deref(), labels, copy.at.timestamp_millis())
            .map_err(|e| ControlError::Build(e.to_string()))
    }

    /// Delivers a message written whole (its own Cc, attachments…) into
    /// the inbox now, in `thread_id` when given; unread. Returns the Gmail id.
    pub fn inject_inbound_raw(
        &self,
        raw: Vec<u8>,
        thread_id: Option<&str>,
    ) -> Result<String, ControlError> {
        let now_ms = self.clock.now().timestamp_millis();
        self.mailbox()
            .insert(
                raw,
                thread_id,
                &["INBOX", "UNREAD", "IMPORTANT", "CATEGORY_PERSONAL"],
                now_ms,
            )
            .map_err(|e| ControlError::Build(e.to_string()))
    }

    /// The message with this RFC Message-ID (angle brackets included), if the mailbox holds it.
    pub fn held_message(&self, message_id: &str) -> Option<HeldMessage> {
        held_in(&self.mailbox(), message_id)
    }

    /// Everything sent through the API (messages.send, uploads, drafts.send), oldest first.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.mailbox().sent.clone()
    }

    pub fn revoke_all_refresh_tokens(&self) {
        self.oauth().revoke_all_refresh_tokens();
    }

    pub fn expire_all_access_tokens(&self) {
        let now = self.clock.now();
        self.oauth().expire_all_access_tokens(now);
    }

    /// Drop retained history; any older startHistoryId now gets 404.
    pub fn forget_history_before_now(&self) {
        self.mailbox().forget_history();
    }

    pub fn set_quota(&self, settings: QuotaSettings) {
        self.quota_meter().settings = settings;
    }

    pub fn quota(&self) -> QuotaSettings {
        self.quota_meter().settings
    }

    pub fn counters(&self) -> GoogleCounters {
        self.quota_meter().counters.clone()
    }

    /// Lifetime of access tokens issued from now on (`expires_in`).
    pub fn set_access_token_lifetime(&self, seconds: i64) {
        self.oauth().access_lifetime_secs = seconds.max(1);
    }

    /// Tokens for the sandbox's client without the browser step (demo, tests).
    pub fn issue_tokens(&self, scope: &str) -> IssuedTokens {
        let now = self.clock.now();
        let mut oauth = self.oauth();
        let client_id = oauth.client_id().to_string();
        oauth.issue(&client_id, scope, true, now)
    }

    /// The mailbox's current history id.
    pub fn history_id(&self) -> u64 {
        self.mailbox().history_id
    }

    pub fn mailbox_email(&self) -> String {
        self.mailbox().email.clone()
    }

    /// A message's labels, as Gmail has them now (None when it is not there).
    pub fn message_labels(&self, id: &str) -> Option<Vec<String>> {
        self.mailbox().messages.get(id).map(|m| m.labels.clone())
    }

    /// Thread ids, newest activity first.
    pub fn thread_ids(&self) -> Vec<String> {
        let mailbox = self.mailbox();
        let mut seen = std::collections::HashSet::new();
        mailbox
            .messages_newest_first()
            .into_iter()
            .filter(|m| seen.insert(m.thread_id.clone()))
            .map(|m| m.thread_id.clone())
            .collect()
    }
}

type Shared = State<Arc<GoogleSandbox>>;

pub fn routes() -> Router<Arc<GoogleSandbox>> {
    Router::new()
        .route("/_sandbox/google/inbound", post(inject))
        .route("/_sandbox/google/sent", get(sent))
        .route(
            "/_sandbox/google/revoke-refresh-tokens",
            post(revoke_refresh),
        )
        .route("/_sandbox/google/expire-access-tokens", post(expire_access))
        .route("/_sandbox/google/forget-history", post(forget_history))
        .route(
            "/_sandbox/google/quota",
            get(get_quota).put(put_quota).post(put_quota),
        )
        .route("/_sandbox/google/counters", get(counters))
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": message})),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InboundRequest {
    from_email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    company: String,
    thread_id: Option<String>,
    subject: Option<String>,
    text: String,
    html: Option<String>,
}

async fn inject(State(state): Shared, body: Bytes) -> Response {
    let request: InboundRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return bad_request(format!("invalid inbound message: {e}")),
    };
    let inbound = InboundMessage {
        from: Contact {
            email: request.from_email,
            first_name: request.first_name,
            last_name: request.last_name,
            company: request.company,
        },
        thread_id: request.thread_id,
        subject: request.subject,
        text: request.text,
        html: request.html,
    };
    match state.inject_inbound(inbound) {
        Ok(injected) => axum::Json(injected).into_response(),
        Err(e @ ControlError::UnknownThread(_)) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn sent(State(state): Shared) -> Response {
    axum::Json(json!({"messages": state.sent_messages()})).into_response()
}

async fn revoke_refresh(State(state): Shared) -> StatusCode {
    state.revoke_all_refresh_tokens();
    StatusCode::NO_CONTENT
}

async fn expire_access(State(state): Shared) -> StatusCode {
    state.expire_all_access_tokens();
    StatusCode::NO_CONTENT
}

async fn forget_history(State(state): Shared) -> Response {
    state.forget_history_before_now();
    axum::Json(json!({"historyId": state.history_id().to_string()})).into_response()
}

async fn get_quota(State(state): Shared) -> Response {
    axum::Json(state.quota()).into_response()
}

async fn put_quota(State(state): Shared, body: Bytes) -> Response {
    match serde_json::from_slice::<QuotaSettings>(&body) {
        Ok(settings) => {
            state.set_quota(settings);
            axum::Json(settings).into_response()
        }
        Err(e) => bad_request(format!("invalid quota settings: {e}")),
    }
}

async fn counters(State(state): Shared) -> Response {
    axum::Json(state.counters()).into_response()
}
