//! Gmail REST handlers for reading, labelling and history, plus the gate
//! every Gmail call passes: credentials, userId, scope, then quota.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::SecondsFormat;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::GoogleSandbox;
use super::error::ApiError;
use super::gmail_send;
use super::gmail_views::{
    Format, history_json, label_json, message_json, message_labels, message_ref, parse_format,
    thread_json,
};
use super::mailbox::HistoryError;
use super::mime::encode_unpadded;
use super::params::{Params, page_token};
use super::query::MessageFilter;
use super::quota::QuotaErrorStyle;

type Shared = State<Arc<GoogleSandbox>>;
type ApiResult = Result<Response, ApiError>;

const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 100;

pub fn routes() -> Router<Arc<GoogleSandbox>> {
    let users = "/gmail/v1/users/{user}";
    Router::new()
        .route(&format!("{users}/profile"), get(profile))
        .route(&format!("{users}/messages"), get(messages_list))
        .route(&format!("{users}/messages/{{id}}"), get(messages_get))
        .route(
            &format!("{users}/messages/{{id}}/modify"),
            post(messages_modify),
        )
        .route(
            &format!("{users}/messages/{{id}}/trash"),
            post(messages_trash),
        )
        .route(
            &format!("{users}/messages/{{id}}/untrash"),
            post(messages_untrash),
        )
        .route(
            &format!("{users}/messages/batchModify"),
            post(messages_batch_modify),
        )
        .route(
            &format!("{users}/messages/{{id}}/attachments/{{attachment}}"),
            get(attachments_get),
        )
        .route(&format!("{users}/threads"), get(threads_list))
        .route(&format!("{users}/threads/{{id}}"), get(threads_get))
        .route(
            &format!("{users}/threads/{{id}}/modify"),
            post(threads_modify),
        )
        .route(
            &format!("{users}/threads/{{id}}/trash"),
            post(threads_trash),
        )
        .route(
            &format!("{users}/threads/{{id}}/untrash"),
            post(threads_untrash),
        )
        .route(&format!("{users}/history"), get(history_list))
        .route(&format!("{users}/labels"), get(labels_list))
        .route(&format!("{users}/labels/{{id}}"), get(labels_get))
        .merge(gmail_send::routes())
}

/// Scopes (beyond full access) that allow each method.
fn allowed_scopes(method: &str) -> &'static [&'static str] {
    const READ: &[&str] = &["gmail.readonly", "gmail.modify", "gmail.metadata"];
    match method {
        "getProfile" => &[
            "gmail.readonly",
            "gmail.modify",
            "gmail.metadata",
            "gmail.compose",
        ],
        "labels.list" | "labels.get" => &[
            "gmail.readonly",
            "gmail.modify",
            "gmail.metadata",
            "gmail.labels",
        ],
        "messages.send" => &["gmail.send", "gmail.compose", "gmail.modify"],
        "drafts.create" | "drafts.send" => &["gmail.compose", "gmail.modify"],
        "drafts.list" | "drafts.get" => &["gmail.compose", "gmail.modify", "gmail.readonly"],
        "messages.modify"
        | "messages.batchModify"
        | "messages.trash"
        | "messages.untrash"
        | "threads.modify"
        | "threads.trash"
        | "threads.untrash" => &["gmail.modify"],
        _ => READ,
    }
}

fn scope_allows(granted: &str, method: &str) -> bool {
    let allowed = allowed_scopes(method);
    granted.split_whitespace().any(|scope| {
        scope.trim_end_matches('/') == "https://mail.google.com"
            || scope
                .strip_prefix("https://www.googleapis.com/auth/")
                .is_some_and(|short| allowed.contains(&short))
    })
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Credentials, userId, scope, then quota: the order Google checks them in.
pub fn gate(
    state: &GoogleSandbox,
    headers: &HeaderMap,
    params: &Params,
    user_id: &str,
    method: &'static str,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let token = bearer_token(headers).or_else(|| params.get("access_token").map(str::to_string));
    let granted = token
        .as_deref()
        .and_then(|t| state.oauth().access_scope(t, now).map(str::to_string));
    let Some(granted) = granted else {
        state.quota_meter().counters.unauthorized += 1;
        return Err(if token.is_none() {
            ApiError::login_required()
        } else {
            ApiError::invalid_credentials()
        });
    };
    let email = state.mailbox().email.clone();
    if user_id != "me" && !user_id.eq_ignore_ascii_case(&email) {
        return Err(ApiError::delegation_denied(user_id));
    }
    if !scope_allows(&granted, method) {
        let wanted = allowed_scopes(method)
            .iter()
            .map(|s| format!("https://www.googleapis.com/auth/{s}"))
            .chain(["https://mail.google.com/".to_string()])
            .collect::<Vec<_>>()
            .join(" ");
        return Err(ApiError::insufficient_scope(&wanted));
    }
    let mut quota = state.quota_meter();
    quota
        .charge(now, method)
        .map_err(|retry_at| match quota.settings.style {
            QuotaErrorStyle::TooManyRequests => {
                ApiError::rate_limited(&retry_at.to_rfc3339_opts(SecondsFormat::Millis, true))
            }
            QuotaErrorStyle::UserRateLimitExceeded => ApiError::user_rate_limited(),
        })
}

/// Decode a JSON request body; an empty body reads as `{}`.
pub fn parse_body<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON payload received. {e}")))
}

