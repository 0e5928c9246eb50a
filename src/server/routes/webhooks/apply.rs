//! What a webhook changes: the event it records, and the records that must
//! follow at once (a reply's thread and message, a lead's category, a lead
//! first heard of through a webhook, a campaign's status).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::parse::{MessagePart, Payload, SmartleadEvent};
use crate::engine::{Engine, reply_subject, snippet};
use crate::model::*;
use crate::store::{Change, StoreResult};
use crate::sync::{body_text, smartlead_dedupe_key, smartlead_message_id};

/// How long a reply preview kept in an event's `detail` may be.
const DETAIL_CHARS: usize = 200;

/// The outpost event type of a Smartlead event, if it is an email event.
pub fn event_type(p: &Payload) -> Option<EventType> {
    let base = match p.event {
        SmartleadEvent::EmailSent | SmartleadEvent::FirstEmailSent => EventType::EmailSent,
        SmartleadEvent::EmailOpen => EventType::EmailOpened,
        SmartleadEvent::EmailLinkClick => EventType::EmailClicked,
        SmartleadEvent::EmailReply | SmartleadEvent::UntrackedReplies => EventType::EmailReplied,
        SmartleadEvent::EmailBounce => EventType::EmailBounced,
        SmartleadEvent::LeadUnsubscribed => EventType::EmailUnsubscribed,
        SmartleadEvent::LeadCategoryUpdated => EventType::CategoryChanged,
        SmartleadEvent::CampaignStatusChanged | SmartleadEvent::ManualStepReached => return None,
    };
    Some(base.for_sequence_step(p.sequence_number))
}

/// The event a payload records. `delivery` (the `X-Request-Id`, else a hash
/// of the payload) stands in for the time when a payload carries none.
pub fn event_for(
    account: &str,
    p: &Payload,
    delivery: &str,
    now: DateTime<Utc>,
) -> Option<EmailEvent> {
    let kind = event_type(p)?;
    let lead_email = p.lead_email.clone()?;
    let anchor = p
        .stats_id
        .clone()
        .or_else(|| p.map_id.map(|m| format!("map:{m}")))
        .unwrap_or_else(|| format!("lead:{lead_email}"));
    let dedupe_key = match p.at {
        // The same key sync uses, so a webhook and a sync of one fact are one event.
        Some(at) => smartlead_dedupe_key(&anchor, kind, at),
        None => format!("sl|{anchor}|{}|delivery:{delivery}", kind.base().as_str()),
    };
    let detail = match p.event {
        SmartleadEvent::EmailLinkClick => p.link.clone(),
        SmartleadEvent::EmailReply | SmartleadEvent::UntrackedReplies => {
            p.reply_category.clone().or_else(|| {
                p.reply
                    .as_ref()
                    .and_then(reply_text)
                    .map(|t| snippet(&t, DETAIL_CHARS))
            })
        }
        SmartleadEvent::EmailBounce => p.bounce_text.as_ref().map(|t| snippet(t, DETAIL_CHARS)),
        SmartleadEvent::LeadCategoryUpdated => p.category.as_ref().map(|c| c.name.clone()),
        SmartleadEvent::EmailSent | SmartleadEvent::FirstEmailSent => p.subject.clone(),
        _ => None,
    };
    let message_id = match p.event {
        SmartleadEvent::EmailReply => p.reply.as_ref().and_then(|r| r.message_id.clone()),
        _ => p.sent.as_ref().and_then(|s| s.message_id.clone()),
    };
    Some(EmailEvent {
        id: EmailEvent::id_for(account, &dedupe_key),
        account: account.to_string(),
        kind,
        lead_email,
        campaign_id: p.campaign_id,
        sequence_number: p.sequence_number,
        at: p.at.unwrap_or(now),
        source: EventSource::Webhook,
        dedupe_key,
        message_id,
        detail,
    })
}

