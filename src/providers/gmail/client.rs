//! `GmailClient`: authenticated requests with token refresh and Gmail's
//! retry rules. The typed API methods are in `api.rs`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use url::Url;

use super::error::GmailError;
use super::oauth::{self, OAuthParams, REFRESH_MARGIN, TokenSet};
use super::retry::{FailureClass, RetryPolicy, classify, next_delay};
use super::token_store::TokenStore;
use crate::clock::SharedClock;
use crate::providers::http::{HttpMetrics, HttpMetricsSnapshot};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Google's per-user quota: 6,000 units per minute per project (from May 2026).
pub const DEFAULT_QUOTA_UNITS_PER_MINUTE: NonZeroU32 = NonZeroU32::new(6_000).expect("non-zero");

/// Everything a `GmailClient` needs for one account.
#[derive(Debug, Clone)]
pub struct GmailClientConfig {
    /// `https://gmail.googleapis.com` (or a loopback emulator); a trailing
    /// `/gmail/v1` is accepted too.
    pub api_base_url: Url,
    /// Usually `"me"`.
    pub user: String,
    /// The outpost account name, used in "log in again" messages.
    pub account: String,
    pub oauth: OAuthParams,
    pub token_store: TokenStore,
    pub clock: SharedClock,
    /// Upper bound on parallel requests in bulk helpers such as `get_messages`.
    pub max_concurrency: usize,
}

/// A Gmail API client for one account.
#[derive(Debug)]
pub struct GmailClient {
    pub(super) http: reqwest::Client,
    /// `.../gmail/v1/users/{user}/`; endpoints are appended to it.
    pub(super) users_base: Url,
    pub(super) account: String,
    pub(super) oauth: OAuthParams,
    pub(super) store: TokenStore,
    pub(super) clock: SharedClock,
    pub(super) max_concurrency: usize,
    pub(super) retry: RetryPolicy,
    /// Paces calls by Gmail quota units so a full sync stays under the
    /// per-user limit instead of bouncing off 429s.
    quota: Arc<DefaultDirectRateLimiter>,
    quota_per_minute: NonZeroU32,
    /// Cached tokens; the lock also serialises refreshes.
    tokens: Mutex<Option<TokenSet>>,
    /// Requests, retries, rate limits and quota waits, for `/metrics`.
    metrics: Arc<HttpMetrics>,
}

/// Whether a request may be repeated after it might have reached Gmail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    /// Reads and label changes: repeating them is harmless.
    Safe,
    /// A send: only repeated when Gmail certainly did not process it.
    NotIdempotent,
}

pub(super) struct ApiRequest {
    pub method: Method,
    pub url: Url,
    pub json: Option<serde_json::Value>,
    pub replay: Replay,
    /// Gmail's quota cost of the call (messages.get = 5, send = 100...).
    pub quota_units: u32,
}

