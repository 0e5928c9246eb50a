//! Maps byte spans from the toml crate back to key paths and line:column, so
//! every error can say which key is wrong and where it is.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, Position, Problem};

/// The text of the config file and where it came from.
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn position(&self, offset: usize) -> Position {
        Position::from_offset(self.text, offset)
    }

    /// An `Invalid` error at `span` for an explicitly known key.
    pub fn invalid(
        &self,
        key: &str,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ConfigError {
        ConfigError::invalid(Problem::new(
            self.file,
            key,
            Some(self.position(span.start)),
            message,
            hint,
        ))
    }

    /// Turns a toml syntax error into a one-line error.
    pub fn syntax_error(&self, err: &toml::de::Error) -> ConfigError {
        ConfigError::invalid(Problem::new(
            self.file,
            "",
            err.span().map(|s| self.position(s.start)),
            format!("invalid TOML: {}", err.message()),
            "fix the syntax (strings need quotes, tables need [brackets])",
        ))
    }

    /// Turns a deserialization error inside `doc` into a one-line error naming the key.
    /// `prefix` is the key path of `doc` itself (empty for the whole file).
    pub fn value_error(
        &self,
        err: &toml::de::Error,
        doc: &Spanned<DeValue<'_>>,
        prefix: &str,
    ) -> ConfigError {
        let key = match err.span() {
            Some(span) => {
                let mut path = Vec::new();
                find_key(doc, span.start, &mut path);
                join_key(prefix, &path)
            }
            None => prefix.to_string(),
        };
        let message = err.message();
        let hint = if message.starts_with("unknown field") {
            "remove the key or fix its spelling (every key is documented in config.example.toml)"
        } else if message.starts_with("missing field") {
            "add the key (see config.example.toml)"
        } else if message.starts_with("invalid type") {
            "give a value of the expected type (see config.example.toml)"
        } else if message.starts_with("unknown variant") {
            "use one of the listed values"
        } else {
            "see config.example.toml for the expected form"
        };
        ConfigError::invalid(Problem::new(
            self.file,
            key,
            err.span().map(|s| self.position(s.start)),
            message,
            hint,
        ))
    }
}

/// Where the value at a key path is in the file, when it is there.
pub(crate) fn span_of(doc: &Spanned<DeValue<'_>>, path: &[&str]) -> Option<Range<usize>> {
    let mut value = doc;
    for key in path {
        value = value.get_ref().get(*key)?;
    }
    Some(value.span())
}

/// Pushes onto `path` the keys leading to the innermost key or value that
/// covers `offset`. Returns whether anything matched.
fn find_key(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<String>) -> bool {
    match value.get_ref() {
        DeValue::Table(table) => find_in_table(table, offset, path),
        DeValue::Array(array) => {
            for (index, item) in array.iter().enumerate() {
                let depth = path.len();
                path.push(format!("[{index}]"));
                if find_key(item, offset, path) || item.span().contains(&offset) {
                    return true;
                }
                path.truncate(depth);
            }
            false
        }
        _ => false,
    }
}

fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        let depth = path.len();
        path.push(key.get_ref().to_string());
        if key.span().contains(&offset) {
            return true;
        }
        // Children first: a `[table]` header's span may not cover its keys.
        if find_key(value, offset, path) {
            return true;
        }
        if value.span().contains(&offset) {
            return true;
        }
        path.truncate(depth);
    }
    false
}

/// Joins key segments into a dotted path, quoting segments that are not bare keys.
pub(crate) fn join_key(prefix: &str, segments: &[String]) -> String {
    let mut out = prefix.to_string();
    for segment in segments {
        if segment.starts_with('[') {
            out.push_str(segment);
            continue;
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&quote_key(segment));
    }
    out
}

/// A key as it would be written in TOML: bare when possible, quoted otherwise.
pub(crate) fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_at(text: &str, needle: &str) -> String {
        let doc = DeTable::parse(text).expect("valid toml");
        let doc = Spanned::new(doc.span(), DeValue::Table(doc.into_inner()));
        let offset = text.find(needle).expect("needle present");
        let mut path = Vec::new();
        find_key(&doc, offset, &mut path);
        join_key("", &path)
    }

    #[test]
    fn offsets_resolve_to_dotted_key_paths() {
        let text = "top = 1\n[accounts.acme]\npoll = \"x\"\n[sending]\nholidays = [1, \"b\"]\n";
        assert_eq!(key_at(text, "top"), "top");
        assert_eq!(key_at(text, "\"x\""), "accounts.acme.poll");
        assert_eq!(key_at(text, "\"b\""), "sending.holidays[1]");
    }

    #[test]
    fn odd_keys_are_quoted() {
        assert_eq!(
            join_key("accounts", &["my.team".to_string(), "x".to_string()]),
            "accounts.\"my.team\".x"
        );
    }
}
