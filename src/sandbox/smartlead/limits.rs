//! API-key auth, the per-key rate limit and request counters for the `/api/v1` routes.
//!
//! The limit is a sliding window over real monotonic time (not the injected clock): it
//! throttles actual traffic, and a fake clock would never let a window expire.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::SmartleadState;
use super::api::query_map;
use crate::sandbox::RateLimit;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    inner: Mutex<LimiterState>,
}

#[derive(Debug)]
struct LimiterState {
    config: RateLimit,
    windows: HashMap<String, VecDeque<Instant>>,
    throttled: HashMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Allowed {
        limit: u32,
        remaining: u32,
        reset_secs: u64,
    },
    Throttled {
        limit: u32,
        retry_after_secs: u64,
    },
}

fn ceil_secs(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
    .max(1)
}

impl RateLimiter {
    pub fn new(config: RateLimit) -> Self {
        Self {
            inner: Mutex::new(LimiterState {
                config,
                windows: HashMap::new(),
                throttled: HashMap::new(),
            }),
        }
    }

    pub fn config(&self) -> RateLimit {
        lock(&self.inner).config
    }

    /// A new limit starts every key with a fresh window.
    pub fn set_config(&self, config: RateLimit) {
        let mut state = lock(&self.inner);
        state.config = config;
        state.windows.clear();
    }

    pub fn throttled_count(&self, key: &str) -> u64 {
        lock(&self.inner).throttled.get(key).copied().unwrap_or(0)
    }

    pub fn throttled_total(&self) -> u64 {
        lock(&self.inner).throttled.values().sum()
    }

    pub fn check(&self, key: &str, now: Instant) -> Decision {
        let mut state = lock(&self.inner);
        let RateLimit {
            max_requests,
            window,
        } = state.config;
        let log = state.windows.entry(key.to_string()).or_default();
        while log
            .front()
            .is_some_and(|&t| now.duration_since(t) >= window)
        {
            log.pop_front();
        }
        if log.len() >= max_requests as usize {
            let oldest = log.front().copied().unwrap_or(now);
            let retry_after_secs = ceil_secs((oldest + window).saturating_duration_since(now));
            *state.throttled.entry(key.to_string()).or_default() += 1;
            return Decision::Throttled {
                limit: max_requests,
                retry_after_secs,
            };
        }
        log.push_back(now);
        let oldest = log.front().copied().unwrap_or(now);
        let remaining = max_requests.saturating_sub(log.len() as u32);
        Decision::Allowed {
            limit: max_requests,
            remaining,
            reset_secs: ceil_secs((oldest + window).saturating_duration_since(now)),
        }
    }
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: u64) {
    if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(name, value);
    }
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "message": message })),
    )
        .into_response()
}

/// Checks `?api_key=`, then spends one request of that key's window.
pub(crate) async fn authenticate_and_limit(
    State(state): State<Arc<SmartleadState>>,
    request: Request,
    next: Next,
) -> Response {
    let params = query_map(request.uri().query());
    let Some(key) = params.get("api_key").filter(|k| !k.is_empty()) else {
        return unauthorized("API key is required.");
    };
    let valid: bool = key.as_bytes().ct_eq(state.api_key.as_bytes()).into();
    if !valid {
        return unauthorized("Invalid API Key");
    }
    match state.limiter.check(key, Instant::now()) {
        Decision::Throttled {
            limit,
            retry_after_secs,
        } => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({ "message": "Too Many Requests" })),
            )
                .into_response();
            let headers = response.headers_mut();
            set_header(headers, "retry-after", retry_after_secs);
            set_header(headers, "x-ratelimit-limit", u64::from(limit));
            set_header(headers, "x-ratelimit-remaining", 0);
            set_header(headers, "x-ratelimit-reset", retry_after_secs);
            response
        }
        Decision::Allowed {
            limit,
            remaining,
            reset_secs,
        } => {
            let mut response = next.run(request).await;
            let headers = response.headers_mut();
            set_header(headers, "x-ratelimit-limit", u64::from(limit));
            set_header(headers, "x-ratelimit-remaining", u64::from(remaining));
            set_header(headers, "x-ratelimit-reset", reset_secs);
            response
        }
    }
}

/// Requests seen per route template (`GET /api/v1/campaigns/{id}`), whatever the outcome.
#[derive(Debug, Default)]
pub(crate) struct RequestCounters {
    by_route: Mutex<BTreeMap<String, u64>>,
}

impl RequestCounters {
    pub fn record(&self, route: String) {
        *lock(&self.by_route).entry(route).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.by_route).clone()
    }
}

pub(crate) async fn count_requests(
    State(state): State<Arc<SmartleadState>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let path = matched
        .map(|m| m.as_str().trim_end_matches('/').to_string())
        .unwrap_or_else(|| "(unmatched)".to_string());
    state
        .counters
        .record(format!("{} {}", request.method(), path));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_throttles_and_recovers() {
        let limiter = RateLimiter::new(RateLimit {
            max_requests: 2,
            window: Duration::from_secs(2),
        });
        let start = Instant::now();
        assert!(matches!(
            limiter.check("k", start),
            Decision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            limiter.check("k", start),
            Decision::Allowed { remaining: 0, .. }
        ));
        assert_eq!(
            limiter.check("k", start + Duration::from_millis(500)),
            Decision::Throttled {
                limit: 2,
                retry_after_secs: 2
            }
        );
        assert!(matches!(
            limiter.check("other", start),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limiter.check("k", start + Duration::from_secs(2)),
            Decision::Allowed { .. }
        ));
        assert_eq!(limiter.throttled_count("k"), 1);
        assert_eq!(limiter.throttled_count("other"), 0);
    }
}
