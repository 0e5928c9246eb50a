//! The Engine: the one door to outpost's data. The TUI, the CLI and the
//! daemon's HTTP API all read and act through it; none of them touch sled or
//! a provider directly.
//!
//! Queries return plain serializable views so the same call can be printed as
//! a table, as `--json`, or sent over the daemon's API.

mod attachments;
mod bulk;
mod categories;
mod commands;
mod compose;
pub use compose::forward_subject;
pub mod credentials;
mod deliverability;
pub mod door;
mod events;
mod filters;
mod lead_changes;
pub use lead_changes::{LeadChanges, LeadEdit, PayloadLead};
mod lead_index;
pub mod preflight;
mod process;
pub use process::{OutboxCounts, ProviderCounters};
mod queries;
pub mod remote;
pub mod search;
mod sequence_queries;
mod stats;
mod suppression;
mod tags;
mod triage;
mod users;

pub use attachments::{AttachmentContent, AttachmentView, safe_file_name};
pub use bulk::{BulkReport, BulkSkip, BulkTarget, UndoReport};
pub use categories::*;
pub use commands::*;
pub use deliverability::{BOUNCE_PAUSE_MIN_SENDS, MailboxBounces, rate_text};
pub use filters::Filters;
pub use lead_index::*;
pub use queries::*;
pub use sequence_queries::*;
pub use stats::*;
pub use suppression::PassedOn;
pub use tags::{TagCount, parse_tag_changes};
pub use triage::*;
pub use users::{MintedToken, Scope, TOKEN_PREFIX, UserView, Viewer};

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::providers::registry::Providers;
use crate::store::{Change, Store};

#[derive(Clone, Debug)]
pub struct Engine {
    store: Store,
    clock: SharedClock,
    /// Swapped whole when an account is added through the API, so every
    /// worker sees the new set on its next look (no restart).
    providers: Arc<std::sync::RwLock<Arc<Providers>>>,
    /// What the config says about sending, for the commands that need it
    /// (apply, plan): the process holding the data dir answers with its own.
    settings: Arc<EngineSettings>,
    /// Every conversation's searchable text, kept in memory (engine/search).
    search_index: Arc<search::SearchIndex>,
    /// This process among the replicas sharing the store (leases' holder).
    replica: Arc<crate::replica::Replica>,
}

/// The parts of the config the engine's commands read.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    pub sending: crate::config::SendingConfig,
    /// `[daemon].public_url`: with it, planned emails carry tracking links.
    pub public_url: Option<url::Url>,
    /// Where the tracking key lives when links are on.
    pub data_dir: Option<std::path::PathBuf>,
    /// Each account's `from_name`, by account name.
    pub from_names: std::collections::BTreeMap<String, String>,
    /// Each account's `signature`, by account name.
    pub signatures: std::collections::BTreeMap<String, String>,
    /// The zone the rep reads and types times in (search dates).
    pub zone: crate::triage::RepZone,
    /// `[users.NAME]`: who may use the API and which accounts each sees.
    pub users: std::collections::BTreeMap<String, crate::config::User>,
    /// The config's top-level `user`: who "me" is for local commands.
    pub me: Option<String>,
    /// The configured accounts' names (a stored account may not take one).
    pub account_names: std::collections::BTreeSet<String>,
}

impl EngineSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            sending: config.sending.clone(),
            public_url: config.daemon.public_url.clone(),
            data_dir: Some(config.data_dir().to_path_buf()),
            from_names: config
                .accounts
                .values()
                .filter_map(|a| match &a.provider {
                    crate::config::ProviderSettings::Gmail(g) => {
                        Some((a.name.clone(), g.from_name.clone()?))
                    }
                    crate::config::ProviderSettings::Smartlead(_) => None,
                })
                .collect(),
            signatures: config
                .accounts
                .values()
                .filter_map(|a| Some((a.name.clone(), a.signature.clone()?)))
                .collect(),
            zone: crate::triage::RepZone::from_config(config),
            users: config.users.clone(),
            me: config.user.clone(),
            account_names: config.accounts.keys().cloned().collect(),
        }
    }

    /// The signature the rep's own mail from `account` ends with, if one is set.
    pub fn signature(&self, account: &str) -> Option<&str> {
        self.signatures.get(account).map(String::as_str)
    }

    /// The display name `account`'s mail is sent under, if one is set.
    pub fn from_name(&self, account: &str) -> Option<&str> {
        self.from_names.get(account).map(String::as_str)
    }

    /// The scheduler's settings; reads (or creates) the tracking key only
    /// when links are on, so read-only commands never write it.
    pub fn scheduler(&self) -> crate::sequences::SequenceResult<crate::sequences::SchedulerConfig> {
        let mut out = crate::sequences::SchedulerConfig::new(self.sending.timezone);
        if let (Some(url), Some(dir)) = (&self.public_url, &self.data_dir) {
            out.public_url = Some(url.clone());
            out.tracking_key = Some(crate::sequences::TrackingKey::load_or_create(dir)?);
        }
        Ok(out)
    }
}