fn reply_text(part: &MessagePart) -> Option<String> {
    part.text
        .clone()
        .or_else(|| part.html.as_deref().map(body_text))
        .filter(|t| !t.trim().is_empty())
}

/// The record writes a payload needs besides its event. Runs in the ingest
/// writer, so webhooks never race each other on these records. Lead changes
/// go into `leads` (the batch's changed leads, by key), which the writer
/// stores together under the lead lock it holds.
pub fn apply(
    engine: &Engine,
    leads: &mut BTreeMap<String, Lead>,
    account: &str,
    p: &Payload,
) -> StoreResult<()> {
    match p.event {
        SmartleadEvent::CampaignStatusChanged => return campaign_status(engine, account, p),
        SmartleadEvent::ManualStepReached => {
            engine.store().publish(Change::Notice {
                level: "info".into(),
                text: format!(
                    "manual step reached for {} in campaign {}",
                    p.lead_email.as_deref().unwrap_or("a lead"),
                    p.campaign_name.as_deref().unwrap_or("?")
                ),
            });
        }
        _ => {}
    }
    if p.lead_email.is_none() {
        return Ok(());
    }
    let lead = upsert_lead(engine, leads, account, p)?;
    if p.event == SmartleadEvent::EmailReply {
        upsert_reply_thread(engine, account, p, lead.as_ref())?;
    }
    Ok(())
}

fn campaign_status(engine: &Engine, account: &str, p: &Payload) -> StoreResult<()> {
    let (Some(id), Some(status)) = (p.campaign_id, p.campaign_status.as_ref()) else {
        return Ok(());
    };
    let key = scoped_key(account, id);
    if let Some(mut campaign) = engine.store().get::<Campaign>(&key)? {
        campaign.status = status.clone();
        engine.store().put(&campaign)?;
    }
    Ok(())
}

/// Makes sure the lead exists (a webhook can arrive before the first sync)
/// and carries the ids and category the payload brings. The caller holds
/// the lead lock.
fn upsert_lead(
    engine: &Engine,
    leads: &mut BTreeMap<String, Lead>,
    account: &str,
    p: &Payload,
) -> StoreResult<Option<Lead>> {
    let Some(email) = &p.lead_email else {
        return Ok(None);
    };
    let key = Lead::key_for(account, email);
    let existing = match leads.get(&key) {
        Some(pending) => Some(pending.clone()),
        None => engine.store().get::<Lead>(&key)?,
    };
    let mut lead = existing.unwrap_or_else(|| {
        let mut lead = Lead::new(account, email);
        if let Some(name) = &p.lead_name {
            let mut parts = name.splitn(2, ' ');
            lead.first_name = parts.next().map(str::to_string).filter(|s| !s.is_empty());
            lead.last_name = parts.next().map(str::to_string).filter(|s| !s.is_empty());
        }
        lead.created_at = p.at;
        lead
    });
    if lead.smartlead_lead_id.is_none() {
        lead.smartlead_lead_id = p.lead_id;
    }
    if let Some(campaign_id) = p.campaign_id {
        match lead
            .memberships
            .iter_mut()
            .find(|m| m.campaign_id == campaign_id)
        {
            Some(m) => {
                if m.map_id.is_none() {
                    m.map_id = p.map_id;
                }
                if m.campaign_name.is_none() {
                    m.campaign_name = p.campaign_name.clone();
                }
            }
            None => {
                lead.memberships.push(Membership {
                    campaign_id,
                    campaign_name: p.campaign_name.clone(),
                    map_id: p.map_id,
                    status: None,
                    category_id: None,
                });
                lead.memberships.sort_by_key(|m| m.campaign_id);
            }
        }
    }
    if let Some(new) = &p.category {
        let category = resolve_category(engine, account, new)?;
        if let Some(campaign_id) = p.campaign_id {
            for m in lead
                .memberships
                .iter_mut()
                .filter(|m| m.campaign_id == campaign_id)
            {
                m.category_id = Some(category.id);
            }
        }
        lead.category = Some(category.clone());
        set_thread_category(engine, account, p, &lead, &category)?;
    }
    // Kept in the batch even when unchanged: the writer moves its last event
    // next, so it need not be read again (an unchanged record is not rewritten).
    leads.insert(key, lead.clone());
    Ok(Some(lead))
}