/// Gmail ids are hex; anything else is a malformed request, not a miss.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::invalid_argument("Invalid id value"));
    }
    Ok(())
}

fn ok(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

async fn profile(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "getProfile")?;
    let mailbox = state.mailbox();
    ok(json!({
        "emailAddress": mailbox.email,
        "messagesTotal": mailbox.messages.len(),
        "threadsTotal": mailbox.threads.len(),
        "historyId": mailbox.history_id.to_string(),
    }))
}

/// Page through `items`, adding `nextPageToken` and `resultSizeEstimate`.
fn paged(key: &str, items: Vec<Value>, params: &Params, default: usize) -> ApiResult {
    let size = params.max_results(default, MAX_PAGE)?;
    let offset = params.page_offset()?;
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let mut body = json!({"resultSizeEstimate": total});
    if offset + page.len() < total {
        body["nextPageToken"] = json!(page_token(offset + page.len()));
    }
    if !page.is_empty() {
        body[key] = Value::Array(page);
    }
    ok(body)
}

async fn messages_list(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.list")?;
    let mailbox = state.mailbox();
    let filter = MessageFilter::new(
        &mailbox,
        params.get("q"),
        params.all("labelIds"),
        params.flag("includeSpamTrash"),
    );
    let items = mailbox
        .messages_newest_first()
        .into_iter()
        .filter(|m| filter.matches(m))
        .map(message_ref)
        .collect();
    paged("messages", items, &params, DEFAULT_PAGE)
}

