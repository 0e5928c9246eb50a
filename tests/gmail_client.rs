//! The Gmail client, OAuth login and token store against small axum stubs
//! standing in for Google's token endpoint and the Gmail API (127.0.0.1 only).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine;
use chrono::{DateTime, Utc};
use outpost::clock::{FakeClock, SharedClock};
use outpost::providers::gmail::encoding::decode_base64_lenient;
use outpost::providers::gmail::{
    GMAIL_MODIFY_SCOPE, GmailClient, GmailClientConfig, GmailError, HistoryType, ListMessagesQuery,
    MessageFormat, OAuthParams, RetryPolicy, TokenSet, TokenStore, login,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Digest;
use url::Url;

const CLIENT_SECRET: &str = "GOCSPX-client-secret-value";
const OLD_ACCESS: &str = "ya29.old-access-token";
const REFRESH: &str = "1//refresh-token-value";

#[derive(Debug, Clone)]
struct ApiCall {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    bearer: Option<String>,
    body: String,
}

/// Status, JSON body, and a `Retry-After` header in seconds.
type ScriptedAnswer = (u16, Value, Option<u64>);

#[derive(Default)]
struct StubState {
    token_calls: Mutex<Vec<HashMap<String, String>>>,
    token_script: Mutex<VecDeque<(u16, Value)>>,
    api_calls: Mutex<Vec<ApiCall>>,
    /// Per path: status, body and a `Retry-After` header in seconds; a path
    /// with nothing scripted answers 404 notFound.
    api_script: Mutex<HashMap<String, VecDeque<ScriptedAnswer>>>,
}

struct Stub {
    base: Url,
    state: Arc<StubState>,
}

impl Stub {
    async fn start() -> Self {
        let state = Arc::new(StubState::default());
        let app = Router::new()
            .route("/token", post(token_endpoint))
            .fallback(api_endpoint)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: Url::parse(&format!("http://{addr}/")).unwrap(),
            state,
        }
    }

    fn params(&self) -> OAuthParams {
        OAuthParams {
            client_id: "client-123.apps.googleusercontent.com".into(),
            client_secret: SecretString::from(CLIENT_SECRET),
            auth_url: self.base.join("auth").unwrap(),
            token_url: self.base.join("token").unwrap(),
            scopes: vec![GMAIL_MODIFY_SCOPE.into()],
        }
    }

    fn script(&self, path: &str, status: u16, body: Value) {
        self.script_answer(path, status, body, None);
    }

    fn script_answer(&self, path: &str, status: u16, body: Value, retry_after: Option<u64>) {
        self.state
            .api_script
            .lock()
            .unwrap()
            .entry(format!("/gmail/v1/users/me/{path}"))
            .or_default()
            .push_back((status, body, retry_after));
    }

    fn script_token(&self, status: u16, body: Value) {
        self.state
            .token_script
            .lock()
            .unwrap()
            .push_back((status, body));
    }

    fn api_calls(&self) -> Vec<ApiCall> {
        self.state.api_calls.lock().unwrap().clone()
    }

    fn token_calls(&self) -> Vec<HashMap<String, String>> {
        self.state.token_calls.lock().unwrap().clone()
    }
}

async fn token_endpoint(
    State(state): State<Arc<StubState>>,
    Form(form): Form<HashMap<String, String>>,
) -> impl IntoResponse {
    let n = {
        let mut calls = state.token_calls.lock().unwrap();
        calls.push(form);
        calls.len()
    };
    let scripted = state.token_script.lock().unwrap().pop_front();
    let (status, body) = scripted.unwrap_or_else(|| {
        (
            200,
            json!({"access_token": format!("ya29.fresh-{n}"), "expires_in": 3599,
                   "scope": GMAIL_MODIFY_SCOPE, "token_type": "Bearer"}),
        )
    });
    (StatusCode::from_u16(status).unwrap(), axum::Json(body))
}

