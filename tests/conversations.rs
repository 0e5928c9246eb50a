//! One conversation, whichever provider copies it. The sandbox's rep sends a
//! Smartlead campaign through their own Gmail mailbox, so the same messages
//! reach outpost from both APIs with the same Message-IDs; each must be one
//! conversation, named by the person, and stay so across syncs, sends and a
//! second generation of the same data.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Duration, Utc};
use outpost::clock::{FakeClock, SharedClock};
use outpost::engine::{InboxQuery, ReplyDraft};
use outpost::model::{Direction, Lead, Provider, Thread};
use outpost::outbox::OutboxWorker;
use outpost::sandbox::{self, SandboxOptions};
use outpost::sync::SyncEngine;
use support::{ClientLimit, Rig, fast_rig, rig};

fn inbox(engine: &outpost::engine::Engine) -> Vec<outpost::engine::ThreadView> {
    engine.inbox(&InboxQuery::default()).expect("inbox")
}

/// Inbound Message-ID → the inbox rows whose conversation holds it.
fn rows_per_inbound_message(engine: &outpost::engine::Engine) -> BTreeMap<String, Vec<String>> {
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in inbox(engine) {
        let view = engine.thread(&row.key).unwrap().expect("row opens");
        for message in view.messages {
            if message.direction == Direction::Inbound
                && let Some(id) = message.message_id
            {
                rows.entry(id).or_default().push(row.key.clone());
            }
        }
    }
    rows
}

