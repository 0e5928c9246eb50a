//! Provider credentials added through the API (`outpost account add`),
//! sealed at rest with AES-256-GCM: the key (32 bytes, base64) comes from
//! `OUTPOST_SECRET_KEY` in the environment of the process holding the data,
//! each write takes a fresh random nonce, and the account's name is the
//! associated data, so a sealed secret moved to another record does not open.
//! No answer carries a secret: the views here have none.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::TryRngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::Engine;
use super::door::{DoorError, DoorResult};
use crate::model::{Provider, StoredAccount};
use crate::providers::gmail::{GmailError, TokenSet, TokenVault, decode_tokens, encode_tokens};

/// The environment variable the sealing key comes from.
pub const SECRET_KEY_ENV: &str = "OUTPOST_SECRET_KEY";

const NONCE_LEN: usize = 12;

/// The key stored credentials are sealed with. Debug never shows it.
#[derive(Clone)]
pub struct SealKey(Aes256Gcm);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

impl SealKey {
    /// The key from the variable's value (None: unset), or why it is unusable.
    pub fn from_env_value(value: Option<&str>) -> Result<SealKey, String> {
        let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(format!(
                "${SECRET_KEY_ENV} is not set: stored credentials are sealed with it; set it to \
                 32 random bytes in base64 (e.g. `openssl rand -base64 32`) where the daemon runs"
            ));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| {
                format!("${SECRET_KEY_ENV} is not base64; use `openssl rand -base64 32`")
            })?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| {
            format!(
                "${SECRET_KEY_ENV} must be 32 bytes (it has {}); use `openssl rand -base64 32`",
                bytes.len()
            )
        })?;
        Ok(SealKey(cipher))
    }

    /// The key from this process's environment.
    pub fn from_env() -> Result<SealKey, String> {
        SealKey::from_env_value(std::env::var(SECRET_KEY_ENV).ok().as_deref())
    }

    /// Nonce, then ciphertext and tag; `name` is bound as associated data.
    pub fn seal(&self, name: &str, secret: &SecretString) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| format!("the system's random source failed: {e}"))?;
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| "sealing the secret failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(out)
    }

    /// The secret back, or an error when the key or the record is not the
    /// one it was sealed with.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<SecretString, String> {
        let wrong = || {
            format!(
                "the stored secret of account {name} does not open with ${SECRET_KEY_ENV}; \
                 was the key changed? add the account again"
            )
        };
        if sealed.len() <= NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| wrong())?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| wrong())
    }
}

/// A stored Gmail account's tokens, kept sealed in its record: a refreshed
/// token set is sealed again and written back by compare-and-swap, never to
/// a file. The write is skipped when the record's secret is no longer the one
/// read (the account was added again meanwhile): the newer tokens win.
pub struct SealedTokens {
    store: crate::store::Store,
    key: SealKey,
    account: String,
    /// The sealed bytes last read or written, to tell a re-added account.
    seen: std::sync::Mutex<Option<Vec<u8>>>,
}

impl SealedTokens {
    pub fn new(store: crate::store::Store, key: SealKey, account: &str) -> SealedTokens {
        SealedTokens {
            store,
            key,
            account: account.to_string(),
            seen: std::sync::Mutex::new(None),
        }
    }

    fn fail(&self, message: impl Into<String>) -> GmailError {
        GmailError::TokenStore {
            place: self.describe(),
            message: message.into(),
        }
    }
}

impl TokenVault for SealedTokens {
    fn load(&self) -> Result<Option<TokenSet>, GmailError> {
        let record = self
            .store
            .get::<StoredAccount>(&self.account)
            .map_err(|e| self.fail(e.to_string()))?;
        let Some(record) = record.filter(|r| r.provider == Provider::Gmail) else {
            return Ok(None);
        };
        let json = self
            .key
            .open(&self.account, &record.sealed)
            .map_err(|e| self.fail(e))?;
        let tokens = decode_tokens(json.expose_secret().as_bytes()).map_err(|e| self.fail(e))?;
        *self.seen.lock().expect("seen lock") = Some(record.sealed);
        Ok(Some(tokens))
    }

