//! `GET /health`: is the daemon alive, and how are its parts doing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::engine::OutboxCounts;
use crate::server::metrics::Metrics;
use crate::server::state::ServerState;
use crate::store::SyncProgress;

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    /// This daemon among the replicas sharing its store (the holder named
    /// in its outbox and poll leases).
    pub replica_id: String,
    pub uptime_secs: u64,
    pub accounts: Vec<SyncProgress>,
    /// Accounts that neither sync nor send until the rep fixes them (a
    /// secret unset, a key refused), with what to do; the others go on.
    pub needs_attention: Vec<Attention>,
    pub outbox: OutboxDepth,
    /// How far behind the scheduler is: seconds since the oldest due step
    /// should have run (0 when nothing is overdue).
    pub scheduler_lag_secs: Option<i64>,
    pub events_ingested: u64,
    /// Unsubscribes made here that Smartlead has not taken yet (they are
    /// retried; a number that stays up means Smartlead keeps refusing).
    pub unsubscribes_pending_in_smartlead: usize,
    pub store: StoreHealth,
}

/// Where the records live, and whether this replica reaches them.
#[derive(Debug, Serialize)]
pub struct StoreHealth {
    /// "sled" (embedded) or "postgres" (a team's database).
    pub backend: &'static str,
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Attention {
    pub account: String,
    pub fix: String,
}

#[derive(Debug, Serialize, Default)]
pub struct OutboxDepth {
    pub pending: usize,
    pub sending: usize,
    pub failed: usize,
}

impl From<OutboxCounts> for OutboxDepth {
    fn from(counts: OutboxCounts) -> Self {
        OutboxDepth {
            pending: counts.pending,
            sending: counts.sending,
            failed: counts.failed,
        }
    }
}

pub fn scheduler_lag(state: &ServerState) -> Option<i64> {
    let scheduler = state.inner.scheduler.as_ref()?;
    let now = state.engine().clock().now();
    match scheduler.next_due_at() {
        Ok(Some(due)) => Some((now - due).num_seconds().max(0)),
        Ok(None) => Some(0),
        Err(_) => None,
    }
}

/// 200 while the store answers; 503 when this replica cannot reach its
/// database, so a load balancer sends the traffic to another.
pub async fn health(State(state): State<ServerState>) -> (StatusCode, Json<Health>) {
    let ping = state.engine().ping_store().await;
    let store = StoreHealth {
        backend: state.engine().store_backend(),
        reachable: ping.is_ok(),
        error: ping.err().map(|e| e.to_string()),
    };
    if !store.reachable {
        let health = Health {
            status: "store unreachable",
            version: env!("CARGO_PKG_VERSION"),
            replica_id: state.engine().replica().id().to_string(),
            uptime_secs: state.inner.started.elapsed().as_secs(),
            accounts: Vec::new(),
            needs_attention: Vec::new(),
            outbox: OutboxDepth::default(),
            scheduler_lag_secs: None,
            events_ingested: Metrics::get(&state.inner.ingest.stats().events_ingested),
            unsubscribes_pending_in_smartlead: 0,
            store,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(health));
    }
    let accounts = state
        .inner
        .sync
        .as_ref()
        .map(|s| s.progress())
        .unwrap_or_default();
    let needs_attention = accounts
        .iter()
        .filter_map(|p| {
            Some(Attention {
                account: p.account.clone(),
                fix: p.needs_attention.clone()?,
            })
        })
        .collect();
    let health = Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        replica_id: state.engine().replica().id().to_string(),
        uptime_secs: state.inner.started.elapsed().as_secs(),
        accounts,
        needs_attention,
        outbox: state.engine().outbox_counts().into(),
        scheduler_lag_secs: scheduler_lag(&state),
        events_ingested: Metrics::get(&state.inner.ingest.stats().events_ingested),
        unsubscribes_pending_in_smartlead: state.engine().pending_unsubscribes(),
        store,
    };
    (StatusCode::OK, Json(health))
}
