//! Sending: messages.send (JSON and upload variants) and drafts.
//!
//! A sent message is stored with the SENT label in the requested thread
//! (when that thread exists), gets a history record, and is kept in the
//! sent log for tests.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::GoogleSandbox;
use super::bounces::bounce_kind_for;
use super::error::ApiError;
use super::gmail_http::{gate, parse_body};
use super::gmail_views::{message_json, message_labels, parse_format};
use super::mailbox::{Draft, SentMessage};
use super::mime::{decode_lenient, parse_message};
use super::params::{Params, page_token};

type Shared = State<Arc<GoogleSandbox>>;

/// messages.send through the upload endpoint: 35 MB (36700160 bytes).
const MAX_UPLOAD_BYTES: usize = 36_700_160;
type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<Arc<GoogleSandbox>> {
    let users = "/gmail/v1/users/{user}";
    Router::new()
        .route(&format!("{users}/messages/send"), post(messages_send))
        .route(
            "/upload/gmail/v1/users/{user}/messages/send",
            // Gmail takes messages of up to 35 MB here.
            post(messages_send_upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            &format!("{users}/drafts"),
            post(drafts_create).get(drafts_list),
        )
        .route(&format!("{users}/drafts/send"), post(drafts_send))
        .route(
            &format!("{users}/drafts/{{id}}"),
            get(drafts_get).delete(drafts_delete),
        )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct MessageBody {
    raw: Option<String>,
    thread_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DraftBody {
    id: Option<String>,
    message: Option<MessageBody>,
}

const RAW_REQUIRED: &str =
    "'raw' RFC822 payload message string or uploading message via /upload/* URL required";

/// Decode the `raw` field leniently; `field` names it in the error as Google does.
fn decode_raw(raw: Option<&str>, field: &str) -> Result<Vec<u8>, ApiError> {
    let raw = raw
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::invalid_argument(RAW_REQUIRED))?;
    decode_lenient(raw).ok_or_else(|| {
        ApiError::invalid_value(format!(
            "Invalid value at '{field}' (TYPE_BYTES), Base64 decoding failed for \"{raw}\""
        ))
    })
}

fn has_header(raw: &[u8], name: &str) -> bool {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..head_end])
        .lines()
        .any(|line| {
            line.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
}

/// `raw` without one header (with its folded lines); the body untouched.
fn without_header(raw: &[u8], name: &str) -> Vec<u8> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    let mut dropping = false;
    for line in raw[..head_end].split_inclusive(|&b| b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            dropping = String::from_utf8_lossy(line)
                .split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name));
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&raw[head_end..]);
    out
}

/// Gmail fills in From, Date and Message-ID when a client leaves them out.
fn complete_headers(state: &GoogleSandbox, raw: Vec<u8>, email: &str) -> Vec<u8> {
    let now = state.clock.now();
    let mut prefix = String::new();
    if !has_header(&raw, "From") {
        prefix.push_str(&format!("From: {email}\r\n"));
    }
    if !has_header(&raw, "Date") {
        prefix.push_str(&format!("Date: {}\r\n", now.to_rfc2822()));
    }
    if !has_header(&raw, "Message-ID") {
        let id = format!("{:x}", now.timestamp_nanos_opt().unwrap_or_default());
        prefix.push_str(&format!("Message-ID: <CA{id}@mail.gmail.com>\r\n"));
    }
    let mut completed = prefix.into_bytes();
    completed.extend_from_slice(&raw);
    completed
}

/// Store a message the user sends and answer `{id, threadId, labelIds}`.
fn send_raw(
    state: &GoogleSandbox,
    raw: Vec<u8>,
    thread_id: Option<&str>,
) -> Result<Value, ApiError> {
    let check = parse_message(&raw, "check")
        .map_err(|_| ApiError::invalid_argument("Recipient address required"))?;
    if check.recipients.is_empty() {
        return Err(ApiError::invalid_argument("Recipient address required"));
    }
    let now_ms = state.clock.now().timestamp_millis();
    let mut mailbox = state.mailbox();
    let email = mailbox.email.clone();
    let raw = complete_headers(state, raw, &email);
    let id = mailbox
        .insert(raw.clone(), thread_id, &["SENT"], now_ms)
        .map_err(|_| ApiError::invalid_argument("Recipient address required"))?;
    let message = mailbox.messages.get(&id).ok_or_else(ApiError::not_found)?;
    let answer = message_labels(message);
    let record = SentMessage {
        id: message.id.clone(),
        thread_id: message.thread_id.clone(),
        delivered: without_header(&raw, "Bcc"),
        raw,
        headers: message.parsed.headers.clone(),
    };
    let recipients = message.parsed.recipients.clone();
    mailbox.sent.push(record);
    // An address that does not take mail answers with a notice in the thread.
    for recipient in recipients {
        if let Some(kind) = bounce_kind_for(&recipient) {
            mailbox.file_bounce_notice(&id, &recipient, kind, now_ms);
        }
    }
    Ok(answer)
}

