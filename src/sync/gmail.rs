//! Gmail → cache. The first run lists and fetches the mailbox (bounded
//! concurrency, paced inside the quota by the client); later runs replay
//! `history.list` from the stored cursor. An expired cursor (404) triggers a
//! full resync, never a silent skip.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{AccountSummary, SyncEngine, SyncError};
use crate::model::*;
use crate::providers::gmail::{
    self as gm, GmailError, HistoryType, ListMessagesQuery, MessageFormat, mime,
};
use crate::providers::registry::GmailAccount;
use crate::store::{Index, Store, StoreResult, keys::KeyBuf};

/// The newest messages a first sync reads; older mail stays in Gmail.
const FULL_SYNC_LIMIT: usize = 5_000;
const CURSOR: &str = "gmail_history_id";

pub(super) async fn sync(
    se: &SyncEngine,
    acct: &GmailAccount,
) -> Result<AccountSummary, SyncError> {
    let engine = se.engine();
    let store = engine.store();
    let name = acct.name.as_str();
    let mut summary = AccountSummary {
        account: name.to_string(),
        provider: "gmail".into(),
        ..AccountSummary::default()
    };
    let existing = store.get::<Account>(name)?;
    store.put(&Account {
        name: name.to_string(),
        provider: Provider::Gmail,
        email: Some(normalize_email(&acct.email)),
        needs_login: false,
        last_sync_ok: None,
        last_error: None,
        categories: existing.map(|a| a.categories).unwrap_or_default(),
    })?;

    // Marks the rep set go first, so the history read next already has them.
    if let Err(err) = super::read_state::push_read_changes(engine, acct).await {
        tracing::warn!(account = name, error = %err, "read marks not pushed yet");
    }
    // One quota unit a pass keeps label names current (renames included).
    match acct.client.list_labels().await {
        Ok(labels) => {
            store.put(&label_names(name, &labels))?;
        }
        Err(err) => tracing::warn!(account = name, error = %err, "label names not read"),
    }
    let cursor_key = scoped_key(name, CURSOR);
    let cursor = store
        .get::<Cursor>(&cursor_key)?
        .and_then(|c| c.value.parse::<u64>().ok());
    let touched = match cursor {
        None => full_sync(se, acct).await?,
        Some(start) => {
            se.report(|p| p.phase = "history".into(), name);
            let types = [
                HistoryType::MessageAdded,
                HistoryType::MessageDeleted,
                HistoryType::LabelAdded,
                HistoryType::LabelRemoved,
            ];
            match acct.client.list_history_since(start, &types).await {
                Ok(delta) => apply_history(se, acct, delta).await?,
                Err(GmailError::HistoryExpired) => {
                    tracing::info!(account = name, "history cursor expired; full resync");
                    summary.full_resync = true;
                    full_sync(se, acct).await?
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    summary.messages = touched.messages;
    summary.threads = touched.threads.len();
    se.report(|p| p.phase = "threads".into(), name);
    let mut events = Vec::new();
    for thread_key in &touched.threads {
        if let Some(thread) = rebuild_thread(store, name, &acct.email, thread_key)? {
            events.extend(thread_events(store, &thread, &acct.email)?);
        }
    }
    for notice in &touched.bounces {
        events.extend(bounce_events(store, name, &acct.email, notice)?);
    }
    summary.new_events = engine.record_events(&events)?.len();
    if let Some(history_id) = touched.cursor {
        store.put(&Cursor {
            account: name.to_string(),
            name: CURSOR.to_string(),
            value: history_id.to_string(),
        })?;
    }
    Ok(summary)
}

/// What `labels.list` said, as the record of the account's label names.
fn label_names(account: &str, labels: &[gm::types::Label]) -> GmailLabels {
    let mut names: Vec<LabelName> = labels
        .iter()
        .filter_map(|l| {
            let id = l.id.clone()?;
            // Without a type, Gmail's own ids are the ones not named Label_*.
            let system = l
                .label_type
                .as_deref()
                .map_or(!id.starts_with("Label_"), |t| t != "user");
            Some(LabelName {
                name: l.name.clone().unwrap_or_else(|| id.clone()),
                id,
                system,
            })
        })
        .collect();
    names.sort_by(|a, b| a.id.cmp(&b.id));
    GmailLabels {
        account: account.to_string(),
        labels: names,
    }
}

#[derive(Default)]
struct Touched {
    messages: usize,
    threads: BTreeSet<String>,
    cursor: Option<u64>,
    /// Delivery status notifications among the messages read.
    bounces: Vec<BounceNotice>,
}

/// A bounce notice as read, before it is matched to the mail it returns.
struct BounceNotice {
    provider_id: String,
    at: DateTime<Utc>,
    failure: gm::dsn::DeliveryFailure,
    /// The notice's own In-Reply-To, when it has no returned headers.
    in_reply_to: Option<String>,
}

async fn full_sync(se: &SyncEngine, acct: &GmailAccount) -> Result<Touched, SyncError> {
    let name = acct.name.as_str();
    let store = se.engine().store();
    se.report(|p| p.phase = "listing".into(), name);
    // The profile's history id, taken before listing, is a safe floor for the cursor.
    let floor = acct.client.profile().await?.history_id;
    let refs = acct
        .client
        .list_all_message_ids(&ListMessagesQuery::default(), Some(FULL_SYNC_LIMIT))
        .await?;
    let ids: Vec<String> = refs.into_iter().filter_map(|r| r.id).collect();
    let mut touched = Touched {
        cursor: floor,
        ..Touched::default()
    };
    let total = ids.len() as u64;
    for (batch, chunk) in ids.chunks(100).enumerate() {
        se.report(
            |p| {
                p.phase = "messages".into();
                p.done = (batch * 100) as u64;
                p.total = Some(total);
            },
            name,
        );
        let fetched = acct.client.get_messages(chunk, MessageFormat::Full).await?;
        store_messages(store, acct, &fetched, &mut touched)?;
    }
    // Messages the cache holds that the mailbox no longer lists are gone.
    let listed: BTreeSet<String> = ids.iter().map(|id| scoped_key(name, id)).collect();
    let stale: Vec<Message> = store
        .scan_prefix::<Message>(&format!("{name}/"))
        .collect::<StoreResult<Vec<_>>>()?
        .into_iter()
        .filter(|m| !listed.contains(&m.key()))
        .collect();
    for message in stale {
        touched.threads.insert(message.thread_key.clone());
        store.delete::<Message>(&message.key())?;
    }
    Ok(touched)
}

async fn apply_history(
    se: &SyncEngine,
    acct: &GmailAccount,
    delta: gm::HistoryDelta,
) -> Result<Touched, SyncError> {
    let name = acct.name.as_str();
    let store = se.engine().store();
    let mut refetch = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    for record in &delta.records {
        for change in &record.messages_added {
            if let Some(id) = change.message.as_ref().and_then(|m| m.id.clone()) {
                refetch.insert(id);
            }
        }
        for change in record.labels_added.iter().chain(&record.labels_removed) {
            if let Some(id) = change.message.as_ref().and_then(|m| m.id.clone()) {
                refetch.insert(id);
            }
        }
        for change in &record.messages_deleted {
            if let Some(id) = change.message.as_ref().and_then(|m| m.id.clone()) {
                deleted.insert(id);
            }
        }
    }
    let mut touched = Touched {
        cursor: delta.history_id,
        ..Touched::default()
    };
    let ids: Vec<String> = refetch.difference(&deleted).cloned().collect();
    for chunk in ids.chunks(100) {
        // A message deleted since the record was written comes back 404 and is skipped.
        let fetched = acct.client.get_messages(chunk, MessageFormat::Full).await?;
        store_messages(store, acct, &fetched, &mut touched)?;
    }
    for id in deleted {
        let key = scoped_key(name, &id);
        if let Some(message) = store.get::<Message>(&key)? {
            touched.threads.insert(message.thread_key.clone());
            store.delete::<Message>(&key)?;
        }
    }
    Ok(touched)
}

fn store_messages(
    store: &Store,
    acct: &GmailAccount,
    fetched: &[gm::types::Message],
    touched: &mut Touched,
) -> Result<(), SyncError> {
    let mut records = Vec::with_capacity(fetched.len());
    for message in fetched {
        match to_record(&acct.name, &acct.email, message) {
            Some(mut record) => {
                // A mark the rep set that has not reached Gmail yet wins
                // over the labels Gmail still shows.
                if let Some(change) = store.get::<ReadChange>(&record.key())? {
                    record.read = change.read;
                }
                touched.threads.insert(record.thread_key.clone());
                if record.direction == Direction::Inbound
                    && let Some(failure) = gm::dsn::read_delivery_failure(message)
                {
                    touched.bounces.push(BounceNotice {
                        provider_id: record.provider_id.clone(),
                        at: record.date,
                        failure,
                        in_reply_to: record.in_reply_to.clone(),
                    });
                }
                records.push(record);
            }
            None => {
                tracing::warn!(account = %acct.name, "skipped a message that could not be read")
            }
        }
        if let Some(h) = message.history_id
            && touched.cursor.is_none_or(|c| h > c)
        {
            touched.cursor = Some(h);
        }
    }
    touched.messages += records.len();
    store.put_all(&records)?;
    Ok(())
}

fn bracketed(id: &str) -> String {
    let bare = mime::bare_message_id(id);
    format!("<{bare}>")
}

/// A Gmail message as a cache record; None when it has no usable ids.
fn to_record(account: &str, mailbox: &str, message: &gm::types::Message) -> Option<Message> {
    let id = message.id.clone()?;
    let thread_id = message.thread_id.clone().unwrap_or_else(|| id.clone());
    let parsed = mime::parse_gmail_message(message).ok()?;
    let from = parsed
        .from
        .as_ref()
        .map(|m| Address {
            name: m.name.clone(),
            email: normalize_email(&m.address),
        })
        .unwrap_or_default();
    let outbound =
        from.email == normalize_email(mailbox) || message.label_ids.iter().any(|l| l == "SENT");
    let date = message
        .internal_date
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .or(parsed.date)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let addresses = |list: &[mime::Mailbox]| -> Vec<Address> {
        list.iter()
            .map(|m| Address {
                name: m.name.clone(),
                email: normalize_email(&m.address),
            })
            .collect()
    };
    Some(Message {
        account: account.to_string(),
        provider_id: id,
        thread_key: Thread::key_for(account, &thread_id),
        direction: if outbound {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        message_id: parsed.message_id.as_deref().map(bracketed),
        in_reply_to: parsed.in_reply_to.as_deref().map(bracketed),
        references: parsed.references.iter().map(|r| bracketed(r)).collect(),
        from,
        to: addresses(&parsed.to),
        cc: addresses(&parsed.cc),
        subject: parsed.subject.clone().unwrap_or_default(),
        date,
        text_body: parsed.text_body.clone().unwrap_or_default(),
        html_body: parsed.html_body.clone(),
        attachments: parsed
            .attachments
            .iter()
            .map(|a| Attachment {
                filename: a.filename.clone().unwrap_or_else(|| "(unnamed)".into()),
                mime_type: a.mime_type.clone(),
                size: a.size,
            })
            .collect(),
        read: !message.label_ids.iter().any(|l| l == "UNREAD"),
        labels: message.label_ids.clone(),
        smartlead: None,
    })
}

fn is_known_lead(store: &Store, email: &str) -> StoreResult<bool> {
    let prefix = KeyBuf::new().text(email).into_prefix();
    Ok(store.index_len(Index::LeadsByEmail, &prefix) > 0)
}

/// Recomputes a thread from its cached messages (or removes it when empty).
/// Addresses that send bounces and other notices on a mail system's behalf.
fn is_mail_system(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or_default();
    matches!(local, "mailer-daemon" | "postmaster" | "mail-daemon")
}

fn rebuild_thread(
    store: &Store,
    account: &str,
    mailbox: &str,
    thread_key: &str,
) -> StoreResult<Option<Thread>> {
    let prefix = KeyBuf::new().text(thread_key).into_prefix();
    let messages: Vec<Message> = store
        .by_index::<Message>(Index::MessagesByThread, &prefix, false)
        .collect::<StoreResult<_>>()?;
    if messages.is_empty() {
        store.delete::<Thread>(thread_key)?;
        return Ok(None);
    }
    let ours = normalize_email(mailbox);
    let mut participants: BTreeSet<String> = BTreeSet::new();
    for m in &messages {
        participants.extend(m.addresses());
    }
    participants.remove(&ours);
    let mut lead_email = None;
    for p in &participants {
        if is_known_lead(store, p)? {
            lead_email = Some(p.clone());
            break;
        }
    }
    let has_outbound = messages.iter().any(|m| m.direction == Direction::Outbound);
    let has_inbound = messages.iter().any(|m| m.direction == Direction::Inbound);
    let lead_known = lead_email.is_some();
    // Else whom we wrote to (a bounce's mailer daemon is a participant too,
    // and must not become the person of the conversation), else anyone
    // but a mail system.
    let lead_email = lead_email
        .or_else(|| {
            messages
                .iter()
                .filter(|m| m.direction == Direction::Outbound)
                .flat_map(|m| m.to.iter())
                .map(|a| normalize_email(&a.email))
                .find(|a| *a != ours && !is_mail_system(a))
        })
        .or_else(|| participants.iter().find(|p| !is_mail_system(p)).cloned())
        .or_else(|| participants.iter().next().cloned());
    let provider_thread_id = thread_key
        .split_once('/')
        .map(|(_, id)| id.to_string())
        .unwrap_or_default();
    let mut thread = Thread {
        account: account.to_string(),
        provider: Provider::Gmail,
        provider_thread_id,
        subject: messages[0].subject.clone(),
        lead_email,
        campaign_id: None,
        campaign_name: None,
        last_message_at: messages[0].date,
        last_inbound_at: None,
        message_count: 0,
        unread: false,
        // A reply is mail from someone we wrote to, or from a known lead;
        // newsletters stay out of the inbox.
        has_reply: has_inbound && (has_outbound || lead_known),
        category: None,
        snippet: String::new(),
        participants: participants.into_iter().collect(),
        lead_name: None,
        preview: String::new(),
        answered_last: false,
        merged_into: None,
        sources: Vec::new(),
    };
    crate::conversation::summarize(&mut thread, &messages);
    // The rep's category and the links to the conversation's other copies
    // are kept as they are when the thread is written (a webhook or a merge
    // may change them meanwhile).
    let written = store.modify::<Thread, Thread>(&[thread_key.to_string()], |_, stored| {
        let mut thread = thread.clone();
        if let Some(stored) = stored {
            thread.category = stored.category;
            thread.merged_into = stored.merged_into;
            thread.sources = stored.sources;
        }
        Some((thread.clone(), thread))
    })?;
    crate::conversation::settle(store, thread_key)?;
    // A reply outpost sent through Smartlead may come back first as the
    // copy in this mailbox (Smartlead sent it from here): it takes the
    // place of the local copy kept in the conversation's Smartlead thread.
    if let Some(primary) = store.get::<Thread>(thread_key)?.and_then(|t| t.merged_into)
        && crate::outbox::adopt_synced_copies(store, &primary, &messages)? > 0
    {
        crate::conversation::settle(store, thread_key)?;
    }
    Ok(written.into_iter().next())
}

/// Sent and replied events for a conversation, so a lead's last interaction
/// and the sequences see Gmail activity too.
fn thread_events(store: &Store, thread: &Thread, mailbox: &str) -> StoreResult<Vec<EmailEvent>> {
    let Some(lead) = thread.lead_email.clone() else {
        return Ok(Vec::new());
    };
    // Whether the counterpart is a lead may not be known yet (another account
    // may still be syncing), so the events do not depend on it: what we sent
    // always counts, and so does an answer in a conversation.
    let answers_count = thread.has_reply || is_known_lead(store, &lead)?;
    let ours = normalize_email(mailbox);
    let prefix = KeyBuf::new().text(&thread.key()).into_prefix();
    let mut out = Vec::new();
    for message in store.by_index::<Message>(Index::MessagesByThread, &prefix, false) {
        let message = message?;
        let kind = match message.direction {
            Direction::Outbound if message.to.iter().any(|a| a.email != ours) => {
                EventType::EmailSent
            }
            Direction::Inbound if answers_count && message.from.email == lead => {
                EventType::EmailReplied
            }
            _ => continue,
        };
        let dedupe_key = format!("gmail|{}|{}", message.provider_id, kind.as_str());
        out.push(EmailEvent {
            id: EmailEvent::id_for(&thread.account, &dedupe_key),
            account: thread.account.clone(),
            kind,
            lead_email: lead.clone(),
            campaign_id: None,
            sequence_number: None,
            at: message.date,
            source: EventSource::Sync,
            dedupe_key,
            message_id: message.message_id.clone(),
            detail: Some(message.subject.clone()),
        });
    }
    Ok(out)
}

/// `bounced` events for a delivery status notification: one per failed
/// recipient, matched to the sent message it returns (by the Message-ID in
/// the returned headers, else the notice's In-Reply-To). When the notice
/// names nobody, the returned message's recipients are the ones that failed;
/// when it names someone the returned message was not sent to, that address
/// is left alone (a notice quoting a colleague's address is not a bounce of
/// the colleague).
fn bounce_events(
    store: &Store,
    account: &str,
    mailbox: &str,
    notice: &BounceNotice,
) -> StoreResult<Vec<EmailEvent>> {
    let original_id = notice
        .failure
        .original_message_id
        .clone()
        .or_else(|| notice.in_reply_to.clone());
    let original = match &original_id {
        Some(id) => store
            .by_index::<Message>(
                Index::MessagesByMessageId,
                &KeyBuf::new().text(id).into_prefix(),
                false,
            )
            .find_map(|m| m.ok().filter(|m| m.direction == Direction::Outbound)),
        None => None,
    };
    // Addresses picked out of a notice's prose count only against a message
    // we sent them (a postmaster's note may quote anyone).
    if notice.failure.read_from_prose && original.is_none() {
        return Ok(Vec::new());
    }
    let ours = normalize_email(mailbox);
    let mut failed = notice.failure.recipients.clone();
    if let Some(original) = &original {
        let sent_to: BTreeSet<String> = original
            .to
            .iter()
            .chain(&original.cc)
            .map(|a| a.email.clone())
            .collect();
        if failed.is_empty() {
            failed = sent_to
                .iter()
                .filter(|a| **a != ours)
                .map(|email| gm::dsn::FailedRecipient {
                    email: email.clone(),
                    class: BounceClass::Hard,
                    status: None,
                    reason: "delivery failed".into(),
                })
                .collect();
        } else {
            failed.retain(|r| sent_to.contains(&r.email));
        }
    }
    failed.retain(|r| r.email != ours);
    Ok(failed
        .into_iter()
        .map(|r| {
            let dedupe_key = format!("gmail|{}|bounce|{}", notice.provider_id, r.email);
            EmailEvent {
                id: EmailEvent::id_for(account, &dedupe_key),
                account: account.to_string(),
                kind: EventType::EmailBounced,
                lead_email: r.email,
                campaign_id: None,
                sequence_number: None,
                at: notice.at,
                source: EventSource::Sync,
                dedupe_key,
                message_id: original
                    .as_ref()
                    .and_then(|m| m.message_id.clone())
                    .or_else(|| original_id.clone()),
                detail: Some(bounce_detail(r.class, r.status.as_deref(), &r.reason)),
            }
        })
        .collect())
}

/// Re-reads one Gmail conversation (e.g. when the rep opens it).
pub async fn refresh_thread(
    engine: &crate::engine::Engine,
    thread: &Thread,
) -> Result<bool, SyncError> {
    let providers = engine.providers();
    let Some(account) = providers.gmail.get(&thread.account) else {
        return Ok(false);
    };
    let fetched = account
        .client
        .get_thread(&thread.provider_thread_id, gm::ThreadFormat::Full)
        .await?;
    let store = engine.store();
    let mut touched = Touched::default();
    let writes = store.write_count();
    store_messages(store, account, &fetched.messages, &mut touched)?;
    rebuild_thread(store, &account.name, &account.email, &thread.key())?;
    Ok(store.write_count() > writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_kept_in_angle_brackets() {
        assert_eq!(bracketed("abc@x"), "<abc@x>");
        assert_eq!(bracketed("<abc@x>"), "<abc@x>");
    }

    #[test]
    fn thread_rebuild_keeps_newsletters_out_of_the_inbox() {
        let store = Store::temporary().unwrap();
        let at = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let news = Message {
            account: "me".into(),
            provider_id: "n1".into(),
            thread_key: "me/n1".into(),
            direction: Direction::Inbound,
            message_id: None,
            in_reply_to: None,
            references: vec![],
            from: Address::new("news@letters.example"),
            to: vec![Address::new("rep@acme.example")],
            cc: vec![],
            subject: "Weekly digest".into(),
            date: at,
            text_body: "News".into(),
            html_body: None,
            attachments: vec![],
            read: false,
            labels: vec!["INBOX".into(), "UNREAD".into()],
            smartlead: None,
        };
        store.put(&news).unwrap();
        let thread = rebuild_thread(&store, "me", "rep@acme.example", "me/n1")
            .unwrap()
            .unwrap();
        assert!(!thread.has_reply);
        assert!(thread.unread);
        assert_eq!(thread.lead_email.as_deref(), Some("news@letters.example"));
    }

    #[test]
    fn a_bounce_in_the_thread_does_not_become_its_person() {
        let store = Store::temporary().unwrap();
        let at = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let sent = Message {
            account: "me".into(),
            provider_id: "s1".into(),
            thread_key: "me/t1".into(),
            direction: Direction::Outbound,
            message_id: Some("<s1@acme.example>".into()),
            in_reply_to: None,
            references: vec![],
            from: Address::new("rep@acme.example"),
            to: vec![Address {
                name: Some("Theo Larsen".into()),
                email: "theo@havenify.example".into(),
            }],
            cc: vec![],
            subject: "Theo, quick question".into(),
            date: at,
            text_body: "Hi Theo".into(),
            html_body: None,
            attachments: vec![],
            read: true,
            labels: vec!["SENT".into()],
            smartlead: None,
        };
        let bounce = Message {
            provider_id: "b1".into(),
            direction: Direction::Inbound,
            message_id: Some("<b1@googlemail.com>".into()),
            in_reply_to: Some("<s1@acme.example>".into()),
            from: Address {
                name: Some("Mail Delivery Subsystem".into()),
                email: "mailer-daemon@googlemail.com".into(),
            },
            to: vec![Address::new("rep@acme.example")],
            subject: "Delivery Status Notification (Failure)".into(),
            date: at + chrono::Duration::minutes(1),
            text_body: "** Address not found **".into(),
            read: false,
            labels: vec!["INBOX".into(), "UNREAD".into()],
            ..sent.clone()
        };
        store.put_all(&[sent, bounce]).unwrap();
        let thread = rebuild_thread(&store, "me", "rep@acme.example", "me/t1")
            .unwrap()
            .unwrap();
        assert_eq!(thread.lead_email.as_deref(), Some("theo@havenify.example"));
        assert_eq!(thread.person(), "Theo Larsen");
    }
}
