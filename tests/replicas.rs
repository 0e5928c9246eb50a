//! Several replicas sharing one store, simulated in one process: engines on
//! one `Store`, each with its own replica id and the same fake clock. Each
//! piece of work is done once: an outbox send (also when a replica dies
//! mid-send: its lease runs out and another settles the send through the
//! Sent lookup, never a blind resend), each account's poll, a webhook
//! delivered to two replicas at the same moment, and a due step emitted by
//! two schedulers ticking at once.
//!
//! Each test runs twice: on one embedded store shared by the engines, and
//! on Postgres, where every replica opens its own connection pool to one
//! database, as separate daemons do.

mod daemon_support;
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use outpost::clock::{Clock, FakeClock, SharedClock};
use outpost::engine::Engine;
use outpost::model::*;
use outpost::outbox::{OutboxWorker, SEND_LEASE};
use outpost::providers::registry::Providers;
use outpost::replica::Replica;
use outpost::sandbox::{self, SandboxHandle, SandboxOptions};
use outpost::sequences::{self, LeadInput, Scheduler, SchedulerConfig};
use outpost::store::Store;
use outpost::sync::SyncEngine;
use support::ClientLimit;
use tokio::sync::mpsc;

/// Which store the replicas share.
#[derive(Debug, Clone)]
enum Shared {
    /// One embedded store, handed to every engine.
    Sled(Store),
    /// One database; each replica opens its own store on it.
    Postgres(String),
}

impl Shared {
    fn new(postgres: bool) -> Shared {
        if postgres {
            Shared::Postgres(support::postgres::fresh_database())
        } else {
            Shared::Sled(Store::temporary().unwrap())
        }
    }

    /// The store a replica (or the test's own checks) opens.
    fn open(&self) -> Store {
        match self {
            Shared::Sled(store) => store.clone(),
            Shared::Postgres(url) => Store::postgres(url).unwrap(),
        }
    }
}

