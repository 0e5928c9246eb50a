//! outpost's configuration: one TOML file (every key documented in
//! `config.example.toml`), environment overrides for its location and the data
//! directory, and secrets given literally, by environment variable or by command.
//!
//! Unknown keys and wrong types are rejected by name; every error is one line
//! that names the file, the key path and the line:column.

mod accounts;
mod error;
mod gmail_oauth;
mod paths;
mod secrets;
mod sections;
mod spans;
mod store;
mod users;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use accounts::{
    Account, DEFAULT_POLL_INTERVAL_SECS, GMAIL_API_BASE_URL, GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL,
    GmailSettings, ProviderKind, ProviderSettings, SMARTLEAD_BASE_URL, SmartleadSettings,
    TokenPlace,
};
pub use error::{ConfigError, Position, Problem};
pub use gmail_oauth::GmailOAuthConfig;
pub use paths::{
    CONFIG_ENV, CONFIG_FILE_NAME, ConfigSources, DATA_DIR_ENV, Env, FixedEnv, PlatformDirs,
    ProcessEnv, expand_tilde,
};
pub use secrets::{Secret, SecretSource};
pub use sections::{
    DEFAULT_LISTEN, DaemonConfig, GapRange, LogFormat, LogLevel, LoggingConfig, Notify, NotifyHook,
    RateLimit, SendWindow, SendingConfig, UiConfig,
};
pub use users::{User, valid_user_name};

use secrets::optional_secret;
use sections::RawDaemon;
use spans::Source;
pub use store::{StoreBackend, StoreConfig};

/// Whether `load_with` obtains every secret's value up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveSecrets {
    /// Resolve all configured secrets now; a missing one fails the load.
    Now,
    /// Only check the structure; values are fetched on first `Secret::resolve`.
    /// For `doctor`, which reports each secret separately.
    Later,
}

/// The loaded configuration.
#[derive(Debug)]
pub struct Config {
    /// By account name, in name order.
    pub accounts: BTreeMap<String, Account>,
    pub daemon: DaemonConfig,
    pub sending: SendingConfig,
    pub ui: UiConfig,
    pub logging: LoggingConfig,
    pub notify: NotifyHook,
    /// Where the records live (`[store]`).
    pub store: StoreConfig,
    /// `[users.NAME]`, by name: who sees which accounts through the API.
    pub users: BTreeMap<String, User>,
    /// Top-level `user`: who "me" is for this machine's commands
    /// (`inbox --mine`, `assigned:me`).
    pub user: Option<String>,
    /// `[gmail_oauth]`: the OAuth client of Gmail accounts added with
    /// `outpost account add gmail` (None: such accounts are set aside).
    pub gmail_oauth: Option<GmailOAuthConfig>,
    config_path: PathBuf,
    file_found: bool,
    data_dir: PathBuf,
    warnings: Vec<String>,
}

impl Config {
    /// Where the store's records live (the data dir's cache, or Postgres).
    pub fn store_location(&self) -> Result<crate::store::Location, ConfigError> {
        self.store.location()
    }

    /// Where the data (sled cache, tokens, logs) lives.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the config file was read from, or would be read from if it existed.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// False when no file exists at the default location (an empty config).
    pub fn file_found(&self) -> bool {
        self.file_found
    }

    /// Things the user should know that do not stop outpost (e.g. a literal
    /// secret in a file others can read). Not printed by the loader.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.get(name)
    }

    /// The Smartlead account whose `webhook_token` is `token`.
    pub fn account_by_webhook_token(&self, token: &str) -> Option<&Account> {
        self.accounts.values().find(|a| match &a.provider {
            ProviderSettings::Smartlead(s) => s.webhook_token.as_deref() == Some(token),
            ProviderSettings::Gmail(_) => false,
        })
    }

    /// Every configured secret: accounts in name order, then the daemon's.
    pub fn secrets(&self) -> Vec<&Secret> {
        let mut all: Vec<&Secret> = self.accounts.values().flat_map(Account::secrets).collect();
        all.extend(self.daemon.webhook_secret.iter());
        all.extend(self.daemon.api_token.iter());
        all.extend(self.store.url.iter());
        all.extend(self.gmail_oauth.iter().map(|o| &o.client_secret));
        all
    }

    /// Resolves every configured secret, stopping at the first that fails.
    pub fn resolve_secrets(&self, env: &dyn Env) -> Result<(), ConfigError> {
        for secret in self.secrets() {
            secret.resolve_with(env)?;
        }
        Ok(())
    }
}

