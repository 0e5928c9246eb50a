//! Where the config file and the data directory are: command line first, then
//! the environment, then (for the config) a `config.toml` inside a data dir
//! named by either, then the config file (data dir only), then the platform
//! default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;

pub const CONFIG_ENV: &str = "OUTPOST_CONFIG";
pub const DATA_DIR_ENV: &str = "OUTPOST_DATA_DIR";
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// Values given on the command line (`--config`, `--data-dir`). The environment
/// fallbacks are read by the loader, not by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSources {
    pub config_path: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

/// The platform's per-user directories for outpost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformDirs {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Used to expand a leading `~` in paths from the config file.
    pub home_dir: Option<PathBuf>,
}

/// What the loader reads from its surroundings; injected so that tests do not
/// depend on (or race over) the real process environment.
pub trait Env {
    /// The variable's value; unset and empty are both `None`.
    fn var(&self, name: &str) -> Option<String>;
    fn platform_dirs(&self) -> Option<PlatformDirs>;
}

/// The real process environment and the `directories` crate's platform dirs.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn platform_dirs(&self) -> Option<PlatformDirs> {
        let project = directories::ProjectDirs::from("io", "outpost", "outpost")?;
        let home_dir = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
        Some(PlatformDirs {
            config_dir: project.config_dir().to_path_buf(),
            data_dir: project.data_dir().to_path_buf(),
            home_dir,
        })
    }
}

/// A fixed environment: for tests, and for callers (such as the demo) that
/// build a configuration without touching the user's own.
#[derive(Debug, Clone, Default)]
pub struct FixedEnv {
    pub vars: BTreeMap<String, String>,
    pub dirs: Option<PlatformDirs>,
}

impl FixedEnv {
    pub fn new(dirs: Option<PlatformDirs>) -> FixedEnv {
        FixedEnv {
            vars: BTreeMap::new(),
            dirs,
        }
    }

    pub fn with_var(mut self, name: &str, value: &str) -> FixedEnv {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }
}

impl Env for FixedEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }

    fn platform_dirs(&self) -> Option<PlatformDirs> {
        self.dirs.clone()
    }
}

/// Where the config file is read from, and whether the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigLocation {
    pub path: PathBuf,
    /// Named by `--config` or `OUTPOST_CONFIG`: then a missing file is an error.
    pub explicit: bool,
}

pub(crate) fn config_location(
    sources: &ConfigSources,
    env: &dyn Env,
) -> Result<ConfigLocation, ConfigError> {
    if let Some(path) = &sources.config_path {
        return Ok(ConfigLocation {
            path: path.clone(),
            explicit: true,
        });
    }
    let home = env.platform_dirs().and_then(|d| d.home_dir);
    if let Some(path) = env.var(CONFIG_ENV) {
        return Ok(ConfigLocation {
            path: expand_tilde(Path::new(&path), home.as_deref()),
            explicit: true,
        });
    }
    // A data dir that carries its own config (as `outpost demo --data-dir D`
    // leaves one) is a whole setup: `--data-dir D` alone reopens it.
    let named_data_dir = sources.data_dir.clone().or_else(|| {
        env.var(DATA_DIR_ENV)
            .map(|dir| expand_tilde(Path::new(&dir), home.as_deref()))
    });
    if let Some(dir) = named_data_dir {
        let path = dir.join(CONFIG_FILE_NAME);
        if path.is_file() {
            return Ok(ConfigLocation {
                path,
                explicit: false,
            });
        }
    }
    let dirs = env.platform_dirs().ok_or(ConfigError::NoPlatformDir {
        what: "config",
        flag: "--config",
        env_var: CONFIG_ENV,
    })?;
    Ok(ConfigLocation {
        path: dirs.config_dir.join(CONFIG_FILE_NAME),
        explicit: false,
    })
}

/// `from_file` is the config's `data_dir`, already expanded and made absolute.
pub(crate) fn data_dir(
    sources: &ConfigSources,
    env: &dyn Env,
    from_file: Option<PathBuf>,
) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = &sources.data_dir {
        return Ok(dir.clone());
    }
    if let Some(dir) = env.var(DATA_DIR_ENV) {
        let home = env.platform_dirs().and_then(|d| d.home_dir);
        return Ok(expand_tilde(Path::new(&dir), home.as_deref()));
    }
    if let Some(dir) = from_file {
        return Ok(dir);
    }
    env.platform_dirs()
        .map(|d| d.data_dir)
        .ok_or(ConfigError::NoPlatformDir {
            what: "data",
            flag: "--data-dir",
            env_var: DATA_DIR_ENV,
        })
}

/// Expands a leading `~` (alone or followed by a separator) to the home directory.
/// Without a known home directory the path is returned unchanged.
pub fn expand_tilde(path: &Path, home: Option<&Path>) -> PathBuf {
    let Some(home) = home else {
        return path.to_path_buf();
    };
    match path.strip_prefix("~") {
        Ok(rest) if rest.as_os_str().is_empty() => home.to_path_buf(),
        Ok(rest) => home.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// A path from the config file: `~` expanded, and relative paths taken from the
/// config file's own directory so the result does not depend on the working dir.
pub(crate) fn file_path(value: &str, config_path: &Path, home: Option<&Path>) -> PathBuf {
    let expanded = expand_tilde(Path::new(value), home);
    if expanded.is_absolute() {
        return expanded;
    }
    match config_path.parent() {
        Some(dir) => dir.join(expanded),
        None => expanded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_expands_only_as_a_whole_leading_component() {
        let home = Path::new("/home/rep");
        assert_eq!(expand_tilde(Path::new("~"), Some(home)), home);
        assert_eq!(
            expand_tilde(Path::new("~/data/outpost"), Some(home)),
            Path::new("/home/rep/data/outpost")
        );
        assert_eq!(
            expand_tilde(Path::new("~other/x"), Some(home)),
            Path::new("~other/x")
        );
        assert_eq!(expand_tilde(Path::new("~/x"), None), Path::new("~/x"));
    }

    #[test]
    fn relative_file_paths_are_taken_from_the_config_dir() {
        let config = Path::new("/etc/outpost/config.toml");
        assert_eq!(
            file_path("data", config, None),
            Path::new("/etc/outpost/data")
        );
        assert_eq!(file_path("/var/x", config, None), Path::new("/var/x"));
    }
}
