//! Configuration errors. Every one renders as a single line that names the file,
//! the key path and (when known) the line and column, then says what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// Turns a byte offset into a line and column (columns count characters).
    pub fn from_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = text.get(..offset).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Position { line, column }
    }
}

/// One problem at one place in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// Dotted key path such as `accounts.acme.poll_interval_secs`; empty when the
    /// problem is not tied to a key (a syntax error between keys).
    pub key: String,
    pub position: Option<Position>,
    pub message: String,
    pub hint: String,
}

impl Problem {
    pub(crate) fn new(
        file: &Path,
        key: impl Into<String>,
        position: Option<Position>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Problem {
        Problem {
            file: file.to_path_buf(),
            key: key.into(),
            position,
            message: one_line(&message.into()),
            hint: one_line(&hint.into()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.hint.is_empty() {
            write!(f, "; {}", self.hint)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {} does not exist; create it (see config.example.toml) or point --config / OUTPOST_CONFIG at an existing file",
        path.display()
    )]
    NotFound { path: PathBuf },

    #[error(
        "cannot read config file {}: {reason}; check that it is a readable UTF-8 text file",
        path.display()
    )]
    Read { path: PathBuf, reason: String },

    /// Bad syntax, an unknown key, a wrong type or a value out of range.
    #[error("{0}")]
    Invalid(Box<Problem>),

    /// A secret that is missing, ambiguous, or could not be obtained.
    #[error("{0}")]
    Secret(Box<Problem>),

    #[error(
        "cannot determine the platform {what} directory (is HOME set?); pass {flag} or set {env_var}"
    )]
    NoPlatformDir {
        what: &'static str,
        flag: &'static str,
        env_var: &'static str,
    },
}

impl ConfigError {
    pub(crate) fn invalid(problem: Problem) -> ConfigError {
        ConfigError::Invalid(Box::new(problem))
    }

    pub(crate) fn secret(problem: Problem) -> ConfigError {
        ConfigError::Secret(Box::new(problem))
    }

    /// Process exit code for every configuration error: bad input.
    pub fn exit_code(&self) -> i32 {
        2
    }

    /// The problem behind an `Invalid` or `Secret` error, for tools that report it.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ConfigError::Invalid(p) | ConfigError::Secret(p) => Some(p),
            _ => None,
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(self, ConfigError::Secret(_))
    }
}

/// Folds a multi-line message into one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Position::from_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        assert_eq!(
            Position::from_offset(text, 6),
            Position { line: 2, column: 1 }
        );
        // 'é' is two bytes but one column.
        assert_eq!(
            Position::from_offset(text, 10),
            Position { line: 2, column: 4 }
        );
        // An offset inside a character counts from that character.
        assert_eq!(
            Position::from_offset(text, 8),
            Position { line: 2, column: 2 }
        );
        assert_eq!(Position::from_offset(text, 999).line, 3);
    }

    #[test]
    fn problems_render_on_one_line() {
        let p = Problem::new(
            Path::new("/tmp/c.toml"),
            "sending.timezone",
            Some(Position {
                line: 3,
                column: 12,
            }),
            "unknown time zone\n`Mars/Base`",
            "use an IANA name",
        );
        assert_eq!(
            p.to_string(),
            "/tmp/c.toml:3:12: sending.timezone: unknown time zone `Mars/Base`; use an IANA name"
        );
        assert_eq!(ConfigError::invalid(p).exit_code(), 2);
    }
}
