//! The provider clients for every configured account, built once from the
//! config (secrets resolved here, never logged).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::config::{Config, ConfigError, ProviderSettings, Secret};
use crate::providers::gmail::{
    GmailClient, GmailClientConfig, GmailError, OAuthParams, TokenStore,
};
use crate::providers::http::RateLimit;
use crate::providers::smartlead::{self, SmartleadConfig, SmartleadError};

pub struct SmartleadAccount {
    pub name: String,
    pub client: smartlead::Client,
    /// Where its API key comes from (a variable's name or a config key),
    /// named when Smartlead refuses the key.
    pub key_origin: String,
    /// Agency client whose campaigns this account covers.
    pub client_id: Option<i64>,
    /// The rep's sending mailbox for sequences.
    pub email_account_id: Option<i64>,
    pub poll_interval: Duration,
}

pub struct GmailAccount {
    pub name: String,
    pub email: String,
    pub client: GmailClient,
    pub oauth: OAuthParams,
    pub poll_interval: Duration,
}

/// Shared, so a set rebuilt when an account is added through the API keeps
/// the clients (their rate limits, cached tokens, counters) of the others.
#[derive(Default)]
pub struct Providers {
    pub smartlead: BTreeMap<String, Arc<SmartleadAccount>>,
    pub gmail: BTreeMap<String, Arc<GmailAccount>>,
    /// Accounts left out because their secret could not be read: the others
    /// sync and send, and every face shows these with what to set.
    pub needs_attention: BTreeMap<String, AccountAttention>,
    /// The accounts added through the API, with their record's `updated_at`:
    /// a new name or a newer time means the set must be built again.
    stored: BTreeMap<String, DateTime<Utc>>,
    /// What building those accounts needs; None until [`Providers::add_stored`].
    stored_setup: Option<Arc<StoredSetup>>,
}

/// What the accounts added through the API are built from.
struct StoredSetup {
    store: crate::store::Store,
    clock: SharedClock,
    /// The key their secrets are sealed with (`OUTPOST_SECRET_KEY`), or why
    /// it is unusable.
    key: Result<crate::engine::credentials::SealKey, String>,
    /// `[gmail_oauth]`: the OAuth client their Gmail tokens refresh with, or
    /// why a stored Gmail account cannot be used.
    gmail: Result<StoredGmailClient, String>,
}

struct StoredGmailClient {
    oauth: OAuthParams,
    api_base_url: url::Url,
}

/// A configured account that cannot be used until the rep fixes its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountAttention {
    pub account: String,
    pub provider: crate::model::Provider,
    /// What is wrong, e.g. "environment variable `SMARTLEAD_API_KEY` is not set or is empty".
    pub problem: String,
    /// What to do, e.g. "set SMARTLEAD_API_KEY".
    pub fix: String,
}

