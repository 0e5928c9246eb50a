//! One account whose secret cannot be read (a variable unset, a command
//! failing) or is refused (401) is set aside: every other account still
//! syncs and sends, and each face says which account needs attention and
//! what to set — the sync summary, the outbox, `/health`, the TUI status
//! bar, and the `sync`, `send` and `doctor` verbs (exit 1: partly failed).

mod support;

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, Utc};
use outpost::clock::{Clock, FakeClock, SharedClock};
use outpost::config::{self, ConfigSources};
use outpost::engine::Engine;
use outpost::model::*;
use outpost::outbox::OutboxWorker;
use outpost::providers::registry::Providers;
use outpost::sandbox::{self, SandboxHandle, SandboxOptions};
use outpost::server::state::ServerParts;
use outpost::server::{Ingest, Metrics, ServerState};
use outpost::store::Store;
use outpost::sync::SyncEngine;
use secrecy::SecretString;
use support::{ClientLimit, store_gmail_tokens_at, write_config};
use tokio_util::sync::CancellationToken;

/// A variable no environment sets: the Smartlead account reading it is set aside.
const UNSET_VAR: &str = "OUTPOST_ISOLATION_TEST_KEY_NEVER_SET";

struct Setup {
    sandbox: SandboxHandle,
    dir: tempfile::TempDir,
    config_path: std::path::PathBuf,
}

