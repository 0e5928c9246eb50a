//! Smartlead → cache. Per campaign: analytics and the mailboxes it sends
//! from (1 request each), leads (100 per page), statistics (500 per page; one
//! row per email sent, with open, click, reply and bounce facts), then the
//! message history of leads whose reply is newer than what the cache holds.
//! Mailboxes last.
//!
//! After its first (full) read, a campaign is polled incrementally: one
//! request asks for the leads with an event since the campaign's cursor
//! (`event_time_gt`), and only when some come back are they, the
//! campaign's analytics, mailboxes and statistics read again. The
//! statistics are re-read whole because the per-day counts are recounted
//! from them; that costs one request per 500 emails sent, and only for a
//! campaign with news. A campaign with none costs that one request.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};

use super::{AccountSummary, SyncEngine, SyncError};
use crate::conversation::smartlead::{SmartleadConversation, SmartleadItem};
use crate::model::{self, *};
use crate::providers::registry::SmartleadAccount;
use crate::providers::smartlead::{self as sl, CampaignId, HistoryKind, LeadId, StatisticsQuery};

const STATS_PAGE: u64 = 500;
const WRITE_CHUNK: usize = 500;

/// How far before its cursor a campaign's incremental poll asks from. The
/// cursor is our clock and event times are Smartlead's, so this covers the
/// skew between them; what it re-reads is written idempotently.
pub const CURSOR_OVERLAP: Duration = Duration::minutes(5);

/// The `Cursor` record holding the time up to which a campaign's events are
/// stored: the start of the last poll that read the campaign.
fn cursor_name(campaign: CampaignId) -> String {
    format!("smartlead-events:{}", campaign.0)
}

fn read_cursor(
    store: &crate::store::Store,
    account: &str,
    campaign: CampaignId,
) -> Result<Option<DateTime<Utc>>, SyncError> {
    let key = scoped_key(account, cursor_name(campaign));
    Ok(store.get::<Cursor>(&key)?.and_then(|cursor| {
        DateTime::parse_from_rfc3339(&cursor.value)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }))
}

/// The dedupe key Smartlead facts share whether they arrive by sync or webhook.
pub fn smartlead_dedupe_key(stats_id: &str, kind: EventType, at: DateTime<Utc>) -> String {
    format!(
        "sl|{stats_id}|{}|{}",
        kind.base().as_str(),
        at.timestamp_millis()
    )
}

