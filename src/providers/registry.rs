//! The provider clients for every configured account, built once from the
//! config (secrets resolved here, never logged).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::{Config, ConfigError, ProviderSettings};
use crate::providers::gmail::{
    GmailClient, GmailClientConfig, GmailError, OAuthParams, TokenStore,
};
use crate::providers::http::RateLimit;
use crate::providers::smartlead::{self, SmartleadConfig, SmartleadError};

pub struct SmartleadAccount {
    pub name: String,
    pub client: smartlead::Client,
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
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("smartlead", &self.smartlead.keys().collect::<Vec<_>>())
            .field("gmail", &self.gmail.keys().collect::<Vec<_>>())
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
}

impl Providers {
    /// Builds a client per account, resolving each account's secret.
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
                    let mut cfg = SmartleadConfig::new(s.base_url.clone(), s.api_key.resolve()?);
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
                    let mut oauth =
                        OAuthParams::google(g.client_id.clone(), g.client_secret.resolve()?);
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

    pub fn is_empty(&self) -> bool {
        self.smartlead.is_empty() && self.gmail.is_empty()
    }
}
