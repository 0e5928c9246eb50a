//! Sync: pull every account into the cache. Full on first run, incremental
//! after (cursors in the store so a restart resumes), idempotent writes (a sync
//! with nothing new writes nothing), progress on the change feed.

mod gmail;
pub mod read_state;
mod smartlead;

pub use smartlead::smartlead_dedupe_key;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::providers::registry::AccountAttention;
use crate::store::{Change, StoreError, SyncProgress};

/// What one account's sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub account: String,
    pub provider: String,
    pub campaigns: usize,
    pub leads: usize,
    pub threads: usize,
    pub messages: usize,
    pub new_events: usize,
    /// Records that actually changed in the store.
    pub writes: u64,
    /// Requests sent to the provider.
    pub requests: u64,
    /// True when a Gmail history cursor had expired and a full resync ran.
    pub full_resync: bool,
    pub error: Option<String>,
    pub needs_login: bool,
    /// What the rep must fix first (a secret to set, a refused key to
    /// replace); every other account synced regardless.
    #[serde(default)]
    pub needs_attention: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncSummary {
    pub accounts: Vec<AccountSummary>,
}

impl SyncSummary {
    pub fn failed(&self) -> bool {
        self.accounts.iter().any(|a| a.error.is_some())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Smartlead(#[from] crate::providers::smartlead::SmartleadError),
    #[error("{0}")]
    Gmail(#[from] crate::providers::gmail::GmailError),
}

impl SyncError {
    pub fn needs_login(&self) -> bool {
        matches!(
            self,
            SyncError::Gmail(crate::providers::gmail::GmailError::NeedsLogin { .. })
        )
    }

    /// True when the provider refused the account's key: retrying will not
    /// help until the rep replaces it.
    pub fn key_refused(&self) -> bool {
        matches!(
            self,
            SyncError::Smartlead(crate::providers::smartlead::SmartleadError::Unauthorized(_))
        )
    }
}

fn set_aside_progress(attention: &AccountAttention) -> SyncProgress {
    SyncProgress {
        account: attention.account.clone(),
        phase: "needs attention".into(),
        last_error: Some(attention.problem.clone()),
        needs_attention: Some(attention.fix.clone()),
        ..SyncProgress::default()
    }
}

/// Runs syncs and keeps each account's progress for status bars and `/health`.
#[derive(Clone)]
pub struct SyncEngine {
    engine: Engine,
    progress: Arc<Mutex<BTreeMap<String, SyncProgress>>>,
    wake: Arc<Notify>,
}

impl SyncEngine {
    pub fn new(engine: Engine) -> Self {
        // Accounts set aside are known from the start, before any poll.
        let progress = engine
            .providers()
            .needs_attention
            .values()
            .map(|a| (a.account.clone(), set_aside_progress(a)))
            .collect();
        Self {
            engine,
            progress: Arc::new(Mutex::new(progress)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Re-reads one conversation from its provider; true when the cache changed.
    pub async fn refresh_thread(&self, thread_key: &str) -> Result<bool, SyncError> {
        let Some(thread) = self
            .engine
            .store()
            .get::<crate::model::Thread>(thread_key)?
        else {
            return Ok(false);
        };
        // A conversation is refreshed in every provider that holds a copy.
        let mut changed = false;
        for key in std::iter::once(thread.key()).chain(thread.sources.iter().cloned()) {
            let Some(copy) = self.engine.store().get::<crate::model::Thread>(&key)? else {
                continue;
            };
            changed |= match copy.provider {
                crate::model::Provider::Smartlead => {
                    smartlead::refresh_thread(&self.engine, &copy).await?
                }
                crate::model::Provider::Gmail => gmail::refresh_thread(&self.engine, &copy).await?,
            };
        }
        Ok(changed)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Every account's latest progress.
    pub fn progress(&self) -> Vec<SyncProgress> {
        self.progress
            .lock()
            .expect("progress lock")
            .values()
            .cloned()
            .collect()
    }

    /// Asks the pollers to sync now instead of waiting for their interval.
    pub fn sync_now(&self) {
        self.wake.notify_waiters();
    }

    pub(crate) fn report(&self, update: impl FnOnce(&mut SyncProgress), account: &str) {
        let snapshot = {
            let mut all = self.progress.lock().expect("progress lock");
            let entry = all
                .entry(account.to_string())
                .or_insert_with(|| SyncProgress {
                    account: account.to_string(),
                    ..SyncProgress::default()
                });
            update(entry);
            entry.clone()
        };
        self.engine.store().publish(Change::Progress(snapshot));
    }

    /// Syncs every configured account once, concurrently.
    pub async fn sync_all(&self) -> SyncSummary {
        let providers = self.engine.providers().clone();
        let mut jobs = Vec::new();
        for name in providers.smartlead.keys() {
            let this = self.clone();
            let name = name.clone();
            jobs.push(tokio::spawn(async move { this.sync_account(&name).await }));
        }
        for name in providers
            .gmail
            .keys()
            .chain(providers.needs_attention.keys())
        {
            let this = self.clone();
            let name = name.clone();
            jobs.push(tokio::spawn(async move { this.sync_account(&name).await }));
        }
        let mut summary = SyncSummary::default();
        for job in jobs {
            match job.await {
                Ok(account) => summary.accounts.push(account),
                Err(err) => summary.accounts.push(AccountSummary {
                    error: Some(format!("sync task failed: {err}")),
                    ..AccountSummary::default()
                }),
            }
        }
        summary.accounts.sort_by(|a, b| a.account.cmp(&b.account));
        summary
    }

    /// Syncs one account by config name, recording progress and the outcome.
    pub async fn sync_account(&self, name: &str) -> AccountSummary {
        let providers = self.engine.providers().clone();
        if let Some(attention) = providers.needs_attention.get(name) {
            return self.report_set_aside(attention);
        }
        let writes_before = self.engine.store().write_count();
        self.report(
            |p| {
                p.running = true;
                p.phase = "starting".into();
                p.done = 0;
                p.total = None;
            },
            name,
        );
        let result = if let Some(account) = providers.smartlead.get(name) {
            smartlead::sync(self, account).await
        } else if let Some(account) = providers.gmail.get(name) {
            gmail::sync(self, account).await
        } else {
            return AccountSummary {
                account: name.to_string(),
                error: Some(format!("no account {name:?} in the config")),
                ..AccountSummary::default()
            };
        };
        let now = self.engine.clock().now();
        match result {
            Ok(mut summary) => {
                summary.writes = self.engine.store().write_count() - writes_before;
                self.report(
                    |p| {
                        p.running = false;
                        p.phase = "idle".into();
                        p.last_success = Some(now);
                        p.last_error = None;
                        p.needs_login = false;
                        p.needs_attention = None;
                    },
                    name,
                );
                summary
            }
            Err(err) => {
                let needs_login = err.needs_login();
                let needs_attention = match providers.smartlead.get(name) {
                    Some(account) if err.key_refused() => Some(format!(
                        "replace the key in {} (Smartlead refused it)",
                        account.key_origin
                    )),
                    _ => None,
                };
                let message = err.to_string();
                tracing::warn!(account = name, error = %message, "sync failed");
                self.report(
                    |p| {
                        p.running = false;
                        p.phase = "failed".into();
                        p.last_error = Some(message.clone());
                        p.needs_login = needs_login;
                        p.needs_attention = needs_attention.clone();
                    },
                    name,
                );
                AccountSummary {
                    account: name.to_string(),
                    provider: if providers.smartlead.contains_key(name) {
                        "smartlead".into()
                    } else {
                        "gmail".into()
                    },
                    writes: self.engine.store().write_count() - writes_before,
                    error: Some(message),
                    needs_login,
                    needs_attention,
                    ..AccountSummary::default()
                }
            }
        }
    }

    /// An account whose secret could not be read: nothing to pull, but the
    /// status bar, `/health` and the summary say what to set.
    fn report_set_aside(&self, attention: &AccountAttention) -> AccountSummary {
        self.report(|p| *p = set_aside_progress(attention), &attention.account);
        AccountSummary {
            account: attention.account.clone(),
            provider: attention.provider.as_str().into(),
            error: Some(attention.summary()),
            needs_attention: Some(attention.fix.clone()),
            ..AccountSummary::default()
        }
    }

    /// One scheduled poll of an account, by the replica holding its poll
    /// lease: the lease is taken (or renewed) by compare-and-swap first, and
    /// renewed again once the poll is done, so a long sync does not lose
    /// it. None, and no request made, while another replica holds it; when
    /// that one dies, its lease runs out ([`crate::replica::poll_lease_term`]
    /// of `interval`) and the next replica to poll takes over.
    pub async fn poll_account(&self, name: &str, interval: Duration) -> Option<AccountSummary> {
        let term = crate::replica::poll_lease_term(interval);
        let take = || {
            crate::replica::take_poll_lease(
                self.engine.store(),
                name,
                self.engine.replica().id(),
                self.engine.clock().now(),
                term,
            )
        };
        match take() {
            Ok(true) => {}
            Ok(false) => return None,
            Err(err) => {
                tracing::warn!(account = name, error = %err, "cannot take the poll lease; skipping this poll");
                return None;
            }
        }
        let summary = self.sync_account(name).await;
        if let Err(err) = take() {
            tracing::warn!(account = name, error = %err, "cannot renew the poll lease");
        }
        Some(summary)
    }

    /// Hands an account this replica polls to the others at once (on
    /// shutdown) rather than after its lease runs out.
    fn release_poll_lease(&self, name: &str) {
        let released = crate::replica::release_poll_lease(
            self.engine.store(),
            name,
            self.engine.replica().id(),
            self.engine.clock().now(),
        );
        if let Err(err) = released {
            tracing::warn!(account = name, error = %err, "cannot release the poll lease");
        }
    }

    /// Polls every account at its configured interval (and whenever
    /// `sync_now` is called) until `shutdown`; of the replicas sharing the
    /// store, only the one holding an account's poll lease polls it. An account that needs a new
    /// login, or whose key was refused, is not retried until the rep fixes
    /// it and asks again.
    ///
    /// Accounts added through the API (here or by another replica: the
    /// change feed carries both) are picked up without a restart: on a change
    /// of a stored account, and at least once per poll interval in case a
    /// change notice was missed, the provider set is rebuilt and pollers are
    /// started for new accounts, restarted for replaced ones and stopped for
    /// removed ones.
    pub async fn run_pollers(self, shutdown: CancellationToken) {
        let mut changes = self.engine.subscribe();
        // By name: the account's client it was started for, and its stop.
        let mut polling: BTreeMap<String, (usize, CancellationToken)> = BTreeMap::new();
        let mut tasks = Vec::new();
        let mut shown_aside = std::collections::BTreeSet::new();
        loop {
            let providers = self.engine.providers();
            for attention in providers.needs_attention.values() {
                if shown_aside.insert(attention.account.clone()) {
                    self.report_set_aside(attention);
                }
            }
            let wanted = providers.poll_intervals();
            polling.retain(|name, (client, stop)| {
                let keep = account_identity(&providers, name) == Some(*client);
                if !keep {
                    stop.cancel();
                }
                keep
            });
            for (name, interval) in &wanted {
                if polling.contains_key(name) {
                    continue;
                }
                let Some(client) = account_identity(&providers, name) else {
                    continue;
                };
                shown_aside.remove(name);
                let stop = shutdown.child_token();
                polling.insert(name.clone(), (client, stop.clone()));
                tasks.push(tokio::spawn(self.clone().poll_loop(
                    name.clone(),
                    *interval,
                    stop,
                )));
            }
            let rescan = wanted
                .values()
                .min()
                .copied()
                .unwrap_or(Duration::from_secs(
                    crate::config::DEFAULT_POLL_INTERVAL_SECS,
                ));
            drop(providers);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = stored_account_changed(&mut changes) => {}
                _ = tokio::time::sleep(rescan) => {}
            }
            match self.engine.providers().refreshed() {
                Ok(Some(rebuilt)) => {
                    tracing::info!(
                        stored = ?rebuilt.stored_names().collect::<Vec<_>>(),
                        "the accounts added through the API changed; polling the new set"
                    );
                    self.engine.replace_providers(rebuilt);
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the accounts added through the API")
                }
            }
        }
        for task in tasks {
            let _ = task.await;
        }
    }

    /// One account's poller, until `stop` (shutdown, or the account is gone).
    async fn poll_loop(self, name: String, interval: Duration, stop: CancellationToken) {
        loop {
            let wait = match self.poll_account(&name, interval).await {
                Some(summary) if summary.needs_login || summary.needs_attention.is_some() => {
                    Duration::from_secs(24 * 3600)
                }
                // Polled, or another replica holds the account: look again
                // after an interval, to take over if that one died.
                _ => interval,
            };
            tokio::select! {
                _ = stop.cancelled() => {
                    self.release_poll_lease(&name);
                    break;
                }
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

/// Which client `name` has in `providers`: a new one (the account added
/// again) means its poller starts over.
fn account_identity(
    providers: &crate::providers::registry::Providers,
    name: &str,
) -> Option<usize> {
    (providers
        .smartlead
        .get(name)
        .map(|a| Arc::as_ptr(a) as usize))
    .or_else(|| providers.gmail.get(name).map(|a| Arc::as_ptr(a) as usize))
}

/// Returns when a stored account's record changes (or changes may have been
/// missed); never when the feed is closed.
async fn stored_account_changed(changes: &mut tokio::sync::broadcast::Receiver<Change>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match changes.recv().await {
            Ok(Change::Record {
                kind: crate::store::Kind::StoredAccount,
                ..
            })
            | Err(RecvError::Lagged(_)) => return,
            Ok(_) => {}
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
