//! RFC 822 and Gmail `full` payloads into `ParsedEmail`.

use chrono::{DateTime, Utc};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};

use super::{AttachmentInfo, Mailbox, MimeError, ParsedEmail, bare_message_id};
use crate::providers::gmail::encoding::decode_base64_lenient;
use crate::providers::gmail::types::{Message, MessagePart};

/// Width used when HTML-only mail is turned into text.
const TEXT_WIDTH: usize = 80;

/// Parses a raw RFC 822 message. Never fails: what cannot be read is left empty.
pub fn parse(raw: &[u8]) -> ParsedEmail {
    let Some(message) = MessageParser::default().parse(raw) else {
        return ParsedEmail::default();
    };
    let mut parsed = headers_of(&message);

    parsed.text_body = message.text_bodies().find_map(|part| match &part.body {
        PartType::Text(text) => Some(text.to_string()),
        _ => None,
    });
    parsed.html_body = message.html_bodies().find_map(|part| match &part.body {
        PartType::Html(html) => Some(html.to_string()),
        _ => None,
    });
    if parsed.text_body.is_none() {
        parsed.text_body = parsed.html_body.as_deref().map(html_to_text);
    }
    parsed.attachments = message
        .attachments()
        .map(|part| AttachmentInfo {
            filename: part.attachment_name().map(str::to_string),
            mime_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
                    None => ct.ctype().to_ascii_lowercase(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_string()),
            size: part.len() as u64,
            attachment_id: None,
        })
        .collect();
    parsed
}

/// Parses a Gmail message fetched as `raw` or `full`.
pub fn parse_gmail_message(message: &Message) -> Result<ParsedEmail, MimeError> {
    if let Some(raw) = &message.raw {
        let bytes =
            decode_base64_lenient(raw).map_err(|err| MimeError::BadBase64(err.to_string()))?;
        return Ok(parse(&bytes));
    }
    let payload = message.payload.as_ref().ok_or(MimeError::NoContent)?;

    // Reuse mail-parser for header decoding (RFC 2047, address lists, dates)
    // by feeding it the payload's headers as a header-only message.
    let mut block = String::new();
    for header in &payload.headers {
        let value = header.value.replace(['\r', '\n'], " ");
        block.push_str(&format!("{}: {}\r\n", header.name.trim(), value));
    }
    block.push_str("\r\n");
    let mut parsed = MessageParser::default()
        .parse(block.as_bytes())
        .map(|m| headers_of(&m))
        .unwrap_or_default();

    walk_part(payload, &mut parsed)?;
    if parsed.text_body.is_none() {
        parsed.text_body = parsed.html_body.as_deref().map(html_to_text);
    }
    Ok(parsed)
}

fn walk_part(part: &MessagePart, parsed: &mut ParsedEmail) -> Result<(), MimeError> {
    let mime_type = part
        .mime_type
        .as_deref()
        .unwrap_or("text/plain")
        .to_ascii_lowercase();
    if mime_type.starts_with("multipart/") {
        for child in &part.parts {
            walk_part(child, parsed)?;
        }
        return Ok(());
    }
    let body = part.body.clone().unwrap_or_default();
    let filename = part.filename.clone().filter(|f| !f.is_empty());
    let is_attachment_disposition = part.header("Content-Disposition").is_some_and(|d| {
        d.trim_start()
            .to_ascii_lowercase()
            .starts_with("attachment")
    });
    let is_text = mime_type == "text/plain" || mime_type == "text/html";

    if filename.is_some() || is_attachment_disposition || (!is_text && part.parts.is_empty()) {
        let data_len = match &body.data {
            Some(data) => decode_base64_lenient(data)
                .map(|d| d.len() as u64)
                .map_err(|err| MimeError::BadBase64(err.to_string()))?,
            None => 0,
        };
        parsed.attachments.push(AttachmentInfo {
            filename,
            mime_type,
            size: body.size.unwrap_or(data_len),
            attachment_id: body.attachment_id,
        });
        return Ok(());
    }
    if is_text {
        let slot = if mime_type == "text/plain" {
            &mut parsed.text_body
        } else {
            &mut parsed.html_body
        };
        if slot.is_none() {
            let bytes = match &body.data {
                Some(data) => decode_base64_lenient(data)
                    .map_err(|err| MimeError::BadBase64(err.to_string()))?,
                None => Vec::new(),
            };
            *slot = Some(decode_charset(&bytes, part.header("Content-Type")));
        }
        return Ok(());
    }
    // message/rfc822 and other containers carry children.
    for child in &part.parts {
        walk_part(child, parsed)?;
    }
    Ok(())
}

/// Decodes text in the charset named by a Content-Type header (UTF-8 when
/// absent or unknown).
fn decode_charset(bytes: &[u8], content_type: Option<&str>) -> String {
    let charset = content_type.and_then(|ct| {
        ct.split(';').skip(1).find_map(|param| {
            let (name, value) = param.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches('"').to_string())
        })
    });
    match charset.as_deref() {
        Some(cs) if !cs.eq_ignore_ascii_case("utf-8") && !cs.eq_ignore_ascii_case("us-ascii") => {
            match charset_decoder(cs.as_bytes()) {
                Some(decode) => decode(bytes),
                None => String::from_utf8_lossy(bytes).into_owned(),
            }
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

pub fn html_to_text(html: &str) -> String {
    html2text::from_read(html.as_bytes(), TEXT_WIDTH)
        .unwrap_or_else(|_| html.to_string())
        .trim_end()
        .to_string()
}

fn headers_of(message: &mail_parser::Message<'_>) -> ParsedEmail {
    ParsedEmail {
        from: message.from().and_then(|a| mailboxes(a).into_iter().next()),
        reply_to: message.reply_to().map(mailboxes).unwrap_or_default(),
        to: message.to().map(mailboxes).unwrap_or_default(),
        cc: message.cc().map(mailboxes).unwrap_or_default(),
        subject: message.subject().map(str::to_string),
        date: message
            .date()
            .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0)),
        message_id: message
            .message_id()
            .map(|id| bare_message_id(id).to_string())
            .filter(|id| !id.is_empty()),
        in_reply_to: id_list(message.in_reply_to()).into_iter().next(),
        references: id_list(message.references()),
        ..ParsedEmail::default()
    }
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|addr| {
            let email = addr.address.as_deref()?.trim();
            (!email.is_empty()).then(|| Mailbox::new(addr.name.as_deref(), email))
        })
        .collect()
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<&str> = match value {
        HeaderValue::Text(text) => vec![text.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    raw.into_iter()
        .map(|id| bare_message_id(id).to_string())
        .filter(|id| !id.is_empty())
        .collect()
}