async fn api_endpoint(
    State(state): State<Arc<StubState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    state.api_calls.lock().unwrap().push(ApiCall {
        method: method.to_string(),
        path: uri.path().to_string(),
        query,
        bearer,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let scripted = state
        .api_script
        .lock()
        .unwrap()
        .get_mut(uri.path())
        .and_then(VecDeque::pop_front);
    let (status, body, retry_after) = scripted.unwrap_or_else(|| {
        (
            404,
            google_error(404, "notFound", "Requested entity was not found."),
            None,
        )
    });
    let mut headers = HeaderMap::new();
    if let Some(seconds) = retry_after {
        headers.insert("retry-after", seconds.to_string().parse().unwrap());
    }
    (
        StatusCode::from_u16(status).unwrap(),
        headers,
        axum::Json(body),
    )
}

fn google_error(code: u16, reason: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": "SOMETHING"}})
}

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-08T06:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Fixture {
    stub: Stub,
    clock: FakeClock,
    store: TokenStore,
    client: GmailClient,
    _dir: tempfile::TempDir,
}

/// A client whose stored access token expires `valid_for` after the fake now.
async fn fixture(valid_for: chrono::Duration) -> Fixture {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path(), "me-gmail").unwrap();
    let clock = FakeClock::new(start_time());
    store
        .save(&TokenSet {
            access_token: SecretString::from(OLD_ACCESS),
            refresh_token: Some(SecretString::from(REFRESH)),
            expires_at: Some(start_time() + valid_for),
            scopes: vec![GMAIL_MODIFY_SCOPE.into()],
        })
        .unwrap();
    let shared: SharedClock = Arc::new(clock.clone());
    let client = GmailClient::new(GmailClientConfig {
        api_base_url: stub.base.clone(),
        user: "me".into(),
        account: "me-gmail".into(),
        oauth: stub.params(),
        token_store: store.clone(),
        clock: shared,
        max_concurrency: 4,
    })
    .unwrap()
    .with_retry_policy(RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        min_rate_limited_wait: Duration::from_millis(1),
        ..RetryPolicy::default()
    });
    Fixture {
        stub,
        clock,
        store,
        client,
        _dir: dir,
    }
}

fn assert_no_secret(text: &str) {
    for secret in [CLIENT_SECRET, OLD_ACCESS, REFRESH, "ya29.fresh"] {
        assert!(
            !text.contains(secret),
            "secret {secret:?} leaked in {text:?}"
        );
    }
}

fn assert_error_hides_secrets(err: &GmailError) {
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));
}

/// Forwards everything `login` prints to the test, line by line.
struct LineSender(tokio::sync::mpsc::UnboundedSender<String>, Vec<u8>);

impl Write for LineSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        while let Some(pos) = self.1.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.1.drain(..=pos).collect();
            let _ = self
                .0
                .send(String::from_utf8_lossy(&line).trim().to_string());
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `login` with `no_browser`, plays the browser with `redirect`, and
/// returns the login result plus the authorization URL that was printed.
async fn run_login<F, Fut>(stub: &Stub, redirect: F) -> (Result<TokenSet, GmailError>, Url)
where
    F: FnOnce(Url) -> Fut,
    Fut: Future<Output = ()>,
{
    let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let mut out = LineSender(sender, Vec::new());
    let auth_prefix = stub.base.join("auth").unwrap().to_string();
    let browser = async {
        loop {
            let line = lines.recv().await.expect("login printed no URL");
            if line.starts_with(&auth_prefix) {
                let url = Url::parse(&line).unwrap();
                redirect(url.clone()).await;
                return url;
            }
        }
    };
    let (result, url) = tokio::join!(login(stub.params(), true, &mut out), browser);
    (result, url)
}

