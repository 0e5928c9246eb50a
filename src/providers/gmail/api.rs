//! The Gmail endpoints outpost uses, as typed methods on `GmailClient`.

use futures::StreamExt;
use reqwest::Method;

use super::client::{ApiRequest, GmailClient, Replay, RequestBody};
use super::encoding::{decode_base64_lenient, encode_base64url};
use super::error::GmailError;
use super::types::{
    History, Label, ListHistoryResponse, ListLabelsResponse, ListMessagesResponse, Message,
    MessagePartBody, MessageRef, ModifyRequest, Profile, SendRequest, Thread,
};

/// `format` of `messages.get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFormat {
    Full,
    Raw,
    Metadata,
    Minimal,
}

impl MessageFormat {
    fn as_str(self) -> &'static str {
        match self {
            MessageFormat::Full => "full",
            MessageFormat::Raw => "raw",
            MessageFormat::Metadata => "metadata",
            MessageFormat::Minimal => "minimal",
        }
    }
}

/// `format` of `threads.get` (threads have no `raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadFormat {
    Full,
    Metadata,
    Minimal,
}

impl ThreadFormat {
    fn as_str(self) -> &'static str {
        match self {
            ThreadFormat::Full => "full",
            ThreadFormat::Metadata => "metadata",
            ThreadFormat::Minimal => "minimal",
        }
    }
}

/// `historyTypes` filter of `history.list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryType {
    MessageAdded,
    MessageDeleted,
    LabelAdded,
    LabelRemoved,
}

impl HistoryType {
    fn as_str(self) -> &'static str {
        match self {
            HistoryType::MessageAdded => "messageAdded",
            HistoryType::MessageDeleted => "messageDeleted",
            HistoryType::LabelAdded => "labelAdded",
            HistoryType::LabelRemoved => "labelRemoved",
        }
    }
}

/// Parameters of `messages.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListMessagesQuery {
    /// Gmail search syntax, e.g. `newer_than:7d`.
    pub q: Option<String>,
    /// A message must carry all of these.
    pub label_ids: Vec<String>,
    pub page_token: Option<String>,
    /// 1..=500; Gmail's default is 100.
    pub max_results: Option<u32>,
    pub include_spam_trash: bool,
}

/// All history after a cursor, and the cursor to use next time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryDelta {
    pub records: Vec<History>,
    /// The last page's `historyId`: the next `startHistoryId`.
    pub history_id: Option<u64>,
}

const MAX_PAGE_SIZE: u32 = 500;

/// The largest message sent as JSON (base64 in `raw`); a larger one goes
/// through the upload endpoint, which Gmail documents for large mail.
pub const LARGEST_JSON_SEND: usize = 1024 * 1024;

impl GmailClient {
    fn get(&self, segments: &[&str], quota_units: u32) -> ApiRequest {
        ApiRequest {
            method: Method::GET,
            url: self.endpoint(segments),
            body: RequestBody::Empty,
            replay: Replay::Safe,
            quota_units,
        }
    }

    /// `users.getProfile`: address and the current history id.
    pub async fn profile(&self) -> Result<Profile, GmailError> {
        self.execute(self.get(&["profile"], 1)).await
    }

    /// `users.labels.list`.
    pub async fn list_labels(&self) -> Result<Vec<Label>, GmailError> {
        let response: ListLabelsResponse = self.execute(self.get(&["labels"], 1)).await?;
        Ok(response.labels)
    }

    /// One page of `users.messages.list`.
    pub async fn list_messages(
        &self,
        query: &ListMessagesQuery,
    ) -> Result<ListMessagesResponse, GmailError> {
        let mut request = self.get(&["messages"], 5);
        {
            let mut pairs = request.url.query_pairs_mut();
            if let Some(q) = &query.q {
                pairs.append_pair("q", q);
            }
            for label in &query.label_ids {
                pairs.append_pair("labelIds", label);
            }
            if let Some(token) = &query.page_token {
                pairs.append_pair("pageToken", token);
            }
            if let Some(max) = query.max_results {
                pairs.append_pair("maxResults", &max.clamp(1, MAX_PAGE_SIZE).to_string());
            }
            if query.include_spam_trash {
                pairs.append_pair("includeSpamTrash", "true");
            }
        }
        self.execute(request).await
    }

