//! The provider clients for every configured account, built once from the
//! config (secrets resolved here, never logged).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

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

#[derive(Default)]
pub struct Providers {
    pub smartlead: BTreeMap<String, SmartleadAccount>,
    pub gmail: BTreeMap<String, GmailAccount>,
    /// Accounts left out because their secret could not be read: the others
    /// sync and send, and every face shows these with what to set.
    pub needs_attention: BTreeMap<String, AccountAttention>,
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
                        SmartleadAccount {
                            name: name.clone(),
                            client,
                            key_origin: s.api_key.origin(),
                            client_id: s.client_id.map(|id| id as i64),
                            email_account_id: s.email_account_id.map(|id| id as i64),
                            poll_interval: account.poll_interval(),
                        },
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
                    let token_store = TokenStore::new(data_dir, name).map_err(gmail_err)?;
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
                        GmailAccount {
                            name: name.clone(),
                            email: g.email.clone(),
                            client,
                            oauth,
                            poll_interval: account.poll_interval(),
                        },
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

    /// Adds the Smartlead accounts stored through `outpost account add`,
    /// used like configured ones (the config's own accounts win a name).
    /// One whose secret cannot be opened is set aside with what to do.
    /// Stored Gmail accounts are kept sealed but not polled yet: a Gmail
    /// client needs the OAuth client settings only the config carries.
    pub fn add_stored(&mut self, store: &crate::store::Store) -> Result<(), ProviderSetupError> {
        use crate::engine::credentials::{SECRET_KEY_ENV, SealKey};
        use crate::model::{Provider, StoredAccount};
        let key = SealKey::from_env();
        for stored in store.iter::<StoredAccount>() {
            let stored = stored.map_err(|e| ProviderSetupError::Stored(e.to_string()))?;
            let name = stored.name.clone();
            if self.smartlead.contains_key(&name)
                || self.gmail.contains_key(&name)
                || self.needs_attention.contains_key(&name)
                || stored.provider != Provider::Smartlead
            {
                continue;
            }
            let opened = key
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|key| key.open(&name, &stored.sealed));
            let api_key = match opened {
                Ok(secret) => secret,
                Err(problem) => {
                    self.needs_attention.insert(
                        name.clone(),
                        AccountAttention {
                            account: name.clone(),
                            provider: Provider::Smartlead,
                            problem,
                            fix: format!(
                                "set {SECRET_KEY_ENV} to the key the account was added with"
                            ),
                        },
                    );
                    continue;
                }
            };
            let base_url = stored
                .base_url
                .as_deref()
                .unwrap_or(crate::config::SMARTLEAD_BASE_URL)
                .parse()
                .map_err(|e| ProviderSetupError::Stored(format!("account {name}: {e}")))?;
            let limit = crate::config::RateLimit::default();
            let mut cfg = SmartleadConfig::new(base_url, api_key);
            cfg.rate_limit = RateLimit {
                max: limit.max,
                per: limit.period(),
            };
            let client =
                smartlead::Client::new(cfg).map_err(|source| ProviderSetupError::Smartlead {
                    account: name.clone(),
                    source,
                })?;
            self.smartlead.insert(
                name.clone(),
                SmartleadAccount {
                    name,
                    client,
                    key_origin: "the account's stored key (outpost account add)".into(),
                    client_id: None,
                    email_account_id: None,
                    poll_interval: Duration::from_secs(crate::config::DEFAULT_POLL_INTERVAL_SECS),
                },
            );
        }
        Ok(())
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
