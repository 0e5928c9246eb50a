//! `GmailClient`: authenticated requests with token refresh, sent through
//! the shared HTTP layer (quota pacing, retries, counters) with Gmail's own
//! reading of which answers are rate limits. The typed API methods are in
//! `api.rs`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use url::Url;

use super::classify::failure_of;
use super::error::GmailError;
use super::oauth::{self, OAuthParams, REFRESH_MARGIN, TokenSet};
use super::token_store::TokenStore;
use crate::clock::SharedClock;
use crate::providers::http::{
    Budget, HttpError, HttpMetricsSnapshot, HttpTransport, Idempotency, QuotaLimiter, Response,
    RetryPolicy, Timeouts, build_client,
};
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
    /// Paces calls by Gmail quota units so a full sync stays under the
    /// per-user limit instead of bouncing off 429s; retries; counts requests,
    /// retries, rate limits and quota waits for `/metrics`.
    http: HttpTransport,
    /// `.../gmail/v1/users/{user}/`; endpoints are appended to it.
    pub(super) users_base: Url,
    pub(super) account: String,
    pub(super) oauth: OAuthParams,
    pub(super) store: TokenStore,
    pub(super) clock: SharedClock,
    pub(super) max_concurrency: usize,
    /// Cached tokens; the lock also serialises refreshes.
    tokens: Mutex<Option<TokenSet>>,
}

/// Gmail's backoff: 5 retries, 1 s doubling to 32 s, within 45 s; a quota
/// that frees up only in the next minute comes back as Google's error rather
/// than holding the caller.
fn default_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 5,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(32),
        max_total: Duration::from_secs(45),
        min_rate_limited_wait: Duration::from_secs(1),
    }
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
    pub body: RequestBody,
    pub replay: Replay,
    /// Gmail's quota cost of the call (messages.get = 5, send = 100...).
    pub quota_units: u32,
}

/// What a call sends: nothing, a JSON document, or bytes of their own type
/// (a message too large for JSON goes to the upload endpoint).
pub(super) enum RequestBody {
    Empty,
    Json(serde_json::Value),
    Bytes {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl GmailClient {
    pub fn new(config: GmailClientConfig) -> Result<Self, GmailError> {
        let users_base = users_base_url(&config.api_base_url, &config.user)?;
        let client = build_client(&Timeouts::default())
            .map_err(|err| GmailError::Transport(err.to_string()))?;
        let quota = QuotaLimiter::per_minute(DEFAULT_QUOTA_UNITS_PER_MINUTE);
        let http = HttpTransport::with_budget(
            client,
            Budget::QuotaUnits(Arc::new(quota)),
            default_retry_policy(),
        );
        Ok(Self {
            http,
            users_base,
            account: config.account,
            oauth: config.oauth,
            store: config.token_store,
            clock: config.clock,
            max_concurrency: config.max_concurrency.max(1),
            tokens: Mutex::new(None),
        })
    }

    /// The client's request counters: attempts, retries, rate-limited
    /// answers and waits for the quota pacer.
    pub fn metrics(&self) -> HttpMetricsSnapshot {
        self.http.metrics()
    }

    /// Replaces the default backoff ([`default_retry_policy`]).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.http = self.http.replace_retry_policy(retry);
        self
    }

    /// Replaces the default quota pacing (6,000 units per minute).
    pub fn with_quota_units_per_minute(mut self, units: NonZeroU32) -> Self {
        let quota = QuotaLimiter::per_minute(units);
        self.http = self
            .http
            .replace_budget(Budget::QuotaUnits(Arc::new(quota)));
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
            // Nothing cached: the next call reads the token file again, so a
            // sign-in made meanwhile (`outpost auth gmail` beside a running
            // daemon) is picked up without a restart.
            Err(err) => Err(err),
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

    /// Runs one API call: bearer auth, the shared layer's pacing and
    /// retries, and one refresh-and-repeat on 401 (a rejected token means
    /// Gmail did nothing, so even a send may go again).
    pub(super) async fn execute<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<T, GmailError> {
        let token = self.access_token().await?;
        let mut response = self.send_with(&request, &token).await?;
        if response.status.as_u16() == 401 {
            self.refresh_after_rejection(&token).await?;
            let token = self.access_token().await?;
            response = self.send_with(&request, &token).await?;
        }
        let status = response.status.as_u16();
        if response.status.is_success() {
            let body: &[u8] = if response.body.iter().all(u8::is_ascii_whitespace) {
                b"{}"
            } else {
                &response.body
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
        let error = GmailError::from_response(status, &response.body);
        if response.status.is_server_error() && request.replay == Replay::NotIdempotent {
            // A 5xx may come after Gmail acted on the send.
            return Err(GmailError::SendOutcomeUnknown {
                detail: error.to_string(),
            });
        }
        Err(error)
    }

    /// One trip through the shared layer with `token`; a transport failure
    /// after the request may have left makes a send's outcome unknown.
    async fn send_with(
        &self,
        request: &ApiRequest,
        token: &SecretString,
    ) -> Result<Response, GmailError> {
        let idempotency = match request.replay {
            Replay::Safe => Idempotency::Idempotent,
            Replay::NotIdempotent => Idempotency::NonIdempotent,
        };
        let build = |client: &reqwest::Client| {
            let builder = client
                .request(request.method.clone(), request.url.clone())
                .bearer_auth(token.expose_secret());
            match &request.body {
                RequestBody::Json(json) => builder.json(json),
                RequestBody::Bytes {
                    content_type,
                    bytes,
                } => builder
                    .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                    .body(bytes.clone()),
                RequestBody::Empty => builder,
            }
        };
        let classify = |response: &Response| failure_of(response, self.clock.now());
        self.http
            .send_classified(idempotency, request.quota_units, build, classify)
            .await
            .map_err(|err| match err {
                // A failed connect never reached Gmail.
                HttpError::Connect(_) | HttpError::Setup(_) => {
                    GmailError::Transport(err.to_string())
                }
                _ if request.replay == Replay::NotIdempotent => GmailError::SendOutcomeUnknown {
                    detail: err.to_string(),
                },
                _ => GmailError::Transport(err.to_string()),
            })
    }

    /// The media upload form of an endpoint: `/upload` before `/gmail/v1`.
    pub(super) fn upload_endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.endpoint(segments);
        let path = url.path().to_string();
        if let Some(at) = path.rfind("/gmail/v1/users/") {
            url.set_path(&format!("{}/upload{}", &path[..at], &path[at..]));
        }
        url
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
