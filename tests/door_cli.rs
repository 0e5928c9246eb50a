//! The one door: CLI verbs run while a TUI (the real binary, in tmux) or a
//! daemon holds the data dir go through that process's engine API and
//! answer as they do on a free data dir; a holder that serves no door is
//! still refused clearly; and a request answers the same in-process and over
//! HTTP.

mod daemon_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use outpost::engine::door::{DoorError, ErrorKind, Request, Response};
use outpost::engine::remote::RemoteEngine;
use outpost::engine::{InboxQuery, LeadQuery};
use outpost::sandbox::InjectReply;
use outpost::store::{LockInfo, current_holder};
use secrecy::SecretString;
use support::{Cli, fast_rig};

/// Waits (up to `secs`) until `holds` says yes about the data dir's holder.
async fn wait_for_holder(data_dir: &Path, secs: u64, holds: impl Fn(Option<&LockInfo>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let holder = current_holder(data_dir);
        if holds(holder.as_ref()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; the data dir's holder is {holder:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sandbox and a config pointed at it, with the data dir free (the
/// shared rig's engine lets go of it).
struct Rig {
    sandbox: outpost::sandbox::SandboxHandle,
    dir: tempfile::TempDir,
    config: PathBuf,
}

async fn free_rig(seed: u64) -> Rig {
    let support::Rig {
        sandbox,
        dir,
        config_path,
        engine,
    } = fast_rig(120, seed).await;
    drop(engine);
    // The holder's poller picks up a reply the test injects within a second.
    let text = std::fs::read_to_string(&config_path).unwrap().replace(
        "provider = \"smartlead\"\n",
        "provider = \"smartlead\"\npoll_interval_secs = 1\n",
    );
    std::fs::write(&config_path, text).unwrap();
    Rig {
        sandbox,
        dir,
        config: config_path,
    }
}

/// A tmux session that is killed when the test ends, however it ends.
struct Tmux(String);

/// Waits until a tmux session's screen satisfies `done`; returns that screen.
async fn wait_for_screen(session: &str, secs: u64, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", session])
            .output()
            .unwrap();
        let screen = String::from_utf8_lossy(&out.stdout).to_string();
        if done(&screen) {
            return screen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out; the screen:\n{screen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

/// What the read verbs print on a data dir: compared before and during a hold.
struct Reads {
    inbox: serde_json::Value,
    leads: serde_json::Value,
    thread: String,
    lead: String,
}

async fn reads(cli: &Cli, thread: &str, lead: &str) -> Reads {
    Reads {
        inbox: serde_json::from_str(&cli.ok(&["inbox", "--json"]).await).unwrap(),
        leads: serde_json::from_str(&cli.ok(&["leads", "--json"]).await).unwrap(),
        thread: cli.ok(&["thread", thread]).await,
        lead: cli.ok(&["lead", lead]).await,
    }
}

/// A sequence file for the rig's Gmail account, and a start two days out so
/// the holder's scheduler sends nothing while the test looks at the plan.
fn sequence_file(dir: &Path, mailbox: &str) -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/assets/sequences/cold-outreach-gmail.toml"))
        .unwrap()
        .replace("account = \"me-gmail\"", "account = \"gm\"")
        .replace("sam@acme.example", mailbox);
    let path = dir.join("sequence.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The verbs that change the cache, through whoever holds it: reply (sent
/// to the sandbox once), apply, enroll, plan, outbox list, enrollment and
/// the exit codes of a missing thread and a missing enrollment.
async fn writes_go_through(cli: &Cli, rig: &Rig, tag: &str) {
    let (_, leads_json, _) = cli.run(&["leads", "--json"]).await;
    let leads: serde_json::Value = serde_json::from_str(&leads_json).unwrap();
    let inbox: serde_json::Value =
        serde_json::from_str(&cli.ok(&["inbox", "--json"]).await).unwrap();
    let answered: Vec<String> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap().to_string())
        .collect();
    // A Smartlead lead who has not written yet writes now; the reply to it
    // goes out through the holder.
    let chosen = leads
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            let id = l["smartlead_lead_id"].as_i64().unwrap_or_default();
            id != 0
                && l["first_name"].is_string()
                && l["memberships"].as_array().unwrap().len() == 1
                && !answered.iter().any(|k| k.ends_with(&format!(":{id}")))
        })
        .expect("a lead without a reply");
    let campaign_id = chosen["memberships"][0]["campaign_id"].as_i64().unwrap();
    let lead_id = chosen["smartlead_lead_id"].as_i64().unwrap();
    let lead_email = chosen["email"].as_str().unwrap().to_string();
    rig.sandbox
        .inject_reply(&InjectReply {
            campaign_id,
            lead_email: lead_email.clone(),
            body: format!("<div>Times please ({tag}).</div>"),
            category: None,
        })
        .unwrap();
    let thread_id = format!("sl/{campaign_id}:{lead_id}");
    // The holder syncs on its own schedule; wait until the reply is in.
    let deadline = Instant::now() + Duration::from_secs(60);
    while cli.run(&["thread", &thread_id]).await.0 != 0 {
        assert!(
            Instant::now() < deadline,
            "the holder never synced {thread_id}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let posts_before = rig.sandbox.reply_posts().len();
    // Template variables are filled from the thread's lead, as in the TUI.
    let first_name = chosen["first_name"].as_str().unwrap();
    let body = format!("Tuesday works, {{{{first_name}}}} ({tag}).");
    let filled = format!("Tuesday works, {first_name} ({tag}).");
    let sent: serde_json::Value = serde_json::from_str(
        &cli.ok(&["reply", &thread_id, "--body", &body, "--json"])
            .await,
    )
    .unwrap();
    assert_eq!(sent["state"], "sent", "{sent}");
    let posts = rig.sandbox.reply_posts();
    assert_eq!(posts.len(), posts_before + 1, "one reply reached Smartlead");
    assert!(
        posts.last().unwrap().body["email_body"]
            .as_str()
            .unwrap()
            .contains(&filled)
    );

    let mailbox = rig.sandbox.info().gmail_email.clone();
    let file = sequence_file(rig.dir.path(), &mailbox);
    cli.ok(&["sequence", "apply", file.to_str().unwrap()]).await;
    let start = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let enrolled: serde_json::Value = serde_json::from_str(
        &cli.ok(&[
            "enroll",
            "--sequence",
            "cold-outreach-gmail",
            "--lead",
            &lead_email,
            "--start",
            &start,
            // The lead sits in a sandbox Smartlead campaign: past the guard.
            "--force",
            "--json",
        ])
        .await,
    )
    .unwrap();
    let enrollment = enrolled["enrolled"][0]["id"].as_str().unwrap().to_string();
    let plan: serde_json::Value =
        serde_json::from_str(&cli.ok(&["plan", "--days", "7", "--json"]).await).unwrap();
    assert!(
        plan["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["lead_email"] == lead_email.as_str()),
        "{plan}"
    );
    let list = cli.ok(&["sequence", "list"]).await;
    assert!(list.contains("cold-outreach-gmail"), "{list}");
    let outbox: serde_json::Value = serde_json::from_str(
        &cli.ok(&["outbox", "list", "--state", "sent", "--json"])
            .await,
    )
    .unwrap();
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == sent["id"]),
        "{outbox}"
    );
    let stopped = cli
        .ok(&["enrollment", "stop", &enrollment, "--reason", "test"])
        .await;
    assert!(stopped.contains("stopped (test)"), "{stopped}");

    // Errors keep their kind across the wire: bad input is exit 2 with its message.
    let (code, _, stderr) = cli.run(&["thread", "sl/1:1"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`outpost inbox` lists thread ids"),
        "{stderr}"
    );
    let (code, _, stderr) = cli.run(&["enrollment", "pause", "nope-nope"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no enrollment \"nope-nope\""), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verbs_go_through_a_tui_that_holds_the_data_dir() {
    let tmux_ok = Command::new("tmux").arg("-V").output();
    assert!(
        tmux_ok.is_ok_and(|o| o.status.success()),
        "tmux is required for this test (apt-get install tmux)"
    );
    let rig = free_rig(11).await;
    let data_dir = rig.dir.path().join("data");
    let cli = Cli {
        config: rig.config.clone(),
    };
    cli.ok(&["sync", "--once"]).await;
    let inbox: serde_json::Value =
        serde_json::from_str(&cli.ok(&["inbox", "--json"]).await).unwrap();
    let thread_key = inbox[0]["key"].as_str().unwrap().to_string();
    let lead_email = inbox[0]["thread"]["lead_email"]
        .as_str()
        .unwrap()
        .to_string();
    let before = reads(&cli, &thread_key, &lead_email).await;

    let session = Tmux(format!("outpost-door-{}", std::process::id()));
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session.0, "-x", "160", "-y", "45"])
        .arg(format!(
            "env -u OUTPOST_DATA_DIR NO_COLOR=1 '{}' --config '{}'; echo OUTPOST-EXITED-$?; sleep 30",
            env!("CARGO_BIN_EXE_outpost"),
            cli.config.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_holder(&data_dir, 60, |h| {
        h.is_some_and(|h| h.mode == "tui" && h.api_url.is_some())
    })
    .await;
    let holder = current_holder(&data_dir).unwrap();
    assert!(
        holder
            .api_url
            .as_deref()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{holder:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join(outpost::daemon::TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The read verbs print what they printed on the free data dir.
    let during = reads(&cli, &thread_key, &lead_email).await;
    assert_eq!(during.inbox, before.inbox);
    assert_eq!(during.leads, before.leads);
    assert_eq!(during.thread, before.thread);
    assert_eq!(during.lead, before.lead);

    // A second TUI on the same data dir attaches to the first one's door
    // instead of being refused, and shows the same inbox.
    let second = Tmux(format!("outpost-door-2nd-{}", std::process::id()));
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &second.0, "-x", "160", "-y", "45"])
        .arg(format!(
            "env -u OUTPOST_DATA_DIR NO_COLOR=1 '{}' --config '{}'; echo OUTPOST-EXITED-$?; sleep 30",
            env!("CARGO_BIN_EXE_outpost"),
            cli.config.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let subject = inbox[0]["thread"]["subject"].as_str().unwrap().to_string();
    let shown = wait_for_screen(&second.0, 60, |screen| {
        screen.contains("Inbox (") && screen.contains(&subject)
    })
    .await;
    assert!(!shown.contains("in use"), "{shown}");
    let _ = Command::new("tmux")
        .args(["send-keys", "-t", &second.0, "q"])
        .status();
    wait_for_screen(&second.0, 30, |screen| screen.contains("OUTPOST-EXITED-0")).await;
    // The first TUI still holds the data dir and serves the door.
    assert_eq!(current_holder(&data_dir).unwrap().mode, "tui");

    writes_go_through(&cli, &rig, "tui").await;
    let send = cli.ok(&["send"]).await;
    assert!(send.contains("the tui (pid"), "{send}");
    // `sync --once` asks the holder to sync now and prints its summary.
    let synced: serde_json::Value =
        serde_json::from_str(&cli.ok(&["sync", "--once", "--json"]).await).unwrap();
    let accounts = synced["accounts"].as_array().expect("a summary");
    assert_eq!(accounts.len(), 2, "{synced}");
    assert!(accounts.iter().all(|a| a["error"].is_null()), "{synced}");
    let polling = cli.ok(&["sync"]).await;
    assert!(polling.contains("syncs every account"), "{polling}");

    // Quit the TUI: the lock is free and the CLI opens the data dir itself.
    // Escape and q are sent apart, each as its own key press, until the TUI
    // is gone: arriving together a terminal reads them as one Alt-q.
    let deadline = Instant::now() + Duration::from_secs(60);
    while current_holder(&data_dir).is_some() {
        assert!(Instant::now() < deadline, "the TUI did not quit");
        for key in ["Escape", "q"] {
            let _ = Command::new("tmux")
                .args(["send-keys", "-t", &session.0, key])
                .status();
            // Paces the key presses (a typist's gap), it waits for no result.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let quit_by = Instant::now() + Duration::from_secs(5);
        while current_holder(&data_dir).is_some() && Instant::now() < quit_by {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let after: serde_json::Value = serde_json::from_str(
        &cli.ok(&["outbox", "list", "--state", "sent", "--json"])
            .await,
    )
    .unwrap();
    assert!(!after.as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verbs_go_through_a_daemon_that_holds_the_data_dir() {
    let rig = free_rig(12).await;
    let data_dir = rig.dir.path().join("data");
    let cli = Cli {
        config: rig.config.clone(),
    };
    cli.ok(&["sync", "--once"]).await;
    let inbox: serde_json::Value =
        serde_json::from_str(&cli.ok(&["inbox", "--json"]).await).unwrap();
    let thread_key = inbox[0]["key"].as_str().unwrap().to_string();
    let lead_email = inbox[0]["thread"]["lead_email"]
        .as_str()
        .unwrap()
        .to_string();
    let before = reads(&cli, &thread_key, &lead_email).await;

    let mut text = std::fs::read_to_string(&cli.config).unwrap();
    text.push_str(&format!(
        "\n[daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"{}\"\n",
        daemon_support::SECRET
    ));
    std::fs::write(&cli.config, text).unwrap();
    let config = support::load_config(&cli.config);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let daemon = tokio::spawn(outpost::daemon::run(
        config,
        None,
        shutdown.clone(),
        Some(ready_tx),
    ));
    ready.await.expect("the daemon starts");
    assert_eq!(current_holder(&data_dir).unwrap().mode, "daemon");

    let during = reads(&cli, &thread_key, &lead_email).await;
    assert_eq!(during.inbox, before.inbox);
    assert_eq!(during.leads, before.leads);
    assert_eq!(during.thread, before.thread);
    assert_eq!(during.lead, before.lead);
    writes_go_through(&cli, &rig, "daemon").await;

    // Export and import go through the daemon too; an import's bad line is
    // named by its number in the rep's file.
    let export = rig.dir.path().join("export.jsonl");
    let (code, _, stderr) = cli
        .run(&["export", "--output", export.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let exported: u64 = stderr
        .trim()
        .strip_prefix("exported ")
        .and_then(|rest| rest.strip_suffix(" records"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    let lines = std::fs::read_to_string(&export).unwrap();
    assert_eq!(lines.lines().count() as u64, exported);
    assert!(lines.contains(&thread_key));
    let imported = cli.ok(&["import", export.to_str().unwrap()]).await;
    assert!(
        imported.contains(&format!("imported {exported} records")),
        "{imported}"
    );
    let broken = rig.dir.path().join("broken.jsonl");
    std::fs::write(&broken, format!("{lines}{{not json\n")).unwrap();
    let (code, _, stderr) = cli.run(&["import", broken.to_str().unwrap()]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("line {}", exported + 1)),
        "{stderr}"
    );
    // The data reads as before the import (every record decodes).
    let after = reads(&cli, &thread_key, &lead_email).await;
    let keys: Vec<&str> = after
        .inbox
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["key"].as_str())
        .collect();
    assert!(keys.contains(&thread_key.as_str()), "{keys:?}");

    // Registering webhooks talks to Smartlead only, so the daemon's hold
    // does not stop it.
    let registered = cli
        .ok(&[
            "webhooks",
            "register",
            "--url",
            "https://hooks.example/outpost",
        ])
        .await;
    assert!(registered.contains("webhook registered"), "{registered}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("the daemon stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_serves_no_door_is_refused_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let cli = Cli { config };
    let _holder = outpost::store::Store::open(&data_dir, "cli").unwrap();
    let (code, _, stderr) = cli
        .run(&["--data-dir", data_dir.to_str().unwrap(), "inbox"])
        .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("in use by another outpost process"),
        "{stderr}"
    );
}

/// The same requests answer the same in-process and over `/api/exec`,
/// failures included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_remote_answers_agree() {
    let server = daemon_support::TestServer::start().await;
    let payload = daemon_support::reply_payload(
        "dana@ledgerly.example",
        2995276770,
        "2025-06-04T08:02:31Z",
        "Send times please",
    );
    assert_eq!(server.post_webhook(&payload).await.0, 200);
    let remote =
        RemoteEngine::new(&server.base, SecretString::from(daemon_support::API_TOKEN)).unwrap();
    let thread_key = server.engine.inbox(&InboxQuery::default()).unwrap()[0]
        .key
        .clone();
    let requests = [
        Request::Inbox {
            query: InboxQuery::default(),
        },
        Request::Thread {
            key: thread_key.clone(),
        },
        Request::Thread {
            key: "acme-smartlead/none".into(),
        },
        Request::Leads {
            query: LeadQuery::default(),
        },
        Request::Lead {
            email: "dana@ledgerly.example".into(),
        },
        Request::SequenceList,
        Request::OutboxList {
            states: vec![outpost::model::OutboxState::Pending],
        },
    ];
    for request in requests {
        let local = server.engine.execute(request.clone()).await.unwrap();
        let over_http = remote.execute(&request).await.unwrap();
        assert_eq!(local, over_http, "{request:?}");
    }
    assert!(matches!(
        server
            .engine
            .execute(Request::Thread { key: thread_key })
            .await
            .unwrap(),
        Response::Thread(Some(_))
    ));
    for (request, kind) in [
        (
            Request::Enrollment {
                id: "nope-nope".into(),
                action: outpost::sequences::EnrollmentAction::Pause,
                reason: None,
            },
            ErrorKind::NotFound,
        ),
        (
            Request::SequenceApply {
                file: "bad.toml".into(),
                text: "name = ".into(),
            },
            ErrorKind::Invalid,
        ),
    ] {
        let local: DoorError = server.engine.execute(request.clone()).await.unwrap_err();
        let over_http = remote.execute(&request).await.unwrap_err();
        assert_eq!(local, over_http);
        assert_eq!(local.kind, kind);
    }
    let wrong = RemoteEngine::new(&server.base, SecretString::from("nope")).unwrap();
    let refused = wrong.execute(&Request::SequenceList).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert!(refused.message.contains("api.token"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_through_the_daemon_with_smartlead_down_is_queued_at_once_and_sent_once_later() {
    let rig = free_rig(14).await;
    let cli = Cli {
        config: rig.config.clone(),
    };
    cli.ok(&["sync", "--once"]).await;
    let inbox: serde_json::Value =
        serde_json::from_str(&cli.ok(&["inbox", "--json"]).await).unwrap();
    let thread_key = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .find(|k| k.starts_with("sl/"))
        .expect("a Smartlead conversation")
        .to_string();

    // Smartlead is down: its port refuses connections (nothing listens yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = port.local_addr().unwrap();
    drop(port);
    let upstream = url::Url::parse(&rig.sandbox.info().smartlead_base_url).unwrap();
    let mut text = std::fs::read_to_string(&cli.config)
        .unwrap()
        .replace(upstream.as_str(), &format!("http://{down}/api/v1"));
    text.push_str(&format!(
        "\n[daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"{}\"\n",
        daemon_support::SECRET
    ));
    std::fs::write(&cli.config, text).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let daemon = tokio::spawn(outpost::daemon::run(
        support::load_config(&cli.config),
        None,
        shutdown.clone(),
        Some(ready_tx),
    ));
    ready.await.expect("the daemon starts");

    let posts_before = rig.sandbox.reply_posts().len();
    let started = Instant::now();
    let (code, stdout, stderr) = cli
        .run(&[
            "reply",
            &thread_key,
            "--body",
            "Friday works too.",
            "--json",
        ])
        .await;
    let took = started.elapsed();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(took < Duration::from_secs(10), "waited {took:?}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["state"], "queued", "{answer}");
    assert!(
        answer["reason"]
            .as_str()
            .is_some_and(|r| r.contains("could not connect")),
        "{answer}"
    );
    let outbox_id = answer["outbox_id"].as_str().unwrap().to_string();

    // Smartlead comes back on the same port; the daemon's outbox sends the
    // reply when its retry is due, once.
    let origin = format!(
        "{}://{}:{}",
        upstream.scheme(),
        upstream.host_str().unwrap(),
        upstream.port().unwrap()
    );
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (http, origin) = (http.clone(), origin.clone());
        async move {
            use axum::response::IntoResponse;
            match support::proxy::forward(&http, &origin, request).await {
                Ok(answer) => answer.into_response(),
                Err(failed) => failed,
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(down)
        .await
        .expect("the port is free again");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let listed: serde_json::Value = serde_json::from_str(
            &cli.ok(&["outbox", "list", "--state", "sent", "--json"])
                .await,
        )
        .unwrap();
        if listed
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == outbox_id.as_str())
        {
            break;
        }
        assert!(Instant::now() < deadline, "the queued reply never went out");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        rig.sandbox.reply_posts().len(),
        posts_before + 1,
        "sent exactly once"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("the daemon stops")
        .unwrap()
        .unwrap();
}
