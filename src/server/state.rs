//! What every route shares: the engine, the group-commit writer, secrets,
//! counters, and the optional sync and scheduler handles for `/health`.

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::config::{Config, ProviderSettings};
use crate::engine::Engine;
use crate::ingest::Ingest;
use crate::sequences::{Scheduler, TrackingKey};
use crate::sync::SyncEngine;

/// A Smartlead account webhooks can land in, with its URL token if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRoute {
    pub account: String,
    pub token: Option<String>,
}

/// Routes webhooks to accounts: by URL token, or the only Smartlead account.
pub fn webhook_routes(config: &Config) -> Vec<WebhookRoute> {
    config
        .accounts
        .iter()
        .filter_map(|(name, account)| match &account.provider {
            ProviderSettings::Smartlead(s) => Some(WebhookRoute {
                account: name.clone(),
                token: s.webhook_token.clone(),
            }),
            ProviderSettings::Gmail(_) => None,
        })
        .collect()
}

#[derive(Clone)]
pub struct ServerState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub engine: Engine,
    pub ingest: Ingest,
    pub metrics: Arc<Metrics>,
    pub routes: Vec<WebhookRoute>,
    pub webhook_secret: Option<SecretString>,
    pub api_token: SecretString,
    pub tracking_key: Option<TrackingKey>,
    pub sync: Option<SyncEngine>,
    pub scheduler: Option<Scheduler>,
    pub shutdown: CancellationToken,
    pub started: Instant,
    pub recent_requests: Mutex<RecentIds>,
}

/// Builder for [`ServerState`]; the writer task must already run (see `Ingest::start`).
pub struct ServerParts {
    pub engine: Engine,
    pub ingest: Ingest,
    pub metrics: Arc<Metrics>,
    pub routes: Vec<WebhookRoute>,
    pub webhook_secret: Option<SecretString>,
    pub api_token: SecretString,
    pub tracking_key: Option<TrackingKey>,
    pub sync: Option<SyncEngine>,
    pub scheduler: Option<Scheduler>,
    /// Cancelled when the daemon stops; ends live streams so shutdown is not held up.
    pub shutdown: CancellationToken,
}

impl ServerState {
    pub fn new(parts: ServerParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine: parts.engine,
                ingest: parts.ingest,
                metrics: parts.metrics,
                routes: parts.routes,
                webhook_secret: parts.webhook_secret,
                api_token: parts.api_token,
                tracking_key: parts.tracking_key,
                sync: parts.sync,
                scheduler: parts.scheduler,
                shutdown: parts.shutdown,
                started: Instant::now(),
                recent_requests: Mutex::new(RecentIds::new(RECENT_REQUEST_IDS)),
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The account a webhook belongs to: the route token's, else the only
    /// Smartlead account. `Err` says why none fits.
    pub fn webhook_account(&self, token: Option<&str>) -> Result<String, String> {
        let routes = &self.inner.routes;
        match token {
            Some(token) => routes
                .iter()
                .find(|r| {
                    r.token
                        .as_deref()
                        .is_some_and(|t| super::limits::secrets_match(t.as_bytes(), token.as_bytes()))
                })
                .map(|r| r.account.clone())
                .ok_or_else(|| "no Smartlead account has this webhook token".to_string()),
            None => match routes.as_slice() {
                [only] => Ok(only.account.clone()),
                [] => Err("no Smartlead account is configured".to_string()),
                _ => Err(
                    "several Smartlead accounts are configured: post to /webhooks/smartlead/{webhook_token}"
                        .to_string(),
                ),
            },
        }
    }

    pub(crate) fn webhook_secret(&self) -> Option<&str> {
        self.inner
            .webhook_secret
            .as_ref()
            .map(|s| s.expose_secret())
    }

    pub(crate) fn api_token_matches(&self, given: &str) -> bool {
        super::limits::secrets_match(
            given.as_bytes(),
            self.inner.api_token.expose_secret().as_bytes(),
        )
    }

    /// True the first time a delivery id is seen (within the recent window).
    pub(crate) fn first_delivery(&self, request_id: &str) -> bool {
        let mut recent = self
            .inner
            .recent_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        recent.insert(request_id)
    }

    /// Forgets a delivery id whose request then failed, so a retry is processed.
    pub(crate) fn forget_delivery(&self, request_id: &str) {
        let mut recent = self
            .inner
            .recent_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        recent.remove(request_id);
    }
}

/// Delivery ids remembered for `X-Request-Id` dedupe. Smartlead retries within
/// about 40 minutes; past this window the store's dedupe key still catches a
/// replay of the same fact.
const RECENT_REQUEST_IDS: usize = 200_000;

/// A bounded set that forgets the oldest ids first. It keeps a keyed 64-bit
/// hash of each id, not the id: a few MB for the whole window instead of
/// tens. A collision (about 1 in 10^9 over a full window) only makes a new
/// delivery look repeated, and a repeated delivery is still written (the
/// store dedupes it), so nothing is lost by it.
pub(crate) struct RecentIds {
    order: VecDeque<u64>,
    set: HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
    capacity: usize,
}

impl RecentIds {
    fn new(capacity: usize) -> Self {
        Self {
            order: VecDeque::new(),
            set: HashSet::new(),
            hasher: std::collections::hash_map::RandomState::new(),
            capacity,
        }
    }

    fn insert(&mut self, id: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        if self.set.contains(&hash) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(hash);
        self.set.insert(hash);
        true
    }

    fn remove(&mut self, id: &str) {
        let hash = self.hasher.hash_one(id);
        if self.set.remove(&hash) {
            self.order.retain(|x| *x != hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_are_bounded() {
        let mut ids = RecentIds::new(2);
        assert!(ids.insert("a"));
        assert!(!ids.insert("a"));
        assert!(ids.insert("b"));
        assert!(ids.insert("c"));
        assert!(ids.insert("a"), "the oldest id was forgotten");
        ids.remove("c");
        assert!(ids.insert("c"));
    }
}
