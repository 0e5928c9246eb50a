//! A client of the engine API (`/api`) of the outpost process that holds a
//! data dir, a daemon or a TUI: every query and command as one door request
//! (`POST /api/exec`), plus a live stream of `Change`s (server-sent events
//! from `/api/changes`).

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use crate::store::Change;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "the daemon refused the API token; use the token from its data dir (api.token) \
         or a user's token from `outpost user token NAME`"
    )]
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

    /// The daemon's base URL, as given (for the status bar and errors).
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
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