async fn messages_send(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.send")?;
    let request: MessageBody = parse_body(&body)?;
    let raw = decode_raw(request.raw.as_deref(), "message.raw")?;
    let answer = send_raw(&state, raw, request.thread_id.as_deref())?;
    Ok(axum::Json(answer).into_response())
}

/// `uploadType=media` (body is the message) or `multipart` (JSON metadata + message).
async fn messages_send_upload(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.send")?;
    let (raw, thread_id) = match params.get("uploadType") {
        Some("media") => (body.to_vec(), params.get("threadId").map(str::to_string)),
        Some("multipart") => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            split_multipart_upload(content_type, &body)?
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid uploadType: {other}. The sandbox accepts media and multipart."
            )));
        }
        None => {
            return Err(ApiError::bad_request(
                "Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/",
            ));
        }
    };
    if raw.is_empty() {
        return Err(ApiError::invalid_argument(RAW_REQUIRED));
    }
    let answer = send_raw(&state, raw, thread_id.as_deref())?;
    Ok(axum::Json(answer).into_response())
}

/// Split a `multipart/related` upload into the message and its JSON metadata.
fn split_multipart_upload(
    content_type: &str,
    body: &[u8],
) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let mut wrapped = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    wrapped.extend_from_slice(body);
    let parsed = MessageParser::default()
        .parse(&wrapped)
        .ok_or_else(|| ApiError::bad_request("Malformed multipart upload"))?;
    let mut raw = None;
    let mut thread_id = None;
    for part in parsed.parts.iter().skip(1) {
        let is_json = part
            .content_type()
            .is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("json")));
        match &part.body {
            PartType::Message(message) => raw = Some(message.raw_message().to_vec()),
            _ if is_json => {
                let metadata: MessageBody =
                    serde_json::from_slice(part.contents()).map_err(|e| {
                        ApiError::bad_request(format!("Invalid JSON payload received. {e}"))
                    })?;
                thread_id = metadata.thread_id;
            }
            PartType::Text(_) | PartType::Binary(_) | PartType::InlineBinary(_)
                if raw.is_none() =>
            {
                raw = Some(part.contents().to_vec());
            }
            _ => {}
        }
    }
    let raw = raw.ok_or_else(|| ApiError::invalid_argument(RAW_REQUIRED))?;
    Ok((raw, thread_id))
}

fn draft_json(draft: &Draft, message: Value) -> Value {
    json!({"id": draft.id, "message": message})
}

async fn drafts_create(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "drafts.create")?;
    let request: DraftBody = parse_body(&body)?;
    let message = request.message.unwrap_or_default();
    let raw = decode_raw(message.raw.as_deref(), "draft.message.raw")?;
    let now_ms = state.clock.now().timestamp_millis();
    let mut mailbox = state.mailbox();
    let message_id = mailbox
        .insert(raw, message.thread_id.as_deref(), &["DRAFT"], now_ms)
        .map_err(|_| ApiError::invalid_argument("Invalid draft message"))?;
    let draft = Draft {
        id: mailbox.new_draft_id(),
        message_id: message_id.clone(),
    };
    mailbox.drafts.insert(draft.id.clone(), draft.clone());
    let stored = mailbox
        .messages
        .get(&message_id)
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(draft_json(&draft, message_labels(stored))).into_response())
}

