//! Done, snooze and reminders against the sandbox, driven through the door
//! as the CLI drives it, with the injected clock: an archived conversation
//! comes back when the person writes; a snoozed one returns at its time, or
//! earlier on a reply, listed first; a reminder is announced once.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use outpost::clock::{Clock, FakeClock};
use outpost::engine::door::{Request, Response};
use outpost::engine::{Engine, InboxQuery, ThreadView};
use outpost::model::TriageState;
use outpost::sandbox::{self, InjectReply, SandboxOptions};
use outpost::store::Change;
use outpost::sync::SyncEngine;
use support::{ClientLimit, rig};

fn start() -> DateTime<Utc> {
    "2026-03-02T15:00:00Z".parse().unwrap()
}

async fn clocked_rig(clock: &FakeClock) -> support::Rig {
    rig(
        SandboxOptions {
            leads: 300,
            seed: 11,
            rate_limit: sandbox::RateLimit::unlimited(),
            clock: Arc::new(clock.clone()),
            ..SandboxOptions::default()
        },
        ClientLimit(100_000, 1),
    )
    .await
}

async fn call(engine: &Engine, request: Request) -> Response {
    engine.execute(request).await.expect("the door answers")
}

async fn list(engine: &Engine, query: InboxQuery) -> Vec<ThreadView> {
    match call(engine, Request::Inbox { query }).await {
        Response::Threads(rows) => rows,
        other => panic!("unexpected {other:?}"),
    }
}

async fn inbox(engine: &Engine) -> Vec<ThreadView> {
    list(engine, InboxQuery::default()).await
}

fn keys(rows: &[ThreadView]) -> Vec<String> {
    rows.iter().map(|r| r.key.clone()).collect()
}

/// Smartlead conversations (a reply can be injected into them), oldest
/// first so that a new reply visibly moves one.
async fn campaign_conversations(engine: &Engine) -> Vec<ThreadView> {
    let mut rows: Vec<ThreadView> = inbox(engine)
        .await
        .into_iter()
        .filter(|r| r.thread.campaign_id.is_some() && r.thread.lead_email.is_some())
        .collect();
    rows.reverse();
    rows
}

