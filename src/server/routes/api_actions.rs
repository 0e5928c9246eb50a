//! `/api/...` routes for what an attached TUI does beyond reading the inbox:
//! the leads table's index, sequences and their status, step edits, lead
//! actions (enroll, pause, suppress), new emails, and re-reading a
//! conversation from its provider. The token check is the caller's layer.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::api::{ApiError, ApiResult, not_found, undo_window};
use crate::engine::remote::wire::*;
use crate::engine::{SequenceDetail, SequenceSummary};
use crate::model::{Campaign, Enrollment, Lead, OutboxItem, Sequence, Suppression};
use crate::server::state::ServerState;
use crate::sync::SyncEngine;

pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/lead-index", get(lead_index))
        .route("/lead-records", post(lead_records))
        .route("/thread/refresh", post(refresh_thread))
        .route("/new-email", post(new_email))
        .route("/sequences", get(sequences))
        .route("/sequence", get(sequence))
        .route("/sequence/status", post(sequence_status))
        .route("/sequence/step-text", post(step_text))
        .route("/enroll", post(enroll))
        .route("/lead/pause", post(pause_lead))
        .route("/suppress", post(suppress))
}

/// Every lead and campaign name. Read on a blocking thread: on a big cache
/// this is the slowest call an attached TUI makes.
async fn lead_index(State(s): State<ServerState>) -> ApiResult<LeadIndexSource> {
    let engine = s.engine().clone();
    let read = tokio::task::spawn_blocking(move || {
        let store = engine.store();
        let mut source = LeadIndexSource::default();
        for campaign in store.iter::<Campaign>() {
            let campaign = campaign?;
            source.campaigns.push(CampaignName {
                account: campaign.account,
                id: campaign.id,
                name: campaign.name,
            });
        }
        source.leads.reserve(store.count::<Lead>());
        for lead in store.iter::<Lead>() {
            source.leads.push(lead?);
        }
        Ok::<_, crate::store::StoreError>(source)
    })
    .await
    .map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("reading the leads stopped: {e}"),
        )
    })?;
    Ok(Json(read?))
}

async fn lead_records(
    State(s): State<ServerState>,
    Json(p): Json<LeadKeys>,
) -> ApiResult<LeadRecords> {
    let mut records = LeadRecords::default();
    for key in p.keys {
        match s.engine().store().get::<Lead>(&key)? {
            Some(lead) => records.found.push(lead),
            None => records.missing.push(key),
        }
    }
    Ok(Json(records))
}

async fn refresh_thread(State(s): State<ServerState>, Json(p): Json<KeyParam>) -> ApiResult<Flag> {
    let asked = SyncEngine::new(s.engine().clone())
        .refresh_thread(&p.key)
        .await?;
    Ok(Json(Flag { value: asked }))
}

async fn new_email(
    State(s): State<ServerState>,
    Json(r): Json<NewEmailRequest>,
) -> ApiResult<OutboxItem> {
    let delay = undo_window(r.delay_secs)?;
    Ok(Json(s.engine().queue_new_email(
        &r.lead_key,
        &r.subject,
        &r.body,
        delay,
    )?))
}

async fn sequences(State(s): State<ServerState>) -> ApiResult<Vec<SequenceSummary>> {
    Ok(Json(s.engine().sequences()?))
}

async fn sequence(
    State(s): State<ServerState>,
    Query(p): Query<NameParam>,
) -> ApiResult<SequenceDetail> {
    s.engine()
        .sequence_detail(&p.name)?
        .map(Json)
        .ok_or_else(|| not_found(format!("no sequence {:?}", p.name)))
}

async fn sequence_status(
    State(s): State<ServerState>,
    Json(r): Json<SequenceStatusRequest>,
) -> ApiResult<Sequence> {
    Ok(Json(s.engine().set_sequence_status(&r.name, r.status)?))
}

async fn step_text(
    State(s): State<ServerState>,
    Json(r): Json<StepTextRequest>,
) -> ApiResult<Sequence> {
    let engine = s.engine();
    Ok(Json(crate::sequences::update_step_text(
        engine.store(),
        &r.sequence,
        r.step,
        r.variant.as_deref(),
        r.subject.as_deref(),
        Some(&r.body),
        engine.clock().now(),
    )?))
}

async fn enroll(
    State(s): State<ServerState>,
    Json(r): Json<EnrollRequest>,
) -> ApiResult<Enrollment> {
    Ok(Json(s.engine().enroll_lead(&r.sequence, &r.email)?))
}

async fn pause_lead(State(s): State<ServerState>, Json(p): Json<EmailParam>) -> ApiResult<Count> {
    Ok(Json(Count {
        count: s.engine().pause_lead(&p.email)?,
    }))
}

async fn suppress(
    State(s): State<ServerState>,
    Json(r): Json<SuppressRequest>,
) -> ApiResult<Suppression> {
    Ok(Json(s.engine().suppress_lead(&r.account, &r.email)?))
}