impl AccountAttention {
    /// The one line every face shows for it.
    pub fn summary(&self) -> String {
        format!("needs attention: {}", self.fix)
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("smartlead", &self.smartlead.keys().collect::<Vec<_>>())
            .field("gmail", &self.gmail.keys().collect::<Vec<_>>())
            .field(
                "needs_attention",
                &self.needs_attention.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderSetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("account {account}: {source}")]
    Smartlead {
        account: String,
        source: SmartleadError,
    },
    #[error("account {account}: {source}")]
    Gmail { account: String, source: GmailError },
    #[error("stored accounts: {0}")]
    Stored(String),
}

impl Providers {
    /// Builds a client per account, resolving each account's secret. An
    /// account whose secret cannot be read is set aside in `needs_attention`
    /// (one rep's missing key must not stop everyone else's mail).
    pub fn from_config(
        config: &Config,
        data_dir: &Path,
        clock: SharedClock,
    ) -> Result<Providers, ProviderSetupError> {
        let mut providers = Providers::default();
        for (name, account) in &config.accounts {
            let rate_limit = RateLimit {
                max: account.rate_limit.max,
                per: account.rate_limit.period(),
            };
            match &account.provider {
                ProviderSettings::Smartlead(s) => {
                    let api_key = match s.api_key.resolve() {
                        Ok(key) => key,
                        Err(err) => {
                            providers.set_aside(
                                name,
                                crate::model::Provider::Smartlead,
                                &s.api_key,
                                err,
                            );
                            continue;
                        }
                    };
                    let mut cfg = SmartleadConfig::new(s.base_url.clone(), api_key);
                    cfg.rate_limit = rate_limit;
                    let client = smartlead::Client::new(cfg).map_err(|source| {
                        ProviderSetupError::Smartlead {
                            account: name.clone(),
                            source,
                        }
                    })?;
                    providers.smartlead.insert(
                        name.clone(),
                        Arc::new(SmartleadAccount {
                            name: name.clone(),
                            client,
                            key_origin: s.api_key.origin(),
                            client_id: s.client_id.map(|id| id as i64),
                            email_account_id: s.email_account_id.map(|id| id as i64),
                            poll_interval: account.poll_interval(),
                        }),
                    );
                }
                ProviderSettings::Gmail(g) => {
                    let gmail_err = |source| ProviderSetupError::Gmail {
                        account: name.clone(),
                        source,
                    };
                    let client_secret = match g.client_secret.resolve() {
                        Ok(secret) => secret,
                        Err(err) => {
                            providers.set_aside(
                                name,
                                crate::model::Provider::Gmail,
                                &g.client_secret,
                                err,
                            );
                            continue;
                        }
                    };
                    let mut oauth = OAuthParams::google(g.client_id.clone(), client_secret);
                    oauth.auth_url = g.auth_url.clone();
                    oauth.token_url = g.token_url.clone();
                    let token_store =
                        TokenStore::configured(data_dir, name, g.token_store).map_err(gmail_err)?;
                    let client = GmailClient::new(GmailClientConfig {
                        api_base_url: g.api_base_url.clone(),
                        user: "me".into(),
                        account: name.clone(),
                        oauth: oauth.clone(),
                        token_store,
                        clock: clock.clone(),
                        max_concurrency: 8,
                    })
                    .map_err(gmail_err)?;
                    providers.gmail.insert(
                        name.clone(),
                        Arc::new(GmailAccount {
                            name: name.clone(),
                            email: g.email.clone(),
                            client,
                            oauth,
                            poll_interval: account.poll_interval(),
                        }),
                    );
                }
            }
        }
        Ok(providers)
    }

    /// True when no account is configured at all (one set aside counts as configured).
    pub fn is_empty(&self) -> bool {
        self.smartlead.is_empty() && self.gmail.is_empty() && self.needs_attention.is_empty()
    }

    /// A config where every account was set aside is unusable as given:
    /// bad input (exit 2), with the first account's own error. With at
    /// least one usable account the others are only reported.
    pub fn require_one_usable(&self, config: &Config) -> Result<(), ConfigError> {
        if !(self.smartlead.is_empty() && self.gmail.is_empty()) {
            return Ok(());
        }
        for name in self.needs_attention.keys() {
            let Some(account) = config.account(name) else {
                continue;
            };
            for secret in account.secrets() {
                secret.resolve()?;
            }
        }
        Ok(())
    }

    /// Adds the accounts stored through `outpost account add`, used like
    /// configured ones (the config's own accounts win a name); a Gmail one
    /// refreshes its tokens with the `[gmail_oauth]` client and keeps them
    /// sealed in its record. One that cannot be used (its secret does not
    /// open, no `[gmail_oauth]`) is set aside with what to do. The set can
    /// then be rebuilt with [`Providers::refreshed`] when they change.
    pub fn add_stored(
        &mut self,
        store: &crate::store::Store,
        config: &Config,
        clock: SharedClock,
    ) -> Result<(), ProviderSetupError> {
        let key = crate::engine::credentials::SealKey::from_env();
        self.add_stored_with_key(store, config, clock, key)
    }

