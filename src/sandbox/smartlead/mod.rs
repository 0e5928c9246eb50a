//! The Smartlead API emulator: state, router and the control surface tests use.

mod accounts;
mod analytics;
mod api;
mod campaign_accounts;
mod campaigns;
mod control;
pub mod generate;
mod history;
mod leads;
mod limits;
mod mailbox_copies;
mod model;
mod render;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::SharedClock;
use crate::sandbox::{Contact, RateLimit};

pub use analytics::CampaignTruth;
pub use history::{InjectReply, InjectedReply};
pub(crate) use limits::lock;
pub use mailbox_copies::MailboxCopy;
use model::{Data, MessageKind};

/// A `reply-email-thread` post the emulator accepted, as sent plus its campaign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplyPost {
    pub campaign_id: i64,
    pub body: Value,
}

/// A lead created through `POST /campaigns/{id}/leads`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AddedLead {
    pub campaign_id: i64,
    pub lead_id: i64,
    pub campaign_lead_map_id: i64,
    pub email: String,
}

/// Where the emulator copies each message it sends or receives through
/// the rep's own mailbox (a campaign sender whose address is that mailbox),
/// so the mailbox's emulator holds it too, as the real mailbox would.
pub trait MailboxMirror: Send + Sync {
    /// `earlier`: the conversation's Message-IDs before `copy`, oldest first.
    fn mirror(&self, copy: &MailboxCopy, earlier: &[String]);
}

/// The installed mirror and the sender address it copies.
struct Mirror {
    mailbox: String,
    sink: Arc<dyn MailboxMirror>,
}

/// A copy to hand to the mirror once the data lock is released.
struct MirrorJob {
    sink: Arc<dyn MailboxMirror>,
    copy: MailboxCopy,
    earlier: Vec<String>,
}

impl MirrorJob {
    fn run(self) {
        self.sink.mirror(&self.copy, &self.earlier);
    }
}

#[derive(Debug, Default)]
struct ControlLog {
    reply_posts: Vec<ReplyPost>,
    added_leads: Vec<AddedLead>,
    unsubscribes: Vec<UnsubscribeCall>,
}

/// An unsubscribe a client asked for: in one campaign, or (no campaign)
/// account-wide through `POST /leads/{lead_id}/unsubscribe`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnsubscribeCall {
    pub campaign_id: Option<i64>,
    pub lead_id: i64,
    pub lead_email: String,
}

/// Shared state behind every Smartlead route.
pub struct SmartleadState {
    data: RwLock<Data>,
    api_key: String,
    clock: SharedClock,
    limiter: limits::RateLimiter,
    counters: limits::RequestCounters,
    log: Mutex<ControlLog>,
    mirror: RwLock<Option<Mirror>>,
}

/// Never prints the API key, and summarises the data instead of dumping it.
impl std::fmt::Debug for SmartleadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let data = self.read();
        f.debug_struct("SmartleadState")
            .field("api_key", &"[redacted]")
            .field("campaigns", &data.campaigns.len())
            .field("leads", &data.leads.len())
            .field("rate_limit", &self.limiter.config())
            .finish()
    }
}

impl SmartleadState {
    /// Generates the data set and wraps it; `now` for generation comes from `clock`.
    pub fn new(
        seed: u64,
        leads: usize,
        api_key: String,
        clock: SharedClock,
        rate_limit: RateLimit,
    ) -> Self {
        let dataset = generate::generate(seed, leads, clock.now());
        Self {
            data: RwLock::new(dataset.data),
            api_key,
            clock,
            limiter: limits::RateLimiter::new(rate_limit),
            counters: limits::RequestCounters::default(),
            log: Mutex::new(ControlLog::default()),
            mirror: RwLock::new(None),
        }
    }

    /// Copies every message later sent or received through the sender
    /// whose address is `mailbox` to `sink` (see [`MailboxMirror`]).
    pub fn set_mailbox_mirror(&self, mailbox: &str, sink: Arc<dyn MailboxMirror>) {
        *self.mirror.write().unwrap_or_else(|p| p.into_inner()) = Some(Mirror {
            mailbox: mailbox.to_string(),
            sink,
        });
    }

