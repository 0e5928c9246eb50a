//! The route table and the error shape every route answers with.

pub mod api;
pub mod health;
pub mod metrics;
pub mod tracking;
pub mod unsubscribe;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::state::ServerState;

/// `{"error": {"code": ..., "message": ...}}` with `status`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The engine API alone, for a TUI that holds the data dir and serves the
/// door to the other outpost commands on it (no webhooks, tracking or
/// unsubscribe pages: those are the daemon's, on its public address).
pub fn api_router(state: ServerState) -> Router {
    Router::new()
        .nest("/api", api::router(state.clone()))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}

pub fn router(state: ServerState) -> Router {
    let webhooks = Router::new()
        .route("/webhooks/smartlead", post(webhooks::smartlead))
        .route("/webhooks/smartlead/", post(webhooks::smartlead))
        .route(
            "/webhooks/smartlead/{account_token}",
            post(webhooks::smartlead_for_account),
        )
        // The handler enforces its own limit so it can answer 413 as JSON.
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .merge(webhooks)
        .route("/t/o/{token}", get(tracking::open))
        .route("/t/c/{token}", get(tracking::click))
        .route(
            "/u/{token}",
            get(unsubscribe::show).post(unsubscribe::one_click),
        )
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .nest("/api", api::router(state.clone()))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}