pub(super) async fn sync(
    se: &SyncEngine,
    acct: &SmartleadAccount,
) -> Result<AccountSummary, SyncError> {
    let engine = se.engine();
    let store = engine.store();
    let name = acct.name.as_str();
    let client = &acct.client;
    let requests_before = client.metrics().requests;
    // Everything that happened before this instant is read by this poll.
    let poll_started = engine.clock().now();
    let mut summary = AccountSummary {
        account: name.to_string(),
        provider: "smartlead".into(),
        ..AccountSummary::default()
    };

    se.report(|p| p.phase = "categories".into(), name);
    let categories: Vec<Category> = client
        .categories()
        .await?
        .into_iter()
        .map(|c| Category {
            id: c.id,
            name: c.name,
            sentiment: c.sentiment_type,
        })
        .collect();
    let by_id: HashMap<i64, Category> = categories.iter().map(|c| (c.id, c.clone())).collect();
    let existing_account = store.get::<Account>(name)?;
    store.put(&Account {
        name: name.to_string(),
        provider: Provider::Smartlead,
        email: existing_account.as_ref().and_then(|a| a.email.clone()),
        needs_login: false,
        last_sync_ok: None,
        last_error: None,
        categories: categories.clone(),
    })?;

    se.report(|p| p.phase = "campaigns".into(), name);
    let campaigns = client.list_campaigns(acct.client_id).await?;
    summary.campaigns = campaigns.len();
    let total = campaigns.len() as u64;

    let mut leads: BTreeMap<String, Lead> = BTreeMap::new();
    let mut lead_ids: HashMap<String, LeadId> = HashMap::new();
    let mut events: Vec<EmailEvent> = Vec::new();
    let mut days: BTreeMap<(i64, NaiveDate), Counts> = BTreeMap::new();
    // (campaign id, campaign name, lead email) → newest reply time.
    let mut replies: BTreeMap<(i64, String), (String, DateTime<Utc>)> = BTreeMap::new();
    // Campaigns whose every lead was read, and those read at all (whose
    // cursors move once what was read is stored).
    let mut fully_read: HashSet<i64> = HashSet::new();
    let mut cursors: Vec<Cursor> = Vec::new();
    let list_order: HashMap<i64, usize> = campaigns
        .iter()
        .enumerate()
        .map(|(position, c)| (c.id.0, position))
        .collect();

    for (index, campaign) in campaigns.iter().enumerate() {
        let id = campaign.id;
        se.report(
            |p| {
                p.phase = format!("campaign {}", campaign.name);
                p.done = index as u64;
                p.total = Some(total);
            },
            name,
        );
        let stored = store.get::<model::Campaign>(&model::Campaign::key_for(name, id.0))?;
        let cursor = match &stored {
            Some(_) => read_cursor(store, name, id)?,
            None => None,
        };
        let members = match (cursor, stored) {
            (Some(applied_through), Some(stored)) => {
                let changed = client
                    .campaign_leads_with_events_after(id, applied_through - CURSOR_OVERLAP)
                    .await?;
                if changed.is_empty() {
                    // Nothing happened; the list still says its status and name.
                    store.put(&model::Campaign {
                        name: campaign.name.clone(),
                        status: campaign.status.as_str().to_string(),
                        client_id: campaign.client_id,
                        parent_campaign_id: campaign.parent_campaign_id.map(|p| p.0),
                        ..stored
                    })?;
                    continue;
                }
                changed
            }
            _ => {
                fully_read.insert(id.0);
                client.all_campaign_leads(id).await?
            }
        };
        // Polls moments apart would each rewrite the cursor for a window
        // that still reaches back into what was just read; it moves once
        // it can leave at least the overlap behind.
        if cursor.is_none_or(|applied_through| poll_started - applied_through >= CURSOR_OVERLAP) {
            cursors.push(Cursor {
                account: name.to_string(),
                name: cursor_name(id),
                value: poll_started.to_rfc3339_opts(SecondsFormat::Millis, true),
            });
        }
        let analytics = client.campaign_analytics(id).await?;
        // Which mailboxes send for it: a mailbox's bounce rate can only be
        // pinned on it in campaigns it sends alone.
        let mut email_account_ids: Vec<i64> = client
            .campaign_email_accounts(id)
            .await?
            .iter()
            .map(|a| a.id.0)
            .collect();
        email_account_ids.sort_unstable();
        email_account_ids.dedup();
        let lead_stats = analytics.campaign_lead_stats.clone().unwrap_or_default();
        let record = model::Campaign {
            account: name.to_string(),
            id: id.0,
            name: campaign.name.clone(),
            status: campaign.status.as_str().to_string(),
            client_id: campaign.client_id,
            parent_campaign_id: campaign.parent_campaign_id.map(|p| p.0),
            created_at: campaign.created_at,
            sequence_count: analytics.sequence_count as u32,
            counts: Counts {
                sent: analytics.sent_count,
                unique_sent: analytics.unique_sent_count,
                opened: analytics.open_count,
                unique_opened: analytics.unique_open_count,
                clicked: analytics.click_count,
                unique_clicked: analytics.unique_click_count,
                replied: analytics.reply_count,
                bounced: analytics.bounce_count,
                unsubscribed: analytics.unsubscribed_count,
                spam_reported: 0,
                blocked: analytics.block_count,
            },
            lead_stats: LeadStats {
                total: lead_stats.total,
                not_started: lead_stats.not_started,
                in_progress: lead_stats.inprogress,
                completed: lead_stats.completed,
                paused: lead_stats.paused,
                stopped: lead_stats.stopped,
                blocked: lead_stats.blocked,
                interested: lead_stats.interested,
            },
            email_account_ids,
            timezone: campaign
                .scheduler_cron_value
                .as_ref()
                .and_then(|s| s.tz.clone()),
            synced_at: None,
        };
        store.put(&record)?;

        let incremental = !fully_read.contains(&id.0);
        for member in members {
            let email = normalize_email(&member.lead.email);
            if email.is_empty() {
                continue;
            }
            lead_ids.insert(email.clone(), member.lead.id);
            // Listed as changed since the cursor while a conversation with
            // it is known: its history is read again, because a second
            // reply to the same email leaves the statistics row (and its
            // reply time, the first reply's) as it was.
            let thread_key = Thread::key_for(name, &format!("{}:{}", id.0, member.lead.id.0));
            if incremental && store.contains::<Thread>(&thread_key)? {
                replies.insert((id.0, email.clone()), (campaign.name.clone(), poll_started));
            }
            let lead = leads
                .entry(email.clone())
                .or_insert_with(|| lead_from_api(name, &member.lead));
            lead.smartlead_lead_id = Some(member.lead.id.0);
            lead.unsubscribed |= member.lead.is_unsubscribed;
            if lead.created_at.is_none() {
                lead.created_at = member.created_at;
            }
            if let Some(category) = member.lead_category_id.and_then(|c| by_id.get(&c)) {
                lead.category = Some(category.clone());
            }
            lead.status = Some(member.status.as_str().to_string());
            lead.memberships.push(Membership {
                campaign_id: id.0,
                campaign_name: Some(campaign.name.clone()),
                map_id: Some(member.campaign_lead_map_id.0),
                status: Some(member.status.as_str().to_string()),
                category_id: member.lead_category_id,
            });
        }

        let mut offset = 0;
        loop {
            let page = client
                .campaign_statistics(
                    id,
                    &StatisticsQuery {
                        offset,
                        limit: STATS_PAGE,
                        ..StatisticsQuery::default()
                    },
                )
                .await?;
            let fetched = page.data.len() as u64;
            for row in &page.data {
                facts_from_row(
                    name,
                    id.0,
                    row,
                    &mut events,
                    &mut days,
                    &mut replies,
                    &campaign.name,
                );
            }
            offset += fetched;
            if fetched == 0 || offset >= page.total_stats {
                break;
            }
        }
    }

    se.report(|p| p.phase = "leads".into(), name);
    // Last interaction from the facts just read, without losing newer ones
    // (webhooks) the cache already holds.
    let mut newest: HashMap<String, (EventType, DateTime<Utc>)> = HashMap::new();
    for event in &events {
        if event.kind == EventType::CategoryChanged {
            continue;
        }
        let entry = newest
            .entry(normalize_email(&event.lead_email))
            .or_insert((event.kind, event.at));
        if (event.at, event.kind) > (entry.1, entry.0) {
            *entry = (event.kind, event.at);
        }
    }
    summary.leads = leads.len();
    let leads: Vec<(String, Lead)> = leads.into_iter().collect();
    for chunk in leads.chunks(WRITE_CHUNK) {
        // Each lead merged with the one stored, in one transaction that runs
        // again on fresh reads when a webhook writer (here or in another
        // replica) changed one of them meanwhile: no update is lost.
        let by_key: HashMap<String, (&String, &Lead)> = chunk
            .iter()
            .map(|(email, lead)| (lead.key(), (email, lead)))
            .collect();
        let keys: Vec<String> = by_key.keys().cloned().collect();
        // Activity another account saw, for the leads new here; read before
        // the transaction, whose body must not read the store itself.
        let mut seen_elsewhere = HashMap::new();
        for (key, (email, _)) in &by_key {
            if !store.contains::<Lead>(key)? {
                seen_elsewhere.insert(key.clone(), engine.newest_event_for(email)?);
            }
        }
        store.modify::<Lead, ()>(&keys, |key, existing| {
            let (email, lead) = by_key.get(key)?;
            let mut lead = (*lead).clone();
            if let Some(existing) = existing {
                // Memberships this poll did not read stay as stored, unless
                // the campaign was read whole (the lead left it) or is gone.
                let seen: HashSet<i64> = lead.memberships.iter().map(|m| m.campaign_id).collect();
                let kept: Vec<Membership> = existing
                    .memberships
                    .iter()
                    .filter(|m| {
                        list_order.contains_key(&m.campaign_id)
                            && !fully_read.contains(&m.campaign_id)
                            && !seen.contains(&m.campaign_id)
                    })
                    .cloned()
                    .collect();
                if !kept.is_empty() {
                    lead.memberships.extend(kept);
                    read_in_part(&mut lead, &existing, &list_order, &by_id);
                }
                lead.last_event = existing.last_event;
                lead.last_event_at = existing.last_event_at;
                lead.unsubscribed |= existing.unsubscribed;
            } else if let Some(Some((kind, at))) = seen_elsewhere.get(key) {
                // New here, but another account may already have seen activity.
                lead.note_event(*kind, *at);
            }
            lead.memberships.sort_by_key(|m| m.campaign_id);
            if let Some((kind, at)) = newest.get(*email) {
                lead.note_event(*kind, *at);
            }
            Some((lead, ()))
        })?;
    }

    se.report(|p| p.phase = "events".into(), name);
    for chunk in events.chunks(WRITE_CHUNK * 4) {
        summary.new_events += engine.record_events(chunk)?.len();
    }
    let day_records: Vec<CampaignDay> = days
        .into_iter()
        .map(|((campaign_id, date), counts)| CampaignDay {
            account: name.to_string(),
            campaign_id,
            date,
            counts,
        })
        .collect();
    for chunk in day_records.chunks(WRITE_CHUNK) {
        store.put_all(chunk)?;
    }

    se.report(
        |p| {
            p.phase = "replies".into();
            p.done = 0;
            p.total = Some(replies.len() as u64);
        },
        name,
    );
    for (done, ((campaign_id, email), (campaign_name, newest_reply))) in replies.iter().enumerate()
    {
        // A lead this poll did not list (nothing new on it) is known by the
        // id stored with it.
        let stored_id = || -> Result<Option<LeadId>, SyncError> {
            Ok(store
                .get::<Lead>(&Lead::key_for(name, email))?
                .and_then(|l| l.smartlead_lead_id)
                .map(LeadId))
        };
        let Some(lead_id) = lead_ids.get(email).copied().or(stored_id()?) else {
            continue;
        };
        let thread_key = Thread::key_for(name, &format!("{campaign_id}:{}", lead_id.0));
        let known = store.get::<Thread>(&thread_key)?;
        if known
            .as_ref()
            .and_then(|t| t.last_inbound_at)
            .is_some_and(|at| at >= *newest_reply)
        {
            continue;
        }
        let history = client
            .message_history(CampaignId(*campaign_id), lead_id)
            .await?;
        let lead = store.get::<Lead>(&Lead::key_for(name, email))?;
        let written = write_thread_from_history(
            store,
            Conversation {
                account: name,
                campaign_id: *campaign_id,
                campaign_name,
                lead_id,
                lead_email: email,
            },
            &history,
            lead.as_ref(),
        )?;
        summary.messages += written.messages.len();
        crate::outbox::adopt_synced_copies(store, &thread_key, &written.messages)?;
        crate::conversation::settle(store, &thread_key)?;
        summary.threads += 1;
        se.report(|p| p.done = done as u64 + 1, name);
    }

    // What was read is stored: the cursors of the campaigns read may move.
    store.put_all(&cursors)?;

    se.report(|p| p.phase = "mailboxes".into(), name);
    let mailboxes: Vec<Mailbox> = client
        .all_email_accounts()
        .await?
        .into_iter()
        .filter(|m| acct.client_id.is_none() || m.client_id == acct.client_id)
        .map(|m| Mailbox {
            account: name.to_string(),
            id: m.id.0,
            from_email: m.from_email,
            from_name: m.from_name,
            kind: m.account_type,
            daily_limit: m.message_per_day,
            sent_today: Some(m.daily_sent_count),
            warmup_status: m.warmup_details.as_ref().and_then(|w| w.status.clone()),
            warmup_reputation: m
                .warmup_details
                .as_ref()
                .and_then(|w| w.warmup_reputation)
                .map(|r| format!("{r}%")),
            warmup_sent: m.warmup_details.as_ref().map(|w| w.total_sent_count),
            warmup_spam: m.warmup_details.as_ref().map(|w| w.total_spam_count),
            client_id: m.client_id,
        })
        .collect();
    store.put_all(&mailboxes)?;

    summary.requests = client.metrics().requests - requests_before;
    Ok(summary)
}