    /// Every message id matching `query`, following pages (newest first),
    /// stopping after `limit` ids when given.
    pub async fn list_all_message_ids(
        &self,
        query: &ListMessagesQuery,
        limit: Option<usize>,
    ) -> Result<Vec<MessageRef>, GmailError> {
        let mut page_query = query.clone();
        if page_query.max_results.is_none() {
            page_query.max_results = Some(MAX_PAGE_SIZE);
        }
        let mut ids = Vec::new();
        loop {
            let page = self.list_messages(&page_query).await?;
            ids.extend(page.messages.into_iter().filter(|m| m.id.is_some()));
            if let Some(limit) = limit
                && ids.len() >= limit
            {
                ids.truncate(limit);
                return Ok(ids);
            }
            match page.next_page_token {
                Some(token) if Some(&token) != page_query.page_token.as_ref() => {
                    page_query.page_token = Some(token);
                }
                Some(_) => {
                    return Err(GmailError::Decode(
                        "messages.list returned the same page token twice".to_string(),
                    ));
                }
                None => return Ok(ids),
            }
        }
    }

    /// `users.messages.get`.
    pub async fn get_message(
        &self,
        id: &str,
        format: MessageFormat,
    ) -> Result<Message, GmailError> {
        let mut request = self.get(&["messages", non_empty(id, "message id")?], 5);
        request
            .url
            .query_pairs_mut()
            .append_pair("format", format.as_str());
        self.execute(request).await
    }

    /// Fetches many messages with at most `max_concurrency` requests in
    /// flight. Messages deleted in the meantime (404) are skipped; the result
    /// keeps the order of `ids`. The first other error aborts the batch.
    pub async fn get_messages(
        &self,
        ids: &[String],
        format: MessageFormat,
    ) -> Result<Vec<Message>, GmailError> {
        // Owned ids keep the futures free of borrowed lifetimes, so callers
        // can run this inside spawned tasks.
        let owned: Vec<(usize, String)> = ids.iter().cloned().enumerate().collect();
        let mut results = futures::stream::iter(owned)
            .map(|(index, id)| async move { (index, self.get_message(&id, format).await) })
            .buffer_unordered(self.max_concurrency);
        let mut fetched = Vec::with_capacity(ids.len());
        while let Some((index, result)) = results.next().await {
            match result {
                Ok(message) => fetched.push((index, message)),
                Err(err) if err.is_not_found() => {
                    tracing::debug!(id = %ids[index], "message vanished before it was fetched");
                }
                Err(err) => return Err(err),
            }
        }
        fetched.sort_by_key(|(index, _)| *index);
        Ok(fetched.into_iter().map(|(_, message)| message).collect())
    }

    /// `users.messages.attachments.get`, decoded to bytes.
    pub async fn get_attachment(
        &self,
        message_id: &str,
        attachment_id: &str,
    ) -> Result<Vec<u8>, GmailError> {
        let request = self.get(
            &[
                "messages",
                non_empty(message_id, "message id")?,
                "attachments",
                non_empty(attachment_id, "attachment id")?,
            ],
            5,
        );
        let body: MessagePartBody = self.execute(request).await?;
        let data = body.data.unwrap_or_default();
        decode_base64_lenient(&data).map_err(|err| GmailError::Decode(err.to_string()))
    }

    /// `users.threads.get`.
    pub async fn get_thread(&self, id: &str, format: ThreadFormat) -> Result<Thread, GmailError> {
        let mut request = self.get(&["threads", non_empty(id, "thread id")?], 10);
        request
            .url
            .query_pairs_mut()
            .append_pair("format", format.as_str());
        self.execute(request).await
    }

    /// One page of `users.history.list`. An expired cursor (404) becomes
    /// [`GmailError::HistoryExpired`]: the caller must do a full resync.
    pub async fn list_history(
        &self,
        start_history_id: u64,
        types: &[HistoryType],
        page_token: Option<&str>,
    ) -> Result<ListHistoryResponse, GmailError> {
        let mut request = self.get(&["history"], 2);
        {
            let mut pairs = request.url.query_pairs_mut();
            pairs.append_pair("startHistoryId", &start_history_id.to_string());
            for kind in types {
                pairs.append_pair("historyTypes", kind.as_str());
            }
            pairs.append_pair("maxResults", &MAX_PAGE_SIZE.to_string());
            if let Some(token) = page_token {
                pairs.append_pair("pageToken", token);
            }
        }
        match self.execute(request).await {
            Err(err) if err.is_not_found() => Err(GmailError::HistoryExpired),
            other => other,
        }
    }

