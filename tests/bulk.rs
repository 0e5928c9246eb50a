//! Bulk changes against the sandbox, as a rep's script drives them: one
//! `outpost archive` of fifty conversations (by key, or by search) and one
//! `outpost undo` puts the inbox back as it was; an undo leaves alone what
//! changed in between and says so; a bulk read reaches Gmail.

mod support;

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use outpost::engine::door::{Request, Response};
use outpost::engine::{BulkTarget, Engine, InboxQuery};
use outpost::model::{BulkOp, Provider};
use outpost::sync::SyncEngine;
use serde_json::Value;
use support::fast_rig;

/// `outpost ARGS --config CONFIG --json`: its exit code and its JSON.
fn outpost_json(config: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::cargo_bin("outpost")
        .unwrap()
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .args(args)
        .args(["--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// The inbox's keys in order, as `outpost inbox --json` lists them.
fn inbox_keys(config: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["inbox", "--limit", "100000"];
    args.extend_from_slice(extra);
    let (code, json, stderr) = outpost_json(config, &args);
    assert_eq!(code, 0, "{stderr}");
    json.as_array()
        .expect("inbox --json is a list")
        .iter()
        .map(|row| row["key"].as_str().unwrap().to_string())
        .collect()
}

/// A word of several inbox subjects, but not of all.
fn common_subject_word(config: &Path) -> String {
    let (_, rows, _) = outpost_json(config, &["inbox", "--limit", "100000"]);
    let rows = rows.as_array().unwrap();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for row in rows {
        let subject = row["thread"]["subject"].as_str().unwrap_or_default();
        let words: std::collections::BTreeSet<String> = subject
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 5)
            .map(str::to_lowercase)
            .collect();
        for word in words {
            *counts.entry(word).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1 && *n < rows.len() / 2)
        .max_by_key(|(_, n)| *n)
        .map(|(word, _)| word)
        .expect("a word several subjects share")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn synced(engine: &Engine) {
    assert!(!SyncEngine::new(engine.clone()).sync_all().await.failed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_conversations_archived_at_once_come_back_with_one_undo() {
    let rig = fast_rig(400, 5).await;
    synced(&rig.engine).await;
    let support::Rig {
        sandbox: _sandbox,
        dir: _dir,
        config_path,
        engine,
    } = rig;
    drop(engine);

    let before = inbox_keys(&config_path, &[]);
    assert!(before.len() >= 60, "only {} conversations", before.len());
    let fifty: Vec<&str> = before.iter().take(50).map(String::as_str).collect();

    let mut args = vec!["archive"];
    args.extend(&fifty);
    let (code, report, stderr) = outpost_json(&config_path, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(strings(&report["changed"]).len(), 50, "{report}");
    let id = report["id"].as_str().expect("an undo id").to_string();
    let after = inbox_keys(&config_path, &[]);
    assert_eq!(after.len(), before.len() - 50);
    assert!(fifty.iter().all(|k| !after.iter().any(|a| a == k)));
    assert_eq!(inbox_keys(&config_path, &["--archived"]).len(), 50);

    let (code, undone, stderr) = outpost_json(&config_path, &["undo"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(undone["id"], id.as_str());
    assert_eq!(strings(&undone["restored"]).len(), 50, "{undone}");
    assert!(strings(&undone["skipped"]).is_empty() || undone["skipped"] == Value::Array(vec![]));
    assert_eq!(inbox_keys(&config_path, &[]), before, "the inbox as before");
    assert!(inbox_keys(&config_path, &["--archived"]).is_empty());

    // An undo runs once.
    let (code, _, stderr) = outpost_json(&config_path, &["undo", &id]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already undone"), "{stderr}");

    // By search: everything the inbox search matches, the page aside.
    let word = &common_subject_word(&config_path);
    let matching = inbox_keys(&config_path, &["--search", word]);
    assert!(
        matching.len() > 1 && matching.len() < before.len(),
        "the search {word:?} matches some: {}",
        matching.len()
    );
    let (code, report, stderr) = outpost_json(&config_path, &["archive", "--search", word]);
    assert_eq!(code, 0, "{stderr}");
    let mut changed = strings(&report["changed"]);
    changed.sort();
    let mut expected = matching.clone();
    expected.sort();
    assert_eq!(changed, expected);
    assert!(inbox_keys(&config_path, &["--search", word]).is_empty());
    let (code, _, stderr) = outpost_json(&config_path, &["undo"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(inbox_keys(&config_path, &[]), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_changes_nothing_and_says_which() {
    let rig = fast_rig(120, 6).await;
    synced(&rig.engine).await;
    let support::Rig {
        sandbox: _sandbox,
        dir: _dir,
        config_path,
        engine,
    } = rig;
    drop(engine);
    let before = inbox_keys(&config_path, &[]);
    let (code, _, stderr) = outpost_json(&config_path, &["archive", &before[0], "nope/404"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("\"nope/404\""), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(inbox_keys(&config_path, &[]), before);
    let (code, _, stderr) = outpost_json(&config_path, &["undo"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no bulk change to undo"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_skips_the_conversations_changed_in_between() {
    let rig = fast_rig(200, 7).await;
    synced(&rig.engine).await;
    let engine = &rig.engine;
    let rows = engine.inbox(&InboxQuery::default()).unwrap();
    let keys: Vec<String> = rows.iter().take(4).map(|r| r.key.clone()).collect();

    let report = match engine
        .execute(Request::Bulk {
            operation: BulkOp::Archive,
            target: BulkTarget::Keys { keys: keys.clone() },
        })
        .await
        .unwrap()
    {
        Response::Bulk(report) => report,
        other => panic!("{other:?}"),
    };
    assert_eq!(report.changed, keys);
    // Meanwhile the rep brings one back and snoozes another.
    engine.archive(&keys[0], false).unwrap();
    let until = engine.clock().now() + chrono::Duration::days(2);
    engine.snooze(&keys[1], Some(until)).unwrap();

    let undone = match engine.execute(Request::Undo { id: None }).await.unwrap() {
        Response::Undone(undone) => undone,
        other => panic!("{other:?}"),
    };
    assert_eq!(undone.restored, keys[2..].to_vec());
    let skipped: Vec<&str> = undone.skipped.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(skipped, [keys[0].as_str(), keys[1].as_str()]);
    assert!(undone.skipped[0].reason.contains("changed since"));
    // The snooze made in between stands; the others are back.
    let snoozed = engine
        .inbox(&InboxQuery {
            snoozed: true,
            ..InboxQuery::default()
        })
        .unwrap();
    assert_eq!(snoozed.len(), 1);
    assert_eq!(snoozed[0].key, keys[1]);
    let inbox: Vec<String> = engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    for key in [&keys[0], &keys[2], &keys[3]] {
        assert!(inbox.contains(key), "{key} back in the inbox");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_read_reaches_gmail_and_its_undo_too() {
    let rig = fast_rig(300, 8).await;
    synced(&rig.engine).await;
    // Unread conversations with a Gmail copy, and their unread Gmail messages.
    let mut targets = Vec::new();
    let mut gmail_ids = Vec::new();
    for row in rig
        .engine
        .inbox(&InboxQuery {
            unread_only: true,
            ..InboxQuery::default()
        })
        .unwrap()
    {
        let view = rig.engine.thread(&row.key).unwrap().unwrap();
        let unread: Vec<String> = view
            .messages
            .iter()
            .filter(|m| !m.read && m.thread_key.starts_with("gm/"))
            .map(|m| m.provider_id.clone())
            .collect();
        if !unread.is_empty()
            && (row.thread.provider == Provider::Gmail || !row.thread.sources.is_empty())
        {
            targets.push(row.key.clone());
            gmail_ids.extend(unread);
        }
        if targets.len() == 3 {
            break;
        }
    }
    assert_eq!(targets.len(), 3, "three unread Gmail conversations");
    let google = rig.sandbox.google().clone();
    let unread_in_gmail = |id: &str| {
        google
            .message_labels(id)
            .expect("the message is in Gmail")
            .iter()
            .any(|l| l == "UNREAD")
    };
    assert!(gmail_ids.iter().all(|id| unread_in_gmail(id)));
    let support::Rig {
        sandbox: _sandbox,
        dir: _dir,
        config_path,
        engine,
    } = rig;
    drop(engine);

    let mut args = vec!["read"];
    args.extend(targets.iter().map(String::as_str));
    let (code, report, stderr) = outpost_json(&config_path, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(strings(&report["changed"]), targets);
    assert!(
        gmail_ids.iter().all(|id| !unread_in_gmail(id)),
        "Gmail still has UNREAD"
    );
    assert!(
        inbox_keys(&config_path, &["--unread"])
            .iter()
            .all(|k| !targets.contains(k))
    );

    let (code, _, stderr) = outpost_json(&config_path, &["undo"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        gmail_ids.iter().all(|id| unread_in_gmail(id)),
        "unread again in Gmail"
    );
    let unread = inbox_keys(&config_path, &["--unread"]);
    assert!(targets.iter().all(|k| unread.contains(k)));
}

/// A two-step sequence on a fresh store, for enroll and pause.
async fn engine_with_sequence() -> Engine {
    let store = outpost::store::Store::temporary().unwrap();
    let clock = outpost::clock::FakeClock::new("2026-03-02T15:00:00Z".parse().unwrap());
    let engine = Engine::new(store, std::sync::Arc::new(clock));
    let text = r#"
name = "cfo"
account = "acme"

[send_via]
provider = "gmail"
mailboxes = ["rep@acme.example"]

[[steps]]
type = "email"
subject = "Hello {{first_name}}"
body = "Hi there."

[[steps]]
type = "wait"
days = 2

[[steps]]
type = "email"
body = "Following up."
"#;
    engine
        .execute(Request::SequenceApply {
            file: "cfo.toml".into(),
            text: text.into(),
        })
        .await
        .unwrap();
    engine
}

async fn bulk(engine: &Engine, operation: BulkOp, keys: &[&str]) -> outpost::engine::BulkReport {
    let target = BulkTarget::Keys {
        keys: keys.iter().map(|k| k.to_string()).collect(),
    };
    match engine
        .execute(Request::Bulk { operation, target })
        .await
        .unwrap()
    {
        Response::Bulk(report) => report,
        other => panic!("{other:?}"),
    }
}

async fn undo(engine: &Engine) -> outpost::engine::UndoReport {
    match engine.execute(Request::Undo { id: None }).await.unwrap() {
        Response::Undone(report) => report,
        other => panic!("{other:?}"),
    }
}

fn enrollment_of(engine: &Engine, email: &str) -> outpost::model::Enrollment {
    outpost::testing::store(engine)
        .iter::<outpost::model::Enrollment>()
        .map(|e| e.unwrap())
        .find(|e| e.lead_email == email)
        .expect("an enrollment")
}

#[tokio::test]
async fn an_undone_bulk_enroll_stops_the_enrollments_that_sent_nothing_and_names_the_others() {
    use outpost::model::{EnrollmentState, ExecutionOutcome, StepExecution};
    let engine = engine_with_sequence().await;
    let (quiet, sent) = ("ada@ledger.example", "bo@ledger.example");
    let report = bulk(
        &engine,
        BulkOp::Enroll {
            sequence: "cfo".into(),
        },
        &[quiet, sent],
    )
    .await;
    assert_eq!(report.changed, [quiet, sent]);
    // The first step of one of them has gone out meanwhile.
    let sent_enrollment = enrollment_of(&engine, sent);
    outpost::testing::store(&engine)
        .put(&StepExecution {
            enrollment_id: sent_enrollment.id.clone(),
            account: "acme".into(),
            sequence: "cfo".into(),
            step: 0,
            variant: None,
            outcome: ExecutionOutcome::Sent,
            provider_id: Some("g1".into()),
            message_id: Some("<g1@acme.example>".into()),
            error: None,
            attempts: 1,
            at: engine.clock().now(),
        })
        .unwrap();

    let undone = undo(&engine).await;
    assert_eq!(undone.restored, [quiet]);
    assert_eq!(undone.skipped.len(), 1);
    assert_eq!(undone.skipped[0].key, sent);
    assert!(
        undone.skipped[0].reason.contains("already sent a step"),
        "{}",
        undone.skipped[0].reason
    );
    assert_eq!(
        enrollment_of(&engine, quiet).state,
        EnrollmentState::Stopped
    );
    assert_eq!(enrollment_of(&engine, sent).state, EnrollmentState::Active);

    // An unknown sequence is refused before anything is written.
    let refused = engine
        .execute(Request::Bulk {
            operation: BulkOp::Enroll {
                sequence: "nope".into(),
            },
            target: BulkTarget::Keys {
                keys: vec!["cy@ledger.example".into()],
            },
        })
        .await
        .unwrap_err();
    assert!(
        refused.message.contains("no sequence \"nope\""),
        "{refused}"
    );
}

#[tokio::test]
async fn an_undone_bulk_pause_resumes_what_it_paused() {
    use outpost::model::EnrollmentState;
    let engine = engine_with_sequence().await;
    let leads = ["ada@ledger.example", "bo@ledger.example"];
    bulk(
        &engine,
        BulkOp::Enroll {
            sequence: "cfo".into(),
        },
        &leads,
    )
    .await;
    let paused = bulk(&engine, BulkOp::Pause, &leads).await;
    assert_eq!(paused.changed, leads);
    for lead in leads {
        assert_eq!(enrollment_of(&engine, lead).state, EnrollmentState::Paused);
    }
    // The rep resumes one by hand before undoing.
    assert_eq!(engine.resume_lead(leads[1]).unwrap(), 1);
    assert_eq!(
        enrollment_of(&engine, leads[1]).state,
        EnrollmentState::Active
    );
    let undone = undo(&engine).await;
    assert_eq!(undone.restored, [leads[0]]);
    assert_eq!(undone.skipped[0].key, leads[1]);
    for lead in leads {
        assert_eq!(enrollment_of(&engine, lead).state, EnrollmentState::Active);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_category_reaches_smartlead_and_its_undo_puts_the_old_ones_back() {
    let rig = fast_rig(300, 12).await;
    synced(&rig.engine).await;
    let engine = &rig.engine;
    let rows: Vec<_> = engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.thread.provider == Provider::Smartlead
                && r.thread
                    .category
                    .as_ref()
                    .is_some_and(|c| c.name != "Not Interested")
        })
        .take(3)
        .collect();
    assert_eq!(rows.len(), 3);
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let report = bulk(
        engine,
        BulkOp::Category {
            name: "not interested".into(),
        },
        &keys,
    )
    .await;
    assert_eq!(report.changed, keys, "{report:?}");
    let category_of = |key: &str| {
        engine
            .thread(key)
            .unwrap()
            .unwrap()
            .thread
            .category
            .map(|c| c.name)
    };
    for key in &keys {
        assert_eq!(category_of(key).as_deref(), Some("Not Interested"));
    }
    // It went to Smartlead first: a sync does not put the old one back.
    synced(engine).await;
    assert_eq!(category_of(keys[0]).as_deref(), Some("Not Interested"));

    let undone = undo(engine).await;
    assert_eq!(undone.restored, keys, "{undone:?}");
    for row in &rows {
        assert_eq!(
            category_of(&row.key),
            row.thread.category.as_ref().map(|c| c.name.clone())
        );
    }

    // A category no account has is refused, and nothing changes.
    let refused = engine
        .execute(Request::Bulk {
            operation: BulkOp::Category {
                name: "Maybe Later".into(),
            },
            target: BulkTarget::Keys {
                keys: vec![keys[0].to_string()],
            },
        })
        .await
        .unwrap_err();
    assert!(refused.message.contains("nothing was changed"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_tag_is_undone_in_one_step_and_skips_what_was_retagged() {
    let rig = fast_rig(200, 9).await;
    synced(&rig.engine).await;
    let engine = &rig.engine;
    let rows = engine.inbox(&InboxQuery::default()).unwrap();
    let keys: Vec<&str> = rows.iter().take(3).map(|r| r.key.as_str()).collect();
    engine.tag(keys[0], &["later".into()], &[]).unwrap();

    let report = bulk(
        engine,
        BulkOp::Tag {
            add: vec!["hot".into()],
            remove: vec!["later".into()],
        },
        &keys,
    )
    .await;
    assert_eq!(report.changed.len(), 3, "{report:?}");
    let tags_of = |key: &str| {
        engine
            .inbox(&InboxQuery::default())
            .unwrap()
            .into_iter()
            .find(|r| r.key == key)
            .map(|r| r.tags)
            .unwrap()
    };
    for key in &keys {
        assert_eq!(tags_of(key), ["hot"], "{key}");
    }
    // Retagged in between: left as the rep made it.
    engine.tag(keys[2], &["q3".into()], &[]).unwrap();
    let undone = undo(engine).await;
    assert_eq!(undone.restored, [keys[0].to_string(), keys[1].to_string()]);
    assert_eq!(undone.skipped.len(), 1);
    assert_eq!(tags_of(keys[0]), ["later"]);
    assert!(tags_of(keys[1]).is_empty());
    assert_eq!(tags_of(keys[2]), ["hot", "q3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_takes_several_keys_or_a_search_and_one_undo_reverts_it() {
    let rig = fast_rig(200, 11).await;
    synced(&rig.engine).await;
    let support::Rig {
        sandbox: _sandbox,
        dir: _dir,
        config_path: config,
        engine,
    } = rig;
    drop(engine);
    let (_, rows, _) = outpost_json(&config, &["inbox", "--limit", "100000"]);
    let rows = rows.as_array().unwrap().clone();
    let keys: Vec<String> = rows
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    let email = rows[3]["thread"]["lead_email"]
        .as_str()
        .expect("a conversation with a lead")
        .to_lowercase();
    let tags_of = |key: &str| -> Vec<String> {
        let (code, rows, stderr) = outpost_json(&config, &["inbox", "--limit", "100000"]);
        assert_eq!(code, 0, "{stderr}");
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap();
        strings(&row["tags"])
    };
    let lead_tags = || -> Vec<String> {
        let (code, lead, stderr) = outpost_json(&config, &["lead", &email]);
        assert_eq!(code, 0, "{stderr}");
        strings(&lead["tags"])
    };

    // One key works as it always has: a bare name adds, the set comes back.
    let (code, set, stderr) = outpost_json(&config, &["tag", &keys[0], "later"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(strings(&set["tags"]), ["later"]);

    // Several keys and a lead's email: one change.
    let (code, report, stderr) = outpost_json(
        &config,
        &["tag", &keys[0], &keys[1], &email, "+hot", "-later"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        strings(&report["changed"]),
        [keys[0].clone(), keys[1].clone(), email.clone()],
        "{report}"
    );
    assert_eq!(tags_of(&keys[0]), ["hot"]);
    assert_eq!(tags_of(&keys[1]), ["hot"]);
    assert_eq!(lead_tags(), ["hot"]);

    // An unknown key changes nothing and is named.
    let (code, _, stderr) = outpost_json(&config, &["tag", &keys[2], "nope/404", "+hot"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("\"nope/404\"") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert!(tags_of(&keys[2]).is_empty());

    // One undo puts every key back as it was.
    let (code, undone, stderr) = outpost_json(&config, &["undo"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(strings(&undone["restored"]).len(), 3, "{undone}");
    assert_eq!(tags_of(&keys[0]), ["later"]);
    assert!(tags_of(&keys[1]).is_empty());
    assert!(lead_tags().is_empty());

    // By search: every conversation the inbox search matches.
    let word = common_subject_word(&config);
    let mut matching = inbox_keys(&config, &["--search", &word]);
    matching.sort();
    assert!(matching.len() > 1 && matching.len() < keys.len());
    let (code, report, stderr) = outpost_json(&config, &["tag", "--search", &word, "+q3"]);
    assert_eq!(code, 0, "{stderr}");
    let mut changed = strings(&report["changed"]);
    changed.sort();
    assert_eq!(changed, matching);
    let mut tagged = inbox_keys(&config, &["--search", "tag:q3"]);
    tagged.sort();
    assert_eq!(tagged, matching);
    let (code, _, stderr) = outpost_json(&config, &["undo"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(inbox_keys(&config, &["--search", "tag:q3"]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_bulk_change_says_how_far_it_is_as_it_goes() {
    use outpost::store::Change;
    use tokio::sync::broadcast::error::TryRecvError;
    let rig = fast_rig(400, 5).await;
    synced(&rig.engine).await;
    let rows = rig.engine.inbox(&InboxQuery::default()).unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let total = keys.len();
    assert!(total >= 60, "only {total} conversations");
    let mut feed = rig.engine.subscribe();
    let report = bulk(&rig.engine, BulkOp::Archive, &keys).await;
    assert_eq!(report.changed.len(), total);

    // What a TUI's message line shows while the job runs: how many are
    // done of how many, climbing, never the end (the report says that).
    let mut done = Vec::new();
    loop {
        match feed.try_recv() {
            Ok(Change::Notice { text, .. }) if text.starts_with("Archiving ") => {
                let (count, rest) = text["Archiving ".len()..].split_once('/').unwrap();
                assert_eq!(rest, format!("{total}…"), "{text}");
                done.push(count.parse::<usize>().unwrap());
            }
            Ok(_) => {}
            Err(TryRecvError::Lagged(_)) => panic!("the feed lagged"),
            Err(_) => break,
        }
    }
    assert!(done.len() >= 10, "{done:?}");
    assert!(done.windows(2).all(|w| w[0] < w[1]), "{done:?}");
    assert!(done.iter().all(|n| *n > 0 && *n < total), "{done:?}");
    assert!(*done.last().unwrap() >= total * 9 / 10, "{done:?}");

    // A short change is over before a line could say so.
    let mut feed = rig.engine.subscribe();
    bulk(&rig.engine, BulkOp::Unarchive, &keys[..5]).await;
    while let Ok(change) = feed.try_recv() {
        assert!(
            !matches!(&change, Change::Notice { text, .. } if text.contains('/')),
            "{change:?}"
        );
    }
}
