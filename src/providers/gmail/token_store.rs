//! One account's OAuth tokens: by default in `<data_dir>/tokens/<account>.json`,
//! mode 0600; or in a [`TokenVault`] of the caller's (an account added through
//! the API keeps them sealed in the store; the `keyring` feature keeps them in
//! the OS keyring). Every place holds the same JSON document.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::GmailError;
use super::oauth::TokenSet;

/// Somewhere other than a file that keeps one account's tokens. A refreshed
/// token set is saved through it, so it must be kept where the next start
/// reads it from.
pub trait TokenVault: Send + Sync {
    /// The stored tokens, or `None` when there are none.
    fn load(&self) -> Result<Option<TokenSet>, GmailError>;
    fn save(&self, tokens: &TokenSet) -> Result<(), GmailError>;
    fn delete(&self) -> Result<(), GmailError>;
    /// Where the tokens are kept, for messages (never the tokens).
    fn describe(&self) -> String;
}

/// Token storage for a single account.
#[derive(Clone)]
pub struct TokenStore {
    account: String,
    place: Place,
}

#[derive(Clone)]
enum Place {
    File(PathBuf),
    Vault(Arc<dyn TokenVault>),
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("account", &self.account)
            .field("place", &self.describe())
            .finish()
    }
}

/// What is written to disk. Kept private so secrets only leave `TokenSet`
/// through this one serialisation.
#[derive(Serialize, Deserialize)]
struct TokenFile {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// The token file's JSON for `tokens` (what every place keeps).
pub fn encode_tokens(tokens: &TokenSet) -> SecretString {
    let file = TokenFile {
        access_token: tokens.access_token.expose_secret().to_string(),
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_string()),
        expires_at: tokens.expires_at,
        scopes: tokens.scopes.clone(),
    };
    let json = serde_json::to_string_pretty(&file).expect("a token file always encodes");
    SecretString::from(json)
}

/// Tokens from a token file's JSON; the error names the position, never
/// the content.
pub fn decode_tokens(bytes: &[u8]) -> Result<TokenSet, String> {
    let file: TokenFile = serde_json::from_slice(bytes)
        .map_err(|err| format!("is not a valid token file ({err}); log in again"))?;
    Ok(TokenSet {
        access_token: SecretString::from(file.access_token),
        refresh_token: file.refresh_token.map(SecretString::from),
        expires_at: file.expires_at,
        scopes: file.scopes,
    })
}

