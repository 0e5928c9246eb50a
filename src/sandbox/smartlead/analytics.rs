//! Campaign analytics, all computed from the message histories on every call, so any
//! client that syncs every history can reproduce the totals exactly.
//!
//! Definitions (these are what the totals mean):
//! - `sent_count`: SENT items with a step number (manual inbox replies are not counted);
//!   `unique_sent_count`: leads with at least one of them.
//! - `open_count` / `click_count`: the sum of `open_count` / `click_count` over those
//!   items; `unique_*`: leads with at least one open / click.
//! - `reply_count`: REPLY items. `bounce_count`: bounced SENT items.
//! - `unsubscribed_count`: campaign leads unsubscribed. `block_count`: leads BLOCKED.
//! - By date: sends, opens, clicks and bounces count on the day the email was sent,
//!   replies on the day they arrived, unsubscribes on the day they happened (UTC days).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SmartleadState;
use super::api::{ApiError, ApiResult, both, bounded_param, json_ok, query_map, time_param};
use super::campaigns::campaign_at;
use super::model::{Data, LeadStatus, MessageKind, iso};
use super::render::Renderer;

type AppState = Arc<SmartleadState>;

pub(super) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = both(router, "/campaigns/{id}/analytics", get(analytics));
    let router = both(
        router,
        "/campaigns/{id}/analytics-by-date",
        get(analytics_by_date),
    );
    let router = both(router, "/campaigns/{id}/statistics", get(statistics));
    let router = both(
        router,
        "/campaigns/{id}/leads-statistics",
        get(leads_statistics),
    );
    both(
        router,
        "/campaigns/{id}/sequence-analytics",
        get(sequence_analytics),
    )
}

/// Inclusive time range; `None` means all time.
type Range = Option<(DateTime<Utc>, DateTime<Utc>)>;

fn in_range(range: Range, time: DateTime<Utc>) -> bool {
    range.is_none_or(|(start, end)| time >= start && time <= end)
}

/// Totals over one campaign's histories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub sent_count: u64,
    pub unique_sent_count: u64,
    pub open_count: u64,
    pub unique_open_count: u64,
    pub click_count: u64,
    pub unique_click_count: u64,
    pub reply_count: u64,
    pub bounce_count: u64,
    pub unsubscribed_count: u64,
    pub block_count: u64,
}

fn totals(data: &Data, campaign: usize, range: Range) -> Totals {
    let mut t = Totals::default();
    for &m in &data.campaigns[campaign].members {
        let membership = &data.memberships[m as usize];
        let (mut sent, mut opened, mut clicked) = (false, false, false);
        for msg in &membership.history {
            match msg.kind {
                MessageKind::Sent if msg.seq_number.is_some() && in_range(range, msg.time) => {
                    sent = true;
                    t.sent_count += 1;
                    t.open_count += u64::from(msg.open_count);
                    t.click_count += u64::from(msg.click_count);
                    opened |= msg.open_count > 0;
                    clicked |= msg.click_count > 0;
                    t.bounce_count += u64::from(msg.bounced);
                }
                MessageKind::Reply if in_range(range, msg.time) => t.reply_count += 1,
                _ => {}
            }
        }
        t.unique_sent_count += u64::from(sent);
        t.unique_open_count += u64::from(opened);
        t.unique_click_count += u64::from(clicked);
        if membership
            .unsubscribed_at
            .is_some_and(|at| in_range(range, at))
        {
            t.unsubscribed_count += 1;
        }
        if membership.status == LeadStatus::Blocked && range.is_none() {
            t.block_count += 1;
        }
    }
    t
}

