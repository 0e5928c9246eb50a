//! Open pixel and click redirect. Both trust only what the HMAC-signed token
//! says: a forged or edited token gets 400, and a click never redirects
//! anywhere but the URL signed inside its token.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};

use super::json_error;
use crate::model::*;
use crate::sequences::{TokenClaims, TokenKind};
use crate::server::metrics::Metrics;
use crate::server::state::ServerState;

/// A 1×1 transparent GIF.
pub const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Opens this soon after the send are mostly security scanners and image
/// proxies fetching the pixel, not people.
pub const MACHINE_OPEN_WINDOW: Duration = Duration::seconds(10);

/// Repeated opens (or clicks of one link) of one email within this window
/// are one event.
const DEDUPE_WINDOW_SECS: i64 = 600;

/// Verifies a token for `kind`; `Err` is the 400 to answer.
pub(crate) fn verified(
    state: &ServerState,
    token: &str,
    kind: TokenKind,
) -> Result<TokenClaims, Box<Response>> {
    let refuse = |message: &str| {
        Metrics::add(&state.metrics().tracking_rejections, 1);
        Box::new(json_error(StatusCode::BAD_REQUEST, "invalid_link", message))
    };
    let Some(key) = &state.inner.tracking_key else {
        return Err(refuse("this daemon has no tracking key"));
    };
    match key.verify(token) {
        Ok(claims) if claims.kind == kind => Ok(claims),
        Ok(_) => Err(refuse("the link is not valid here")),
        Err(e) => Err(refuse(&e.to_string())),
    }
}

fn bucket(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(DEDUPE_WINDOW_SECS)
}

/// Whom a link's email went to: the item's recipient (an old link's own
/// address when it carries one).
pub(crate) fn link_lead(item: &OutboxItem, claims: &TokenClaims) -> String {
    claims
        .email
        .clone()
        .or_else(|| item.email.to.first().cloned())
        .unwrap_or_default()
}

/// The event a tracking hit records, when the email it came from is known.
fn tracking_event(
    item: &OutboxItem,
    claims: &TokenClaims,
    base: EventType,
    dedupe_key: String,
    detail: Option<String>,
    now: DateTime<Utc>,
) -> EmailEvent {
    let step = item.step.map(|s| s as u32 + 1);
    EmailEvent {
        id: EmailEvent::id_for(&item.account, &dedupe_key),
        account: item.account.clone(),
        kind: base.for_sequence_step(step),
        lead_email: normalize_email(&link_lead(item, claims)),
        campaign_id: None,
        sequence_number: step,
        at: now,
        source: EventSource::Tracking,
        dedupe_key,
        message_id: Some(item.message_id.clone()),
        detail,
    }
}

/// How soon after sending an open came, when it was suspiciously soon.
fn machine_open_note(item: &OutboxItem, now: DateTime<Utc>) -> Option<String> {
    if item.state != OutboxState::Sent {
        return None;
    }
    let after = now - item.updated_at;
    (after >= Duration::zero() && after <= MACHINE_OPEN_WINDOW).then(|| {
        format!(
            "likely machine open ({} s after sending)",
            after.num_seconds()
        )
    })
}

async fn record(state: &ServerState, event: EmailEvent) -> Result<(), Response> {
    state
        .inner
        .ingest
        .submit(vec![event], None)
        .await
        .map(drop)
        .map_err(|e| {
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_failure",
                &e.to_string(),
            )
        })
}

pub async fn open(State(state): State<ServerState>, Path(token): Path<String>) -> Response {
    let token = token.strip_suffix(".gif").unwrap_or(&token);
    let claims = match verified(&state, token, TokenKind::Open) {
        Ok(c) => c,
        Err(refusal) => return *refusal,
    };
    Metrics::add(&state.metrics().opens, 1);
    let now = state.engine().clock().now();
    match state.engine().outbox_item(&claims.id) {
        Ok(Some(item)) => {
            let dedupe_key = format!("t|open|{}|{}", item.id, bucket(now));
            let note = machine_open_note(&item, now);
            let event = tracking_event(
                &item,
                &claims,
                EventType::EmailOpened,
                dedupe_key,
                note,
                now,
            );
            if let Err(refusal) = record(&state, event).await {
                return refusal;
            }
        }
        Ok(None) => tracing::debug!("open for an email no longer in the outbox"),
        Err(e) => tracing::warn!(error = %e, "cannot read the outbox for an open"),
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
            ),
        ],
        PIXEL,
    )
        .into_response()
}

/// Only absolute http(s) URLs are redirect targets.
fn safe_target(url: &str) -> Option<url::Url> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https")
        .then_some(parsed)
        .filter(|u| u.host_str().is_some())
}

pub async fn click(State(state): State<ServerState>, Path(token): Path<String>) -> Response {
    let claims = match verified(&state, &token, TokenKind::Click) {
        Ok(c) => c,
        Err(refusal) => return *refusal,
    };
    let Some(target) = claims.url.as_deref().and_then(safe_target) else {
        Metrics::add(&state.metrics().tracking_rejections, 1);
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_link",
            "the link has no valid target",
        );
    };
    Metrics::add(&state.metrics().clicks, 1);
    let now = state.engine().clock().now();
    if let Ok(Some(item)) = state.engine().outbox_item(&claims.id) {
        let dedupe_key = format!("t|click|{}|{}|{}", item.id, target, bucket(now));
        let event = tracking_event(
            &item,
            &claims,
            EventType::EmailClicked,
            dedupe_key,
            Some(target.to_string()),
            now,
        );
        if let Err(refusal) = record(&state, event).await {
            return refusal;
        }
    }
    let Ok(location) = HeaderValue::from_str(target.as_str()) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_link",
            "the link has no valid target",
        );
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_web_urls_are_targets() {
        assert!(safe_target("https://acme.example/demo").is_some());
        assert!(safe_target("http://acme.example").is_some());
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "/relative",
            "data:text/html,x",
            "ftp://x.example",
        ] {
            assert!(safe_target(bad).is_none(), "{bad}");
        }
    }
}
