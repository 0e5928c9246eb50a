//! The TUI attached to a daemon: the real daemon on the sandbox, the App on a
//! TestBackend through the remote backend and the daemon's change stream.
//! A reply posted to the webhook shows on the rendered inbox within a
//! second, a reply typed in the TUI reaches Smartlead through the daemon,
//! the status bar says when the daemon is unreachable and recovers, a TUI
//! started on a daemon's data dir attaches by itself, and a wrong token is a
//! one-line error with exit code 2.

mod daemon_support;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use outpost::cli::attach::{AttachFlags, TuiTarget, connect, tui_target};
use outpost::clock::SystemClock;
use outpost::config::{self, Config, ConfigSources, Notify};
use outpost::engine::door::{Request, Response};
use outpost::engine::remote::RemoteEngine;
use outpost::engine::{InboxQuery, LeadQuery};
use outpost::sandbox::InjectReply;
use outpost::tui::app::ToastLevel;
use outpost::tui::{App, Backend, Feed, FeedEvent, Keymap, Theme, jobs, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "0b6c3f0e-77a2-4c55-9e0d-4f1b2a3c4d5e";

/// The App driven like the terminal loop drives it, on a TestBackend.
struct AttachedTui {
    app: App,
    backend: Backend,
    feed: Feed,
    connected: bool,
    terminal: Terminal<TestBackend>,
}

impl AttachedTui {
    fn new(remote: RemoteEngine) -> AttachedTui {
        let mut app = App::new(
            Keymap::defaults(),
            Theme::new(&BTreeMap::new(), false).unwrap(),
            Arc::new(SystemClock),
            0,
            Notify::Off,
        );
        app.attach(remote.base_url());
        AttachedTui {
            app,
            feed: Feed::remote(remote.clone()),
            backend: Backend::Remote(remote),
            connected: false,
            terminal: Terminal::new(TestBackend::new(150, 36)).unwrap(),
        }
    }

    async fn run_jobs(&mut self) {
        loop {
            let jobs = self.app.take_jobs();
            if jobs.is_empty() {
                return;
            }
            for job in jobs {
                let result = jobs::run(self.backend.clone(), job).await;
                self.app.apply(result);
            }
        }
    }

    fn handle(&mut self, event: FeedEvent) {
        if event == FeedEvent::Connected {
            self.connected = true;
        }
        self.app.on_feed(event);
    }

    /// Runs jobs and feed events until `done` holds or `deadline` passes;
    /// whether it held.
    async fn wait_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&mut AttachedTui) -> bool,
    ) -> bool {
        loop {
            self.run_jobs().await;
            while let Some(event) = self.feed.try_recv() {
                self.handle(event);
            }
            if !self.app.jobs.is_empty() {
                continue;
            }
            if done(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.feed.recv()).await {
                Ok(event) => self.handle(event),
                Err(_) => return done(self),
            }
        }
    }

    async fn keys(&mut self, keys: &str) {
        for token in keys.split_whitespace() {
            let event = match token {
                "enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
                t if t.starts_with("C-") => KeyEvent::new(
                    KeyCode::Char(t.chars().nth(2).unwrap()),
                    KeyModifiers::CONTROL,
                ),
                t => KeyEvent::new(KeyCode::Char(t.chars().next().unwrap()), KeyModifiers::NONE),
            };
            self.app.handle_key(event);
            self.run_jobs().await;
        }
    }

    async fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.app
                .handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        self.run_jobs().await;
    }

    fn screen(&mut self) -> String {
        self.terminal
            .draw(|f| view::draw(f, &mut self.app))
            .unwrap();
        let buffer = self.terminal.backend().buffer();
        let mut out = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                out.push_str(buffer[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }
}

fn add_daemon_section(config_path: &Path) {
    let mut text = std::fs::read_to_string(config_path).unwrap();
    text.push_str(&format!(
        "\n[daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"{SECRET}\"\n"
    ));
    std::fs::write(config_path, text).unwrap();
}

struct RunningDaemon {
    api_url: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), outpost::daemon::DaemonError>>,
}

