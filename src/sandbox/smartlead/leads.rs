//! Lead routes: campaign lead pages, adding leads, lookup by email, per-lead actions
//! (pause, resume, unsubscribe, delete, category) and the category list.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use serde_json::{Map, Value, json};

use super::api::{
    ApiError, ApiResult, both, bounded_param, id_value, json_ok, object_with_keys, parse_body,
    parse_id, query_map, time_param,
};
use super::campaigns::campaign_at;
use super::model::{Data, Lead, LeadStatus, Membership, iso};
use super::{AddedLead, SmartleadState, UnsubscribeCall, lock};

type AppState = Arc<SmartleadState>;

pub(super) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = both(router, "/campaigns/{id}/leads", get(list).post(add));
    let router = both(router, "/leads", get(by_email));
    let router = both(router, "/leads/fetch-categories", get(categories));
    let router = both(router, "/leads/{lead_id}/campaigns", get(campaigns_of_lead));
    let router = both(
        router,
        "/leads/{lead_id}/unsubscribe",
        post(unsubscribe_everywhere),
    );
    let router = both(router, "/campaigns/{id}/leads/{lead_id}", delete(remove));
    let router = both(router, "/campaigns/{id}/leads/{lead_id}/pause", post(pause));
    let router = both(
        router,
        "/campaigns/{id}/leads/{lead_id}/resume",
        post(resume),
    );
    let router = both(
        router,
        "/campaigns/{id}/leads/{lead_id}/unsubscribe",
        post(unsubscribe),
    );
    both(
        router,
        "/campaigns/{id}/leads/{lead_id}/category",
        post(set_category),
    )
}

/// The campaign index and the membership of `lead_id` in it, or Smartlead's 404s.
pub(super) fn membership_at(
    data: &Data,
    campaign: &str,
    lead: &str,
) -> Result<(usize, usize), ApiError> {
    let campaign = campaign_at(data, campaign)?;
    let membership = parse_id(lead)
        .and_then(|lead_id| data.membership_of(campaign, lead_id))
        .ok_or_else(ApiError::lead_not_found)?;
    Ok((campaign, membership))
}

fn page_item(data: &Data, membership: &Membership) -> Value {
    json!({
        "campaign_lead_map_id": membership.map_id.to_string(),
        "lead_category_id": membership.category_id,
        "status": membership.status.as_str(),
        "created_at": iso(membership.created_at),
        "lead": data.leads[membership.lead as usize].to_json(),
    })
}

async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_map(query.as_deref());
    let offset = bounded_param(&params, "offset", 0, 0, u64::MAX)? as usize;
    let limit = bounded_param(&params, "limit", 100, 1, 100)? as usize;
    let status = params.get("status").map(|s| s.to_uppercase());
    let category = match params.get("lead_category_id") {
        Some(raw) => Some(
            parse_id(raw)
                .ok_or_else(|| ApiError::bad_request("\"lead_category_id\" must be a number"))?,
        ),
        None => None,
    };
    let since = time_param(&params, "event_time_gt")?;
    let created_after = time_param(&params, "created_at_gt")?;
    let now = state.clock.now();
    let data = state.read();
    let campaign = campaign_at(&data, &id)?;
    let matching: Vec<&Membership> = data.campaigns[campaign]
        .members
        .iter()
        .map(|&m| &data.memberships[m as usize])
        .filter(|m| status.as_deref().is_none_or(|s| m.status.as_str() == s))
        .filter(|m| category.is_none() || m.category_id == category)
        .filter(|m| since.is_none_or(|t| m.has_event_between(t, now)))
        .filter(|m| created_after.is_none_or(|t| m.created_at > t))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|m| page_item(&data, m))
        .collect();
    json_ok(json!({
        "total_leads": matching.len().to_string(),
        "offset": offset,
        "limit": limit,
        "data": page,
    }))
}

const LEAD_KEYS: [&str; 10] = [
    "email",
    "first_name",
    "last_name",
    "company_name",
    "phone_number",
    "website",
    "company_url",
    "location",
    "linkedin_profile",
    "custom_fields",
];
const SETTINGS_KEYS: [&str; 4] = [
    "ignore_global_block_list",
    "ignore_unsubscribe_list",
    "ignore_community_bounce_list",
    "ignore_duplicate_leads_in_other_campaign",
];
const MAX_BATCH: usize = 100;
const MAX_CUSTOM_FIELDS: usize = 20;

/// One validated row of `lead_list`.
struct LeadRow {
    email: String,
    fields: Map<String, Value>,
    custom_fields: Option<Vec<(String, String)>>,
}

