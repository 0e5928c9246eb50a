//! Message history per lead, replies sent from the inbox (`reply-email-thread`) and
//! replies injected by tests or the demo.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::api::{ApiError, ApiResult, both, json_ok, parse_body, query_map, time_param};
use super::campaigns::campaign_at;
use super::leads::membership_at;
use super::model::{Content, CustomContent, Data, LeadStatus, Message, MessageKind, iso};
use super::render::Renderer;
use super::{InjectError, ReplyPost, SmartleadState, lock};

type AppState = Arc<SmartleadState>;

pub(super) fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = both(
        router,
        "/campaigns/{id}/leads/{lead_id}/message-history",
        get(message_history),
    );
    both(
        router,
        "/campaigns/{id}/reply-email-thread",
        post(reply_email_thread),
    )
}

async fn message_history(
    State(state): State<AppState>,
    Path((id, lead)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_map(query.as_deref());
    let since = time_param(&params, "event_time_gt")?;
    let now = state.clock.now();
    let data = state.read();
    let (_, m) = membership_at(&data, &id, &lead)?;
    let membership = &data.memberships[m];
    let renderer = Renderer::new(&data, membership);
    let history: Vec<Value> = membership
        .history
        .iter()
        .filter(|msg| since.is_none_or(|t| msg.has_event_between(t, now)))
        .map(|msg| renderer.history_item(msg))
        .collect();
    json_ok(json!({
        "history": history,
        "from": renderer.sender_email(),
        "to": renderer.lead().email,
    }))
}

const REQUIRED_REPLY_FIELDS: [&str; 5] = [
    "email_stats_id",
    "email_body",
    "reply_message_id",
    "reply_email_time",
    "reply_email_body",
];

async fn reply_email_thread(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("\"value\" must be of type object"))?;
    for field in REQUIRED_REPLY_FIELDS {
        match object.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(Value::String(_)) => {
                return Err(ApiError::bad_request(format!(
                    "\"{field}\" is not allowed to be empty"
                )));
            }
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "\"{field}\" must be a string"
                )));
            }
            None => return Err(ApiError::required(field)),
        }
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    let stats_id = Uuid::parse_str(text("email_stats_id"))
        .map_err(|_| ApiError::bad_request("\"email_stats_id\" must be a valid GUID"))?;
    let cc: Vec<String> = text("cc")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let now = state.clock.now();
    let mut data = state.write();
    let campaign = campaign_at(&data, &id)?;
    let membership = data.campaigns[campaign]
        .members
        .iter()
        .map(|&m| m as usize)
        .find(|&m| {
            data.memberships[m]
                .history
                .iter()
                .any(|msg| msg.kind == MessageKind::Sent && msg.stats_id == stats_id)
        })
        .ok_or_else(|| ApiError::not_found("Email stats not found - Invalid email_stats_id."))?;
    let campaign_id = data.campaigns[campaign].id;
    let token = data.take_token();
    let domain = {
        let m = &data.memberships[membership];
        let sender = &data.accounts[m.account as usize].from_email;
        sender
            .split('@')
            .nth(1)
            .unwrap_or("outreach.example")
            .to_string()
    };
    let message_id = format!("<{}@mail.{domain}>", Uuid::new_v4().simple());
    data.memberships[membership].history.push(Message {
        kind: MessageKind::Sent,
        stats_id: Uuid::new_v4(),
        token,
        time: now,
        seq_number: None,
        variant: 0,
        open_count: 0,
        click_count: 0,
        bounced: false,
        content: Content::Custom(Box::new(CustomContent {
            subject: None,
            body: text("email_body").to_string(),
            message_id: message_id.clone(),
            cc,
        })),
    });
    let mirror = state.mirror_job(&data, membership, &message_id);
    drop(data);
    if let Some(job) = mirror {
        job.run();
    }
    lock(&state.log).reply_posts.push(ReplyPost {
        campaign_id,
        body: body.clone(),
    });
    json_ok(json!({ "ok": true, "data": "success" }))
}

/// A reply to make a lead send, for tests and the demo.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InjectReply {
    pub campaign_id: i64,
    pub lead_email: String,
    pub body: String,
    /// A category id (`"1"`) or name (`"Interested"`); none leaves the category as is.
    #[serde(default)]
    pub category: Option<String>,
}

/// Where the injected reply landed, with the ids a client would see.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InjectedReply {
    pub campaign_id: i64,
    pub lead_id: i64,
    pub campaign_lead_map_id: i64,
    pub stats_id: String,
    pub message_id: String,
    pub time: String,
    pub category_id: Option<i64>,
}

