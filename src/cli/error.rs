//! How the command line fails: exit 2 for bad usage or input, 1 for runtime
//! failures; every message says what was wrong and what to do.

use crate::config::ConfigError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ConfigError> for CliError {
    fn from(err: ConfigError) -> Self {
        Self {
            code: err.exit_code(),
            message: err.to_string(),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        Self::runtime(err.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        Self::runtime(format!("i/o error: {err}"))
    }
}

impl From<serde_json::Error> for CliError {
    fn from(err: serde_json::Error) -> Self {
        Self::runtime(format!("cannot write JSON: {err}"))
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;
