//! `/api/...`: the engine door over HTTP for the other outpost processes on
//! this data dir (an attached TUI, a CLI verb) and for the users of a shared
//! daemon, behind a bearer token: the data dir's own token (its owner, who
//! sees everything) or a user's token (`outpost user token NAME`), whose
//! requests see that user's accounts only.
//! `POST /api/exec` answers one door request, and `/api/changes` is a
//! server-sent-event stream of the store's change feed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::json_error;
use crate::engine::Viewer;
use crate::engine::door::{Door, ErrorKind, Request as DoorRequest, Response as DoorResponse};
use crate::server::limits::{MAX_API_BODY, bearer};
use crate::server::metrics::Metrics;
use crate::server::state::ServerState;

/// The event name a client sees when it fell behind the feed and must
/// reload what it shows.
pub const LAGGED_EVENT: &str = "lagged";
/// The event name of a store change.
pub const CHANGE_EVENT: &str = "change";

pub fn router(state: ServerState) -> Router<ServerState> {
    Router::new()
        .route("/exec", post(exec))
        .route("/changes", get(changes))
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(
    State(state): State<ServerState>,
    mut request: Request,
    next: Next,
) -> Response {
    Metrics::add(&state.metrics().api_requests, 1);
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::to_string);
    let viewer = match token {
        Some(token) => viewer_for(&state, token).await,
        None => None,
    };
    let Some(viewer) = viewer else {
        Metrics::add(&state.metrics().api_unauthorized, 1);
        let mut response = json_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the daemon's API token or a user's token (outpost user token NAME) as \
             `Authorization: Bearer <token>`",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    };
    request.extensions_mut().insert(viewer);
    next.run(request).await
}

/// Who a bearer token is: the data dir's owner, or the user holding it.
async fn viewer_for(state: &ServerState, token: String) -> Option<Viewer> {
    if state.api_token_matches(&token) {
        return Some(state.engine().owner());
    }
    let engine = state.engine().clone();
    // The store is read off the async workers.
    tokio::task::spawn_blocking(move || engine.viewer_for_token(&token))
        .await
        .ok()?
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the user tokens");
            None
        })
}

/// The one door over HTTP: a door request in, its answer out, or the error
/// with its kind as the `code` (not_found 404, invalid 400, runtime 500).
/// Runs off the async workers, like a local door.
async fn exec(
    State(s): State<ServerState>,
    Extension(viewer): Extension<Viewer>,
    Json(request): Json<DoorRequest>,
) -> Response {
    match Door::Local(s.engine().clone())
        .execute_as(viewer, request)
        .await
    {
        Ok(DoorResponse::Accounts(accounts)) => {
            Json(DoorResponse::Accounts(with_sync_state(&s, accounts))).into_response()
        }
        Ok(answer) => Json(answer).into_response(),
        Err(e) => {
            let status = match e.kind {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Invalid => StatusCode::BAD_REQUEST,
                ErrorKind::Runtime => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            };
            json_error(status, e.kind.as_str(), &e.message)
        }
    }
}

/// The account records with this process's own sync state laid over them:
/// a TUI that attaches after a sync finished never saw its progress, and
/// the records do not carry it (a sync with nothing new writes nothing).
fn with_sync_state(
    s: &ServerState,
    mut accounts: Vec<crate::model::Account>,
) -> Vec<crate::model::Account> {
    let progress = s
        .inner
        .sync
        .as_ref()
        .map(|s| s.progress())
        .unwrap_or_default();
    for account in &mut accounts {
        if let Some(p) = progress.iter().find(|p| p.account == account.name) {
            account.last_sync_ok = account.last_sync_ok.max(p.last_success);
            if p.last_error.is_some() {
                account.last_error = p.last_error.clone();
            }
            account.needs_login |= p.needs_login;
        }
    }
    accounts
}

/// The change feed as server-sent events: `change` events carry one
/// `store::Change` as JSON; a `lagged` event means the client missed some
/// and should reload.
async fn changes(
    State(s): State<ServerState>,
    Extension(viewer): Extension<Viewer>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = s.engine().subscribe();
    let stop = s.inner.shutdown.clone();
    let engine = s.engine().clone();
    let state = (feed, stop, engine, viewer);
    let stream = futures::stream::unfold(state, |(mut feed, stop, engine, viewer)| async move {
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return None,
                received = feed.recv() => received,
            };
            // A user's stream carries their accounts' changes only.
            let received = match received {
                Ok(change) => match engine.change_for(&viewer, change) {
                    Some(change) => Ok(change),
                    None => continue,
                },
                Err(e) => Err(e),
            };
            let event = match received {
                Ok(change) => match serde_json::to_string(&change) {
                    Ok(data) => Event::default().event(CHANGE_EVENT).data(data),
                    Err(_) => continue,
                },
                Err(RecvError::Lagged(missed)) => Event::default()
                    .event(LAGGED_EVENT)
                    .data(missed.to_string()),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), (feed, stop, engine, viewer)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
