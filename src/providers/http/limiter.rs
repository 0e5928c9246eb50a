//! Client-side rate limiting: a request budget per API key (Smartlead), or
//! a budget of quota units per minute where each call has its own cost
//! (Gmail).
//!
//! A sliding-window log rather than a token bucket: a bucket of `max` tokens
//! refilled continuously lets almost `2 * max` requests through in one window,
//! while the server counts requests per window. The log keeps the send times
//! of the last `max` grants and waits until the oldest leaves the window.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};

use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// At most `max` requests per `per`, per API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
}

impl Default for RateLimit {
    /// Smartlead's documented budget: 10 requests every 2 seconds.
    fn default() -> Self {
        Self {
            max: 10,
            per: Duration::from_secs(2),
        }
    }
}

impl RateLimit {
    /// Grants allowed per window; a zero `max` would block forever, so it
    /// counts as one.
    fn effective_max(&self) -> usize {
        self.max.max(1) as usize
    }

    /// The server stamps a request when it arrives, a few milliseconds after
    /// we granted it; waiting a twentieth of the window longer keeps our
    /// count and the server's from disagreeing at the window's edge.
    fn window_with_guard(&self) -> Duration {
        self.per + self.per / 20
    }
}

/// A granted request, until `RateLimiter::settle` records when it finished.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    granted_at: Instant,
    pub waited: bool,
}

/// Waits (asynchronously) until a request fits the budget.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    grants: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            grants: Mutex::new(VecDeque::with_capacity(limit.effective_max())),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Returns once a request may be sent; `true` if it had to wait.
    pub async fn acquire(&self) -> bool {
        self.acquire_slot().await.waited
    }

    /// Like `acquire`, but hands back the slot so that `settle` can move it
    /// to the moment the answer came back.
    pub async fn acquire_slot(&self) -> Slot {
        let mut waited = false;
        loop {
            let now = Instant::now();
            match self.try_grant(now) {
                Ok(()) => {
                    return Slot {
                        granted_at: now,
                        waited,
                    };
                }
                Err(wake_at) => {
                    waited = true;
                    tokio::time::sleep_until(wake_at).await;
                }
            }
        }
    }

    /// Counts a finished request from when its answer arrived rather than
    /// when it was allowed out: the server saw it somewhere in between, and a
    /// request that was slow to leave must not let the next window start early.
    pub fn settle(&self, slot: Slot) {
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(position) = grants.iter().position(|g| *g == slot.granted_at) {
            grants.remove(position);
            // Every grant so far happened before now, so the log stays sorted.
            grants.push_back(Instant::now());
        }
    }

    /// Records a grant at `now`, or says when the next slot opens.
    fn try_grant(&self, now: Instant) -> Result<(), Instant> {
        let window = self.limit.window_with_guard();
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        while grants
            .front()
            .is_some_and(|granted| now.duration_since(*granted) >= window)
        {
            grants.pop_front();
        }
        if grants.len() < self.limit.effective_max() {
            grants.push_back(now);
            return Ok(());
        }
        match grants.front() {
            Some(oldest) => Err(*oldest + window),
            None => Ok(()),
        }
    }
}

/// At most `per_minute` quota units a minute, each call costing its own
/// number of units (Gmail: messages.get 5, send 100...), refilled
/// continuously so a full sync stays under the limit instead of bouncing
/// off 429s.
#[derive(Debug)]
pub struct QuotaLimiter {
    limiter: DefaultDirectRateLimiter,
    per_minute: NonZeroU32,
}

impl QuotaLimiter {
    pub fn per_minute(units: NonZeroU32) -> Self {
        Self {
            limiter: governor::RateLimiter::direct(Quota::per_minute(units)),
            per_minute: units,
        }
    }

    /// Takes `units` if they fit now. A cost above the whole budget is
    /// charged as the whole budget (it could never fit otherwise), and a
    /// zero cost as one unit.
    pub fn try_acquire(&self, units: u32) -> bool {
        matches!(self.limiter.check_n(self.cost(units)), Ok(Ok(())))
    }

    /// Waits until `units` fit, then takes them.
    pub async fn acquire(&self, units: u32) {
        // The cost never exceeds the capacity, so this only waits.
        let _ = self.limiter.until_n_ready(self.cost(units)).await;
    }

    fn cost(&self, units: u32) -> NonZeroU32 {
        NonZeroU32::new(units.min(self.per_minute.get())).unwrap_or(NonZeroU32::MIN)
    }
}

/// Hands out one limiter per (API key, limit), so every client built with
/// the same key shares one budget. Keys are held only as SHA-256 digests.
#[derive(Debug, Default)]
pub struct RateLimiterRegistry {
    limiters: Mutex<HashMap<LimiterKey, Arc<RateLimiter>>>,
}

/// SHA-256 of the API key, and the limit it was registered with.
type LimiterKey = ([u8; 32], RateLimit);

impl RateLimiterRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide registry the provider clients use by default.
    pub fn global() -> &'static RateLimiterRegistry {
        static GLOBAL: OnceLock<RateLimiterRegistry> = OnceLock::new();
        GLOBAL.get_or_init(RateLimiterRegistry::new)
    }

    pub fn limiter(&self, api_key: &str, limit: RateLimit) -> Arc<RateLimiter> {
        let fingerprint: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        let mut limiters = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        limiters
            .entry((fingerprint, limit))
            .or_insert_with(|| Arc::new(RateLimiter::new(limit)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_grants_more_than_max_inside_one_window() {
        let limiter = RateLimiter::new(RateLimit {
            max: 3,
            per: Duration::from_secs(1),
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.try_grant(start).is_ok());
        }
        let next = limiter.try_grant(start + Duration::from_millis(900));
        let wake_at = next.expect_err("fourth grant must wait");
        assert!(wake_at >= start + Duration::from_secs(1));
        assert!(limiter.try_grant(wake_at).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_slot_counts_from_when_the_answer_came() {
        let limiter = RateLimiter::new(RateLimit {
            max: 1,
            per: Duration::from_millis(200),
        });
        let slot = limiter.acquire_slot().await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        limiter.settle(slot);
        let started = Instant::now();
        assert!(limiter.acquire().await);
        // The window restarts at the settle (150 ms in), not at the grant.
        assert!(started.elapsed() >= Duration::from_millis(180));
    }

    #[tokio::test]
    async fn acquire_waits_and_reports_it() {
        let limiter = RateLimiter::new(RateLimit {
            max: 2,
            per: Duration::from_millis(100),
        });
        let start = Instant::now();
        assert!(!limiter.acquire().await);
        assert!(!limiter.acquire().await);
        assert!(limiter.acquire().await);
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn same_key_and_limit_share_one_limiter() {
        let registry = RateLimiterRegistry::new();
        let limit = RateLimit::default();
        let first = registry.limiter("key-a", limit);
        let again = registry.limiter("key-a", limit);
        let other = registry.limiter("key-b", limit);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
