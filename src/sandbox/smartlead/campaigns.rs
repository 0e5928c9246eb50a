//! Campaign routes: list, read, create, status, sequences and webhooks
//! (mailboxes are in `campaign_accounts`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::SmartleadState;
use super::api::{
    ApiError, ApiResult, both, id_value, json_ok, object_with_keys, parse_body, parse_id, query_map,
};
use super::model::{Campaign, CampaignStatus, Data, Webhook, iso};

type AppState = Arc<SmartleadState>;

pub(super) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = both(router, "/campaigns", get(list));
    let router = both(router, "/campaigns/create", post(create));
    let router = both(router, "/campaigns/{id}", get(read));
    let router = both(router, "/campaigns/{id}/status", post(set_status));
    let router = both(router, "/campaigns/{id}/sequences", get(sequences));
    let router = both(
        router,
        "/campaigns/{id}/webhooks",
        get(list_webhooks)
            .post(save_webhook)
            .delete(delete_webhook_by_body),
    );
    both(
        router,
        "/campaigns/{id}/webhooks/{webhook_id}",
        delete(delete_webhook_by_path),
    )
}

/// Resolves a path id to a campaign index, 404 in Smartlead's words otherwise.
pub(super) fn campaign_at(data: &Data, raw_id: &str) -> Result<usize, ApiError> {
    parse_id(raw_id)
        .and_then(|id| data.campaign_index(id))
        .ok_or_else(ApiError::campaign_not_found)
}

async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> ApiResult {
    let params = query_map(query.as_deref());
    let client_filter = match params.get("client_id") {
        Some(raw) => Some(
            parse_id(raw).ok_or_else(|| ApiError::bad_request("\"client_id\" must be a number"))?,
        ),
        None => None,
    };
    let include_tags = params.get("include_tags").is_some_and(|v| v == "true");
    let data = state.read();
    let campaigns: Vec<Value> = data
        .campaigns
        .iter()
        .filter(|c| client_filter.is_none() || c.client_id == client_filter)
        .map(|c| {
            let mut value = c.to_json();
            if include_tags {
                value["tags"] = json!([]);
            }
            value
        })
        .collect();
    json_ok(Value::Array(campaigns))
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let data = state.read();
    let index = campaign_at(&data, &id)?;
    json_ok(data.campaigns[index].to_json())
}

async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let object = object_with_keys(&body, &["name", "client_id"], "")?;
    let name = match object.get("name") {
        None | Some(Value::Null) => "Untitled Campaign".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("\"name\" must be a string")),
    };
    let now = state.clock.now();
    let mut data = state.write();
    let client_id = match object.get("client_id") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let id = id_value(value)
                .ok_or_else(|| ApiError::bad_request("\"client_id\" must be a number"))?;
            if !data.clients.iter().any(|c| c.id == id) {
                return Err(ApiError::bad_request(
                    "Client not found - Invalid client_id.",
                ));
            }
            Some(id)
        }
    };
    let id = data.next_campaign_id;
    data.next_campaign_id += 1;
    let campaign = Campaign {
        id,
        user_id: data.user_id,
        name: name.clone(),
        status: CampaignStatus::Drafted,
        created_at: now,
        updated_at: now,
        client_id,
        parent_campaign_id: None,
        timezone: "America/New_York".to_string(),
        max_leads_per_day: 20,
        min_time_btwn_emails: 10,
        follow_up_percentage: 40,
        track_settings: Vec::new(),
        steps: Vec::new(),
        accounts: Vec::new(),
        members: Vec::new(),
        webhooks: Vec::new(),
    };
    data.campaigns.push(campaign);
    json_ok(json!({ "ok": true, "id": id, "name": name, "created_at": iso(now) }))
}

async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let object = object_with_keys(&body, &["status"], "")?;
    let status = match object.get("status").and_then(Value::as_str) {
        Some("START") => CampaignStatus::Active,
        Some("PAUSED") => CampaignStatus::Paused,
        Some("STOPPED") => CampaignStatus::Stopped,
        Some(_) => {
            return Err(ApiError::bad_request(
                "\"status\" must be one of [PAUSED, STOPPED, START]",
            ));
        }
        None => return Err(ApiError::required("status")),
    };
    let now = state.clock.now();
    let mut data = state.write();
    let index = campaign_at(&data, &id)?;
    let campaign = &mut data.campaigns[index];
    campaign.status = status;
    campaign.updated_at = now;
    json_ok(json!({ "ok": true }))
}

