//! Request limits and secret comparison shared by the routes.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Largest webhook body accepted; Smartlead payloads are a few KiB.
pub const MAX_WEBHOOK_BODY: usize = 256 * 1024;

/// Largest `/api` request body: a reply or forward with as much in
/// attachments as Gmail takes, in base64 (4 bytes per 3), plus the rest (an
/// import's part is smaller). Checked after the token.
pub const MAX_API_BODY: usize =
    (crate::model::MAX_ATTACHMENT_BYTES as usize).div_ceil(3) * 4 + 1024 * 1024;

/// Compares two secrets in constant time. Both sides are hashed first so
/// that not even their lengths leak through timing.
pub fn secrets_match(given: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected);
    a.ct_eq(&b).into()
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(secrets_match(b"s3cret", b"s3cret"));
        assert!(!secrets_match(b"s3cret", b"s3cres"));
        assert!(!secrets_match(b"", b"s3cret"));
    }

    #[test]
    fn bearer_tokens_parse() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
