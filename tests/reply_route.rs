//! The sandbox's Smartlead runs a campaign through the rep's own Gmail
//! mailbox, so whatever it sends or receives there shows up in Gmail too,
//! with the same Message-ID, and stays one message in one conversation.

mod support;

use outpost::engine::{InboxQuery, ReplyDraft};
use outpost::model::{Direction, Provider};
use outpost::outbox::OutboxWorker;
use outpost::sandbox::InjectReply;
use outpost::sync::SyncEngine;
use support::{Rig, fast_rig};

fn sorted(accounts: &[String]) -> Vec<&str> {
    let mut accounts: Vec<&str> = accounts.iter().map(String::as_str).collect();
    accounts.sort_unstable();
    accounts
}

async fn synced(rig: &Rig) {
    let summary = SyncEngine::new(rig.engine.clone()).sync_all().await;
    assert!(!summary.failed(), "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_reply_to_a_campaign_on_the_reps_gmail_lands_in_both_and_is_one_message() {
    let rig = fast_rig(300, 23).await;
    synced(&rig).await;
    let rows = rig.engine.inbox(&InboxQuery::default()).unwrap();
    let both = rows
        .iter()
        .find(|r| r.accounts == ["sl", "gm"])
        .expect("a conversation from both providers");
    let gmail_thread_id = both.thread.sources[0]
        .strip_prefix("gm/")
        .unwrap()
        .to_string();
    let injected = rig
        .sandbox
        .inject_reply(&InjectReply {
            campaign_id: both.thread.campaign_id.unwrap(),
            lead_email: both.thread.lead_email.clone().unwrap(),
            body: "<div>One more question about onboarding.</div>".into(),
            category: None,
        })
        .unwrap();

    // Gmail holds it at once: same Message-ID, unread in the inbox, threaded.
    let held = rig
        .sandbox
        .google()
        .held_message(&injected.message_id)
        .expect("the reply reached the Gmail mailbox");
    assert!(
        held.labels.iter().any(|l| l == "INBOX"),
        "{:?}",
        held.labels
    );
    assert!(
        held.labels.iter().any(|l| l == "UNREAD"),
        "{:?}",
        held.labels
    );
    assert_eq!(held.thread_id, gmail_thread_id);
    let raw = String::from_utf8_lossy(&held.raw);
    assert!(raw.contains("In-Reply-To: <"), "{raw}");
    assert!(raw.lines().any(|l| l.starts_with("References:")), "{raw}");

    // Both accounts bring it (Smartlead's periodic sync sees a follow-up
    // only through the conversation's refresh); it is one message in one
    // conversation.
    SyncEngine::new(rig.engine.clone())
        .refresh_thread(&both.key)
        .await
        .expect("refreshed");
    synced(&rig).await;
    let view = rig.engine.thread(&both.key).unwrap().unwrap();
    let found: Vec<(Direction, &Vec<String>)> = view
        .messages
        .iter()
        .zip(&view.message_sources)
        .filter(|(m, _)| m.message_id.as_deref() == Some(injected.message_id.as_str()))
        .map(|(m, s)| (m.direction, s))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, Direction::Inbound);
    assert_eq!(sorted(found[0].1), ["gm", "sl"]);
    let holding: Vec<String> = rig
        .engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .filter(|row| {
            rig.engine
                .thread(&row.key)
                .unwrap()
                .unwrap()
                .messages
                .iter()
                .any(|m| m.message_id.as_deref() == Some(injected.message_id.as_str()))
        })
        .map(|row| row.key)
        .collect();
    assert_eq!(holding, [both.key.as_str()]);
    assert!(view.thread.unread, "the new reply is unread");

    // Answered through Smartlead: Gmail files the send in SENT, threaded,
    // and once both copies are back it is one message from both accounts.
    let item = rig
        .engine
        .queue_reply(
            &both.key,
            &ReplyDraft {
                text: "Onboarding takes a week; here is the plan.".into(),
                ..ReplyDraft::default()
            },
            chrono::Duration::zero(),
        )
        .unwrap();
    assert_eq!(item.provider, Provider::Smartlead);
    OutboxWorker::new(rig.engine.clone())
        .send_due()
        .await
        .unwrap();
    let posted = rig.sandbox.reply_posts();
    assert_eq!(posted.len(), 1);
    let ours = |engine: &outpost::engine::Engine| -> Vec<Vec<String>> {
        let view = engine.thread(&both.key).unwrap().unwrap();
        view.messages
            .iter()
            .zip(&view.message_sources)
            .filter(|(m, _)| m.text_body.contains("Onboarding takes a week"))
            .map(|(_, s)| sorted(s).into_iter().map(String::from).collect())
            .collect()
    };
    synced(&rig).await;
    assert_eq!(ours(&rig.engine), [vec!["gm"]], "Gmail's copy stands in");
    SyncEngine::new(rig.engine.clone())
        .refresh_thread(&both.key)
        .await
        .expect("refreshed");
    synced(&rig).await;
    assert_eq!(ours(&rig.engine), [vec!["gm", "sl"]]);
    let message_id = rig
        .engine
        .outbox_item(&item.id)
        .unwrap()
        .unwrap()
        .provider_id
        .expect("the send knows its Message-ID");
    let filed = rig
        .sandbox
        .google()
        .held_message(&message_id)
        .expect("the send is in the Gmail mailbox");
    assert_eq!(filed.labels, ["SENT"]);
    assert_eq!(filed.thread_id, gmail_thread_id);
    let raw = String::from_utf8_lossy(&filed.raw);
    assert!(
        raw.contains(&format!("In-Reply-To: {}", injected.message_id)),
        "{raw}"
    );

    // A lead of a campaign sent through another mailbox stays out of Gmail.
    let other = rows.iter().find(|r| r.accounts == ["sl"]).unwrap();
    let elsewhere = rig
        .sandbox
        .inject_reply(&InjectReply {
            campaign_id: other.thread.campaign_id.unwrap(),
            lead_email: other.thread.lead_email.clone().unwrap(),
            body: "<div>Not for the rep's mailbox.</div>".into(),
            category: None,
        })
        .unwrap();
    assert!(
        rig.sandbox
            .google()
            .held_message(&elsewhere.message_id)
            .is_none()
    );
}
