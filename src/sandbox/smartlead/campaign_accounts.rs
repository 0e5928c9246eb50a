//! A campaign's sending mailboxes: `GET`, `POST` and `DELETE
//! /campaigns/{id}/email-accounts`. Writes take `{"email_account_ids":[..]}`
//! and answer `{"ok":true}`; an unknown mailbox is a 404 in Smartlead's words
//! and changes nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::SmartleadState;
use super::accounts::account_json;
use super::api::{ApiError, ApiResult, both, id_value, json_ok, object_with_keys, parse_body};
use super::campaigns::campaign_at;
use super::model::Data;

type AppState = Arc<SmartleadState>;

const FIELD: &str = "email_account_ids";

pub(super) fn routes() -> Router<AppState> {
    both(
        Router::new(),
        "/campaigns/{id}/email-accounts",
        get(list).post(attach).delete(detach),
    )
}

async fn list(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let data = state.read();
    let index = campaign_at(&data, &id)?;
    let accounts: Vec<Value> = data.campaigns[index]
        .accounts
        .iter()
        .map(|&a| account_json(&data, a as usize, false))
        .collect();
    json_ok(Value::Array(accounts))
}

/// The account ids of a write body, validated the way Joi words it.
fn requested_ids(body: &[u8]) -> Result<Vec<i64>, ApiError> {
    let body = parse_body(body)?;
    let object = object_with_keys(&body, &[FIELD], "")?;
    let items = object
        .get(FIELD)
        .ok_or_else(|| ApiError::required(FIELD))?
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("\"{FIELD}\" must be an array")))?;
    if items.is_empty() {
        return Err(ApiError::bad_request(format!(
            "\"{FIELD}\" must contain at least 1 items"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            id_value(v)
                .ok_or_else(|| ApiError::bad_request(format!("\"{FIELD}[{i}]\" must be a number")))
        })
        .collect()
}

/// Account indexes for ids; the first unknown id is a 404.
fn account_indexes(data: &Data, ids: &[i64]) -> Result<Vec<u32>, ApiError> {
    ids.iter()
        .map(|id| {
            data.accounts
                .iter()
                .position(|a| a.id == *id)
                .map(|i| i as u32)
                .ok_or_else(ApiError::account_not_found)
        })
        .collect()
}

async fn attach(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let ids = requested_ids(&body)?;
    let mut data = state.write();
    let campaign = campaign_at(&data, &id)?;
    let wanted = account_indexes(&data, &ids)?;
    let attached = &mut data.campaigns[campaign].accounts;
    for index in wanted {
        if !attached.contains(&index) {
            attached.push(index);
        }
    }
    json_ok(json!({ "ok": true }))
}

async fn detach(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let ids = requested_ids(&body)?;
    let mut data = state.write();
    let campaign = campaign_at(&data, &id)?;
    let unwanted = account_indexes(&data, &ids)?;
    data.campaigns[campaign]
        .accounts
        .retain(|a| !unwanted.contains(a));
    json_ok(json!({ "ok": true }))
}
