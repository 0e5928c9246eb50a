//! Gmail API v1 resources, deserialised leniently: every field optional,
//! unknown fields ignored, 64-bit integers accepted as strings or numbers.

use serde::{Deserialize, Serialize};

use super::encoding::{
    de_null_default, de_opt_i64, de_opt_u64, ser_opt_i64_as_string, ser_opt_u64_as_string,
};

/// `GET /users/{u}/profile`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64"
    )]
    pub messages_total: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64"
    )]
    pub threads_total: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64",
        serialize_with = "ser_opt_u64_as_string"
    )]
    pub history_id: Option<u64>,
}

/// A list entry: only ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

/// `GET /users/{u}/messages`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListMessagesResponse {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub messages: Vec<MessageRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64"
    )]
    pub result_size_estimate: Option<u64>,
}

/// One header of a message part; names keep their original case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// The (transfer-decoded, base64url-wrapped) content of a part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessagePartBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64"
    )]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// A node of the parsed MIME tree in `format=full`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessagePart {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub headers: Vec<Header>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<MessagePartBody>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub parts: Vec<MessagePart>,
}

impl MessagePart {
    /// First header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// A Gmail message in any format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Message {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub label_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64",
        serialize_with = "ser_opt_u64_as_string"
    )]
    pub history_id: Option<u64>,
    /// Epoch milliseconds at which Google accepted the message.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_i64",
        serialize_with = "ser_opt_i64_as_string"
    )]
    pub internal_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<MessagePart>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64"
    )]
    pub size_estimate: Option<u64>,
    /// The whole RFC 822 message, base64url (`format=raw` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl Message {
    pub fn has_label(&self, label: &str) -> bool {
        self.label_ids.iter().any(|l| l == label)
    }
}

/// `GET /users/{u}/threads/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Thread {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64",
        serialize_with = "ser_opt_u64_as_string"
    )]
    pub history_id: Option<u64>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub messages: Vec<Message>,
}

/// A message that appeared or disappeared in a history record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryMessageChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

/// Labels added to or removed from a message in a history record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HistoryLabelChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub label_ids: Vec<String>,
}

/// One history record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct History {
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64",
        serialize_with = "ser_opt_u64_as_string"
    )]
    pub id: Option<u64>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub messages: Vec<Message>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub messages_added: Vec<HistoryMessageChange>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub messages_deleted: Vec<HistoryMessageChange>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub labels_added: Vec<HistoryLabelChange>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub labels_removed: Vec<HistoryLabelChange>,
}

/// `GET /users/{u}/history`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListHistoryResponse {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub history: Vec<History>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64",
        serialize_with = "ser_opt_u64_as_string"
    )]
    pub history_id: Option<u64>,
}

/// A label (system or user).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Label {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "type")]
    pub label_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_list_visibility: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_list_visibility: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64"
    )]
    pub messages_total: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_u64"
    )]
    pub messages_unread: Option<u64>,
}

/// `GET /users/{u}/labels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListLabelsResponse {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_null_default"
    )]
    pub labels: Vec<Label>,
}

/// Body of `POST /users/{u}/messages/send`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    /// The RFC 822 message, base64url.
    pub raw: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub thread_id: Option<String>,
}

/// Body of `POST /users/{u}/messages/{id}/modify`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifyRequest {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub add_label_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub remove_label_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_from_reference_example() {
        let json = r#"{"id": "18f5dc3c6c373405", "threadId": "18f5dc3c6c373405",
 "labelIds": ["UNREAD", "IMPORTANT", "CATEGORY_PERSONAL", "INBOX"],
 "snippet": "Hi, are we still on for", "historyId": "73834", "internalDate": "1715265050000",
 "sizeEstimate": 4668, "classificationLabelValues": [{"x": 1}],
 "payload": {"partId": "", "mimeType": "multipart/alternative", "filename": "",
   "headers": [{"name": "From", "value": "Ann <ann@example.com>"}],
   "body": {"size": 0},
   "parts": [{"partId": "0", "mimeType": "text/plain", "filename": "",
              "headers": [{"name": "Content-Type", "value": "text/plain; charset=UTF-8"}],
              "body": {"size": 32, "data": "SGksIGFyZSB3ZSBzdGlsbCBvbiBmb3IgbHVuY2g_DQo"}}]}}"#;
        let message: Message = serde_json::from_str(json).unwrap();
        assert_eq!(message.history_id, Some(73834));
        assert_eq!(message.internal_date, Some(1_715_265_050_000));
        assert_eq!(message.size_estimate, Some(4668));
        assert!(message.has_label("UNREAD"));
        let payload = message.payload.as_ref().unwrap();
        assert_eq!(payload.header("from"), Some("Ann <ann@example.com>"));
        assert_eq!(payload.parts[0].body.as_ref().unwrap().size, Some(32));

        // Serialising writes 64-bit integers back as strings.
        let back = serde_json::to_value(&message).unwrap();
        assert_eq!(back["historyId"], "73834");
        assert_eq!(back["internalDate"], "1715265050000");
    }

    #[test]
    fn empty_and_null_fields_are_tolerated() {
        let list: ListMessagesResponse =
            serde_json::from_str(r#"{"resultSizeEstimate": 0}"#).unwrap();
        assert!(list.messages.is_empty());
        let history: ListHistoryResponse =
            serde_json::from_str(r#"{"historyId": 74012, "history": null}"#).unwrap();
        assert_eq!(history.history_id, Some(74012));
        assert!(history.history.is_empty());
        let message: Message = serde_json::from_str("{}").unwrap();
        assert_eq!(message, Message::default());
    }

    #[test]
    fn history_record_with_label_changes() {
        let json = r#"{"history": [
  {"id": "74009", "messages": [{"id": "a", "threadId": "a"}],
   "labelsRemoved": [{"message": {"id": "a", "threadId": "a", "labelIds": ["INBOX"]},
                      "labelIds": ["UNREAD"]}]}],
 "historyId": "74012", "nextPageToken": "p2"}"#;
        let page: ListHistoryResponse = serde_json::from_str(json).unwrap();
        assert_eq!(page.history[0].id, Some(74009));
        assert_eq!(page.history[0].labels_removed[0].label_ids, vec!["UNREAD"]);
        assert_eq!(page.next_page_token.as_deref(), Some("p2"));
    }

    #[test]
    fn bad_integer_is_an_error_not_a_panic() {
        assert!(serde_json::from_str::<Profile>(r#"{"historyId": "abc"}"#).is_err());
    }
}
