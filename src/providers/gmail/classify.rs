//! How a Gmail answer fails, for the shared retry layer. Gmail signals rate
//! limits with 403 *and* 429, so the decision is made on Google's `reason`,
//! not on the status alone; the retrying itself is
//! [`HttpTransport`](crate::providers::http::HttpTransport)'s.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::GmailError;
use crate::providers::http::{Failure, Response};

/// What kind of failure an API answer is, for retry purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureClass {
    /// Rate or quota limit that Gmail did not process: safe to retry, even a send.
    RateLimited,
    /// 5xx: retry reads; a send may have gone through.
    ServerError,
    /// Anything else (bad request, permissions, daily limit...): do not retry.
    Permanent,
}

pub(crate) fn classify(status: u16, reason: Option<&str>, message: &str) -> FailureClass {
    match status {
        429 => FailureClass::RateLimited,
        403 => match reason {
            Some("userRateLimitExceeded" | "rateLimitExceeded") => FailureClass::RateLimited,
            Some("dailyLimitExceeded" | "insufficientPermissions" | "domainPolicy") => {
                FailureClass::Permanent
            }
            // Cloud quota errors arrive as 403 with a generic reason; only
            // per-minute quotas recover soon enough to be worth retrying.
            _ if message.contains("Quota exceeded") && message.contains("per minute") => {
                FailureClass::RateLimited
            }
            _ => FailureClass::Permanent,
        },
        500..=599 => FailureClass::ServerError,
        _ => FailureClass::Permanent,
    }
}

/// Parses the "Retry after 2024-11-12T11:16:42.247Z" hint Gmail puts in some
/// 429 messages.
pub(crate) fn retry_after_hint(message: &str) -> Option<DateTime<Utc>> {
    let lower = message.to_ascii_lowercase();
    let start = lower.find("retry after ")? + "retry after ".len();
    let stamp = message[start..].split_whitespace().next()?;
    let stamp = stamp.trim_end_matches(['.', ',', ')']);
    DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The shared layer's view of a Gmail answer: `None` for success and for
/// failures no retry can fix. A rate limit waits until Gmail's "Retry after"
/// hint (measured on `now`, the injected clock) or its `Retry-After` header.
pub(crate) fn failure_of(response: &Response, now: DateTime<Utc>) -> Option<Failure> {
    if response.status.is_success() {
        return None;
    }
    let status = response.status.as_u16();
    let error = GmailError::from_response(status, &response.body);
    let (reason, message) = match &error {
        GmailError::Api {
            reason, message, ..
        } => (reason.as_deref(), message.as_str()),
        _ => (None, ""),
    };
    match classify(status, reason, message) {
        FailureClass::RateLimited => {
            let hinted =
                retry_after_hint(message).map(|at| (at - now).to_std().unwrap_or(Duration::ZERO));
            Some(Failure::RateLimited {
                retry_after: hinted.or_else(|| response.retry_after()),
            })
        }
        FailureClass::ServerError => Some(Failure::ServerError),
        FailureClass::Permanent => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_reason_not_status() {
        assert_eq!(classify(429, None, ""), FailureClass::RateLimited);
        assert_eq!(
            classify(
                403,
                Some("userRateLimitExceeded"),
                "User Rate Limit Exceeded"
            ),
            FailureClass::RateLimited
        );
        assert_eq!(
            classify(403, Some("rateLimitExceeded"), ""),
            FailureClass::RateLimited
        );
        assert_eq!(
            classify(403, Some("dailyLimitExceeded"), "Daily Limit Exceeded"),
            FailureClass::Permanent
        );
        assert_eq!(
            classify(403, Some("insufficientPermissions"), ""),
            FailureClass::Permanent
        );
        assert_eq!(
            classify(
                403,
                Some("PERMISSION_DENIED"),
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'"
            ),
            FailureClass::RateLimited
        );
        assert_eq!(
            classify(503, Some("backendError"), ""),
            FailureClass::ServerError
        );
        assert_eq!(
            classify(400, Some("invalidArgument"), ""),
            FailureClass::Permanent
        );
        assert_eq!(classify(404, Some("notFound"), ""), FailureClass::Permanent);
    }

    #[test]
    fn retry_after_hint_is_parsed() {
        let hint = retry_after_hint(
            "User-rate limit exceeded.  Retry after 2024-11-12T11:16:42.247Z (Mail sending)",
        )
        .unwrap();
        assert_eq!(hint.to_rfc3339(), "2024-11-12T11:16:42.247+00:00");
        assert!(retry_after_hint("Resource has been exhausted (e.g. check quota).").is_none());
    }

    #[test]
    fn a_quota_403_is_a_rate_limit_waiting_for_the_hint() {
        let now = DateTime::parse_from_rfc3339("2024-11-12T11:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = br#"{"error": {"code": 403, "message": "User-rate limit exceeded.  Retry after 2024-11-12T11:00:10Z",
            "errors": [{"reason": "userRateLimitExceeded"}]}}"#;
        let response = Response {
            status: reqwest::StatusCode::FORBIDDEN,
            headers: Default::default(),
            body: body.to_vec(),
        };
        assert_eq!(
            failure_of(&response, now),
            Some(Failure::RateLimited {
                retry_after: Some(Duration::from_secs(10))
            })
        );
        let denied = Response {
            body: br#"{"error": {"code": 403, "errors": [{"reason": "insufficientPermissions"}]}}"#
                .to_vec(),
            ..response
        };
        assert_eq!(failure_of(&denied, now), None);
    }
}
