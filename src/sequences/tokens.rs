//! Signed tokens for tracking and unsubscribe links: base64url(JSON claims) "."
//! base64url(HMAC-SHA256). The key lives in the data dir (`tracking.key`, 32
//! random bytes, mode 0600) so links keep working across restarts; a forged or
//! edited token fails verification.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const KEY_FILE: &str = "tracking.key";
const KEY_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Open,
    Click,
    Unsubscribe,
}

/// What a token vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub kind: TokenKind,
    /// The outbox item the email went out as: the lead's address is found
    /// through it, so a link shows no one who the email was for.
    pub id: String,
    /// Only in links made before ids were opaque (they carried the address
    /// in readable base64); kept so those links still work. New links leave
    /// it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Clicks only: where the redirect goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("cannot use the tracking key {path}: {detail}")]
    Key { path: PathBuf, detail: String },
}

/// The signing key. Debug never shows it.
#[derive(Clone)]
pub struct TrackingKey {
    bytes: [u8; KEY_LEN],
}

impl std::fmt::Debug for TrackingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrackingKey(..)")
    }
}

impl TrackingKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self { bytes }
    }

    /// Reads `tracking.key` from the data dir, creating it (0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<TrackingKey, TokenError> {
        let path = data_dir.join(KEY_FILE);
        let key_err = |detail: String| TokenError::Key {
            path: path.clone(),
            detail,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
                    key_err(format!(
                        "expected {KEY_LEN} bytes; delete it to make a new one (old links stop working)"
                    ))
                })?;
                return Ok(TrackingKey { bytes });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(key_err(e.to_string())),
        }
        std::fs::create_dir_all(data_dir).map_err(|e| key_err(e.to_string()))?;
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(&bytes).map_err(|e| key_err(e.to_string()))?;
                file.sync_all().map_err(|e| key_err(e.to_string()))?;
                Ok(TrackingKey { bytes })
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load_or_create(data_dir)
            }
            Err(e) => Err(key_err(e.to_string())),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.bytes).expect("HMAC takes any key length")
    }

    pub fn sign(&self, claims: &TokenClaims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(&payload);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{sig}")
    }

    pub fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        let (body, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)
    }
}

/// Signs with the data dir's key (created on first use).
pub fn sign(data_dir: &Path, claims: &TokenClaims) -> Result<String, TokenError> {
    Ok(TrackingKey::load_or_create(data_dir)?.sign(claims))
}

/// Verifies with the data dir's key.
pub fn verify(data_dir: &Path, token: &str) -> Result<TokenClaims, TokenError> {
    TrackingKey::load_or_create(data_dir)?.verify(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TokenClaims {
        TokenClaims {
            kind: TokenKind::Click,
            id: "item-1".into(),
            email: None,
            url: Some("https://ledgerly.example/pricing".into()),
        }
    }

    #[test]
    fn round_trip_and_forgery() {
        let dir = tempfile::tempdir().unwrap();
        let token = sign(dir.path(), &claims()).unwrap();
        assert_eq!(verify(dir.path(), &token).unwrap(), claims());

        // Edited claims keep the old signature: refused.
        let (_, sig) = token.split_once('.').unwrap();
        let mut evil = claims();
        evil.url = Some("https://evil.example".into());
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).unwrap());
        assert!(matches!(
            verify(dir.path(), &format!("{body}.{sig}")),
            Err(TokenError::BadSignature)
        ));
        // Another key's token is refused; garbage is malformed.
        let other = TrackingKey::from_bytes([7; 32]).sign(&claims());
        assert!(verify(dir.path(), &other).is_err());
        assert!(matches!(
            verify(dir.path(), "nodot"),
            Err(TokenError::Malformed)
        ));
    }

    #[test]
    fn a_token_does_not_carry_the_address_and_old_ones_still_verify() {
        let key = TrackingKey::from_bytes([3; 32]);
        let token = key.sign(&TokenClaims {
            kind: TokenKind::Unsubscribe,
            id: "item-1".into(),
            email: None,
            url: None,
        });
        let (body, _) = token.split_once('.').unwrap();
        let readable = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        assert!(!readable.contains('@'), "{readable}");
        // A link sent before: the address inside, signed with the same key.
        let legacy = serde_json::json!({
            "kind": "unsubscribe", "id": "item-0", "email": "dana@ledgerly.example"
        });
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&legacy).unwrap());
        let mut mac = key.mac();
        mac.update(body.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let claims = key.verify(&format!("{body}.{sig}")).unwrap();
        assert_eq!(claims.email.as_deref(), Some("dana@ledgerly.example"));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = TrackingKey::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = TrackingKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.sign(&claims()), b.sign(&claims()));
        assert_eq!(format!("{a:?}"), "TrackingKey(..)");
    }
}