impl GmailClient {
    pub fn new(config: GmailClientConfig) -> Result<Self, GmailError> {
        let users_base = users_base_url(&config.api_base_url, &config.user)?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|err| GmailError::Transport(format!("could not build HTTP client: {err}")))?;
        Ok(Self {
            http,
            users_base,
            account: config.account,
            oauth: config.oauth,
            store: config.token_store,
            clock: config.clock,
            max_concurrency: config.max_concurrency.max(1),
            retry: RetryPolicy::default(),
            quota: Arc::new(RateLimiter::direct(Quota::per_minute(
                DEFAULT_QUOTA_UNITS_PER_MINUTE,
            ))),
            quota_per_minute: DEFAULT_QUOTA_UNITS_PER_MINUTE,
            tokens: Mutex::new(None),
            metrics: Arc::new(HttpMetrics::default()),
        })
    }

    /// The client's request counters: attempts, retries, rate-limited
    /// answers and waits for the quota pacer.
    pub fn metrics(&self) -> HttpMetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Replaces the default backoff (5 retries, 1 s doubling to 32 s).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the default quota pacing (6,000 units per minute).
    pub fn with_quota_units_per_minute(mut self, units: NonZeroU32) -> Self {
        self.quota = Arc::new(RateLimiter::direct(Quota::per_minute(units)));
        self.quota_per_minute = units;
        self
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// An access token valid for at least another minute, refreshing (and
    /// persisting) it when needed.
    pub async fn access_token(&self) -> Result<SecretString, GmailError> {
        let mut cached = self.tokens.lock().await;
        let current = match cached.take() {
            Some(tokens) => tokens,
            None => self.store.load()?.ok_or_else(|| self.needs_login())?,
        };
        let now = self.clock.now();
        let fresh = if current.expires_within(now, REFRESH_MARGIN) {
            self.refresh_and_store(&current).await?
        } else {
            current
        };
        let token = fresh.access_token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Called after a 401: refresh unless another task already replaced the
    /// token that was rejected.
    async fn refresh_after_rejection(&self, rejected: &SecretString) -> Result<(), GmailError> {
        let mut cached = self.tokens.lock().await;
        let current = match cached.take() {
            Some(tokens) => tokens,
            None => self.store.load()?.ok_or_else(|| self.needs_login())?,
        };
        if current.access_token.expose_secret() != rejected.expose_secret() {
            *cached = Some(current);
            return Ok(());
        }
        match self.refresh_and_store(&current).await {
            Ok(fresh) => {
                *cached = Some(fresh);
                Ok(())
            }
            Err(err) => {
                *cached = Some(current);
                Err(err)
            }
        }
    }

    async fn refresh_and_store(&self, current: &TokenSet) -> Result<TokenSet, GmailError> {
        let fresh = oauth::refresh(&self.oauth, &self.account, current, self.clock.now()).await?;
        self.store.save(&fresh)?;
        Ok(fresh)
    }

    fn needs_login(&self) -> GmailError {
        GmailError::NeedsLogin {
            account: self.account.clone(),
        }
    }

    /// Runs one API call: bearer auth, one refresh-and-retry on 401, backoff
    /// on rate limits and (for safe requests) server errors.
    pub(super) async fn execute<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<T, GmailError> {
        let mut retries = 0u32;
        let mut refreshed = false;
        let cost = NonZeroU32::new(request.quota_units.min(self.quota_per_minute.get()))
            .unwrap_or(NonZeroU32::MIN);
        loop {
            // The cost never exceeds the limiter's capacity, so this only waits.
            if !matches!(self.quota.check_n(cost), Ok(Ok(()))) {
                self.metrics.count_rate_limit_wait();
                let _ = self.quota.until_n_ready(cost).await;
            }
            let token = self.access_token().await?;
            let mut builder = self
                .http
                .request(request.method.clone(), request.url.clone())
                .bearer_auth(token.expose_secret());
            if let Some(json) = &request.json {
                builder = builder.json(json);
            }
            self.metrics.count_request();
            let response = match builder.send().await {
                Ok(response) => response,
                Err(err) => {
                    // A failed connect never reached Gmail; anything later might have.
                    let replayable = err.is_connect()
                        || (request.replay == Replay::Safe
                            && (err.is_timeout() || err.is_request()));
                    if request.replay == Replay::NotIdempotent && !err.is_connect() {
                        return Err(GmailError::SendOutcomeUnknown {
                            detail: GmailError::transport(&err).to_string(),
                        });
                    }
                    if replayable && retries < self.retry.max_retries {
                        tokio::time::sleep(self.retry.delay_for(retries)).await;
                        retries += 1;
                        self.metrics.count_retry();
                        continue;
                    }
                    return Err(GmailError::transport(&err));
                }
            };

            let status = response.status().as_u16();
            let body = match response.bytes().await {
                Ok(body) => body,
                Err(err) if request.replay == Replay::NotIdempotent => {
                    return Err(GmailError::SendOutcomeUnknown {
                        detail: GmailError::transport(&err).to_string(),
                    });
                }
                Err(err) => return Err(GmailError::transport(&err)),
            };

            if (200..300).contains(&status) {
                let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
                    b"{}"
                } else {
                    &body
                };
                return serde_json::from_slice(body).map_err(|err| {
                    let detail = format!("{} {}: {err}", request.method, request.url.path());
                    match request.replay {
                        // Gmail accepted the send; only its answer is unreadable.
                        Replay::NotIdempotent => GmailError::SendOutcomeUnknown { detail },
                        Replay::Safe => GmailError::Decode(detail),
                    }
                });
            }

            let error = GmailError::from_response(status, &body);
            if status == 401 && !refreshed {
                refreshed = true;
                self.refresh_after_rejection(&token).await?;
                continue;
            }
            let (reason, message) = match &error {
                GmailError::Api {
                    reason, message, ..
                } => (reason.as_deref(), message.as_str()),
                _ => (None, ""),
            };
            let class = classify(status, reason, message);
            if class == FailureClass::RateLimited {
                self.metrics.count_rate_limited();
            }
            let retryable = match class {
                FailureClass::RateLimited => true,
                FailureClass::ServerError => match request.replay {
                    Replay::Safe => true,
                    Replay::NotIdempotent => {
                        return Err(GmailError::SendOutcomeUnknown {
                            detail: error.to_string(),
                        });
                    }
                },
                FailureClass::Permanent => false,
            };
            if !retryable || retries >= self.retry.max_retries {
                return Err(error);
            }
            let Some(delay) = next_delay(&self.retry, retries, message, self.clock.now()) else {
                return Err(error);
            };
            tracing::debug!(
                status,
                reason,
                retry = retries + 1,
                ?delay,
                "retrying Gmail request"
            );
            tokio::time::sleep(delay).await;
            retries += 1;
            self.metrics.count_retry();
        }
    }

    /// `users/{user}/` followed by `segments`, each percent-encoded.
    pub(super) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.users_base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// Resolves `<base>/gmail/v1/users/<user>/`, accepting a base that already
/// ends in `/gmail/v1`.
fn users_base_url(base: &Url, user: &str) -> Result<Url, GmailError> {
    if base.cannot_be_a_base() {
        return Err(GmailError::InvalidInput(format!(
            "Gmail API base URL {base} is not an http(s) URL"
        )));
    }
    if user.is_empty() {
        return Err(GmailError::InvalidInput(
            "Gmail user must be \"me\" or an address".to_string(),
        ));
    }
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    let already_versioned = url.path().trim_end_matches('/').ends_with("/gmail/v1");
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        if !already_versioned {
            path.extend(["gmail", "v1"]);
        }
        path.extend(["users", user]);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_forms() {
        for base in [
            "https://gmail.googleapis.com",
            "https://gmail.googleapis.com/",
            "https://gmail.googleapis.com/gmail/v1",
            "https://gmail.googleapis.com/gmail/v1/",
        ] {
            let url = users_base_url(&Url::parse(base).unwrap(), "me").unwrap();
            assert_eq!(
                url.as_str(),
                "https://gmail.googleapis.com/gmail/v1/users/me",
                "{base}"
            );
        }
        let prefixed =
            users_base_url(&Url::parse("http://127.0.0.1:9/emu/").unwrap(), "a@b.c").unwrap();
        assert_eq!(
            prefixed.as_str(),
            "http://127.0.0.1:9/emu/gmail/v1/users/a@b.c"
        );
    }
}