/// Loads the configuration from the real environment and resolves every secret.
pub fn load(sources: &ConfigSources) -> Result<Config, ConfigError> {
    load_with(sources, &ProcessEnv, ResolveSecrets::Now)
}

/// Loads without resolving secrets (for `doctor`-style reports).
pub fn load_unresolved(sources: &ConfigSources) -> Result<Config, ConfigError> {
    load_with(sources, &ProcessEnv, ResolveSecrets::Later)
}

/// Loads with an explicit environment: `--config` > `OUTPOST_CONFIG` >
/// `config.toml` in the data dir named by `--data-dir` or `OUTPOST_DATA_DIR`
/// (when there is one) > platform config dir for the file; `--data-dir` > `OUTPOST_DATA_DIR` > `data_dir` in
/// the file > platform data dir for the data.
pub fn load_with(
    sources: &ConfigSources,
    env: &dyn Env,
    resolve: ResolveSecrets,
) -> Result<Config, ConfigError> {
    let location = paths::config_location(sources, env)?;
    let (text, file_found) = match std::fs::read_to_string(&location.path) {
        Ok(text) => (text, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !location.explicit => {
            (String::new(), false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound {
                path: location.path,
            });
        }
        Err(e) => {
            return Err(ConfigError::Read {
                path: location.path,
                reason: e.to_string(),
            });
        }
    };
    let home = env.platform_dirs().and_then(|d| d.home_dir);
    let parsed = parse(&text, &location.path, home.as_deref())?;
    let data_dir = paths::data_dir(sources, env, parsed.data_dir)?;

    let mut config = Config {
        accounts: parsed.accounts,
        daemon: parsed.daemon,
        sending: parsed.sending,
        ui: parsed.ui,
        logging: parsed.logging,
        notify: parsed.notify,
        store: parsed.store,
        users: parsed.users,
        user: parsed.user,
        gmail_oauth: parsed.gmail_oauth,
        config_path: location.path,
        file_found,
        data_dir,
        warnings: Vec::new(),
    };
    config.warnings = permission_warnings(&config);
    if !config.file_found {
        config.warnings.push(format!(
            "no config file at {}, so no accounts are configured; create it (see config.example.toml) or pass --config",
            config.config_path.display()
        ));
    }
    if resolve == ResolveSecrets::Now {
        config.resolve_secrets(env)?;
    }
    Ok(config)
}

/// The file's contents, checked and with defaults filled in.
struct Parsed {
    data_dir: Option<PathBuf>,
    accounts: BTreeMap<String, Account>,
    daemon: DaemonConfig,
    sending: SendingConfig,
    ui: UiConfig,
    logging: LoggingConfig,
    notify: NotifyHook,
    store: StoreConfig,
    users: BTreeMap<String, User>,
    user: Option<String>,
    gmail_oauth: Option<GmailOAuthConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoot {
    #[serde(default, deserialize_with = "values::optional_non_empty")]
    data_dir: Option<String>,
    /// Read table by table afterwards, so each account is checked against the
    /// keys of its own provider.
    #[allow(dead_code)]
    accounts: Option<IgnoredAny>,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    sending: SendingConfig,
    #[serde(default)]
    ui: UiConfig,
    #[serde(default)]
    logging: LoggingConfig,
    #[serde(default)]
    notify: NotifyHook,
    #[serde(default)]
    store: store::RawStore,
    #[serde(default)]
    users: BTreeMap<String, users::RawUser>,
    #[serde(default, deserialize_with = "values::optional_non_empty")]
    user: Option<String>,
    #[serde(default)]
    gmail_oauth: Option<gmail_oauth::RawGmailOAuth>,
}

fn parse(text: &str, file: &Path, home: Option<&Path>) -> Result<Parsed, ConfigError> {
    let src = Source { file, text };
    let doc = DeTable::parse(text).map_err(|e| src.syntax_error(&e))?;
    let doc = Spanned::new(doc.span(), DeValue::Table(doc.into_inner()));

    let mut raw = RawRoot::deserialize(serde::de::IntoDeserializer::into_deserializer(doc.clone()))
        .map_err(|e| src.value_error(&e, &doc, ""))?;

    let accounts = read_accounts(&src, &doc, home)?;
    let users = users::read_users(&src, &doc, std::mem::take(&mut raw.users), &accounts)?;
    users::check_local_user(&src, &doc, raw.user.as_deref(), &users)?;
    // Checked here rather than when the TUI opens, so a keymap that cannot
    // work stops every command at load, like any other bad key.
    if let Err(err) = crate::tui::Keymap::with_overrides(&raw.ui.keymap) {
        let span = spans::span_of(&doc, &["ui", "keymap", &err.action]).unwrap_or(doc.span());
        return Err(src.invalid(
            &format!("ui.keymap.{}", spans::quote_key(&err.action)),
            span,
            err.message,
            err.hint,
        ));
    }
    let daemon = DaemonConfig {
        listen: raw.daemon.listen,
        public_url: raw.daemon.public_url.take(),
        webhook_secret: optional_secret(
            &src,
            "daemon.webhook_secret",
            raw.daemon.take_webhook_secret(),
        )?,
        api_token: optional_secret(&src, "daemon.api_token", raw.daemon.take_api_token())?,
        log_format: raw.daemon.log_format,
        log_file: raw
            .daemon
            .log_file
            .as_deref()
            .map(|p| paths::file_path(p, file, home)),
        work_interval: raw
            .daemon
            .work_interval_ms
            .map(std::time::Duration::from_millis),
    };
    let gmail_oauth = match raw.gmail_oauth.take() {
        Some(oauth) => {
            let span = spans::span_of(&doc, &["gmail_oauth"]).unwrap_or(doc.span());
            Some(GmailOAuthConfig::from_raw(&src, oauth, span)?)
        }
        None => None,
    };
    Ok(Parsed {
        data_dir: raw
            .data_dir
            .as_deref()
            .map(|p| paths::file_path(p, file, home)),
        accounts,
        daemon,
        sending: raw.sending,
        ui: raw.ui,
        logging: raw.logging,
        notify: raw.notify,
        store: StoreConfig::from_raw(&src, raw.store)?,
        users,
        user: raw.user,
        gmail_oauth,
    })
}

fn read_accounts(
    src: &Source<'_>,
    doc: &Spanned<DeValue<'_>>,
    home: Option<&Path>,
) -> Result<BTreeMap<String, Account>, ConfigError> {
    let mut accounts = BTreeMap::new();
    let Some(value) = doc.get_ref().get("accounts") else {
        return Ok(accounts);
    };
    let DeValue::Table(table) = value.get_ref() else {
        return Err(src.invalid(
            "accounts",
            value.span(),
            format!("expected a table, found {}", value.get_ref().type_str()),
            "declare each account as an [accounts.NAME] section",
        ));
    };
    // Which account (and where) first claimed each webhook token.
    let mut tokens: BTreeMap<String, String> = BTreeMap::new();
    for (name, entry) in table.iter() {
        let account = accounts::account_from(src, name, entry, home)?;
        if let ProviderSettings::Smartlead(s) = &account.provider
            && let Some(token) = &s.webhook_token
            && let Some(first) = tokens.insert(token.clone(), account.name.clone())
        {
            return Err(src.invalid(
                &format!("accounts.{}.webhook_token", spans::quote_key(&account.name)),
                entry.span(),
                format!("the same token is already used by account `{first}`"),
                "give every account its own webhook_token",
            ));
        }
        accounts.insert(account.name.clone(), account);
    }
    Ok(accounts)
}

/// A literal secret in a file that group or others can read is worth a warning.
fn permission_warnings(config: &Config) -> Vec<String> {
    let literal: Vec<String> = config
        .secrets()
        .into_iter()
        .filter(|s| s.is_literal())
        .map(Secret::key_path)
        .collect();
    if literal.is_empty() || !config.file_found {
        return Vec::new();
    }
    match loose_mode(&config.config_path) {
        Some(mode) => vec![format!(
            "{} holds a literal secret ({}) and is readable by others (mode {:04o}); run `chmod 600 {}` or move the secret to an _env or _cmd key",
            config.config_path.display(),
            literal.join(", "),
            mode,
            config.config_path.display()
        )],
        None => Vec::new(),
    }
}

/// The file's permission bits when group or others have any access.
#[cfg(unix)]
fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_mode(_path: &Path) -> Option<u32> {
    None
}