fn lead_stats(data: &Data, campaign: usize) -> Value {
    let mut counts = [0u64; 6];
    let mut interested = 0u64;
    let members = &data.campaigns[campaign].members;
    for &m in members {
        let membership = &data.memberships[m as usize];
        let slot = match membership.status {
            LeadStatus::Started => 0,
            LeadStatus::InProgress => 1,
            LeadStatus::Completed => 2,
            LeadStatus::Paused => 3,
            LeadStatus::Stopped => 4,
            LeadStatus::Blocked => 5,
        };
        counts[slot] += 1;
        interested += u64::from(membership.category_id == Some(1));
    }
    json!({
        "total": members.len(), "notStarted": counts[0], "inprogress": counts[1],
        "completed": counts[2], "paused": counts[3], "stopped": counts[4], "blocked": counts[5],
        "interested": interested, "revenue": 0,
    })
}

fn analytics_json(data: &Data, campaign: usize, range: Range) -> Value {
    let c = &data.campaigns[campaign];
    let t = totals(data, campaign, range);
    json!({
        "id": c.id, "user_id": c.user_id, "created_at": iso(c.created_at),
        "status": c.status.as_str(), "name": c.name, "client_id": c.client_id,
        "parent_campaign_id": c.parent_campaign_id,
        "sequence_count": c.steps.len().to_string(), "tags": [],
        "sent_count": t.sent_count.to_string(),
        "unique_sent_count": t.unique_sent_count.to_string(),
        "open_count": t.open_count.to_string(),
        "unique_open_count": t.unique_open_count.to_string(),
        "click_count": t.click_count.to_string(),
        "unique_click_count": t.unique_click_count.to_string(),
        "reply_count": t.reply_count.to_string(),
        "bounce_count": t.bounce_count.to_string(),
        "unsubscribed_count": t.unsubscribed_count.to_string(),
        "block_count": t.block_count.to_string(),
        "total_count": c.members.len().to_string(),
        "drafted_count": "0",
        "campaign_lead_stats": lead_stats(data, campaign),
    })
}

async fn analytics(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let data = state.read();
    let campaign = campaign_at(&data, &id)?;
    json_ok(analytics_json(&data, campaign, None))
}

fn required_date(
    params: &std::collections::HashMap<String, String>,
    name: &str,
) -> Result<NaiveDate, ApiError> {
    let raw = params.get(name).ok_or_else(|| ApiError::required(name))?;
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request(format!("\"{name}\" must be in YYYY-MM-DD format")))
}

async fn analytics_by_date(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_map(query.as_deref());
    let start = required_date(&params, "start_date")?;
    let end = required_date(&params, "end_date")?;
    if end < start {
        return Err(ApiError::bad_request(
            "\"end_date\" must be on or after \"start_date\"",
        ));
    }
    let range = Some((
        start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        end.and_hms_milli_opt(23, 59, 59, 999)
            .unwrap_or_default()
            .and_utc(),
    ));
    let data = state.read();
    let campaign = campaign_at(&data, &id)?;
    let mut value = analytics_json(&data, campaign, range);
    value["start_date"] = json!(start.to_string());
    value["end_date"] = json!(end.to_string());
    json_ok(value)
}

const EMAIL_STATUSES: [&str; 5] = ["opened", "clicked", "replied", "unsubscribed", "bounced"];