fn reply_to(view: &ThreadView, body: &str) -> InjectReply {
    InjectReply {
        campaign_id: view.thread.campaign_id.unwrap(),
        lead_email: view.thread.lead_email.clone().unwrap(),
        body: format!("<p>{body}</p>"),
        category: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_conversation_returns_when_the_person_writes_again() {
    let clock = FakeClock::new(start());
    let rig = clocked_rig(&clock).await;
    let sync = SyncEngine::new(rig.engine.clone());
    assert!(!sync.sync_all().await.failed());
    let engine = &rig.engine;
    let target = campaign_conversations(engine).await.remove(0);
    let counts_before = engine.inbox_counts(&InboxQuery::default()).unwrap();

    let request = Request::Archive {
        key: target.key.clone(),
        archived: true,
    };
    assert!(matches!(call(engine, request).await, Response::Triage(_)));
    assert!(
        !keys(&inbox(engine).await).contains(&target.key),
        "still in the inbox"
    );
    let archived = list(
        engine,
        InboxQuery {
            archived: true,
            ..InboxQuery::default()
        },
    )
    .await;
    assert_eq!(keys(&archived), std::slice::from_ref(&target.key));
    assert_eq!(archived[0].triage, TriageState::Archived);
    let counts = engine.inbox_counts(&InboxQuery::default()).unwrap();
    assert_eq!(
        counts.total,
        counts_before.total - 1,
        "the title counts it out"
    );

    // A sync that brings nothing new leaves it done.
    clock.advance(Duration::minutes(5));
    assert!(!sync.sync_all().await.failed());
    assert!(!keys(&inbox(engine).await).contains(&target.key));

    // The person writes again: back in the inbox, at the top.
    clock.advance(Duration::minutes(5));
    rig.sandbox
        .inject_reply(&reply_to(&target, "Actually, can we talk next week?"))
        .unwrap();
    assert!(!sync.sync_all().await.failed());
    let rows = inbox(engine).await;
    assert_eq!(rows[0].key, target.key, "the new reply puts it on top");
    assert_eq!(rows[0].triage, TriageState::Inbox);
    assert!(rows[0].thread.unread);
    let archived = InboxQuery {
        archived: true,
        ..InboxQuery::default()
    };
    assert!(list(engine, archived).await.is_empty());

    // Unarchive of a conversation that is not archived changes nothing visible.
    let request = Request::Archive {
        key: target.key.clone(),
        archived: false,
    };
    call(engine, request).await;
    assert_eq!(inbox(engine).await[0].key, target.key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snooze_returns_at_its_time_or_on_a_reply_and_is_listed_first() {
    let clock = FakeClock::new(start());
    let rig = clocked_rig(&clock).await;
    let sync = SyncEngine::new(rig.engine.clone());
    assert!(!sync.sync_all().await.failed());
    let engine = &rig.engine;
    let mut feed = engine.subscribe();
    let conversations = campaign_conversations(engine).await;
    let (soon, later) = (&conversations[0], &conversations[1]);

    for (view, hours) in [(soon, 2), (later, 48)] {
        let request = Request::Snooze {
            key: view.key.clone(),
            until: Some(clock.now() + Duration::hours(hours)),
        };
        call(engine, request).await;
    }
    // A snooze in the past is refused and changes nothing.
    let past = Request::Snooze {
        key: soon.key.clone(),
        until: Some(clock.now() - Duration::hours(1)),
    };
    assert!(engine.execute(past).await.is_err());
    let rows = keys(&inbox(engine).await);
    assert!(!rows.contains(&soon.key) && !rows.contains(&later.key));
    let snoozed = InboxQuery {
        snoozed: true,
        ..InboxQuery::default()
    };
    assert_eq!(list(engine, snoozed.clone()).await.len(), 2);

    // One minute short of its time: still hidden, and the timer says nothing.
    let since = clock.now();
    clock.advance(Duration::minutes(119));
    outpost::triage::timers::tick(engine, since).unwrap();
    assert!(!keys(&inbox(engine).await).contains(&soon.key));
    while feed.try_recv().is_ok() {}

    // Its time: back, first, marked; the timer tells whoever shows the inbox.
    let since = clock.now();
    clock.advance(Duration::minutes(2));
    outpost::triage::timers::tick(engine, since).unwrap();
    let rows = inbox(engine).await;
    assert_eq!(rows[0].key, soon.key, "back from snooze comes first");
    assert_eq!(rows[0].triage, TriageState::Woke);
    let mut announced = Vec::new();
    while let Ok(change) = feed.try_recv() {
        announced.push(change);
    }
    assert!(
        announced.iter().any(
            |c| matches!(c, Change::Notice { text, .. } if text.starts_with("Back from snooze"))
        ),
        "{announced:?}"
    );
    // A later tick does not announce it again.
    let since = clock.now();
    clock.advance(Duration::minutes(1));
    outpost::triage::timers::tick(engine, since).unwrap();
    assert!(feed.try_recv().is_err());

    // A reply wakes the other one early, and it comes first: it woke last.
    clock.advance(Duration::minutes(10));
    rig.sandbox
        .inject_reply(&reply_to(later, "Sorry, one more question."))
        .unwrap();
    assert!(!sync.sync_all().await.failed());
    let rows = inbox(engine).await;
    assert_eq!(keys(&rows[..2]), [later.key.clone(), soon.key.clone()]);
    assert!(rows[..2].iter().all(|r| r.triage == TriageState::Woke));
    assert!(list(engine, snoozed).await.is_empty());

    // Opened, it is an ordinary conversation again.
    let request = Request::ClearWokenSnooze {
        key: soon.key.clone(),
    };
    assert_eq!(call(engine, request).await, Response::Flag(true));
    let rows = inbox(engine).await;
    let row = rows.iter().find(|r| r.key == soon.key).unwrap();
    assert_eq!(row.triage, TriageState::Inbox);
    assert_eq!(rows[0].key, later.key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_is_listed_announced_once_and_dismissed() {
    let clock = FakeClock::new(start());
    let rig = clocked_rig(&clock).await;
    let sync = SyncEngine::new(rig.engine.clone());
    assert!(!sync.sync_all().await.failed());
    let engine = &rig.engine;
    let target = campaign_conversations(engine).await.remove(0);
    let request = Request::Remind {
        key: target.key.clone(),
        at: clock.now() + Duration::hours(1),
        note: Some("send the case study".into()),
    };
    let Response::Reminder(reminder) = call(engine, request).await else {
        panic!("a reminder")
    };
    let Response::Reminders(pending) = call(engine, Request::Reminders { all: false }).await else {
        panic!("reminders")
    };
    assert_eq!(pending.len(), 1);
    assert!(!pending[0].due);
    assert_eq!(pending[0].name, target.name);

    let mut feed = engine.subscribe();
    let since = clock.now();
    clock.advance(Duration::minutes(61));
    let looked = outpost::triage::timers::tick(engine, since).unwrap();
    // The notify hook hears of it too, as one JSON document.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hook.jsonl");
    let hook = outpost::config::NotifyHook {
        command: Some(format!(
            "cat >> '{}'; echo >> '{}'",
            out.display(),
            out.display()
        )),
        ..Default::default()
    };
    outpost::notify::deliver_reminders(&hook, &looked.reminders).await;
    let documents: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0]["event"], "reminder");
    assert_eq!(documents[0]["conversation"], target.key.as_str());
    assert_eq!(documents[0]["note"], "send the case study");
    assert!(
        documents[0]["text"]
            .as_str()
            .unwrap()
            .contains(target.name.as_str())
    );
    let notices: Vec<String> = std::iter::from_fn(|| feed.try_recv().ok())
        .filter_map(|c| match c {
            Change::Notice { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("send the case study"), "{notices:?}");
    // Announced once, whoever looks next.
    assert!(engine.take_due_reminders().unwrap().is_empty());

    let Response::Reminders(due) = call(engine, Request::Reminders { all: false }).await else {
        panic!("reminders")
    };
    assert!(due[0].due);
    let prefix = reminder.id[..8].to_string();
    call(engine, Request::ReminderDone { id: prefix }).await;
    let Response::Reminders(left) = call(engine, Request::Reminders { all: false }).await else {
        panic!("reminders")
    };
    assert!(left.is_empty());
    let Response::Reminders(all) = call(engine, Request::Reminders { all: true }).await else {
        panic!("reminders")
    };
    assert!(all[0].reminder.done);
    // An unknown conversation is refused, not stored.
    let bad = Request::Remind {
        key: "nope/1".into(),
        at: clock.now() + Duration::hours(1),
        note: None,
    };
    assert!(engine.execute(bad).await.is_err());
}

#[test]
fn a_when_that_cannot_be_read_is_exit_2_and_says_what_is_accepted() {
    use assert_cmd::cargo::CommandCargoExt;
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::cargo_bin("outpost")
        .unwrap()
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .args(["snooze", "acme/1", "--until", "someday", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read 'someday'"), "{stderr}");
    assert!(stderr.contains("tomorrow"), "{stderr}");
    assert!(out.stdout.is_empty());
}