async fn messages_get(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.get")?;
    check_id(&id)?;
    let format = parse_format(&params, true)?;
    let mailbox = state.mailbox();
    let message = mailbox.messages.get(&id).ok_or_else(ApiError::not_found)?;
    ok(message_json(
        message,
        format,
        &params.all("metadataHeaders"),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LabelChange {
    add_label_ids: Vec<String>,
    remove_label_ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct BatchModify {
    ids: Vec<String>,
    add_label_ids: Vec<String>,
    remove_label_ids: Vec<String>,
}

/// Apply a label change to one message and answer `{id, threadId, labelIds}`.
fn change_message(state: &GoogleSandbox, id: &str, add: &[String], remove: &[String]) -> ApiResult {
    check_id(id)?;
    let mut mailbox = state.mailbox();
    if !mailbox.messages.contains_key(id) {
        return Err(ApiError::not_found());
    }
    mailbox.validate_label_change(add, remove)?;
    mailbox.apply_labels(id, add, remove);
    let message = mailbox.messages.get(id).ok_or_else(ApiError::not_found)?;
    ok(message_labels(message))
}

async fn messages_modify(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.modify")?;
    let change: LabelChange = parse_body(&body)?;
    change_message(&state, &id, &change.add_label_ids, &change.remove_label_ids)
}

async fn messages_trash(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.trash")?;
    change_message(&state, &id, &["TRASH".into()], &[])
}

async fn messages_untrash(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.untrash")?;
    change_message(&state, &id, &[], &["TRASH".into()])
}

/// Up to 1000 ids per call, as Gmail allows.
const MAX_BATCH_IDS: usize = 1000;

async fn messages_batch_modify(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.batchModify")?;
    let batch: BatchModify = parse_body(&body)?;
    if batch.ids.len() > MAX_BATCH_IDS {
        return Err(ApiError::invalid_argument(format!(
            "Too many ids: at most {MAX_BATCH_IDS} per request"
        )));
    }
    for id in &batch.ids {
        check_id(id)?;
    }
    let mut mailbox = state.mailbox();
    mailbox.validate_label_change(&batch.add_label_ids, &batch.remove_label_ids)?;
    for id in &batch.ids {
        mailbox.apply_labels(id, &batch.add_label_ids, &batch.remove_label_ids);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn attachments_get(
    State(state): Shared,
    Path((user, id, attachment)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "messages.attachments.get")?;
    check_id(&id)?;
    let mailbox = state.mailbox();
    let data = mailbox
        .messages
        .get(&id)
        .and_then(|m| m.parsed.attachments.get(&attachment))
        .ok_or_else(ApiError::not_found)?;
    ok(json!({"size": data.len(), "data": encode_unpadded(data)}))
}

async fn threads_list(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "threads.list")?;
    let mailbox = state.mailbox();
    let filter = MessageFilter::new(
        &mailbox,
        params.get("q"),
        params.all("labelIds"),
        params.flag("includeSpamTrash"),
    );
    let mut seen = std::collections::HashSet::new();
    let items = mailbox
        .messages_newest_first()
        .into_iter()
        .filter(|m| filter.matches(m))
        .filter(|m| seen.insert(m.thread_id.clone()))
        .filter_map(|m| {
            let messages = mailbox.thread_messages(&m.thread_id)?;
            let last = messages.last()?;
            let history_id = messages.iter().map(|m| m.history_id).max().unwrap_or(0);
            Some(json!({
                "id": m.thread_id,
                "snippet": last.parsed.snippet,
                "historyId": history_id.to_string(),
            }))
        })
        .collect();
    paged("threads", items, &params, DEFAULT_PAGE)
}

async fn threads_get(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "threads.get")?;
    check_id(&id)?;
    let format = parse_format(&params, false)?;
    let mailbox = state.mailbox();
    let messages = mailbox
        .thread_messages(&id)
        .ok_or_else(ApiError::not_found)?;
    ok(thread_json(
        &id,
        &messages,
        format,
        &params.all("metadataHeaders"),
    ))
}

fn change_thread(state: &GoogleSandbox, id: &str, add: &[String], remove: &[String]) -> ApiResult {
    check_id(id)?;
    let mut mailbox = state.mailbox();
    let ids = mailbox
        .threads
        .get(id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    mailbox.validate_label_change(add, remove)?;
    for message_id in &ids {
        mailbox.apply_labels(message_id, add, remove);
    }
    let messages = mailbox
        .thread_messages(id)
        .ok_or_else(ApiError::not_found)?;
    ok(thread_json(id, &messages, Format::Minimal, &[]))
}

async fn threads_modify(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "threads.modify")?;
    let change: LabelChange = parse_body(&body)?;
    change_thread(&state, &id, &change.add_label_ids, &change.remove_label_ids)
}

async fn threads_trash(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "threads.trash")?;
    change_thread(&state, &id, &["TRASH".into()], &[])
}

async fn threads_untrash(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "threads.untrash")?;
    change_thread(&state, &id, &[], &["TRASH".into()])
}

async fn history_list(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "history.list")?;
    let start = params
        .get("startHistoryId")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| ApiError::invalid_argument("Missing/invalid parameter: startHistoryId"))?;
    let types = params.all("historyTypes");
    let label = params.get("labelId");
    let mailbox = state.mailbox();
    let records = mailbox.history_since(start).map_err(|e| match e {
        HistoryError::Expired => ApiError::not_found(),
    })?;
    let items: Vec<Value> = records
        .into_iter()
        .filter(|r| types.is_empty() || types.iter().any(|t| t == r.change.history_type()))
        .filter(|r| {
            label.is_none_or(|l| {
                r.labels_after.iter().any(|x| x == l)
                    || matches!(&r.change, super::mailbox::Change::LabelsAdded(c)
                        | super::mailbox::Change::LabelsRemoved(c) if c.iter().any(|x| x == l))
            })
        })
        .map(history_json)
        .collect();
    let size = params.max_results(DEFAULT_PAGE, MAX_PAGE)?;
    let offset = params.page_offset()?;
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let mut body = json!({"historyId": mailbox.history_id.to_string()});
    if offset + page.len() < total {
        body["nextPageToken"] = json!(page_token(offset + page.len()));
    }
    if !page.is_empty() {
        body["history"] = Value::Array(page);
    }
    ok(body)
}

async fn labels_list(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "labels.list")?;
    let mailbox = state.mailbox();
    let labels: Vec<Value> = mailbox.labels.iter().map(label_json).collect();
    ok(json!({"labels": labels}))
}

async fn labels_get(
    State(state): Shared,
    Path((user, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    gate(&state, &headers, &params, &user, "labels.get")?;
    let mailbox = state.mailbox();
    let label = mailbox
        .labels
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(ApiError::not_found)?;
    let labelled: Vec<_> = mailbox
        .messages
        .values()
        .filter(|m| m.has_label(&label.id))
        .collect();
    let unread = labelled.iter().filter(|m| m.has_label("UNREAD"));
    let threads: std::collections::HashSet<&str> =
        labelled.iter().map(|m| m.thread_id.as_str()).collect();
    let unread_threads: std::collections::HashSet<&str> =
        unread.clone().map(|m| m.thread_id.as_str()).collect();
    let mut body = label_json(label);
    body["messagesTotal"] = json!(labelled.len());
    body["messagesUnread"] = json!(unread.count());
    body["threadsTotal"] = json!(threads.len());
    body["threadsUnread"] = json!(unread_threads.len());
    ok(body)
}