/// Runs each test once per backend.
macro_rules! on_both_backends {
    ($(#[$kind:meta] $name:ident),* $(,)?) => {
        mod on_sled {
            $(#[$kind] async fn $name() { super::$name(false).await })*
        }
        mod on_postgres {
            $(#[$kind] async fn $name() { super::$name(true).await })*
        }
    };
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    forty_leads_are_sent_once_by_two_replicas_while_one_dies_mid_send,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    two_pollers_poll_each_account_once_per_interval_and_take_over_from_a_dead_one,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    one_webhook_delivered_to_two_replicas_at_once_is_stored_once,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    two_schedulers_ticking_at_once_emit_each_step_once,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_poller_stopping_hands_its_accounts_over_at_once,
);

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Two Gmail steps, due at once (see `gmail_sequence`).
fn two_email_sequence(account: &str, mailbox: &str) -> String {
    support::cli_sequences::gmail_sequence("replicas", account, mailbox, "UTC", 2)
}

fn leads(n: usize) -> Vec<LeadInput> {
    (0..n)
        .map(|i| LeadInput {
            email: format!("lead{i:02}@prospect.example"),
            first_name: Some(format!("Lead{i:02}")),
            ..LeadInput::default()
        })
        .collect()
}

/// What the Gmail proxy in front of a replica does with its next send.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Trap {
    /// Every call goes through.
    Open,
    /// After `pass` more sends, the next one reaches Gmail (it is sent) and
    /// its answer never comes back: the replica dies right after the call.
    HangAfterSending { pass: usize },
    /// After `pass` more sends, the next one never reaches Gmail: the
    /// replica dies right before the call.
    HangBeforeSending { pass: usize },
}

/// A loopback proxy before the sandbox's Gmail API for one replica.
#[derive(Clone)]
struct GmailTrap {
    upstream: String,
    http: reqwest::Client,
    trap: Arc<Mutex<Trap>>,
    hung: mpsc::UnboundedSender<()>,
}

async fn through_trap(State(proxy): State<GmailTrap>, request: Request) -> Response {
    let is_send = request.method() == axum::http::Method::POST
        && request.uri().path().ends_with("/messages/send");
    let action = if is_send {
        let mut trap = proxy.trap.lock().unwrap();
        match *trap {
            Trap::HangAfterSending { pass } | Trap::HangBeforeSending { pass } if pass > 0 => {
                *trap = match *trap {
                    Trap::HangAfterSending { .. } => Trap::HangAfterSending { pass: pass - 1 },
                    _ => Trap::HangBeforeSending { pass: pass - 1 },
                };
                Trap::Open
            }
            now => {
                *trap = Trap::Open;
                now
            }
        }
    } else {
        Trap::Open
    };
    match action {
        Trap::Open => match support::proxy::forward(&proxy.http, &proxy.upstream, request).await {
            Ok(answer) => answer.into_response(),
            Err(refused) => refused,
        },
        Trap::HangAfterSending { .. } => {
            let _sent = support::proxy::forward(&proxy.http, &proxy.upstream, request).await;
            let _ = proxy.hung.send(());
            std::future::pending().await
        }
        Trap::HangBeforeSending { .. } => {
            let _ = proxy.hung.send(());
            std::future::pending().await
        }
    }
}

/// The sandbox, one store, and replicas on it: "a" reaches Gmail through
/// a trap, "b" directly. Both on the sandbox's fake clock.
struct Replicas {
    sandbox: SandboxHandle,
    clock: FakeClock,
    shared: Shared,
    /// The test's own view of the shared store, for its checks.
    store: Store,
    dir: tempfile::TempDir,
    trap: Arc<Mutex<Trap>>,
    hung: mpsc::UnboundedReceiver<()>,
    proxied_info: sandbox::SandboxInfo,
}

impl Replicas {
    async fn start(start: DateTime<Utc>, postgres: bool) -> Replicas {
        let clock = FakeClock::new(start);
        let shared: SharedClock = Arc::new(clock.clone());
        let sandbox = sandbox::start(SandboxOptions {
            leads: 20,
            seed: 5,
            rate_limit: sandbox::RateLimit::unlimited(),
            clock: shared,
            ..SandboxOptions::default()
        })
        .await
        .expect("sandbox starts");
        let upstream = format!("http://{}", sandbox.addr());
        let (hung_tx, hung) = mpsc::unbounded_channel();
        let trap = Arc::new(Mutex::new(Trap::Open));
        let router = axum::Router::new()
            .fallback(through_trap)
            .with_state(GmailTrap {
                upstream: upstream.clone(),
                http: reqwest::Client::new(),
                trap: trap.clone(),
                hung: hung_tx,
            });
        let proxy = support::proxy::serve(router).await;
        let mut proxied_info = sandbox.info().clone();
        proxied_info.gmail_api_base_url =
            proxied_info.gmail_api_base_url.replace(&upstream, &proxy);
        assert_ne!(
            proxied_info.gmail_api_base_url,
            sandbox.info().gmail_api_base_url
        );
        let shared = Shared::new(postgres);
        Replicas {
            sandbox,
            clock,
            store: shared.open(),
            shared,
            dir: tempfile::tempdir().unwrap(),
            trap,
            hung,
            proxied_info,
        }
    }

    /// An engine on the shared store as replica `id`, each replica with its
    /// own config and data dir (its Gmail tokens), as separate hosts have.
    fn engine(&self, id: &str, through_trap: bool) -> Engine {
        let dir = self.dir.path().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let info = if through_trap {
            &self.proxied_info
        } else {
            self.sandbox.info()
        };
        let config_path = support::write_config(&dir, info, &ClientLimit(100_000, 1));
        let config = support::load_config(&config_path);
        support::store_gmail_tokens_at(&self.sandbox, config.data_dir(), self.clock.now());
        let clock: SharedClock = Arc::new(self.clock.clone());
        let providers = Providers::from_config(&config, config.data_dir(), clock.clone()).unwrap();
        Engine::with_providers(self.shared.open(), clock, Arc::new(providers))
            .with_replica(Replica::named(id))
    }

    fn set_trap(&self, trap: Trap) {
        *self.trap.lock().unwrap() = trap;
    }

    /// Waits (at most 30 s) until the trap has caught a send.
    async fn caught(&mut self) {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.hung.recv())
            .await
            .expect("the trapped replica reached its send")
            .expect("the trap is open");
    }

    /// Sent messages per (recipient, subject), from the sandbox's mailbox.
    fn sent_per_lead(&self) -> BTreeMap<(String, String), usize> {
        let mut seen = BTreeMap::new();
        for message in self.sandbox.google().sent_messages() {
            let header = |name: &str| {
                message
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_lowercase())
                    .unwrap_or_default()
            };
            *seen.entry((header("To"), header("Subject"))).or_insert(0) += 1;
        }
        seen
    }

    fn items_in(&self, state: OutboxState) -> Vec<OutboxItem> {
        self.store
            .iter::<OutboxItem>()
            .map(Result::unwrap)
            .filter(|i| i.state == state)
            .collect()
    }
}