    fn save(&self, tokens: &TokenSet) -> Result<(), GmailError> {
        let sealed = self
            .key
            .seal(&self.account, &encode_tokens(tokens))
            .map_err(|e| self.fail(e))?;
        let seen = self.seen.lock().expect("seen lock").clone();
        let written = self
            .store
            .modify::<StoredAccount, ()>(std::slice::from_ref(&self.account), |_, current| {
                let current = current.filter(|c| c.provider == Provider::Gmail)?;
                if seen.as_ref().is_some_and(|seen| *seen != current.sealed) {
                    return None;
                }
                // updated_at stays: it marks the account's settings, and a
                // refresh must not look like the account was added again.
                Some((
                    StoredAccount {
                        sealed: sealed.clone(),
                        ..current
                    },
                    (),
                ))
            })
            .map_err(|e| self.fail(e.to_string()))?;
        if written.is_empty() {
            tracing::info!(
                account = %self.account,
                "the stored account changed meanwhile; its refreshed token was not written"
            );
        } else {
            *self.seen.lock().expect("seen lock") = Some(sealed);
        }
        Ok(())
    }

    fn delete(&self) -> Result<(), GmailError> {
        Err(self
            .fail("a stored account's tokens go with the account; add it again with new tokens"))
    }

    fn describe(&self) -> String {
        format!("the sealed record of stored account {}", self.account)
    }
}

/// A secret on its way to the engine (`account add` through the door):
/// serialized as the plain text it must carry, never shown by Debug.
#[derive(Clone)]
pub struct WireSecret(pub SecretString);

impl std::fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for WireSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose_secret())
    }
}

impl<'de> Deserialize<'de> for WireSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(WireSecret(SecretString::from(String::deserialize(d)?)))
    }
}

/// What `account add` gives: the account's settings and its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAccount {
    pub name: String,
    pub provider: Provider,
    /// The Smartlead API key, or the Gmail token file's JSON.
    pub secret: WireSecret,
    pub base_url: Option<String>,
    pub email: Option<String>,
}