async fn sequences(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let data = state.read();
    let index = campaign_at(&data, &id)?;
    let campaign = &data.campaigns[index];
    let steps: Vec<Value> = campaign
        .steps
        .iter()
        .map(|step| {
            let variants = (!step.variants.is_empty()).then(|| {
                step.variants
                    .iter()
                    .map(|v| {
                        json!({
                            "id": v.id,
                            "email_campaign_seq_id": step.id,
                            "variant_label": v.label,
                            "is_deleted": false,
                            "subject": v.subject,
                            "email_body": v.body,
                        })
                    })
                    .collect::<Vec<_>>()
            });
            json!({
                "id": step.id,
                "email_campaign_id": campaign.id,
                "seq_number": step.seq_number,
                "subject": step.subject,
                "email_body": step.body,
                "seq_delay_details": { "delayInDays": step.delay_days },
                "sequence_variants": variants,
            })
        })
        .collect();
    json_ok(Value::Array(steps))
}

fn webhook_json(hook: &Webhook) -> Value {
    json!({
        "id": hook.id,
        "name": hook.name,
        "webhook_url": hook.webhook_url,
        "event_types": hook.event_types,
        "categories": hook.categories,
    })
}

async fn list_webhooks(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let data = state.read();
    let index = campaign_at(&data, &id)?;
    let hooks: Vec<Value> = data.campaigns[index]
        .webhooks
        .iter()
        .map(webhook_json)
        .collect();
    json_ok(Value::Array(hooks))
}

const EVENT_TYPES: [&str; 11] = [
    "EMAIL_SENT",
    "FIRST_EMAIL_SENT",
    "EMAIL_OPEN",
    "EMAIL_LINK_CLICK",
    "EMAIL_REPLY",
    "EMAIL_BOUNCE",
    "LEAD_UNSUBSCRIBED",
    "LEAD_CATEGORY_UPDATED",
    "CAMPAIGN_STATUS_CHANGED",
    "UNTRACKED_REPLIES",
    "MANUAL_STEP_REACHED",
];

fn string_list(
    object: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Vec<String>, ApiError> {
    let items = object
        .get(key)
        .ok_or_else(|| ApiError::required(key))?
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("\"{key}\" must be an array")))?;
    if items.is_empty() {
        return Err(ApiError::bad_request(format!(
            "\"{key}\" must contain at least 1 items"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_request(format!("\"{key}[{i}]\" must be a string")))
        })
        .collect()
}

async fn save_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let object = object_with_keys(
        &body,
        &["id", "name", "webhook_url", "event_types", "categories"],
        "",
    )?;
    if !object.contains_key("id") {
        return Err(ApiError::required("id"));
    }
    let webhook_url = object
        .get("webhook_url")
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .ok_or_else(|| ApiError::bad_request("\"webhook_url\" must be a valid uri"))?
        .to_string();
    let event_types = string_list(object, "event_types")?;
    if let Some(bad) = event_types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(ApiError::bad_request(format!("Invalid event type {bad}")));
    }
    let categories = string_list(object, "categories")?;
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("webhook")
        .to_string();
    let mut data = state.write();
    let index = campaign_at(&data, &id)?;
    let existing = match object.get("id") {
        None | Some(Value::Null) => None,
        Some(value) => {
            Some(id_value(value).ok_or_else(|| ApiError::bad_request("\"id\" must be a number"))?)
        }
    };
    let hook_id = match existing {
        Some(hook_id) => {
            let hook = data.campaigns[index]
                .webhooks
                .iter_mut()
                .find(|h| h.id == hook_id)
                .ok_or_else(|| ApiError::not_found("Webhook not found - Invalid webhook id."))?;
            hook.name = name;
            hook.webhook_url = webhook_url;
            hook.event_types = event_types;
            hook.categories = categories;
            hook_id
        }
        None => {
            data.next_webhook_id += 1;
            let hook_id = data.next_webhook_id;
            data.campaigns[index].webhooks.push(Webhook {
                id: hook_id,
                name,
                webhook_url,
                event_types,
                categories,
            });
            hook_id
        }
    };
    json_ok(json!({ "ok": true, "id": hook_id }))
}

fn remove_webhook(state: &SmartleadState, campaign: &str, hook_id: i64) -> ApiResult {
    let mut data = state.write();
    let index = campaign_at(&data, campaign)?;
    let hooks = &mut data.campaigns[index].webhooks;
    let before = hooks.len();
    hooks.retain(|h| h.id != hook_id);
    if hooks.len() == before {
        return Err(ApiError::not_found(
            "Webhook not found - Invalid webhook id.",
        ));
    }
    json_ok(json!({ "ok": true }))
}

async fn delete_webhook_by_body(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let object = object_with_keys(&body, &["id"], "")?;
    let hook_id = object
        .get("id")
        .and_then(id_value)
        .ok_or_else(|| ApiError::required("id"))?;
    remove_webhook(&state, &id, hook_id)
}

async fn delete_webhook_by_path(
    State(state): State<AppState>,
    Path((id, hook)): Path<(String, String)>,
) -> ApiResult {
    let hook_id = parse_id(&hook)
        .ok_or_else(|| ApiError::not_found("Webhook not found - Invalid webhook id."))?;
    remove_webhook(&state, &id, hook_id)
}
