//! Gmail's retry rules. Gmail signals rate limits with 403 *and* 429, so the
//! decision is made on Google's `reason`, not on the status alone.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// How hard to retry transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
    /// Upper bound of a single delay. A "Retry after" hint further away than
    /// this is not waited for: the error is returned instead.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(32),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with jitter: a random delay in `[d/2, d]` where
    /// `d = base * 2^retry`, capped at `max_delay`.
    pub fn delay_for(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(16));
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let half = full / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let extra = if jitter_nanos == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_nanos)
        };
        half + Duration::from_nanos(extra)
    }
}

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

/// The delay before retry number `retry` (0-based), or `None` when the hint
/// asks for a wait longer than the policy allows.
pub(crate) fn next_delay(
    policy: &RetryPolicy,
    retry: u32,
    message: &str,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let backoff = policy.delay_for(retry);
    match retry_after_hint(message) {
        None => Some(backoff),
        Some(at) => {
            let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
            if wait > policy.max_delay {
                None
            } else {
                Some(backoff.max(wait))
            }
        }
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
    fn far_retry_after_is_not_waited_for() {
        let policy = RetryPolicy::default();
        let now = DateTime::parse_from_rfc3339("2024-11-12T11:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let soon = "Retry after 2024-11-12T11:00:10Z";
        let delay = next_delay(&policy, 0, soon, now).unwrap();
        assert!(delay >= Duration::from_secs(10));
        let later = "Retry after 2024-11-12T15:00:00Z";
        assert!(next_delay(&policy, 0, later, now).is_none());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
        };
        for retry in 0..10 {
            let d = policy.delay_for(retry);
            let full = Duration::from_millis(100 * 2u64.pow(retry)).min(Duration::from_millis(800));
            assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?}");
        }
    }
}