async fn synced(rig: &Rig) {
    let summary = SyncEngine::new(rig.engine.clone()).sync_all().await;
    assert!(!summary.failed(), "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_reply_sits_in_one_conversation_named_by_the_person() {
    let rig = fast_rig(400, 11).await;
    synced(&rig).await;
    let store = outpost::testing::store(&rig.engine);

    // The overlap is real: conversations reached outpost from both sides.
    let merged: Vec<Thread> = store
        .iter::<Thread>()
        .map(|t| t.unwrap())
        .filter(|t| !t.sources.is_empty())
        .collect();
    assert!(
        merged.len() >= 5,
        "only {} conversations came from both providers",
        merged.len()
    );
    for primary in &merged {
        assert_eq!(primary.provider, Provider::Smartlead, "{}", primary.key());
        for source in &primary.sources {
            let copy: Thread = store.get(source).unwrap().expect("copy kept");
            assert_eq!(copy.provider, Provider::Gmail);
            assert_eq!(copy.merged_into.as_deref(), Some(primary.key().as_str()));
        }
    }

    // Every inbound message is in exactly one inbox row.
    let rows = rows_per_inbound_message(&rig.engine);
    let repeated: Vec<_> = rows.iter().filter(|(_, r)| r.len() > 1).collect();
    assert!(repeated.is_empty(), "in two rows: {repeated:?}");
    let keys: Vec<String> = inbox(&rig.engine).into_iter().map(|r| r.key).collect();
    for copy in merged.iter().flat_map(|t| t.sources.iter()) {
        assert!(!keys.contains(copy), "{copy} is listed on its own");
    }

    // A merged conversation shows each message once, with where it came
    // from, Gmail's MIME and Smartlead's ids.
    let view = rig.engine.thread(&merged[0].key()).unwrap().expect("opens");
    let ids: Vec<_> = view.messages.iter().map(|m| m.message_id.clone()).collect();
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "a message repeats: {ids:?}");
    assert_eq!(view.message_sources.len(), view.messages.len());
    assert!(
        view.message_sources
            .iter()
            .any(|s| s == &vec!["gm".to_string(), "sl".to_string()]),
        "{:?}",
        view.message_sources
    );
    assert!(view.messages.iter().all(|m| m.smartlead.is_some()));
    assert!(
        view.messages
            .iter()
            .any(|m| m.labels.iter().any(|l| l == "SENT"))
    );
    assert_eq!(view.accounts, vec!["sl".to_string(), "gm".to_string()]);
    // Opening a copy's key opens the conversation.
    let through_copy = rig
        .engine
        .thread(&merged[0].sources[0])
        .unwrap()
        .expect("opens");
    assert_eq!(through_copy.key, merged[0].key());

    // Rows name people, and preview the person's words.
    let json = serde_json::to_value(inbox(&rig.engine)).unwrap();
    let mut named = 0;
    for row in json.as_array().unwrap() {
        let email = row["thread"]["lead_email"].as_str().unwrap_or_default();
        let name = row["name"].as_str().unwrap_or_default();
        let lead: Option<Lead> = store.get(&Lead::key_for("sl", email)).unwrap();
        if let Some(lead) = lead.filter(|l| !l.full_name().is_empty()) {
            assert_eq!(name, lead.full_name(), "row of {email}");
            named += 1;
        }
        assert!(!name.is_empty(), "a row without a name: {row}");
        if !row["answered_last"].as_bool().unwrap_or(false) {
            assert!(!row["preview"].as_str().unwrap_or_default().is_empty());
        }
    }
    assert!(named > 0);

    // The lead's timeline lists each message once.
    let email = merged[0].lead_email.clone().expect("lead");
    let lead = rig.engine.lead(&email).unwrap().expect("lead view");
    let mut seen = BTreeSet::new();
    for item in &lead.timeline {
        if let outpost::engine::TimelineItem::Message { key, .. } = item {
            let message = store
                .get::<outpost::model::Message>(key)
                .unwrap()
                .expect("message");
            if let Some(id) = message.message_id {
                assert!(seen.insert(id.clone()), "{id} twice in the timeline");
            }
        }
    }

    // A second sync stores nothing.
    let writes = store.write_count();
    synced(&rig).await;
    assert_eq!(store.write_count(), writes, "the second sync wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_campaign_conversation_shows_once_after_the_next_sync() {
    let rig = fast_rig(400, 12).await;
    synced(&rig).await;
    let store = outpost::testing::store(&rig.engine);
    let conversation = store
        .iter::<Thread>()
        .map(|t| t.unwrap())
        .find(|t| !t.sources.is_empty() && t.has_reply)
        .expect("a merged conversation");
    let key = conversation.key();
    let before = rig.engine.thread(&key).unwrap().unwrap().messages.len();
    let text = "Thanks Dana, I'll send the invite for Tuesday 10:00.";
    let item = rig
        .engine
        .queue_reply(
            &key,
            &ReplyDraft {
                text: text.into(),
                ..ReplyDraft::default()
            },
            Duration::zero(),
        )
        .expect("queued");
    assert_eq!(
        item.provider,
        Provider::Smartlead,
        "campaign replies go through Smartlead"
    );
    OutboxWorker::new(rig.engine.clone())
        .send_due()
        .await
        .expect("sent");
    let ours = |engine: &outpost::engine::Engine| {
        engine
            .thread(&key)
            .unwrap()
            .unwrap()
            .messages
            .iter()
            .filter(|m| m.text_body.contains("invite for Tuesday"))
            .count()
    };
    assert_eq!(ours(&rig.engine), 1, "the sent reply, once");
    let view = rig.engine.thread(&key).unwrap().unwrap();
    assert!(view.answered_last);

    // Smartlead's copy comes back with the conversation's next refresh.
    SyncEngine::new(rig.engine.clone())
        .refresh_thread(&key)
        .await
        .expect("refreshed");
    synced(&rig).await;
    assert_eq!(ours(&rig.engine), 1, "the sent reply, once after sync");
    let after = rig.engine.thread(&key).unwrap().unwrap();
    assert_eq!(after.messages.len(), before + 1);
    assert!(
        after
            .messages
            .iter()
            .all(|m| !m.provider_id.starts_with("outbox-")),
        "the local copy gave way to Smartlead's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_data_generated_again_later_adds_nothing() {
    // What `outpost demo --data-dir D` run twice does: the sandbox makes the
    // same data again, every date moved to the new start.
    let first_start = Utc::now() - Duration::hours(30);
    let options = |at| SandboxOptions {
        leads: 300,
        seed: 5,
        rate_limit: sandbox::RateLimit::unlimited(),
        clock: Arc::new(FakeClock::new(at)) as SharedClock,
        ..SandboxOptions::default()
    };
    let first = rig(options(first_start), ClientLimit(100_000, 1)).await;
    synced(&first).await;
    let store = outpost::testing::store(&first.engine);
    let messages = store.iter::<outpost::model::Message>().count();
    let threads = store.iter::<Thread>().count();
    let rows = inbox(&first.engine).len();

    // The second run: same seed, a day later, into the same data dir.
    let second = sandbox::start(options(first_start + Duration::hours(26)))
        .await
        .expect("sandbox");
    let dir = first.dir.path();
    let config = support::write_config(dir, second.info(), &ClientLimit(100_000, 1));
    support::store_gmail_tokens(&second, &dir.join("data"));
    drop(first.engine);
    let engine = support::engine_for(&config);
    let summary = SyncEngine::new(engine.clone()).sync_all().await;
    assert!(!summary.failed(), "{summary:?}");
    let store = outpost::testing::store(&engine);
    assert_eq!(store.iter::<outpost::model::Message>().count(), messages);
    assert_eq!(store.iter::<Thread>().count(), threads);
    assert_eq!(inbox(&engine).len(), rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_marks_reach_gmail_and_a_sync_does_not_undo_them_meanwhile() {
    use outpost::model::{Message, ReadChange};
    let rig = fast_rig(400, 13).await;
    synced(&rig).await;
    let store = outpost::testing::store(&rig.engine);
    let gmail_unread = |key: &str| -> Vec<Message> {
        let view = rig.engine.thread(key).unwrap().unwrap();
        let mut copies = Vec::new();
        for thread in std::iter::once(view.key.clone()).chain(view.thread.sources.clone()) {
            let prefix = outpost::store::keys::KeyBuf::new()
                .text(&thread)
                .into_prefix();
            for m in
                store.by_index::<Message>(outpost::store::Index::MessagesByThread, &prefix, false)
            {
                let m = m.unwrap();
                if m.account == "gm" && m.direction == Direction::Inbound {
                    copies.push(m);
                }
            }
        }
        copies
    };
    // A conversation from both providers whose reply Gmail shows unread.
    let row = inbox(&rig.engine)
        .into_iter()
        .find(|r| {
            !r.thread.sources.is_empty()
                && r.thread.unread
                && gmail_unread(&r.key).iter().any(|m| !m.read)
        })
        .expect("an unread conversation with a Gmail copy");
    let gmail_ids: Vec<String> = gmail_unread(&row.key)
        .iter()
        .map(|m| m.provider_id.clone())
        .collect();
    let labels = |id: &str| rig.sandbox.google().message_labels(id).unwrap();
    assert!(
        gmail_ids
            .iter()
            .any(|id| labels(id).contains(&"UNREAD".into()))
    );

    // Opening it marks it read here at once, every copy.
    assert!(rig.engine.set_thread_read(&row.key, true).unwrap());
    let view = rig.engine.thread(&row.key).unwrap().unwrap();
    assert!(!view.thread.unread);
    assert!(gmail_unread(&row.key).iter().all(|m| m.read));
    assert!(
        store.iter::<ReadChange>().count() > 0,
        "nothing waits for Gmail"
    );

    // A refresh that reads Gmail before the mark reached it keeps the mark.
    SyncEngine::new(rig.engine.clone())
        .refresh_thread(&row.key)
        .await
        .unwrap();
    assert!(
        gmail_unread(&row.key).iter().all(|m| m.read),
        "the refresh undid the mark"
    );
    assert!(!rig.engine.thread(&row.key).unwrap().unwrap().thread.unread);

    // The next sync takes it to Gmail first.
    synced(&rig).await;
    for id in &gmail_ids {
        assert!(
            !labels(id).contains(&"UNREAD".into()),
            "{id} still unread in Gmail"
        );
    }
    assert_eq!(store.iter::<ReadChange>().count(), 0);

    // Unread again: here, and in Gmail once pushed; the inbox row shows it.
    assert!(rig.engine.set_thread_read(&row.key, false).unwrap());
    assert_eq!(
        outpost::sync::read_state::push_all(&rig.engine).await,
        gmail_ids.len()
    );
    for id in &gmail_ids {
        assert!(
            labels(id).contains(&"UNREAD".into()),
            "{id} not unread in Gmail"
        );
    }
    synced(&rig).await;
    let again = inbox(&rig.engine)
        .into_iter()
        .find(|r| r.key == row.key)
        .unwrap();
    assert!(again.thread.unread);
}

/// The webhook's fast path still links: a reply webhook whose messages the
/// rep's Gmail copy already holds joins that copy into one conversation.
#[test]
fn a_reply_webhook_joins_the_gmail_copy_it_shares_message_ids_with() {
    use outpost::model::{Address, Message};
    use outpost::store::Store;
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    let engine = outpost::engine::Engine::new(
        Store::temporary().unwrap(),
        Arc::new(FakeClock::new(now)) as SharedClock,
    );
    let store = outpost::testing::store(&engine);
    let lead = "dana@ledgerly.example";
    let message = |id: &str, inbound: bool, minutes: i64| Message {
        account: "gm".into(),
        provider_id: format!("g-{id}"),
        thread_key: "gm/t1".into(),
        direction: if inbound {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        message_id: Some(format!("<{id}@mail.example>")),
        in_reply_to: None,
        references: Vec::new(),
        from: Address::new(if inbound { lead } else { "rep@acme.example" }),
        to: vec![Address::new(if inbound {
            "rep@acme.example"
        } else {
            lead
        })],
        cc: Vec::new(),
        subject: "Hello".into(),
        date: now - Duration::minutes(minutes),
        text_body: if inbound {
            "Call me Tuesday".into()
        } else {
            "Hi Dana".into()
        },
        html_body: None,
        attachments: Vec::new(),
        read: !inbound,
        labels: vec![if inbound { "INBOX" } else { "SENT" }.into()],
        smartlead: None,
    };
    store
        .put_all(&[message("s1", false, 60), message("r1", true, 10)])
        .unwrap();
    store
        .put(&Thread {
            account: "gm".into(),
            provider: Provider::Gmail,
            provider_thread_id: "t1".into(),
            subject: "Hello".into(),
            lead_email: Some(lead.into()),
            campaign_id: None,
            campaign_name: None,
            last_message_at: now,
            last_inbound_at: None,
            message_count: 0,
            unread: false,
            has_reply: true,
            category: None,
            snippet: String::new(),
            participants: vec![lead.into()],
            lead_name: None,
            preview: String::new(),
            answered_last: false,
            merged_into: None,
            sources: Vec::new(),
        })
        .unwrap();
    outpost::conversation::settle(store, "gm/t1").unwrap();
    assert_eq!(inbox(&engine).len(), 1);

    let payload = outpost::server::routes::webhooks::parse::parse(&serde_json::json!({
        "event_type": "EMAIL_REPLY", "campaign_id": 7, "sl_email_lead_id": 42,
        "sl_lead_email": lead, "from_email": "rep@acme.example", "stats_id": "st1",
        "subject": "Re: Hello",
        "sent_message": {"message_id": "<s1@mail.example>", "text": "Hi Dana",
                         "time": (now - Duration::minutes(60)).to_rfc3339()},
        "reply_message": {"message_id": "<r1@mail.example>", "text": "Call me Tuesday",
                          "time": (now - Duration::minutes(10)).to_rfc3339()},
    }))
    .unwrap();
    let mut leads = outpost::engine::LeadChanges::default();
    outpost::ingest::apply::apply(&engine, &mut leads, "sl", &payload).unwrap();

    let copy: Thread = store.get("gm/t1").unwrap().unwrap();
    assert_eq!(copy.merged_into.as_deref(), Some("sl/7:42"));
    let rows = inbox(&engine);
    assert_eq!(rows.len(), 1, "the conversation is listed once");
    assert_eq!(rows[0].key, "sl/7:42");
    let view = engine.thread("sl/7:42").unwrap().unwrap();
    assert_eq!(view.messages.len(), 2, "each message once");
    assert!(
        view.message_sources.iter().all(|s| s.len() == 2),
        "{:?}",
        view.message_sources
    );
}
