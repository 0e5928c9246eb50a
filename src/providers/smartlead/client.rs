//! The client handle, its configuration, and the request plumbing every
//! endpoint shares (URL building, status mapping, envelopes).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::error::{SmartleadError, error_text};
use crate::providers::http::{
    HttpMetricsSnapshot, HttpTransport, Idempotency, RateLimit, RateLimiterRegistry, Response,
    RetryPolicy, Timeouts, build_client,
};

/// Everything needed to talk to one Smartlead account.
#[derive(Debug, Clone)]
pub struct SmartleadConfig {
    /// e.g. `https://server.smartlead.ai/api/v1`, or the sandbox's URL.
    pub base_url: Url,
    pub api_key: SecretString,
    /// Shared by every client using the same key in this process.
    pub rate_limit: RateLimit,
    /// Retries after the first attempt (429, 5xx, connection errors).
    pub max_retries: u32,
    /// First backoff step for 5xx and connection errors; doubles per retry.
    pub retry_base_delay: Duration,
    /// Wait after a 429 that carries no `Retry-After` (plus jitter).
    pub min_rate_limited_wait: Duration,
    /// No retry starts if it would end later than this after the first try.
    pub max_retry_time: Duration,
    pub timeouts: Timeouts,
}

impl SmartleadConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://server.smartlead.ai/api/v1";

    /// Defaults: 10 requests / 2 s, 4 retries, ≥ 2 s after an unexplained 429.
    pub fn new(base_url: Url, api_key: SecretString) -> Self {
        let retry = RetryPolicy::default();
        Self {
            base_url,
            api_key,
            rate_limit: RateLimit::default(),
            max_retries: retry.max_retries,
            retry_base_delay: retry.base_delay,
            min_rate_limited_wait: retry.min_rate_limited_wait,
            max_retry_time: retry.max_total,
            timeouts: Timeouts::default(),
        }
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base_delay: self.retry_base_delay,
            min_rate_limited_wait: self.min_rate_limited_wait,
            max_total: self.max_retry_time,
            ..RetryPolicy::default()
        }
    }
}

/// A Smartlead API client. Cheap to clone; clones share the connection pool,
/// the rate limiter and the counters.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    base_url: Url,
    api_key: SecretString,
    http: HttpTransport,
}

impl fmt::Debug for Client {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("smartlead::Client")
            .field("base_url", &self.inner.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// A request body, or none.
#[derive(Clone, Copy)]
pub(super) enum Body<'a> {
    None,
    Json(&'a Value),
}

impl Client {
    pub fn new(config: SmartleadConfig) -> Result<Self, SmartleadError> {
        let base_url = config.base_url.clone();
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(SmartleadError::InvalidInput(format!(
                "base_url must be an http(s) URL such as {}, got {}",
                SmartleadConfig::DEFAULT_BASE_URL,
                crate::providers::http::redact(base_url.as_str())
            )));
        }
        if config.api_key.expose_secret().trim().is_empty() {
            return Err(SmartleadError::InvalidInput(
                "the Smartlead API key is empty; set api_key, api_key_env or api_key_cmd".into(),
            ));
        }
        let client = build_client(&config.timeouts)?;
        let limiter = RateLimiterRegistry::global()
            .limiter(config.api_key.expose_secret(), config.rate_limit);
        let http = HttpTransport::new(client, limiter, config.retry_policy());
        Ok(Self {
            inner: Arc::new(Inner {
                base_url,
                api_key: config.api_key,
                http,
            }),
        })
    }

    /// Request, retry, 429 and rate-limit-wait counters.
    pub fn metrics(&self) -> HttpMetricsSnapshot {
        self.inner.http.metrics()
    }

    /// `base_url` + `segments` (an empty last segment gives a trailing
    /// slash) + `query` + the API key.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.inner.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
            pairs.append_pair("api_key", self.inner.api_key.expose_secret());
        }
        url
    }

    /// Sends one call and maps a non-2xx answer to an error.
    pub(super) async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Body<'_>,
        idempotency: Idempotency,
    ) -> Result<Response, SmartleadError> {
        let url = self.url(segments, query);
        let response = self
            .inner
            .http
            .send(idempotency, |client| {
                let request = client.request(method.clone(), url.clone());
                match body {
                    Body::None => request,
                    Body::Json(json) => request.json(json),
                }
            })
            .await?;
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(SmartleadError::from_status(
                response.status,
                &response.body,
                response.retry_after(),
            ))
        }
    }

    /// GET and return the payload (envelope removed).
    pub(super) async fn get_payload(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, SmartleadError> {
        let response = self
            .call(
                Method::GET,
                segments,
                query,
                Body::None,
                Idempotency::Idempotent,
            )
            .await?;
        payload(body_value(&response)?)
    }

    /// GET and decode the payload as `T`.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        what: &str,
    ) -> Result<T, SmartleadError> {
        decode(self.get_payload(segments, query).await?, what)
    }

    /// GET a list (bare array or `{ok,data:[…]}`; `null` is empty).
    pub(super) async fn get_list<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        what: &str,
    ) -> Result<Vec<T>, SmartleadError> {
        match self.get_payload(segments, query).await? {
            Value::Null => Ok(Vec::new()),
            list => decode(list, what),
        }
    }

    /// A write whose answer only says whether it worked (`{"ok":true}`,
    /// `{"ok":true,"data":"success"}`, `{"success":true,…}`, plain `success`).
    pub(super) async fn write(
        &self,
        method: Method,
        segments: &[&str],
        body: &Value,
        idempotency: Idempotency,
    ) -> Result<Value, SmartleadError> {
        let response = self
            .call(method, segments, &[], Body::Json(body), idempotency)
            .await?;
        payload(body_value(&response)?)
    }
}