/// A stored account as every answer shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAccountView {
    pub name: String,
    pub provider: Provider,
    pub owner: Option<String>,
    pub base_url: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&StoredAccount> for StoredAccountView {
    fn from(a: &StoredAccount) -> Self {
        StoredAccountView {
            name: a.name.clone(),
            provider: a.provider,
            owner: a.owner.clone(),
            base_url: a.base_url.clone(),
            email: a.email.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// Checks a new account's settings before anything is stored.
fn check_new(new: &NewAccount, configured: bool) -> DoorResult<()> {
    if !crate::config::valid_user_name(&new.name) || new.name.len() > 64 {
        return Err(DoorError::invalid(format!(
            "{:?} is not a usable account name; use letters, digits, `-`, `_` or `.`",
            new.name
        )));
    }
    if configured {
        return Err(DoorError::invalid(format!(
            "account {} is in the config already; pick another name",
            new.name
        )));
    }
    if new.secret.0.expose_secret().trim().is_empty() {
        return Err(DoorError::invalid(
            "the secret is empty; nothing was stored",
        ));
    }
    if let Some(url) = &new.base_url {
        url::Url::parse(url)
            .map_err(|e| DoorError::invalid(format!("bad base URL {url:?}: {e}")))?;
    }
    if new.provider == Provider::Gmail {
        let email = new.email.as_deref().unwrap_or_default();
        if !email.contains('@') {
            return Err(DoorError::invalid(
                "a Gmail account needs its mailbox address (--email)",
            ));
        }
        // serde_json's error names the position, never the content.
        let tokens: serde_json::Value = serde_json::from_str(new.secret.0.expose_secret())
            .map_err(|e| DoorError::invalid(format!("the token file is not JSON ({e})")))?;
        if !tokens["access_token"].is_string() {
            return Err(DoorError::invalid(
                "the token file has no access_token; use the file `outpost auth gmail` writes",
            ));
        }
    }
    Ok(())
}

impl Engine {
    /// Seals and stores an account's secret; adding the same name again
    /// replaces it, for whoever added it (or an admin). The answer has no secret.
    pub fn add_stored_account(
        &self,
        new: &NewAccount,
        viewer: &super::Viewer,
    ) -> DoorResult<StoredAccountView> {
        check_new(new, self.settings().account_names.contains(&new.name))?;
        let key = SealKey::from_env().map_err(DoorError::runtime)?;
        let sealed = key
            .seal(&new.name, &new.secret.0)
            .map_err(DoorError::runtime)?;
        let now = self.clock().now();
        let owner = match viewer {
            super::Viewer::Admin { .. } => None,
            super::Viewer::User { name, .. } => Some(name.clone()),
        };
        let written = self.store().modify::<StoredAccount, StoredAccountView>(
            std::slice::from_ref(&new.name),
            |_, current| {
                let created_at = match &current {
                    // Another user's account of this name stays theirs.
                    Some(old) if owner.is_some() && old.owner != owner => return None,
                    Some(old) => old.created_at,
                    None => now,
                };
                let record = StoredAccount {
                    name: new.name.clone(),
                    provider: new.provider,
                    owner: owner.clone(),
                    base_url: new.base_url.clone(),
                    email: new.email.clone(),
                    sealed: sealed.clone(),
                    created_at,
                    updated_at: now,
                };
                let view = StoredAccountView::from(&record);
                Some((record, view))
            },
        )?;
        let Some(view) = written.into_iter().next() else {
            return Err(DoorError::new(
                super::door::ErrorKind::Forbidden,
                format!(
                    "account {} belongs to another user; pick another name",
                    new.name
                ),
            ));
        };
        Ok(view)
    }

    /// The stored accounts the viewer sees (never their secrets).
    pub fn stored_accounts(&self, viewer: &super::Viewer) -> DoorResult<Vec<StoredAccountView>> {
        let mut out = Vec::new();
        for account in self.store().iter::<StoredAccount>() {
            let account = account?;
            if viewer.sees(&account.name) {
                out.push(StoredAccountView::from(&account));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealKey {
        SealKey::from_env_value(Some(
            &base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
        ))
        .unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_name_only() {
        let secret = SecretString::from("sl-key-123456");
        let sealed = key().seal("acme", &secret).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"sl-key"));
        assert_eq!(
            key().open("acme", &sealed).unwrap().expose_secret(),
            "sl-key-123456"
        );
        // A fresh nonce each time.
        assert_ne!(sealed, key().seal("acme", &secret).unwrap());
        assert!(key().open("other", &sealed).is_err());
        let other = SealKey::from_env_value(Some(
            &base64::engine::general_purpose::STANDARD.encode([8u8; 32]),
        ))
        .unwrap();
        assert!(other.open("acme", &sealed).is_err());
    }

    #[test]
    fn an_unset_or_bad_key_is_a_clear_error() {
        assert!(
            SealKey::from_env_value(None)
                .unwrap_err()
                .contains("is not set")
        );
        assert!(
            SealKey::from_env_value(Some("***"))
                .unwrap_err()
                .contains("base64")
        );
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert!(
            SealKey::from_env_value(Some(&short))
                .unwrap_err()
                .contains("32 bytes")
        );
        assert_eq!(format!("{:?}", key()), "SealKey([redacted])");
        let wire = WireSecret(SecretString::from("hush"));
        assert_eq!(format!("{wire:?}"), "[redacted]");
    }

    fn tokens(access: &str) -> TokenSet {
        TokenSet {
            access_token: SecretString::from(access),
            refresh_token: Some(SecretString::from("1//refresh")),
            expires_at: None,
            scopes: Vec::new(),
        }
    }

    fn gmail_record(store: &crate::store::Store, access: &str, at: DateTime<Utc>) {
        let sealed = key().seal("rep", &encode_tokens(&tokens(access))).unwrap();
        store
            .put(&StoredAccount {
                name: "rep".into(),
                provider: Provider::Gmail,
                owner: None,
                base_url: None,
                email: Some("rep@acme.io".into()),
                sealed,
                created_at: at,
                updated_at: at,
            })
            .unwrap();
    }

    #[test]
    fn refreshed_tokens_go_back_sealed_unless_the_account_was_added_again() {
        let store = crate::store::Store::temporary().unwrap();
        let added = Utc::now();
        gmail_record(&store, "ya29.first", added);
        let vault = SealedTokens::new(store.clone(), key(), "rep");
        let loaded = vault.load().unwrap().unwrap();
        assert_eq!(loaded.access_token.expose_secret(), "ya29.first");

        vault.save(&tokens("ya29.refreshed")).unwrap();
        let record = store.get::<StoredAccount>("rep").unwrap().unwrap();
        assert_eq!(record.updated_at, added, "a refresh is not a new account");
        let opened = key().open("rep", &record.sealed).unwrap();
        assert!(opened.expose_secret().contains("ya29.refreshed"));
        assert!(!record.sealed.windows(7).any(|w| w == b"ya29.re"));

        // Added again meanwhile: its new tokens win over an older refresh.
        gmail_record(&store, "ya29.readded", Utc::now());
        vault.save(&tokens("ya29.stale")).unwrap();
        let record = store.get::<StoredAccount>("rep").unwrap().unwrap();
        let opened = key().open("rep", &record.sealed).unwrap();
        assert!(opened.expose_secret().contains("ya29.readded"));
        assert!(vault.delete().is_err());
    }
}
