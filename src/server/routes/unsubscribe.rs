//! `/u/{token}`: a plain page (GET) and RFC 8058 one-click (POST). POST
//! records an unsubscribe event; the sequences react by suppressing the
//! address and stopping its enrollments. A replay changes nothing more.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::tracking::{link_lead, verified};
use crate::engine::CommandResult;
use crate::model::*;
use crate::sequences::{TokenClaims, TokenKind};
use crate::server::metrics::Metrics;
use crate::server::state::ServerState;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{title}</title></head><body style=\"font-family:\
         sans-serif;max-width:32em;margin:4em auto\"><h1>{title}</h1>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

fn invalid() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        "<p>The unsubscribe link is incomplete or was changed. Please use the link from the email as it arrived.</p>",
    )
}

fn expired() -> Response {
    page(
        StatusCode::GONE,
        "This link has expired",
        "<p>We no longer know which email this link came from. Reply to the email with \"unsubscribe\" and you will not hear from us again.</p>",
    )
}

/// The outbox item a link was made for, and whom it was sent to. The
/// token carries only the item id; links made before that carry the
/// address themselves.
fn link_target(
    state: &ServerState,
    claims: &TokenClaims,
) -> CommandResult<Option<(Option<OutboxItem>, String)>> {
    let item = state.engine().outbox_item(&claims.id)?;
    let email = match &item {
        Some(item) => Some(link_lead(item, claims)),
        None => claims.email.clone(),
    };
    Ok(email
        .filter(|e| !e.is_empty())
        .map(|e| (item, normalize_email(&e))))
}

fn try_later() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>We could not record this right now. Please try again in a minute.</p>",
    )
}

async fn page_get(state: &ServerState, token: &str) -> Response {
    let claims = match verified(state, token, TokenKind::Unsubscribe) {
        Ok(c) => c,
        Err(_) => return invalid(),
    };
    let email = match link_target(state, &claims) {
        Ok(Some((_, email))) => email,
        Ok(None) => return expired(),
        Err(e) => {
            tracing::error!(error = %e, "cannot look up an unsubscribe link");
            return try_later();
        }
    };
    page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<p>Stop all further emails to <b>{}</b>?</p><form method=\"post\">\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Unsubscribe</button></form>",
            escape(&email)
        ),
    )
}

pub async fn show(State(state): State<ServerState>, Path(token): Path<String>) -> Response {
    page_get(&state, &token).await
}

pub async fn one_click(State(state): State<ServerState>, Path(token): Path<String>) -> Response {
    let claims = match verified(&state, &token, TokenKind::Unsubscribe) {
        Ok(c) => c,
        Err(_) => return invalid(),
    };
    let looked_up = link_target(&state, &claims).and_then(|target| {
        let Some((item, email)) = target else {
            return Ok(None);
        };
        let accounts = state.engine().unsubscribe_accounts(item.as_ref(), &email)?;
        Ok(Some((email, accounts)))
    });
    let (email, accounts) = match looked_up {
        Ok(Some(found)) => found,
        Ok(None) => return expired(),
        Err(e) => {
            tracing::error!(error = %e, "cannot look up an unsubscribe");
            return try_later();
        }
    };
    let now = state.engine().clock().now();
    let events: Vec<EmailEvent> = accounts
        .iter()
        .map(|account| {
            // One unsubscribe per address and account: replays are the same event.
            let dedupe_key = format!("unsubscribe|{email}");
            EmailEvent {
                id: EmailEvent::id_for(account, &dedupe_key),
                account: account.clone(),
                kind: EventType::EmailUnsubscribed,
                lead_email: email.clone(),
                campaign_id: None,
                sequence_number: None,
                at: now,
                source: EventSource::Tracking,
                dedupe_key,
                message_id: None,
                detail: Some("one-click unsubscribe".into()),
            }
        })
        .collect();
    if events.is_empty() {
        tracing::warn!("unsubscribe for an address no account knows; nothing to suppress");
    }
    // Smartlead must stop too. Recorded before answering so an outage there
    // cannot lose it; the page does not wait for Smartlead (one-click
    // senders expect a quick answer) and a failed try is retried later.
    if let Err(e) = state.engine().record_pending_unsubscribe(&email) {
        tracing::error!(error = %e, "cannot record an unsubscribe for Smartlead");
        return try_later();
    }
    if let Err(e) = state.inner.ingest.submit(events, None).await {
        tracing::error!(error = %e, "cannot record an unsubscribe");
        return try_later();
    }
    Metrics::add(&state.metrics().unsubscribes, 1);
    let engine = state.engine().clone();
    let lead = email.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.pass_on_unsubscribe(&lead).await {
            tracing::warn!(error = %e, "cannot record an unsubscribe's pass-on");
        }
    });
    page(
        StatusCode::OK,
        "You are unsubscribed",
        &format!(
            "<p>No more emails will be sent to <b>{}</b>.</p>",
            escape(&email)
        ),
    )
}
