//! Google OAuth 2.0 for a desktop client: codes, PKCE, tokens, revocation.
//!
//! The authorization endpoint approves at once (there is no user to ask),
//! but every check a real client can trip over is made: loopback-only
//! redirects, single-use codes, identical redirect_uri, PKCE, client secret.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::{Host, Url};

/// Google's usual access-token lifetime, in seconds.
pub const DEFAULT_ACCESS_LIFETIME_SECS: i64 = 3599;
/// Authorization codes are short-lived.
const CODE_LIFETIME_MINUTES: i64 = 10;
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// An OAuth error answer: `{"error": ..., "error_description": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_grant(description: &str) -> Self {
        Self::new(400, "invalid_grant", description)
    }

    fn missing(parameter: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            format!("Missing required parameter: {parameter}"),
        )
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// What the authorization endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// 302 to this URL (success or an error the client can read).
    Redirect(String),
    /// The redirect itself is unusable: show a page with this status.
    Page {
        status: u16,
        error: &'static str,
        description: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChallengeMethod {
    S256,
    Plain,
}

#[derive(Debug, Clone)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    scope: String,
    challenge: Option<(String, ChallengeMethod)>,
    issued_at: DateTime<Utc>,
    issue_refresh_token: bool,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    scope: String,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct AccessGrant {
    scope: String,
    expires_at: DateTime<Utc>,
    refresh_token: Option<String>,
}

/// The parameters of one `POST /token`, client credentials already resolved.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub device_code: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Tokens minted directly (for the demo and tests that skip the browser step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Debug)]
pub struct OAuthStore {
    client_id: String,
    client_secret: String,
    mailbox_email: String,
    codes: HashMap<String, AuthCode>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    access_tokens: HashMap<String, AccessGrant>,
    device_codes: HashMap<String, (String, String)>,
    consent_given: bool,
    pub access_lifetime_secs: i64,
}

fn random_token(prefix: &str, bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(buffer))
}

fn secure_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Desktop clients may only redirect to a loopback address over plain http.
fn loopback_redirect(redirect_uri: &str) -> Option<Url> {
    let url = Url::parse(redirect_uri).ok()?;
    let loopback = match url.host()? {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    };
    (url.scheme() == "http" && loopback && url.fragment().is_none()).then_some(url)
}

fn is_gmail_scope(scope: &str) -> bool {
    scope.contains("/auth/gmail.") || scope.starts_with("https://mail.google.com")
}

