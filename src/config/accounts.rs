//! `[accounts.<name>]`: one Smartlead API key (optionally narrowed to an agency
//! client) or one Gmail mailbox per entry.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{IgnoredAny, IntoDeserializer};
use toml::Spanned;
use toml::de::DeValue;
use url::Url;

use super::error::ConfigError;
use super::secrets::{Secret, SecretFields, required_secret};
use super::sections::RateLimit;
use super::spans::{Source, quote_key};
use super::values;

pub const SMARTLEAD_BASE_URL: &str = "https://server.smartlead.ai/api/v1";
pub const GMAIL_API_BASE_URL: &str = "https://gmail.googleapis.com";
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 60;

#[derive(Debug)]
pub struct Account {
    /// The `<name>` in `[accounts.<name>]`.
    pub name: String,
    pub display_name: Option<String>,
    pub poll_interval_secs: u64,
    pub rate_limit: RateLimit,
    /// Appended under `-- ` to the rep's replies, forwards and new emails
    /// from this account (`signature`, or the text of `signature_file`).
    pub signature: Option<String>,
    pub provider: ProviderSettings,
}

impl Account {
    /// The name to show people: `display_name`, else the account's key.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs)
    }

    pub fn kind(&self) -> ProviderKind {
        match self.provider {
            ProviderSettings::Smartlead(_) => ProviderKind::Smartlead,
            ProviderSettings::Gmail(_) => ProviderKind::Gmail,
        }
    }

    /// Every secret this account needs.
    pub fn secrets(&self) -> Vec<&Secret> {
        match &self.provider {
            ProviderSettings::Smartlead(s) => vec![&s.api_key],
            ProviderSettings::Gmail(g) => vec![&g.client_secret],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Smartlead,
    Gmail,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Smartlead => "smartlead",
            ProviderKind::Gmail => "gmail",
        }
    }
}

#[derive(Debug)]
pub enum ProviderSettings {
    Smartlead(SmartleadSettings),
    Gmail(GmailSettings),
}

#[derive(Debug)]
pub struct SmartleadSettings {
    pub api_key: Secret,
    pub base_url: Url,
    /// Agency client whose campaigns, mailboxes and inbox this account covers.
    pub client_id: Option<u64>,
    /// The rep's sending mailbox (Smartlead email account id) for sequences.
    pub email_account_id: Option<u64>,
    /// Routes `/webhooks/smartlead/{token}` to this account.
    pub webhook_token: Option<String>,
}

/// Where a configured Gmail account's tokens are kept (`token_store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenPlace {
    /// `<data_dir>/tokens/<account>.json`, mode 0600.
    #[default]
    File,
    /// The OS keyring (outpost built with `--features keyring`).
    Keyring,
}