    fn add_stored_with_key(
        &mut self,
        store: &crate::store::Store,
        config: &Config,
        clock: SharedClock,
        key: Result<crate::engine::credentials::SealKey, String>,
    ) -> Result<(), ProviderSetupError> {
        let gmail = match &config.gmail_oauth {
            Some(settings) => match settings.client_secret.resolve() {
                Ok(secret) => {
                    let mut oauth = OAuthParams::google(settings.client_id.clone(), secret);
                    oauth.auth_url = settings.auth_url.clone();
                    oauth.token_url = settings.token_url.clone();
                    Ok(StoredGmailClient {
                        oauth,
                        api_base_url: settings.api_base_url.clone(),
                    })
                }
                Err(err) => Err(err
                    .problem()
                    .map_or_else(|| err.to_string(), |p| p.message.clone())),
            },
            None => Err(
                "there is no [gmail_oauth] section: a stored Gmail account refreshes its \
                 tokens with the OAuth client they were issued to"
                    .to_string(),
            ),
        };
        self.stored_setup = Some(Arc::new(StoredSetup {
            store: store.clone(),
            clock,
            key,
            gmail,
        }));
        let records = self.read_stored()?;
        *self = std::mem::take(self).build_stored(records, &Providers::default())?;
        Ok(())
    }

    /// The set again when the accounts added through the API changed (one
    /// added, replaced or removed) since it was built; None when nothing
    /// changed, or stored accounts are not used here.
    pub fn refreshed(&self) -> Result<Option<Providers>, ProviderSetupError> {
        if self.stored_setup.is_none() {
            return Ok(None);
        }
        let records = self.read_stored()?;
        let now: BTreeMap<String, DateTime<Utc>> = records
            .iter()
            .map(|r| (r.name.clone(), r.updated_at))
            .collect();
        if now == self.stored {
            return Ok(None);
        }
        let base = self.configured_only();
        base.build_stored(records, self).map(Some)
    }

    /// The names of the accounts added through the API in this set.
    pub fn stored_names(&self) -> impl Iterator<Item = &String> {
        self.stored.keys()
    }

    /// Every account that is polled: name and interval.
    pub fn poll_intervals(&self) -> BTreeMap<String, Duration> {
        self.smartlead
            .values()
            .map(|a| (a.name.clone(), a.poll_interval))
            .chain(
                self.gmail
                    .values()
                    .map(|a| (a.name.clone(), a.poll_interval)),
            )
            .collect()
    }

    /// The stored account records whose names the config does not take.
    fn read_stored(&self) -> Result<Vec<crate::model::StoredAccount>, ProviderSetupError> {
        let Some(setup) = &self.stored_setup else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for stored in setup.store.iter::<crate::model::StoredAccount>() {
            let stored = stored.map_err(|e| ProviderSetupError::Stored(e.to_string()))?;
            let configured = !self.stored.contains_key(&stored.name)
                && (self.smartlead.contains_key(&stored.name)
                    || self.gmail.contains_key(&stored.name)
                    || self.needs_attention.contains_key(&stored.name));
            if !configured {
                out.push(stored);
            }
        }
        Ok(out)
    }

    /// This set without its stored accounts (the configured ones shared).
    fn configured_only(&self) -> Providers {
        let configured = |name: &String| !self.stored.contains_key(name);
        Providers {
            smartlead: (self.smartlead.iter())
                .filter(|(n, _)| configured(n))
                .map(|(n, a)| (n.clone(), a.clone()))
                .collect(),
            gmail: (self.gmail.iter())
                .filter(|(n, _)| configured(n))
                .map(|(n, a)| (n.clone(), a.clone()))
                .collect(),
            needs_attention: (self.needs_attention.iter())
                .filter(|(n, _)| configured(n))
                .map(|(n, a)| (n.clone(), a.clone()))
                .collect(),
            stored: BTreeMap::new(),
            stored_setup: self.stored_setup.clone(),
        }
    }