async fn forty_leads_are_sent_once_by_two_replicas_while_one_dies_mid_send(postgres: bool) {
    let start = utc("2026-03-03T15:00:00Z");
    let mut rig = Replicas::start(start, postgres).await;
    let mailbox = rig.sandbox.info().gmail_email.clone();
    let a = rig.engine("replica-a", true);
    let b = rig.engine("replica-b", false);
    sequences::apply_sequence(
        &rig.store,
        "replicas.toml",
        &two_email_sequence("gm", &mailbox),
        &Default::default(),
        start,
    )
    .unwrap();
    let enrolled = sequences::enroll_leads(&rig.store, "replicas", &leads(40), start, true, start)
        .expect("enrolls");
    assert_eq!(enrolled.enrolled.len(), 40, "{:?}", enrolled.skipped);
    let scheduler = Scheduler::new(rig.store.clone(), SchedulerConfig::new(chrono_tz::UTC));
    let report = scheduler.tick(start).unwrap();
    assert_eq!(report.queued.len(), 40);

    // Step 1: "a" sends ten, then dies right after Gmail took its eleventh
    // send, before it could record it; "b" sends the rest, but not the
    // trapped send: held under "a"'s lease, not run out yet, it is left alone.
    rig.set_trap(Trap::HangAfterSending { pass: 10 });
    let worker_a = OutboxWorker::new(a.clone());
    let dying = tokio::spawn(async move { worker_a.send_due().await });
    rig.caught().await;
    dying.abort();
    let _ = dying.await;
    let worker_b = OutboxWorker::new(b.clone());
    worker_b.send_due().await.unwrap();
    let stranded = rig.items_in(OutboxState::Sending);
    assert_eq!(stranded.len(), 1, "only the trapped send is in flight");
    let lease = stranded[0]
        .lease
        .clone()
        .expect("a sending item holds a lease");
    assert_eq!(lease.holder, "replica-a");
    assert_eq!(lease.expires_at, start + SEND_LEASE);
    assert_eq!(rig.sandbox.google().sent_messages().len(), 40);

    // Within the lease "b" leaves it; once it runs out, "b" finds it in Sent.
    rig.clock.advance(SEND_LEASE - Duration::seconds(1));
    worker_b.send_due().await.unwrap();
    assert_eq!(rig.items_in(OutboxState::Sending).len(), 1);
    rig.clock.advance(Duration::seconds(1));
    let settled = worker_b.send_due().await.unwrap();
    assert!(
        settled
            .iter()
            .any(|i| i.id == stranded[0].id && i.state == OutboxState::Sent)
    );
    assert_eq!(rig.items_in(OutboxState::Sent).len(), 40);
    assert_eq!(rig.sandbox.google().sent_messages().len(), 40, "no resend");

    // Step 2: "a" (restarted) and "b" again; this time "a" dies right
    // before its fourth send reaches Gmail.
    drop(a);
    let now = rig.clock.now();
    let report = scheduler.tick(now).unwrap();
    assert_eq!(report.queued.len(), 40);
    rig.set_trap(Trap::HangBeforeSending { pass: 3 });
    let a = rig.engine("replica-a", true);
    let worker_a = OutboxWorker::new(a.clone());
    let dying = tokio::spawn(async move { worker_a.send_due().await });
    rig.caught().await;
    dying.abort();
    let _ = dying.await;
    drop(a);
    worker_b.send_due().await.unwrap();
    let stranded = rig.items_in(OutboxState::Sending);
    assert_eq!(stranded.len(), 1);
    assert_eq!(rig.sandbox.google().sent_messages().len(), 79);
    // "b" leaves the live lease alone; "a" restarted knows the send as its
    // own from before and settles it at once: not in Sent, so sent now.
    worker_b.send_due().await.unwrap();
    assert_eq!(rig.items_in(OutboxState::Sending).len(), 1);
    let a = rig.engine("replica-a", false);
    let handled = OutboxWorker::new(a.clone()).send_due().await.unwrap();
    assert!(
        handled
            .iter()
            .any(|i| i.id == stranded[0].id && i.state == OutboxState::Sent)
    );

    // Every lead got each step exactly once.
    assert_eq!(rig.items_in(OutboxState::Sent).len(), 80);
    let sent = rig.sent_per_lead();
    assert_eq!(sent.len(), 80, "{sent:?}");
    assert!(sent.values().all(|&n| n == 1), "{sent:?}");
    let items = rig.store.iter::<OutboxItem>().map(Result::unwrap);
    assert!(
        items.into_iter().all(|i| i.lease.is_none()),
        "settled items hold no lease"
    );
}

