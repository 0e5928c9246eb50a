//! HTTP face of the OAuth emulator: authorize, token, revoke, device code.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::GoogleSandbox;
use super::oauth::{AuthorizeOutcome, OAuthError, TokenRequest};
use super::params::Params;

type Shared = State<Arc<GoogleSandbox>>;

pub fn routes() -> Router<Arc<GoogleSandbox>> {
    Router::new()
        .route("/o/oauth2/v2/auth", get(authorize))
        .route("/o/oauth2/auth", get(authorize))
        .route("/token", post(token))
        .route("/oauth2/v3/token", post(token))
        .route("/o/oauth2/token", post(token))
        .route("/revoke", post(revoke))
        .route("/o/oauth2/revoke", post(revoke))
        .route("/device/code", post(device_code))
}

fn oauth_error(error: OAuthError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(error.body())).into_response()
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn authorize(State(state): Shared, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let now = state.clock.now();
    match state.oauth().authorize(&params.0, now) {
        AuthorizeOutcome::Redirect(location) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        AuthorizeOutcome::Page {
            status,
            error,
            description,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let page = format!(
                "<!doctype html><html><head><title>Error {code}: {error}</title></head><body><h1>Access blocked: authorization error</h1><p>Error {code}: {error}</p><p>{description}</p></body></html>",
                code = status.as_u16(),
                description = escape_html(&description),
            );
            (status, Html(page)).into_response()
        }
    }
}

/// Client credentials from HTTP Basic (`id:secret`, each form-encoded), if present.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// Form body parameters, with the query string as a fallback (Google accepts both).
fn form_params(query: Option<&str>, body: &Bytes) -> Params {
    let mut params = Params::parse(std::str::from_utf8(body).ok());
    params.0.extend(Params::parse(query).0);
    params
}

async fn token(
    State(state): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form_params(query.as_deref(), &body);
    let text = |name: &str| params.get(name).map(str::to_string);
    let (client_id, client_secret) = match basic_credentials(&headers) {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (text("client_id"), text("client_secret")),
    };
    let request = TokenRequest {
        grant_type: text("grant_type"),
        code: text("code"),
        redirect_uri: text("redirect_uri"),
        code_verifier: text("code_verifier"),
        refresh_token: text("refresh_token"),
        device_code: text("device_code"),
        client_id,
        client_secret,
    };
    let now = state.clock.now();
    let answer = state.oauth().token(&request, now);
    match answer {
        Ok(body) => {
            state.quota_meter().counters.tokens_issued += 1;
            (
                [(
                    header::CACHE_CONTROL,
                    "no-cache, no-store, max-age=0, must-revalidate",
                )],
                axum::Json(body),
            )
                .into_response()
        }
        Err(error) => oauth_error(error),
    }
}

async fn revoke(State(state): Shared, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let params = form_params(query.as_deref(), &body);
    let Some(token) = params.get("token").map(str::to_string) else {
        return oauth_error(OAuthError {
            status: 400,
            error: "invalid_request",
            description: "Missing required parameter: token".into(),
        });
    };
    match state.oauth().revoke(&token) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => oauth_error(error),
    }
}

async fn device_code(State(state): Shared, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let params = form_params(query.as_deref(), &body);
    match state
        .oauth()
        .device_code(params.get("client_id"), params.get("scope"))
    {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => oauth_error(error),
    }
}