/// The sandbox's working `sl` and `gm`, plus three broken accounts on the
/// same sandbox: an unset variable, a failing command, a refused key.
async fn setup(now: chrono::DateTime<Utc>) -> Setup {
    let sandbox = sandbox::start(SandboxOptions {
        leads: 12,
        seed: 7,
        rate_limit: sandbox::RateLimit::unlimited(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(dir.path(), sandbox.info(), &ClientLimit(100_000, 1));
    let info = sandbox.info();
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let broken = format!(
        "\n[accounts.sl-unset]\nprovider = \"smartlead\"\napi_key_env = {var}\nbase_url = {base}\n\n\
         [accounts.sl-refused]\nprovider = \"smartlead\"\napi_key = \"not-the-key\"\nbase_url = {base}\n\n\
         [accounts.gm-cmd]\nprovider = \"gmail\"\nemail = \"other@acme.example\"\nclient_id = {cid}\n\
         client_secret_cmd = \"exit 3\"\napi_base_url = {gbase}\nauth_url = {auth}\ntoken_url = {token}\n",
        var = q(UNSET_VAR),
        base = q(&info.smartlead_base_url),
        cid = q(&info.oauth_client_id),
        gbase = q(&info.gmail_api_base_url),
        auth = q(&info.oauth_auth_url),
        token = q(&info.oauth_token_url),
    );
    let mut text = std::fs::read_to_string(&config_path).unwrap();
    text.push_str(&broken);
    std::fs::write(&config_path, text).unwrap();
    store_gmail_tokens_at(&sandbox, &dir.path().join("data"), now);
    Setup {
        sandbox,
        dir,
        config_path,
    }
}

fn engine_for(config_path: &Path, clock: SharedClock) -> Engine {
    let config = config::load_unresolved(&ConfigSources {
        config_path: Some(config_path.to_path_buf()),
        data_dir: None,
    })
    .expect("config loads without reading secrets");
    let providers =
        Providers::from_config(&config, config.data_dir(), clock.clone()).expect("providers");
    let store = Store::open(config.data_dir(), "test").unwrap();
    Engine::with_providers(store, clock, Arc::new(providers))
}

fn gmail_item(id: &str, account: &str, from: &str, now: chrono::DateTime<Utc>) -> OutboxItem {
    OutboxItem {
        id: id.into(),
        account: account.into(),
        provider: Provider::Gmail,
        idempotency_key: format!("compose:{id}"),
        state: OutboxState::Pending,
        not_before: now - Duration::minutes(1),
        message_id: format!("<{id}@outpost.example>"),
        email: OutgoingEmail {
            from: from.into(),
            to: vec!["dana@ledgerly.example".into()],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: format!("Tuesday ({id})"),
            text_body: "Does Tuesday at ten work?".into(),
            html_body: None,
            in_reply_to: None,
            references: Vec::new(),
            headers: Vec::new(),
            attachments: Vec::new(),
        },
        delivery: Delivery::GmailSend { thread_id: None },
        thread_key: None,
        enrollment_id: None,
        step: None,
        attempts: 0,
        last_error: None,
        provider_id: None,
        created_at: now,
        updated_at: now,
        send_at: None,
        attachments_left_out: Vec::new(),
        lease: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_with_an_unset_secret_is_set_aside_and_the_others_sync_and_send() {
    let clock = FakeClock::new(Utc::now());
    let now = clock.now();
    let setup = setup(now).await;
    let engine = engine_for(&setup.config_path, Arc::new(clock.clone()));

    let set_aside = &outpost::testing::providers(&engine).needs_attention;
    assert_eq!(
        set_aside.keys().collect::<Vec<_>>(),
        ["gm-cmd", "sl-unset"],
        "only the accounts whose secret cannot be read"
    );
    assert_eq!(set_aside["sl-unset"].fix, format!("set {UNSET_VAR}"));
    assert_eq!(
        set_aside["gm-cmd"].fix,
        "make accounts.gm-cmd.client_secret_cmd print the secret"
    );

    // Sync: the working accounts pull their data; each broken one says what to do.
    let sync = SyncEngine::new(engine.clone());
    let summary = sync.sync_all().await;
    let by_name = |name: &str| {
        summary
            .accounts
            .iter()
            .find(|a| a.account == name)
            .unwrap_or_else(|| panic!("{name} in {summary:?}"))
            .clone()
    };
    for working in ["sl", "gm"] {
        let account = by_name(working);
        assert_eq!(account.error, None, "{working}: {account:?}");
        assert!(account.threads > 0, "{working} synced: {account:?}");
    }
    assert_eq!(
        by_name("sl-unset").needs_attention.as_deref(),
        Some(format!("set {UNSET_VAR}").as_str())
    );
    assert_eq!(by_name("sl-unset").provider, "smartlead");
    assert!(by_name("gm-cmd").needs_attention.is_some());
    assert_eq!(
        by_name("sl-refused").needs_attention.as_deref(),
        Some("replace the key in accounts.sl-refused.api_key (Smartlead refused it)")
    );
    assert!(summary.failed(), "a partly failed sync is a failure");
    let json = serde_json::to_value(&summary).unwrap();
    let text = json.to_string();
    assert!(
        !text.contains("not-the-key"),
        "a secret never shows: {text}"
    );

    // Send: the working mailbox's mail goes out; the set-aside one's waits
    // untried (no attempt spent), saying why.
    let mailbox = setup.sandbox.info().gmail_email.clone();
    outpost::testing::store(&engine)
        .put(&gmail_item("ok-1", "gm", &mailbox, now))
        .unwrap();
    outpost::testing::store(&engine)
        .put(&gmail_item("held-1", "gm-cmd", "other@acme.example", now))
        .unwrap();
    let worker = OutboxWorker::new(engine.clone());
    let handled = worker.send_due().await.expect("outbox pass");
    assert_eq!(
        handled.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["ok-1"],
        "a held item is not counted as handled (a loop until idle must not spin)"
    );
    let sent = engine.outbox_item("ok-1").unwrap().unwrap();
    assert_eq!(sent.state, OutboxState::Sent, "{:?}", sent.last_error);
    let held = engine.outbox_item("held-1").unwrap().unwrap();
    assert_eq!(held.state, OutboxState::Pending);
    assert_eq!(held.attempts, 0);
    assert_eq!(
        held.last_error.as_deref(),
        Some(
            "account gm-cmd needs attention: make accounts.gm-cmd.client_secret_cmd print the secret"
        )
    );
    assert_eq!(setup.sandbox.google().sent_messages().len(), 1);
    // A second pass writes nothing new for the held item.
    let writes = outpost::testing::store(&engine).write_count();
    worker.send_due().await.expect("outbox pass");
    assert_eq!(outpost::testing::store(&engine).write_count(), writes);

    // The accounts list (the TUI's first load, the door's `Accounts`).
    let accounts = engine.accounts().unwrap();
    let unset = accounts.iter().find(|a| a.name == "sl-unset").unwrap();
    assert_eq!(
        unset.last_error.as_deref(),
        Some(format!("needs attention: set {UNSET_VAR}").as_str())
    );

    // `/health`: the progress the daemon keeps, with a list of what to fix.
    let health = health_of(&engine, &sync).await;
    let attention = health["needs_attention"].as_array().unwrap();
    let names: Vec<&str> = attention
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gm-cmd", "sl-refused", "sl-unset"], "{health}");
    assert_eq!(attention[2]["fix"], format!("set {UNSET_VAR}"));
    assert_eq!(health["status"], "ok");

    // The TUI status bar, from the feed's progress and the accounts list.
    let screen = status_bar(&engine, &sync).await;
    assert!(
        screen.contains(&format!("sl-unset ✗ needs attention: set {UNSET_VAR}")),
        "{screen}"
    );
    drop(setup.dir);
}

/// `GET /health` of a server over this engine and sync.
async fn health_of(engine: &Engine, sync: &SyncEngine) -> serde_json::Value {
    let metrics = Arc::new(Metrics::default());
    let (ingest, _writer) = Ingest::start(engine.clone());
    let shutdown = CancellationToken::new();
    let state = ServerState::new(ServerParts {
        engine: engine.clone(),
        ingest,
        metrics,
        routes: Vec::new(),
        webhook_secret: None,
        api_token: SecretString::from("isolation-test-token"),
        tracking_key: None,
        sync: Some(sync.clone()),
        scheduler: None,
        shutdown: shutdown.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(outpost::server::serve(listener, state, shutdown.clone()));
    let health = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    shutdown.cancel();
    health
}

/// The TUI's screen after its first accounts load and the pollers' first report.
async fn status_bar(engine: &Engine, sync: &SyncEngine) -> String {
    use outpost::tui::{App, Keymap, Theme, jobs, view};
    let clock: SharedClock = engine.clock().clone();
    let mut app = App::new(
        Keymap::defaults(),
        Theme::new(&Default::default(), true).unwrap(),
        clock,
        10,
        outpost::config::Notify::Bell,
    );
    let mut feed = engine.subscribe();
    app.apply(jobs::run(engine.clone(), jobs::Job::Accounts).await);
    // The pollers report a set-aside account at once, then wait for shutdown.
    let shutdown = CancellationToken::new();
    let pollers = tokio::spawn(sync.clone().run_pollers(shutdown.clone()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = false;
    while !seen {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no progress for sl-unset on the feed");
        if let Ok(Ok(change)) = tokio::time::timeout(left, feed.recv()).await {
            seen = matches!(&change, outpost::store::Change::Progress(p)
                if p.account == "sl-unset" && p.needs_attention.is_some());
            app.on_change(change);
        }
    }
    shutdown.cancel();
    let _ = pollers.await;
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 30)).unwrap();
    terminal.draw(|f| view::draw(f, &mut app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The verbs: each does its work for the usable accounts, names the broken
/// ones with what to set, and exits 1 (partly failed), never 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verbs_name_the_broken_account_and_exit_1() {
    let setup = setup(Utc::now()).await;
    let config = setup.config_path.clone();
    let run = |args: &'static [&'static str]| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            use assert_cmd::cargo::CommandCargoExt;
            let output = std::process::Command::cargo_bin("outpost")
                .unwrap()
                .args(args)
                .arg("--config")
                .arg(&config)
                .env_remove(UNSET_VAR)
                .env_remove("OUTPOST_DATA_DIR")
                .output()
                .unwrap();
            (
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        })
    };

    let (code, stdout, stderr) = run(&["sync", "--once", "--json"]).await.unwrap();
    assert_eq!(code, 1, "{stdout}{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let accounts = summary["accounts"].as_array().unwrap();
    let find = |name: &str| {
        accounts
            .iter()
            .find(|a| a["account"] == name)
            .unwrap_or_else(|| panic!("{name} in {stdout}"))
    };
    assert_eq!(find("sl")["error"], serde_json::Value::Null, "{stdout}");
    assert!(find("sl")["threads"].as_u64().unwrap() > 0);
    assert_eq!(find("gm")["error"], serde_json::Value::Null, "{stdout}");
    assert_eq!(
        find("sl-unset")["needs_attention"],
        format!("set {UNSET_VAR}")
    );

    let (code, stdout, stderr) = run(&["sync", "--once"]).await.unwrap();
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("needs attention: set OUTPOST_"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "account sl-unset needs attention: set {UNSET_VAR}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "account sl-refused needs attention: replace the key in accounts.sl-refused.api_key"
        ),
        "{stderr}"
    );

    let (code, stdout, stderr) = run(&["send", "--json"]).await.unwrap();
    assert_eq!(code, 1, "{stdout}{stderr}");
    let sent: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let named: Vec<&str> = sent["needs_attention"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["gm-cmd", "sl-unset"], "{stdout}");
    assert!(
        stderr.contains(&format!(
            "account sl-unset needs attention: set {UNSET_VAR}"
        )),
        "{stderr}"
    );

    let (code, stdout, stderr) = run(&["doctor"]).await.unwrap();
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("sl: Smartlead answers"), "{stdout}");
    assert!(stdout.contains("gm: Gmail answers"), "{stdout}");
    assert!(
        stdout.contains(&format!("sl-unset: needs attention: set {UNSET_VAR}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "sl-refused: needs attention: replace the key in accounts.sl-refused.api_key"
        ),
        "{stdout}"
    );
    drop(setup.dir);
}