async fn start_daemon(config: Config) -> RunningDaemon {
    let shutdown = CancellationToken::new();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(outpost::daemon::run(
        config,
        None,
        shutdown.clone(),
        Some(ready_tx),
    ));
    let started = ready.await.expect("the daemon starts");
    RunningDaemon {
        api_url: started.api_url,
        shutdown,
        task,
    }
}

impl RunningDaemon {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the daemon stops")
            .unwrap()
            .unwrap();
    }
}

/// An EMAIL_REPLY webhook as Smartlead sends it, for a reply the sandbox holds.
fn reply_webhook(
    lead_email: &str,
    reply: &outpost::sandbox::InjectedReply,
    subject: &str,
    text: &str,
) -> Value {
    json!({
        "event_type": "EMAIL_REPLY", "webhook_id": 801, "webhook_name": "outpost",
        "campaign_id": reply.campaign_id, "campaign_name": "Sandbox campaign",
        "campaign_status": "ACTIVE", "client_id": 34998, "sequence_number": 1,
        "sl_email_lead_id": reply.lead_id.to_string(),
        "sl_email_lead_map_id": reply.campaign_lead_map_id,
        "sl_lead_email": lead_email,
        "stats_id": reply.stats_id, "stats_thread_id": "thr",
        "from_email": "rep@outpost.example", "to_email": "rep@outpost.example",
        "subject": subject,
        "sent_message": {"message_id": "<first@mail.outpost.example>", "html": "<p>Hi</p>",
            "text": "Hi", "time": "2025-06-03T13:04:10.000Z"},
        "reply_message": {"message_id": reply.message_id, "html": format!("<div>{text}</div>"),
            "text": text, "time": reply.time},
        "event_timestamp": reply.time, "time_replied": reply.time, "reply_category": null,
        "leadCorrespondence": {"targetLeadEmail": lead_email, "replyReceivedFrom": lead_email,
            "repliedCompanyDomain": "SameCompany"},
        "secret_key": SECRET,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_tui_shows_a_webhook_reply_within_a_second_and_replies_through_the_daemon() {
    let rig = support::fast_rig(200, 5).await;
    add_daemon_section(&rig.config_path);
    drop(rig.engine); // the daemon opens the data dir
    let config = support::load_config(&rig.config_path);
    let token_path = config.data_dir().join(outpost::daemon::TOKEN_FILE);
    let daemon = start_daemon(config).await;
    let token = std::fs::read_to_string(&token_path).unwrap();
    let remote = RemoteEngine::new(&daemon.api_url, SecretString::from(token)).unwrap();

    // The TUI connects and the daemon's first sync of both accounts ends.
    let mut tui = AttachedTui::new(remote.clone());
    let synced = tui
        .wait_until(Instant::now() + Duration::from_secs(60), |t| {
            t.connected
                && t.app.sync.len() == 2
                && t.app
                    .sync
                    .values()
                    .all(|p| !p.running && (p.last_success.is_some() || p.last_error.is_some()))
        })
        .await;
    assert!(synced, "first sync: {:?}", tui.app.sync);
    assert!(tui.screen().contains("attached to daemon at"));

    // A TUI attaching after the sync ended never saw its progress; it still
    // shows each account's last sync, from the daemon's own state.
    let mut late = AttachedTui::new(remote.clone());
    late.run_jobs().await;
    let late_screen = late.screen();
    assert!(!late_screen.contains("not synced yet"), "{late_screen}");
    assert!(late.app.sync.values().all(|p| p.last_success.is_some()));

    // A lead who has not replied yet answers; Smartlead posts the webhook.
    let Ok(Response::Threads(threads)) = remote
        .execute(&Request::Inbox {
            query: InboxQuery::default(),
        })
        .await
    else {
        panic!("the inbox through the door")
    };
    let answered: Vec<String> = threads.into_iter().map(|v| v.key).collect();
    let Ok(Response::Leads(leads)) = remote
        .execute(&Request::Leads {
            query: LeadQuery::default(),
        })
        .await
    else {
        panic!("the leads through the door")
    };
    let lead = leads
        .into_iter()
        .find(|l| {
            let id = l.lead.smartlead_lead_id.unwrap_or_default();
            l.lead.memberships.len() == 1
                && !answered.iter().any(|k| k.ends_with(&format!(":{id}")))
        })
        .expect("a lead without a reply")
        .lead;
    let text = "Send me times for next week, Wednesday preferably.";
    assert!(!tui.screen().contains(text));
    let injected = rig
        .sandbox
        .inject_reply(&InjectReply {
            campaign_id: lead.memberships[0].campaign_id,
            lead_email: lead.email.clone(),
            body: format!("<div>{text}</div>"),
            category: None,
        })
        .unwrap();
    let payload = reply_webhook(&lead.email, &injected, "Re: a quick idea", text);

    let posted = Instant::now();
    let status = reqwest::Client::new()
        .post(format!("{}/webhooks/smartlead", daemon.api_url))
        .json(&payload)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let shown = tui
        .wait_until(posted + Duration::from_secs(1), |t| {
            t.screen().contains(text)
        })
        .await;
    let elapsed = posted.elapsed();
    assert!(
        shown,
        "the reply's thread is not on the inbox:\n{}",
        tui.screen()
    );
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");

    // Open it (newest, so first), reply and send through the daemon.
    tui.keys("g enter").await;
    let thread_key = format!("sl/{}:{}", injected.campaign_id, injected.lead_id);
    assert_eq!(tui.app.thread.key, thread_key);
    tui.keys("r").await;
    tui.type_text("Tuesday 10:00 ET works.").await;
    tui.keys("C-s").await;
    let pending = tui.app.pending_send.clone().expect("queued on the daemon");
    assert!(matches!(
        remote
            .execute(&Request::OutboxItem {
                id: pending.id.clone()
            })
            .await,
        Ok(Response::MaybeOutboxItem(Some(_)))
    ));
    let sent = tui
        .wait_until(Instant::now() + Duration::from_secs(30), |t| {
            t.app.pending_send.is_none()
        })
        .await;
    assert!(sent, "the send did not finish: {:?}", tui.app.toast);
    // The bar says it went ("Sent to ..." from the app, or the daemon's
    // outbox notice "Sent \"subject\" to ...", whichever came last).
    let (said, level) = tui.app.toast.clone().expect("a message about the send");
    assert_eq!(level, ToastLevel::Info, "{said}");
    assert!(
        said.starts_with("Sent") && said.contains(&lead.email),
        "{said}"
    );
    assert!(tui.screen().contains(&said), "{}", tui.screen());
    let posts = rig.sandbox.reply_posts();
    let ours: Vec<_> = posts
        .iter()
        .filter(|p| {
            p.body["email_body"]
                .as_str()
                .is_some_and(|b| b.contains("Tuesday 10:00 ET works."))
        })
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "exactly one reply reached Smartlead: {posts:?}"
    );
    assert_eq!(ours[0].campaign_id, injected.campaign_id);

    // A remote failure reads like a local one in the status bar.
    tui.app.jobs.push(jobs::Job::Enroll {
        sequence: "no-such-sequence".into(),
        email: lead.email.clone(),
        force: false,
    });
    tui.run_jobs().await;
    assert!(
        tui.screen().contains("not enrolled: no sequence"),
        "{}",
        tui.screen()
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_bar_says_when_the_daemon_is_unreachable_and_recovers() {
    let server = daemon_support::TestServer::start().await;
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let remote =
        RemoteEngine::new(&server.base, SecretString::from(daemon_support::API_TOKEN)).unwrap();
    let mut tui = AttachedTui::new(remote);
    let deadline = Instant::now() + Duration::from_secs(10);
    assert!(tui.wait_until(deadline, |t| t.connected).await);

    // The daemon stops: the stream ends, the bar says so, keys still work.
    server.shutdown.cancel();
    let down = tui
        .wait_until(Instant::now() + Duration::from_secs(10), |t| {
            t.screen().contains("daemon unreachable")
        })
        .await;
    assert!(down, "{}", tui.screen());
    tui.keys("2 1").await;
    assert!(tui.screen().contains("daemon unreachable"));

    // A daemon comes back on the same address: the app reconnects and reloads.
    let restarted = serve_on(addr).await;
    tui.connected = false;
    let back = tui
        .wait_until(Instant::now() + Duration::from_secs(15), |t| {
            t.connected && t.screen().contains("attached to daemon at")
        })
        .await;
    assert!(back, "{}", tui.screen());
    assert!(!tui.screen().contains("daemon unreachable"));
    restarted.cancel();
}

/// A daemon's HTTP server on a given address over a new temporary store
/// (the restarted daemon), until the returned token is cancelled.
async fn serve_on(addr: std::net::SocketAddr) -> CancellationToken {
    use outpost::server::state::{ServerParts, ServerState};
    let dir = tempfile::tempdir().unwrap();
    let store = outpost::store::Store::open(dir.path(), "daemon").unwrap();
    let engine = outpost::engine::Engine::new(store, Arc::new(SystemClock));
    let metrics = Arc::new(outpost::server::Metrics::default());
    let (ingest, _writer) = outpost::server::Ingest::start(engine.clone());
    let shutdown = CancellationToken::new();
    let state = ServerState::new(ServerParts {
        engine,
        ingest,
        metrics,
        routes: Vec::new(),
        webhook_secret: None,
        api_token: SecretString::from(daemon_support::API_TOKEN),
        tracking_key: None,
        sync: None,
        scheduler: None,
        shutdown: shutdown.clone(),
    });
    // The old listener may take a moment to be released: retry until bound.
    let deadline = Instant::now() + Duration::from_secs(10);
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("cannot bind {addr}: {e}"),
        }
    };
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _dir = dir;
        outpost::server::serve(listener, state, stop).await
    });
    shutdown
}