    /// `self` (configured accounts only) with `records` added; an account
    /// unchanged since `previous` keeps its client.
    fn build_stored(
        mut self,
        records: Vec<crate::model::StoredAccount>,
        previous: &Providers,
    ) -> Result<Providers, ProviderSetupError> {
        use crate::engine::credentials::{SECRET_KEY_ENV, SealedTokens};
        use crate::model::Provider;
        let Some(setup) = self.stored_setup.clone() else {
            return Ok(self);
        };
        let key = &setup.key;
        for stored in records {
            let name = stored.name.clone();
            self.stored.insert(name.clone(), stored.updated_at);
            if previous.stored.get(&name) == Some(&stored.updated_at) {
                if let Some(account) = previous.smartlead.get(&name) {
                    self.smartlead.insert(name, account.clone());
                    continue;
                }
                if let Some(account) = previous.gmail.get(&name) {
                    self.gmail.insert(name, account.clone());
                    continue;
                }
            }
            let attention = |problem: String, fix: String| AccountAttention {
                account: name.clone(),
                provider: stored.provider,
                problem,
                fix,
            };
            let opened = key
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|key| key.open(&name, &stored.sealed).map(|s| (key, s)));
            let (key, secret) = match opened {
                Ok(opened) => opened,
                Err(problem) => {
                    let fix = format!("set {SECRET_KEY_ENV} to the key the account was added with");
                    self.needs_attention
                        .insert(name.clone(), attention(problem, fix));
                    continue;
                }
            };
            match stored.provider {
                Provider::Smartlead => {
                    let base_url = stored
                        .base_url
                        .as_deref()
                        .unwrap_or(crate::config::SMARTLEAD_BASE_URL)
                        .parse()
                        .map_err(|e| ProviderSetupError::Stored(format!("account {name}: {e}")))?;
                    let limit = crate::config::RateLimit::default();
                    let mut cfg = SmartleadConfig::new(base_url, secret);
                    cfg.rate_limit = RateLimit {
                        max: limit.max,
                        per: limit.period(),
                    };
                    let client = smartlead::Client::new(cfg).map_err(|source| {
                        ProviderSetupError::Smartlead {
                            account: name.clone(),
                            source,
                        }
                    })?;
                    self.smartlead.insert(
                        name.clone(),
                        Arc::new(SmartleadAccount {
                            name,
                            client,
                            key_origin: "the account's stored key (outpost account add)".into(),
                            client_id: None,
                            email_account_id: None,
                            poll_interval: Duration::from_secs(
                                crate::config::DEFAULT_POLL_INTERVAL_SECS,
                            ),
                        }),
                    );
                }
                Provider::Gmail => {
                    let client_settings = match &setup.gmail {
                        Ok(settings) => settings,
                        Err(problem) => {
                            let fix = "add a [gmail_oauth] section with the OAuth client the \
                                       account signed in with (see config.example.toml)"
                                .to_string();
                            self.needs_attention
                                .insert(name.clone(), attention(problem.clone(), fix));
                            continue;
                        }
                    };
                    drop(secret);
                    let gmail_err = |source| ProviderSetupError::Gmail {
                        account: name.clone(),
                        source,
                    };
                    let vault = SealedTokens::new(setup.store.clone(), key.clone(), &name);
                    let token_store =
                        TokenStore::in_vault(&name, Arc::new(vault)).map_err(gmail_err)?;
                    let client = GmailClient::new(GmailClientConfig {
                        api_base_url: client_settings.api_base_url.clone(),
                        user: "me".into(),
                        account: name.clone(),
                        oauth: client_settings.oauth.clone(),
                        token_store,
                        clock: setup.clock.clone(),
                        max_concurrency: 8,
                    })
                    .map_err(gmail_err)?;
                    self.gmail.insert(
                        name.clone(),
                        Arc::new(GmailAccount {
                            name,
                            email: stored.email.clone().unwrap_or_default(),
                            client,
                            oauth: client_settings.oauth.clone(),
                            poll_interval: Duration::from_secs(
                                crate::config::DEFAULT_POLL_INTERVAL_SECS,
                            ),
                        }),
                    );
                }
            }
        }
        Ok(self)
    }