fn validate_row(index: usize, value: &Value) -> Result<LeadRow, ApiError> {
    let prefix = format!("lead_list[{index}]");
    let object = object_with_keys(value, &LEAD_KEYS, &prefix)?;
    let email = match object.get("email") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "\"{prefix}.email\" must be a string"
            )));
        }
        None => return Err(ApiError::required(&format!("{prefix}.email"))),
    };
    for key in LEAD_KEYS
        .iter()
        .filter(|k| !matches!(**k, "email" | "custom_fields"))
    {
        if let Some(v) = object.get(*key)
            && !(v.is_string() || v.is_null())
        {
            return Err(ApiError::bad_request(format!(
                "\"{prefix}.{key}\" must be a string"
            )));
        }
    }
    let custom_fields = match object.get("custom_fields") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            if map.len() > MAX_CUSTOM_FIELDS {
                return Err(ApiError::bad_request(format!(
                    "\"{prefix}.custom_fields\" must have less than or equal to {MAX_CUSTOM_FIELDS} keys"
                )));
            }
            let mut fields = Vec::with_capacity(map.len());
            for (key, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "\"{prefix}.custom_fields.{key}\" must be a string"
                        )));
                    }
                };
                fields.push((key.clone(), text));
            }
            Some(fields)
        }
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "\"{prefix}.custom_fields\" must be of type object"
            )));
        }
    };
    Ok(LeadRow {
        email,
        fields: object.clone(),
        custom_fields,
    })
}

fn is_valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
}

/// Re-adding a lead updates it account-wide: only the fields that were sent.
fn apply_fields(lead: &mut Lead, row: &LeadRow) {
    let text = |key: &str| {
        row.fields
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let targets: [(&str, &mut String); 8] = [
        ("first_name", &mut lead.first_name),
        ("last_name", &mut lead.last_name),
        ("company_name", &mut lead.company_name),
        ("phone_number", &mut lead.phone_number),
        ("website", &mut lead.website),
        ("company_url", &mut lead.company_url),
        ("location", &mut lead.location),
        ("linkedin_profile", &mut lead.linkedin_profile),
    ];
    for (key, target) in targets {
        if let Some(value) = text(key) {
            *target = value;
        }
    }
    if let Some(fields) = &row.custom_fields {
        lead.custom_fields = fields.clone();
    }
}

#[derive(Default)]
struct UploadSummary {
    added: u64,
    already_in_campaign: u64,
    duplicates: u64,
    invalid: Vec<String>,
    unsubscribed: Vec<String>,
}

async fn add(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let object = object_with_keys(&body, &["lead_list", "settings"], "")?;
    let list = object
        .get("lead_list")
        .ok_or_else(|| ApiError::required("lead_list"))?
        .as_array()
        .ok_or_else(|| ApiError::bad_request("\"lead_list\" must be an array"))?;
    if list.is_empty() {
        return Err(ApiError::bad_request(
            "\"lead_list\" must contain at least 1 items",
        ));
    }
    if list.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "\"lead_list\" must contain less than or equal to {MAX_BATCH} items"
        )));
    }
    let rows: Vec<LeadRow> = list
        .iter()
        .enumerate()
        .map(|(i, v)| validate_row(i, v))
        .collect::<Result<_, _>>()?;
    let mut settings = [false; 4];
    if let Some(value) = object.get("settings").filter(|v| !v.is_null()) {
        let map = object_with_keys(value, &SETTINGS_KEYS, "settings")?;
        for (slot, key) in settings.iter_mut().zip(SETTINGS_KEYS) {
            match map.get(key) {
                None => {}
                Some(Value::Bool(b)) => *slot = *b,
                Some(_) => {
                    return Err(ApiError::bad_request(format!(
                        "\"settings.{key}\" must be a boolean"
                    )));
                }
            }
        }
    }
    let [_, ignore_unsubscribe_list, _, allow_other_campaigns] = settings;

    let now = state.clock.now();
    let mut data = state.write();
    let campaign = campaign_at(&data, &id)?;
    let campaign_id = data.campaigns[campaign].id;
    let mut summary = UploadSummary::default();
    let mut seen = HashSet::new();
    let mut added = Vec::new();
    for row in &rows {
        let key = row.email.to_lowercase();
        if !is_valid_email(&row.email) {
            summary.invalid.push(row.email.clone());
            continue;
        }
        if !seen.insert(key.clone()) {
            summary.duplicates += 1;
            continue;
        }
        let existing = data.lead_by_email.get(&key).copied();
        if let Some(lead_index) = existing {
            apply_fields(&mut data.leads[lead_index as usize], row);
            let lead = &data.leads[lead_index as usize];
            if lead
                .memberships
                .iter()
                .any(|&m| data.memberships[m as usize].campaign as usize == campaign)
            {
                summary.already_in_campaign += 1;
                continue;
            }
            if lead.is_unsubscribed && !ignore_unsubscribe_list {
                summary.unsubscribed.push(lead.email.clone());
                continue;
            }
            if !lead.memberships.is_empty() && !allow_other_campaigns {
                summary.duplicates += 1;
                continue;
            }
        }
        let lead_index = match existing {
            Some(index) => index,
            None => create_lead(&mut data, row, now),
        };
        let map_id = add_to_campaign(&mut data, lead_index, campaign, now);
        let lead = &data.leads[lead_index as usize];
        added.push(AddedLead {
            campaign_id,
            lead_id: lead.id,
            campaign_lead_map_id: map_id,
            email: lead.email.clone(),
        });
        summary.added += 1;
    }
    drop(data);
    lock(&state.log).added_leads.extend(added);
    json_ok(json!({
        "ok": true,
        "upload_count": rows.len(),
        "total_leads": summary.added,
        "already_added_to_campaign": summary.already_in_campaign,
        "duplicate_count": summary.duplicates,
        "invalid_email_count": summary.invalid.len(),
        "invalid_emails": summary.invalid,
        "unsubscribed_leads": summary.unsubscribed,
        "block_count": 0,
        "bounce_count": 0,
        "is_lead_limit_exhausted": false,
        "lead_import_stopped_count": 0,
    }))
}

