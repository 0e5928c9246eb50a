//! Store lookups the scheduler and event handling share.

use chrono::{DateTime, Utc};

use super::super::SequenceResult;
use crate::model::*;
use crate::store::{Index, Store, keys};

/// The lead record for an enrollment: the sequence's account first, else any.
pub(crate) fn lead_for(store: &Store, account: &str, email: &str) -> SequenceResult<Lead> {
    let email = normalize_email(email);
    // Leads are keyed by account and email, so the usual case is one read;
    // the index walk below finds a lead kept under another account.
    if let Some(lead) = store.get::<Lead>(&Lead::key_for(account, &email))?
        && lead.account == account
        && lead.email == email
    {
        return Ok(lead);
    }
    let prefix = keys::KeyBuf::new().text(&email).into_prefix();
    let mut fallback = None;
    for lead in store.by_index::<Lead>(Index::LeadsByEmail, &prefix, false) {
        let lead = lead?;
        if lead.account == account {
            return Ok(lead);
        }
        fallback.get_or_insert(lead);
    }
    Ok(fallback.unwrap_or_else(|| Lead::new(account, &email)))
}

pub(crate) fn is_suppressed(store: &Store, email: &str) -> SequenceResult<Option<Suppression>> {
    let prefix = keys::KeyBuf::new()
        .text(&normalize_email(email))
        .into_prefix();
    Ok(store
        .by_index::<Suppression>(Index::SuppressionsByEmail, &prefix, false)
        .next()
        .transpose()?)
}

/// The keys caps are counted under: Gmail addresses, Smartlead email account
/// ids, or the campaign itself when it picks its own senders.
pub(crate) fn mailbox_keys(seq: &Sequence) -> Vec<String> {
    if seq.send_via.mailboxes.is_empty() {
        vec![format!(
            "campaign-{}",
            seq.send_via.campaign_id.unwrap_or_default()
        )]
    } else {
        seq.send_via.mailboxes.clone()
    }
}

pub(super) fn sender_address(
    store: &Store,
    seq: &Sequence,
    mailbox: &str,
) -> SequenceResult<String> {
    if mailbox.contains('@') {
        return Ok(mailbox.to_string());
    }
    if let Ok(id) = mailbox.parse::<i64>()
        && let Some(mb) = store.get::<Mailbox>(&scoped_key(&seq.account, id))?
    {
        return Ok(mb.from_email);
    }
    Ok(store
        .get::<Account>(&seq.account)?
        .and_then(|a| a.email)
        .unwrap_or_default())
}

pub(crate) fn last_sent_at(
    store: &Store,
    enrollment_id: &str,
) -> SequenceResult<Option<DateTime<Utc>>> {
    let mut last = None;
    for exec in store.scan_prefix::<StepExecution>(&format!("{enrollment_id}/")) {
        let exec = exec?;
        if exec.outcome == ExecutionOutcome::Sent {
            last = Some(last.map_or(exec.at, |l: DateTime<Utc>| l.max(exec.at)));
        }
    }
    Ok(last)
}

/// The kinds (opens, clicks and replies folded to their base) a lead produced in `[from, to]`.
pub(crate) fn events_between(
    store: &Store,
    email: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SequenceResult<Vec<EventType>> {
    let mut out = Vec::new();
    if to < from {
        return Ok(out);
    }
    let prefix = keys::KeyBuf::new()
        .text(&normalize_email(email))
        .into_prefix();
    for lead in store.index_keys(Index::LeadsByEmail, &prefix, false) {
        let (_, lead_key) = lead?;
        let events = store.activity_events(&lead_key, Some(from))?;
        out.extend(
            events
                .iter()
                .take_while(|e| e.at <= to)
                .map(|e| e.kind.base()),
        );
    }
    Ok(out)
}
