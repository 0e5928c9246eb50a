//! `[store]`: where the records live. The embedded sled cache in the data
//! dir is the default (one rep); `backend = "postgres"` puts them in a
//! database several daemons share (a team server).

use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;
use super::secrets::{Secret, SecretFields, optional_secret};
use super::spans::Source;
use crate::store::Location;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sled,
    Postgres,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    #[serde(default)]
    backend: Option<Spanned<StoreBackend>>,
    url: Option<Spanned<String>>,
    url_env: Option<Spanned<String>>,
    url_cmd: Option<Spanned<String>>,
}

#[derive(Debug, Default)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// The Postgres connection URL (it may carry a password).
    pub url: Option<Secret>,
}

impl StoreConfig {
    pub(crate) fn from_raw(src: &Source<'_>, raw: RawStore) -> Result<StoreConfig, ConfigError> {
        let backend_span = raw.backend.as_ref().map(|b| b.span());
        let backend = raw.backend.map(|b| b.into_inner()).unwrap_or_default();
        let url_span = [&raw.url, &raw.url_env, &raw.url_cmd]
            .into_iter()
            .flatten()
            .map(|v| v.span())
            .next();
        let url = optional_secret(
            src,
            "store.url",
            SecretFields {
                literal: raw.url,
                env: raw.url_env,
                cmd: raw.url_cmd,
            },
        )?;
        match (backend, &url) {
            (StoreBackend::Postgres, None) => Err(src.invalid(
                "store.backend",
                backend_span.unwrap_or(0..0),
                "backend = \"postgres\" needs the database's connection URL",
                "add url_env = \"OUTPOST_DATABASE_URL\" (or url_cmd, or url) to [store]",
            )),
            (StoreBackend::Sled, Some(_)) => Err(src.invalid(
                "store.url",
                url_span.unwrap_or(0..0),
                "a database URL is only used with backend = \"postgres\"",
                "add backend = \"postgres\" to [store], or remove the URL",
            )),
            _ => Ok(StoreConfig { backend, url }),
        }
    }

    /// Where to open the store, resolving the URL's secret now.
    pub fn location(&self) -> Result<Location, ConfigError> {
        match (self.backend, &self.url) {
            (StoreBackend::Postgres, Some(url)) => Ok(Location::Postgres(url.resolve()?)),
            _ => Ok(Location::Embedded),
        }
    }
}