async fn two_pollers_poll_each_account_once_per_interval_and_take_over_from_a_dead_one(
    postgres: bool,
) {
    let start = utc("2026-03-03T15:00:00Z");
    let rig = Replicas::start(start, postgres).await;
    let pollers = [
        SyncEngine::new(rig.engine("poller-a", false)),
        SyncEngine::new(rig.engine("poller-b", false)),
    ];
    let interval = std::time::Duration::from_secs(60);
    // Polls that reached each provider: Smartlead's campaign list and
    // Gmail's profile or history are asked once per poll of its account.
    let smartlead_polls = || {
        rig.sandbox
            .counters()
            .requests_by_route
            .get("GET /api/v1/campaigns")
            .copied()
            .unwrap_or(0)
    };
    let gmail_calls = || rig.sandbox.google().counters().calls.values().sum::<u64>();
    let mut holder = BTreeMap::new();
    for round in 0..4 {
        let (before_sl, before_gm) = (smartlead_polls(), gmail_calls());
        let polled = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (which, poller) in pollers.iter().enumerate() {
            for account in ["sl", "gm"] {
                let (poller, polled) = (poller.clone(), polled.clone());
                tasks.push(tokio::spawn(async move {
                    let summary = poller.poll_account(account, interval).await;
                    if let Some(summary) = &summary {
                        assert!(summary.error.is_none(), "{summary:?}");
                        polled.fetch_add(1, Ordering::SeqCst);
                    }
                    (account, which, summary.is_some())
                }));
            }
        }
        for task in tasks {
            let (account, which, polled) = task.await.unwrap();
            if polled {
                let first = *holder.entry(account).or_insert(which);
                assert_eq!(first, which, "the holder keeps {account} (round {round})");
            }
        }
        assert_eq!(
            polled.load(Ordering::SeqCst),
            2,
            "one poll per account (round {round})"
        );
        assert_eq!(smartlead_polls() - before_sl, 1, "round {round}");
        assert!(gmail_calls() > before_gm, "round {round}");
        rig.clock.advance(Duration::seconds(60));
    }

    // The holder of "sl" dies: the other skips it until its lease (two
    // intervals past the last poll) runs out, then takes it over.
    let survivor = &pollers[1 - holder["sl"]];
    let before = smartlead_polls();
    assert!(survivor.poll_account("sl", interval).await.is_none());
    rig.clock.advance(Duration::seconds(59));
    assert!(survivor.poll_account("sl", interval).await.is_none());
    assert_eq!(
        smartlead_polls(),
        before,
        "no request while the lease holds"
    );
    rig.clock.advance(Duration::seconds(1));
    let took_over = survivor
        .poll_account("sl", interval)
        .await
        .expect("takes over");
    assert!(took_over.error.is_none(), "{took_over:?}");
    assert_eq!(smartlead_polls(), before + 1);
}

async fn one_webhook_delivered_to_two_replicas_at_once_is_stored_once(postgres: bool) {
    use daemon_support::{ACCOUNT, TestServer, reply_payload};
    let shared = Shared::new(postgres);
    let store = shared.open();
    let clock = FakeClock::new(utc("2025-06-04T09:00:00Z"));
    let mut servers = Vec::new();
    for id in ["hook-a", "hook-b"] {
        let engine =
            Engine::new(shared.open(), Arc::new(clock.clone())).with_replica(Replica::named(id));
        servers.push(TestServer::serve(engine, clock.clone(), tempfile::tempdir().unwrap()).await);
    }
    const DELIVERIES: usize = 300;
    let payload = |n: usize| {
        let mut payload = reply_payload(
            &format!("lead{n}@prospect.example"),
            9_000_000 + n as i64,
            "2025-06-04T08:02:31+00:00",
            &format!("Reply number {n}"),
        );
        // Each its own conversation: one Message-ID would make them one.
        payload["sent_message"]["message_id"] = format!("<sent-{n}@ledger.example>").into();
        payload
    };
    // Two threads, one per replica, posting the same delivery each round
    // once both are ready.
    let barrier = Arc::new(Barrier::new(2));
    let mut threads = Vec::new();
    for server in &servers {
        let (url, barrier) = (
            format!("{}/webhooks/smartlead", server.base),
            barrier.clone(),
        );
        let bodies: Vec<String> = (0..DELIVERIES).map(|n| payload(n).to_string()).collect();
        threads.push(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let http = reqwest::Client::new();
            let mut new_events = Vec::new();
            for body in bodies {
                barrier.wait();
                let answer: serde_json::Value = runtime.block_on(async {
                    let response = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    response.json().await.unwrap()
                });
                new_events.push(answer["new_events"].as_u64().unwrap());
            }
            new_events
        }));
    }
    let answers = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (n, (a, b)) in answers[0].iter().zip(&answers[1]).enumerate() {
        assert_eq!(a + b, 1, "delivery {n} is new to one replica");
        let email = format!("lead{n}@prospect.example");
        let events = servers[0]
            .engine
            .lead_events(&Lead::key_for(ACCOUNT, &email))
            .unwrap();
        assert_eq!(events.len(), 1, "{email}: {events:?}");
        let thread = Thread::key_for(ACCOUNT, &format!("1764810:{}", 9_000_000 + n));
        let view = servers[0].engine.thread(&thread).unwrap().expect("thread");
        let replies = view
            .messages
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .count();
        assert_eq!((replies, view.thread.message_count), (1, 2), "{email}");
    }
    assert!(store.verify_indexes().unwrap().is_empty());
}