pub(super) fn inject_reply(
    data: &mut Data,
    request: &InjectReply,
    now: DateTime<Utc>,
) -> Result<(InjectedReply, usize), InjectError> {
    let campaign = data
        .campaign_index(request.campaign_id)
        .ok_or(InjectError::UnknownCampaign(request.campaign_id))?;
    let unknown_lead = || InjectError::UnknownLead(request.lead_email.clone(), request.campaign_id);
    let lead = *data
        .lead_by_email
        .get(&request.lead_email.trim().to_lowercase())
        .ok_or_else(unknown_lead)?;
    let lead_id = data.leads[lead as usize].id;
    let m = data
        .membership_of(campaign, lead_id)
        .ok_or_else(unknown_lead)?;
    let category_id = match request.category.as_deref() {
        None => None,
        Some(raw) => Some(
            data.categories
                .iter()
                .find(|c| c.id.to_string() == raw.trim() || c.name.eq_ignore_ascii_case(raw.trim()))
                .map(|c| c.id)
                .ok_or_else(|| InjectError::UnknownCategory(raw.to_string()))?,
        ),
    };
    let answered = data.memberships[m]
        .history
        .iter()
        .rev()
        .find(|msg| msg.is_sequence_send())
        .map(|msg| (msg.stats_id, msg.seq_number, msg.variant))
        .ok_or_else(|| {
            InjectError::NothingToReplyTo(request.lead_email.clone(), request.campaign_id)
        })?;
    let token = data.take_token();
    let message_id = format!("<CA{}@mail.gmail.com>", Uuid::new_v4().simple());
    let membership = &mut data.memberships[m];
    membership.history.push(Message {
        kind: MessageKind::Reply,
        stats_id: answered.0,
        token,
        time: now,
        seq_number: answered.1,
        variant: answered.2,
        open_count: 0,
        click_count: 0,
        bounced: false,
        content: Content::Custom(Box::new(CustomContent {
            subject: None,
            body: request.body.clone(),
            message_id: message_id.clone(),
            cc: Vec::new(),
        })),
    });
    if category_id.is_some() && category_id != membership.category_id {
        membership.category_id = category_id;
        membership.category_changed_at = Some(now);
    }
    // Campaigns stop a lead's sequence once they reply.
    membership.status = LeadStatus::Stopped;
    let injected = InjectedReply {
        campaign_id: request.campaign_id,
        lead_id,
        campaign_lead_map_id: membership.map_id,
        stats_id: answered.0.to_string(),
        message_id,
        time: iso(now),
        category_id: membership.category_id,
    };
    Ok((injected, m))
}

/// Bounces a lead's latest step in a campaign, as Smartlead records it (the
/// send is marked bounced, the lead stops) and returns the EMAIL_BOUNCE
/// webhook Smartlead would deliver for it (reference §8), without
/// `secret_key`: the caller adds the one its receiver expects.
pub(super) fn bounce_lead(
    data: &mut Data,
    campaign_id: i64,
    lead_email: &str,
    bounce_text: &str,
    now: DateTime<Utc>,
) -> Result<Value, InjectError> {
    let campaign = data
        .campaign_index(campaign_id)
        .ok_or(InjectError::UnknownCampaign(campaign_id))?;
    let unknown_lead = || InjectError::UnknownLead(lead_email.to_string(), campaign_id);
    let lead = *data
        .lead_by_email
        .get(&lead_email.trim().to_lowercase())
        .ok_or_else(unknown_lead)?;
    let lead_id = data.leads[lead as usize].id;
    let m = data
        .membership_of(campaign, lead_id)
        .ok_or_else(unknown_lead)?;
    let sent = data.memberships[m]
        .history
        .iter()
        .rposition(Message::is_sequence_send)
        .ok_or_else(|| InjectError::NothingToReplyTo(lead_email.to_string(), campaign_id))?;
    data.memberships[m].history[sent].bounced = true;
    data.memberships[m].status = LeadStatus::Stopped;
    let membership = &data.memberships[m];
    let msg = &membership.history[sent];
    let renderer = Renderer::new(data, membership);
    let lead = renderer.lead();
    let message_id = renderer.message_id(msg);
    let subject = renderer.subject(msg);
    let body = renderer.body(msg);
    let from = renderer.sender_email().to_string();
    let sent_at = iso(msg.time);
    let at = iso(now);
    let bounce_id = format!("<bounce-{}@mx.smartlead.example>", msg.stats_id.simple());
    Ok(serde_json::json!({
        "event_type": "EMAIL_BOUNCE", "webhook_id": 1, "webhook_name": "outpost",
        "campaign_id": campaign_id, "campaign_name": data.campaigns[campaign].name,
        "campaign_status": "ACTIVE", "client_id": data.campaigns[campaign].client_id,
        "sequence_number": msg.seq_number,
        "sl_email_lead_id": lead_id.to_string(), "sl_email_lead_map_id": membership.map_id,
        "sl_lead_email": lead.email,
        "stats_id": msg.stats_id.to_string(),
        "from_email": from, "to_email": lead.email,
        "to_name": format!("{} {}", lead.first_name, lead.last_name),
        "time_sent": sent_at, "subject": subject, "message_id": message_id,
        "sent_message": {"message_id": message_id, "html": body, "text": body, "time": sent_at},
        "is_bounced": true, "is_sender_originated_bounce": false,
        "bounce_message": {"message_id": bounce_id, "html": format!("<p>{bounce_text}</p>"),
            "text": bounce_text, "time": at},
        "bounce_reply_message_id": bounce_id, "bounce_reply_email": bounce_text,
        "bounce_reply_email_preview": bounce_text,
        "event_timestamp": at,
        "description": format!("{} bounced for campaign - {}", lead.email, data.campaigns[campaign].name),
    }))
}
