//! `[gmail_oauth]`: the OAuth client (Google Cloud "Desktop app"
//! credentials) that Gmail accounts added with `outpost account add gmail`
//! signed in with. Their refresh tokens are stored sealed in the store; a
//! refresh needs the client id and secret they were issued to, which belong
//! to the team's config, not to each rep's record.

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::accounts::{gmail_base, google_auth, google_token};
use super::error::ConfigError;
use super::secrets::{Secret, SecretFields, required_secret};
use super::spans::Source;
use super::values;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGmailOAuth {
    #[serde(deserialize_with = "values::non_empty")]
    client_id: String,
    client_secret: Option<Spanned<String>>,
    client_secret_env: Option<Spanned<String>>,
    client_secret_cmd: Option<Spanned<String>>,
    #[serde(default = "gmail_base", deserialize_with = "values::http_url")]
    api_base_url: Url,
    #[serde(default = "google_auth", deserialize_with = "values::http_url")]
    auth_url: Url,
    #[serde(default = "google_token", deserialize_with = "values::http_url")]
    token_url: Url,
}

/// The OAuth client stored Gmail accounts refresh their tokens with.
#[derive(Debug)]
pub struct GmailOAuthConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub api_base_url: Url,
    pub auth_url: Url,
    pub token_url: Url,
}

impl GmailOAuthConfig {
    pub(crate) fn from_raw(
        src: &Source<'_>,
        raw: RawGmailOAuth,
        table_span: std::ops::Range<usize>,
    ) -> Result<GmailOAuthConfig, ConfigError> {
        let client_secret = required_secret(
            src,
            "gmail_oauth.client_secret",
            SecretFields {
                literal: raw.client_secret,
                env: raw.client_secret_env,
                cmd: raw.client_secret_cmd,
            },
            table_span,
        )?;
        Ok(GmailOAuthConfig {
            client_id: raw.client_id,
            client_secret,
            api_base_url: raw.api_base_url,
            auth_url: raw.auth_url,
            token_url: raw.token_url,
        })
    }
}