    /// All history records after `start_history_id`, across pages.
    pub async fn list_history_since(
        &self,
        start_history_id: u64,
        types: &[HistoryType],
    ) -> Result<HistoryDelta, GmailError> {
        let mut delta = HistoryDelta::default();
        let mut page_token: Option<String> = None;
        loop {
            let page = self
                .list_history(start_history_id, types, page_token.as_deref())
                .await?;
            delta.records.extend(page.history);
            if page.history_id.is_some() {
                delta.history_id = page.history_id;
            }
            match page.next_page_token {
                Some(token) if Some(&token) != page_token.as_ref() => page_token = Some(token),
                Some(_) => {
                    return Err(GmailError::Decode(
                        "history.list returned the same page token twice".to_string(),
                    ));
                }
                None => return Ok(delta),
            }
        }
    }

    /// `users.messages.modify`.
    pub async fn modify(
        &self,
        id: &str,
        add_label_ids: &[&str],
        remove_label_ids: &[&str],
    ) -> Result<Message, GmailError> {
        let body = ModifyRequest {
            add_label_ids: add_label_ids.iter().map(|s| s.to_string()).collect(),
            remove_label_ids: remove_label_ids.iter().map(|s| s.to_string()).collect(),
        };
        let request = ApiRequest {
            method: Method::POST,
            url: self.endpoint(&["messages", non_empty(id, "message id")?, "modify"]),
            body: RequestBody::Json(to_json(&body)?),
            replay: Replay::Safe,
            quota_units: 5,
        };
        self.execute(request).await
    }

    /// Marks a message read (removes `UNREAD`).
    pub async fn mark_read(&self, id: &str) -> Result<Message, GmailError> {
        self.modify(id, &[], &["UNREAD"]).await
    }

    /// `users.messages.send` with an RFC 822 message. Not idempotent: after
    /// a failure that Gmail may have processed (5xx, timeout) this returns
    /// [`GmailError::SendOutcomeUnknown`] instead of retrying; use
    /// [`GmailClient::find_by_message_id`] to find out.
    ///
    /// A message larger than [`LARGEST_JSON_SEND`] (attachments) goes to the
    /// upload endpoint as `multipart/related`: the `threadId` as JSON, then
    /// the message itself, up to Gmail's 35 MB.
    pub async fn send(&self, raw: &[u8], thread_id: Option<&str>) -> Result<Message, GmailError> {
        let thread_id = thread_id.filter(|t| !t.is_empty()).map(str::to_string);
        let (url, body) = if raw.len() > LARGEST_JSON_SEND {
            let mut url = self.upload_endpoint(&["messages", "send"]);
            url.query_pairs_mut().append_pair("uploadType", "multipart");
            let metadata = match &thread_id {
                Some(id) => serde_json::json!({ "threadId": id }),
                None => serde_json::json!({}),
            };
            let boundary = format!("outpost-{}", uuid::Uuid::new_v4().simple());
            let mut bytes = format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
                 --{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
            )
            .into_bytes();
            bytes.extend_from_slice(raw);
            bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let body = RequestBody::Bytes {
                content_type: format!("multipart/related; boundary={boundary}"),
                bytes,
            };
            (url, body)
        } else {
            let request = SendRequest {
                raw: encode_base64url(raw),
                thread_id,
            };
            let body = RequestBody::Json(to_json(&request)?);
            (self.endpoint(&["messages", "send"]), body)
        };
        let request = ApiRequest {
            method: Method::POST,
            url,
            body,
            replay: Replay::NotIdempotent,
            quota_units: 100,
        };
        self.execute(request).await
    }

    /// The sent message with this `Message-ID` header (with or without angle
    /// brackets), if Gmail has it. Used to settle a send whose outcome is unknown.
    pub async fn find_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<MessageRef>, GmailError> {
        let bare = message_id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        if bare.is_empty() || bare.contains(char::is_whitespace) {
            return Err(GmailError::InvalidInput(format!(
                "{message_id:?} is not a Message-ID"
            )));
        }
        let query = ListMessagesQuery {
            q: Some(format!("rfc822msgid:{bare}")),
            label_ids: vec!["SENT".to_string()],
            max_results: Some(10),
            ..ListMessagesQuery::default()
        };
        let page = self.list_messages(&query).await?;
        Ok(page.messages.into_iter().find(|m| m.id.is_some()))
    }
}

fn non_empty<'a>(value: &'a str, what: &str) -> Result<&'a str, GmailError> {
    if value.trim().is_empty() {
        Err(GmailError::InvalidInput(format!("empty {what}")))
    } else {
        Ok(value)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, GmailError> {
    serde_json::to_value(value).map_err(|err| GmailError::InvalidInput(err.to_string()))
}