    /// The mirror's copy of a message just added to a conversation, when
    /// that conversation goes through the mirrored mailbox.
    fn mirror_job(&self, data: &Data, membership: usize, message_id: &str) -> Option<MirrorJob> {
        let mirror = self.mirror.read().unwrap_or_else(|p| p.into_inner());
        let mirror = mirror.as_ref()?;
        let (copy, earlier) =
            mailbox_copies::copy_of(data, membership, message_id, &mirror.mailbox)?;
        Some(MirrorJob {
            sink: mirror.sink.clone(),
            copy,
            earlier,
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.limiter.config()
    }

    pub fn set_rate_limit(&self, limit: RateLimit) {
        self.limiter.set_config(limit);
    }

    /// How many requests with `api_key` were answered 429.
    pub fn throttled_count(&self, api_key: &str) -> u64 {
        self.limiter.throttled_count(api_key)
    }

    pub fn throttled_total(&self) -> u64 {
        self.limiter.throttled_total()
    }

    /// Requests per route template, e.g. `GET /api/v1/campaigns/{id}`.
    pub fn requests_by_route(&self) -> BTreeMap<String, u64> {
        self.counters.snapshot()
    }

    pub fn reply_posts(&self) -> Vec<ReplyPost> {
        lock(&self.log).reply_posts.clone()
    }

    /// Every unsubscribe the API took, in order.
    pub fn unsubscribe_calls(&self) -> Vec<UnsubscribeCall> {
        lock(&self.log).unsubscribes.clone()
    }

    pub fn added_leads(&self) -> Vec<AddedLead> {
        lock(&self.log).added_leads.clone()
    }

    /// Makes a lead reply in a campaign, as if it arrived in the sending mailbox.
    pub fn inject_reply(&self, request: &InjectReply) -> Result<InjectedReply, InjectError> {
        let now = self.clock.now();
        let mut data = self.write();
        let (injected, membership) = history::inject_reply(&mut data, request, now)?;
        let job = self.mirror_job(&data, membership, &injected.message_id);
        drop(data);
        if let Some(job) = job {
            job.run();
        }
        Ok(injected)
    }

    /// Bounces the lead's latest step in a campaign and returns the
    /// EMAIL_BOUNCE webhook for it (no `secret_key`); `bounce_text` is the
    /// remote server's answer ("550 5.1.1 User unknown").
    pub fn bounce_lead(
        &self,
        campaign_id: i64,
        lead_email: &str,
        bounce_text: &str,
    ) -> Result<Value, InjectError> {
        let now = self.clock.now();
        history::bounce_lead(&mut self.write(), campaign_id, lead_email, bounce_text, now)
    }

    /// Per-campaign lead counts and analytics totals, computed from the histories.
    pub fn ground_truth(&self) -> Vec<CampaignTruth> {
        analytics::ground_truth(&self.read())
    }

    /// Makes the rep's mailbox one of the senders (see `mailbox_copies`);
    /// returns how many conversations go through it.
    pub fn adopt_mailbox(&self, email: &str, name: &str) -> usize {
        mailbox_copies::adopt_mailbox(&mut self.write(), email, name)
    }

    /// The campaign conversations sent through `email`, as that mailbox holds them.
    pub fn mailbox_copies(&self, email: &str) -> Vec<Vec<MailboxCopy>> {
        mailbox_copies::copies(&self.read(), email)
    }

    /// People to populate the Gmail mailbox with, so both sides talk about the same
    /// leads; those who replied come first.
    pub fn gmail_contacts(&self, n: usize) -> Vec<Contact> {
        // Only the leads that go out are cloned; the partition holds references.
        let data = self.read();
        let replied = |lead: &model::Lead| {
            lead.memberships.iter().any(|&m| {
                data.memberships[m as usize]
                    .history
                    .iter()
                    .any(|msg| msg.kind == MessageKind::Reply)
            })
        };
        let (first, rest): (Vec<&model::Lead>, Vec<&model::Lead>) =
            data.leads.iter().partition(|lead| replied(lead));
        first
            .into_iter()
            .chain(rest)
            .take(n)
            .map(|lead| Contact {
                email: lead.email.clone(),
                first_name: lead.first_name.clone(),
                last_name: lead.last_name.clone(),
                company: lead.company_name.clone(),
            })
            .collect()
    }
}

/// Why an injected reply could not be recorded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InjectError {
    #[error("campaign {0} does not exist")]
    UnknownCampaign(i64),
    #[error("no lead {0} in campaign {1}")]
    UnknownLead(String, i64),
    #[error("lead {0} has not been sent an email in campaign {1} yet")]
    NothingToReplyTo(String, i64),
    #[error("unknown category {0}")]
    UnknownCategory(String),
}

/// Routes under `/api/v1` with auth, rate limit and counters; plus `/_sandbox/smartlead`.
pub fn router(state: Arc<SmartleadState>) -> Router {
    let api = Router::new()
        .merge(campaigns::routes())
        .merge(campaign_accounts::routes())
        .merge(analytics::routes())
        .merge(leads::routes())
        .merge(history::routes())
        .merge(accounts::routes())
        .route_layer(from_fn_with_state(
            state.clone(),
            limits::authenticate_and_limit,
        ))
        .route_layer(from_fn_with_state(state.clone(), limits::count_requests))
        .fallback(unknown_route)
        .with_state(state.clone());
    Router::new()
        .nest("/api/v1", api)
        .merge(control::routes(state))
}

async fn unknown_route() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": "Route not found" })),
    )
}
