//! Building blocks for index keys that sort correctly as bytes.

use chrono::{DateTime, Utc};

/// A timestamp as 8 big-endian bytes that sort in time order (also before 1970).
pub fn time(at: DateTime<Utc>) -> [u8; 8] {
    let millis = at.timestamp_millis();
    ((millis as u64) ^ (1 << 63)).to_be_bytes()
}

/// Decodes `time()` back into a timestamp.
pub fn time_from(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let raw: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let millis = (u64::from_be_bytes(raw) ^ (1 << 63)) as i64;
    DateTime::from_timestamp_millis(millis)
}

/// Accumulates the parts of an index key.
#[derive(Debug, Default, Clone)]
pub struct KeyBuf(Vec<u8>);

impl KeyBuf {
    pub fn new() -> Self {
        Self(Vec::with_capacity(64))
    }

    /// A text part, terminated by a NUL so that "ab" never prefixes "abc".
    pub fn text(mut self, part: &str) -> Self {
        self.0.extend_from_slice(part.as_bytes());
        self.0.push(0);
        self
    }

    pub fn time(mut self, at: DateTime<Utc>) -> Self {
        self.0.extend_from_slice(&time(at));
        self
    }

    pub fn byte(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Finishes the key with the primary key, which makes it unique.
    pub fn primary(mut self, key: &str) -> Vec<u8> {
        self.0.extend_from_slice(key.as_bytes());
        self.0
    }

    pub fn into_prefix(self) -> Vec<u8> {
        self.0
    }
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_sort_as_bytes_and_round_trip() {
        let early = DateTime::from_timestamp_millis(-5_000).unwrap();
        let epoch = DateTime::from_timestamp_millis(0).unwrap();
        let late = DateTime::from_timestamp_millis(1_750_000_000_000).unwrap();
        assert!(time(early) < time(epoch));
        assert!(time(epoch) < time(late));
        assert_eq!(time_from(&time(early)), Some(early));
        assert_eq!(time_from(&time(late)), Some(late));
    }

    #[test]
    fn text_parts_do_not_prefix_each_other() {
        let ab = KeyBuf::new().text("ab").into_prefix();
        let abc = KeyBuf::new().text("abc").primary("k");
        assert!(!abc.starts_with(&ab));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[0x61, 0xff]), Some(vec![0x62]));
        assert_eq!(prefix_end(&[0xff]), None);
    }
}
