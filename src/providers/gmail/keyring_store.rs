//! A Gmail account's tokens in the OS keyring (the `keyring` feature):
//! one entry per account under the service `outpost`, holding the same JSON
//! the token file would. On Linux the kernel's keyutils keyring is used
//! (no system library needed); it lasts until logout or reboot, after
//! which `outpost auth gmail` signs in again.

use secrecy::ExposeSecret;

use super::error::GmailError;
use super::oauth::TokenSet;
use super::token_store::{TokenVault, decode_tokens, encode_tokens};

/// The keyring service outpost's entries are filed under.
pub const KEYRING_SERVICE: &str = "outpost";

pub struct KeyringTokens {
    account: String,
    entry: keyring::Entry,
}

impl KeyringTokens {
    pub fn new(account: &str) -> Result<KeyringTokens, GmailError> {
        let entry =
            keyring::Entry::new(KEYRING_SERVICE, account).map_err(|e| GmailError::TokenStore {
                place: describe(account),
                message: format!("the OS keyring cannot be used: {e}"),
            })?;
        Ok(KeyringTokens {
            account: account.to_string(),
            entry,
        })
    }

    fn fail(&self, what: &str, err: keyring::Error) -> GmailError {
        // keyring's errors name the entry and the platform's reason, never the secret.
        GmailError::TokenStore {
            place: self.describe(),
            message: format!("{what}: {err}"),
        }
    }
}

fn describe(account: &str) -> String {
    format!("the OS keyring (service {KEYRING_SERVICE}, entry {account})")
}

impl TokenVault for KeyringTokens {
    fn load(&self) -> Result<Option<TokenSet>, GmailError> {
        match self.entry.get_password() {
            Ok(json) => {
                decode_tokens(json.as_bytes())
                    .map(Some)
                    .map_err(|message| GmailError::TokenStore {
                        place: self.describe(),
                        message,
                    })
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(self.fail("could not read", err)),
        }
    }

    fn save(&self, tokens: &TokenSet) -> Result<(), GmailError> {
        self.entry
            .set_password(encode_tokens(tokens).expose_secret())
            .map_err(|err| self.fail("could not write", err))
    }

    fn delete(&self) -> Result<(), GmailError> {
        match self.entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(self.fail("could not delete", err)),
        }
    }

    fn describe(&self) -> String {
        describe(&self.account)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use secrecy::SecretString;

    use super::*;
    use crate::providers::gmail::TokenStore;

    #[test]
    fn tokens_round_trip_through_the_keyring_with_no_file() {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let vault = KeyringTokens::new("me-gmail").unwrap();
        let store = TokenStore::in_vault("me-gmail", Arc::new(vault)).unwrap();
        assert!(store.load().unwrap().is_none());
        store
            .save(&TokenSet {
                access_token: SecretString::from("ya29.in-keyring"),
                refresh_token: Some(SecretString::from("1//refresh")),
                expires_at: None,
                scopes: vec!["scope".into()],
            })
            .unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.access_token.expose_secret(), "ya29.in-keyring");
        assert_eq!(loaded.scopes, ["scope"]);
        assert_eq!(store.path(), None);
        assert!(store.describe().contains("OS keyring"));
        store.delete().unwrap();
        assert!(store.load().unwrap().is_none());
        store.delete().unwrap();
    }
}
