//! Smartlead replies whose outcome is unknown are settled through the lead's
//! message history, never resent blindly and never abandoned: an answer lost
//! after Smartlead sent the reply, a 5xx before it did, a history that cannot
//! be read for a while, and a crash while the reply was `sending`. A proxy in
//! front of the sandbox decides what happens to each reply call; the sandbox
//! (on the same fake clock as outpost) records what it really sent.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use outpost::clock::{Clock, FakeClock, SharedClock};
use outpost::engine::{Engine, ReplyDraft};
use outpost::model::*;
use outpost::outbox::{OutboxWorker, SMARTLEAD_REPLY_GRACE, next_lookup_at};
use outpost::providers::registry::Providers;
use outpost::providers::smartlead;
use outpost::sandbox::{self, SandboxHandle, SandboxOptions};
use outpost::store::Store;
use outpost::sync::SyncEngine;
use support::{ClientLimit, proxy, write_config};

/// What the proxy does with a `reply-email-thread` call.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ReplyCall {
    Forward,
    /// Smartlead sends the reply; the client gets a 500.
    LoseAnswer,
    /// A 500 before Smartlead sees the call.
    Refuse,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    reply: Arc<Mutex<ReplyCall>>,
    history_down: Arc<AtomicBool>,
    /// History requests seen, answered or not.
    history_calls: Arc<AtomicUsize>,
}

impl Proxy {
    fn set_reply(&self, mode: ReplyCall) {
        *self.reply.lock().expect("proxy lock") = mode;
    }

    fn set_history_down(&self, down: bool) {
        self.history_down.store(down, Ordering::SeqCst);
    }

    fn history_calls(&self) -> usize {
        self.history_calls.load(Ordering::SeqCst)
    }
}

async fn forward(State(p): State<Proxy>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let is_reply = request.method() == Method::POST && path.ends_with("/reply-email-thread");
    let is_history = request.method() == Method::GET && path.ends_with("/message-history");
    let mode = *p.reply.lock().expect("proxy lock");
    if is_history {
        p.history_calls.fetch_add(1, Ordering::SeqCst);
    }
    if (is_reply && mode == ReplyCall::Refuse)
        || (is_history && p.history_down.load(Ordering::SeqCst))
    {
        return proxy::server_error();
    }
    match proxy::forward(&p.http, &p.upstream, request).await {
        Ok(_) if is_reply && mode == ReplyCall::LoseAnswer => proxy::server_error(),
        Ok(answer) => answer.into_response(),
        Err(response) => response,
    }
}

/// Starts a proxy to `upstream` (an origin); returns its origin.
async fn start_proxy(upstream: &str) -> (String, Proxy) {
    let state = Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        http: reqwest::Client::new(),
        reply: Arc::new(Mutex::new(ReplyCall::Forward)),
        history_down: Arc::new(AtomicBool::new(false)),
        history_calls: Arc::new(AtomicUsize::new(0)),
    };
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(state.clone());
    (proxy::serve(app).await, state)
}

struct Rig {
    sandbox: SandboxHandle,
    _dir: tempfile::TempDir,
    clock: Arc<FakeClock>,
    engine: Engine,
    proxy: Proxy,
    /// Smartlead conversations the lead replied in, after a sync.
    threads: Vec<Thread>,
}