#[derive(Debug)]
pub struct GmailSettings {
    pub email: String,
    /// The display name in the From header of mail sent from this mailbox.
    pub from_name: Option<String>,
    pub client_id: String,
    pub client_secret: Secret,
    pub api_base_url: Url,
    pub auth_url: Url,
    pub token_url: Url,
    pub token_store: TokenPlace,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmartlead {
    #[allow(dead_code)] // checked before this struct is read
    provider: IgnoredAny,
    #[serde(default, deserialize_with = "values::optional_non_empty")]
    display_name: Option<String>,
    #[serde(default = "default_poll", deserialize_with = "values::positive_u64")]
    poll_interval_secs: u64,
    #[serde(default)]
    rate_limit: RateLimit,
    signature: Option<String>,
    signature_file: Option<Spanned<String>>,
    api_key: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    api_key_cmd: Option<Spanned<String>>,
    #[serde(default = "smartlead_base", deserialize_with = "values::http_url")]
    base_url: Url,
    client_id: Option<u64>,
    email_account_id: Option<u64>,
    #[serde(default, deserialize_with = "webhook_token")]
    webhook_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGmail {
    #[allow(dead_code)] // checked before this struct is read
    provider: IgnoredAny,
    #[serde(default, deserialize_with = "values::optional_non_empty")]
    display_name: Option<String>,
    #[serde(default = "default_poll", deserialize_with = "values::positive_u64")]
    poll_interval_secs: u64,
    #[serde(default)]
    rate_limit: RateLimit,
    signature: Option<String>,
    signature_file: Option<Spanned<String>>,
    #[serde(deserialize_with = "email")]
    email: String,
    #[serde(default, deserialize_with = "from_name")]
    from_name: Option<String>,
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
    token_store: Option<Spanned<TokenPlace>>,
}

fn default_poll() -> u64 {
    DEFAULT_POLL_INTERVAL_SECS
}

fn fixed_url(text: &'static str) -> Url {
    Url::parse(text).expect("built-in default URLs are valid")
}

fn smartlead_base() -> Url {
    fixed_url(SMARTLEAD_BASE_URL)
}

pub(super) fn gmail_base() -> Url {
    fixed_url(GMAIL_API_BASE_URL)
}

pub(super) fn google_auth() -> Url {
    fixed_url(GOOGLE_AUTH_URL)
}

pub(super) fn google_token() -> Url {
    fixed_url(GOOGLE_TOKEN_URL)
}

fn email<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    let valid = text
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !text.chars().any(char::is_whitespace);
    if !valid {
        return Err(serde::de::Error::custom(format!(
            "invalid email address `{text}`: expected the mailbox address, e.g. \"rep@acme.io\""
        )));
    }
    Ok(text)
}

/// A display name for a From header: any text, one line (a line break
/// would end the header early).
fn from_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    if text.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(
            "invalid from_name: a display name is one line of text, e.g. \"Sam Carter\"",
        ));
    }
    Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()))
}

/// An account's signature: the text given, or the file's (relative to the
/// config file); not both. Trailing blank lines are dropped, and a `-- `
/// line the rep wrote at the top is not repeated (outpost adds it).
fn signature(
    src: &Source<'_>,
    prefix: &str,
    text: Option<String>,
    file: Option<Spanned<String>>,
    home: Option<&std::path::Path>,
) -> Result<Option<String>, ConfigError> {
    let text = match (text, file) {
        (Some(_), Some(file)) => {
            return Err(src.invalid(
                &format!("{prefix}.signature_file"),
                file.span(),
                "both signature and signature_file are set",
                "keep one: the text itself, or the file that holds it",
            ));
        }
        (Some(text), None) => text,
        (None, Some(file)) => {
            let path = super::paths::file_path(file.get_ref(), src.file, home);
            std::fs::read_to_string(&path).map_err(|e| {
                src.invalid(
                    &format!("{prefix}.signature_file"),
                    file.span(),
                    format!("cannot read {}: {e}", path.display()),
                    "point it at a readable text file, or write signature = \"...\" instead",
                )
            })?
        }
        (None, None) => return Ok(None),
    };
    let text = text.trim_end();
    let text = text
        .strip_prefix("-- \n")
        .or_else(|| text.strip_prefix("--\n"))
        .unwrap_or(text);
    Ok(Some(text.to_string()).filter(|t| !t.trim().is_empty()))
}

/// Tokens appear in a URL path, so only URL-safe characters are allowed.
fn webhook_token<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'));
    if !valid {
        return Err(serde::de::Error::custom(format!(
            "invalid webhook token `{text}`: use letters, digits, '-', '_', '.' or '~'"
        )));
    }
    Ok(Some(text))
}

