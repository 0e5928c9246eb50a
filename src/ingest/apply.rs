//! What a webhook changes: the event it records, and the records that must
//! follow at once (a reply's thread and message, a lead's category, a lead
//! first heard of through a webhook, a campaign's status).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::payload::{MessagePart, Payload, SmartleadEvent};
use crate::conversation::smartlead::{SmartleadConversation, SmartleadItem, body_text};
use crate::engine::{Engine, LeadChanges, LeadEdit, PayloadLead, reply_subject, snippet};
use crate::model::*;
use crate::store::{Change, Kind, Store, StoreError, StoreResult, WriteBatch};
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
/// of the payload) stands in for the time when a payload carries none; it
/// is asked for only then, as hashing a payload costs more than the rest of
/// the route.
pub fn event_for(
    account: &str,
    p: &Payload,
    delivery: impl FnOnce() -> String,
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
        None => format!(
            "sl|{anchor}|{}|delivery:{}",
            kind.base().as_str(),
            delivery()
        ),
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

/// The record writes a payload needs besides its event, made at once (the
/// ingest writer gathers a batch's replies instead, see [`apply_into`]).
pub fn apply(
    engine: &Engine,
    leads: &mut LeadChanges,
    account: &str,
    p: &Payload,
) -> StoreResult<()> {
    let mut replies = PendingReplies::default();
    apply_into(engine, leads, &mut replies, account, p)?;
    replies.write(engine)
}

/// The record writes a payload needs besides its event. Runs in the ingest
/// writer, so webhooks never race each other on these records. Lead changes
/// go into `leads` (the batch's changed leads, by key), which the writer
/// stores together under the lead lock it holds; a reply's messages and
/// thread go into `replies`, which the writer stores once per batch.
pub fn apply_into(
    engine: &Engine,
    leads: &mut LeadChanges,
    replies: &mut PendingReplies,
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
    if p.category.is_some() {
        // A category change is written to its thread here and now: the
        // replies gathered before it land first, as they would one by one.
        replies.write(engine)?;
    }
    let lead = upsert_lead(engine, leads, account, p)?;
    if p.event == SmartleadEvent::EmailReply {
        replies.add(engine, account, p, lead.as_ref());
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
/// and carries the ids and category the payload brings: a change kept in
/// `leads`, which the writer applies to the lead as stored then.
fn upsert_lead(
    engine: &Engine,
    leads: &mut LeadChanges,
    account: &str,
    p: &Payload,
) -> StoreResult<Option<Lead>> {
    let Some(email) = &p.lead_email else {
        return Ok(None);
    };
    let key = Lead::key_for(account, email);
    let stored = match leads.contains(&key) {
        true => None,
        false => engine.store().get::<Lead>(&key)?,
    };
    let category = match &p.category {
        Some(new) => Some(resolve_category(engine, account, new)?),
        None => None,
    };
    let edit = LeadEdit::Payload(Box::new(PayloadLead {
        account: account.to_string(),
        email: email.clone(),
        name: p.lead_name.clone(),
        at: p.at,
        lead_id: p.lead_id,
        campaign_id: p.campaign_id,
        map_id: p.map_id,
        campaign_name: p.campaign_name.clone(),
        category: category.clone(),
    }));
    let lead = leads
        .push(&key, stored, edit)
        .expect("a payload's change always leaves a lead");
    if let Some(category) = &category {
        set_thread_category(engine, account, p, &lead, category)?;
    }
    Ok(Some(lead))
}

/// The payload's category, completed from the account's synced list.
fn resolve_category(
    engine: &Engine,
    account: &str,
    new: &super::payload::NewCategory,
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

/// Reply webhooks gathered over a batch, by conversation. Each
/// conversation's thread is read once and written once (with all of its new
/// messages, in one transaction) however many of the batch's replies it
/// gets: what a reply costs does not grow with its conversation, and a
/// batch of replies into one conversation moves its thread (and the
/// thread's index entries) once. One transaction per conversation rather
/// than per batch: sled's transactions cost more per write as they grow.
#[derive(Debug, Default)]
pub struct PendingReplies {
    /// Thread key and its replies, in arrival order.
    conversations: Vec<(String, Vec<PendingReply>)>,
    /// Where each thread key sits in `conversations`.
    by_thread: HashMap<String, usize>,
}

/// What one reply payload brings to its conversation: its messages, and
/// what the thread starts from if the payload creates it.
#[derive(Debug)]
struct PendingReply {
    account: String,
    campaign_id: Option<i64>,
    lead_id: Option<i64>,
    lead_email: String,
    ours: String,
    reply_at: DateTime<Utc>,
    /// The subject without its "Re: ".
    first_subject: String,
    campaign_name: Option<String>,
    /// The lead's category and name as the batch knew them at this payload.
    lead_category: Option<Category>,
    lead_name: Option<String>,
    items: Vec<SmartleadItem>,
}

impl PendingReply {
    fn conversation(&self) -> SmartleadConversation<'_> {
        SmartleadConversation {
            account: &self.account,
            campaign_id: self.campaign_id.unwrap_or(0),
            lead_id: self.lead_id,
            lead_email: &self.lead_email,
            ours: &self.ours,
        }
    }

    /// The thread after this reply: the stored summary moves with what the
    /// reply adds (`conversation::fold`), so the rest of the conversation is
    /// never read.
    fn advance(&self, known: Option<Thread>, added: &[Message]) -> Thread {
        let category = known
            .as_ref()
            .and_then(|t| t.category.clone())
            .or_else(|| self.lead_category.clone());
        let lead_name = known
            .as_ref()
            .and_then(|t| t.lead_name.clone())
            .or_else(|| self.lead_name.clone());
        match known {
            Some(mut thread) => {
                thread.has_reply = true;
                thread.category = category;
                thread.lead_name = lead_name;
                if thread.campaign_name.is_none() {
                    thread.campaign_name = self.campaign_name.clone();
                }
                crate::conversation::fold(&mut thread, added);
                thread
            }
            None => {
                let mut participants = vec![normalize_email(&self.lead_email)];
                if !self.ours.is_empty() {
                    participants.push(normalize_email(&self.ours));
                }
                let mut thread = Thread {
                    account: self.account.clone(),
                    provider: Provider::Smartlead,
                    provider_thread_id: self.conversation().provider_thread_id(),
                    subject: self.first_subject.clone(),
                    lead_email: Some(self.lead_email.clone()),
                    campaign_id: self.campaign_id,
                    campaign_name: self.campaign_name.clone(),
                    last_message_at: self.reply_at,
                    last_inbound_at: None,
                    message_count: 0,
                    unread: false,
                    has_reply: true,
                    category,
                    snippet: String::new(),
                    participants,
                    lead_name,
                    preview: String::new(),
                    answered_last: false,
                    merged_into: None,
                    sources: Vec::new(),
                };
                crate::conversation::summarize(&mut thread, added);
                thread
            }
        }
    }
}

impl PendingReplies {
    /// Gathers a reply payload's sent email (when it carries one) and the
    /// reply itself (unread) into its conversation.
    fn add(&mut self, engine: &Engine, account: &str, p: &Payload, lead: Option<&Lead>) {
        let (Some(email), Some(reply)) = (&p.lead_email, &p.reply) else {
            return;
        };
        let reply_at = reply.time.or(p.at).unwrap_or_else(|| engine.clock().now());
        let subject = p.subject.clone().unwrap_or_default();
        let first_subject = subject.strip_prefix("Re: ").unwrap_or(&subject).to_string();
        let mut items = Vec::with_capacity(2);
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
        let pending = PendingReply {
            account: account.to_string(),
            campaign_id: p.campaign_id,
            lead_id: p.lead_id.or(lead.and_then(|l| l.smartlead_lead_id)),
            lead_email: email.clone(),
            ours: p.from_email.clone().unwrap_or_default(),
            reply_at,
            first_subject,
            campaign_name: p.campaign_name.clone(),
            lead_category: lead.and_then(|l| l.category.clone()),
            lead_name: lead
                .map(Lead::full_name)
                .filter(|n| !n.trim().is_empty())
                .or_else(|| p.lead_name.clone().filter(|n| !n.trim().is_empty())),
            items,
        };
        let thread_key = pending.conversation().thread_key();
        match self.by_thread.get(&thread_key) {
            Some(&at) => self.conversations[at].1.push(pending),
            None => {
                self.by_thread
                    .insert(thread_key.clone(), self.conversations.len());
                self.conversations.push((thread_key, vec![pending]));
            }
        }
    }

    /// Writes what was gathered and empties it: each conversation's new
    /// messages and its thread moved over them, in one transaction per
    /// conversation that lands only if the thread is still as read and none
    /// of the new messages was written meanwhile (a sync, the rep marking
    /// the thread read); otherwise it is made again from a fresh read. A
    /// conversation that shares a Message-ID with another thread (the rep's
    /// Gmail copy) is then linked with it.
    pub fn write(&mut self, engine: &Engine) -> StoreResult<()> {
        let conversations = std::mem::take(&mut self.conversations);
        self.by_thread.clear();
        for (thread_key, replies) in &conversations {
            let (thread, added) = write_conversation(engine.store(), thread_key, replies)?;
            // The same messages may already be in the rep's Gmail copy.
            crate::conversation::settle_if_linked(engine.store(), &thread, &added)?;
        }
        Ok(())
    }
}

/// One conversation's replies: its new messages and its thread, in one
/// transaction. Returns the thread as written and the messages added.
fn write_conversation(
    store: &Store,
    thread_key: &str,
    replies: &[PendingReply],
) -> StoreResult<(Thread, Vec<Message>)> {
    // A webhook's reply is almost always new, so the first attempt does not
    // look each message up: the transaction's check that it is absent
    // refuses the write if one is not, and the next attempt looks them up.
    let mut look_up_messages = false;
    loop {
        let mut batch = WriteBatch::new();
        let known = store.get::<Thread>(thread_key)?;
        match &known {
            Some(thread) => batch.expect_unchanged(thread)?,
            None => batch.expect_absent::<Thread>(thread_key),
        }
        let mut thread = known;
        let mut added = Vec::new();
        let mut looked_at = HashSet::new();
        for reply in replies {
            let conversation = reply.conversation();
            let start = added.len();
            for item in &reply.items {
                let provider_id = conversation.provider_id(item);
                let key = scoped_key(&reply.account, &provider_id);
                // Only what the cache does not hold yet is written and
                // counted: a redelivered reply keeps the read state the rep
                // gave it.
                if looked_at.insert(key.clone())
                    && !(look_up_messages && store.contains::<Message>(&key)?)
                {
                    batch.expect_absent::<Message>(&key);
                    added.push(conversation.message_with_id(
                        item,
                        provider_id,
                        reply.reply_at,
                        None,
                    ));
                }
            }
            thread = Some(reply.advance(thread, &added[start..]));
        }
        let Some(thread) = thread else {
            return Err(StoreError::Encode {
                kind: Kind::Thread,
                detail: format!("no reply to write to {thread_key}"),
            });
        };
        batch.put_all(&added)?;
        batch.put(&thread)?;
        match store.write_all(&batch) {
            Ok(_) => return Ok((thread, added)),
            Err(StoreError::Changed { kind, key }) => {
                tracing::trace!(?kind, %key, "a reply's conversation changed while being written; again");
                look_up_messages |= kind == Kind::Message;
            }
            Err(other) => return Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(at: Option<&str>) -> Payload {
        let mut v = serde_json::json!({
            "event_type": "EMAIL_OPEN", "campaign_id": 7, "sl_lead_email": "a@x.example",
            "stats_id": "st1",
        });
        if let Some(at) = at {
            v["event_timestamp"] = at.into();
        }
        crate::server::routes::webhooks::parse::parse(&v).expect("payload")
    }

    #[test]
    fn the_delivery_is_asked_for_only_when_the_payload_has_no_time() {
        let now = DateTime::from_timestamp(1_780_000_000, 0).expect("time");
        let timed = open(Some("2026-05-28T10:00:00Z"));
        let event =
            event_for("acme", &timed, || panic!("hashed a timed payload"), now).expect("an event");
        assert!(!event.dedupe_key.contains("delivery:"));
        let untimed = open(None);
        let event = event_for("acme", &untimed, || "req-1".into(), now).expect("an event");
        assert!(
            event.dedupe_key.ends_with("|delivery:req-1"),
            "{}",
            event.dedupe_key
        );
        assert_eq!(event.at, now);
    }
}
