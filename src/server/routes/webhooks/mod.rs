//! `POST /webhooks/smartlead` and `/webhooks/smartlead/{account_token}`.
//!
//! Checks, in order: body size (413), account routing (404), a configured
//! secret (503), the signature header when present (401), JSON (400), every
//! payload's `secret_key` (401), event type and required fields (422). Only
//! then is anything written, and the 2xx leaves after the store is flushed:
//! `200` with the count of new events once applied, or `202` once queued
//! when the writer is behind (see `crate::ingest`).

pub mod parse;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::json_error;
use crate::ingest::apply;
use crate::ingest::{Accepted, IngestError};
use crate::server::limits::{MAX_WEBHOOK_BODY, secrets_match};
use crate::server::metrics::{Metrics, Rejection};
use crate::server::state::ServerState;
use parse::{Payload, PayloadError};

#[derive(Debug, Default, Deserialize)]
pub struct RouteQuery {
    /// The account token as a query parameter (`?t=...`), as the reference's
    /// example URL shows.
    pub t: Option<String>,
}

pub async fn smartlead(
    State(state): State<ServerState>,
    Query(query): Query<RouteQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, query.t, headers, body).await
}

pub async fn smartlead_for_account(
    State(state): State<ServerState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, Some(token), headers, body).await
}

fn refuse(state: &ServerState, why: Rejection, status: StatusCode, message: &str) -> Response {
    state.metrics().reject(why);
    tracing::info!(
        reason = why.as_str(),
        status = status.as_u16(),
        "webhook refused"
    );
    json_error(status, why.as_str(), message)
}

