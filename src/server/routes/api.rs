//! `/api/...`: the Engine's queries and commands over HTTP for an attached
//! TUI, behind the bearer token, plus `/api/changes`, a server-sent-event
//! stream of the store's change feed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::api_actions;
use super::json_error;
use crate::engine::door::{ErrorKind, Request as DoorRequest};
use crate::engine::remote::wire::*;
use crate::engine::{CommandError, InboxQuery, LeadQuery, StatsQuery};
use crate::model::{Category, Draft, Lead};
use crate::server::limits::{MAX_API_BODY, bearer};
use crate::server::metrics::Metrics;
use crate::server::state::ServerState;
use crate::store::StoreError;

/// The event name a client sees when it fell behind the feed and must
/// reload what it shows.
pub const LAGGED_EVENT: &str = "lagged";
/// The event name of a store change.
pub const CHANGE_EVENT: &str = "change";

pub fn router(state: ServerState) -> Router<ServerState> {
    Router::new()
        .route("/exec", post(exec))
        .route("/accounts", get(accounts))
        .route("/inbox", post(inbox))
        .route("/thread", get(thread))
        .route("/thread/read", post(mark_read))
        .route("/thread/category", post(set_category))
        .route("/leads", post(leads))
        .route("/lead", get(lead))
        .route("/lead-record", get(lead_record))
        .route("/stats", post(stats))
        .route("/categories", get(categories))
        .route("/draft", get(draft).put(save_draft).delete(delete_draft))
        .route("/reply", post(reply))
        .route("/outbox", get(outbox_item))
        .route("/outbox/cancel", post(cancel_outbox))
        .merge(api_actions::router())
        .route("/changes", get(changes))
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    Metrics::add(&state.metrics().api_requests, 1);
    let ok = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .is_some_and(|token| state.api_token_matches(token));
    if !ok {
        Metrics::add(&state.metrics().api_unauthorized, 1);
        let mut response = json_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the daemon's API token as `Authorization: Bearer <token>`",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(request).await
}

/// An engine failure as an HTTP answer.
pub struct ApiError(pub StatusCode, pub &'static str, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_error(self.0, self.1, &self.2)
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, "not_found", m),
            CommandError::Invalid(m) => ApiError(StatusCode::BAD_REQUEST, "invalid", m),
            CommandError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
    }
}

impl From<crate::sequences::SequenceError> for ApiError {
    fn from(e: crate::sequences::SequenceError) -> Self {
        use crate::sequences::SequenceError;
        match e {
            SequenceError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, "not_found", m),
            SequenceError::Store(s) => s.into(),
            invalid => ApiError(StatusCode::BAD_REQUEST, "invalid", invalid.to_string()),
        }
    }
}

impl From<crate::sync::SyncError> for ApiError {
    fn from(e: crate::sync::SyncError) -> Self {
        match e {
            crate::sync::SyncError::Store(s) => s.into(),
            provider => ApiError(StatusCode::BAD_GATEWAY, "provider", provider.to_string()),
        }
    }
}

pub(super) fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", what)
}

pub(super) type ApiResult<T> = Result<Json<T>, ApiError>;

/// The one door over HTTP: a door request in, its answer out, or the
/// error with its kind as the `code` (not_found 404, invalid 400, runtime 500).
async fn exec(State(s): State<ServerState>, Json(request): Json<DoorRequest>) -> Response {
    match s.engine().execute(request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => {
            let status = match e.kind {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Invalid => StatusCode::BAD_REQUEST,
                ErrorKind::Runtime => StatusCode::INTERNAL_SERVER_ERROR,
            };
            json_error(status, e.kind.as_str(), &e.message)
        }
    }
}

/// The account records, with the daemon's own sync state laid over them:
/// a TUI that attaches after a sync finished never saw its progress, and the
/// records do not carry it (a sync with nothing new writes nothing).
async fn accounts(State(s): State<ServerState>) -> ApiResult<Vec<crate::model::Account>> {
    let mut accounts = s.engine().accounts()?;
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
    Ok(Json(accounts))
}

async fn inbox(
    State(s): State<ServerState>,
    Json(q): Json<InboxQuery>,
) -> ApiResult<Vec<crate::engine::ThreadView>> {
    Ok(Json(s.engine().inbox(&q)?))
}

