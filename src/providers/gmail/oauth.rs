//! Google OAuth 2.0 for installed apps: token exchange and refresh. The
//! interactive loopback login lives in `login.rs`.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::error::GmailError;

/// Read, label, send and draft: everything a sync + send client needs.
pub const GMAIL_MODIFY_SCOPE: &str = "https://www.googleapis.com/auth/gmail.modify";
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// An access token this close to expiry is refreshed before use.
pub const REFRESH_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The OAuth client (a "Desktop app" client in the user's Cloud project).
#[derive(Debug, Clone)]
pub struct OAuthParams {
    pub client_id: String,
    pub client_secret: SecretString,
    pub auth_url: Url,
    pub token_url: Url,
    pub scopes: Vec<String>,
}

impl OAuthParams {
    /// Google's production endpoints with the `gmail.modify` scope.
    pub fn google(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            auth_url: Url::parse(GOOGLE_AUTH_URL).expect("constant URL is valid"),
            token_url: Url::parse(GOOGLE_TOKEN_URL).expect("constant URL is valid"),
            scopes: vec![GMAIL_MODIFY_SCOPE.to_string()],
        }
    }
}

/// An account's tokens. Debug never shows the secrets.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes actually granted (users can untick some on the consent screen).
    pub scopes: Vec<String>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl TokenSet {
    /// True when the access token is expired or will be within `margin`.
    /// A token without a known expiry is trusted until the API says 401.
    pub fn expires_within(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.expires_at.is_some_and(|at| at - margin <= now)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn from_response(
        response: &BasicTokenResponse,
        now: DateTime<Utc>,
        previous: Option<&TokenSet>,
    ) -> Self {
        let expires_at = response
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now + d);
        // A refresh answer usually omits refresh_token and sometimes scope:
        // keep what we had.
        let refresh_token = response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().as_str()))
            .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
        let scopes = match response.scopes() {
            Some(scopes) => scopes.iter().map(|s| s.to_string()).collect(),
            None => previous.map(|p| p.scopes.clone()).unwrap_or_default(),
        };
        Self {
            access_token: SecretString::from(response.access_token().secret().as_str()),
            refresh_token,
            expires_at,
            scopes,
        }
    }
}

/// HTTP client for token requests. Redirects are off so a token request can
/// never be bounced elsewhere with the secret in it.
pub(crate) fn token_http_client() -> Result<reqwest::Client, GmailError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .build()
        .map_err(|err| GmailError::OAuth(format!("could not build HTTP client: {err}")))
}

pub(crate) fn oauth_client(
    params: &OAuthParams,
) -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(params.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            params.client_secret.expose_secret().to_string(),
        ))
        // Google's desktop clients expect client_id and client_secret in the
        // form body next to the PKCE verifier.
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::from_url(params.auth_url.clone()))
        .set_token_uri(TokenUrl::from_url(params.token_url.clone()))
}

/// Trades a refresh token for a fresh access token. A dead grant becomes
/// `NeedsLogin` at once: retrying `invalid_grant` never helps.
pub async fn refresh(
    params: &OAuthParams,
    account: &str,
    previous: &TokenSet,
    now: DateTime<Utc>,
) -> Result<TokenSet, GmailError> {
    let Some(refresh_token) = previous.refresh_token.as_ref() else {
        return Err(GmailError::NeedsLogin {
            account: account.to_string(),
        });
    };
    let http = token_http_client()?;
    let refresh_token = RefreshToken::new(refresh_token.expose_secret().to_string());
    let response = oauth_client(params)
        .exchange_refresh_token(&refresh_token)
        .request_async(&http)
        .await
        .map_err(|err| token_error(err, Some(account)))?;
    Ok(TokenSet::from_response(&response, now, Some(previous)))
}

pub(crate) fn token_set_from_exchange(
    response: &BasicTokenResponse,
    now: DateTime<Utc>,
) -> TokenSet {
    TokenSet::from_response(response, now, None)
}

/// Maps a token-endpoint failure to our error without ever including the
/// response body (a half-parsed success body would contain the token).
pub(crate) fn token_error<RE: std::error::Error + 'static>(
    err: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
    account: Option<&str>,
) -> GmailError {
    match err {
        RequestTokenError::ServerResponse(response) => match (response.error(), account) {
            (BasicErrorResponseType::InvalidGrant, Some(account)) => GmailError::NeedsLogin {
                account: account.to_string(),
            },
            (other, _) => {
                let description = response
                    .error_description()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                GmailError::OAuth(format!(
                    "token endpoint refused the request ({}){description}",
                    other.as_ref()
                ))
            }
        },
        RequestTokenError::Request(inner) => {
            let mut detail = inner.to_string();
            let mut source = inner.source();
            while let Some(s) = source {
                detail = s.to_string();
                source = s.source();
            }
            GmailError::TokenEndpointUnavailable(format!(
                "could not reach the token endpoint: {detail}"
            ))
        }
        // Neither a token nor an OAuth error: a server failing (a 5xx page),
        // not a refusal.
        RequestTokenError::Parse(_, _) => GmailError::TokenEndpointUnavailable(
            "the token endpoint sent a response that is not a token".to_string(),
        ),
        RequestTokenError::Other(message) => GmailError::OAuth(format!(
            "unexpected token endpoint response: {}",
            message.chars().take(200).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let tokens = TokenSet {
            access_token: SecretString::from("ya29.very-secret"),
            refresh_token: Some(SecretString::from("1//also-secret")),
            expires_at: None,
            scopes: vec![GMAIL_MODIFY_SCOPE.into()],
        };
        let shown = format!("{tokens:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("also-secret"));
        assert!(shown.contains("gmail.modify"));
        let params = OAuthParams::google("client", SecretString::from("GOCSPX-hidden"));
        assert!(!format!("{params:?}").contains("GOCSPX-hidden"));
    }

    #[test]
    fn expiry_margin() {
        let now = Utc::now();
        let mut tokens = TokenSet {
            access_token: SecretString::from("a"),
            refresh_token: None,
            expires_at: Some(now + chrono::Duration::seconds(61)),
            scopes: vec![],
        };
        assert!(!tokens.expires_within(now, REFRESH_MARGIN));
        tokens.expires_at = Some(now + chrono::Duration::seconds(59));
        assert!(tokens.expires_within(now, REFRESH_MARGIN));
        tokens.expires_at = None;
        assert!(!tokens.expires_within(now, REFRESH_MARGIN));
    }
}
