//! RFC 822 bytes → the Gmail `MessagePart` tree, plus base64url helpers.
//!
//! Gmail presents a parsed message as a tree of parts with partIds "", "0",
//! "1", "0.1"; containers carry `body: {size: 0}`, leaves carry the
//! transfer-decoded content as unpadded base64url, and attachments carry an
//! `attachmentId` instead of data.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use mail_parser::{Address, HeaderName, MessageParser, MimeHeaders, PartType};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Snippets are cut to about this many characters, as Gmail does.
const SNIPPET_CHARS: usize = 200;

/// A stored message, parsed once when it enters the mailbox.
#[derive(Debug, Clone)]
pub struct ParsedMessage {
    /// The full MessagePart tree as Gmail returns it with `format=full`.
    pub payload: Value,
    /// Top-level headers: original name case, unfolded, RFC 2047 decoded.
    pub headers: Vec<(String, String)>,
    pub snippet: String,
    /// attachmentId → transfer-decoded bytes.
    pub attachments: HashMap<String, Vec<u8>>,
    /// `Message-ID` with its angle brackets, when present.
    pub message_id: Option<String>,
    /// Addresses from To, Cc and Bcc.
    pub recipients: Vec<String>,
    pub from: String,
    pub subject: String,
}

impl ParsedMessage {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MimeError {
    #[error("the message could not be parsed as RFC 822")]
    Unparseable,
}

/// Parse raw RFC 822 bytes. `attachment_seed` makes attachment ids unique per message.
pub fn parse_message(raw: &[u8], attachment_seed: &str) -> Result<ParsedMessage, MimeError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(MimeError::Unparseable)?;
    if message.parts.is_empty() {
        return Err(MimeError::Unparseable);
    }
    let mut attachments = HashMap::new();
    let payload = part_json(
        &message,
        0,
        String::new(),
        attachment_seed,
        &mut attachments,
        0,
    );
    let headers = raw_headers(raw, &message.parts[0].headers);
    let snippet = message
        .body_preview(SNIPPET_CHARS * 2)
        .map(|preview| make_snippet(&preview))
        .unwrap_or_default();
    let recipients = [HeaderName::To, HeaderName::Cc, HeaderName::Bcc]
        .into_iter()
        .flat_map(|name| {
            message.parts[0]
                .headers
                .iter()
                .filter(move |h| h.name == name)
                .filter_map(|h| h.value.as_address())
                .flat_map(address_list)
                .collect::<Vec<_>>()
        })
        .collect();
    let message_id = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Message-ID"))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let from = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("From"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let subject = message.subject().unwrap_or_default().to_string();
    Ok(ParsedMessage {
        payload,
        headers,
        snippet,
        attachments,
        message_id,
        recipients,
        from,
        subject,
    })
}

fn address_list(address: &Address<'_>) -> Vec<String> {
    match address {
        Address::List(list) => list
            .iter()
            .filter_map(|a| a.address.as_deref().map(str::to_string))
            .collect(),
        Address::Group(groups) => groups
            .iter()
            .flat_map(|g| g.addresses.iter())
            .filter_map(|a| a.address.as_deref().map(str::to_string))
            .collect(),
    }
}

/// Nested message/rfc822 parts are presented as leaves; deeper nesting is not needed.
const MAX_DEPTH: usize = 32;

fn part_json(
    message: &mail_parser::Message<'_>,
    index: usize,
    part_id: String,
    attachment_seed: &str,
    attachments: &mut HashMap<String, Vec<u8>>,
    depth: usize,
) -> Value {
    let Some(part) = message.parts.get(index) else {
        return json!({"partId": part_id, "mimeType": "text/plain", "filename": "", "body": {"size": 0}});
    };
    let raw = message.raw_message.as_ref();
    let mime_type = part
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        })
        .unwrap_or_else(|| match &part.body {
            PartType::Multipart(_) => "multipart/mixed".into(),
            PartType::Html(_) => "text/html".into(),
            PartType::Message(_) => "message/rfc822".into(),
            _ => "text/plain".into(),
        });
    let filename = part.attachment_name().unwrap_or_default().to_string();
    let headers: Vec<Value> = raw_headers(raw, &part.headers)
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let mut node = json!({
        "partId": part_id,
        "mimeType": mime_type,
        "filename": filename,
        "headers": headers,
    });
    match &part.body {
        PartType::Multipart(children) if depth < MAX_DEPTH => {
            node["body"] = json!({"size": 0});
            let parts: Vec<Value> = children
                .iter()
                .enumerate()
                .map(|(position, child)| {
                    let child_id = if part_id.is_empty() {
                        position.to_string()
                    } else {
                        format!("{part_id}.{position}")
                    };
                    part_json(
                        message,
                        *child as usize,
                        child_id,
                        attachment_seed,
                        attachments,
                        depth + 1,
                    )
                })
                .collect();
            if !parts.is_empty() {
                node["parts"] = Value::Array(parts);
            }
        }
        PartType::Multipart(_) => node["body"] = json!({"size": 0}),
        _ => {
            let content = part.contents().to_vec();
            let size = content.len();
            if filename.is_empty() {
                node["body"] = json!({"size": size, "data": encode_unpadded(&content)});
            } else {
                let id = attachment_id(attachment_seed, &part_id);
                node["body"] = json!({"attachmentId": id, "size": size});
                attachments.insert(id, content);
            }
        }
    }
    node
}