    /// Not logged here: every face that uses the account reports it.
    fn set_aside(
        &mut self,
        name: &str,
        provider: crate::model::Provider,
        secret: &Secret,
        err: ConfigError,
    ) {
        let problem = err
            .problem()
            .map_or_else(|| err.to_string(), |p| p.message.clone());
        self.needs_attention.insert(
            name.to_string(),
            AccountAttention {
                account: name.to_string(),
                provider,
                problem,
                fix: secret.what_to_set(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::credentials::SealKey;
    use crate::model::{Provider, StoredAccount};
    use base64::Engine as _;
    use secrecy::SecretString;

    fn key() -> SealKey {
        SealKey::from_env_value(Some(
            &base64::engine::general_purpose::STANDARD.encode([5u8; 32]),
        ))
        .unwrap()
    }

    fn config(dir: &Path, extra: &str) -> Config {
        let path = dir.join("config.toml");
        let data = toml::Value::String(dir.join("data").to_string_lossy().into_owned());
        std::fs::write(&path, format!("data_dir = {data}\n{extra}")).unwrap();
        crate::config::load(&crate::config::ConfigSources {
            config_path: Some(path),
            data_dir: None,
        })
        .unwrap()
    }

    fn stored(store: &crate::store::Store, name: &str, provider: Provider, secret: &str) {
        let now = chrono::Utc::now();
        store
            .put(&StoredAccount {
                name: name.into(),
                provider,
                owner: None,
                base_url: Some("http://127.0.0.1:9".into()),
                email: Some("rep@acme.io".into()),
                sealed: key().seal(name, &SecretString::from(secret)).unwrap(),
                created_at: now,
                updated_at: now,
            })
            .unwrap();
    }

    const TOKENS: &str = r#"{"access_token":"ya29.x","refresh_token":"1//r"}"#;
    const OAUTH: &str = "[gmail_oauth]\nclient_id = \"cid\"\nclient_secret = \"shh\"\n\
                         api_base_url = \"http://127.0.0.1:9\"\ntoken_url = \"http://127.0.0.1:9/token\"\n";

    /// A store holding the stored Gmail account "rep", and the providers
    /// built from it under a config with `oauth` added.
    fn with_stored_gmail_rep(oauth: &str) -> (crate::store::Store, Providers) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::temporary().unwrap();
        stored(&store, "rep", Provider::Gmail, TOKENS);
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        let mut providers = Providers::default();
        providers
            .add_stored_with_key(&store, &config(dir.path(), oauth), clock, Ok(key()))
            .unwrap();
        (store, providers)
    }

    #[test]
    fn a_stored_gmail_account_without_gmail_oauth_is_set_aside_with_the_fix() {
        let (_store, providers) = with_stored_gmail_rep("");
        assert!(providers.gmail.is_empty());
        let aside = &providers.needs_attention["rep"];
        assert!(aside.problem.contains("no [gmail_oauth]"), "{aside:?}");
        assert!(aside.fix.contains("[gmail_oauth]"), "{aside:?}");
    }

    #[test]
    fn the_set_is_rebuilt_only_when_a_stored_account_changes_and_keeps_the_others() {
        let (store, providers) = with_stored_gmail_rep(OAUTH);
        assert_eq!(providers.gmail["rep"].email, "rep@acme.io");
        assert!(providers.refreshed().unwrap().is_none(), "nothing changed");

        stored(&store, "sl2", Provider::Smartlead, "sl-key");
        let rebuilt = providers.refreshed().unwrap().expect("a new account");
        assert!(rebuilt.smartlead.contains_key("sl2"));
        assert!(Arc::ptr_eq(&rebuilt.gmail["rep"], &providers.gmail["rep"]));
        assert!(rebuilt.refreshed().unwrap().is_none());

        store.delete::<StoredAccount>("rep").unwrap();
        let without = rebuilt.refreshed().unwrap().expect("one removed");
        assert!(without.gmail.is_empty());
        assert!(Arc::ptr_eq(
            &without.smartlead["sl2"],
            &rebuilt.smartlead["sl2"]
        ));
        assert_eq!(without.stored_names().collect::<Vec<_>>(), ["sl2"]);
    }
}