/// RFC 7636: 43–128 characters of the unreserved set.
fn valid_pkce_string(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl OAuthStore {
    pub fn new(client_id: String, client_secret: String, mailbox_email: String) -> Self {
        Self {
            client_id,
            client_secret,
            mailbox_email,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            device_codes: HashMap::new(),
            consent_given: false,
            access_lifetime_secs: DEFAULT_ACCESS_LIFETIME_SECS,
        }
    }

    /// `GET /o/oauth2/v2/auth`: validate, then approve at once.
    pub fn authorize(
        &mut self,
        params: &[(String, String)],
        now: DateTime<Utc>,
    ) -> AuthorizeOutcome {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let page = |status: u16, error: &'static str, description: &str| AuthorizeOutcome::Page {
            status,
            error,
            description: description.to_string(),
        };
        let Some(client_id) = get("client_id") else {
            return page(
                400,
                "invalid_request",
                "Missing required parameter: client_id",
            );
        };
        if client_id != self.client_id {
            return page(401, "invalid_client", "The OAuth client was not found.");
        }
        let Some(redirect_uri) = get("redirect_uri") else {
            return page(
                400,
                "invalid_request",
                "Missing required parameter: redirect_uri",
            );
        };
        let Some(mut redirect) = loopback_redirect(redirect_uri) else {
            return page(
                400,
                "invalid_request",
                "redirect_uri must be a loopback address (http://127.0.0.1, http://[::1] or http://localhost) for a desktop client.",
            );
        };
        let state = get("state");
        let fail = |mut url: Url| {
            {
                let mut pairs = url.query_pairs_mut();
                pairs.append_pair("error", "invalid_request");
                if let Some(state) = state {
                    pairs.append_pair("state", state);
                }
            }
            AuthorizeOutcome::Redirect(url.to_string())
        };
        if get("response_type") != Some("code") {
            return fail(redirect);
        }
        let Some(scope) = get("scope") else {
            return fail(redirect);
        };
        let challenge = match (get("code_challenge"), get("code_challenge_method")) {
            (None, None) => None,
            (None, Some(_)) => return fail(redirect),
            (Some(challenge), method) => {
                let method = match method {
                    None | Some("plain") => ChallengeMethod::Plain,
                    Some("S256") => ChallengeMethod::S256,
                    Some(_) => return fail(redirect),
                };
                let well_formed = match method {
                    ChallengeMethod::S256 => {
                        challenge.len() == 43
                            && URL_SAFE_NO_PAD
                                .decode(challenge)
                                .is_ok_and(|d| d.len() == 32)
                    }
                    ChallengeMethod::Plain => valid_pkce_string(challenge),
                };
                if !well_formed {
                    return fail(redirect);
                }
                Some((challenge.to_string(), method))
            }
        };
        // A refresh token comes only with offline access, and only when the
        // consent screen is shown (the first time, or with prompt=consent).
        let offline = get("access_type") == Some("offline");
        let consent_shown = !self.consent_given
            || get("prompt").is_some_and(|p| p.split(' ').any(|p| p == "consent"));
        self.consent_given = true;
        let code = random_token("4/0A", 48);
        self.codes.insert(
            code.clone(),
            AuthCode {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                scope: scope.to_string(),
                challenge,
                issued_at: now,
                issue_refresh_token: offline && consent_shown,
            },
        );
        {
            let mut pairs = redirect.query_pairs_mut();
            if let Some(state) = state {
                pairs.append_pair("state", state);
            }
            pairs.append_pair("code", &code);
            pairs.append_pair("scope", scope);
        }
        AuthorizeOutcome::Redirect(redirect.to_string())
    }

    fn authenticate_client(&self, request: &TokenRequest) -> Result<(), OAuthError> {
        let Some(client_id) = request.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "Could not determine client ID from request.",
            ));
        };
        if client_id != self.client_id {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                "The OAuth client was not found.",
            ));
        }
        let Some(secret) = request.client_secret.as_deref().filter(|s| !s.is_empty()) else {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "client_secret is missing.",
            ));
        };
        if !secure_eq(secret, &self.client_secret) {
            return Err(OAuthError::new(401, "invalid_client", "Unauthorized"));
        }
        Ok(())
    }

    /// `POST /token` for every grant type the sandbox supports.
    pub fn token(
        &mut self,
        request: &TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let grant_type = request.grant_type.as_deref().unwrap_or_default();
        if !matches!(
            grant_type,
            "authorization_code" | "refresh_token" | DEVICE_CODE_GRANT
        ) {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                format!("Invalid grant_type: {grant_type}"),
            ));
        }
        self.authenticate_client(request)?;
        match grant_type {
            "authorization_code" => self.exchange_code(request, now),
            "refresh_token" => self.refresh(request, now),
            _ => self.exchange_device_code(request, now),
        }
    }

    fn exchange_code(
        &mut self,
        request: &TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let code = request
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OAuthError::missing("code"))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| OAuthError::missing("redirect_uri"))?;
        let grant = self
            .codes
            .get(code)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_grant("Malformed auth code."))?;
        if now - grant.issued_at > Duration::minutes(CODE_LIFETIME_MINUTES)
            || Some(grant.client_id.as_str()) != request.client_id.as_deref()
        {
            self.codes.remove(code);
            return Err(OAuthError::invalid_grant("Bad Request"));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(OAuthError::new(400, "redirect_uri_mismatch", "Bad Request"));
        }
        if let Some((challenge, method)) = &grant.challenge {
            let verifier = request
                .code_verifier
                .as_deref()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| OAuthError::invalid_grant("Missing code verifier."))?;
            let computed = match method {
                ChallengeMethod::S256 => {
                    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
                }
                ChallengeMethod::Plain => verifier.to_string(),
            };
            if !valid_pkce_string(verifier) || !secure_eq(&computed, challenge) {
                return Err(OAuthError::invalid_grant("Invalid code verifier."));
            }
        }
        // Codes are single-use: gone once exchanged.
        self.codes.remove(code);
        let issued = self.issue(
            &grant.client_id,
            &grant.scope,
            grant.issue_refresh_token,
            now,
        );
        Ok(self.token_json(&issued))
    }

    fn refresh(&mut self, request: &TokenRequest, now: DateTime<Utc>) -> Result<Value, OAuthError> {
        let token = request
            .refresh_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::missing("refresh_token"))?;
        let grant = self
            .refresh_tokens
            .get(token)
            .filter(|g| !g.revoked && Some(g.client_id.as_str()) == request.client_id.as_deref())
            .cloned()
            .ok_or_else(|| OAuthError::invalid_grant("Token has been expired or revoked."))?;
        let access_token = self.mint_access(&grant.scope, Some(token.to_string()), now);
        let issued = IssuedTokens {
            access_token,
            refresh_token: None,
            expires_in: self.access_lifetime_secs,
            scope: grant.scope,
        };
        Ok(self.token_json(&issued))
    }

    fn exchange_device_code(
        &mut self,
        request: &TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let device_code = request
            .device_code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OAuthError::missing("device_code"))?;
        let (client_id, scope) = self
            .device_codes
            .remove(device_code)
            .ok_or_else(|| OAuthError::invalid_grant("Bad Request"))?;
        let issued = self.issue(&client_id, &scope, true, now);
        Ok(self.token_json(&issued))
    }

    /// `POST /device/code`: Gmail scopes are refused before any user step.
    pub fn device_code(
        &mut self,
        client_id: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Value, OAuthError> {
        let client_id = client_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OAuthError::missing("client_id"))?;
        if client_id != self.client_id {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                "The OAuth client was not found.",
            ));
        }
        let scope = scope.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            OAuthError::new(400, "invalid_scope", "Missing required parameter: scope")
        })?;
        if let Some(gmail) = scope.split_whitespace().find(|s| is_gmail_scope(s)) {
            return Err(OAuthError::new(
                400,
                "invalid_scope",
                format!("Invalid device flow scope: {gmail}"),
            ));
        }
        let device_code = random_token("AH-1Ng", 32);
        self.device_codes.insert(
            device_code.clone(),
            (client_id.to_string(), scope.to_string()),
        );
        let mut user_code = [0u8; 4];
        rand::rng().fill_bytes(&mut user_code);
        let letters: String = user_code
            .iter()
            .flat_map(|b| [b'A' + (b % 26), b'A' + ((b / 26) % 26)])
            .map(char::from)
            .collect();
        Ok(json!({
            "device_code": device_code,
            "user_code": format!("{}-{}", &letters[..4], &letters[4..]),
            "verification_url": "https://www.google.com/device",
            "expires_in": 1800,
            "interval": 5,
        }))
    }

    fn mint_access(
        &mut self,
        scope: &str,
        refresh_token: Option<String>,
        now: DateTime<Utc>,
    ) -> String {
        let token = random_token("ya29.a0", 96);
        self.access_tokens.insert(
            token.clone(),
            AccessGrant {
                scope: scope.to_string(),
                expires_at: now + Duration::seconds(self.access_lifetime_secs),
                refresh_token,
            },
        );
        token
    }

    /// Mint tokens for the configured client without the browser step.
    pub fn issue(
        &mut self,
        client_id: &str,
        scope: &str,
        with_refresh: bool,
        now: DateTime<Utc>,
    ) -> IssuedTokens {
        let refresh_token = with_refresh.then(|| {
            let token = random_token("1//0g", 64);
            self.refresh_tokens.insert(
                token.clone(),
                RefreshGrant {
                    client_id: client_id.to_string(),
                    scope: scope.to_string(),
                    revoked: false,
                },
            );
            token
        });
        let access_token = self.mint_access(scope, refresh_token.clone(), now);
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.access_lifetime_secs,
            scope: scope.to_string(),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn token_json(&self, issued: &IssuedTokens) -> Value {
        let mut body = json!({
            "access_token": issued.access_token,
            "expires_in": issued.expires_in,
            "scope": issued.scope,
            "token_type": "Bearer",
        });
        if let Some(refresh) = &issued.refresh_token {
            body["refresh_token"] = json!(refresh);
        }
        if issued
            .scope
            .split_whitespace()
            .any(|s| matches!(s, "openid" | "email" | "profile") || s.ends_with("/userinfo.email"))
        {
            body["id_token"] = json!(self.id_token());
        }
        body
    }

    /// An id_token shaped like Google's (the sandbox does not sign it).
    fn id_token(&self) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({
            "iss": "https://accounts.google.com",
            "aud": self.client_id,
            "sub": format!("{:x}", Sha256::digest(self.mailbox_email.as_bytes()))[..21].to_string(),
            "email": self.mailbox_email,
            "email_verified": true,
        });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
        format!("{header}.{payload}.{}", random_token("", 32))
    }

    /// The scope granted to a live access token, or `None` if unknown or expired.
    pub fn access_scope(&self, token: &str, now: DateTime<Utc>) -> Option<&str> {
        self.access_tokens
            .get(token)
            .filter(|grant| now < grant.expires_at)
            .map(|grant| grant.scope.as_str())
    }

    /// `POST /revoke`: an access token takes its refresh token with it, and vice versa.
    pub fn revoke(&mut self, token: &str) -> Result<(), OAuthError> {
        let refresh = if let Some(grant) = self.access_tokens.remove(token) {
            grant.refresh_token
        } else if self.refresh_tokens.get(token).is_some_and(|g| !g.revoked) {
            Some(token.to_string())
        } else {
            return Err(OAuthError::new(
                400,
                "invalid_token",
                "Token expired or revoked",
            ));
        };
        if let Some(refresh) = refresh {
            if let Some(grant) = self.refresh_tokens.get_mut(&refresh) {
                grant.revoked = true;
            }
            self.access_tokens
                .retain(|_, g| g.refresh_token.as_deref() != Some(refresh.as_str()));
        }
        Ok(())
    }

    pub fn revoke_all_refresh_tokens(&mut self) {
        for grant in self.refresh_tokens.values_mut() {
            grant.revoked = true;
        }
    }

    pub fn expire_all_access_tokens(&mut self, now: DateTime<Utc>) {
        for grant in self.access_tokens.values_mut() {
            grant.expires_at = grant.expires_at.min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> OAuthStore {
        OAuthStore::new("client-1".into(), "secret-1".into(), "rep@acme.io".into())
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn loopback_rule_accepts_only_local_http() {
        assert!(loopback_redirect("http://127.0.0.1:8080/cb").is_some());
        assert!(loopback_redirect("http://[::1]:9000").is_some());
        assert!(loopback_redirect("http://localhost").is_some());
        assert!(loopback_redirect("https://127.0.0.1/").is_none());
        assert!(loopback_redirect("http://example.com/").is_none());
        assert!(loopback_redirect("urn:ietf:wg:oauth:2.0:oob").is_none());
    }

    #[test]
    fn plain_pkce_round_trip_and_single_use_code() {
        let now = Utc::now();
        let mut store = store();
        let verifier = "v".repeat(50);
        let outcome = store.authorize(
            &params(&[
                ("client_id", "client-1"),
                ("redirect_uri", "http://127.0.0.1:5000/"),
                ("response_type", "code"),
                ("scope", "openid email"),
                ("code_challenge", &verifier),
                ("access_type", "offline"),
            ]),
            now,
        );
        let AuthorizeOutcome::Redirect(location) = outcome else {
            panic!("expected a redirect, got {outcome:?}");
        };
        let url = Url::parse(&location).expect("url");
        let code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string())
            .expect("code");
        let request = TokenRequest {
            grant_type: Some("authorization_code".into()),
            code: Some(code),
            redirect_uri: Some("http://127.0.0.1:5000/".into()),
            code_verifier: Some(verifier),
            client_id: Some("client-1".into()),
            client_secret: Some("secret-1".into()),
            ..TokenRequest::default()
        };
        let body = store.token(&request, now).expect("token");
        assert!(body["id_token"].is_string());
        assert!(body["refresh_token"].is_string());
        let again = store.token(&request, now).expect_err("code reuse");
        assert_eq!(again.error, "invalid_grant");
    }
}