async fn statistics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_map(query.as_deref());
    let offset = bounded_param(&params, "offset", 0, 0, u64::MAX)? as usize;
    let limit = bounded_param(&params, "limit", 100, 1, 1000)? as usize;
    let seq_filter = match params.get("email_sequence_number") {
        Some(_) => Some(bounded_param(&params, "email_sequence_number", 1, 1, 255)? as u8),
        None => None,
    };
    let status_filter = match params.get("email_status").map(String::as_str) {
        Some(s) if EMAIL_STATUSES.contains(&s) => Some(s.to_string()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "\"email_status\" must be one of [opened, clicked, replied, unsubscribed, bounced]",
            ));
        }
        None => None,
    };
    let data = state.read();
    let campaign = campaign_at(&data, &id)?;
    let c = &data.campaigns[campaign];
    let mut total = 0usize;
    let mut rows = Vec::new();
    for &m in &c.members {
        let membership = &data.memberships[m as usize];
        let renderer = Renderer::new(&data, membership);
        let lead = renderer.lead();
        let unsubscribed = membership.unsubscribed_at.is_some();
        let last_seq = membership.history.iter().filter_map(|x| x.seq_number).max();
        for msg in membership.history.iter().filter(|x| x.is_sequence_send()) {
            if seq_filter.is_some_and(|n| msg.seq_number != Some(n)) {
                continue;
            }
            let reply_time = membership
                .history
                .iter()
                .find(|x| x.kind == MessageKind::Reply && x.stats_id == msg.stats_id)
                .map(|x| x.time);
            // The unsubscribe is pinned to the last email the lead received.
            let row_unsubscribed = unsubscribed && msg.seq_number == last_seq;
            let keep = match status_filter.as_deref() {
                Some("opened") => msg.open_count > 0,
                Some("clicked") => msg.click_count > 0,
                Some("replied") => reply_time.is_some(),
                Some("unsubscribed") => row_unsubscribed,
                Some("bounced") => msg.bounced,
                _ => true,
            };
            if !keep {
                continue;
            }
            total += 1;
            if total <= offset || rows.len() >= limit {
                continue;
            }
            let step = msg
                .seq_number
                .and_then(|n| c.steps.get(usize::from(n).saturating_sub(1)));
            let open_time = msg.open_time();
            let click_time = msg.click_time();
            rows.push(json!({
                "lead_name": lead.full_name(),
                "lead_email": lead.email,
                "lead_category": data.category_name(membership.category_id),
                "sequence_number": msg.seq_number,
                "stats_id": msg.stats_id.to_string(),
                "email_campaign_seq_id": step.map(|s| s.id),
                "seq_variant_id": step.and_then(|s| s.variants.get(usize::from(msg.variant))).map(|v| v.id),
                "email_subject": renderer.subject(msg),
                "email_message": renderer.body(msg),
                "sent_time": iso(msg.time),
                "open_time": open_time.map(iso),
                "click_time": click_time.map(iso),
                "reply_time": reply_time.map(iso),
                "open_count": msg.open_count,
                "click_count": msg.click_count,
                "is_unsubscribed": row_unsubscribed,
                "is_bounced": msg.bounced,
            }));
        }
    }
    json_ok(json!({
        "total_stats": total.to_string(),
        "offset": offset,
        "limit": limit,
        "data": rows,
    }))
}

/// `GET /campaigns/{id}/leads-statistics`: one row per campaign lead with its
/// history, `{hasMore,skip,limit,data}`, at most 100 per page. With
/// `event_time_gt` only leads with an event after it are listed (the events
/// `Membership::has_event_between` names), each with only the history items
/// that carry such an event.
async fn leads_statistics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_map(query.as_deref());
    let offset = bounded_param(&params, "offset", 0, 0, u64::MAX)? as usize;
    let limit = bounded_param(&params, "limit", 100, 1, 100)? as usize;
    let since = time_param(&params, "event_time_gt")?;
    let now = state.clock.now();
    let data = state.read();
    let campaign = campaign_at(&data, &id)?;
    let mut matching = data.campaigns[campaign]
        .members
        .iter()
        .map(|&m| &data.memberships[m as usize])
        .filter(|m| since.is_none_or(|t| m.has_event_between(t, now)));
    let rows: Vec<Value> = matching
        .by_ref()
        .skip(offset)
        .take(limit)
        .map(|membership| {
            let renderer = Renderer::new(&data, membership);
            let history: Vec<Value> = membership
                .history
                .iter()
                .filter(|msg| since.is_none_or(|t| msg.has_event_between(t, now)))
                .map(|msg| renderer.history_item(msg))
                .collect();
            json!({
                "lead_id": renderer.lead().id,
                "email_lead_map_id": membership.map_id,
                "from": renderer.sender_email(),
                "to": renderer.lead().email,
                "status": membership.status.as_str(),
                "created_at": iso(membership.created_at),
                "last_seq_num": membership.history.iter().filter_map(|x| x.seq_number).max(),
                "history": history,
            })
        })
        .collect();
    let has_more = matching.next().is_some();
    json_ok(json!({
        "hasMore": has_more,
        "skip": offset,
        "limit": limit,
        "data": rows,
    }))
}

