//! When to try a request again, and how long to wait first.
//!
//! The rule for calls that change remote state in a way that must not
//! repeat (sending mail):
//! - a **429** is retried: the server refused the request before acting on
//!   it, so nothing was sent;
//! - a **connect failure** is retried: no byte of the request left this
//!   machine;
//! - anything else (5xx, a timeout, a connection dropped mid-request, an
//!   unreadable response) is **never** retried, because the server may
//!   already have acted; the caller gets the error and decides.
//!
//! Idempotent calls are also retried on 5xx and on every transport error.
//!
//! The schedule is backon's exponential backoff with jitter; a 429 waits for
//! the server's `Retry-After` instead of the next step.

use std::time::Duration;

use backon::ExponentialBuilder;
use chrono::{DateTime, Utc};
use rand::Rng;

/// Whether repeating a call could repeat its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, and writes that land in the same state when repeated.
    Idempotent,
    /// Writes that must happen at most once (sending a reply).
    NonIdempotent,
}

/// Why an attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429; the server's `Retry-After`, if it sent a readable one.
    RateLimited { retry_after: Option<Duration> },
    /// Any 5xx.
    ServerError,
    /// The connection was never established, so the request was not sent.
    Connect,
    /// The request may have reached the server (timeout, reset, bad body).
    Transport,
}

/// How long a server that refuses connections is retried within one call,
/// whatever the provider's budget: it is down, not busy, and the rep should
/// see so (the poller tries again at its next interval).
pub const CONNECT_BUDGET: Duration = Duration::from_secs(5);

/// Bounded, jittered exponential backoff, shared by every provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff step for 5xx and transport errors; doubles each retry.
    pub base_delay: Duration,
    /// Cap on a single backoff step.
    pub max_delay: Duration,
    /// No retry is started if it would end later than this after the first
    /// attempt began.
    pub max_total: Duration,
    /// Least wait after a 429 without a usable `Retry-After` (plus jitter);
    /// a longer backoff step wins.
    pub min_rate_limited_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(90),
            min_rate_limited_wait: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Whether `failure` may be retried at all for a call of this kind.
    pub fn permits(failure: Failure, idempotency: Idempotency) -> bool {
        match (failure, idempotency) {
            (Failure::RateLimited { .. } | Failure::Connect, _) => true,
            (Failure::ServerError | Failure::Transport, Idempotency::Idempotent) => true,
            (Failure::ServerError | Failure::Transport, Idempotency::NonIdempotent) => false,
        }
    }

    /// backon's schedule for 5xx and transport errors: steps of `base_delay`
    /// doubling up to `max_delay`, each drawn from the upper half of its step
    /// ("equal jitter") so concurrent clients spread out but never retry at
    /// once, at most `max_retries` of them.
    pub fn backoff(&self) -> ExponentialBuilder {
        // backon's jitter adds up to one more step: [d, 2d) with d = step / 2.
        ExponentialBuilder::new()
            .with_jitter()
            .with_factor(2.0)
            .with_min_delay(self.base_delay / 2)
            .with_max_delay(self.max_delay / 2)
            .with_max_times(usize::try_from(self.max_retries).unwrap_or(usize::MAX))
    }

    /// The wait before the next retry after `failure`, given backon's next
    /// step (`None` once the retries are used up) and the time since the
    /// first attempt started; `None` to give up.
    pub fn delay_for(
        &self,
        failure: Failure,
        step: Option<Duration>,
        elapsed: Duration,
    ) -> Option<Duration> {
        let step = step?;
        let delay = match failure {
            Failure::RateLimited {
                retry_after: Some(wait),
            } => wait + jitter_up_to(Duration::from_millis(100)),
            Failure::RateLimited { retry_after: None } => {
                step.max(self.min_rate_limited_wait + jitter_up_to(self.min_rate_limited_wait / 2))
            }
            Failure::ServerError | Failure::Connect | Failure::Transport => step,
        };
        let budget = match failure {
            Failure::Connect => self.max_total.min(CONNECT_BUDGET),
            _ => self.max_total,
        };
        (elapsed + delay <= budget).then_some(delay)
    }
}