/// A cache migrated to schema 4 has its provider threads linked into
/// conversations once; a failure leaves the note for the next open.
fn settle_migrated_conversations(store: &Store) {
    let pending = match store.conversations_pending() {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether conversations need linking");
            return;
        }
    };
    if !pending {
        return;
    }
    match crate::conversation::settle_all(store).and_then(|n| {
        store.conversations_settled()?;
        Ok(n)
    }) {
        Ok(n) => tracing::info!(
            threads = n,
            "linked the cache's conversations across providers"
        ),
        Err(e) => tracing::warn!(error = %e, "linking conversations failed; retried on next open"),
    }
}

impl Engine {
    /// An engine over the cache alone (no provider can be reached).
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self::with_providers(store, clock, Arc::new(Providers::default()))
    }

    pub fn with_providers(store: Store, clock: SharedClock, providers: Arc<Providers>) -> Self {
        settle_migrated_conversations(&store);
        let replica = crate::replica::Replica::for_store(&store);
        Self {
            replica,
            store,
            clock,
            providers: Arc::new(std::sync::RwLock::new(providers)),
            settings: Arc::default(),
            search_index: Arc::default(),
        }
    }

    /// The same engine answering with these settings.
    pub fn with_settings(mut self, settings: EngineSettings) -> Self {
        self.settings = Arc::new(settings);
        self
    }

    /// The same engine running as another replica (tests of several
    /// replicas in one process).
    pub fn with_replica(mut self, replica: Arc<crate::replica::Replica>) -> Self {
        self.replica = replica;
        self
    }

    /// This process as a replica of the store: whose leases are whose.
    pub fn replica(&self) -> &Arc<crate::replica::Replica> {
        &self.replica
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// The provider clients as they are now; hold the answer for one piece
    /// of work, and look again for the next. Core only: the faces reach the
    /// providers through the door and the named methods in `process`.
    pub(crate) fn providers(&self) -> Arc<Providers> {
        self.providers.read().expect("providers lock").clone()
    }

    /// Puts a rebuilt set of provider clients in place for every clone of
    /// this engine (work already running keeps the set it holds).
    pub fn replace_providers(&self, providers: Providers) {
        *self.providers.write().expect("providers lock") = Arc::new(providers);
    }

    /// Core only, like [`Engine::providers`] (tests reach it through the
    /// `testing` feature).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// How big the in-memory search index is (empty until a search).
    pub fn search_index_size(&self) -> search::IndexSize {
        self.search_index.size()
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Runs the reactions to events that were new to the store (sequences
    /// pausing on a reply, stopping on a bounce, ...).
    fn after_new_events(
        &self,
        events: &[crate::model::EmailEvent],
    ) -> crate::store::StoreResult<()> {
        for event in events {
            crate::sequences::react_to_event(&self.store, event, &*self.clock)?;
        }
        self.check_bounce_pause(events)
    }

    /// Runs what follows a successful send (a sequence step moving on).
    pub fn after_outbox_sent(
        &self,
        item: &crate::model::OutboxItem,
    ) -> crate::store::StoreResult<()> {
        crate::sequences::on_outbox_sent(&self.store, item, &*self.clock)
    }

    /// Runs what follows a send that will not happen (the enrollment fails with the reason).
    pub fn after_outbox_failed(
        &self,
        item: &crate::model::OutboxItem,
        error: &str,
    ) -> crate::store::StoreResult<()> {
        crate::sequences::on_outbox_failed(&self.store, item, error, &*self.clock)
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.store.subscribe()
    }
}
