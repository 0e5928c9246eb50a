//! Gmail and Google OAuth errors. None of them ever carries a token or secret.

use serde::Deserialize;

use super::mime::MimeError;

#[derive(Debug, thiserror::Error)]
pub enum GmailError {
    /// The refresh token is missing, expired or revoked; only a new login helps.
    #[error(
        "account {account} needs to log in again: run `outpost auth gmail --account {account}`"
    )]
    NeedsLogin { account: String },

    /// The history cursor is too old for Gmail; do a full resync.
    #[error("the Gmail history cursor has expired; a full resync is needed")]
    HistoryExpired,

    /// Gmail answered with an error envelope.
    #[error("Gmail API error {status}{}: {message}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Api {
        status: u16,
        reason: Option<String>,
        message: String,
    },

    /// A send failed in a way that leaves open whether Gmail accepted it; look
    /// the message up by its Message-ID before sending it again.
    #[error(
        "the send may or may not have reached Gmail ({detail}); check the Sent folder by Message-ID before retrying"
    )]
    SendOutcomeUnknown { detail: String },

    /// The HTTP request could not be completed.
    #[error("could not reach Gmail: {0}")]
    Transport(String),

    /// Gmail returned something that is not the documented JSON.
    #[error("unexpected response from Gmail: {0}")]
    Decode(String),

    /// The OAuth flow or a token request failed for a reason other than a dead grant.
    #[error("Google sign-in failed: {0}")]
    OAuth(String),

    /// The token endpoint could not be reached, or answered with something
    /// that is not OAuth at all (a 5xx page): nothing was refused, so the
    /// same request can be made again later.
    #[error("Google sign-in is unavailable for now: {0}")]
    TokenEndpointUnavailable(String),

    /// The stored tokens could not be read or written (`place`: the token
    /// file's path, or the vault's own description).
    #[error("tokens in {place}: {message}")]
    TokenStore { place: String, message: String },

    /// The caller passed something unusable (bad id, bad URL).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error(transparent)]
    Mime(#[from] MimeError),
}

impl GmailError {
    /// True for 404 answers, e.g. a message deleted between list and get.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GmailError::Api { status: 404, .. })
    }

    /// Google's `reason` for API errors, e.g. `userRateLimitExceeded`.
    pub fn reason(&self) -> Option<&str> {
        match self {
            GmailError::Api { reason, .. } => reason.as_deref(),
            _ => None,
        }
    }

    /// Builds an API error from a status and the body Google returned.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> Self {
        let parsed = serde_json::from_slice::<ErrorEnvelope>(body).ok();
        let (message, reason) = match parsed.and_then(|e| e.error) {
            Some(detail) => {
                let reason = detail
                    .errors
                    .iter()
                    .find_map(|e| e.reason.clone())
                    .or(detail.status.clone());
                let message = detail
                    .message
                    .or_else(|| detail.errors.iter().find_map(|e| e.message.clone()))
                    .unwrap_or_default();
                (message, reason)
            }
            None => (
                String::from_utf8_lossy(body).chars().take(300).collect(),
                None,
            ),
        };
        GmailError::Api {
            status,
            reason,
            message,
        }
    }
}

/// Google's JSON error envelope: `{"error": {"code", "message", "errors": [...], "status"}}`.
#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorItem>,
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    message: Option<String>,
    reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_login_message_is_exact() {
        let err = GmailError::NeedsLogin {
            account: "me-gmail".into(),
        };
        assert_eq!(
            err.to_string(),
            "account me-gmail needs to log in again: run `outpost auth gmail --account me-gmail`"
        );
    }

    #[test]
    fn reason_comes_from_the_errors_list() {
        let body = br#"{"error": {"code": 403, "message": "User Rate Limit Exceeded",
            "errors": [{"message": "User Rate Limit Exceeded", "domain": "usageLimits",
                        "reason": "userRateLimitExceeded"}], "status": "PERMISSION_DENIED"}}"#;
        let err = GmailError::from_response(403, body);
        assert_eq!(err.reason(), Some("userRateLimitExceeded"));
        assert_eq!(
            err.to_string(),
            "Gmail API error 403 (userRateLimitExceeded): User Rate Limit Exceeded"
        );
    }

    #[test]
    fn non_json_error_body_is_kept_short() {
        let body = vec![b'x'; 5000];
        let err = GmailError::from_response(502, &body);
        assert!(err.to_string().len() < 400);
        assert_eq!(err.reason(), None);
    }
}
