//! The daemon's HTTP face (axum): Smartlead webhooks, open/click tracking,
//! one-click unsubscribe, health, metrics, and the engine API a remote TUI
//! attaches to. Every write goes through the Engine and is on disk before
//! the answer leaves (see [`ingest`]).

pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod routes;
pub mod state;

pub use ingest::Ingest;
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
