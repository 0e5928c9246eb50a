//! A client of a daemon's `/api`: the same queries and commands the TUI runs
//! on a local [`Engine`](super::Engine), plus a live stream of `Change`s
//! (server-sent events from `/api/changes`).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod wire;

use super::{
    InboxQuery, LeadQuery, LeadView, ReplyDraft, SequenceDetail, SequenceSummary, StatsQuery,
    StatsReport, ThreadView,
};
use crate::model::{
    Account, Category, Draft, Enrollment, Lead, OutboxItem, Sequence, SequenceStatus, Suppression,
};
use crate::store::Change;
use wire::*;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("the daemon refused the API token; use the token from its data dir (api.token)")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the daemon answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("cannot reach the daemon at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("unexpected answer from the daemon: {0}")]
    Decode(String),
}

pub type RemoteResult<T> = Result<T, RemoteError>;

/// A handle to a daemon's engine API; cheap to clone.
#[derive(Clone)]
pub struct RemoteEngine {
    base: url::Url,
    token: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEngine")
            .field("base", &self.base.as_str())
            .finish()
    }
}

/// One item of the live stream.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteChange {
    Change(Change),
    /// The stream fell behind and skipped changes: reload what is shown.
    Lagged,
}

impl RemoteEngine {
    pub fn new(base: &str, token: SecretString) -> RemoteResult<RemoteEngine> {
        let base = url::Url::parse(base.trim_end_matches('/'))
            .map_err(|e| RemoteError::Invalid(format!("bad daemon URL {base:?}: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| RemoteError::Invalid(e.to_string()))?;
        Ok(RemoteEngine { base, token, http })
    }

    /// A transport failure, with its innermost cause ("connection refused").
    fn unreachable(&self, error: reqwest::Error) -> RemoteError {
        let error = error.without_url();
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            detail = cause.to_string();
            source = cause.source();
        }
        RemoteError::Unreachable {
            url: self.base_url().to_string(),
            detail,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/{path}", self.base.as_str().trim_end_matches('/'))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> RemoteResult<T> {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.token.expose_secret())
            .timeout(Duration::from_secs(30));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if status.is_success() {
            return response
                .json::<T>()
                .await
                .map_err(|e| RemoteError::Decode(e.without_url().to_string()));
        }
        let message = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| status.to_string());
        Err(match status {
            StatusCode::UNAUTHORIZED => RemoteError::Unauthorized,
            StatusCode::NOT_FOUND => RemoteError::NotFound(message),
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                RemoteError::Invalid(message)
            }
            other => RemoteError::Server {
                status: other.as_u16(),
                message,
            },
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> RemoteResult<T> {
        self.call(Method::GET, path, query, None).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: impl Serialize) -> RemoteResult<T> {
        let body = serde_json::to_value(body).map_err(|e| RemoteError::Invalid(e.to_string()))?;
        self.call(Method::POST, path, &[], Some(body)).await
    }

    /// None for a 404, the error otherwise.
    async fn maybe<T>(result: RemoteResult<T>) -> RemoteResult<Option<T>> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(RemoteError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The daemon's base URL, as given (for the status bar and errors).
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    pub async fn accounts(&self) -> RemoteResult<Vec<Account>> {
        self.get("accounts", &[]).await
    }

    pub async fn inbox(&self, q: &InboxQuery) -> RemoteResult<Vec<ThreadView>> {
        self.post("inbox", q).await
    }

    pub async fn thread(&self, key: &str) -> RemoteResult<Option<ThreadView>> {
        Self::maybe(self.get("thread", &[("key", key)]).await).await
    }

    pub async fn mark_thread_read(&self, key: &str) -> RemoteResult<bool> {
        let flag: Flag = self
            .post("thread/read", KeyParam { key: key.into() })
            .await?;
        Ok(flag.value)
    }

    pub async fn set_thread_category(&self, key: &str, category: Category) -> RemoteResult<()> {
        let request = CategoryRequest {
            key: key.into(),
            category,
        };
        let _: Flag = self.post("thread/category", request).await?;
        Ok(())
    }

    /// Re-reads a conversation from its provider on the daemon's side; true
    /// if the provider was asked.
    pub async fn refresh_thread(&self, key: &str) -> RemoteResult<bool> {
        let flag: Flag = self
            .post("thread/refresh", KeyParam { key: key.into() })
            .await?;
        Ok(flag.value)
    }

    pub async fn leads(&self, q: &LeadQuery) -> RemoteResult<Vec<Lead>> {
        self.post("leads", q).await
    }

    pub async fn lead(&self, email: &str) -> RemoteResult<Option<LeadView>> {
        Self::maybe(self.get("lead", &[("email", email)]).await).await
    }

    /// One lead record by store key (`account/email`).
    pub async fn lead_record(&self, key: &str) -> RemoteResult<Option<Lead>> {
        Self::maybe(self.get("lead-record", &[("key", key)]).await).await
    }

    /// Several lead records by store key, and the keys that no longer exist.
    pub async fn lead_records(&self, keys: Vec<String>) -> RemoteResult<LeadRecords> {
        self.post("lead-records", LeadKeys { keys }).await
    }

    /// Every lead and campaign name, to build the leads table's index.
    pub async fn lead_index_source(&self) -> RemoteResult<LeadIndexSource> {
        self.get("lead-index", &[]).await
    }

    pub async fn stats(&self, q: &StatsQuery) -> RemoteResult<StatsReport> {
        self.post("stats", q).await
    }

    pub async fn categories(&self, account: &str) -> RemoteResult<Vec<Category>> {
        self.get("categories", &[("account", account)]).await
    }

    pub async fn draft_for_thread(&self, thread_key: &str) -> RemoteResult<Option<Draft>> {
        self.get("draft", &[("thread_key", thread_key)]).await
    }

    pub async fn save_draft(&self, draft: &Draft) -> RemoteResult<()> {
        let body = serde_json::to_value(draft).map_err(|e| RemoteError::Invalid(e.to_string()))?;
        let _: Flag = self.call(Method::PUT, "draft", &[], Some(body)).await?;
        Ok(())
    }

    pub async fn delete_draft(&self, id: &str) -> RemoteResult<bool> {
        let flag: Flag = self
            .call(Method::DELETE, "draft", &[("id", id)], None)
            .await?;
        Ok(flag.value)
    }

    pub async fn queue_reply(
        &self,
        thread_key: &str,
        reply: &ReplyDraft,
        delay: chrono::Duration,
    ) -> RemoteResult<OutboxItem> {
        let request = ReplyRequest {
            thread_key: thread_key.into(),
            reply: reply.clone(),
            delay_secs: delay.num_seconds(),
        };
        self.post("reply", request).await
    }

    /// A new email to a lead; template variables are filled by the daemon.
    pub async fn queue_new_email(
        &self,
        lead_key: &str,
        subject: &str,
        body: &str,
        delay: chrono::Duration,
    ) -> RemoteResult<OutboxItem> {
        let request = NewEmailRequest {
            lead_key: lead_key.into(),
            subject: subject.into(),
            body: body.into(),
            delay_secs: delay.num_seconds(),
        };
        self.post("new-email", request).await
    }

    pub async fn cancel_outbox(&self, id: &str) -> RemoteResult<bool> {
        let flag: Flag = self
            .post("outbox/cancel", IdParam { id: id.into() })
            .await?;
        Ok(flag.value)
    }

    pub async fn outbox_item(&self, id: &str) -> RemoteResult<Option<OutboxItem>> {
        Self::maybe(self.get("outbox", &[("id", id)]).await).await
    }

    /// Every sequence with its counts and funnel, by name.
    pub async fn sequences(&self) -> RemoteResult<Vec<SequenceSummary>> {
        self.get("sequences", &[]).await
    }

    pub async fn sequence_detail(&self, name: &str) -> RemoteResult<Option<SequenceDetail>> {
        Self::maybe(self.get("sequence", &[("name", name)]).await).await
    }

    /// Pauses or resumes a whole sequence.
    pub async fn set_sequence_status(
        &self,
        name: &str,
        status: SequenceStatus,
    ) -> RemoteResult<Sequence> {
        let request = SequenceStatusRequest {
            name: name.into(),
            status,
        };
        self.post("sequence/status", request).await
    }

    /// Saves an email step's text (checked by the daemon like a local edit).
    pub async fn update_step_text(&self, request: &StepTextRequest) -> RemoteResult<Sequence> {
        self.post("sequence/step-text", request).await
    }

    pub async fn enroll_lead(&self, sequence: &str, email: &str) -> RemoteResult<Enrollment> {
        let request = EnrollRequest {
            sequence: sequence.into(),
            email: email.into(),
        };
        self.post("enroll", request).await
    }

    /// Pauses every active enrollment of a lead; returns how many.
    pub async fn pause_lead(&self, email: &str) -> RemoteResult<usize> {
        let count: Count = self
            .post(
                "lead/pause",
                EmailParam {
                    email: email.into(),
                },
            )
            .await?;
        Ok(count.count)
    }

    pub async fn suppress_lead(&self, account: &str, email: &str) -> RemoteResult<Suppression> {
        let request = SuppressRequest {
            account: account.into(),
            email: email.into(),
        };
        self.post("suppress", request).await
    }

    /// Runs one [`Request`](super::door::Request) on the engine that holds
    /// the data dir (`POST /api/exec`); its failure comes back with its kind.
    pub async fn execute(
        &self,
        request: &super::door::Request,
    ) -> Result<super::door::Response, super::door::DoorError> {
        use super::door::{DoorError, ErrorKind};
        let response = self
            .http
            .post(self.url("exec"))
            .bearer_auth(self.token.expose_secret())
            .json(request)
            .send()
            .await
            .map_err(|e| DoorError::runtime(self.unreachable(e).to_string()))?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|e| {
                DoorError::runtime(RemoteError::Decode(e.without_url().to_string()).to_string())
            });
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(DoorError::invalid(RemoteError::Unauthorized.to_string()));
        }
        let body = response.json::<serde_json::Value>().await.ok();
        let error = body.as_ref().map(|v| &v["error"]);
        let message = error
            .and_then(|e| e["message"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("the engine API at {} answered {status}", self.base_url()));
        let kind = error
            .and_then(|e| e["code"].as_str())
            .map(ErrorKind::parse)
            .unwrap_or(ErrorKind::Runtime);
        Err(DoorError::new(kind, message))
    }

    /// Opens the live stream of changes.
    pub async fn changes(&self) -> RemoteResult<ChangeStream> {
        let response = self
            .http
            .get(self.url("changes"))
            .bearer_auth(self.token.expose_secret())
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match response.status() {
            StatusCode::OK => Ok(ChangeStream {
                response,
                buffer: String::new(),
            }),
            StatusCode::UNAUTHORIZED => Err(RemoteError::Unauthorized),
            other => Err(RemoteError::Server {
                status: other.as_u16(),
                message: "cannot open the change stream".into(),
            }),
        }
    }
}

/// The server-sent-event stream of `/api/changes`, read event by event.
pub struct ChangeStream {
    response: reqwest::Response,
    buffer: String,
}

impl ChangeStream {
    /// The next change; None when the daemon closed the stream.
    pub async fn next(&mut self) -> Option<RemoteResult<RemoteChange>> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                match parse_event(&block) {
                    Some(item) => return Some(item),
                    None => continue, // a keep-alive comment
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                Ok(None) => return None,
                Err(e) => {
                    return Some(Err(RemoteError::Unreachable {
                        url: String::new(),
                        detail: e.without_url().to_string(),
                    }));
                }
            }
        }
    }
}

fn parse_event(block: &str) -> Option<RemoteResult<RemoteChange>> {
    let mut name = "message";
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    match name {
        "lagged" => Some(Ok(RemoteChange::Lagged)),
        "change" => Some(
            serde_json::from_str(&data)
                .map(RemoteChange::Change)
                .map_err(|e| RemoteError::Decode(e.to_string())),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_parse() {
        let change = r#"{"type":"notice","level":"info","text":"hi"}"#;
        let block = format!("event: change\ndata: {change}\n\n");
        assert_eq!(
            parse_event(&block).unwrap().unwrap(),
            RemoteChange::Change(Change::Notice {
                level: "info".into(),
                text: "hi".into()
            })
        );
        assert_eq!(
            parse_event("event: lagged\ndata: 3\n\n").unwrap().unwrap(),
            RemoteChange::Lagged
        );
        assert!(parse_event(": keep-alive\n\n").is_none());
    }
}