fn query_map(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

async fn follow_redirect(redirect_uri: &str, query: &[(&str, &str)]) -> reqwest::Response {
    let mut target = Url::parse(redirect_uri).unwrap();
    target.query_pairs_mut().extend_pairs(query);
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(target)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn login_runs_the_loopback_pkce_flow() {
    let stub = Stub::start().await;
    stub.script_token(
        200,
        json!({"access_token": "ya29.fresh-login", "expires_in": 3599,
               "refresh_token": REFRESH, "scope": GMAIL_MODIFY_SCOPE, "token_type": "Bearer"}),
    );
    let (result, auth_url) = run_login(&stub, |url| async move {
        let q = query_map(&url);
        let response = follow_redirect(
            &q["redirect_uri"],
            &[
                ("state", &q["state"]),
                ("code", "4/0Acode"),
                ("scope", GMAIL_MODIFY_SCOPE),
            ],
        )
        .await;
        assert_eq!(response.status(), 200);
        assert!(response.text().await.unwrap().contains("signed in"));
    })
    .await;
    let tokens = result.unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "ya29.fresh-login");
    assert_eq!(
        tokens.refresh_token.as_ref().unwrap().expose_secret(),
        REFRESH
    );
    assert!(tokens.has_scope(GMAIL_MODIFY_SCOPE));
    assert!(tokens.expires_at.is_some());

    // The authorization URL: everything Google needs, never the secret.
    let q = query_map(&auth_url);
    assert_eq!(q["client_id"], "client-123.apps.googleusercontent.com");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], GMAIL_MODIFY_SCOPE);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"));
    assert!(!q["state"].is_empty());
    assert!(!auth_url.as_str().contains(CLIENT_SECRET));

    // The exchange: code, identical redirect_uri, secret and the PKCE verifier.
    let calls = stub.token_calls();
    assert_eq!(calls.len(), 1);
    let form = &calls[0];
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "4/0Acode");
    assert_eq!(form["redirect_uri"], q["redirect_uri"]);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    let verifier = &form["code_verifier"];
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(challenge, q["code_challenge"]);

    // Stored with mode 0600.
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path(), "me-gmail").unwrap();
    store.save(&tokens).unwrap();
    assert_eq!(
        store.path(),
        Some(dir.path().join("tokens").join("me-gmail.json").as_path())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_no_secret(&format!("{tokens:?}"));
}

#[tokio::test]
async fn login_rejects_a_wrong_state_and_a_denial() {
    let stub = Stub::start().await;
    let (result, _) = run_login(&stub, |url| async move {
        let q = query_map(&url);
        let response =
            follow_redirect(&q["redirect_uri"], &[("state", "forged"), ("code", "4/x")]).await;
        assert_eq!(response.status(), 400);
    })
    .await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("wrong state"), "{err}");

    let (result, _) = run_login(&stub, |url| async move {
        let q = query_map(&url);
        // A favicon request first must not end the flow.
        let favicon = follow_redirect(&q["redirect_uri"], &[]).await;
        assert_eq!(favicon.status(), 404);
        follow_redirect(
            &q["redirect_uri"],
            &[("state", &q["state"]), ("error", "access_denied")],
        )
        .await;
    })
    .await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("access_denied"), "{err}");
    // Neither attempt reached the token endpoint.
    assert!(stub.token_calls().is_empty());
}

#[tokio::test]
async fn refreshes_before_expiry_per_injected_clock() {
    let f = fixture(chrono::Duration::seconds(30)).await;
    f.stub.script(
        "profile",
        200,
        json!({"emailAddress": "rep@acme.io", "historyId": "74012"}),
    );
    f.stub.script(
        "profile",
        200,
        json!({"emailAddress": "rep@acme.io", "historyId": "74013"}),
    );
    f.stub.script(
        "profile",
        200,
        json!({"emailAddress": "rep@acme.io", "historyId": "74014"}),
    );

    let profile = f.client.profile().await.unwrap();
    assert_eq!(profile.history_id, Some(74012));
    let tokens = f.stub.token_calls();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["grant_type"], "refresh_token");
    assert_eq!(tokens[0]["refresh_token"], REFRESH);
    assert_eq!(tokens[0]["client_secret"], CLIENT_SECRET);
    assert_eq!(
        f.stub.api_calls()[0].bearer.as_deref(),
        Some("ya29.fresh-1")
    );

    // The refreshed token was persisted, keeping the refresh token.
    let stored = f.store.load().unwrap().unwrap();
    assert_eq!(stored.access_token.expose_secret(), "ya29.fresh-1");
    assert_eq!(stored.refresh_token.unwrap().expose_secret(), REFRESH);

    // Still valid: no refresh.
    f.client.profile().await.unwrap();
    assert_eq!(f.stub.token_calls().len(), 1);

    // Less than a minute left: refresh again.
    f.clock.advance(chrono::Duration::seconds(3599 - 59));
    f.client.profile().await.unwrap();
    assert_eq!(f.stub.token_calls().len(), 2);
    assert_eq!(
        f.stub.api_calls()[2].bearer.as_deref(),
        Some("ya29.fresh-2")
    );
}