fn write_daemon_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[accounts.acme-smartlead]\nprovider = \"smartlead\"\napi_key = \"k\"\n\
             base_url = \"http://127.0.0.1:9/api/v1\"\npoll_interval_secs = 3600\n\
             [daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tui_started_on_a_daemons_data_dir_attaches_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_daemon_config(dir.path());
    let sources = ConfigSources {
        config_path: Some(config_path),
        data_dir: Some(dir.path().join("data")),
    };
    // Nothing holds the data dir: the TUI opens it itself.
    let unresolved = config::load_unresolved(&sources).unwrap();
    assert!(matches!(
        tui_target(&AttachFlags::default(), &unresolved).unwrap(),
        TuiTarget::Local
    ));

    let daemon = start_daemon(config::load(&sources).unwrap()).await;
    let target = tui_target(&AttachFlags::default(), &unresolved).unwrap();
    let TuiTarget::Remote { url, token, auto } = target else {
        panic!("a daemon holds the data dir: {target:?}");
    };
    assert!(auto);
    assert_eq!(url, daemon.api_url);
    let on_disk = std::fs::read_to_string(dir.path().join("data/api.token")).unwrap();
    assert_eq!(token.expose_secret(), on_disk.trim());
    let remote = connect(&url, token).await.expect("the token is accepted");
    assert!(remote.execute(&Request::Accounts).await.is_ok());
    daemon.stop().await;

    // Held by a process that is not a daemon: no attach, and the data dir
    // refuses clearly as before.
    let holder = outpost::store::Store::open(&dir.path().join("data"), "cli").unwrap();
    assert!(matches!(
        tui_target(&AttachFlags::default(), &unresolved).unwrap(),
        TuiTarget::Local
    ));
    let refused = outpost::store::Store::open(&dir.path().join("data"), "tui")
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("in use by another outpost process"),
        "{refused}"
    );
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_one_clear_line_and_exit_2() {
    let server = daemon_support::TestServer::start().await;
    let wrong = "wrong-token-4f1c9a";
    let failed = connect(&server.base, SecretString::from(wrong))
        .await
        .unwrap_err();
    assert_eq!(failed.code, 2);

    let base = server.base.clone();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, "").unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_string_lossy();
    let (code, stdout, stderr) = support::daemon_process::run_env(
        &config_path,
        &["--data-dir", &data_dir, "--remote", &base],
        &[("OUTPOST_REMOTE_TOKEN", wrong)],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused the API token"), "{stderr}");
    assert!(!stderr.contains(wrong), "the token is never printed");
}
