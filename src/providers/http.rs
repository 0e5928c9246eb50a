//! The transport every provider client shares: one reqwest (rustls) client
//! with outpost's user agent and timeouts, a rate limiter (requests per key,
//! or quota units), one retry loop (backon) with a policy that knows which
//! calls may repeat, credential redaction, and counters for metrics.
//!
//! Providers hand [`HttpTransport::send`] a closure that builds the request
//! and get back the final [`Response`] (any status) or an [`HttpError`];
//! mapping statuses to provider errors stays in the provider. A provider
//! whose rate limits are not plain 429s (Gmail's 403 `rateLimitExceeded`)
//! passes its own classification to [`HttpTransport::send_classified`].

mod limiter;
mod metrics;
mod redact;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

pub use limiter::{QuotaLimiter, RateLimit, RateLimiter, RateLimiterRegistry};
pub use metrics::{HttpMetrics, HttpMetricsSnapshot};
pub use redact::{REDACTED, redact};
pub use retry::{Failure, Idempotency, RetryPolicy, parse_retry_after};

/// `outpost/<version>`; sent on every request (some edges block clients
/// without a user agent).
pub const USER_AGENT: &str = concat!("outpost/", env!("CARGO_PKG_VERSION"));

tokio::task_local! {
    static SINGLE_ATTEMPT: ();
}

/// Runs `work` with every provider call in it made once, without the
/// transport's retries: for a caller that answers a person now and leaves
/// the retrying to the outbox (a reply's first try, say).
pub async fn without_retries<F: std::future::Future>(work: F) -> F::Output {
    SINGLE_ATTEMPT.scope((), work).await
}

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

/// The budget a transport waits for before each attempt.
#[derive(Debug, Clone)]
pub enum Budget {
    /// A number of requests per window, shared by every client of one key.
    Requests(Arc<RateLimiter>),
    /// Quota units per minute; each call says what it costs.
    QuotaUnits(Arc<QuotaLimiter>),
}

/// How a status-only API fails: 429 is a rate limit, 5xx a server error,
/// anything else final.
pub fn classify_status(response: &Response) -> Option<Failure> {
    if response.status == StatusCode::TOO_MANY_REQUESTS {
        Some(Failure::RateLimited {
            retry_after: response.retry_after(),
        })
    } else if response.status.is_server_error() {
        Some(Failure::ServerError)
    } else {
        None
    }
}

/// An attempt the retry loop may repeat: what failed, and what the caller
/// gets if it is not repeated.
struct FailedAttempt {
    /// `None` when nothing about the failure is worth repeating.
    failure: Option<Failure>,
    outcome: Result<Response, HttpError>,
}

/// One provider account's view of the network: client, limiter, policy,
/// counters. Cheap to clone; clones share the limiter and the counters.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    budget: Budget,
    retry: RetryPolicy,
    metrics: Arc<HttpMetrics>,
}

impl HttpTransport {
    pub fn new(client: reqwest::Client, limiter: Arc<RateLimiter>, retry: RetryPolicy) -> Self {
        Self::with_budget(client, Budget::Requests(limiter), retry)
    }

    pub fn with_budget(client: reqwest::Client, budget: Budget, retry: RetryPolicy) -> Self {
        Self {
            client,
            budget,
            retry,
            metrics: Arc::new(HttpMetrics::default()),
        }
    }

    /// The same transport (and counters) with another budget.
    pub fn replace_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// The same transport (and counters) with another retry policy.
    pub fn replace_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
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
        self.send_classified(idempotency, 1, build, classify_status)
            .await
    }

    /// [`send`](Self::send) for a call costing `cost` quota units, with the
    /// provider saying which responses are failures worth retrying. Each
    /// response `classify` calls a rate limit is counted as one.
    pub async fn send_classified<F, C>(
        &self,
        idempotency: Idempotency,
        cost: u32,
        build: F,
        classify: C,
    ) -> Result<Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        C: Fn(&Response) -> Option<Failure>,
    {
        let started = Instant::now();
        let policy = if SINGLE_ATTEMPT.try_with(|_| ()).is_ok() {
            RetryPolicy::none()
        } else {
            self.retry
        };
        let attempt = || self.attempt_once(cost, &build, &classify);
        let retried = attempt
            .retry(policy.backoff())
            .when(|failed: &FailedAttempt| {
                failed
                    .failure
                    .is_some_and(|failure| RetryPolicy::permits(failure, idempotency))
            })
            .adjust(|failed: &FailedAttempt, step| {
                let failure = failed.failure?;
                policy.delay_for(failure, step, started.elapsed())
            })
            .notify(|failed: &FailedAttempt, delay| {
                tracing::debug!(failure = ?failed.failure, ?delay, "retrying");
                self.metrics.count_retry();
            })
            .await;
        match retried {
            Ok(response) => Ok(response),
            Err(failed) => failed.outcome,
        }
    }

    /// One attempt: wait for the budget, send, read the answer, classify it.
    async fn attempt_once<F, C>(
        &self,
        cost: u32,
        build: &F,
        classify: &C,
    ) -> Result<Response, FailedAttempt>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        C: Fn(&Response) -> Option<Failure>,
    {
        let slot = match &self.budget {
            Budget::Requests(limiter) => {
                let slot = limiter.acquire_slot().await;
                if slot.waited {
                    self.metrics.count_rate_limit_wait();
                }
                Some((limiter, slot))
            }
            Budget::QuotaUnits(quota) => {
                if !quota.try_acquire(cost) {
                    // Counted before the wait, so a wait still going on shows.
                    self.metrics.count_rate_limit_wait();
                    quota.acquire(cost).await;
                }
                None
            }
        };
        let settle = || {
            if let Some((limiter, slot)) = slot {
                limiter.settle(slot);
            }
        };
        let request = match build(&self.client).build() {
            Ok(request) => request,
            Err(err) => {
                settle();
                // Nothing left this machine: the request could not be made.
                let error = HttpError::from_reqwest(err);
                return Err(FailedAttempt {
                    failure: None,
                    outcome: Err(HttpError::Setup(error.to_string())),
                });
            }
        };
        self.metrics.count_request();
        let outcome = self.execute(request).await;
        settle();
        let failure = match &outcome {
            Ok(response) => classify(response),
            Err(error) => Some(error.failure()),
        };
        if matches!(failure, Some(Failure::RateLimited { .. })) {
            self.metrics.count_rate_limited();
        }
        match (failure, outcome) {
            (None, Ok(response)) => Ok(response),
            (failure, outcome) => Err(FailedAttempt { failure, outcome }),
        }
    }

    async fn execute(&self, request: reqwest::Request) -> Result<Response, HttpError> {
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