/// The payload's category, completed from the account's synced list.
fn resolve_category(
    engine: &Engine,
    account: &str,
    new: &super::parse::NewCategory,
) -> StoreResult<Category> {
    let known = engine
        .categories(account)
        .map_err(|e| crate::store::StoreError::Io {
            path: engine.store().path().to_path_buf(),
            detail: e.to_string(),
        })?;
    let by_id = new.id.and_then(|id| known.iter().find(|c| c.id == id));
    let by_name = known
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(&new.name));
    let matched = by_id.or(by_name);
    Ok(Category {
        id: new.id.or(matched.map(|c| c.id)).unwrap_or(0),
        name: new.name.clone(),
        sentiment: new
            .sentiment
            .clone()
            .or_else(|| matched.and_then(|c| c.sentiment.clone())),
    })
}

fn set_thread_category(
    engine: &Engine,
    account: &str,
    p: &Payload,
    lead: &Lead,
    category: &Category,
) -> StoreResult<()> {
    let (Some(campaign_id), Some(lead_id)) = (p.campaign_id, p.lead_id.or(lead.smartlead_lead_id))
    else {
        return Ok(());
    };
    let key = Thread::key_for(account, &format!("{campaign_id}:{lead_id}"));
    engine.store().modify::<Thread, ()>(&[key], |_, thread| {
        let mut thread = thread.filter(|t| t.category.as_ref() != Some(category))?;
        thread.category = Some(category.clone());
        Some((thread, ()))
    })?;
    Ok(())
}