fn jitter_up_to(limit: Duration) -> Duration {
    let millis = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// Reads a `Retry-After` value: delta seconds, or an HTTP date (a date in
/// the past means "now").
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn non_idempotent_calls_retry_only_when_nothing_was_sent() {
        let rate_limited = Failure::RateLimited { retry_after: None };
        let send = Idempotency::NonIdempotent;
        assert!(RetryPolicy::permits(rate_limited, send));
        assert!(RetryPolicy::permits(Failure::Connect, send));
        assert!(!RetryPolicy::permits(Failure::ServerError, send));
        assert!(!RetryPolicy::permits(Failure::Transport, send));
        assert!(RetryPolicy::permits(
            Failure::ServerError,
            Idempotency::Idempotent
        ));
        assert!(RetryPolicy::permits(
            Failure::Transport,
            Idempotency::Idempotent
        ));
    }

    use backon::BackoffBuilder;

    fn first_step(policy: &RetryPolicy) -> Option<Duration> {
        policy.backoff().build().next()
    }

    #[test]
    fn honours_retry_after_and_the_minimum_wait() {
        let policy = policy();
        let given = Failure::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        let delay = policy
            .delay_for(given, first_step(&policy), Duration::ZERO)
            .expect("retry");
        assert!(delay >= Duration::from_secs(3) && delay <= Duration::from_millis(3100));

        let absent = Failure::RateLimited { retry_after: None };
        let delay = policy
            .delay_for(absent, first_step(&policy), Duration::ZERO)
            .expect("retry");
        assert!(delay >= Duration::from_secs(2) && delay <= Duration::from_secs(3));

        // A Retry-After beyond the time budget is not waited for.
        let far = Failure::RateLimited {
            retry_after: Some(policy.max_total),
        };
        assert_eq!(
            policy.delay_for(far, first_step(&policy), Duration::ZERO),
            None
        );
    }

    #[test]
    fn a_refused_connection_is_retried_for_a_few_seconds_only() {
        let patient = RetryPolicy {
            max_total: Duration::from_secs(45),
            ..policy()
        };
        let step = Some(Duration::from_secs(1));
        assert!(
            patient
                .delay_for(Failure::Connect, step, Duration::from_secs(3))
                .is_some()
        );
        assert_eq!(
            patient.delay_for(
                Failure::Connect,
                step,
                Duration::from_secs(4) + Duration::from_millis(500)
            ),
            None
        );
        // A busy server keeps the whole budget.
        assert!(
            patient
                .delay_for(Failure::ServerError, step, Duration::from_secs(30))
                .is_some()
        );
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let policy = policy();
        let steps: Vec<Duration> = policy.backoff().build().collect();
        assert_eq!(steps.len(), 4, "max_retries steps, then none");
        for (retries_done, delay) in steps.iter().enumerate() {
            let step = policy.base_delay * 2u32.pow(retries_done as u32);
            assert!(
                *delay >= step / 2 && *delay <= step,
                "{delay:?} vs {step:?}"
            );
        }
        let capped = RetryPolicy {
            max_retries: 10,
            max_delay: Duration::from_secs(2),
            ..policy
        };
        assert!(
            capped
                .backoff()
                .build()
                .all(|d| d <= Duration::from_secs(2))
        );
        assert_eq!(
            policy.delay_for(Failure::ServerError, None, Duration::ZERO),
            None
        );
        assert_eq!(
            policy.delay_for(
                Failure::ServerError,
                Some(Duration::from_millis(1)),
                policy.max_total
            ),
            None
        );
    }

    #[test]
    fn parses_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2025-06-04T08:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 04 Jun 2025 08:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Wed, 04 Jun 2025 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
