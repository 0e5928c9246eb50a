//! What a webhook changes: the event it records, and the records that must
//! follow at once (a reply's thread and message, a lead's category, a lead
//! first heard of through a webhook, a campaign's status).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::parse::{MessagePart, Payload, SmartleadEvent};
use crate::conversation::smartlead::{SmartleadConversation, SmartleadItem, body_text};
use crate::engine::{Engine, reply_subject, snippet};
use crate::model::*;
use crate::store::{Change, StoreResult};
use crate::sync::smartlead_dedupe_key;

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
    let ours = p.from_email.clone().unwrap_or_default();
    let conversation = SmartleadConversation {
        account,
        campaign_id: p.campaign_id.unwrap_or(0),
        lead_id: p.lead_id.or(lead.and_then(|l| l.smartlead_lead_id)),
        lead_email: email,
        ours: &ours,
    };
    let provider_thread_id = conversation.provider_thread_id();
    let thread_key = conversation.thread_key();
    let reply_at = reply.time.or(p.at).unwrap_or_else(|| engine.clock().now());
    let subject = p.subject.clone().unwrap_or_default();
    let first_subject = subject.strip_prefix("Re: ").unwrap_or(&subject).to_string();
    let mut items = Vec::new();
    if let Some(sent) = &p.sent
        && sent.time.is_some()
    {
        items.push(SmartleadItem {
            inbound: false,
            stats_id: p.stats_id.clone(),
            message_id: sent.message_id.clone(),
            time: sent.time,
            subject: first_subject.clone(),
            html: sent.html.clone().unwrap_or_default(),
            text: sent.text.clone(),
            sequence_number: p.sequence_number,
            ..SmartleadItem::default()
        });
    }
    items.push(SmartleadItem {
        inbound: true,
        stats_id: p.stats_id.clone(),
        message_id: reply.message_id.clone(),
        time: Some(reply_at),
        subject: reply_subject(&subject),
        html: reply.html.clone().unwrap_or_default(),
        text: reply_text(reply),
        sequence_number: p.sequence_number,
        in_reply_to: p.sent.as_ref().and_then(|s| s.message_id.clone()),
        ..SmartleadItem::default()
    });
    let participants = {
        let mut p = vec![normalize_email(email)];
        if !ours.is_empty() {
            p.push(normalize_email(&ours));
        }
        p
    };
    // The thread moves from what is stored when it is written: a sync or
    // another delivery landing meanwhile makes this run again.
    let added = store.modify_together::<Thread, Vec<Message>>(&thread_key, |known, batch| {
        // Only what the cache does not hold yet is written and counted: a
        // redelivered reply keeps the read state the rep gave it.
        let mut added = Vec::new();
        for item in &items {
            let key = conversation.message_key(item);
            if !store.contains::<Message>(&key)? {
                batch.expect_absent::<Message>(&key);
                added.push(conversation.message(item, reply_at, None));
            }
        }
        let category = known
            .as_ref()
            .and_then(|t| t.category.clone())
            .or_else(|| lead.and_then(|l| l.category.clone()));
        let lead_name = known
            .as_ref()
            .and_then(|t| t.lead_name.clone())
            .or_else(|| lead.map(Lead::full_name).filter(|n| !n.trim().is_empty()))
            .or_else(|| p.lead_name.clone().filter(|n| !n.trim().is_empty()));
        let thread = match known {
            // The stored summary moves with what this payload adds: the
            // cost of a reply does not grow with its conversation.
            Some(mut thread) => {
                thread.has_reply = true;
                thread.category = category;
                thread.lead_name = lead_name;
                if thread.campaign_name.is_none() {
                    thread.campaign_name = p.campaign_name.clone();
                }
                crate::conversation::fold(&mut thread, &added);
                thread
            }
            None => {
                let mut thread = Thread {
                    account: account.to_string(),
                    provider: Provider::Smartlead,
                    provider_thread_id: provider_thread_id.clone(),
                    subject: first_subject.clone(),
                    lead_email: Some(email.clone()),
                    campaign_id: p.campaign_id,
                    campaign_name: p.campaign_name.clone(),
                    last_message_at: reply_at,
                    last_inbound_at: None,
                    message_count: 0,
                    unread: false,
                    has_reply: true,
                    category,
                    snippet: String::new(),
                    participants: participants.clone(),
                    lead_name,
                    preview: String::new(),
                    answered_last: false,
                    merged_into: None,
                    sources: Vec::new(),
                };
                crate::conversation::summarize(&mut thread, &added);
                thread
            }
        };
        batch.put_all(&added)?;
        batch.put(&thread)?;
        Ok(Some(added))
    })?;
    let messages = added.unwrap_or_default();
    // The same messages may already be in the rep's Gmail copy.
    let ids: Vec<String> = messages
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    crate::conversation::settle_if_linked(store, &thread_key, &ids)?;
    Ok(())
}