fn sequence_range(params: &std::collections::HashMap<String, String>) -> Result<Range, ApiError> {
    let parse = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(raw) = params.get(name) else {
            return Ok(None);
        };
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
            .map(|t| Some(t.and_utc()))
            .map_err(|_| {
                ApiError::bad_request(format!("\"{name}\" must be in YYYY-MM-DD HH:MM:SS format"))
            })
    };
    Ok(match (parse("start_date")?, parse("end_date")?) {
        (None, None) => None,
        (start, end) => Some((
            start.unwrap_or(DateTime::<Utc>::MIN_UTC),
            end.unwrap_or(DateTime::<Utc>::MAX_UTC),
        )),
    })
}

async fn sequence_analytics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_map(query.as_deref());
    let range = sequence_range(&params)?;
    let data = state.read();
    let campaign = campaign_at(&data, &id)?;
    let c = &data.campaigns[campaign];
    let mut rows: Vec<[u64; 8]> = vec![[0; 8]; c.steps.len()];
    for &m in &c.members {
        let membership = &data.memberships[m as usize];
        let last_seq = membership.history.iter().filter_map(|x| x.seq_number).max();
        for msg in membership.history.iter().filter(|x| x.is_sequence_send()) {
            let Some(row) = msg
                .seq_number
                .and_then(|n| rows.get_mut(usize::from(n).saturating_sub(1)))
            else {
                continue;
            };
            if !in_range(range, msg.time) {
                continue;
            }
            let reply = membership
                .history
                .iter()
                .find(|x| x.kind == MessageKind::Reply && x.stats_id == msg.stats_id);
            let positive = reply.is_some() && matches!(membership.category_id, Some(1 | 2 | 5));
            row[0] += 1;
            row[1] += u64::from(msg.open_count);
            row[2] += u64::from(msg.click_count);
            row[3] += u64::from(reply.is_some());
            row[4] += u64::from(msg.bounced);
            row[5] += u64::from(membership.unsubscribed_at.is_some() && msg.seq_number == last_seq);
            row[6] +=
                u64::from(membership.status == LeadStatus::Stopped && msg.seq_number == last_seq);
            row[7] += u64::from(positive);
        }
    }
    let data_rows: Vec<Value> = c
        .steps
        .iter()
        .zip(rows)
        .map(|(step, r)| {
            json!({
                "email_campaign_seq_id": step.id, "seq_number": step.seq_number,
                "sent_count": r[0], "open_count": r[1], "click_count": r[2], "reply_count": r[3],
                "bounce_count": r[4], "unsubscribed_count": r[5], "skipped_count": 0,
                "failed_count": 0, "stopped_count": r[6], "positive_reply_count": r[7],
            })
        })
        .collect();
    json_ok(json!({ "ok": true, "data": data_rows }))
}

/// What tests compare a synced client against: one campaign's lead count and totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignTruth {
    pub campaign_id: i64,
    pub name: String,
    pub status: String,
    pub lead_count: u64,
    pub history_items: u64,
    /// Leads with at least one reply: the conversations a client's inbox should hold.
    pub replied_leads: u64,
    pub totals: Totals,
}

pub(super) fn ground_truth(data: &Data) -> Vec<CampaignTruth> {
    (0..data.campaigns.len())
        .map(|i| {
            let c = &data.campaigns[i];
            CampaignTruth {
                campaign_id: c.id,
                name: c.name.clone(),
                status: c.status.as_str().to_string(),
                lead_count: c.members.len() as u64,
                history_items: c
                    .members
                    .iter()
                    .map(|&m| data.memberships[m as usize].history.len() as u64)
                    .sum(),
                replied_leads: c
                    .members
                    .iter()
                    .filter(|&&m| {
                        data.memberships[m as usize]
                            .history
                            .iter()
                            .any(|msg| matches!(msg.kind, MessageKind::Reply))
                    })
                    .count() as u64,
                totals: totals(data, i, None),
            }
        })
        .collect()
}
