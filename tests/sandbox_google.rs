//! End-to-end tests of the Gmail and Google OAuth emulator over real HTTP.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use outpost::clock::FakeClock;
use outpost::sandbox::Contact;
use outpost::sandbox::google::{
    GMAIL_MODIFY_SCOPE, GoogleOptions, GoogleSandbox, InboundMessage, QuotaErrorStyle,
    QuotaSettings, router,
};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

const CLIENT_ID: &str = "outpost-test.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "sandbox-secret";
const EMAIL: &str = "rep@acme.io";

struct Harness {
    base: String,
    sandbox: Arc<GoogleSandbox>,
    clock: FakeClock,
    http: reqwest::Client,
}

fn contacts() -> Vec<Contact> {
    (0..8)
        .map(|i| Contact {
            email: format!("lead{i}@company{i}.example"),
            first_name: format!("Lead{i}"),
            last_name: "Person".into(),
            company: format!("Company {i}"),
        })
        .collect()
}

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-09T14:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

async fn start() -> Harness {
    let clock = FakeClock::new(start_time());
    let sandbox = GoogleSandbox::new(GoogleOptions {
        mailbox_email: EMAIL.into(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        contacts: contacts(),
        campaign_copies: Vec::new(),
        seed: 42,
        clock: Arc::new(clock.clone()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local addr");
    let app = router(sandbox.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Harness {
        base: format!("http://{address}"),
        sandbox,
        clock,
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client"),
    }
}

impl Harness {
    fn gmail(&self, path: &str) -> String {
        format!("{}/gmail/v1/users/me/{path}", self.base)
    }

    fn token(&self) -> String {
        self.sandbox.issue_tokens(GMAIL_MODIFY_SCOPE).access_token
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.gmail(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.gmail(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Run the authorization step and return the redirect's query pairs.
    async fn authorize(&self, params: &[(&str, &str)]) -> (StatusCode, Option<Url>) {
        let response = self
            .http
            .get(format!("{}/o/oauth2/v2/auth", self.base))
            .query(params)
            .send()
            .await
            .expect("authorize");
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Url::parse(v).ok());
        (response.status(), location)
    }
}

fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn assert_envelope(body: &Value, code: u16, reason: &str, status: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["errors"][0]["reason"], reason, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["errors"][0]["domain"].is_string());
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-outpost";
const REDIRECT: &str = "http://127.0.0.1:48123/callback";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

async fn obtain_code(h: &Harness) -> String {
    let challenge = challenge();
    let (status, location) = h
        .authorize(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", GMAIL_MODIFY_SCOPE),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "xyz-123"),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ])
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("redirect location");
    assert_eq!(location.host_str(), Some("127.0.0.1"));
    assert_eq!(location.port(), Some(48123));
    assert_eq!(location.path(), "/callback");
    assert_eq!(query_value(&location, "state").as_deref(), Some("xyz-123"));
    assert_eq!(
        query_value(&location, "scope").as_deref(),
        Some(GMAIL_MODIFY_SCOPE)
    );
    query_value(&location, "code").expect("code")
}

#[tokio::test]
async fn oauth_flow_with_pkce_refresh_and_revoke() {
    let h = start().await;
    let code = obtain_code(&h).await;
    let (status, tokens) = h
        .form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["expires_in"], 3599);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], GMAIL_MODIFY_SCOPE);
    let access = tokens["access_token"].as_str().expect("access").to_string();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();

    let (status, profile) = h.get(&access, "profile").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["emailAddress"], EMAIL);

    // The code is single-use.
    let (status, reuse) = h
        .form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse["error"], "invalid_grant");

    // Refresh gives a new access token and no refresh token.
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let (status, refreshed) = h.form("/token", &refresh_form).await;
    assert_eq!(status, StatusCode::OK);
    assert!(refreshed.get("refresh_token").is_none());
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    assert_eq!(refreshed["expires_in"], 3599);

    // Revoke the refresh token: refreshing now fails with invalid_grant.
    let (status, _) = h.form("/revoke", &[("token", refresh.as_str())]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, dead) = h.form("/token", &refresh_form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        dead,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
    let (status, _) = h.form("/revoke", &[("token", refresh.as_str())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let response = h
        .http
        .post(format!("{}/revoke?token=unknown-token", h.base))
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oauth_authorize_errors() {
    let h = start().await;
    let challenge = challenge();
    let (status, location) = h
        .authorize(&[
            ("client_id", "someone-else"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", GMAIL_MODIFY_SCOPE),
        ])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(location.is_none());

    for redirect in [
        "https://evil.example/cb",
        "http://10.0.0.5:80/",
        "urn:ietf:wg:oauth:2.0:oob",
    ] {
        let (status, location) = h
            .authorize(&[
                ("client_id", CLIENT_ID),
                ("redirect_uri", redirect),
                ("response_type", "code"),
                ("scope", GMAIL_MODIFY_SCOPE),
            ])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{redirect}");
        assert!(location.is_none());
    }

    let bad_requests: [Vec<(&str, &str)>; 4] = [
        vec![("response_type", "token"), ("scope", GMAIL_MODIFY_SCOPE)],
        vec![("response_type", "code")],
        vec![
            ("response_type", "code"),
            ("scope", GMAIL_MODIFY_SCOPE),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S512"),
        ],
        vec![
            ("response_type", "code"),
            ("scope", GMAIL_MODIFY_SCOPE),
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
    ];
    for extra in bad_requests {
        let mut params = vec![
            ("client_id", CLIENT_ID),
            ("redirect_uri", "http://[::1]:9999/"),
            ("state", "s1"),
        ];
        params.extend(extra.iter().copied());
        let (status, location) = h.authorize(&params).await;
        assert_eq!(status, StatusCode::FOUND);
        let location = location.expect("error redirect");
        assert_eq!(
            query_value(&location, "error").as_deref(),
            Some("invalid_request"),
            "{params:?}"
        );
        assert_eq!(query_value(&location, "state").as_deref(), Some("s1"));
        assert!(query_value(&location, "code").is_none());
    }

    let (status, location) = h
        .authorize(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", "http://localhost:7000/"),
            ("response_type", "code"),
            ("scope", GMAIL_MODIFY_SCOPE),
        ])
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.and_then(|l| query_value(&l, "code")).is_some());
}

#[tokio::test]
async fn oauth_token_errors() {
    let h = start().await;
    let code = obtain_code(&h).await;
    let base =
        |secret: Option<&'static str>, verifier: Option<&'static str>, redirect: &'static str| {
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("redirect_uri", redirect),
                ("client_id", CLIENT_ID),
            ];
            form.extend(secret.map(|s| ("client_secret", s)));
            form.extend(verifier.map(|v| ("code_verifier", v)));
            form
        };
    let with_code = |mut form: Vec<(&'static str, &'static str)>, code: &str| {
        let mut owned: Vec<(String, String)> = form
            .drain(..)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        owned.push(("code".into(), code.to_string()));
        owned
    };
    let post = |form: Vec<(String, String)>| {
        let http = h.http.clone();
        let url = format!("{}/token", h.base);
        async move {
            let response = http.post(url).form(&form).send().await.expect("token");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    let (status, body) = post(with_code(base(None, Some(VERIFIER), REDIRECT), &code)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "client_secret is missing."})
    );
    let (status, body) = post(with_code(
        base(Some("wrong"), Some(VERIFIER), REDIRECT),
        &code,
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let (status, body) = post(with_code(base(Some(CLIENT_SECRET), None, REDIRECT), &code)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Missing code verifier."})
    );
    let wrong_verifier = "x".repeat(43);
    let mut form = with_code(base(Some(CLIENT_SECRET), None, REDIRECT), &code);
    form.push(("code_verifier".into(), wrong_verifier));
    let (status, body) = post(form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Invalid code verifier."})
    );
    let (status, body) = post(with_code(
        base(
            Some(CLIENT_SECRET),
            Some(VERIFIER),
            "http://127.0.0.1:1/other",
        ),
        &code,
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "redirect_uri_mismatch");
    let (status, body) = post(with_code(
        base(Some(CLIENT_SECRET), Some(VERIFIER), REDIRECT),
        "4/0Abogus",
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    // The failures above did not consume the code; HTTP Basic client auth works.
    let response = h
        .http
        .post(format!("{}/token", h.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::OK);

    let (status, body) = h
        .form(
            "/token",
            &[
                ("grant_type", "password"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");

    let (status, body) = h
        .form(
            "/device/code",
            &[
                ("client_id", CLIENT_ID),
                ("scope", "https://www.googleapis.com/auth/gmail.readonly"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_scope",
               "error_description": "Invalid device flow scope: https://www.googleapis.com/auth/gmail.readonly"})
    );
    let (status, body) = h
        .form(
            "/device/code",
            &[("client_id", CLIENT_ID), ("scope", "email")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["verification_url"].is_string());
}

#[tokio::test]
async fn access_tokens_expire_and_bad_credentials_get_401() {
    let h = start().await;
    let (status, body) = h.get("", "profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_envelope(&body, 401, "required", "UNAUTHENTICATED");

    let response = h
        .http
        .get(h.gmail("profile"))
        .bearer_auth("ya29.not-a-token")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    let body: Value = response.json().await.expect("json");
    assert_envelope(&body, 401, "authError", "UNAUTHENTICATED");
    assert_eq!(body["error"]["errors"][0]["message"], "Invalid Credentials");
    assert_eq!(body["error"]["errors"][0]["location"], "Authorization");

    let token = h.token();
    let response = h
        .http
        .get(format!("{}?access_token={token}", h.gmail("profile")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    h.clock.advance(Duration::seconds(3598));
    assert_eq!(h.get(&token, "profile").await.0, StatusCode::OK);
    h.clock.advance(Duration::seconds(2));
    let (status, body) = h.get(&token, "profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_envelope(&body, 401, "authError", "UNAUTHENTICATED");

    // Configurable lifetime and the control switch that expires everything.
    h.sandbox.set_access_token_lifetime(120);
    let short = h.sandbox.issue_tokens(GMAIL_MODIFY_SCOPE);
    assert_eq!(short.expires_in, 120);
    assert_eq!(
        h.get(&short.access_token, "profile").await.0,
        StatusCode::OK
    );
    let response = h
        .http
        .post(format!("{}/_sandbox/google/expire-access-tokens", h.base))
        .send()
        .await
        .expect("control");
    assert!(response.status().is_success());
    assert_eq!(
        h.get(&short.access_token, "profile").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(h.sandbox.counters().unauthorized, 4);

    // A refresh token killed by the control API yields invalid_grant.
    let fresh = h.sandbox.issue_tokens(GMAIL_MODIFY_SCOPE);
    h.http
        .post(format!("{}/_sandbox/google/revoke-refresh-tokens", h.base))
        .send()
        .await
        .expect("control");
    let (status, body) = h
        .form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    fresh.refresh_token.as_deref().unwrap_or_default(),
                ),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn scopes_and_user_ids_are_enforced() {
    let h = start().await;
    let send_only = h
        .sandbox
        .issue_tokens("https://www.googleapis.com/auth/gmail.send")
        .access_token;
    let response = h
        .http
        .get(h.gmail("profile"))
        .bearer_auth(&send_only)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("insufficient_scope"))
    );
    let body: Value = response.json().await.expect("json");
    assert_envelope(&body, 403, "insufficientPermissions", "PERMISSION_DENIED");

    let token = h.token();
    let response = h
        .http
        .get(format!("{}/gmail/v1/users/{EMAIL}/profile", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let response = h
        .http
        .get(format!("{}/gmail/v1/users/boss@acme.io/profile", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("json");
    assert_envelope(&body, 403, "forbidden", "PERMISSION_DENIED");
}

#[tokio::test]
async fn listing_paging_and_search() {
    let h = start().await;
    let token = h.token();
    let (status, profile) = h.get(&token, "profile").await;
    assert_eq!(status, StatusCode::OK);
    let total = profile["messagesTotal"].as_u64().expect("total");
    assert!(profile["historyId"].is_string());
    assert!(profile["threadsTotal"].as_u64().is_some_and(|t| t > 8));

    let (_, all) = h.get(&token, "messages?maxResults=500").await;
    let all_ids: Vec<String> = all["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(all_ids.len() as u64, total);
    assert_eq!(all["resultSizeEstimate"], total);
    assert!(all.get("nextPageToken").is_none());
    // Newest first, as Gmail lists them.
    let mut dates = Vec::new();
    for id in &all_ids {
        let (_, message) = h
            .get(&token, &format!("messages/{id}?format=minimal"))
            .await;
        let date: i64 = message["internalDate"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .expect("internalDate");
        dates.push(date);
    }
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");

    let mut paged = Vec::new();
    let mut path = "messages?maxResults=3".to_string();
    loop {
        let (status, page) = h.get(&token, &path).await;
        assert_eq!(status, StatusCode::OK);
        for m in page["messages"].as_array().cloned().unwrap_or_default() {
            assert_eq!(m.as_object().map(|o| o.len()), Some(2));
            paged.push(m["id"].as_str().unwrap_or_default().to_string());
        }
        match page["nextPageToken"].as_str() {
            Some(next) => path = format!("messages?maxResults=3&pageToken={next}"),
            None => break,
        }
    }
    assert_eq!(paged, all_ids);

    let (_, unread_inbox) = h
        .get(
            &token,
            "messages?labelIds=INBOX&labelIds=UNREAD&maxResults=500",
        )
        .await;
    let (_, inbox) = h
        .get(&token, "messages?labelIds=INBOX&maxResults=500")
        .await;
    let unread_count = unread_inbox["resultSizeEstimate"].as_u64().unwrap_or(0);
    assert!(unread_count > 0);
    assert!(unread_count < inbox["resultSizeEstimate"].as_u64().unwrap_or(0));

    let (_, sent) = h.get(&token, "messages?q=in:sent").await;
    let first_sent = sent["messages"][0]["id"]
        .as_str()
        .expect("sent")
        .to_string();
    let (_, message) = h
        .get(
            &token,
            &format!("messages/{first_sent}?format=metadata&metadataHeaders=Message-ID"),
        )
        .await;
    assert!(
        message["labelIds"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("SENT")))
    );
    let headers = message["payload"]["headers"].as_array().expect("headers");
    assert_eq!(headers.len(), 1);
    let rfc_id = headers[0]["value"]
        .as_str()
        .expect("message id")
        .to_string();
    let query = url::form_urlencoded::byte_serialize(format!("rfc822msgid:{rfc_id}").as_bytes())
        .collect::<String>();
    let (_, found) = h.get(&token, &format!("messages?q={query}")).await;
    assert_eq!(found["messages"][0]["id"], first_sent.as_str());
    assert_eq!(found["resultSizeEstimate"], 1);

    let (status, empty) = h
        .get(&token, "messages?q=rfc822msgid:nothing@nowhere")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({"resultSizeEstimate": 0}));

    let (_, threads) = h.get(&token, "threads?maxResults=2").await;
    assert_eq!(threads["threads"].as_array().map(Vec::len), Some(2));
    assert!(threads["nextPageToken"].is_string());
    let thread = &threads["threads"][0];
    assert!(thread["snippet"].is_string() && thread["historyId"].is_string());
    assert!(thread.get("messages").is_none());

    let (_, labels) = h.get(&token, "labels").await;
    let ids: Vec<&str> = labels["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    for wanted in [
        "INBOX",
        "SENT",
        "UNREAD",
        "IMPORTANT",
        "CATEGORY_PERSONAL",
        "TRASH",
    ] {
        assert!(ids.contains(&wanted), "{wanted}");
    }
}

/// Find a generated inbound reply whose payload satisfies `pick`.
async fn find_message(h: &Harness, token: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let (_, list) = h.get(token, "messages?labelIds=INBOX&maxResults=500").await;
    for entry in list["messages"].as_array().cloned().unwrap_or_default() {
        let id = entry["id"].as_str().unwrap_or_default();
        let (_, message) = h.get(token, &format!("messages/{id}")).await;
        if pick(&message) {
            return message;
        }
    }
    panic!("no generated message matched");
}

#[tokio::test]
async fn message_formats_and_base64_quirks() {
    let h = start().await;
    let token = h.token();
    let with_attachment = find_message(&h, &token, |m| {
        m["payload"]["parts"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|p| p["body"]["attachmentId"].is_string()))
    })
    .await;
    let id = with_attachment["id"].as_str().expect("id");
    assert_eq!(with_attachment["payload"]["partId"], "");
    assert_eq!(with_attachment["payload"]["body"], json!({"size": 0}));
    assert!(with_attachment["internalDate"].is_string());
    assert!(with_attachment["historyId"].is_string());
    assert!(with_attachment["sizeEstimate"].is_u64());
    let parts = with_attachment["payload"]["parts"]
        .as_array()
        .expect("parts");
    assert_eq!(parts[0]["partId"], "0");
    assert_eq!(parts[0]["filename"], "");
    let text_data = parts[0]["body"]["data"].as_str().expect("text data");
    assert!(!text_data.contains('='));
    let text = URL_SAFE_NO_PAD
        .decode(text_data)
        .expect("unpadded base64url");
    assert_eq!(parts[0]["body"]["size"], text.len());
    let attachment = parts
        .iter()
        .find(|p| p["filename"] == "overview.pdf")
        .expect("pdf part");
    assert!(attachment["body"].get("data").is_none());
    let attachment_id = attachment["body"]["attachmentId"]
        .as_str()
        .expect("attachment id");
    let (status, body) = h
        .get(
            &token,
            &format!("messages/{id}/attachments/{attachment_id}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let data = body["data"].as_str().expect("data");
    assert!(!data.contains('='));
    let bytes = URL_SAFE_NO_PAD.decode(data).expect("unpadded");
    assert!(bytes.starts_with(b"%PDF-1.4"));
    assert_eq!(body["size"], bytes.len());
    let (status, _) = h
        .get(&token, &format!("messages/{id}/attachments/ANGjdJnope"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, raw) = h.get(&token, &format!("messages/{id}?format=raw")).await;
    assert!(raw.get("payload").is_none());
    let raw_text = raw["raw"].as_str().expect("raw");
    let decoded = URL_SAFE.decode(raw_text).expect("padded base64url");
    assert_eq!(raw["sizeEstimate"], decoded.len());
    assert!(String::from_utf8_lossy(&decoded).contains("overview.pdf"));

    let (_, minimal) = h
        .get(&token, &format!("messages/{id}?format=minimal"))
        .await;
    assert!(minimal.get("payload").is_none() && minimal.get("raw").is_none());
    assert!(minimal["labelIds"].is_array() && minimal["snippet"].is_string());

    let html_only = find_message(&h, &token, |m| m["payload"]["mimeType"] == "text/html").await;
    assert_eq!(html_only["payload"]["partId"], "");
    assert!(html_only["payload"]["body"]["data"].is_string());
    assert!(html_only["payload"].get("parts").is_none());

    let alternative = find_message(&h, &token, |m| {
        m["payload"]["mimeType"] == "multipart/alternative"
    })
    .await;
    let alt_parts = alternative["payload"]["parts"].as_array().expect("parts");
    assert_eq!(alt_parts[0]["mimeType"], "text/plain");
    assert_eq!(alt_parts[1]["mimeType"], "text/html");
    assert_eq!(alt_parts[1]["partId"], "1");

    let encoded = find_message(&h, &token, |m| {
        m["payload"]["headers"].as_array().is_some_and(|hs| {
            hs.iter().any(|h| {
                h["name"] == "Subject" && h["value"].as_str().is_some_and(|v| v.contains("réponse"))
            })
        })
    })
    .await;
    let from = encoded["payload"]["headers"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["name"] == "From"))
        .and_then(|h| h["value"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(from.contains('·'), "{from}");

    let (status, body) = h.get(&token, "messages/ffffffffffffffff").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": {"code": 404, "message": "Requested entity was not found.",
            "errors": [{"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}],
            "status": "NOT_FOUND"}})
    );
    let (status, body) = h.get(&token, "messages/not-an-id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_envelope(&body, 400, "invalidArgument", "INVALID_ARGUMENT");
    let (status, _) = h.get(&token, &format!("messages/{id}?format=bogus")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn threads_get_and_modify() {
    let h = start().await;
    let token = h.token();
    // A conversation with a reply: the first thread holding two or more messages.
    let mut thread_id = String::new();
    for candidate in h.sandbox.thread_ids() {
        let (_, minimal) = h
            .get(&token, &format!("threads/{candidate}?format=minimal"))
            .await;
        if minimal["messages"].as_array().is_some_and(|m| m.len() >= 2) {
            assert!(minimal["messages"][0].get("payload").is_none());
            thread_id = candidate;
            break;
        }
    }
    assert!(!thread_id.is_empty(), "no generated thread has a reply");
    let (status, thread) = h.get(&token, &format!("threads/{thread_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(thread["id"], thread_id.as_str());
    let messages = thread["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["id"], thread_id.as_str());
    assert!(messages.iter().all(|m| m["payload"].is_object()));

    let (status, body) = h
        .get(&token, &format!("threads/{thread_id}?format=raw"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_envelope(&body, 400, "invalid", "INVALID_ARGUMENT");
    let (_, metadata) = h
        .get(
            &token,
            &format!("threads/{thread_id}?format=metadata&metadataHeaders=Subject"),
        )
        .await;
    assert_eq!(
        metadata["messages"][0]["payload"]["headers"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let (status, modified) = h
        .post(
            &token,
            &format!("threads/{thread_id}/modify"),
            json!({"addLabelIds": ["STARRED"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        modified["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m["labelIds"]
                .as_array()
                .is_some_and(|l| l.contains(&json!("STARRED"))))
    );
    let (status, _) = h.get(&token, "threads/abcdef0123456789").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn labels_change_and_history_follows() {
    let h = start().await;
    let token = h.token();
    let start_history = h.sandbox.history_id().to_string();
    let (_, unread) = h.get(&token, "messages?q=is:unread").await;
    let id = unread["messages"][0]["id"]
        .as_str()
        .expect("unread")
        .to_string();

    let (status, body) = h
        .post(
            &token,
            &format!("messages/{id}/modify"),
            json!({"removeLabelIds": ["UNREAD"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], id.as_str());
    assert!(
        !body["labelIds"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("UNREAD")))
    );

    let (status, body) = h
        .post(
            &token,
            &format!("messages/{id}/modify"),
            json!({"addLabelIds": ["NOPE"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_envelope(&body, 400, "invalidArgument", "INVALID_ARGUMENT");

    let (status, body) = h
        .post(&token, &format!("messages/{id}/trash"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["labelIds"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("TRASH")))
    );
    let (_, listed) = h.get(&token, "messages?maxResults=500").await;
    assert!(
        !listed["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["id"] == id.as_str()))
    );
    let (_, with_trash) = h
        .get(&token, "messages?maxResults=500&includeSpamTrash=true")
        .await;
    assert!(
        with_trash["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["id"] == id.as_str()))
    );
    let (status, _) = h
        .post(&token, &format!("messages/{id}/untrash"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, inbox) = h.get(&token, "messages?labelIds=INBOX&maxResults=2").await;
    let ids: Vec<Value> = inbox["messages"]
        .as_array()
        .expect("inbox")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    let response = h
        .http
        .post(h.gmail("messages/batchModify"))
        .bearer_auth(&token)
        .json(&json!({"ids": ids, "removeLabelIds": ["INBOX"]}))
        .send()
        .await
        .expect("batch");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (status, history) = h
        .get(&token, &format!("history?startHistoryId={start_history}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let records = history["history"].as_array().expect("history");
    assert_eq!(
        records[0]["labelsRemoved"][0]["labelIds"],
        json!(["UNREAD"])
    );
    assert_eq!(records[0]["labelsRemoved"][0]["message"]["id"], id.as_str());
    assert!(records[1]["labelsAdded"][0]["labelIds"] == json!(["TRASH"]));
    let history_ids: Vec<u64> = records
        .iter()
        .filter_map(|r| r["id"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    assert!(history_ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(history["historyId"], h.sandbox.history_id().to_string());

    let (_, only_added) = h
        .get(
            &token,
            &format!("history?startHistoryId={start_history}&historyTypes=labelAdded"),
        )
        .await;
    assert!(
        only_added["history"]
            .as_array()
            .expect("history")
            .iter()
            .all(|r| r.get("labelsAdded").is_some() && r.get("labelsRemoved").is_none())
    );
    let (_, paged) = h
        .get(
            &token,
            &format!("history?startHistoryId={start_history}&maxResults=1"),
        )
        .await;
    assert_eq!(paged["history"].as_array().map(Vec::len), Some(1));
    assert!(paged["nextPageToken"].is_string());
}

fn rfc822(to: Option<&str>, subject: &str, extra: &str) -> String {
    let to = to.map(|t| format!("To: {t}\r\n")).unwrap_or_default();
    format!(
        "From: Rep <{EMAIL}>\r\n{to}Subject: {subject}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\nHello from outpost??>>\r\n"
    )
}

#[tokio::test]
async fn send_history_and_sent_log() {
    let h = start().await;
    let token = h.token();
    let before = h.sandbox.history_id().to_string();
    let thread_id = h.sandbox.thread_ids().pop().expect("thread");
    let (_, thread) = h
        .get(&token, &format!("threads/{thread_id}?format=metadata"))
        .await;
    let parent = thread["messages"][0]["payload"]["headers"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["name"] == "Message-ID"))
        .and_then(|h| h["value"].as_str())
        .expect("parent id")
        .to_string();

    // Standard alphabet with padding: the lenient decoder accepts it.
    let reply = rfc822(
        Some("lead0@company0.example"),
        "Re: hello",
        &format!("In-Reply-To: {parent}\r\nReferences: {parent}\r\n"),
    );
    let encoded = STANDARD.encode(reply.as_bytes());
    assert!(encoded.contains('+') || encoded.contains('/') || encoded.ends_with('='));
    let (status, sent) = h
        .post(
            &token,
            "messages/send",
            json!({"raw": encoded, "threadId": thread_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["threadId"], thread_id.as_str());
    assert_eq!(sent["labelIds"], json!(["SENT"]));
    let sent_id = sent["id"].as_str().expect("id").to_string();

    // Unknown thread: a new thread is started.
    let (_, fresh) = h
        .post(
            &token,
            "messages/send",
            json!({"raw": URL_SAFE_NO_PAD.encode(rfc822(Some("x@example.com"), "New", "")), "threadId": "abc123"}),
        )
        .await;
    assert_eq!(fresh["threadId"], fresh["id"]);

    let (status, history) = h
        .get(&token, &format!("history?startHistoryId={before}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let added = &history["history"][0]["messagesAdded"][0]["message"];
    assert_eq!(added["id"], sent_id.as_str());
    assert_eq!(added["labelIds"], json!(["SENT"]));

    let log = h.sandbox.sent_messages();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].thread_id, thread_id);
    assert!(String::from_utf8_lossy(&log[0].raw).contains("Hello from outpost"));
    assert!(
        log[0]
            .headers
            .iter()
            .any(|(n, v)| n == "In-Reply-To" && *v == parent)
    );
    // Gmail completes a missing Message-ID.
    assert!(log[0].headers.iter().any(|(n, _)| n == "Message-ID"));
    let response = h
        .http
        .get(format!("{}/_sandbox/google/sent", h.base))
        .send()
        .await
        .expect("sent log");
    let over_http: Value = response.json().await.expect("json");
    assert_eq!(over_http["messages"][0]["threadId"], thread_id.as_str());
    assert!(
        over_http["messages"][0]["raw"]
            .as_str()
            .is_some_and(|r| r.contains("Re: hello"))
    );

    let (status, body) = h
        .post(&token, "messages/send", json!({"raw": "!!!not base64"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed for \"!!!not base64\""
    );
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    let (status, body) = h
        .post(
            &token,
            "messages/send",
            json!({"raw": URL_SAFE.encode(rfc822(None, "nobody", ""))}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "Recipient address required");
    assert_envelope(&body, 400, "invalidArgument", "INVALID_ARGUMENT");
    assert_eq!(h.sandbox.sent_messages().len(), 2);

    // Upload variant: the body is the message itself.
    let response = h
        .http
        .post(format!(
            "{}/upload/gmail/v1/users/me/messages/send?uploadType=media",
            h.base
        ))
        .bearer_auth(&token)
        .header("content-type", "message/rfc822")
        .body(rfc822(Some("lead1@company1.example"), "Uploaded", ""))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::OK);
    let uploaded: Value = response.json().await.expect("json");
    assert_eq!(uploaded["labelIds"], json!(["SENT"]));
    let (_, by_query) = h.get(&token, "messages?q=in:sent&maxResults=1").await;
    assert_eq!(by_query["messages"][0]["id"], uploaded["id"]);
    assert_eq!(h.sandbox.counters().calls.get("messages.send"), Some(&5));
}

#[tokio::test]
async fn drafts_round_trip() {
    let h = start().await;
    let token = h.token();
    let raw = URL_SAFE.encode(rfc822(Some("lead2@company2.example"), "Draft", ""));
    let (status, draft) = h
        .post(&token, "drafts", json!({"message": {"raw": raw}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{draft}");
    let draft_id = draft["id"].as_str().expect("draft id").to_string();
    assert!(draft_id.starts_with("r-"));
    assert_eq!(draft["message"]["labelIds"], json!(["DRAFT"]));

    let (_, list) = h.get(&token, "drafts").await;
    assert_eq!(list["drafts"][0]["id"], draft_id.as_str());
    assert_eq!(list["resultSizeEstimate"], 1);
    let (_, fetched) = h
        .get(&token, &format!("drafts/{draft_id}?format=raw"))
        .await;
    assert!(fetched["message"]["raw"].is_string());

    let (status, sent) = h.post(&token, "drafts/send", json!({"id": draft_id})).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["labelIds"], json!(["SENT"]));
    let (_, list) = h.get(&token, "drafts").await;
    assert_eq!(list, json!({"resultSizeEstimate": 0}));
    let (status, _) = h.post(&token, "drafts/send", json!({"id": draft_id})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(h.sandbox.sent_messages().len(), 1);
}

#[tokio::test]
async fn history_after_inbound_and_stale_cursors() {
    let h = start().await;
    let token = h.token();
    let before = h.sandbox.history_id().to_string();
    let (status, empty) = h
        .get(&token, &format!("history?startHistoryId={before}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({"historyId": before}));

    let thread_id = h.sandbox.thread_ids().pop().expect("thread");
    let contact = contacts().remove(0);
    let injected = h
        .sandbox
        .inject_inbound(InboundMessage {
            from: contact.clone(),
            thread_id: Some(thread_id.clone()),
            subject: None,
            text: "Yes, let's talk on Tuesday.".into(),
            html: None,
        })
        .expect("inject");
    assert_eq!(injected.thread_id, thread_id);
    let (_, history) = h
        .get(&token, &format!("history?startHistoryId={before}"))
        .await;
    let added = &history["history"][0]["messagesAdded"][0]["message"];
    assert_eq!(added["id"], injected.id.as_str());
    assert!(
        added["labelIds"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("UNREAD")))
    );
    assert_eq!(history["historyId"], injected.history_id.as_str());
    let (_, message) = h
        .get(&token, &format!("messages/{}?format=metadata", injected.id))
        .await;
    let headers = message["payload"]["headers"].as_array().expect("headers");
    assert!(headers.iter().any(|h| h["name"] == "In-Reply-To"));
    assert!(
        headers.iter().any(|h| h["name"] == "Subject"
            && h["value"].as_str().is_some_and(|s| s.starts_with("Re: ")))
    );

    // Over HTTP: a new thread.
    let response = h
        .http
        .post(format!("{}/_sandbox/google/inbound", h.base))
        .json(
            &json!({"fromEmail": "new@lead.example", "firstName": "New", "lastName": "Lead",
                      "company": "Lead Co", "text": "Hi there", "html": "<p>Hi there</p>"}),
        )
        .send()
        .await
        .expect("inject");
    assert_eq!(response.status(), StatusCode::OK);
    let injected: Value = response.json().await.expect("json");
    assert_eq!(injected["id"], injected["threadId"]);
    let response = h
        .http
        .post(format!("{}/_sandbox/google/inbound", h.base))
        .json(&json!({"fromEmail": "new@lead.example", "threadId": "0123abcd", "text": "x"}))
        .send()
        .await
        .expect("inject");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    for bad in [
        "history",
        "history?startHistoryId=abc",
        "history?startHistoryId=-5",
    ] {
        let (status, body) = h.get(&token, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            body["error"]["message"],
            "Missing/invalid parameter: startHistoryId"
        );
        assert_envelope(&body, 400, "invalidArgument", "INVALID_ARGUMENT");
    }

    let response = h
        .http
        .post(format!("{}/_sandbox/google/forget-history", h.base))
        .send()
        .await
        .expect("forget");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = h
        .get(&token, &format!("history?startHistoryId={before}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_envelope(&body, 404, "notFound", "NOT_FOUND");
    let current = h.sandbox.history_id().to_string();
    let (status, _) = h
        .get(&token, &format!("history?startHistoryId={current}"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn quota_exhaustion_then_recovery() {
    let h = start().await;
    let token = h.token();
    let response = h
        .http
        .put(format!("{}/_sandbox/google/quota", h.base))
        .json(&json!({"unitsPerMinute": 20}))
        .send()
        .await
        .expect("quota");
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..4 {
        assert_eq!(
            h.get(&token, "messages?maxResults=1").await.0,
            StatusCode::OK
        );
    }
    let (status, body) = h.get(&token, "messages?maxResults=1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_envelope(&body, 429, "rateLimitExceeded", "RESOURCE_EXHAUSTED");
    assert!(body["error"]["message"].as_str().is_some_and(|m| {
        m.starts_with("User-rate limit exceeded.  Retry after 2026-03-09T14:01:00")
    }));

    h.sandbox.set_quota(QuotaSettings {
        units_per_minute: 20,
        style: QuotaErrorStyle::UserRateLimitExceeded,
    });
    let (status, body) = h.get(&token, "profile").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_envelope(&body, 403, "userRateLimitExceeded", "PERMISSION_DENIED");
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");

    h.clock.advance(Duration::seconds(59));
    assert_eq!(h.get(&token, "profile").await.0, StatusCode::FORBIDDEN);
    h.clock.advance(Duration::seconds(1));
    assert_eq!(
        h.get(&token, "messages?maxResults=1").await.0,
        StatusCode::OK
    );

    let counters: Value = h
        .http
        .get(format!("{}/_sandbox/google/counters", h.base))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    assert_eq!(counters["calls"]["messages.list"], 5);
    assert_eq!(counters["unitsUsed"], 25);
    assert_eq!(counters["rateLimited"], 3);
    assert_eq!(counters["unauthorized"], 0);
}
