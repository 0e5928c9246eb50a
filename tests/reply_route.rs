//! The route a reply takes: Smartlead's reply-email-thread by default for a
//! campaign conversation, or the rep's own Gmail in the Gmail copy's thread
//! when asked. The sandbox's Smartlead runs the campaign through that same
//! mailbox, so whatever it sends or receives there shows up in Gmail too,
//! with the same Message-ID, and stays one message in one conversation.

mod support;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use outpost::engine::{InboxQuery, ReplyDraft};
use outpost::model::{Direction, Provider};
use outpost::outbox::OutboxWorker;
use outpost::sandbox::InjectReply;
use outpost::sync::SyncEngine;
use serde_json::Value;
use support::{Rig, fast_rig};

fn run(args: Vec<String>, config: std::path::PathBuf) -> (i32, String, String) {
    let out = Command::cargo_bin("outpost")
        .unwrap()
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sorted(accounts: &[String]) -> Vec<&str> {
    let mut accounts: Vec<&str> = accounts.iter().map(String::as_str).collect();
    accounts.sort_unstable();
    accounts
}

async fn synced(rig: &Rig) {
    let summary = SyncEngine::new(rig.engine.clone()).sync_all().await;
    assert!(!summary.failed(), "{summary:?}");
}

/// The messages of a conversation (as `thread --json` prints it) whose text
/// contains `needle`, each with the accounts it came through.
fn messages_with(thread: &Value, needle: &str) -> Vec<Vec<String>> {
    let messages = thread["messages"].as_array().unwrap();
    let sources = thread["message_sources"].as_array().unwrap();
    messages
        .iter()
        .zip(sources)
        .filter(|(m, _)| m["text_body"].as_str().unwrap_or_default().contains(needle))
        .map(|(_, s)| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_replies_through_the_route_asked_for_and_each_reply_shows_once() {
    let rig = fast_rig(300, 21).await;
    let config = rig.config_path.clone();
    drop(rig.engine); // the CLI opens the data dir itself
    let cli = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let config = config.clone();
        tokio::task::spawn_blocking(move || run(args, config))
    };
    let (code, out, err) = cli(&["sync", "--once"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let (_, inbox, _) = cli(&["inbox", "--json"]).await.unwrap();
    let inbox: Value = serde_json::from_str(&inbox).unwrap();
    let accounts = |row: &Value| -> Vec<String> {
        row["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    let rows = inbox.as_array().unwrap();
    let both = rows
        .iter()
        .find(|r| accounts(r) == ["sl", "gm"])
        .expect("a campaign conversation sent through the rep's Gmail");
    let key = both["key"].as_str().unwrap().to_string();
    let gmail_copy = both["thread"]["sources"][0].as_str().unwrap().to_string();
    let gmail_thread_id = gmail_copy.strip_prefix("gm/").unwrap().to_string();
    let smartlead_only = rows
        .iter()
        .find(|r| accounts(r) == ["sl"])
        .expect("a campaign conversation sent through another mailbox");
    let smartlead_only = smartlead_only["key"].as_str().unwrap().to_string();
    let (_, before, _) = cli(&["thread", &key, "--json"]).await.unwrap();
    let before: Value = serde_json::from_str(&before).unwrap();
    let answered = before["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["direction"] == "inbound")
        .expect("the lead wrote")["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let google = rig.sandbox.google().clone();
    let gmail_sends = google.sent_messages().len();

    // From the rep's Gmail: a Gmail send in the copy's thread, nothing to Smartlead.
    let (code, out, err) = cli(&[
        "reply",
        &key,
        "--body",
        "From my own mailbox: Tuesday works.",
        "--via",
        "gmail",
        "--json",
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let item: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(item["route"], "gmail");
    assert_eq!(item["state"], "sent");
    assert!(item["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(rig.sandbox.reply_posts().is_empty(), "Smartlead got a post");
    let sent = google.sent_messages();
    assert_eq!(sent.len(), gmail_sends + 1, "one Gmail send");
    let ours = sent.last().unwrap();
    assert_eq!(
        ours.thread_id, gmail_thread_id,
        "in the Gmail copy's thread"
    );
    let raw = String::from_utf8_lossy(&ours.raw);
    assert!(raw.contains(&format!("In-Reply-To: {answered}")), "{raw}");
    assert!(
        raw.contains("References:") && raw.matches(answered.as_str()).count() == 2,
        "{raw}"
    );

    // The default: Smartlead's reply-email-thread, mirrored into Gmail's SENT.
    let (code, out, err) = cli(&[
        "reply",
        &key,
        "--body",
        "Through the campaign: Tuesday works.",
        "--json",
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let item: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(item["route"], "smartlead");
    assert_eq!(rig.sandbox.reply_posts().len(), 1, "one Smartlead post");
    assert_eq!(
        google.sent_messages().len(),
        gmail_sends + 1,
        "no Gmail send"
    );
    let (code, out, _) = cli(&["reply", &key, "--body", "x", "--via", "smartlead", "--json"])
        .await
        .unwrap();
    assert_eq!(code, 0, "--via smartlead is accepted: {out}");
    assert_eq!(rig.sandbox.reply_posts().len(), 2);

    // After the next sync each reply is one message of the conversation.
    let (code, out, err) = cli(&["sync", "--once"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let (_, thread, _) = cli(&["thread", &key, "--json"]).await.unwrap();
    let thread: Value = serde_json::from_str(&thread).unwrap();
    assert_eq!(
        messages_with(&thread, "From my own mailbox"),
        [vec!["gm".to_string()]]
    );
    // The poll lists the lead as changed, so Smartlead's copy is read in
    // the same sync as the one in the rep's Gmail: one message, both copies.
    assert_eq!(
        messages_with(&thread, "Through the campaign"),
        [vec!["gm".to_string(), "sl".to_string()]]
    );
    let (_, copy, _) = cli(&["thread", &gmail_copy, "--json"]).await.unwrap();
    let copy: Value = serde_json::from_str(&copy).unwrap();
    assert_eq!(copy["key"], key.as_str(), "the copy opens the conversation");

    // Bad routes change nothing and say what exists.
    let (code, out, err) = cli(&["reply", &smartlead_only, "--body", "Hi", "--via", "gmail"])
        .await
        .unwrap();
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("no gmail copy") && err.contains("smartlead (sl"),
        "{err}"
    );
    let (code, _, err) = cli(&["reply", &key, "--body", "Hi", "--via", "pigeon"])
        .await
        .unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("smartlead or gmail"), "{err}");
    assert_eq!(rig.sandbox.reply_posts().len(), 2);
    assert_eq!(google.sent_messages().len(), gmail_sends + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_of_a_conversation_name_provider_account_and_mailbox() {
    let rig = fast_rig(300, 22).await;
    synced(&rig).await;
    let rows = rig.engine.inbox(&InboxQuery::default()).unwrap();
    let both = rows
        .iter()
        .find(|r| r.accounts == ["sl", "gm"])
        .expect("a conversation from both providers");
    let mailbox = rig.sandbox.info().gmail_email.clone();
    let routes = rig.engine.reply_routes(&both.key).unwrap();
    let providers: Vec<Provider> = routes.iter().map(|r| r.provider).collect();
    assert_eq!(providers, [Provider::Smartlead, Provider::Gmail]);
    assert_eq!(routes[0].account, "sl");
    assert_eq!(routes[0].thread_key, both.key);
    assert_eq!(routes[0].mailbox.as_deref(), Some(mailbox.as_str()));
    assert_eq!(routes[1].account, "gm");
    assert_eq!(routes[1].thread_key, both.thread.sources[0]);
    assert_eq!(routes[0].label(), format!("via Smartlead · sl · {mailbox}"));
    assert_eq!(routes[1].label(), format!("via Gmail · {mailbox}"));
    // The Gmail copy's key lists the same routes, the conversation's default first.
    assert_eq!(
        rig.engine.reply_routes(&both.thread.sources[0]).unwrap(),
        routes
    );

    let only = rows.iter().find(|r| r.accounts == ["sl"]).unwrap();
    let routes = rig.engine.reply_routes(&only.key).unwrap();
    assert_eq!(routes.len(), 1);
    let refused = rig
        .engine
        .queue_reply(
            &only.key,
            &ReplyDraft {
                text: "Hi".into(),
                route: Some(Provider::Gmail),
                ..ReplyDraft::default()
            },
            chrono::Duration::zero(),
        )
        .unwrap_err();
    assert!(refused.to_string().contains("no gmail copy"), "{refused}");
    assert!(
        rig.engine
            .outbox_in_state(outpost::model::OutboxState::Pending)
            .unwrap()
            .is_empty(),
        "a refused reply was queued"
    );
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
    // The poll lists the lead as changed, so its history is read again:
    // Smartlead's copy joins Gmail's in the same sync.
    synced(&rig).await;
    assert_eq!(
        ours(&rig.engine),
        [vec!["gm", "sl"]],
        "one message, both copies"
    );
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
