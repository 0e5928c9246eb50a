//! Shared pieces of the Smartlead handlers: error bodies exactly as the API sends them,
//! lenient query parsing, JSON body parsing with Joi-style messages, and routing helpers.

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

/// An error answered in Smartlead's (inconsistent) shapes: `error` for lookups and
/// business rules, `message` for validation.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    pub fn campaign_not_found() -> Self {
        Self::not_found("Campaign not found - Invalid campaign_id.")
    }

    pub fn lead_not_found() -> Self {
        Self::not_found("Lead not found - Invalid lead_id.")
    }

    pub fn account_not_found() -> Self {
        Self::not_found("Email account not found - Invalid email_account_id.")
    }

    pub fn not_found(text: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            body: json!({ "error": text }),
        }
    }

    pub fn bad_request(text: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "message": text.into() }),
        }
    }

    /// Joi's wording for a field that must be present.
    pub fn required(field: &str) -> Self {
        Self::bad_request(format!("\"{field}\" is required"))
    }

    /// Joi's wording for a field the schema does not know.
    pub fn not_allowed(field: &str) -> Self {
        Self::bad_request(format!("\"{field}\" is not allowed"))
    }

    pub fn business_rule(text: &str) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: json!({ "error": text }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn json_ok(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

/// Query parameters from the raw query string; never fails (bad pairs are skipped,
/// the last duplicate wins).
pub(crate) fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

pub(crate) fn parse_id(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// An optional non-negative integer query parameter with bounds, Joi-worded errors.
pub(crate) fn bounded_param(
    params: &HashMap<String, String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let Some(raw) = params.get(name) else {
        return Ok(default);
    };
    let value: u64 = raw
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("\"{name}\" must be a number")))?;
    if value < min {
        return Err(ApiError::bad_request(format!(
            "\"{name}\" must be greater than or equal to {min}"
        )));
    }
    if value > max {
        return Err(ApiError::bad_request(format!(
            "\"{name}\" must be less than or equal to {max}"
        )));
    }
    Ok(value)
}

/// An optional time query parameter such as `event_time_gt`. Smartlead
/// emits ISO 8601 (`…T13:04:10.000Z` or `…+00:00`), and clients send the
/// same back, so RFC 3339 with any offset is accepted, plus a bare date or
/// an offset-less time read as UTC. An unencoded `+00:00` arrives
/// form-decoded as ` 00:00`; the space is read back as the `+` it was.
pub(crate) fn time_param(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    parse_time(raw).map(Some).ok_or_else(|| {
        ApiError::bad_request(format!(
            "\"{name}\" must be a valid ISO 8601 date (e.g. 2025-06-03T13:04:10.000Z)"
        ))
    })
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let rfc3339 = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    if let Some(time) = rfc3339(raw) {
        return Some(time);
    }
    // `2025-06-03T13:04:10 00:00`: a `+` form-decoded into a space.
    if let Some((head, offset)) = raw.rsplit_once(' ')
        && head.contains('T')
        && let Some(time) = rfc3339(&format!("{head}+{offset}"))
    {
        return Some(time);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(time.and_utc());
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Parses a JSON request body; an empty body reads as `{}` (several POSTs take none).
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|_| ApiError::bad_request("Invalid JSON in request body"))
}

/// The body as an object, rejecting keys outside `allowed` the way Joi does.
pub(crate) fn object_with_keys<'a>(
    value: &'a Value,
    allowed: &[&str],
    prefix: &str,
) -> Result<&'a serde_json::Map<String, Value>, ApiError> {
    let label = if prefix.is_empty() { "value" } else { prefix };
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("\"{label}\" must be of type object")))?;
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        let path = if prefix.is_empty() {
            unknown.clone()
        } else {
            format!("{prefix}.{unknown}")
        };
        return Err(ApiError::not_allowed(&path));
    }
    Ok(object)
}

/// An id that may arrive as a number or a numeric string.
pub(crate) fn id_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_id(s),
        _ => None,
    }
}

/// Registers `path` and `path/`: clients call both.
pub(crate) fn both<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    path: &str,
    method_router: MethodRouter<S>,
) -> axum::Router<S> {
    let trimmed = path.trim_end_matches('/');
    router
        .route(trimmed, method_router.clone())
        .route(&format!("{trimmed}/"), method_router)
}