/// Reads one `[accounts.<name>]` table.
pub(crate) fn account_from(
    src: &Source<'_>,
    name: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
    home: Option<&std::path::Path>,
) -> Result<Account, ConfigError> {
    let name_text = name.get_ref().to_string();
    let prefix = format!("accounts.{}", quote_key(&name_text));
    let name_ok = !name_text.is_empty()
        && name_text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(src.invalid(
            &prefix,
            name.span(),
            "invalid account name",
            "use only letters, digits, '-' and '_' (the name is used on the command line)",
        ));
    }
    let DeValue::Table(table) = value.get_ref() else {
        return Err(src.invalid(
            &prefix,
            value.span(),
            format!("expected a table, found {}", value.get_ref().type_str()),
            format!("write it as a [{prefix}] section with provider = \"smartlead\" or \"gmail\""),
        ));
    };
    let provider = table.iter().find(|(k, _)| k.get_ref() == "provider");
    let Some((_, provider)) = provider else {
        return Err(src.invalid(
            &prefix,
            value.span(),
            "missing key `provider`",
            "add provider = \"smartlead\" or provider = \"gmail\"",
        ));
    };
    let provider_key = format!("{prefix}.provider");
    match provider.get_ref().as_str() {
        Some("smartlead") => smartlead(src, name_text, &prefix, value, home),
        Some("gmail") => gmail(src, name_text, &prefix, value, home),
        Some(other) => Err(src.invalid(
            &provider_key,
            provider.span(),
            format!("unknown provider `{other}`"),
            "use provider = \"smartlead\" or provider = \"gmail\"",
        )),
        None => Err(src.invalid(
            &provider_key,
            provider.span(),
            format!(
                "invalid type: {}, expected a string",
                provider.get_ref().type_str()
            ),
            "use provider = \"smartlead\" or provider = \"gmail\"",
        )),
    }
}

fn smartlead(
    src: &Source<'_>,
    name: String,
    prefix: &str,
    value: &Spanned<DeValue<'_>>,
    home: Option<&std::path::Path>,
) -> Result<Account, ConfigError> {
    let raw = RawSmartlead::deserialize(value.clone().into_deserializer())
        .map_err(|e| src.value_error(&e, value, prefix))?;
    let fields = SecretFields {
        literal: raw.api_key,
        env: raw.api_key_env,
        cmd: raw.api_key_cmd,
    };
    let api_key = required_secret(src, &format!("{prefix}.api_key"), fields, value.span())?;
    Ok(Account {
        name,
        display_name: raw.display_name,
        poll_interval_secs: raw.poll_interval_secs,
        rate_limit: raw.rate_limit,
        signature: signature(src, prefix, raw.signature, raw.signature_file, home)?,
        provider: ProviderSettings::Smartlead(SmartleadSettings {
            api_key,
            base_url: raw.base_url,
            client_id: raw.client_id,
            email_account_id: raw.email_account_id,
            webhook_token: raw.webhook_token,
        }),
    })
}

fn gmail(
    src: &Source<'_>,
    name: String,
    prefix: &str,
    value: &Spanned<DeValue<'_>>,
    home: Option<&std::path::Path>,
) -> Result<Account, ConfigError> {
    let raw = RawGmail::deserialize(value.clone().into_deserializer())
        .map_err(|e| src.value_error(&e, value, prefix))?;
    let fields = SecretFields {
        literal: raw.client_secret,
        env: raw.client_secret_env,
        cmd: raw.client_secret_cmd,
    };
    let client_secret = required_secret(
        src,
        &format!("{prefix}.client_secret"),
        fields,
        value.span(),
    )?;
    let token_store = match raw.token_store {
        Some(place) if *place.get_ref() == TokenPlace::Keyring && !cfg!(feature = "keyring") => {
            return Err(src.invalid(
                &format!("{prefix}.token_store"),
                place.span(),
                "this outpost was built without the OS keyring",
                "build it with `cargo build --features keyring`, or use token_store = \"file\"",
            ));
        }
        Some(place) => place.into_inner(),
        None => TokenPlace::File,
    };
    Ok(Account {
        name,
        display_name: raw.display_name,
        poll_interval_secs: raw.poll_interval_secs,
        rate_limit: raw.rate_limit,
        signature: signature(src, prefix, raw.signature, raw.signature_file, home)?,
        provider: ProviderSettings::Gmail(GmailSettings {
            email: raw.email,
            from_name: raw.from_name,
            client_id: raw.client_id,
            client_secret,
            api_base_url: raw.api_base_url,
            auth_url: raw.auth_url,
            token_url: raw.token_url,
            token_store,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_urls_parse() {
        for url in [
            smartlead_base(),
            gmail_base(),
            google_auth(),
            google_token(),
        ] {
            assert_eq!(url.scheme(), "https");
        }
    }
}