#[tokio::test]
async fn refreshes_once_on_401_and_retries() {
    let f = fixture(chrono::Duration::hours(1)).await;
    f.stub.script(
        "profile",
        401,
        google_error(401, "authError", "Invalid Credentials"),
    );
    f.stub
        .script("profile", 200, json!({"emailAddress": "rep@acme.io"}));
    let profile = f.client.profile().await.unwrap();
    assert_eq!(profile.email_address.as_deref(), Some("rep@acme.io"));
    let calls = f.stub.api_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].bearer.as_deref(), Some(OLD_ACCESS));
    assert_eq!(calls[1].bearer.as_deref(), Some("ya29.fresh-1"));
    assert_eq!(f.stub.token_calls().len(), 1);

    // A second 401 right after the refresh is returned, not looped on.
    f.stub.script(
        "profile",
        401,
        google_error(401, "authError", "Invalid Credentials"),
    );
    f.stub.script(
        "profile",
        401,
        google_error(401, "authError", "Invalid Credentials"),
    );
    let err = f.client.profile().await.unwrap_err();
    assert!(
        matches!(err, GmailError::Api { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(f.stub.token_calls().len(), 2);
    assert_error_hides_secrets(&err);
}

#[tokio::test]
async fn invalid_grant_means_log_in_again() {
    let f = fixture(chrono::Duration::seconds(-10)).await;
    f.stub.script_token(
        400,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
    );
    let err = f.client.profile().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "account me-gmail needs to log in again: run `outpost auth gmail --account me-gmail`"
    );
    assert!(matches!(err, GmailError::NeedsLogin { .. }));
    assert_eq!(
        f.stub.token_calls().len(),
        1,
        "no retry loop on invalid_grant"
    );
    assert!(f.stub.api_calls().is_empty());
    assert_error_hides_secrets(&err);
}

#[tokio::test]
async fn a_sign_in_made_while_the_client_runs_is_picked_up_after_a_revoked_token() {
    // Valid by its clock, but Google revoked it: a 401, then invalid_grant.
    let f = fixture(chrono::Duration::hours(1)).await;
    f.stub.script(
        "profile",
        401,
        google_error(401, "authError", "Invalid Credentials"),
    );
    f.stub.script_token(
        400,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
    );
    let err = f.client.profile().await.unwrap_err();
    assert!(matches!(err, GmailError::NeedsLogin { .. }), "{err:?}");

    // `outpost auth gmail` beside the running process writes new tokens.
    f.store
        .save(&TokenSet {
            access_token: SecretString::from("ya29.after-sign-in"),
            refresh_token: Some(SecretString::from("1//new-refresh")),
            expires_at: Some(start_time() + chrono::Duration::hours(1)),
            scopes: vec![GMAIL_MODIFY_SCOPE.into()],
        })
        .unwrap();
    f.stub
        .script("profile", 200, json!({"emailAddress": "rep@acme.io"}));
    f.client.profile().await.unwrap();
    let calls = f.stub.api_calls();
    assert_eq!(
        calls.last().unwrap().bearer.as_deref(),
        Some("ya29.after-sign-in")
    );
}

#[tokio::test]
async fn a_failing_token_endpoint_is_unavailable_not_a_refusal_and_the_next_call_recovers() {
    let f = fixture(chrono::Duration::seconds(-10)).await;
    // A 500 whose body is neither a token nor an OAuth error.
    f.stub.script_token(
        500,
        json!({"error": {"code": 500, "message": "Internal error"}}),
    );
    let err = f.client.profile().await.unwrap_err();
    assert!(
        matches!(err, GmailError::TokenEndpointUnavailable(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("unavailable for now"), "{err}");
    assert!(f.stub.api_calls().is_empty());
    assert_error_hides_secrets(&err);
    f.stub
        .script("profile", 200, json!({"emailAddress": "me@acme.example"}));
    f.client
        .profile()
        .await
        .expect("the next call refreshes and works");
    assert_eq!(f.stub.token_calls().len(), 2);
}

#[tokio::test]
async fn missing_token_file_means_log_in() {
    let f = fixture(chrono::Duration::hours(1)).await;
    f.store.delete().unwrap();
    let err = f.client.profile().await.unwrap_err();
    assert!(matches!(err, GmailError::NeedsLogin { ref account } if account == "me-gmail"));
}

#[tokio::test]
async fn expired_history_cursor_asks_for_full_resync() {
    let f = fixture(chrono::Duration::hours(1)).await;
    f.stub.script(
        "history",
        404,
        google_error(404, "notFound", "Requested entity was not found."),
    );
    let err = f
        .client
        .list_history_since(1234, &[HistoryType::MessageAdded])
        .await
        .unwrap_err();
    assert!(matches!(err, GmailError::HistoryExpired), "{err:?}");
    assert_eq!(f.stub.api_calls().len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn history_pages_are_followed_and_cursor_taken_from_last_page() {
    let f = fixture(chrono::Duration::hours(1)).await;
    f.stub.script(
        "history",
        200,
        json!({"history": [{"id": "74005", "messagesAdded": [{"message": {"id": "a", "threadId": "a"}}]}],
               "nextPageToken": "p2", "historyId": "74010"}),
    );
    f.stub.script(
        "history",
        200,
        json!({"history": [{"id": "74009"}], "historyId": "74012"}),
    );
    let delta = f
        .client
        .list_history_since(
            74000,
            &[HistoryType::MessageAdded, HistoryType::LabelRemoved],
        )
        .await
        .unwrap();
    assert_eq!(delta.records.len(), 2);
    assert_eq!(delta.history_id, Some(74012));
    let calls = f.stub.api_calls();
    let first: Vec<_> = calls[0]
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(first.contains(&("startHistoryId", "74000")));
    assert!(first.contains(&("historyTypes", "messageAdded")));
    assert!(first.contains(&("historyTypes", "labelRemoved")));
    assert!(calls[1].query.contains(&("pageToken".into(), "p2".into())));
}

#[tokio::test]
async fn reads_retry_on_429_5xx_and_rate_limit_403() {
    let f = fixture(chrono::Duration::hours(1)).await;
    f.stub.script(
        "labels",
        429,
        google_error(
            429,
            "rateLimitExceeded",
            "Resource has been exhausted (e.g. check quota).",
        ),
    );
    f.stub.script(
        "labels",
        503,
        google_error(503, "backendError", "Backend Error"),
    );
    f.stub.script(
        "labels",
        403,
        google_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded"),
    );
    f.stub.script(
        "labels",
        200,
        json!({"labels": [{"id": "INBOX", "name": "INBOX", "type": "system"}]}),
    );
    let labels = f.client.list_labels().await.unwrap();
    assert_eq!(labels[0].id.as_deref(), Some("INBOX"));
    assert_eq!(f.stub.api_calls().len(), 4);
    // What `/metrics` reports for the account.
    let counted = f.client.metrics();
    assert_eq!(
        (counted.requests, counted.retries, counted.rate_limited),
        (4, 3, 2)
    );
}

#[tokio::test]
async fn a_429_waits_for_retry_after_through_the_shared_layer() {
    let f = fixture(chrono::Duration::hours(1)).await;
    let raw = b"From: rep@acme.io\r\nTo: ann@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
    // The fixture's own waits are a millisecond; only the header can make
    // the retry wait a whole second.
    f.stub.script_answer(
        "messages/send",
        429,
        google_error(429, "rateLimitExceeded", "Too many concurrent requests."),
        Some(1),
    );
    f.stub.script(
        "messages/send",
        200,
        json!({"id": "18f7", "threadId": "t1", "labelIds": ["SENT"]}),
    );
    let started = std::time::Instant::now();
    let sent = f.client.send(raw, Some("t1")).await.unwrap();
    assert_eq!(sent.id.as_deref(), Some("18f7"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried after {:?}, before the server's Retry-After",
        started.elapsed()
    );
    assert_eq!(f.stub.api_calls().len(), 2, "one retry");
    let counted = f.client.metrics();
    assert_eq!(
        (counted.requests, counted.retries, counted.rate_limited),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn daily_limit_and_missing_permissions_are_not_retried() {
    let f = fixture(chrono::Duration::hours(1)).await;
    f.stub.script(
        "profile",
        403,
        google_error(403, "dailyLimitExceeded", "Daily Limit Exceeded"),
    );
    let err = f.client.profile().await.unwrap_err();
    assert_eq!(err.reason(), Some("dailyLimitExceeded"));
    assert!(err.to_string().contains("Daily Limit Exceeded"));
    f.stub.script(
        "profile",
        403,
        google_error(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        ),
    );
    let err = f.client.profile().await.unwrap_err();
    assert_eq!(err.reason(), Some("insufficientPermissions"));
    assert_eq!(f.stub.api_calls().len(), 2);
}

#[tokio::test]
async fn retries_give_up_after_the_policy_limit() {
    let f = fixture(chrono::Duration::hours(1)).await;
    for _ in 0..10 {
        f.stub.script(
            "profile",
            500,
            google_error(500, "backendError", "Backend Error"),
        );
    }
    let err = f.client.profile().await.unwrap_err();
    assert!(matches!(err, GmailError::Api { status: 500, .. }));
    assert_eq!(f.stub.api_calls().len(), 4, "first try + 3 retries");
}

#[tokio::test]
async fn send_is_not_retried_on_5xx_but_is_on_429() {
    let f = fixture(chrono::Duration::hours(1)).await;
    let raw = b"From: rep@acme.io\r\nTo: ann@example.com\r\nSubject: hi\r\n\r\nhello\r\n";

    f.stub.script(
        "messages/send",
        503,
        google_error(503, "backendError", "Backend Error"),
    );
    f.stub.script(
        "messages/send",
        200,
        json!({"id": "never", "threadId": "never"}),
    );
    let err = f.client.send(raw, Some("t1")).await.unwrap_err();
    assert!(
        matches!(err, GmailError::SendOutcomeUnknown { .. }),
        "{err:?}"
    );
    assert_eq!(f.stub.api_calls().len(), 1);
    assert_error_hides_secrets(&err);

    f.stub.state.api_script.lock().unwrap().clear();
    f.stub.script(
        "messages/send",
        429,
        google_error(429, "rateLimitExceeded", "User-rate limit exceeded."),
    );
    f.stub.script(
        "messages/send",
        200,
        json!({"id": "18f6", "threadId": "t1", "labelIds": ["SENT"]}),
    );
    let sent = f.client.send(raw, Some("t1")).await.unwrap();
    assert_eq!(sent.id.as_deref(), Some("18f6"));
    assert!(sent.has_label("SENT"));
    let calls = f.stub.api_calls();
    assert_eq!(calls.len(), 3);
    let body: Value = serde_json::from_str(&calls[2].body).unwrap();
    assert_eq!(body["threadId"], "t1");
    let decoded = decode_base64_lenient(body["raw"].as_str().unwrap()).unwrap();
    assert_eq!(decoded, raw);
    assert_eq!(calls[2].method, "POST");
}

#[tokio::test]
async fn listing_paging_bulk_get_and_reconcile() {
    let f = fixture(chrono::Duration::hours(1)).await;
    f.stub.script(
        "messages",
        200,
        json!({"messages": [{"id": "a", "threadId": "a"}, {"id": "b", "threadId": "a"}],
               "nextPageToken": "n1", "resultSizeEstimate": 3}),
    );
    f.stub.script(
        "messages",
        200,
        json!({"messages": [{"id": "c", "threadId": "c"}]}),
    );
    let query = ListMessagesQuery {
        q: Some("newer_than:7d".into()),
        label_ids: vec!["INBOX".into(), "UNREAD".into()],
        ..ListMessagesQuery::default()
    };
    let ids = f.client.list_all_message_ids(&query, None).await.unwrap();
    let ids: Vec<String> = ids.into_iter().filter_map(|m| m.id).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let first = &f.stub.api_calls()[0];
    let labels: Vec<_> = first
        .query
        .iter()
        .filter(|(k, _)| k == "labelIds")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(labels, ["INBOX", "UNREAD"]);
    assert!(first.query.contains(&("q".into(), "newer_than:7d".into())));

    // "b" vanished (404): skipped; order kept.
    f.stub.script(
        "messages/a",
        200,
        json!({"id": "a", "threadId": "a", "raw": "eA=="}),
    );
    f.stub.script(
        "messages/c",
        200,
        json!({"id": "c", "threadId": "c", "raw": "eQ"}),
    );
    let messages = f
        .client
        .get_messages(&ids, MessageFormat::Raw)
        .await
        .unwrap();
    let got: Vec<_> = messages.iter().filter_map(|m| m.id.as_deref()).collect();
    assert_eq!(got, ["a", "c"]);
    assert!(
        f.stub
            .api_calls()
            .iter()
            .any(|c| c.path.ends_with("/messages/b")
                && c.query.contains(&("format".into(), "raw".into())))
    );

    f.stub.script(
        "messages",
        200,
        json!({"messages": [{"id": "s1", "threadId": "t1"}]}),
    );
    let found = f
        .client
        .find_by_message_id("<outpost-1@acme.io>")
        .await
        .unwrap();
    assert_eq!(found.and_then(|m| m.id).as_deref(), Some("s1"));
    let last = f.stub.api_calls().pop().unwrap();
    assert!(
        last.query
            .contains(&("q".into(), "rfc822msgid:outpost-1@acme.io".into()))
    );
    assert!(last.query.contains(&("labelIds".into(), "SENT".into())));

    f.stub
        .script("messages", 200, json!({"resultSizeEstimate": 0}));
    assert!(
        f.client
            .find_by_message_id("gone@acme.io")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn modify_marks_read() {
    let f = fixture(chrono::Duration::hours(1)).await;
    f.stub.script(
        "messages/a/modify",
        200,
        json!({"id": "a", "threadId": "a", "labelIds": ["INBOX"]}),
    );
    let message = f.client.mark_read("a").await.unwrap();
    assert!(!message.has_label("UNREAD"));
    let call = f.stub.api_calls().pop().unwrap();
    assert_eq!(call.method, "POST");
    let body: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(body, json!({"removeLabelIds": ["UNREAD"]}));
}

#[tokio::test]
async fn calls_are_paced_by_quota_units() {
    let f = fixture(chrono::Duration::hours(1)).await;
    let client = f
        .client
        .with_quota_units_per_minute(std::num::NonZeroU32::new(10).unwrap());
    f.stub.script(
        "threads/t1",
        200,
        json!({"id": "t1", "messages": [{"id": "a"}, {"id": "b"}]}),
    );
    f.stub.script("threads/t1", 200, json!({"id": "t1"}));
    // threads.get costs 10 units: the first fits the budget, the second must
    // wait for the next minute.
    let thread = client
        .get_thread("t1", outpost::providers::gmail::ThreadFormat::Full)
        .await
        .unwrap();
    assert_eq!(thread.messages.len(), 2);
    let second = tokio::time::timeout(
        Duration::from_millis(300),
        client.get_thread("t1", outpost::providers::gmail::ThreadFormat::Minimal),
    )
    .await;
    assert!(
        second.is_err(),
        "second call should be held back by the quota"
    );
    assert_eq!(f.stub.api_calls().len(), 1);
    assert_eq!(client.metrics().rate_limit_waits, 1, "the wait is counted");
    assert!(
        f.stub.api_calls()[0]
            .query
            .contains(&("format".into(), "full".into()))
    );
}
