//! Scrubs credentials out of URLs and free text before they reach an error
//! message or a log line.

/// Query parameter names whose values are credentials.
const SECRET_PARAMS: [&str; 3] = ["api_key", "access_token", "key"];

/// What a removed value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Replaces the value of every `api_key=`, `access_token=` and `key=` pair in
/// `text` (a URL, an error message, anything) with `REDACTED`.
///
/// A name only matches at a word boundary, so `monkey=1` is left alone while
/// `?key=…` and `&api_key=…` are scrubbed. Also scrubs `Bearer <token>`.
pub fn redact(text: &str) -> String {
    let scrubbed = redact_params(text);
    redact_bearer(&scrubbed)
}

fn redact_params(text: &str) -> String {
    // ASCII lowercasing keeps byte offsets identical to `text`.
    let lower = text.to_ascii_lowercase().into_bytes();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied_to = 0;
    let mut index = 0;
    while index < bytes.len() {
        let matched = SECRET_PARAMS.iter().find(|name| {
            lower[index..].starts_with(name.as_bytes())
                && bytes.get(index + name.len()) == Some(&b'=')
                && (index == 0 || !is_name_byte(bytes[index - 1]))
        });
        match matched {
            Some(name) => {
                let value_start = index + name.len() + 1;
                let value_end = bytes[value_start..]
                    .iter()
                    .position(|&byte| ends_value(byte))
                    .map_or(bytes.len(), |offset| value_start + offset);
                out.push_str(&text[copied_to..value_start]);
                out.push_str(REDACTED);
                copied_to = value_end;
                index = value_end.max(index + 1);
            }
            None => index += 1,
        }
    }
    out.push_str(&text[copied_to..]);
    out
}

fn redact_bearer(text: &str) -> String {
    const BEARER: &str = "bearer ";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest_start = 0;
    let mut search_from = 0;
    while let Some(found) = lower[search_from..].find(BEARER) {
        let token_start = search_from + found + BEARER.len();
        let token_end = text[token_start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .map_or(text.len(), |offset| token_start + offset);
        out.push_str(&text[rest_start..token_start]);
        if token_end > token_start {
            out.push_str(REDACTED);
        }
        rest_start = token_end;
        search_from = token_end.max(token_start);
    }
    out.push_str(&text[rest_start..]);
    out
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn ends_value(byte: u8) -> bool {
    matches!(
        byte,
        b'&' | b'#' | b'"' | b'\'' | b')' | b'>' | b'<' | b',' | b';'
    ) || byte.is_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_every_secret_parameter() {
        let url = "https://x.example/api/v1/campaigns/?api_key=sk_live_123&client_id=4";
        assert_eq!(
            redact(url),
            "https://x.example/api/v1/campaigns/?api_key=REDACTED&client_id=4"
        );
        assert_eq!(
            redact("GET /t?access_token=ya29.abc#frag"),
            "GET /t?access_token=REDACTED#frag"
        );
        assert_eq!(redact("u?KEY=abc def"), "u?KEY=REDACTED def");
        assert_eq!(
            redact("a?key=1&api_key=2&access_token=3"),
            "a?key=REDACTED&api_key=REDACTED&access_token=REDACTED"
        );
    }

    #[test]
    fn leaves_lookalike_names_alone() {
        assert_eq!(redact("monkey=banana&keys=2"), "monkey=banana&keys=2");
        assert_eq!(redact("no secrets here"), "no secrets here");
    }

    #[test]
    fn strips_bearer_tokens() {
        assert_eq!(
            redact("Authorization: Bearer ya29.secret, next"),
            "Authorization: Bearer REDACTED, next"
        );
    }

    #[test]
    fn handles_empty_values_and_multibyte_text() {
        assert_eq!(redact("x?api_key=&y=1"), "x?api_key=REDACTED&y=1");
        assert_eq!(redact("é?key=ü€ ok"), "é?key=REDACTED ok");
    }
}
