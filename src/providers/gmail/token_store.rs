//! One account's OAuth tokens in `<data_dir>/tokens/<account>.json`, mode 0600.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::GmailError;
use super::oauth::TokenSet;

/// File-backed token storage for a single account.
#[derive(Debug, Clone)]
pub struct TokenStore {
    account: String,
    path: PathBuf,
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

impl TokenStore {
    /// The store for `account` under `data_dir`. Account names become file
    /// names, so only `[A-Za-z0-9._-]` is accepted.
    pub fn new(data_dir: &Path, account: &str) -> Result<Self, GmailError> {
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
        Ok(Self {
            account: account.to_string(),
            path: data_dir.join("tokens").join(format!("{account}.json")),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored tokens, or `None` when the account has never logged in.
    pub fn load(&self) -> Result<Option<TokenSet>, GmailError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(self.io_error("could not read", &err)),
        };
        // serde_json's error names the position, never the content.
        let file: TokenFile =
            serde_json::from_slice(&bytes).map_err(|err| GmailError::TokenStore {
                path: self.path.clone(),
                message: format!("is not a valid token file ({err}); log in again"),
            })?;
        Ok(Some(TokenSet {
            access_token: SecretString::from(file.access_token),
            refresh_token: file.refresh_token.map(SecretString::from),
            expires_at: file.expires_at,
            scopes: file.scopes,
        }))
    }

    /// Replaces the stored tokens atomically: write a 0600 temp file beside
    /// the target, fsync, rename.
    pub fn save(&self, tokens: &TokenSet) -> Result<(), GmailError> {
        let dir = self
            .path
            .parent()
            .ok_or_else(|| self.io_message("has no parent directory"))?;
        create_private_dir(dir).map_err(|err| self.io_error("could not create directory", &err))?;

        let file = TokenFile {
            access_token: tokens.access_token.expose_secret().to_string(),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_string()),
            expires_at: tokens.expires_at,
            scopes: tokens.scopes.clone(),
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|err| self.io_message(&format!("could not encode tokens: {err}")))?;

        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.account,
            uuid::Uuid::new_v4().simple()
        ));
        let result = write_private_file(&tmp, &json).and_then(|()| fs::rename(&tmp, &self.path));
        if let Err(err) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.io_error("could not write", &err));
        }
        Ok(())
    }

    /// Forgets the account's tokens (e.g. after revocation).
    pub fn delete(&self) -> Result<(), GmailError> {
        match fs::remove_file(&self.path) {
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
            path: self.path.clone(),
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
            let mode = fs::metadata(store.path()).unwrap().permissions().mode();
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
        fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        fs::write(store.path(), "{\"access_token\": \"ya29.leak\", ").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(!err.contains("ya29.leak"), "{err}");
    }
}
