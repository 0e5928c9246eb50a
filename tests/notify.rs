//! The notify hook as a rep's config sets it: `outpost sync --once` and the
//! daemon run the command (the reply as JSON on stdin) and posts the same JSON (with a
//! Slack `text`) once per new reply: not for the history a first sync
//! brings, not again on the next sync or after a restart, and once for a
//! reply that reached outpost through Smartlead and the rep's Gmail.

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};

use assert_cmd::cargo::CommandCargoExt;
use axum::extract::State;
use outpost::engine::InboxQuery;
use outpost::sandbox::InjectReply;
use outpost::sync::SyncEngine;
use support::fast_rig;

type Posts = Arc<Mutex<Vec<serde_json::Value>>>;

async fn receiver() -> (String, Posts) {
    let posts: Posts = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(posts): State<Posts>, body: axum::Json<serde_json::Value>| async move {
                    posts.lock().unwrap().push(body.0);
                    "ok"
                },
            ),
        )
        .with_state(posts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, posts)
}

fn sync_once(config: &std::path::Path) -> (i32, String) {
    let out = Command::cargo_bin("outpost")
        .unwrap()
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .args(["sync", "--once", "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("one JSON document per reply"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_reply_runs_the_hook_once_across_syncs_and_restarts() {
    let rig = fast_rig(300, 21).await;
    // A conversation Smartlead sent through the rep's Gmail: a new reply in
    // it reaches outpost through both providers.
    assert!(
        !SyncEngine::new(rig.engine.clone())
            .sync_all()
            .await
            .failed()
    );
    let target = rig
        .engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .find(|r| !r.thread.sources.is_empty() && r.thread.campaign_id.is_some())
        .expect("a conversation both providers hold");
    let support::Rig {
        sandbox,
        dir,
        config_path,
        engine,
    } = rig;
    drop(engine);

    let (url, posts) = receiver().await;
    let out = dir.path().join("notified.jsonl");
    let mut config = std::fs::read_to_string(&config_path).unwrap();
    config.push_str(&format!(
        "\n[notify]\ncommand = \"cat >> '{}'; echo >> '{}'\"\nwebhook_url = \"{url}\"\n",
        out.display(),
        out.display()
    ));
    std::fs::write(&config_path, config).unwrap();

    // The first sync with the hook: everything is history.
    let (code, stderr) = sync_once(&config_path);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        lines(&out).is_empty(),
        "history announced: {:?}",
        lines(&out)
    );

    sandbox
        .inject_reply(&InjectReply {
            campaign_id: target.thread.campaign_id.unwrap(),
            lead_email: target.thread.lead_email.clone().unwrap(),
            body: "<p>Tuesday works, send the invite.</p>".into(),
            category: Some("Meeting Request".into()),
        })
        .unwrap();
    let (code, stderr) = sync_once(&config_path);
    assert_eq!(code, 0, "{stderr}");
    let announced = lines(&out);
    assert_eq!(announced.len(), 1, "{announced:?}");
    let reply = &announced[0];
    assert_eq!(reply["conversation"], target.key.as_str());
    assert_eq!(reply["name"], target.name.as_str());
    assert!(reply["snippet"].as_str().unwrap().contains("Tuesday works"));
    assert_eq!(reply["category"], "Meeting Request");
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .starts_with("New reply from ")
    );
    let posted = posts.lock().unwrap().clone();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0], *reply, "the post carries the same JSON");

    // Another sync, another process: nothing new, nothing announced.
    let (code, stderr) = sync_once(&config_path);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines(&out).len(), 1);
    assert_eq!(posts.lock().unwrap().len(), 1);

    // The daemon runs the hook too (TUI closed): each new reply once, and a
    // restart announces nothing it announced before.
    let text = std::fs::read_to_string(&config_path).unwrap().replace(
        "provider = \"smartlead\"\n",
        "provider = \"smartlead\"\npoll_interval_secs = 1\n",
    ) + "\n[daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"notify-test-webhook-secret-0123\"\n";
    std::fs::write(&config_path, text).unwrap();
    for (round, body) in [
        "Thursday is better for us.",
        "Adding our CFO to the invite.",
    ]
    .into_iter()
    .enumerate()
    {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let daemon = tokio::spawn(outpost::daemon::run(
            support::load_config(&config_path),
            None,
            shutdown.clone(),
            Some(ready_tx),
        ));
        ready.await.expect("the daemon starts");
        sandbox
            .inject_reply(&InjectReply {
                campaign_id: target.thread.campaign_id.unwrap(),
                lead_email: target.thread.lead_email.clone().unwrap(),
                body: format!("<p>{body}</p>"),
                category: None,
            })
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !lines(&out)
            .iter()
            .any(|r| r["snippet"].as_str().unwrap_or_default().contains(body))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: the daemon did not announce the reply: {:?}",
                lines(&out)
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        shutdown.cancel();
        daemon.await.unwrap().expect("the daemon stops cleanly");
        // Announced once, and nothing earlier again (a restart re-announcing
        // would have written its lines before this round's reply).
        let announced = lines(&out);
        assert_eq!(announced.len(), 2 + round, "{announced:?}");
        let ids: std::collections::BTreeSet<_> = announced
            .iter()
            .map(|r| r["message_id"].to_string())
            .collect();
        assert_eq!(ids.len(), announced.len(), "{announced:?}");
    }
    assert_eq!(posts.lock().unwrap().len(), 3);
}
