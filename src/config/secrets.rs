//! Secrets (API keys, client secrets, webhook secrets): given literally, by
//! environment variable name (`<key>_env`), or by a shell command (`<key>_cmd`).
//! Values are held as `SecretString` and never shown by Debug or in errors.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use secrecy::SecretString;
use toml::Spanned;

use super::error::{ConfigError, Position, Problem};
use super::paths::{Env, ProcessEnv};
use super::spans::Source;

/// Where a secret comes from.
pub enum SecretSource {
    /// Written in the config file itself.
    Literal(SecretString),
    /// The name of an environment variable holding it.
    Env(String),
    /// A command run with `sh -c`; its trimmed stdout is the secret.
    Command(String),
}

impl SecretSource {
    /// The suffix of the config key for this kind of source.
    fn suffix(&self) -> &'static str {
        match self {
            SecretSource::Literal(_) => "",
            SecretSource::Env(_) => "_env",
            SecretSource::Command(_) => "_cmd",
        }
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Literal(_) => f.write_str("Literal([redacted])"),
            // The variable's name is not secret; it helps diagnose a missing one.
            SecretSource::Env(name) => f.debug_tuple("Env").field(name).finish(),
            // A command may embed the secret (`echo ...`), so it is not shown.
            SecretSource::Command(_) => f.write_str("Command([redacted])"),
        }
    }
}

/// One configured secret: its source, where it was configured, and its value
/// once resolved (resolution happens at most once).
pub struct Secret {
    /// Key path of the secret without suffix, e.g. `accounts.acme.api_key`.
    key: String,
    source: SecretSource,
    file: PathBuf,
    position: Option<Position>,
    value: OnceLock<SecretString>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("key", &self.key)
            .field("source", &self.source)
            .field("resolved", &self.value.get().is_some())
            .finish()
    }
}

impl Secret {
    /// A secret given directly in code (for the demo and tests); nothing to resolve.
    pub fn from_value(key: &str, value: SecretString) -> Secret {
        let resolved = OnceLock::new();
        let _ = resolved.set(value.clone());
        Secret {
            key: key.to_string(),
            source: SecretSource::Literal(value),
            file: PathBuf::new(),
            position: None,
            value: resolved,
        }
    }

    /// The key path of the field that configured it, e.g. `accounts.acme.api_key_env`.
    pub fn key_path(&self) -> String {
        format!("{}{}", self.key, self.source.suffix())
    }

    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// What the rep sets to supply it, e.g. `set SMARTLEAD_API_KEY`: never
    /// the value, only where it comes from.
    pub fn what_to_set(&self) -> String {
        match &self.source {
            SecretSource::Env(name) => format!("set {name}"),
            SecretSource::Command(_) => format!("make {} print the secret", self.key_path()),
            SecretSource::Literal(_) => format!("set {}", self.key_path()),
        }
    }

    /// Where the value was taken from, for a provider that refuses it:
    /// the variable's name, else the config key.
    pub fn origin(&self) -> String {
        match &self.source {
            SecretSource::Env(name) => name.clone(),
            _ => self.key_path(),
        }
    }

    pub fn is_literal(&self) -> bool {
        matches!(self.source, SecretSource::Literal(_))
    }

    /// The value, resolving it from the process environment on first use.
    pub fn resolve(&self) -> Result<SecretString, ConfigError> {
        self.resolve_with(&ProcessEnv)
    }

    /// The value, resolving `_env` sources through `env` on first use.
    pub fn resolve_with(&self, env: &dyn Env) -> Result<SecretString, ConfigError> {
        if let Some(value) = self.value.get() {
            return Ok(value.clone());
        }
        let value = self.fetch(env)?;
        // A concurrent resolver may have won; either value came from the same source.
        Ok(self.value.get_or_init(|| value).clone())
    }

