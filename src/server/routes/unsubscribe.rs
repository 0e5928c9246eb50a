//! `/u/{token}`: a plain page (GET) and RFC 8058 one-click (POST). POST
//! records an unsubscribe event; the sequences react by suppressing the
//! address and stopping its enrollments. A replay changes nothing more.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::tracking::verified;
use crate::model::*;
use crate::sequences::TokenKind;
use crate::server::metrics::Metrics;
use crate::server::state::ServerState;
use crate::store::StoreResult;

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

async fn page_get(state: &ServerState, token: &str) -> Response {
    let claims = match verified(state, token, TokenKind::Unsubscribe) {
        Ok(c) => c,
        Err(_) => return invalid(),
    };
    page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<p>Stop all further emails to <b>{}</b>?</p><form method=\"post\">\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Unsubscribe</button></form>",
            escape(&claims.email)
        ),
    )
}

pub async fn show(State(state): State<ServerState>, Path(token): Path<String>) -> Response {
    page_get(&state, &token).await
}

/// The accounts an unsubscribe applies to: the sending account, else every
/// account that knows the address (the email may predate a data reset).
fn accounts_for(state: &ServerState, item_id: &str, email: &str) -> StoreResult<Vec<String>> {
    let store = state.engine().store();
    if let Some(item) = store.get::<OutboxItem>(item_id)? {
        return Ok(vec![item.account]);
    }
    let prefix = crate::store::keys::KeyBuf::new()
        .text(&normalize_email(email))
        .into_prefix();
    let mut accounts: Vec<String> = store
        .by_index::<Lead>(crate::store::Index::LeadsByEmail, &prefix, false)
        .map(|lead| lead.map(|l| l.account))
        .collect::<StoreResult<_>>()?;
    if accounts.is_empty() {
        accounts = store
            .iter::<Account>()
            .map(|a| a.map(|a| a.name))
            .collect::<StoreResult<_>>()?;
    }
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

pub async fn one_click(State(state): State<ServerState>, Path(token): Path<String>) -> Response {
    let claims = match verified(&state, &token, TokenKind::Unsubscribe) {
        Ok(c) => c,
        Err(_) => return invalid(),
    };
    let email = normalize_email(&claims.email);
    let accounts = match accounts_for(&state, &claims.id, &email) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot look up an unsubscribe");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<p>We could not record this right now. Please try again in a minute.</p>",
            );
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
    if let Err(e) = state.inner.ingest.submit(events, None).await {
        tracing::error!(error = %e, "cannot record an unsubscribe");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "<p>We could not record this right now. Please try again in a minute.</p>",
        );
    }
    Metrics::add(&state.metrics().unsubscribes, 1);
    page(
        StatusCode::OK,
        "You are unsubscribed",
        &format!(
            "<p>No more emails will be sent to <b>{}</b>.</p>",
            escape(&email)
        ),
    )
}