/// Account names become file names (and keyring entries), so only
/// `[A-Za-z0-9._-]` is accepted.
fn check_account(account: &str) -> Result<(), GmailError> {
    let valid = !account.is_empty()
        && !account.starts_with('.')
        && account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(GmailError::InvalidInput(format!(
            "account name {account:?} may only use letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

impl TokenStore {
    /// The file store for `account` under `data_dir`.
    pub fn new(data_dir: &Path, account: &str) -> Result<Self, GmailError> {
        check_account(account)?;
        Ok(Self {
            account: account.to_string(),
            place: Place::File(data_dir.join("tokens").join(format!("{account}.json"))),
        })
    }

    /// The store a configured account's `token_store` names.
    pub fn configured(
        data_dir: &Path,
        account: &str,
        place: crate::config::TokenPlace,
    ) -> Result<Self, GmailError> {
        match place {
            crate::config::TokenPlace::File => Self::new(data_dir, account),
            #[cfg(feature = "keyring")]
            crate::config::TokenPlace::Keyring => {
                check_account(account)?;
                let vault = super::keyring_store::KeyringTokens::new(account)?;
                Self::in_vault(account, Arc::new(vault))
            }
            // The config refuses it first; kept for a caller that built its own.
            #[cfg(not(feature = "keyring"))]
            crate::config::TokenPlace::Keyring => Err(GmailError::InvalidInput(
                "token_store = \"keyring\" needs outpost built with `--features keyring`".into(),
            )),
        }
    }

    /// Tokens kept by `vault` instead of a file.
    pub fn in_vault(account: &str, vault: Arc<dyn TokenVault>) -> Result<Self, GmailError> {
        check_account(account)?;
        Ok(Self {
            account: account.to_string(),
            place: Place::Vault(vault),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The token file, when the tokens are kept in one.
    pub fn path(&self) -> Option<&Path> {
        match &self.place {
            Place::File(path) => Some(path),
            Place::Vault(_) => None,
        }
    }

    /// Where the tokens are kept, for messages.
    pub fn describe(&self) -> String {
        match &self.place {
            Place::File(path) => path.display().to_string(),
            Place::Vault(vault) => vault.describe(),
        }
    }

    /// The stored tokens, or `None` when the account has never logged in.
    pub fn load(&self) -> Result<Option<TokenSet>, GmailError> {
        let path = match &self.place {
            Place::File(path) => path,
            Place::Vault(vault) => return vault.load(),
        };
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(self.io_error("could not read", &err)),
        };
        decode_tokens(&bytes)
            .map(Some)
            .map_err(|message| self.io_message(&message))
    }

    /// Replaces the stored tokens; in a file atomically: write a 0600 temp
    /// file beside the target, fsync, rename.
    pub fn save(&self, tokens: &TokenSet) -> Result<(), GmailError> {
        let path = match &self.place {
            Place::File(path) => path,
            Place::Vault(vault) => return vault.save(tokens),
        };
        let dir = path
            .parent()
            .ok_or_else(|| self.io_message("has no parent directory"))?;
        create_private_dir(dir).map_err(|err| self.io_error("could not create directory", &err))?;
        let json = encode_tokens(tokens);
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.account,
            uuid::Uuid::new_v4().simple()
        ));
        let result = write_private_file(&tmp, json.expose_secret().as_bytes())
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(err) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.io_error("could not write", &err));
        }
        Ok(())
    }

    /// Forgets the account's tokens (e.g. after revocation).
    pub fn delete(&self) -> Result<(), GmailError> {
        let path = match &self.place {
            Place::File(path) => path,
            Place::Vault(vault) => return vault.delete(),
        };
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(self.io_error("could not delete", &err)),
        }
    }

    fn io_error(&self, what: &str, err: &std::io::Error) -> GmailError {
        self.io_message(&format!("{what}: {err}"))
    }

    fn io_message(&self, message: &str) -> GmailError {
        GmailError::TokenStore {
            place: self.describe(),
            message: message.to_string(),
        }
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

/// Creates `path` with mode 0600 from the start, so the secret is never
/// readable by others, not even for an instant.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenSet {
        TokenSet {
            access_token: SecretString::from("ya29.access-secret"),
            refresh_token: Some(SecretString::from("1//refresh-secret")),
            expires_at: Some(Utc::now()),
            scopes: vec!["https://www.googleapis.com/auth/gmail.modify".into()],
        }
    }

    #[test]
    fn round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "me-gmail").unwrap();
        assert!(store.load().unwrap().is_none());
        let tokens = sample();
        store.save(&tokens).unwrap();
        store.save(&tokens).unwrap(); // overwriting works too
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.access_token.expose_secret(), "ya29.access-secret");
        assert_eq!(
            loaded.refresh_token.unwrap().expose_secret(),
            "1//refresh-secret"
        );
        assert_eq!(loaded.scopes, tokens.scopes);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("tokens"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
        store.delete().unwrap();
        assert!(store.load().unwrap().is_none());
    }

    #[test]
    fn rejects_path_like_account_names() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "a/b", ".hidden"] {
            assert!(TokenStore::new(dir.path(), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn corrupt_file_error_does_not_echo_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "acct").unwrap();
        fs::create_dir_all(store.path().unwrap().parent().unwrap()).unwrap();
        fs::write(store.path().unwrap(), "{\"access_token\": \"ya29.leak\", ").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(!err.contains("ya29.leak"), "{err}");
    }
}