async fn thread(
    State(s): State<ServerState>,
    Query(p): Query<KeyParam>,
) -> ApiResult<crate::engine::ThreadView> {
    s.engine()
        .thread(&p.key)?
        .map(Json)
        .ok_or_else(|| not_found(format!("no thread {:?}", p.key)))
}

async fn mark_read(State(s): State<ServerState>, Json(p): Json<KeyParam>) -> ApiResult<Flag> {
    Ok(Json(Flag {
        value: s.engine().mark_thread_read(&p.key)?,
    }))
}

async fn set_category(
    State(s): State<ServerState>,
    Json(p): Json<CategoryRequest>,
) -> ApiResult<Flag> {
    s.engine().set_thread_category(&p.key, p.category).await?;
    Ok(Json(Flag { value: true }))
}

async fn leads(State(s): State<ServerState>, Json(q): Json<LeadQuery>) -> ApiResult<Vec<Lead>> {
    Ok(Json(s.engine().leads(&q)?))
}

async fn lead(
    State(s): State<ServerState>,
    Query(p): Query<EmailParam>,
) -> ApiResult<crate::engine::LeadView> {
    s.engine()
        .lead(&p.email)?
        .map(Json)
        .ok_or_else(|| not_found(format!("no lead {:?}", p.email)))
}

async fn lead_record(State(s): State<ServerState>, Query(p): Query<KeyParam>) -> ApiResult<Lead> {
    s.engine()
        .store()
        .get::<Lead>(&p.key)?
        .map(Json)
        .ok_or_else(|| not_found(format!("no lead {:?}", p.key)))
}

async fn stats(
    State(s): State<ServerState>,
    Json(q): Json<StatsQuery>,
) -> ApiResult<crate::engine::StatsReport> {
    Ok(Json(s.engine().stats(&q)?))
}

async fn categories(
    State(s): State<ServerState>,
    Query(p): Query<AccountParam>,
) -> ApiResult<Vec<Category>> {
    Ok(Json(s.engine().categories(&p.account)?))
}

async fn draft(
    State(s): State<ServerState>,
    Query(p): Query<ThreadKeyParam>,
) -> ApiResult<Option<Draft>> {
    Ok(Json(s.engine().draft_for_thread(&p.thread_key)?))
}

async fn save_draft(State(s): State<ServerState>, Json(d): Json<Draft>) -> ApiResult<Flag> {
    s.engine().save_draft(&d)?;
    Ok(Json(Flag { value: true }))
}

async fn delete_draft(State(s): State<ServerState>, Query(p): Query<IdParam>) -> ApiResult<Flag> {
    Ok(Json(Flag {
        value: s.engine().delete_draft(&p.id)?,
    }))
}

/// A send's undo window, at most an hour.
pub(super) fn undo_window(delay_secs: i64) -> Result<chrono::Duration, ApiError> {
    if !(0..=3600).contains(&delay_secs) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "invalid",
            "delay_secs must be between 0 and 3600".into(),
        ));
    }
    Ok(chrono::Duration::seconds(delay_secs))
}

async fn reply(
    State(s): State<ServerState>,
    Json(r): Json<ReplyRequest>,
) -> ApiResult<crate::model::OutboxItem> {
    let delay = undo_window(r.delay_secs)?;
    Ok(Json(s.engine().queue_reply(
        &r.thread_key,
        &r.reply,
        delay,
    )?))
}

async fn outbox_item(
    State(s): State<ServerState>,
    Query(p): Query<IdParam>,
) -> ApiResult<crate::model::OutboxItem> {
    s.engine()
        .outbox_item(&p.id)?
        .map(Json)
        .ok_or_else(|| not_found(format!("no outbox item {:?}", p.id)))
}

async fn cancel_outbox(State(s): State<ServerState>, Json(p): Json<IdParam>) -> ApiResult<Flag> {
    Ok(Json(Flag {
        value: s.engine().cancel_outbox(&p.id)?,
    }))
}

/// The change feed as server-sent events: `change` events carry one
/// `store::Change` as JSON; a `lagged` event means the client missed some
/// and should reload.
async fn changes(
    State(s): State<ServerState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = s.engine().subscribe();
    let stop = s.inner.shutdown.clone();
    let stream = futures::stream::unfold((feed, stop), |(mut feed, stop)| async move {
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return None,
                received = feed.recv() => received,
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
            return Some((Ok(event), (feed, stop)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
