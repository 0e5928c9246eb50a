//! `/_sandbox/` routes (no API key) that drive and inspect the Smartlead emulator from
//! tests and the demo. They mirror the in-process methods on `SmartleadState`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::history::InjectReply;
use super::{InjectError, SmartleadState};
use crate::sandbox::RateLimit;

type AppState = Arc<SmartleadState>;

pub(super) fn routes(state: AppState) -> Router {
    Router::new()
        .route("/_sandbox/smartlead/replies", post(inject_reply))
        .route("/_sandbox/smartlead/reply-posts", get(reply_posts))
        .route("/_sandbox/smartlead/added-leads", get(added_leads))
        .route("/_sandbox/smartlead/ground-truth", get(ground_truth))
        .route(
            "/_sandbox/rate-limit",
            get(read_rate_limit)
                .put(write_rate_limit)
                .post(write_rate_limit),
        )
        .route("/_sandbox/counters", get(counters))
        .with_state(state)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn inject_reply(State(state): State<AppState>, body: Bytes) -> Response {
    let request: InjectReply = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return bad_request(err.to_string()),
    };
    match state.inject_reply(&request) {
        Ok(injected) => Json(injected).into_response(),
        Err(err @ (InjectError::UnknownCampaign(_) | InjectError::UnknownLead(..))) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": err.to_string() })),
        )
            .into_response(),
        Err(err) => bad_request(err.to_string()),
    }
}

async fn reply_posts(State(state): State<AppState>) -> Response {
    Json(state.reply_posts()).into_response()
}

async fn added_leads(State(state): State<AppState>) -> Response {
    Json(state.added_leads()).into_response()
}

async fn ground_truth(State(state): State<AppState>) -> Response {
    Json(state.ground_truth()).into_response()
}

async fn read_rate_limit(State(state): State<AppState>) -> Response {
    let limit = state.rate_limit();
    Json(json!({
        "max_requests": limit.max_requests,
        "window_ms": limit.window.as_millis() as u64,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct RateLimitBody {
    max_requests: u32,
    window_ms: u64,
}

async fn write_rate_limit(State(state): State<AppState>, body: Bytes) -> Response {
    let body: RateLimitBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(err) => return bad_request(err.to_string()),
    };
    if body.window_ms == 0 {
        return bad_request("window_ms must be greater than 0".to_string());
    }
    state.set_rate_limit(RateLimit {
        max_requests: body.max_requests,
        window: Duration::from_millis(body.window_ms),
    });
    Json(json!({ "ok": true })).into_response()
}

async fn counters(State(state): State<AppState>) -> Response {
    Json(json!({
        "requests_by_route": state.requests_by_route(),
        "throttled_total": state.throttled_total(),
    }))
    .into_response()
}
