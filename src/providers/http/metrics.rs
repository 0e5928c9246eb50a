//! Counters a provider exposes for `/metrics` and `outpost doctor`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by every clone of a provider client.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    rate_limit_waits: AtomicU64,
}

/// A point-in-time copy of [`HttpMetrics`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HttpMetricsSnapshot {
    /// Attempts put on the wire, retries included.
    pub requests: u64,
    /// Attempts that repeated an earlier one.
    pub retries: u64,
    /// Responses the provider's classification called a rate limit (429;
    /// for Gmail also a 403 `rateLimitExceeded` or per-minute quota).
    pub rate_limited: u64,
    /// Times the local rate limiter made a request wait.
    pub rate_limit_waits: u64,
}

impl HttpMetrics {
    pub fn snapshot(&self) -> HttpMetricsSnapshot {
        HttpMetricsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            rate_limit_waits: self.rate_limit_waits.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_rate_limit_wait(&self) {
        self.rate_limit_waits.fetch_add(1, Ordering::Relaxed);
    }
}
