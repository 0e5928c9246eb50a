//! Wire-level helpers: lenient base64url and lenient integers.
//!
//! Gmail is inconsistent about base64 padding (`raw` is padded, attachment data
//! is not) and writes 64-bit integers as JSON strings, so decoding accepts every
//! variant instead of trusting one.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, Serializer};

/// Why a base64 payload could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("invalid base64 data: {0}")]
pub struct Base64Error(String);

/// Decodes base64url or standard base64, with or without padding, ignoring
/// whitespace and line breaks.
pub fn decode_base64_lenient(input: &str) -> Result<Vec<u8>, Base64Error> {
    // Mapping the standard alphabet onto the URL-safe one also copes with a
    // payload that mixes both.
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '=')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    URL_SAFE_NO_PAD
        .decode(&cleaned)
        .map_err(|err| Base64Error(err.to_string()))
}

/// Encodes as padded base64url, the form Gmail's own clients send.
pub fn encode_base64url(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// Accepts `"123"`, `123` or null for an optional unsigned 64-bit field.
pub(crate) fn de_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<StringOrNumber>::deserialize(d)? {
        None => Ok(None),
        Some(StringOrNumber::Number(n)) => Ok(Some(n)),
        Some(StringOrNumber::String(s)) if s.trim().is_empty() => Ok(None),
        Some(StringOrNumber::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, got {s:?}"))),
    }
}

/// Accepts `"-1"`, `-1` or null for an optional signed 64-bit field.
pub(crate) fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<SignedStringOrNumber>::deserialize(d)? {
        None => Ok(None),
        Some(SignedStringOrNumber::Number(n)) => Ok(Some(n)),
        Some(SignedStringOrNumber::String(s)) if s.trim().is_empty() => Ok(None),
        Some(SignedStringOrNumber::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, got {s:?}"))),
    }
}

/// Writes an optional 64-bit integer as a JSON string, as Gmail does.
pub(crate) fn ser_opt_u64_as_string<S: Serializer>(
    v: &Option<u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_none(),
    }
}

/// Writes an optional signed 64-bit integer as a JSON string, as Gmail does.
pub(crate) fn ser_opt_i64_as_string<S: Serializer>(
    v: &Option<i64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_none(),
    }
}

/// Treats an explicit JSON null like an absent field.
pub(crate) fn de_null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    Number(u64),
    String(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SignedStringOrNumber {
    Number(i64),
    String(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_base64_flavour() {
        let expected = b"Hi, are we still on for lunch?\r\n".to_vec();
        for input in [
            "SGksIGFyZSB3ZSBzdGlsbCBvbiBmb3IgbHVuY2g_DQo",
            "SGksIGFyZSB3ZSBzdGlsbCBvbiBmb3IgbHVuY2g_DQo=",
            "SGksIGFyZSB3ZSBzdGlsbCBvbiBmb3IgbHVuY2g/DQo=",
            "SGksIGFyZSB3ZSBzdGlsbCBv\r\nbiBmb3IgbHVuY2g/DQo",
        ] {
            assert_eq!(decode_base64_lenient(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn decodes_mixed_url_and_standard_alphabets_consistently() {
        let bytes: Vec<u8> = (0u8..=255).collect();
        let encoded = encode_base64url(&bytes);
        assert_eq!(decode_base64_lenient(&encoded).unwrap(), bytes);
        let standard = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(decode_base64_lenient(&standard).unwrap(), bytes);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(decode_base64_lenient("!!!not base64!!!").is_err());
        assert!(decode_base64_lenient("a").is_err());
    }
}
