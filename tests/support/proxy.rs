//! A loopback proxy in front of the sandbox, for tests that make a
//! provider's call fail before it arrives or its answer go astray after the
//! sandbox has acted on it.

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Serves `app` on a loopback port; returns its origin (`http://127.0.0.1:N`).
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy binds");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// What a provider answers when it fails: a 500 with a JSON error.
pub fn server_error() -> Response {
    let error = serde_json::json!({ "error": "Internal Server Error" });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response()
}

/// A call's answer from upstream, read whole.
pub struct Answer {
    pub status: StatusCode,
    /// The headers a client acts on (content type, retry-after).
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (self.status, self.headers, self.body).into_response()
    }
}

/// Forwards `request` to `upstream` (an origin) as it came: method, path
/// and query, authorization, content type and body. A 400 or 502 response
/// when the request cannot be read or upstream cannot be reached.
pub async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    request: Request,
) -> Result<Answer, Response> {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_default();
    let headers = request.headers().clone();
    let Ok(body) = axum::body::to_bytes(request.into_body(), 64 * 1024 * 1024).await else {
        return Err(StatusCode::BAD_REQUEST.into_response());
    };
    let mut call = http
        .request(method, format!("{upstream}{path_and_query}"))
        .body(body);
    for name in ["authorization", "content-type"] {
        if let Some(value) = headers.get(name) {
            call = call.header(name, value);
        }
    }
    let Ok(answer) = call.send().await else {
        return Err(StatusCode::BAD_GATEWAY.into_response());
    };
    let status = answer.status();
    let mut kept = HeaderMap::new();
    for name in ["content-type", "retry-after"] {
        if let Some(value) = answer.headers().get(name) {
            kept.insert(name, value.clone());
        }
    }
    let body = answer.bytes().await.unwrap_or_default();
    Ok(Answer {
        status,
        headers: kept,
        body,
    })
}