async fn handle(
    state: ServerState,
    token: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    Metrics::add(&state.metrics().webhook_requests, 1);
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || format!("the body is larger than {} KiB", MAX_WEBHOOK_BODY / 1024);
    if declared.is_some_and(|n| n > MAX_WEBHOOK_BODY) {
        return refuse(
            &state,
            Rejection::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            &too_large(),
        );
    }
    let raw: Bytes = match axum::body::to_bytes(body, MAX_WEBHOOK_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return refuse(
                &state,
                Rejection::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                &too_large(),
            );
        }
    };
    let account = match state.webhook_account(token.as_deref()) {
        Ok(account) => account,
        Err(message) => {
            return refuse(
                &state,
                Rejection::UnknownAccount,
                StatusCode::NOT_FOUND,
                &message,
            );
        }
    };
    let Some(secret) = state.webhook_secret().map(str::to_string) else {
        return refuse(
            &state,
            Rejection::NotConfigured,
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon has no [daemon] webhook_secret configured, so it cannot check webhooks",
        );
    };
    if let Some(signature) = headers.get("x-smartlead-signature") {
        let valid = signature
            .to_str()
            .ok()
            .is_some_and(|s| signature_matches(secret.as_bytes(), &raw, s));
        if !valid {
            return refuse(
                &state,
                Rejection::BadSignature,
                StatusCode::UNAUTHORIZED,
                "X-Smartlead-Signature does not match the body",
            );
        }
    }
    let items: Vec<Option<parse::RawPayload<'_>>> = match parse::read_body(&raw) {
        Ok(parse::Body::One(payload)) => vec![Some(*payload)],
        Ok(parse::Body::Many(items)) if !items.is_empty() => items,
        Ok(parse::Body::Many(_)) => {
            return refuse(
                &state,
                Rejection::MissingField,
                StatusCode::UNPROCESSABLE_ENTITY,
                "the payload array is empty",
            );
        }
        Err(e) => {
            return refuse(
                &state,
                Rejection::BadJson,
                StatusCode::BAD_REQUEST,
                &e.to_string(),
            );
        }
    };
    for item in &items {
        let given = item
            .as_ref()
            .and_then(|p| p.secret_key.text())
            .unwrap_or_default();
        if !secrets_match(given.as_bytes(), secret.as_bytes()) {
            return refuse(
                &state,
                Rejection::BadSecret,
                StatusCode::UNAUTHORIZED,
                "secret_key does not match the configured webhook secret",
            );
        }
    }
    let mut payloads: Vec<Payload> = Vec::with_capacity(items.len());
    for item in &items {
        let read = item
            .as_ref()
            .map_or(Err(PayloadError::NotAnObject), parse::read);
        match read {
            Ok(payload) => payloads.push(payload),
            Err(PayloadError::UnknownEventType(kind)) => {
                return refuse(
                    &state,
                    Rejection::UnknownEventType,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("unknown event_type {kind:?}"),
                );
            }
            Err(PayloadError::NotAnObject) => {
                return refuse(
                    &state,
                    Rejection::BadJson,
                    StatusCode::BAD_REQUEST,
                    "every payload in the array must be a JSON object",
                );
            }
            Err(other) => {
                return refuse(
                    &state,
                    Rejection::MissingField,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &other.to_string(),
                );
            }
        }
    }
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(|v| format!("{account}|{v}"));
    let now = state.engine().clock().now();
    let count = payloads.len();
    let events: Vec<_> = payloads
        .iter()
        .enumerate()
        .filter_map(|(index, p)| {
            let delivery = || match &request_id {
                Some(id) if count == 1 => id.clone(),
                Some(id) => format!("{id}#{index}"),
                None => item_hash(&raw, index),
            };
            apply::event_for(&account, p, delivery, now)
        })
        .collect();
    // A repeated delivery id is still written (every step is idempotent and
    // the store dedupes its events): the first delivery may not be on disk
    // yet, and no 2xx leaves before its events are.
    let repeated = request_id
        .as_deref()
        .is_some_and(|id| !state.first_delivery(id));
    let changes = crate::ingest::RecordChanges::new(account.clone(), payloads);
    match state
        .inner
        .ingest
        .submit_or_queue(events, Some(changes))
        .await
    {
        Ok(_) if repeated => {
            Metrics::add(&state.metrics().webhook_duplicates, 1);
            (
                StatusCode::OK,
                axum::Json(json!({"ok": true, "duplicate": true})),
            )
                .into_response()
        }
        Ok(Accepted::Applied(outcome)) => {
            if outcome.fresh == 0 && outcome.known > 0 {
                Metrics::add(&state.metrics().webhook_duplicates, 1);
            }
            (
                StatusCode::OK,
                axum::Json(json!({
                    "ok": true,
                    "account": account,
                    "events": count,
                    "new_events": outcome.fresh,
                })),
            )
                .into_response()
        }
        // On disk, applied once the writer catches up: 202 says so, and
        // which of its events are new is not known yet.
        Ok(Accepted::Queued) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "ok": true,
                "account": account,
                "events": count,
                "queued": true,
            })),
        )
            .into_response(),
        Err(e) => {
            if let Some(id) = request_id.as_deref().filter(|_| !repeated) {
                state.forget_delivery(id);
            }
            if matches!(e, IngestError::Behind) {
                let mut answer = refuse(
                    &state,
                    Rejection::Behind,
                    StatusCode::SERVICE_UNAVAILABLE,
                    &e.to_string(),
                );
                answer.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("60"),
                );
                return answer;
            }
            refuse(
                &state,
                Rejection::StoreFailure,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("{e}; the delivery can be retried"),
            )
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of the raw body>`, keyed with the webhook secret.
fn signature_matches(secret: &[u8], body: &[u8], header: &str) -> bool {
    let hex = header.trim();
    let hex = hex.strip_prefix("sha256=").unwrap_or(hex);
    let Some(given) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The signature a sender computes (for tests and the load generator).
pub fn sign_body(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Stands in for a missing timestamp in the dedupe key: a replay of the same
/// payload hashes the same. The item is hashed as a `Value` written out again
/// (keys sorted, spacing dropped), so the key does not depend on how the
/// sender spaced or ordered it; payloads without a time are rare, so only
/// they pay for reading the body a second time.
fn item_hash(raw: &[u8], index: usize) -> String {
    let item = match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Array(mut items)) if index < items.len() => items.swap_remove(index),
        Ok(other) => other,
        Err(_) => Value::Null,
    };
    let digest = Sha256::digest(item.to_string().as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_refuse() {
        let sig = sign_body(b"k", b"{}");
        assert!(signature_matches(b"k", b"{}", &sig));
        assert!(!signature_matches(b"k", b"{ }", &sig));
        assert!(!signature_matches(b"other", b"{}", &sig));
        assert!(!signature_matches(b"k", b"{}", "sha256=zz"));
        assert!(!signature_matches(b"k", b"{}", ""));
    }

    /// The route over a writer whose stages are held behind one queued
    /// delivery (so every webhook that may queue does), queueing at most
    /// `max_queued`.
    fn behind_a_queue(max_queued: u64) -> (ServerState, crate::store::Store) {
        use crate::server::state::{ServerParts, WebhookRoute};
        let clock = crate::clock::FakeClock::new(
            chrono::DateTime::from_timestamp(1_770_000_000, 0).expect("time"),
        );
        let store = crate::store::Store::temporary().expect("store");
        let engine = crate::engine::Engine::new(store.clone(), std::sync::Arc::new(clock));
        let left = crate::model::QueuedDelivery {
            seq: 0,
            received_at: engine.clock().now(),
            delivery: "{}".into(),
        };
        store.append(&[left]).expect("planted");
        let (ingest, _writer, open) =
            crate::ingest::Ingest::start_held_queueing(engine.clone(), max_queued);
        // The stages stay held for the test's whole run.
        std::mem::forget(open);
        let state = ServerState::new(ServerParts {
            engine,
            ingest,
            metrics: Default::default(),
            routes: vec![WebhookRoute {
                account: "acme".into(),
                token: None,
            }],
            webhook_secret: Some("s3cret".into()),
            api_token: "api".into(),
            tracking_key: None,
            sync: None,
            scheduler: None,
            shutdown: Default::default(),
        });
        (state, store)
    }

    async fn post_reply(state: ServerState) -> (StatusCode, HeaderMap, Value) {
        let body = json!({
            "event_type": "EMAIL_REPLY", "secret_key": "s3cret", "campaign_id": 7,
            "sl_email_lead_id": 42, "sl_lead_email": "dana@lead.example",
            "stats_id": "st1", "event_timestamp": "2026-12-01T11:00:00Z",
            "reply_message": {"message_id": "<r1@lead.example>", "text": "Call me"},
        });
        let answer = handle(state, None, HeaderMap::new(), Body::from(body.to_string())).await;
        let status = answer.status();
        let headers = answer.headers().clone();
        let bytes = axum::body::to_bytes(answer.into_body(), 1 << 16)
            .await
            .expect("body");
        (
            status,
            headers,
            serde_json::from_slice(&bytes).expect("JSON"),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_webhook_behind_a_queue_is_answered_202_once_queued() {
        let (state, store) = behind_a_queue(10);
        let (status, _, body) = post_reply(state).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["queued"], true);
        assert_eq!(body["events"], 1);
        assert_eq!(store.count::<crate::model::QueuedDelivery>(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_webhook_meeting_a_full_queue_is_told_to_retry_later_and_changes_nothing() {
        let (state, store) = behind_a_queue(1);
        let (status, headers, body) = post_reply(state).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(headers[axum::http::header::RETRY_AFTER], "60");
        assert_eq!(body["error"]["code"], "behind", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("retry later")),
            "{body}"
        );
        assert_eq!(
            store.count::<crate::model::QueuedDelivery>(),
            1,
            "only the delivery that was there"
        );
    }
}
