//! The daemon's HTTP face (axum): Smartlead webhooks, open/click tracking,
//! one-click unsubscribe, health, metrics, and the engine API a remote TUI
//! attaches to. Every write goes through the Engine and is on disk before
//! the answer leaves (see [`ingest`]).

pub mod limits;
pub mod metrics;
pub mod routes;
pub mod state;

pub use crate::ingest::Ingest;
pub use metrics::Metrics;
pub use state::{ServerState, WebhookRoute};

use axum::Router;
use tokio_util::sync::CancellationToken;

/// The whole app: every route of DESIGN.md's daemon table.
pub fn router(state: ServerState) -> Router {
    routes::router(state)
}

/// Serves `router` on `listener` until `shutdown`, then stops accepting and
/// lets in-flight requests finish (axum's graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// The engine API of a TUI that holds the data dir, on an ephemeral loopback
/// port, so every other outpost command on that data dir goes through it.
pub struct DoorServer {
    pub api_url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl DoorServer {
    /// Listens on 127.0.0.1 (any free port), then advertises the address in
    /// the data dir's lock so that other processes find it. The token is the
    /// data dir's (0600 file, made on first use) unless the config sets one.
    pub async fn start(
        engine: &crate::engine::Engine,
        config: &crate::config::Config,
        sync: Option<crate::sync::SyncEngine>,
        mode: &str,
    ) -> Result<DoorServer, crate::daemon::DaemonError> {
        let api_token = crate::daemon::api_token(config)?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let fail = |e: std::io::Error| crate::daemon::DaemonError::Listen {
            addr,
            detail: e.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(fail)?;
        let api_url = format!("http://{}", listener.local_addr().map_err(fail)?);
        let stop = CancellationToken::new();
        let metrics = std::sync::Arc::new(Metrics::default());
        // The API writes nothing through the webhook writer; it ends with the state.
        let (ingest, _writer) = Ingest::start(engine.clone());
        let state = ServerState::new(state::ServerParts {
            engine: engine.clone(),
            ingest,
            metrics,
            routes: Vec::new(),
            webhook_secret: None,
            api_token,
            tracking_key: None,
            sync,
            scheduler: None,
            shutdown: stop.clone(),
        });
        let app = routes::api_router(state);
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        });
        engine.announce_holder(&crate::store::LockInfo {
            pid: std::process::id(),
            mode: mode.to_string(),
            api_url: Some(api_url.clone()),
        })?;
        Ok(DoorServer {
            api_url,
            stop,
            task,
        })
    }

    /// Stops accepting, lets requests in flight finish (within `grace`).
    pub async fn stop(self, grace: std::time::Duration) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}