/// A lead read from some of its campaigns only: what a full read takes from
/// its campaigns in list order (the last one's status, the last category,
/// the first membership's date) comes from all of them, the stored ones
/// included, so a poll and a full read agree.
fn read_in_part(
    lead: &mut Lead,
    existing: &Lead,
    list_order: &HashMap<i64, usize>,
    by_id: &HashMap<i64, Category>,
) {
    let mut in_list_order: Vec<&Membership> = lead.memberships.iter().collect();
    in_list_order.sort_by_key(|m| list_order.get(&m.campaign_id).copied());
    lead.status = in_list_order
        .last()
        .and_then(|m| m.status.clone())
        .or(lead.status.take());
    lead.category = in_list_order
        .iter()
        .rev()
        .find_map(|m| m.category_id.and_then(|id| by_id.get(&id)).cloned());
    lead.created_at = existing.created_at.or(lead.created_at);
}

fn lead_from_api(account: &str, api: &sl::Lead) -> Lead {
    let mut lead = Lead::new(account, &api.email);
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    lead.first_name = non_empty(&api.first_name);
    lead.last_name = non_empty(&api.last_name);
    lead.company = non_empty(&api.company_name);
    lead.linkedin_url = non_empty(&api.linkedin_profile);
    lead.phone = non_empty(&api.phone_number);
    lead.website = non_empty(&api.website).or_else(|| non_empty(&api.company_url));
    lead.location = non_empty(&api.location);
    lead.custom_fields = api.custom_fields.clone();
    lead.timezone = api
        .custom_fields
        .iter()
        .find(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k == "timezone" || k == "time_zone" || k == "tz"
        })
        .map(|(_, v)| v.clone())
        .filter(|tz| tz.parse::<chrono_tz::Tz>().is_ok());
    lead
}

