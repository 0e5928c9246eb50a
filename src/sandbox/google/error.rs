//! Google's JSON error envelope, as the Gmail API sends it.
//!
//! Clients classify failures by `reason`, so every error carries the exact
//! code / message / errors[] / status shape of the reference.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const AUTH_REALM: &str = "Bearer realm=\"https://accounts.google.com/\"";
const AUTH_HELP: &str = "Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// One Gmail API error response (boxed: it travels in every handler's `Result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(Box<ApiErrorDetails>);

/// The fields of an [`ApiError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErrorDetails {
    pub code: StatusCode,
    pub message: String,
    /// `errors[0].message` when it differs from the top-level message.
    pub detail: Option<String>,
    pub domain: &'static str,
    pub reason: &'static str,
    pub status: &'static str,
    pub location: Option<(&'static str, &'static str)>,
    pub www_authenticate: Option<String>,
}

impl std::ops::Deref for ApiError {
    type Target = ApiErrorDetails;

    fn deref(&self) -> &ApiErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorDetails {
        &mut self.0
    }
}

impl ApiError {
    fn new(
        code: StatusCode,
        message: impl Into<String>,
        domain: &'static str,
        reason: &'static str,
        status: &'static str,
    ) -> Self {
        Self(Box::new(ApiErrorDetails {
            code,
            message: message.into(),
            detail: None,
            domain,
            reason,
            status,
            location: None,
            www_authenticate: None,
        }))
    }

    /// 400 with reason `invalidArgument`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            "global",
            "invalidArgument",
            "INVALID_ARGUMENT",
        )
    }

    /// 400 for a field value the API could not decode (`Invalid value at ...`).
    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            "global",
            "invalid",
            "INVALID_ARGUMENT",
        )
    }

    /// 400 with reason `badRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            "global",
            "badRequest",
            "INVALID_ARGUMENT",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Requested entity was not found.",
            "global",
            "notFound",
            "NOT_FOUND",
        )
    }

    /// 401 for a request that carried no credential at all.
    pub fn login_required() -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            format!("Request is missing required authentication credential. {AUTH_HELP}"),
            "global",
            "required",
            "UNAUTHENTICATED",
        );
        error.detail = Some("Login Required.".into());
        error.location = Some(("Authorization", "header"));
        error.www_authenticate = Some(AUTH_REALM.into());
        error
    }

    /// 401 for an unknown, revoked or expired access token.
    pub fn invalid_credentials() -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            format!("Request had invalid authentication credentials. {AUTH_HELP}"),
            "global",
            "authError",
            "UNAUTHENTICATED",
        );
        error.detail = Some("Invalid Credentials".into());
        error.location = Some(("Authorization", "header"));
        error.www_authenticate = Some(format!("{AUTH_REALM}, error=\"invalid_token\""));
        error
    }

    /// 403 when the token's scopes do not cover the method.
    pub fn insufficient_scope(required: &str) -> Self {
        let mut error = Self::new(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
            "global",
            "insufficientPermissions",
            "PERMISSION_DENIED",
        );
        error.detail = Some("Insufficient Permission".into());
        error.www_authenticate = Some(format!(
            "{AUTH_REALM}, error=\"insufficient_scope\", scope=\"{required}\""
        ));
        error
    }

    /// 403 for a userId that is neither `me` nor the mailbox address.
    pub fn delegation_denied(user_id: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("Delegation denied for {user_id}"),
            "global",
            "forbidden",
            "PERMISSION_DENIED",
        )
    }

    /// 429 quota error (the Cloud quota system's wording).
    pub fn rate_limited(retry_after: &str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("User-rate limit exceeded.  Retry after {retry_after}"),
            "usageLimits",
            "rateLimitExceeded",
            "RESOURCE_EXHAUSTED",
        )
    }

    /// 403 quota error (the older per-user wording).
    pub fn user_rate_limited() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "User Rate Limit Exceeded",
            "usageLimits",
            "userRateLimitExceeded",
            "PERMISSION_DENIED",
        )
    }

    pub fn body(&self) -> serde_json::Value {
        let mut item = json!({
            "message": self.detail.as_deref().unwrap_or(&self.message),
            "domain": self.domain,
            "reason": self.reason,
        });
        if let Some((location, location_type)) = self.location {
            item["location"] = json!(location);
            item["locationType"] = json!(location_type);
        }
        json!({
            "error": {
                "code": self.code.as_u16(),
                "message": self.message,
                "errors": [item],
                "status": self.status,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code, axum::Json(self.body())).into_response();
        if let Some(value) = self
            .0
            .www_authenticate
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_envelope_matches_reference() {
        let body = ApiError::not_found().body();
        assert_eq!(
            body,
            json!({"error": {"code": 404, "message": "Requested entity was not found.",
                "errors": [{"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}],
                "status": "NOT_FOUND"}})
        );
    }

    #[test]
    fn invalid_credentials_names_the_header() {
        let error = ApiError::invalid_credentials();
        let body = error.body();
        assert_eq!(body["error"]["errors"][0]["message"], "Invalid Credentials");
        assert_eq!(body["error"]["errors"][0]["locationType"], "header");
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
        assert!(
            error
                .www_authenticate
                .as_deref()
                .is_some_and(|v| v.contains("invalid_token"))
        );
    }
}
