//! Smartlead failures, with the server's own words and never the API key.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::providers::http::{HttpError, redact};

/// Longest slice of a raw error body kept in a message.
const MAX_ERROR_TEXT: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum SmartleadError {
    #[error("Smartlead refused the API key ({0}); check the account's api_key")]
    Unauthorized(String),
    #[error("not found on Smartlead: {0}")]
    NotFound(String),
    #[error("Smartlead rejected the request: {0}")]
    BadRequest(String),
    #[error("Smartlead's rate limit is still hit after retrying{}; try again later",
        retry_after.map(|wait| format!(" (server asks to wait {}s)", wait.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("Smartlead answered {0}: {1}")]
    Server(u16, String),
    #[error("could not reach Smartlead: {0}")]
    Transport(String),
    /// No connection could be made, so nothing was sent: safe to try again.
    #[error("could not connect to Smartlead (nothing was sent): {0}")]
    Unreachable(String),
    #[error("unexpected response from Smartlead: {0}")]
    Decode(String),
    /// Smartlead answered 2xx but said the change did not happen (`ok: false`).
    #[error("Smartlead did not apply the change: {0}")]
    Rejected(String),
    /// Caught before anything was sent.
    #[error("invalid request: {0}")]
    InvalidInput(String),
}

impl From<HttpError> for SmartleadError {
    fn from(error: HttpError) -> Self {
        // HttpError is already redacted; redact again in case a future
        // variant is not.
        let text = redact(&error.to_string());
        match error {
            HttpError::Connect(_) => SmartleadError::Unreachable(text),
            _ => SmartleadError::Transport(text),
        }
    }
}

impl SmartleadError {
    /// Maps a non-2xx response to an error carrying the server's message.
    pub(crate) fn from_status(
        status: StatusCode,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Self {
        let message = error_text(body);
        match status.as_u16() {
            401 | 403 => SmartleadError::Unauthorized(message),
            404 => SmartleadError::NotFound(message),
            429 => SmartleadError::RateLimited { retry_after },
            code if status.is_server_error() => SmartleadError::Server(code, message),
            _ if status.is_client_error() => SmartleadError::BadRequest(message),
            code => SmartleadError::Server(code, message),
        }
    }

    /// Whether the call failed because the thing asked about does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, SmartleadError::NotFound(_))
    }
}

/// The error text of a body: `message`, then `error`, then `err`, then the
/// raw body (truncated); always redacted.
pub(crate) fn error_text(body: &[u8]) -> String {
    let raw = String::from_utf8_lossy(body);
    let from_json = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| {
            ["message", "error", "err"]
                .iter()
                .find_map(|field| match value.get(field)? {
                    Value::String(text) if !text.is_empty() => Some(text.clone()),
                    Value::Null | Value::String(_) => None,
                    other => Some(other.to_string()),
                })
        });
    let text = from_json.unwrap_or_else(|| truncate(raw.trim(), MAX_ERROR_TEXT));
    let text = if text.is_empty() {
        "no error text".to_owned()
    } else {
        text
    };
    redact(&text)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_message_then_error_then_err_then_raw() {
        assert_eq!(
            error_text(br#"{"message":"Invalid API Key"}"#),
            "Invalid API Key"
        );
        assert_eq!(
            error_text(br#"{"error":"Campaign not found - Invalid campaign_id."}"#),
            "Campaign not found - Invalid campaign_id."
        );
        assert_eq!(error_text(br#"{"err":"boom","x":1}"#), "boom");
        assert_eq!(
            error_text(br#"{"message":null,"error":"second"}"#),
            "second"
        );
        assert_eq!(error_text(b"Bad Gateway"), "Bad Gateway");
        assert_eq!(error_text(b""), "no error text");
        let long = "x".repeat(1000);
        assert!(error_text(long.as_bytes()).chars().count() <= MAX_ERROR_TEXT + 1);
    }

    #[test]
    fn maps_statuses_to_variants() {
        let body = br#"{"message":"nope"}"#;
        let map = |code: u16| {
            SmartleadError::from_status(StatusCode::from_u16(code).expect("status"), body, None)
        };
        assert!(matches!(map(401), SmartleadError::Unauthorized(m) if m == "nope"));
        assert!(matches!(map(404), SmartleadError::NotFound(_)));
        assert!(matches!(map(422), SmartleadError::BadRequest(_)));
        assert!(matches!(map(429), SmartleadError::RateLimited { .. }));
        assert!(matches!(map(500), SmartleadError::Server(500, _)));
    }

    #[test]
    fn error_text_never_echoes_a_key() {
        let text = error_text(br#"{"message":"bad url /campaigns?api_key=sk_secret_1"}"#);
        assert!(!text.contains("sk_secret_1"));
    }
}