fn create_lead(data: &mut Data, row: &LeadRow, now: chrono::DateTime<chrono::Utc>) -> u32 {
    data.next_lead_id += 7;
    let mut lead = Lead {
        id: data.next_lead_id,
        first_name: String::new(),
        last_name: String::new(),
        email: row.email.clone(),
        phone_number: String::new(),
        company_name: String::new(),
        website: String::new(),
        company_url: String::new(),
        location: String::new(),
        linkedin_profile: String::new(),
        custom_fields: Vec::new(),
        is_unsubscribed: false,
        created_at: now,
        memberships: Vec::new(),
    };
    apply_fields(&mut lead, row);
    let index = data.leads.len() as u32;
    data.lead_by_id.insert(lead.id, index);
    data.lead_by_email.insert(lead.email.to_lowercase(), index);
    data.leads.push(lead);
    index
}

fn add_to_campaign(
    data: &mut Data,
    lead: u32,
    campaign: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> i64 {
    data.next_map_id += 5;
    let map_id = data.next_map_id;
    let account = data.campaigns[campaign]
        .accounts
        .first()
        .copied()
        .unwrap_or(0);
    let index = data.memberships.len() as u32;
    data.memberships.push(Membership {
        map_id,
        lead,
        campaign: campaign as u32,
        account,
        status: LeadStatus::Started,
        category_id: None,
        created_at: now,
        unsubscribed_at: None,
        category_changed_at: None,
        history: Vec::new(),
    });
    data.campaigns[campaign].members.push(index);
    data.leads[lead as usize].memberships.push(index);
    map_id
}

async fn by_email(State(state): State<AppState>, RawQuery(query): RawQuery) -> ApiResult {
    let params = query_map(query.as_deref());
    let email = params
        .get("email")
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| ApiError::required("email"))?;
    let data = state.read();
    let Some(&index) = data.lead_by_email.get(&email.trim().to_lowercase()) else {
        return json_ok(json!({}));
    };
    let lead = &data.leads[index as usize];
    let mut value = lead.to_json();
    value["created_at"] = json!(iso(lead.created_at));
    value["lead_campaign_data"] = lead
        .memberships
        .iter()
        .map(|&m| {
            let membership = &data.memberships[m as usize];
            let campaign = &data.campaigns[membership.campaign as usize];
            json!({
                "campaign_id": campaign.id,
                "campaign_name": campaign.name,
                "campaign_lead_map_id": membership.map_id,
                "lead_category_id": membership.category_id,
                "client_id": campaign.client_id,
                "status": membership.status.as_str(),
            })
        })
        .collect();
    json_ok(value)
}

async fn campaigns_of_lead(
    State(state): State<AppState>,
    Path(lead_id): Path<String>,
) -> ApiResult {
    let data = state.read();
    let index = parse_id(&lead_id)
        .and_then(|id| data.lead_by_id.get(&id).copied())
        .ok_or_else(ApiError::lead_not_found)?;
    let campaigns: Vec<Value> = data.leads[index as usize]
        .memberships
        .iter()
        .map(|&m| {
            let campaign = &data.campaigns[data.memberships[m as usize].campaign as usize];
            json!({ "id": campaign.id, "status": campaign.status.as_str(), "name": campaign.name })
        })
        .collect();
    json_ok(Value::Array(campaigns))
}

async fn categories(State(state): State<AppState>) -> ApiResult {
    let data = state.read();
    let list: Vec<Value> = data
        .categories
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "name": c.name, "sentiment_type": c.sentiment_type,
                "created_at": iso(c.created_at),
            })
        })
        .collect();
    json_ok(Value::Array(list))
}