/// The JSON of a 2xx body; plain-text `success` and an empty body are read as
/// JSON strings / null.
pub(super) fn body_value(response: &Response) -> Result<Value, SmartleadError> {
    let text = response.text();
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(value) => Ok(value),
        Err(_) if trimmed.eq_ignore_ascii_case("success") => Ok(Value::String("success".into())),
        Err(error) => Err(SmartleadError::Decode(format!(
            "the body is not JSON ({error}): {}",
            error_text(trimmed.as_bytes())
        ))),
    }
}

/// Strips `{ok,data}` / `{success,data}` envelopes; an explicit
/// `ok:false` / `success:false` is an error.
pub(super) fn payload(value: Value) -> Result<Value, SmartleadError> {
    let Value::Object(mut fields) = value else {
        return Ok(value);
    };
    let flag = fields
        .get("ok")
        .or_else(|| fields.get("success"))
        .and_then(Value::as_bool);
    match flag {
        Some(false) => {
            let body = Value::Object(fields).to_string();
            Err(SmartleadError::Rejected(error_text(body.as_bytes())))
        }
        Some(true) if fields.contains_key("data") => {
            Ok(fields.remove("data").unwrap_or(Value::Null))
        }
        _ => Ok(Value::Object(fields)),
    }
}

pub(super) fn decode<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, SmartleadError> {
    serde_json::from_value(value)
        .map_err(|error| SmartleadError::Decode(format!("could not read {what}: {error}")))
}

/// Checks a page size against Smartlead's bounds before sending.
pub(super) fn check_limit(limit: u64, max: u64) -> Result<(), SmartleadError> {
    if (1..=max).contains(&limit) {
        Ok(())
    } else {
        Err(SmartleadError::InvalidInput(format!(
            "page limit must be between 1 and {max}, got {limit}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_are_removed_and_failures_reported() {
        assert_eq!(payload(json!([1, 2])).ok(), Some(json!([1, 2])));
        assert_eq!(
            payload(json!({"ok":true,"data":[1]})).ok(),
            Some(json!([1]))
        );
        assert_eq!(
            payload(json!({"success":true,"data":{"id":3}})).ok(),
            Some(json!({"id":3}))
        );
        assert_eq!(payload(json!({"ok":true})).ok(), Some(json!({"ok":true})));
        assert!(matches!(
            payload(json!({"ok":false,"message":"no such lead"})),
            Err(SmartleadError::Rejected(text)) if text == "no such lead"
        ));
    }

    #[test]
    fn urls_carry_the_key_in_the_query_and_keep_trailing_slashes() {
        let base = Url::parse("http://127.0.0.1:9/api/v1").expect("url");
        let client =
            Client::new(SmartleadConfig::new(base, SecretString::from("k-123"))).expect("client");
        let url = client.url(&["campaigns", ""], &[("client_id", "7".into())]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/api/v1/campaigns/?client_id=7&api_key=k-123"
        );
        let url = client.url(&["campaigns", "42", "leads"], &[]);
        assert_eq!(url.path(), "/api/v1/campaigns/42/leads");
        assert!(!format!("{client:?}").contains("k-123"));
    }

    #[test]
    fn rejects_unusable_configuration() {
        let key = || SecretString::from("k");
        let not_http = Url::parse("mailto:a@b.example").expect("url");
        assert!(Client::new(SmartleadConfig::new(not_http, key())).is_err());
        let base = Url::parse("http://127.0.0.1:9/api/v1").expect("url");
        assert!(Client::new(SmartleadConfig::new(base, SecretString::from(" "))).is_err());
    }
}
