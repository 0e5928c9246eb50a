//! Email accounts (sending mailboxes), their warmup stats, and agency clients.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use chrono::Duration;
use serde_json::{Value, json};

use super::SmartleadState;
use super::api::{ApiError, ApiResult, both, bounded_param, json_ok, parse_id, query_map};
use super::model::{Data, iso};

type AppState = Arc<SmartleadState>;

pub(super) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = both(router, "/email-accounts", get(list));
    let router = both(router, "/email-accounts/{id}", get(read));
    let router = both(
        router,
        "/email-accounts/{id}/warmup-stats",
        get(warmup_stats),
    );
    both(router, "/client", get(clients))
}

fn campaign_ids_of(data: &Data, account: usize) -> Vec<i64> {
    data.campaigns
        .iter()
        .filter(|c| c.accounts.contains(&(account as u32)))
        .map(|c| c.id)
        .collect()
}

pub(super) fn account_json(data: &Data, index: usize, with_campaigns: bool) -> Value {
    let account = &data.accounts[index];
    let campaign_ids = campaign_ids_of(data, index);
    let (smtp_host, imap_host) = match account.kind {
        "GMAIL" => ("smtp.gmail.com", "imap.gmail.com"),
        "OUTLOOK" => ("smtp.office365.com", "outlook.office365.com"),
        _ => ("smtp.mailhost.example", "imap.mailhost.example"),
    };
    let mut value = json!({
        "id": account.id,
        "created_at": iso(account.created_at),
        "from_name": account.from_name,
        "from_email": account.from_email,
        "username": account.from_email,
        "type": account.kind,
        "smtp_host": smtp_host,
        "smtp_port": 587,
        "imap_host": imap_host,
        "imap_port": 993,
        "is_smtp_success": true,
        "is_imap_success": true,
        "message_per_day": account.message_per_day,
        "daily_sent_count": account.daily_sent_count,
        "client_id": account.client_id,
        "campaign_count": campaign_ids.len(),
        "warmup_details": {
            "status": "ACTIVE",
            "total_sent_count": account.warmup_sent,
            "total_spam_count": account.warmup_spam,
            "warmup_reputation": format!("{}%", account.warmup_reputation),
        },
    });
    if with_campaigns {
        value["campaign_ids"] = json!(campaign_ids);
    }
    value
}

async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> ApiResult {
    let params = query_map(query.as_deref());
    let offset = bounded_param(&params, "offset", 0, 0, u64::MAX)? as usize;
    let limit = bounded_param(&params, "limit", 100, 1, 100)? as usize;
    let client_filter = params.get("client_id").map(|raw| parse_id(raw));
    let username = params.get("username").map(|u| u.to_lowercase());
    let data = state.read();
    let accounts: Vec<Value> = (0..data.accounts.len())
        .filter(|&i| {
            let account = &data.accounts[i];
            let client_ok = match client_filter {
                Some(id) => id.is_some() && account.client_id == id,
                None => true,
            };
            let user_ok = username
                .as_ref()
                .is_none_or(|u| account.from_email.to_lowercase().contains(u));
            client_ok && user_ok
        })
        .skip(offset)
        .take(limit)
        .map(|i| account_json(&data, i, false))
        .collect();
    json_ok(Value::Array(accounts))
}

fn account_at(data: &Data, raw: &str) -> Result<usize, ApiError> {
    parse_id(raw)
        .and_then(|id| data.accounts.iter().position(|a| a.id == id))
        .ok_or_else(ApiError::account_not_found)
}

async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_map(query.as_deref());
    let with_campaigns = params.get("fetch_campaigns").is_some_and(|v| v == "true");
    let data = state.read();
    let index = account_at(&data, &id)?;
    json_ok(account_json(&data, index, with_campaigns))
}

/// Last seven days of warmup traffic, derived from the account so it reads the same each time.
async fn warmup_stats(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let today = state.clock.now();
    let data = state.read();
    let index = account_at(&data, &id)?;
    let account = &data.accounts[index];
    let (mut sent_total, mut spam_total) = (0u64, 0u64);
    let days: Vec<Value> = (0..7i64)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let salt = (account.id as u64)
                .wrapping_mul(31)
                .wrapping_add(back as u64 * 17);
            let sent = 15 + salt % 11;
            let spam = u64::from(salt.is_multiple_of(9));
            sent_total += sent;
            spam_total += spam;
            json!({
                "date": day.format("%Y-%m-%d").to_string(),
                "sent_count": sent.to_string(),
                "spam_count": spam.to_string(),
            })
        })
        .collect();
    json_ok(json!({
        "id": account.id,
        "sent_count": sent_total.to_string(),
        "spam_count": spam_total.to_string(),
        "inbox_count": (sent_total - spam_total).to_string(),
        "stats_by_date": days,
    }))
}

async fn clients(State(state): State<AppState>) -> ApiResult {
    let data = state.read();
    let clients: Vec<Value> = data
        .clients
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "email": c.email,
                "created_at": iso(c.created_at),
                "logo": Value::Null,
                "logo_url": Value::Null,
                "uuid": format!("client-{}", c.id),
            })
        })
        .collect();
    json_ok(Value::Array(clients))
}