async fn pause(
    State(state): State<AppState>,
    Path((id, lead)): Path<(String, String)>,
) -> ApiResult {
    let mut data = state.write();
    let (_, m) = membership_at(&data, &id, &lead)?;
    data.memberships[m].status = LeadStatus::Paused;
    json_ok(json!({ "ok": true, "data": "success" }))
}

async fn resume(
    State(state): State<AppState>,
    Path((id, lead)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let object = object_with_keys(&body, &["resume_lead_with_delay_days"], "")?;
    if let Some(v) = object.get("resume_lead_with_delay_days")
        && !(v.is_null() || v.as_u64().is_some())
    {
        return Err(ApiError::bad_request(
            "\"resume_lead_with_delay_days\" must be a number",
        ));
    }
    let mut data = state.write();
    let (campaign, m) = membership_at(&data, &id, &lead)?;
    let step_count = data.campaigns[campaign].steps.len();
    let membership = &mut data.memberships[m];
    let sent = membership
        .history
        .iter()
        .filter(|x| x.is_sequence_send())
        .count();
    if matches!(
        membership.status,
        LeadStatus::Completed | LeadStatus::Stopped
    ) || sent >= step_count
    {
        return Err(ApiError::business_rule(
            "This is the last sequence. You cannot resume this lead.",
        ));
    }
    membership.status = if sent == 0 {
        LeadStatus::Started
    } else {
        LeadStatus::InProgress
    };
    json_ok(json!({ "ok": true, "data": "success" }))
}

async fn unsubscribe(
    State(state): State<AppState>,
    Path((id, lead)): Path<(String, String)>,
) -> ApiResult {
    let now = state.clock.now();
    let mut data = state.write();
    let (campaign, m) = membership_at(&data, &id, &lead)?;
    let membership = &mut data.memberships[m];
    if membership.unsubscribed_at.is_none() {
        membership.unsubscribed_at = Some(now);
    }
    membership.status = LeadStatus::Stopped;
    let lead = &data.leads[data.memberships[m].lead as usize];
    lock(&state.log).unsubscribes.push(UnsubscribeCall {
        campaign_id: Some(data.campaigns[campaign].id),
        lead_id: lead.id,
        lead_email: lead.email.clone(),
    });
    json_ok(json!({ "ok": true }))
}

async fn unsubscribe_everywhere(
    State(state): State<AppState>,
    Path(lead_id): Path<String>,
) -> ApiResult {
    let now = state.clock.now();
    let mut data = state.write();
    let index = parse_id(&lead_id)
        .and_then(|id| data.lead_by_id.get(&id).copied())
        .ok_or_else(ApiError::lead_not_found)? as usize;
    if data.leads[index].is_unsubscribed {
        return json_ok(json!({ "ok": false }));
    }
    data.leads[index].is_unsubscribed = true;
    lock(&state.log).unsubscribes.push(UnsubscribeCall {
        campaign_id: None,
        lead_id: data.leads[index].id,
        lead_email: data.leads[index].email.clone(),
    });
    let memberships = data.leads[index].memberships.clone();
    for m in memberships {
        let membership = &mut data.memberships[m as usize];
        membership.unsubscribed_at.get_or_insert(now);
        membership.status = LeadStatus::Stopped;
    }
    json_ok(json!({ "ok": true }))
}

async fn remove(
    State(state): State<AppState>,
    Path((id, lead)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    let mut data = state.write();
    let (campaign, m) = membership_at(&data, &id, &lead)?;
    let lead_index = data.memberships[m].lead as usize;
    data.campaigns[campaign]
        .members
        .retain(|&x| x as usize != m);
    data.leads[lead_index]
        .memberships
        .retain(|&x| x as usize != m);
    Ok("success".into_response())
}

async fn set_category(
    State(state): State<AppState>,
    Path((id, lead)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let object = object_with_keys(&body, &["category_id", "pause_lead"], "")?;
    let category = match object.get("category_id") {
        None => return Err(ApiError::required("category_id")),
        Some(Value::Null) => None,
        Some(value) => Some(
            id_value(value)
                .ok_or_else(|| ApiError::bad_request("\"category_id\" must be a number"))?,
        ),
    };
    let pause_lead = match object.get("pause_lead") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("\"pause_lead\" must be a boolean")),
    };
    let now = state.clock.now();
    let mut data = state.write();
    if let Some(category) = category
        && !data.categories.iter().any(|c| c.id == category)
    {
        return Err(ApiError::bad_request("Invalid category_id"));
    }
    let (_, m) = membership_at(&data, &id, &lead)?;
    let membership = &mut data.memberships[m];
    if membership.category_id != category {
        membership.category_changed_at = Some(now);
    }
    membership.category_id = category;
    if pause_lead {
        membership.status = LeadStatus::Paused;
    }
    json_ok(json!({ "ok": true, "data": "success" }))
}