async fn drafts_list(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "drafts.list")?;
    let mailbox = state.mailbox();
    let mut drafts: Vec<(&Draft, i64)> = mailbox
        .drafts
        .values()
        .filter_map(|d| Some((d, mailbox.messages.get(&d.message_id)?.internal_date_ms)))
        .collect();
    drafts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.id.cmp(&a.0.id)));
    let size = params.max_results(100, 500)?;
    let offset = params.page_offset()?;
    let total = drafts.len();
    let page: Vec<Value> = drafts
        .iter()
        .skip(offset)
        .take(size)
        .filter_map(|(draft, _)| {
            let message = mailbox.messages.get(&draft.message_id)?;
            Some(draft_json(
                draft,
                json!({"id": message.id, "threadId": message.thread_id}),
            ))
        })
        .collect();
    let mut body = json!({"resultSizeEstimate": total});
    if offset + page.len() < total {
        body["nextPageToken"] = json!(page_token(offset + page.len()));
    }
    if !page.is_empty() {
        body["drafts"] = Value::Array(page);
    }
    Ok(axum::Json(body).into_response())
}

async fn drafts_get(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "drafts.get")?;
    let format = parse_format(&params, true)?;
    let mailbox = state.mailbox();
    let draft = mailbox.drafts.get(&id).ok_or_else(ApiError::not_found)?;
    let message = mailbox
        .messages
        .get(&draft.message_id)
        .ok_or_else(ApiError::not_found)?;
    let body = draft_json(
        draft,
        message_json(message, format, &params.all("metadataHeaders")),
    );
    Ok(axum::Json(body).into_response())
}

async fn drafts_delete(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "drafts.delete")?;
    let mut mailbox = state.mailbox();
    let draft = mailbox.drafts.remove(&id).ok_or_else(ApiError::not_found)?;
    mailbox.delete(&draft.message_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn drafts_send(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "drafts.send")?;
    let request: DraftBody = parse_body(&body)?;
    let draft_id = request
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::invalid_argument("Invalid draft: the draft id is required"))?;
    let replacement = match request.message.as_ref().and_then(|m| m.raw.as_deref()) {
        Some(raw) => Some(decode_raw(Some(raw), "draft.message.raw")?),
        None => None,
    };
    let (raw, thread_id) = {
        let mailbox = state.mailbox();
        let draft = mailbox
            .drafts
            .get(&draft_id)
            .ok_or_else(ApiError::not_found)?;
        let message = mailbox
            .messages
            .get(&draft.message_id)
            .ok_or_else(ApiError::not_found)?;
        let thread_id = (message.thread_id != message.id).then(|| message.thread_id.clone());
        (
            replacement.unwrap_or_else(|| message.raw.clone()),
            thread_id,
        )
    };
    let answer = send_raw(&state, raw, thread_id.as_deref())?;
    let mut mailbox = state.mailbox();
    if let Some(draft) = mailbox.drafts.remove(&draft_id) {
        mailbox.delete(&draft.message_id);
    }
    Ok(axum::Json(answer).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_decoding_errors_match_the_reference() {
        let error = decode_raw(Some("%%%"), "message.raw").expect_err("bad base64");
        assert_eq!(
            error.message,
            "Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed for \"%%%\""
        );
        assert_eq!(error.status, "INVALID_ARGUMENT");
        assert!(decode_raw(None, "message.raw").is_err());
        assert_eq!(decode_raw(Some("aGk"), "message.raw"), Ok(b"hi".to_vec()));
    }

    #[test]
    fn multipart_upload_yields_message_and_thread() {
        let body = "--b1\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"threadId\":\"abc\"}\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nTo: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n--b1--\r\n";
        let (raw, thread) =
            split_multipart_upload("multipart/related; boundary=b1", body.as_bytes())
                .expect("split");
        assert_eq!(thread.as_deref(), Some("abc"));
        assert!(String::from_utf8_lossy(&raw).contains("To: a@example.com"));
    }

    #[test]
    fn recipients_get_the_message_without_its_bcc() {
        let raw = b"From: a@x.io\r\nBcc: crm@x.io,\r\n ops@x.io\r\nTo: b@y.io\r\n\r\nBcc: stays in the body\r\n";
        let delivered = String::from_utf8(without_header(raw, "Bcc")).unwrap();
        assert_eq!(
            delivered,
            "From: a@x.io\r\nTo: b@y.io\r\n\r\nBcc: stays in the body\r\n"
        );
    }
}