    fn fetch(&self, env: &dyn Env) -> Result<SecretString, ConfigError> {
        match &self.source {
            SecretSource::Literal(value) => Ok(value.clone()),
            SecretSource::Env(name) => env.var(name).map(SecretString::from).ok_or_else(|| {
                self.error(
                    format!("environment variable `{name}` is not set or is empty"),
                    format!(
                        "export {name} before starting outpost, or use {key}_cmd instead",
                        key = short_key(&self.key)
                    ),
                )
            }),
            SecretSource::Command(command) => self.run(command),
        }
    }

    fn run(&self, command: &str) -> Result<SecretString, ConfigError> {
        let hint = "check that the command works in `sh -c` and prints the secret on stdout";
        // stderr stays attached so the user sees the tool's own complaint
        // (e.g. a locked password store); stdout carries the secret and is captured.
        let output = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| self.error(format!("cannot run the command: {e}"), hint))?;
        if !output.status.success() {
            let status = output.status.code().map_or_else(
                || "killed by a signal".to_string(),
                |c| format!("exit status {c}"),
            );
            return Err(self.error(format!("the command failed ({status})"), hint));
        }
        let text = String::from_utf8(output.stdout)
            .map_err(|_| self.error("the command printed something that is not UTF-8", hint))?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(self.error("the command printed nothing", hint));
        }
        Ok(SecretString::from(trimmed))
    }

    fn error(&self, message: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        ConfigError::secret(Problem::new(
            &self.file,
            self.key_path(),
            self.position,
            message,
            hint,
        ))
    }
}

/// The three optional fields that can configure one secret, as read from the file.
#[derive(Default)]
pub(crate) struct SecretFields {
    pub literal: Option<Spanned<String>>,
    pub env: Option<Spanned<String>>,
    pub cmd: Option<Spanned<String>>,
}

/// A secret that must be configured: exactly one source, not empty. `key` is
/// the full key path without suffix; `table_span` locates the table that
/// should have held it.
pub(crate) fn required_secret(
    src: &Source<'_>,
    key: &str,
    fields: SecretFields,
    table_span: std::ops::Range<usize>,
) -> Result<Secret, ConfigError> {
    optional_secret(src, key, fields)?.ok_or_else(|| {
        let short = short_key(key);
        ConfigError::secret(Problem::new(
            src.file,
            key,
            Some(src.position(table_span.start)),
            "missing secret",
            format!("set exactly one of {short}_env, {short}_cmd or {short}"),
        ))
    })
}

/// A secret that may be left out; if given, exactly one source, not empty.
pub(crate) fn optional_secret(
    src: &Source<'_>,
    key: &str,
    fields: SecretFields,
) -> Result<Option<Secret>, ConfigError> {
    let short = short_key(key);
    let mut given = [
        ("", fields.literal),
        ("_env", fields.env),
        ("_cmd", fields.cmd),
    ]
    .into_iter()
    .filter_map(|(suffix, v)| v.map(|v| (suffix, v)));

    let Some((suffix, value)) = given.next() else {
        return Ok(None);
    };
    if let Some((second, other)) = given.next() {
        return Err(ConfigError::secret(Problem::new(
            src.file,
            format!("{key}{second}"),
            Some(src.position(other.span().start)),
            format!("{short}{suffix} and {short}{second} are both given"),
            format!("keep exactly one of {short}_env, {short}_cmd or {short}"),
        )));
    }

    let position = Some(src.position(value.span().start));
    let text = value.into_inner();
    if text.trim().is_empty() {
        return Err(ConfigError::secret(Problem::new(
            src.file,
            format!("{key}{suffix}"),
            position,
            "is empty",
            match suffix {
                "_env" => "give the name of the environment variable that holds the secret",
                "_cmd" => "give a shell command that prints the secret",
                _ => "give the secret, or better, use the _env or _cmd form",
            },
        )));
    }
    let source = match suffix {
        "_env" => SecretSource::Env(text),
        "_cmd" => SecretSource::Command(text),
        _ => SecretSource::Literal(SecretString::from(text)),
    };
    Ok(Some(Secret {
        key: key.to_string(),
        source,
        file: src.file.to_path_buf(),
        position,
        value: OnceLock::new(),
    }))
}

/// The last segment of a key path, e.g. `api_key`.
fn short_key(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}
