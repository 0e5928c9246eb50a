//! The TUI on a daemon's data: `outpost --remote URL` with its API token, or
//! automatically when a local daemon or another TUI holds the data dir (a
//! second process cannot open it, but it can use the holder's engine API).

use std::path::PathBuf;

use clap::Args;
use secrecy::SecretString;

use super::{CliError, CliResult};
use crate::config::Config;
use crate::engine::remote::RemoteEngine;

/// The environment variable an API token can come from, so it need not be on
/// the command line (where other local users can see it).
pub const TOKEN_ENV: &str = "OUTPOST_REMOTE_TOKEN";

#[derive(Debug, Args, Clone, Default)]
pub struct AttachFlags {
    /// Use a running daemon's engine API (e.g. http://127.0.0.1:8790): the
    /// TUI alone, or any verb that reads or changes the data.
    #[arg(long, value_name = "URL", conflicts_with = "daemon")]
    pub remote: Option<String>,
    /// The daemon's API token (the `api.token` file in its data dir) or a
    /// user's token (`outpost user token NAME`). Prefer
    /// --token-file or $OUTPOST_REMOTE_TOKEN: command lines are visible to others.
    #[arg(
        long,
        value_name = "TOKEN",
        requires = "remote",
        conflicts_with = "token_file",
        value_parser = parse_secret,
        hide_default_value = true
    )]
    pub token: Option<SecretString>,
    /// Read the daemon's API token from this file.
    #[arg(long, value_name = "PATH", requires = "remote")]
    pub token_file: Option<PathBuf>,
}

fn parse_secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text.trim()))
}

/// Where the full-screen client gets its data.
#[derive(Debug)]
pub enum TuiTarget {
    /// This process opens the data dir.
    Local,
    /// A daemon's engine API; `auto` when found through the data dir's lock.
    Remote {
        url: String,
        token: SecretString,
        auto: bool,
    },
}

/// Picks the TUI's backend: `--remote` if given; else the daemon or TUI
/// holding the data dir and serving its door, if one does; else the data dir itself (which still refuses
/// clearly when another, non-daemon process holds it).
pub fn tui_target(flags: &AttachFlags, config: &Config) -> CliResult<TuiTarget> {
    if let Some(url) = &flags.remote {
        return Ok(TuiTarget::Remote {
            url: url.clone(),
            token: token_from(flags, std::env::var(TOKEN_ENV).ok())?,
            auto: false,
        });
    }
    // A daemon or another TUI: either serves the whole engine API (the
    // change stream included) while it holds the data dir.
    Ok(match crate::daemon::serving_holder(config) {
        Some((holder, token)) => TuiTarget::Remote {
            url: holder.api_url.unwrap_or_default(),
            token,
            auto: true,
        },
        None => TuiTarget::Local,
    })
}

/// The door of `--remote URL` with its token, for a CLI verb: every
/// request goes to that daemon, as the token's user.
pub(crate) fn remote_door(flags: &AttachFlags) -> CliResult<Option<RemoteEngine>> {
    let Some(url) = &flags.remote else {
        return Ok(None);
    };
    let token = token_from(flags, std::env::var(TOKEN_ENV).ok())?;
    RemoteEngine::new(url, token)
        .map(Some)
        .map_err(|e| CliError::usage(e.to_string()))
}

/// The token from `--token`, `--token-file`, or the environment, in that order.
fn token_from(flags: &AttachFlags, env: Option<String>) -> CliResult<SecretString> {
    if let Some(token) = &flags.token {
        return Ok(token.clone());
    }
    if let Some(path) = &flags.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        if text.trim().is_empty() {
            return Err(CliError::usage(format!(
                "the token file {} is empty",
                path.display()
            )));
        }
        return Ok(SecretString::from(text.trim()));
    }
    match env {
        Some(text) if !text.trim().is_empty() => Ok(SecretString::from(text.trim())),
        _ => Err(CliError::usage(format!(
            "--remote needs the daemon's API token: --token-file PATH (the daemon's \
             data dir has it in {}), ${TOKEN_ENV}, or --token",
            crate::daemon::TOKEN_FILE
        ))),
    }
}

/// A client of the daemon's API, checked with one call so a wrong token or
/// URL fails before the screen is taken over.
pub async fn connect(url: &str, token: SecretString) -> CliResult<RemoteEngine> {
    let remote = RemoteEngine::new(url, token).map_err(|e| CliError::usage(e.to_string()))?;
    remote
        .execute(&crate::engine::door::Request::Accounts)
        .await?;
    Ok(remote)
}

/// The TUI attached to a daemon, until the rep quits.
pub(crate) async fn run_attached_tui(
    config: Config,
    url: String,
    token: SecretString,
) -> CliResult<()> {
    let remote = connect(&url, token).await?;
    // Log beside the daemon's data when it is local; a remote one's data
    // dir may not exist here.
    if config.data_dir().is_dir() {
        super::logging::to_file(&config, config.data_dir());
    }
    crate::tui::run_attached(remote, &config, crate::tui::TuiOptions::default())
        .await
        .map_err(|e| CliError::runtime(e.to_string()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_token_comes_from_the_flag_then_the_file_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("api.token");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut flags = AttachFlags {
            remote: Some("http://127.0.0.1:1".into()),
            token: Some(SecretString::from("from-flag")),
            token_file: None,
        };
        let env = Some("from-env".to_string());
        let read = |flags: &AttachFlags, env: Option<String>| {
            token_from(flags, env).map(|t| t.expose_secret().to_string())
        };
        assert_eq!(read(&flags, env.clone()).unwrap(), "from-flag");
        flags.token = None;
        flags.token_file = Some(file);
        assert_eq!(read(&flags, env.clone()).unwrap(), "from-file");
        flags.token_file = None;
        assert_eq!(read(&flags, env).unwrap(), "from-env");
        let missing = token_from(&flags, None).unwrap_err();
        assert_eq!(missing.code, 2);
        assert!(
            missing.message.contains("--token-file"),
            "{}",
            missing.message
        );
        flags.token_file = Some(dir.path().join("absent"));
        assert_eq!(token_from(&flags, None).unwrap_err().code, 2);
    }
}