async fn rig() -> Rig {
    let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("start time");
    let clock = Arc::new(FakeClock::new(start));
    let shared: SharedClock = clock.clone();
    let sandbox = sandbox::start(SandboxOptions {
        leads: 40,
        seed: 29,
        rate_limit: sandbox::RateLimit::unlimited(),
        clock: shared.clone(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let mut info = sandbox.info().clone();
    let base: url::Url = info.smartlead_base_url.parse().expect("smartlead url");
    let origin = base.origin().ascii_serialization();
    let (proxy_origin, proxy) = start_proxy(&origin).await;
    info.smartlead_base_url = format!("{proxy_origin}{}", base.path());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), &info, &ClientLimit(100_000, 1));
    let config = support::load_config(&path);
    let mut providers =
        Providers::from_config(&config, config.data_dir(), shared.clone()).expect("providers");
    // Short retry waits: a failing history lookup should fail fast here.
    support::fast_smartlead(
        &mut providers,
        "sl",
        &info.smartlead_base_url,
        &info.smartlead_api_key,
        |cfg| {
            cfg.max_retries = 1;
            cfg.retry_base_delay = StdDuration::from_millis(5);
        },
    );
    let engine = Engine::with_providers(
        Store::temporary().expect("store"),
        shared,
        Arc::new(providers),
    );
    let summary = SyncEngine::new(engine.clone()).sync_account("sl").await;
    assert!(summary.error.is_none(), "{summary:?}");
    let mut threads: Vec<Thread> = outpost::testing::store(&engine)
        .iter::<Thread>()
        .map(|t| t.expect("thread"))
        .filter(|t| t.provider == Provider::Smartlead && t.has_reply)
        .collect();
    threads.sort_by_key(Thread::key);
    assert!(threads.len() >= 2, "the sandbox has replied conversations");
    Rig {
        sandbox,
        _dir: dir,
        clock,
        engine,
        proxy,
        threads,
    }
}

impl Rig {
    fn queue(&self, thread: usize, text: &str) -> OutboxItem {
        self.engine
            .queue_reply(
                &self.threads[thread].key(),
                &ReplyDraft {
                    text: text.into(),
                    ..ReplyDraft::default()
                },
                Duration::zero(),
            )
            .expect("reply queued")
    }

    fn item(&self, id: &str) -> OutboxItem {
        outpost::testing::store(&self.engine)
            .get::<OutboxItem>(id)
            .expect("read")
            .expect("the item")
    }

    /// Reply calls Smartlead processed whose body says `text`.
    fn received(&self, text: &str) -> usize {
        self.sandbox
            .reply_posts()
            .iter()
            .filter(|p| {
                p.body["email_body"]
                    .as_str()
                    .is_some_and(|b| b.contains(text))
            })
            .count()
    }

    /// Manual sends in the conversation's Smartlead history that say `text`.
    async fn in_history(&self, thread: usize, text: &str) -> usize {
        let (campaign, lead) = self.threads[thread]
            .provider_thread_id
            .split_once(':')
            .expect("campaign:lead");
        let providers = outpost::testing::providers(&self.engine);
        let account = providers.smartlead.get("sl").expect("sl");
        let history = account
            .client
            .message_history(
                smartlead::CampaignId(campaign.parse().expect("campaign id")),
                smartlead::LeadId(lead.parse().expect("lead id")),
            )
            .await
            .expect("history");
        history
            .history
            .iter()
            .filter(|i| i.email_seq_number.is_none() && i.email_body.contains(text))
            .count()
    }

    fn advance(&self, by: Duration) {
        self.clock.set(self.clock.now() + by);
    }

    /// Moves the clock from one lookup or retry of the item to the next
    /// until it is sent or failed.
    async fn settle(&self, worker: &OutboxWorker, id: &str) -> OutboxItem {
        for _ in 0..100 {
            let item = self.item(id);
            let next = match item.state {
                OutboxState::Sending => next_lookup_at(&item).expect("a waiting reply"),
                OutboxState::Pending => item.not_before,
                _ => return item,
            };
            self.clock.set(next.max(self.clock.now()));
            worker.send_due().await.expect("outbox pass");
        }
        panic!("{id} did not settle");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_lost_after_smartlead_sent_the_reply_is_settled_as_sent() {
    let rig = rig().await;
    let worker = OutboxWorker::new(rig.engine.clone());
    rig.proxy.set_reply(ReplyCall::LoseAnswer);
    let item = rig.queue(0, "Tuesday at ten works for me.");
    let handled = worker.send_due().await.expect("outbox pass");
    let done = handled.iter().find(|i| i.id == item.id).expect("handled");
    assert_eq!(done.state, OutboxState::Sent, "{:?}", done.last_error);
    assert!(done.provider_id.is_some(), "the history item's Message-ID");
    assert_eq!(rig.received("Tuesday at ten"), 1);
    assert_eq!(rig.in_history(0, "Tuesday at ten").await, 1);

    // Later passes have nothing to do with it.
    rig.proxy.set_reply(ReplyCall::Forward);
    rig.advance(SMARTLEAD_REPLY_GRACE * 2);
    assert!(worker.send_due().await.expect("outbox pass").is_empty());
    assert_eq!(rig.received("Tuesday at ten"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_refused_before_smartlead_saw_it_is_resent_after_the_grace_period() {
    let rig = rig().await;
    let worker = OutboxWorker::new(rig.engine.clone());
    rig.proxy.set_reply(ReplyCall::Refuse);
    let item = rig.queue(0, "Happy to send the pricing sheet.");
    worker.send_due().await.expect("outbox pass");
    let waiting = rig.item(&item.id);
    assert_eq!(waiting.state, OutboxState::Sending);
    assert!(waiting.last_error.is_some());
    let began = waiting.not_before;
    assert_eq!(
        began,
        rig.clock.now(),
        "not_before holds the attempt's start"
    );
    rig.proxy.set_reply(ReplyCall::Forward);

    // The next pass does not ask again at once.
    let asked = rig.proxy.history_calls();
    assert!(worker.send_due().await.expect("outbox pass").is_empty());
    assert_eq!(rig.proxy.history_calls(), asked);

    // Within the grace period it is not in the history, and not resent.
    rig.advance(SMARTLEAD_REPLY_GRACE - Duration::seconds(1));
    assert!(worker.send_due().await.expect("outbox pass").is_empty());
    assert!(rig.proxy.history_calls() > asked);
    let still = rig.item(&item.id);
    assert_eq!(still.state, OutboxState::Sending, "{:?}", still.last_error);
    assert_eq!(rig.received("pricing sheet"), 0);

    // After it, it certainly did not go out: back to pending, with a backoff.
    let grace_over = next_lookup_at(&still).expect("still waiting");
    assert_eq!(grace_over, began + SMARTLEAD_REPLY_GRACE);
    rig.clock.set(grace_over);
    worker.send_due().await.expect("outbox pass");
    let retrying = rig.item(&item.id);
    assert_eq!(
        retrying.state,
        OutboxState::Pending,
        "{:?}",
        retrying.last_error
    );
    assert!(retrying.not_before > rig.clock.now());
    assert_eq!(rig.received("pricing sheet"), 0);

    rig.clock.set(retrying.not_before);
    worker.send_due().await.expect("outbox pass");
    let sent = rig.item(&item.id);
    assert_eq!(sent.state, OutboxState::Sent, "{:?}", sent.last_error);
    assert_eq!(sent.attempts, 2);
    assert_eq!(rig.received("pricing sheet"), 1);
    assert_eq!(rig.in_history(0, "pricing sheet").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_that_cannot_be_read_keeps_the_reply_sending_until_it_can() {
    let rig = rig().await;
    let worker = OutboxWorker::new(rig.engine.clone());
    rig.proxy.set_reply(ReplyCall::LoseAnswer);
    rig.proxy.set_history_down(true);
    let item = rig.queue(1, "Looping in our ops lead now.");
    worker.send_due().await.expect("outbox pass");
    let waiting = rig.item(&item.id);
    assert_eq!(waiting.state, OutboxState::Sending);
    let why = waiting.last_error.clone().unwrap_or_default();
    assert!(
        why.contains("could not check the Smartlead history"),
        "{why}"
    );

    // Even past the grace period a failed lookup settles nothing.
    rig.advance(SMARTLEAD_REPLY_GRACE * 2);
    worker.send_due().await.expect("outbox pass");
    assert_eq!(rig.item(&item.id).state, OutboxState::Sending);
    assert_eq!(rig.received("ops lead"), 1);

    rig.proxy.set_history_down(false);
    let waiting = rig.item(&item.id);
    rig.clock
        .set(next_lookup_at(&waiting).expect("still waiting"));
    let handled = worker.send_due().await.expect("outbox pass");
    let done = handled.iter().find(|i| i.id == item.id).expect("settled");
    assert_eq!(done.state, OutboxState::Sent, "{:?}", done.last_error);
    assert_eq!(done.attempts, 1);
    assert_eq!(rig.received("ops lead"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_left_sending_by_a_crash_are_settled_through_the_history() {
    let rig = rig().await;
    let store = outpost::testing::store(&rig.engine);
    // A crash after Smartlead sent the reply: only its answer never arrived.
    rig.proxy.set_reply(ReplyCall::LoseAnswer);
    rig.proxy.set_history_down(true);
    let went_out = rig.queue(0, "Sending the case study over today.");
    OutboxWorker::new(rig.engine.clone())
        .send_due()
        .await
        .expect("outbox pass");
    let mut crashed = rig.item(&went_out.id);
    assert_eq!(crashed.state, OutboxState::Sending);
    // What a crash right after the call leaves: `sending`, no error recorded.
    crashed.last_error = None;
    store.put(&crashed).expect("write");
    // A crash before the call reached Smartlead.
    let never_left = rig.queue(1, "Can we move this to Friday?");
    let mut marked = rig.item(&never_left.id);
    marked.state = OutboxState::Sending;
    marked.attempts = 1;
    marked.not_before = rig.clock.now();
    store.put(&marked).expect("write");
    // One from before outpost could find a reply's lead: it cannot be checked.
    let unknown_lead = rig.queue(1, "A reply nobody can look up.");
    let mut orphan = rig.item(&unknown_lead.id);
    orphan.state = OutboxState::Sending;
    orphan.attempts = 1;
    orphan.thread_key = Some(Thread::key_for("sl", "gone"));
    orphan.email.to = vec!["stranger@nowhere.example".into()];
    store.put(&orphan).expect("write");
    rig.proxy.set_history_down(false);
    rig.proxy.set_reply(ReplyCall::Forward);

    // The restart.
    let worker = OutboxWorker::new(rig.engine.clone());
    let reconciled = worker.reconcile().await.expect("reconcile");
    assert_eq!(reconciled.len(), 3);
    let state = |id: &str| rig.item(id).state;
    assert_eq!(state(&went_out.id), OutboxState::Sent);
    assert_eq!(state(&never_left.id), OutboxState::Sending);
    assert!(rig.item(&never_left.id).last_error.is_some());
    let failed = rig.item(&unknown_lead.id);
    assert_eq!(failed.state, OutboxState::Failed);
    let why = failed.last_error.unwrap_or_default();
    assert!(why.contains("check the thread in Smartlead"), "{why}");

    // The one that never left goes out, once, after the grace period.
    let began = rig.item(&never_left.id).not_before;
    let sent = rig.settle(&worker, &never_left.id).await;
    assert_eq!(sent.attempts, 2);
    assert!(rig.clock.now() >= began + SMARTLEAD_REPLY_GRACE);
    assert_eq!(state(&never_left.id), OutboxState::Sent);
    assert_eq!(rig.received("case study"), 1);
    assert_eq!(rig.received("move this to Friday"), 1);
    assert_eq!(rig.received("nobody can look up"), 0);
}
