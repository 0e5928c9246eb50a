//! `[users.NAME]`: who may use a shared outpost through the daemon's API and
//! which accounts each sees. The token a user authenticates with is minted
//! by `outpost user token NAME` and kept hashed in the store, never here.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::accounts::Account;
use super::error::ConfigError;
use super::spans::{self, Source};

/// One configured user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// The accounts whose conversations, leads, sequences and sends the
    /// user sees (every one for an admin).
    pub accounts: BTreeSet<String>,
    /// Sees and may do everything, as the data dir's owner does.
    pub admin: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    admin: bool,
}

/// Checks every user against the configured accounts: an account name
/// that is not configured is an error at load, not a user who silently
/// sees nothing.
pub(super) fn read_users(
    src: &Source<'_>,
    doc: &Spanned<DeValue<'_>>,
    raw: BTreeMap<String, RawUser>,
    accounts: &BTreeMap<String, Account>,
) -> Result<BTreeMap<String, User>, ConfigError> {
    let mut users = BTreeMap::new();
    for (name, user) in raw {
        let key = format!("users.{}", spans::quote_key(&name));
        let here = |path: &[&str]| spans::span_of(doc, path).unwrap_or(doc.span());
        if !valid_user_name(&name) {
            return Err(src.invalid(
                &key,
                here(&["users", &name]),
                format!("`{name}` is not a usable user name"),
                "use letters, digits, `-`, `_` or `.` (and not `nobody` or `me`)",
            ));
        }
        for account in &user.accounts {
            if !accounts.contains_key(account) {
                let known: Vec<&str> = accounts.keys().map(String::as_str).collect();
                return Err(src.invalid(
                    &format!("{key}.accounts"),
                    here(&["users", &name, "accounts"]),
                    format!("no account is named `{account}`"),
                    match known.is_empty() {
                        true => "declare it as an [accounts.NAME] section first".to_string(),
                        false => format!("the accounts are: {}", known.join(", ")),
                    },
                ));
            }
        }
        users.insert(
            name.clone(),
            User {
                name,
                accounts: user.accounts.into_iter().collect(),
                admin: user.admin,
            },
        );
    }
    Ok(users)
}

/// Checks the top-level `user` (who "me" is on this machine) names a user.
pub(super) fn check_local_user(
    src: &Source<'_>,
    doc: &Spanned<DeValue<'_>>,
    user: Option<&str>,
    users: &BTreeMap<String, User>,
) -> Result<(), ConfigError> {
    match user {
        Some(name) if !users.contains_key(name) => Err(src.invalid(
            "user",
            spans::span_of(doc, &["user"]).unwrap_or(doc.span()),
            format!("no [users.{}] section", spans::quote_key(name)),
            "name a user declared as a [users.NAME] section",
        )),
        _ => Ok(()),
    }
}

/// Names that stay unambiguous in `assign --to NAME` and `assigned:NAME`.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !matches!(name, "nobody" | "me")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