async fn two_schedulers_ticking_at_once_emit_each_step_once(postgres: bool) {
    let shared = Shared::new(postgres);
    let store = shared.open();
    let start = utc("2026-03-03T15:00:00Z");
    sequences::apply_sequence(
        &store,
        "replicas.toml",
        &two_email_sequence("acme", "rep@acme.example"),
        &Default::default(),
        start,
    )
    .unwrap();
    let schedulers = [
        Scheduler::new(shared.open(), SchedulerConfig::new(chrono_tz::UTC)),
        Scheduler::new(shared.open(), SchedulerConfig::new(chrono_tz::UTC)),
    ];
    const ROUNDS: usize = 300;
    const PER_ROUND: usize = 3;
    let barrier = Barrier::new(2);
    for round in 0..ROUNDS {
        let now = start + Duration::minutes(round as i64);
        let inputs: Vec<LeadInput> = (0..PER_ROUND)
            .map(|i| LeadInput {
                email: format!("r{round}-{i}@prospect.example"),
                ..LeadInput::default()
            })
            .collect();
        let enrolled =
            sequences::enroll_leads(&store, "replicas", &inputs, now, true, now).expect("enrolls");
        assert_eq!(enrolled.enrolled.len(), PER_ROUND);
        let queued: usize = std::thread::scope(|scope| {
            let ticks: Vec<_> = schedulers
                .iter()
                .map(|scheduler| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        scheduler.tick(now).unwrap().queued.len()
                    })
                })
                .collect();
            ticks.into_iter().map(|t| t.join().unwrap()).sum()
        });
        assert_eq!(
            queued, PER_ROUND,
            "round {round}: each due step queued once"
        );
    }
    let mut per_enrollment: BTreeMap<String, usize> = BTreeMap::new();
    for item in store.iter::<OutboxItem>() {
        *per_enrollment
            .entry(item.unwrap().enrollment_id.unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(per_enrollment.len(), ROUNDS * PER_ROUND);
    assert!(per_enrollment.values().all(|&n| n == 1));
    // The mailbox's daily count saw each send once.
    let day: Cursor = store
        .get(&scoped_key(
            "acme",
            "mailbox-day/rep@acme.example/2026-03-03",
        ))
        .unwrap()
        .expect("the day's count");
    let count: usize = day
        .value
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(count, ROUNDS * PER_ROUND);
}

async fn a_poller_stopping_hands_its_accounts_over_at_once(postgres: bool) {
    use outpost::replica::PollLease;
    let start = utc("2026-03-03T15:00:00Z");
    let rig = Replicas::start(start, postgres).await;
    let stopping = SyncEngine::new(rig.engine("poller-stopping", false));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let pollers = tokio::spawn(stopping.clone().run_pollers(shutdown.clone()));
    // Its first polls run at once; wait (at most 30 s) until it holds both.
    let holds = |account: &str| {
        rig.store
            .get::<PollLease>(account)
            .unwrap()
            .is_some_and(|l| l.lease.holder == "poller-stopping")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(holds("sl") && holds("gm")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the poller took its accounts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    pollers.await.unwrap();
    // No time has passed, yet the other replica polls both now.
    let other = SyncEngine::new(rig.engine("poller-staying", false));
    let interval = std::time::Duration::from_secs(60);
    assert!(other.poll_account("sl", interval).await.is_some());
    assert!(other.poll_account("gm", interval).await.is_some());
}
