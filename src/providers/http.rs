//! The transport every provider client shares: one reqwest (rustls) client
//! with outpost's user agent and timeouts, a per-key rate limiter, a retry
//! policy that knows which calls may repeat, credential redaction, and
//! counters for metrics.
//!
//! Providers hand [`HttpTransport::send`] a closure that builds the request
//! and get back the final [`Response`] (any status) or an [`HttpError`];
//! mapping statuses to provider errors stays in the provider.

mod limiter;
mod metrics;
mod redact;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

pub use limiter::{RateLimit, RateLimiter, RateLimiterRegistry};
pub use metrics::{HttpMetrics, HttpMetricsSnapshot};
pub use redact::{REDACTED, redact};
pub use retry::{Failure, Idempotency, RetryPolicy, parse_retry_after};

/// `outpost/<version>`; sent on every request (some edges block clients
/// without a user agent).
pub const USER_AGENT: &str = concat!("outpost/", env!("CARGO_PKG_VERSION"));

/// Network timeouts for one request attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP + TLS connection.
    pub connect: Duration,
    /// Silence between two reads of the response.
    pub read: Duration,
    /// The whole attempt, from sending to the last body byte.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            total: Duration::from_secs(60),
        }
    }
}

/// Transport failures. Messages are redacted and carry no URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the request timed out: {0}")]
    Timeout(String),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("could not set up the HTTP client: {0}")]
    Setup(String),
}

impl HttpError {
    /// Converts a reqwest error without its URL (which holds the API key for
    /// some providers) and with every source in the chain redacted.
    pub fn from_reqwest(error: reqwest::Error) -> Self {
        let error = error.without_url();
        let is_connect = error.is_connect();
        let is_timeout = error.is_timeout();
        let message = redact(&error_chain(&error));
        if is_connect {
            HttpError::Connect(message)
        } else if is_timeout {
            HttpError::Timeout(message)
        } else {
            HttpError::Transport(message)
        }
    }

    fn failure(&self) -> Failure {
        match self {
            HttpError::Connect(_) => Failure::Connect,
            _ => Failure::Transport,
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Builds the shared reqwest client: rustls, user agent, timeouts.
pub fn build_client(timeouts: &Timeouts) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .timeout(timeouts.total)
        .build()
        .map_err(HttpError::from_reqwest)
}

/// A fully read response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The server's `Retry-After`, if present and readable.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(RETRY_AFTER)?.to_str().ok()?;
        parse_retry_after(value, Utc::now())
    }
}

/// One provider account's view of the network: client, limiter, policy,
/// counters. Cheap to clone; clones share the limiter and the counters.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    limiter: Arc<RateLimiter>,
    retry: RetryPolicy,
    metrics: Arc<HttpMetrics>,
}

impl HttpTransport {
    pub fn new(client: reqwest::Client, limiter: Arc<RateLimiter>, retry: RetryPolicy) -> Self {
        Self {
            client,
            limiter,
            retry,
            metrics: Arc::new(HttpMetrics::default()),
        }
    }

    /// The client requests should be built from.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn metrics(&self) -> HttpMetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Sends the request `build` makes, waiting for the rate limiter before
    /// every attempt and retrying as [`RetryPolicy`] allows for
    /// `idempotency`. Returns the last response whatever its status; a
    /// transport error only if the last attempt had no response.
    pub async fn send<F>(&self, idempotency: Idempotency, build: F) -> Result<Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let started = Instant::now();
        let mut retries_done = 0;
        loop {
            let slot = self.limiter.acquire_slot().await;
            if slot.waited {
                self.metrics.count_rate_limit_wait();
            }
            let request = match build(&self.client).build() {
                Ok(request) => request,
                Err(err) => {
                    self.limiter.settle(slot);
                    return Err(HttpError::from_reqwest(err));
                }
            };
            let label = format!("{} {}", request.method(), request.url().path());
            self.metrics.count_request();
            let attempt = self.attempt(request).await;
            self.limiter.settle(slot);
            let failure = match &attempt {
                Ok(response) if response.status == StatusCode::TOO_MANY_REQUESTS => {
                    self.metrics.count_rate_limited();
                    Failure::RateLimited {
                        retry_after: response.retry_after(),
                    }
                }
                Ok(response) if response.status.is_server_error() => Failure::ServerError,
                Ok(_) => return attempt,
                Err(error) => error.failure(),
            };
            let elapsed = started.elapsed();
            let Some(delay) = self
                .retry
                .next_delay(failure, idempotency, retries_done, elapsed)
            else {
                return attempt;
            };
            tracing::debug!(request = %label, ?failure, ?delay, "retrying");
            retries_done += 1;
            self.metrics.count_retry();
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, request: reqwest::Request) -> Result<Response, HttpError> {
        let response = self
            .client
            .execute(request)
            .await
            .map_err(HttpError::from_reqwest)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(HttpError::from_reqwest)?
            .to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
