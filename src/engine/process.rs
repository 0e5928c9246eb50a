//! What the processes running the core (the daemon, the TUI, `outpost send`
//! and `sync`, the CLI's local door) need from it beyond the door: starting
//! its workers, flushing on exit, announcing the door they serve, and the
//! readings `/health` and `/metrics` report. Each is one named method so the
//! faces never hold the store or the provider clients themselves.

use std::io::{BufRead, Write};

use super::Engine;
use crate::model::{OutboxState, PendingUnsubscribe};
use crate::providers::http::HttpMetricsSnapshot;
use crate::providers::registry::AccountAttention;
use crate::sequences::{Scheduler, SchedulerConfig};
use crate::store::portable::{self, PortableError, PortableSummary};
use crate::store::{Index, LockInfo, StoreError, StoreResult, keys::KeyBuf};

/// Outbox items by state, read from the state index (no record is decoded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: usize,
    pub sending: usize,
    pub failed: usize,
    pub sent: usize,
}

/// One provider client's request counters, for `/metrics`.
#[derive(Debug, Clone)]
pub struct ProviderCounters {
    pub account: String,
    /// "smartlead" or "gmail".
    pub provider: &'static str,
    pub counters: HttpMetricsSnapshot,
}

impl Engine {
    /// The sequence scheduler over this engine's data, for a process that
    /// runs it (the daemon and the TUI beside their services, `outpost send`).
    pub fn scheduler(&self, config: SchedulerConfig) -> Scheduler {
        Scheduler::new(self.store.clone(), config)
    }

    /// Lets every write so far reach the disk (a no-op on Postgres, where
    /// each commit is durable).
    pub async fn flush(&self) -> StoreResult<()> {
        self.store.flush_async().await
    }

    /// Asks the store to checkpoint when it closes, so a long-lived process
    /// (the TUI) leaves a data dir that opens fast next time.
    pub fn checkpoint_on_close(&self) {
        self.store.checkpoint_on_close();
    }

    /// Writes who holds the data dir and where its engine API answers into
    /// the lock file, so other outpost commands go through this process.
    pub fn announce_holder(&self, info: &LockInfo) -> StoreResult<()> {
        self.store.set_lock_info(info)
    }

    /// Whether any provider account is configured (usable or set aside).
    pub fn has_accounts(&self) -> bool {
        !self.providers().is_empty()
    }

    /// The accounts set aside for a secret the rep must fix, by name.
    pub fn accounts_needing_attention(&self) -> Vec<AccountAttention> {
        self.providers().needs_attention.values().cloned().collect()
    }

    /// Streams the whole cache as JSON lines (`outpost export` on a free
    /// data dir; the door's `Export` answers with the same lines).
    pub fn export_to(&self, out: &mut dyn Write) -> Result<PortableSummary, PortableError> {
        portable::export(&self.store, out)
    }

    /// Reads an export whose first line is line `first_line` of the rep's
    /// file and writes its records (`outpost import`, and the door's `Import`).
    pub fn import_from(
        &self,
        input: &mut dyn BufRead,
        first_line: u64,
    ) -> Result<PortableSummary, PortableError> {
        portable::import_at(&self.store, input, first_line)
    }

    /// "sled" or "postgres".
    pub fn store_backend(&self) -> &'static str {
        self.store.backend_name()
    }

    /// Whether the store answers; the database round trip runs on a
    /// blocking thread so the caller's runtime never waits on it.
    pub async fn ping_store(&self) -> StoreResult<()> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.ping())
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Database {
                    detail: e.to_string(),
                })
            })
    }

    pub fn outbox_counts(&self) -> OutboxCounts {
        let count = |state: OutboxState| {
            self.store.index_len(
                Index::OutboxByState,
                &KeyBuf::new().byte(state.as_byte()).into_prefix(),
            )
        };
        OutboxCounts {
            pending: count(OutboxState::Pending),
            sending: count(OutboxState::Sending),
            failed: count(OutboxState::Failed),
            sent: count(OutboxState::Sent),
        }
    }

    /// Unsubscribes made here that Smartlead has not taken yet.
    pub fn pending_unsubscribes(&self) -> usize {
        self.store.count::<PendingUnsubscribe>()
    }

    /// Every provider client's counters: Smartlead accounts, then Gmail,
    /// each by account name.
    pub fn provider_counters(&self) -> Vec<ProviderCounters> {
        let providers = self.providers();
        let smartlead = providers
            .smartlead
            .iter()
            .map(|(account, sl)| ProviderCounters {
                account: account.clone(),
                provider: "smartlead",
                counters: sl.client.metrics(),
            });
        let gmail = providers
            .gmail
            .iter()
            .map(|(account, gmail)| ProviderCounters {
                account: account.clone(),
                provider: "gmail",
                counters: gmail.client.metrics(),
            });
        smartlead.chain(gmail).collect()
    }
}