#[allow(clippy::too_many_arguments)]
fn facts_from_row(
    account: &str,
    campaign_id: i64,
    row: &sl::StatisticsRow,
    events: &mut Vec<EmailEvent>,
    days: &mut BTreeMap<(i64, NaiveDate), Counts>,
    replies: &mut BTreeMap<(i64, String), (String, DateTime<Utc>)>,
    campaign_name: &str,
) {
    let email = normalize_email(&row.lead_email);
    if email.is_empty() {
        return;
    }
    let seq = row.sequence_number.map(|n| n as u32);
    let mut push = |kind: EventType, at: DateTime<Utc>, detail: Option<String>| {
        let dedupe_key = smartlead_dedupe_key(&row.stats_id, kind, at);
        events.push(EmailEvent {
            id: EmailEvent::id_for(account, &dedupe_key),
            account: account.to_string(),
            kind: kind.for_sequence_step(seq),
            lead_email: email.clone(),
            campaign_id: Some(campaign_id),
            sequence_number: seq,
            at,
            source: EventSource::Sync,
            dedupe_key,
            message_id: None,
            detail,
        });
    };
    let mut day = |at: DateTime<Utc>, f: &mut dyn FnMut(&mut Counts)| {
        f(days.entry((campaign_id, at.date_naive())).or_default());
    };
    if let Some(sent) = row.sent_time {
        push(EventType::EmailSent, sent, row.email_subject.clone());
        day(sent, &mut |c| c.sent += 1);
        if row.is_bounced {
            push(EventType::EmailBounced, sent, None);
            day(sent, &mut |c| c.bounced += 1);
        }
        if row.is_unsubscribed {
            let at = row.reply_time.or(row.open_time).unwrap_or(sent);
            push(EventType::EmailUnsubscribed, at, None);
        }
    }
    if let Some(opened) = row.open_time.filter(|_| row.open_count > 0) {
        push(EventType::EmailOpened, opened, None);
        day(opened, &mut |c| c.opened += 1);
    }
    if let Some(clicked) = row.click_time.filter(|_| row.click_count > 0) {
        push(EventType::EmailClicked, clicked, None);
        day(clicked, &mut |c| c.clicked += 1);
    }
    if let Some(replied) = row.reply_time {
        push(EventType::EmailReplied, replied, row.lead_category.clone());
        day(replied, &mut |c| c.replied += 1);
        let entry = replies
            .entry((campaign_id, email.clone()))
            .or_insert((campaign_name.to_string(), replied));
        // The newest: a changed lead's entry (the poll's start) stays.
        if replied > entry.1 {
            entry.1 = replied;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn thread_from_history(
    account: &str,
    campaign_id: i64,
    campaign_name: &str,
    lead_id: LeadId,
    lead_email: &str,
    history: &sl::MessageHistory,
    known: Option<&Thread>,
    lead: Option<&Lead>,
    store: &crate::store::Store,
) -> Result<(Thread, Vec<Message>), SyncError> {
    let ours = history.from.clone().unwrap_or_default();
    let conversation = SmartleadConversation {
        account,
        campaign_id,
        lead_id: Some(lead_id.0),
        lead_email,
        ours: &ours,
    };
    let provider_thread_id = conversation.provider_thread_id();
    let undated = known
        .map(|t| t.last_message_at)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let mut messages = Vec::new();
    let mut subject = String::new();
    let mut last_sent_id: Option<String> = None;
    for (index, entry) in history.history.iter().enumerate() {
        let inbound = entry.kind == HistoryKind::Reply;
        let entry_subject = entry.subject.clone().filter(|s| !s.trim().is_empty());
        if subject.is_empty()
            && let Some(s) = &entry_subject
        {
            subject = s.clone();
        }
        let item = SmartleadItem {
            inbound,
            stats_id: entry.stats_id.clone(),
            message_id: entry.message_id.clone(),
            time: entry.time,
            subject: entry_subject.unwrap_or_else(|| crate::engine::reply_subject(&subject)),
            html: entry.email_body.clone(),
            text: None,
            cc: entry.cc.clone(),
            sequence_number: entry.email_seq_number.map(|n| n as u32),
            from: entry.from.clone(),
            to: if inbound {
                entry.to.clone()
            } else {
                entry.to.clone().or_else(|| history.to.clone())
            },
            in_reply_to: if inbound { last_sent_id.clone() } else { None },
            index,
        };
        let read = store
            .get::<Message>(&conversation.message_key(&item))?
            .map(|m| m.read);
        messages.push(conversation.message(&item, undated, read));
        if !inbound {
            last_sent_id = entry.message_id.clone();
        }
    }
    messages.sort_by_key(|m| m.date);
    let category = lead.and_then(|l| {
        l.membership(campaign_id)
            .and_then(|m| m.category_id)
            .and_then(|id| l.category.clone().filter(|c| c.id == id))
            .or_else(|| l.category.clone())
    });
    let mut thread = Thread {
        account: account.to_string(),
        provider: Provider::Smartlead,
        provider_thread_id,
        subject: if subject.is_empty() {
            known.map(|t| t.subject.clone()).unwrap_or_default()
        } else {
            subject
        },
        lead_email: Some(lead_email.to_string()),
        campaign_id: Some(campaign_id),
        campaign_name: Some(campaign_name.to_string()),
        last_message_at: DateTime::UNIX_EPOCH,
        last_inbound_at: None,
        message_count: 0,
        unread: false,
        has_reply: messages.iter().any(|m| m.direction == Direction::Inbound),
        category,
        snippet: String::new(),
        participants: {
            let mut p = vec![normalize_email(lead_email)];
            if !ours.is_empty() {
                p.push(normalize_email(&ours));
            }
            p
        },
        lead_name: lead.map(Lead::full_name).filter(|n| !n.trim().is_empty()),
        preview: String::new(),
        answered_last: false,
        merged_into: known.and_then(|t| t.merged_into.clone()),
        sources: known.map(|t| t.sources.clone()).unwrap_or_default(),
    };
    crate::conversation::summarize(&mut thread, &messages);
    Ok((thread, messages))
}

/// Re-reads one Smartlead conversation (e.g. when the rep opens it), so a
/// follow-up reply the statistics poll cannot see shows up without waiting
/// for a webhook. Returns true when the cache changed.
pub async fn refresh_thread(
    engine: &crate::engine::Engine,
    thread: &Thread,
) -> Result<bool, SyncError> {
    let providers = engine.providers();
    let Some(account) = providers.smartlead.get(&thread.account) else {
        return Ok(false);
    };
    let Some((campaign, lead)) = thread.provider_thread_id.split_once(':') else {
        return Ok(false);
    };
    let (Ok(campaign_id), Ok(lead_id)) = (campaign.parse::<i64>(), lead.parse::<i64>()) else {
        return Ok(false);
    };
    let Some(lead_email) = thread.lead_email.clone() else {
        return Ok(false);
    };
    let history = account
        .client
        .message_history(CampaignId(campaign_id), LeadId(lead_id))
        .await?;
    let store = engine.store();
    let lead = store.get::<Lead>(&Lead::key_for(&thread.account, &lead_email))?;
    let written = write_thread_from_history(
        store,
        Conversation {
            account: &thread.account,
            campaign_id,
            campaign_name: thread.campaign_name.as_deref().unwrap_or_default(),
            lead_id: LeadId(lead_id),
            lead_email: &lead_email,
        },
        &history,
        lead.as_ref(),
    )?;
    crate::outbox::adopt_synced_copies(store, &thread.key(), &written.messages)?;
    crate::conversation::settle(store, &thread.key())?;
    Ok(written.changed)
}

/// Which Smartlead conversation a history belongs to.
struct Conversation<'a> {
    account: &'a str,
    campaign_id: i64,
    campaign_name: &'a str,
    lead_id: LeadId,
    lead_email: &'a str,
}

struct Written {
    messages: Vec<Message>,
    changed: bool,
}

/// Writes a conversation rebuilt from its history, with its messages, as a
/// compare-and-swap on the thread: what the rebuild keeps of the stored
/// thread (its dates, what the rep set locally such as the category) comes
/// from the thread as it is when written, not as it was before the history
/// was fetched.
fn write_thread_from_history(
    store: &crate::store::Store,
    conversation: Conversation<'_>,
    history: &sl::MessageHistory,
    lead: Option<&Lead>,
) -> Result<Written, SyncError> {
    let c = &conversation;
    let thread_key = Thread::key_for(c.account, &format!("{}:{}", c.campaign_id, c.lead_id.0));
    // A sync error other than the store's ends the write; kept to return.
    let failed = std::cell::RefCell::new(None);
    let written = store.modify_together::<Thread, Written>(&thread_key, |known, batch| {
        let rebuilt = thread_from_history(
            c.account,
            c.campaign_id,
            c.campaign_name,
            c.lead_id,
            c.lead_email,
            history,
            known.as_ref(),
            lead,
            store,
        );
        let (mut thread, messages) = match rebuilt {
            Ok(pair) => pair,
            Err(SyncError::Store(e)) => return Err(e),
            Err(other) => {
                *failed.borrow_mut() = Some(other);
                return Ok(None);
            }
        };
        if thread.category.is_none() {
            thread.category = known.as_ref().and_then(|t| t.category.clone());
        }
        let mut new_messages = false;
        for message in &messages {
            new_messages |= store.get::<Message>(&message.key())?.as_ref() != Some(message);
        }
        // Nothing new in the history: the thread stays as the conversation
        // was last settled (its summary may cover a Gmail copy too).
        if known.is_some() && !new_messages {
            return Ok(None);
        }
        let changed = new_messages || known.as_ref() != Some(&thread);
        batch.put_all(&messages)?;
        batch.put(&thread)?;
        Ok(Some(Written { messages, changed }))
    })?;
    match (written, failed.into_inner()) {
        (Some(written), _) => Ok(written),
        (None, Some(err)) => Err(err),
        (None, None) => Ok(Written {
            messages: Vec::new(),
            changed: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn history() -> sl::MessageHistory {
        serde_json::from_value(serde_json::json!({
            "from": "rep@acme.example",
            "to": "dana@ledgerly.example",
            "history": [
                { "type": "SENT", "stats_id": "s1", "message_id": "<m1@acme.example>",
                  "time": "2026-03-02T10:00:00Z", "subject": "Hello", "email_body": "Hi Dana" },
                { "type": "REPLY", "stats_id": "s1", "message_id": "<m2@ledgerly.example>",
                  "time": "2026-03-02T11:00:00Z", "subject": "Re: Hello", "email_body": "Call me" }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_rebuilt_conversation_keeps_the_category_the_thread_has_when_written() {
        let store = Store::temporary().unwrap();
        let conversation = || Conversation {
            account: "sl",
            campaign_id: 7,
            campaign_name: "Q1",
            lead_id: LeadId(42),
            lead_email: "dana@ledgerly.example",
        };
        let first = write_thread_from_history(&store, conversation(), &history(), None).unwrap();
        assert_eq!((first.messages.len(), first.changed), (2, true));
        // The webhook writer sets a category; the lead record has none.
        let key = Thread::key_for("sl", "7:42");
        let mut thread = store.get::<Thread>(&key).unwrap().unwrap();
        thread.category = Some(Category {
            id: 1,
            name: "Interested".into(),
            sentiment: Some("positive".into()),
        });
        store.put(&thread).unwrap();

        let again = write_thread_from_history(&store, conversation(), &history(), None).unwrap();
        assert!(!again.changed, "the same history changes nothing");
        let stored = store.get::<Thread>(&key).unwrap().unwrap();
        assert_eq!(stored.category, thread.category);
        assert_eq!(stored.message_count, 2);
    }
}