/// A reply creates or updates its conversation at once: the sent email (when
/// the payload carries it), the reply (unread), and the thread's summary.
fn upsert_reply_thread(
    engine: &Engine,
    account: &str,
    p: &Payload,
    lead: Option<&Lead>,
) -> StoreResult<()> {
    let (Some(email), Some(reply)) = (&p.lead_email, &p.reply) else {
        return Ok(());
    };
    let store = engine.store();
    let campaign_id = p.campaign_id.unwrap_or(0);
    let lead_part = p
        .lead_id
        .or(lead.and_then(|l| l.smartlead_lead_id))
        .map(|id| id.to_string())
        .unwrap_or_else(|| email.clone());
    let provider_thread_id = format!("{campaign_id}:{lead_part}");
    let thread_key = Thread::key_for(account, &provider_thread_id);
    let ours = p.from_email.clone().unwrap_or_default();
    let smartlead_ref = p.lead_id.map(|lead_id| SmartleadRef {
        campaign_id,
        lead_id,
        stats_id: p.stats_id.clone(),
        sequence_number: p.sequence_number,
    });
    let reply_at = reply.time.or(p.at).unwrap_or_else(|| engine.clock().now());
    let subject = p.subject.clone().unwrap_or_default();
    let mut messages = Vec::new();
    if let Some(sent) = &p.sent
        && let Some(sent_at) = sent.time
    {
        let provider_id = smartlead_message_id(
            &provider_thread_id,
            "SENT",
            p.stats_id.as_deref(),
            sent.message_id.as_deref(),
            Some(sent_at),
            0,
        );
        if !store.contains::<Message>(&scoped_key(account, &provider_id))? {
            let html = sent.html.clone().unwrap_or_default();
            messages.push(Message {
                account: account.to_string(),
                provider_id,
                thread_key: thread_key.clone(),
                direction: Direction::Outbound,
                message_id: sent.message_id.clone(),
                in_reply_to: None,
                references: Vec::new(),
                from: Address::new(ours.clone()),
                to: vec![Address::new(email.clone())],
                cc: Vec::new(),
                subject: subject.strip_prefix("Re: ").unwrap_or(&subject).to_string(),
                date: sent_at,
                text_body: sent.text.clone().unwrap_or_else(|| body_text(&html)),
                html_body: Some(html).filter(|h| h.contains('<')),
                attachments: Vec::new(),
                read: true,
                labels: Vec::new(),
                smartlead: smartlead_ref.clone(),
            });
        }
    }
    let provider_id = smartlead_message_id(
        &provider_thread_id,
        "REPLY",
        p.stats_id.as_deref(),
        reply.message_id.as_deref(),
        Some(reply_at),
        0,
    );
    let existing = store.get::<Message>(&scoped_key(account, &provider_id))?;
    let html = reply.html.clone().unwrap_or_default();
    messages.push(Message {
        account: account.to_string(),
        provider_id,
        thread_key: thread_key.clone(),
        direction: Direction::Inbound,
        message_id: reply.message_id.clone(),
        in_reply_to: p.sent.as_ref().and_then(|s| s.message_id.clone()),
        references: Vec::new(),
        from: Address::new(email.clone()),
        to: vec![Address::new(ours.clone())],
        cc: Vec::new(),
        subject: reply_subject(&subject),
        date: reply_at,
        text_body: reply_text(reply).unwrap_or_default(),
        html_body: Some(html).filter(|h| h.contains('<')),
        attachments: Vec::new(),
        // A redelivery must not mark a reply unread again once it was read.
        read: existing.as_ref().is_some_and(|m| m.read),
        labels: Vec::new(),
        smartlead: smartlead_ref,
    });
    // The thread is rebuilt from what is stored when it is written: a sync
    // or another delivery landing meanwhile makes this run again.
    store.modify_together::<Thread, ()>(&thread_key, |known, batch| {
        // By index, not `engine.thread`: the thread record may not exist yet.
        // The thread's summary covers what is stored plus what this payload
        // adds, so the messages and the thread go in one transaction.
        let prefix = crate::store::keys::KeyBuf::new()
            .text(&thread_key)
            .into_prefix();
        let mut all: Vec<Message> = store
            .by_index::<Message>(crate::store::Index::MessagesByThread, &prefix, false)
            .collect::<StoreResult<_>>()?;
        for message in &messages {
            match all
                .iter_mut()
                .find(|m| m.provider_id == message.provider_id)
            {
                Some(stored) => *stored = message.clone(),
                None => all.push(message.clone()),
            }
        }
        let last = all.iter().max_by_key(|m| m.date);
        let category = known
            .as_ref()
            .and_then(|t| t.category.clone())
            .or_else(|| lead.and_then(|l| l.category.clone()));
        let mut participants = vec![normalize_email(email)];
        if !ours.is_empty() {
            participants.push(normalize_email(&ours));
        }
        let thread = Thread {
            account: account.to_string(),
            provider: Provider::Smartlead,
            provider_thread_id: provider_thread_id.clone(),
            subject: known
                .as_ref()
                .map(|t| t.subject.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| subject.strip_prefix("Re: ").unwrap_or(&subject).to_string()),
            lead_email: Some(email.clone()),
            campaign_id: p.campaign_id,
            campaign_name: p
                .campaign_name
                .clone()
                .or_else(|| known.as_ref().and_then(|t| t.campaign_name.clone())),
            last_message_at: last.map(|m| m.date).unwrap_or(reply_at),
            last_inbound_at: Thread::last_inbound_in(&all),
            message_count: all.len() as u32,
            unread: Thread::unread_in(&all),
            has_reply: true,
            category,
            snippet: last.map(|m| snippet(&m.text_body, 140)).unwrap_or_default(),
            participants,
        };
        batch.put_all(&messages)?;
        batch.put(&thread)?;
        Ok(Some(()))
    })?;
    Ok(())
}
