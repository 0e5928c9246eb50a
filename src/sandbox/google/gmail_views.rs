//! JSON shapes of Gmail resources: Message in its four formats, Thread,
//! History records, Labels. Empty lists are omitted; 64-bit ints are strings.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::mailbox::{Change, HistoryRecord, Label, StoredMessage};
use super::mime::encode_padded;
use super::params::Params;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Minimal,
    Full,
    Raw,
    Metadata,
}

/// The `format` parameter; threads.get has no `raw`.
pub fn parse_format(params: &Params, allow_raw: bool) -> Result<Format, ApiError> {
    match params.get("format").map(str::to_ascii_lowercase).as_deref() {
        None | Some("full") => Ok(Format::Full),
        Some("minimal") => Ok(Format::Minimal),
        Some("metadata") => Ok(Format::Metadata),
        Some("raw") if allow_raw => Ok(Format::Raw),
        Some(_) => Err(ApiError::invalid_value(format!(
            "Invalid value at 'format' (TYPE_ENUM), \"{}\"",
            params.get("format").unwrap_or_default()
        ))),
    }
}

/// `{id, threadId}`, the shape of list entries.
pub fn message_ref(message: &StoredMessage) -> Value {
    json!({"id": message.id, "threadId": message.thread_id})
}

/// `{id, threadId, labelIds}` (labelIds omitted when empty).
pub fn message_labels(message: &StoredMessage) -> Value {
    let mut value = message_ref(message);
    if !message.labels.is_empty() {
        value["labelIds"] = json!(message.labels);
    }
    value
}

pub fn message_json(message: &StoredMessage, format: Format, metadata_headers: &[String]) -> Value {
    let mut value = message_labels(message);
    value["snippet"] = json!(message.parsed.snippet);
    value["historyId"] = json!(message.history_id.to_string());
    value["internalDate"] = json!(message.internal_date_ms.to_string());
    value["sizeEstimate"] = json!(message.raw.len());
    match format {
        Format::Minimal => {}
        Format::Full => value["payload"] = message.parsed.payload.clone(),
        Format::Raw => value["raw"] = json!(encode_padded(&message.raw)),
        Format::Metadata => {
            let headers: Vec<Value> = message
                .parsed
                .headers
                .iter()
                .filter(|(name, _)| {
                    metadata_headers.is_empty()
                        || metadata_headers
                            .iter()
                            .any(|w| w.eq_ignore_ascii_case(name))
                })
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            let mut payload = json!({
                "partId": "",
                "mimeType": message.parsed.payload["mimeType"],
                "filename": "",
            });
            if !headers.is_empty() {
                payload["headers"] = Value::Array(headers);
            }
            value["payload"] = payload;
        }
    }
    value
}

/// A Thread resource from its messages (oldest first).
pub fn thread_json(
    thread_id: &str,
    messages: &[&StoredMessage],
    format: Format,
    metadata_headers: &[String],
) -> Value {
    let snippet = messages
        .last()
        .map(|m| m.parsed.snippet.clone())
        .unwrap_or_default();
    let history_id = messages.iter().map(|m| m.history_id).max().unwrap_or(0);
    let mut value = json!({
        "id": thread_id,
        "snippet": snippet,
        "historyId": history_id.to_string(),
    });
    if !messages.is_empty() {
        value["messages"] = Value::Array(
            messages
                .iter()
                .map(|m| message_json(m, format, metadata_headers))
                .collect(),
        );
    }
    value
}

pub fn history_json(record: &HistoryRecord) -> Value {
    let reference = json!({"id": record.message_id, "threadId": record.thread_id});
    let mut with_labels = reference.clone();
    if !record.labels_after.is_empty() {
        with_labels["labelIds"] = json!(record.labels_after);
    }
    let mut value = json!({
        "id": record.id.to_string(),
        "messages": [reference],
    });
    match &record.change {
        Change::MessageAdded => value["messagesAdded"] = json!([{"message": with_labels}]),
        Change::MessageDeleted => value["messagesDeleted"] = json!([{"message": with_labels}]),
        Change::LabelsAdded(labels) => {
            value["labelsAdded"] = json!([{"message": with_labels, "labelIds": labels}]);
        }
        Change::LabelsRemoved(labels) => {
            value["labelsRemoved"] = json!([{"message": with_labels, "labelIds": labels}]);
        }
    }
    value
}

pub fn label_json(label: &Label) -> Value {
    let mut value = Map::new();
    value.insert("id".into(), json!(label.id));
    value.insert("name".into(), json!(label.name));
    if let Some(v) = &label.message_list_visibility {
        value.insert("messageListVisibility".into(), json!(v));
    }
    if let Some(v) = &label.label_list_visibility {
        value.insert("labelListVisibility".into(), json!(v));
    }
    value.insert(
        "type".into(),
        json!(if label.system { "system" } else { "user" }),
    );
    Value::Object(value)
}