/// Gmail attachment ids are long opaque url-safe strings.
fn attachment_id(seed: &str, part_id: &str) -> String {
    let digest = Sha256::digest(format!("{seed}/{part_id}").as_bytes());
    format!("ANGjdJ{}", URL_SAFE_NO_PAD.encode(digest))
}

/// Headers in their original order and case, unfolded and RFC 2047 decoded.
fn raw_headers(raw: &[u8], headers: &[mail_parser::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|h| {
            let name = raw.get(h.offset_field as usize..h.offset_start as usize)?;
            let name = String::from_utf8_lossy(name);
            let name = name.trim().trim_end_matches(':').trim().to_string();
            let value = raw.get(h.offset_start as usize..h.offset_end as usize)?;
            Some((name, decode_header_value(&String::from_utf8_lossy(value))))
        })
        .collect()
}

fn unfold(value: &str) -> String {
    value
        .replace("\r\n", "")
        .replace('\n', "")
        .trim()
        .to_string()
}

/// Decode encoded-words by letting the parser read the value as unstructured text.
fn decode_header_value(value: &str) -> String {
    let unfolded = unfold(value);
    if !unfolded.contains("=?") {
        return unfolded;
    }
    let wrapped = format!("Subject: {unfolded}\r\n\r\n");
    MessageParser::default()
        .parse_headers(wrapped.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or(unfolded)
}

/// Whitespace collapsed, HTML-escaped, cut at a character boundary.
fn make_snippet(preview: &str) -> String {
    let collapsed = preview.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = collapsed.chars().take(SNIPPET_CHARS).collect();
    let mut escaped = String::with_capacity(cut.len());
    for c in cut.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// base64url without padding (body and attachment data).
pub fn encode_unpadded(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url with padding (the `raw` field).
pub fn encode_padded(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// Lenient base64 decode: URL-safe or standard alphabet, padding optional,
/// line breaks and spaces ignored.
pub fn decode_lenient(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '=')
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    STANDARD_NO_PAD.decode(cleaned.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_builder::MessageBuilder;

    fn build_alternative_with_attachment() -> Vec<u8> {
        MessageBuilder::new()
            .from(("Zoë Faure", "zoe@example.com"))
            .to("rep@acme.io")
            .subject("Re: Déjà vu")
            .message_id("abc@example.com")
            .text_body("Hello there\n> quoted")
            .html_body("<p>Hello <b>there</b></p>")
            .attachment("application/pdf", "deck.pdf", b"%PDF-1.4 tiny".as_slice())
            .write_to_vec()
            .unwrap_or_default()
    }

    #[test]
    fn payload_tree_follows_gmail_layout() {
        let raw = build_alternative_with_attachment();
        let parsed = parse_message(&raw, "m1").expect("parse");
        let payload = &parsed.payload;
        assert_eq!(payload["partId"], "");
        assert_eq!(payload["mimeType"], "multipart/mixed");
        assert_eq!(payload["body"], json!({"size": 0}));
        assert_eq!(payload["parts"][0]["partId"], "0");
        assert_eq!(payload["parts"][0]["mimeType"], "multipart/alternative");
        assert_eq!(payload["parts"][0]["parts"][1]["partId"], "0.1");
        assert_eq!(payload["parts"][0]["parts"][1]["mimeType"], "text/html");
        let text = &payload["parts"][0]["parts"][0];
        let data = text["body"]["data"].as_str().expect("data");
        assert!(!data.contains('='));
        assert_eq!(
            decode_lenient(data).expect("b64"),
            b"Hello there\r\n> quoted".to_vec()
        );
        let attachment = &payload["parts"][1];
        assert_eq!(attachment["filename"], "deck.pdf");
        assert!(attachment["body"].get("data").is_none());
        let id = attachment["body"]["attachmentId"].as_str().expect("id");
        assert_eq!(
            parsed.attachments.get(id).map(Vec::as_slice),
            Some(b"%PDF-1.4 tiny".as_slice())
        );
    }

    #[test]
    fn headers_are_decoded_and_keep_case() {
        let raw = build_alternative_with_attachment();
        let parsed = parse_message(&raw, "m1").expect("parse");
        assert_eq!(parsed.header("subject"), Some("Re: Déjà vu"));
        assert!(parsed.from.contains("Zoë Faure"));
        assert!(parsed.headers.iter().any(|(n, _)| n == "Message-ID"));
        assert_eq!(parsed.message_id.as_deref(), Some("<abc@example.com>"));
        assert_eq!(parsed.recipients, vec!["rep@acme.io".to_string()]);
        assert_eq!(parsed.snippet, "Hello there &gt; quoted");
    }

    #[test]
    fn lenient_decode_accepts_every_dialect() {
        let bytes = b"\xfb\xff\xfe hello";
        let url = URL_SAFE.encode(bytes);
        let url_nopad = URL_SAFE_NO_PAD.encode(bytes);
        let standard = base64::engine::general_purpose::STANDARD.encode(bytes);
        for text in [url, url_nopad, standard] {
            assert_eq!(decode_lenient(&text).as_deref(), Some(bytes.as_slice()));
        }
        assert_eq!(decode_lenient("not*base64"), None);
    }
}
