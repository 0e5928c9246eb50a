//! The whole stack under trouble: the same generated sandbox data run twice,
//! once clean and once with 20% injected server errors, added latency, a
//! tight Smartlead rate limit (429s), a quarter of Gmail sends whose answer
//! is lost on the way back (the send happened; the client sees a dropped
//! connection) and half the Smartlead replies answered 500 after Smartlead
//! sent them. Each run syncs every account, sends replies through the outbox
//! (in Gmail threads and in Smartlead conversations) and drives a two-step
//! sequence for 20 leads on a fake clock. Both runs must end in the same
//! cache, and the sandbox's own record of what it received must hold every
//! (lead, step) and every reply exactly once. During the faulty run the TUI,
//! fed from the change feed, shows the trouble in its status bar and keeps
//! answering keys.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use outpost::clock::{Clock, FakeClock, SharedClock};
use outpost::config::{Config, Notify};
use outpost::engine::{Engine, ReplyDraft};
use outpost::model::*;
use outpost::outbox::OutboxWorker;
use outpost::providers::gmail;
use outpost::providers::registry::Providers;
use outpost::sandbox::google::QuotaSettings;
use outpost::sandbox::{self, Faults, RateLimit, SandboxHandle, SandboxOptions};
use outpost::sequences::{self, Scheduler, SchedulerConfig};
use outpost::store::{Change, Index, Store, keys};
use outpost::sync::{SyncEngine, SyncSummary};
use outpost::tui::{App, Keymap, Theme, jobs, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::{ClientLimit, proxy, write_config};
use tokio::sync::broadcast;

const SEED: u64 = 29;
const LEADS: usize = 40;
const ENROLLED: usize = 20;
const REPLIES: usize = 3;
/// Replies through Smartlead, in the first conversations leads replied in.
const SMARTLEAD_REPLIES: usize = 4;
/// Every this many Gmail sends, the proxy drops the answer after Gmail sent it.
const LOSE_EVERY: usize = 4;
/// Every this many Smartlead replies, the proxy answers 500 after Smartlead sent it.
const LOSE_REPLY_EVERY: usize = 2;
/// Every this many Smartlead reply calls, the proxy answers 500 before Smartlead
/// sees it (the seeded 20% of injected errors may or may not hit a reply).
const REFUSE_REPLY_EVERY: usize = 3;
/// Sync passes, and outbox/scheduler events, after which a run has failed to converge.
const MAX_SYNC_PASSES: usize = 40;
const MAX_DRIVE_EVENTS: usize = 2_000;

/// The calls whose answer a proxy loses after the sandbox processed them.
#[derive(Clone, Copy, PartialEq)]
enum Sends {
    /// Gmail's `messages/send`: the connection breaks before the body.
    Gmail,
    /// Smartlead's `reply-email-thread`: a 500, as if Smartlead failed late.
    SmartleadReplies,
}

/// Forwards API calls to the sandbox; answers every `lose_every`th
/// successful send (see [`Sends`]) as if it failed, after the sandbox has
/// taken the message, and refuses every `refuse_every`th send call before
/// the sandbox sees it.
#[derive(Clone)]
struct LossyProxy {
    upstream: String,
    http: reqwest::Client,
    kind: Sends,
    calls: Arc<AtomicUsize>,
    sends: Arc<AtomicUsize>,
    counts: ProxyCounts,
    lose_every: Option<usize>,
    refuse_every: Option<usize>,
}

/// What a proxy did to the sends it saw.
#[derive(Clone, Default)]
struct ProxyCounts {
    /// Answers lost after the send happened.
    lost: Arc<AtomicUsize>,
    /// Send calls answered 500 before the sandbox saw them.
    refused: Arc<AtomicUsize>,
}

async fn lossy(State(p): State<LossyProxy>, request: Request) -> Response {
    let path = request.uri().path();
    let is_send = request.method() == axum::http::Method::POST
        && match p.kind {
            Sends::Gmail => path.ends_with("/messages/send"),
            Sends::SmartleadReplies => path.ends_with("/reply-email-thread"),
        };
    let call = if is_send {
        p.calls.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    if p.refuse_every
        .is_some_and(|every| call > 0 && call % every == 0)
    {
        p.counts.refused.fetch_add(1, Ordering::SeqCst);
        return proxy::server_error();
    }
    let answer = match proxy::forward(&p.http, &p.upstream, request).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    let n = if is_send && answer.status.is_success() {
        p.sends.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    if p.lose_every.is_some_and(|every| n > 0 && n % every == 0) {
        p.counts.lost.fetch_add(1, Ordering::SeqCst);
        if p.kind == Sends::SmartleadReplies {
            return proxy::server_error();
        }
        // The body errors: hyper drops the connection mid-answer.
        let broken = futures::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("answer lost"))
        });
        return (answer.status, answer.headers, Body::from_stream(broken)).into_response();
    }
    answer.into_response()
}

/// Starts the proxy; returns its URL and what it did to sends.
async fn start_proxy(
    upstream: &str,
    kind: Sends,
    lose_every: Option<usize>,
    refuse_every: Option<usize>,
) -> (String, ProxyCounts) {
    let counts = ProxyCounts::default();
    let state = LossyProxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        http: reqwest::Client::new(),
        kind,
        calls: Arc::new(AtomicUsize::new(0)),
        sends: Arc::new(AtomicUsize::new(0)),
        counts: counts.clone(),
        lose_every,
        refuse_every,
    };
    let app = axum::Router::new().fallback(lossy).with_state(state);
    (proxy::serve(app).await, counts)
}

struct Run {
    sandbox: SandboxHandle,
    _dir: tempfile::TempDir,
    clock: Arc<FakeClock>,
    config: Config,
    engine: Engine,
    /// Gmail send answers the proxy dropped after the send happened.
    lost_answers: Arc<AtomicUsize>,
    /// What the proxy did to Smartlead reply calls.
    replies: ProxyCounts,
}

async fn start_run(
    start: DateTime<Utc>,
    faulty: bool,
    lose_every: Option<usize>,
    reply_trouble: bool,
) -> Run {
    let clock = Arc::new(FakeClock::new(start));
    let shared: SharedClock = clock.clone();
    let sandbox = sandbox::start(SandboxOptions {
        leads: LEADS,
        seed: SEED,
        rate_limit: if faulty {
            RateLimit {
                max_requests: 15,
                window: StdDuration::from_millis(500),
            }
        } else {
            RateLimit::unlimited()
        },
        clock: shared.clone(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    // Gmail quota is counted on the (fake) clock, which stands still during a pass.
    sandbox.google().set_quota(QuotaSettings {
        units_per_minute: 10_000_000,
        ..QuotaSettings::default()
    });
    let mut info = sandbox.info().clone();
    let (proxy_url, gmail_counts) =
        start_proxy(&info.gmail_api_base_url, Sends::Gmail, lose_every, None).await;
    let lost_answers = gmail_counts.lost;
    info.gmail_api_base_url = proxy_url;
    let smartlead_url: url::Url = info.smartlead_base_url.parse().expect("smartlead url");
    let (proxy_url, replies) = start_proxy(
        &smartlead_url.origin().ascii_serialization(),
        Sends::SmartleadReplies,
        reply_trouble.then_some(LOSE_REPLY_EVERY),
        reply_trouble.then_some(REFUSE_REPLY_EVERY),
    )
    .await;
    info.smartlead_base_url = format!("{proxy_url}{}", smartlead_url.path());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), &info, &ClientLimit(100_000, 1));
    let config = support::load_config(&path);
    support::store_gmail_tokens_at(&sandbox, config.data_dir(), start);

    let mut providers =
        Providers::from_config(&config, config.data_dir(), shared.clone()).expect("providers");
    // Real backoff waits would make the test slow; the shape of retrying is
    // what matters here, so the waits are short.
    let account =
        std::sync::Arc::into_inner(providers.gmail.remove("gm").expect("the gmail account"))
            .expect("not shared yet");
    let gmail_client = account
        .client
        .with_quota_units_per_minute(NonZeroU32::new(100_000_000).expect("non-zero"))
        .with_retry_policy(gmail::RetryPolicy {
            max_retries: 4,
            base_delay: StdDuration::from_millis(10),
            max_delay: StdDuration::from_secs(2),
            min_rate_limited_wait: StdDuration::from_millis(10),
            ..gmail::RetryPolicy::default()
        });
    providers.gmail.insert(
        "gm".into(),
        std::sync::Arc::new(outpost::providers::registry::GmailAccount {
            client: gmail_client,
            ..account
        }),
    );
    support::fast_smartlead(
        &mut providers,
        "sl",
        &info.smartlead_base_url,
        &info.smartlead_api_key,
        |cfg| {
            cfg.retry_base_delay = StdDuration::from_millis(10);
            cfg.min_rate_limited_wait = StdDuration::from_millis(100);
        },
    );

    let engine = Engine::with_providers(
        Store::temporary().expect("store"),
        shared,
        Arc::new(providers),
    );
    if faulty {
        sandbox
            .set_faults(Faults {
                error_rate: 0.2,
                latency_ms: 3,
            })
            .expect("faults set");
    }
    Run {
        sandbox,
        _dir: dir,
        clock,
        config,
        engine,
        lost_answers,
        replies,
    }
}

fn sequence_toml(mailbox: &str) -> String {
    format!(
        r#"
name = "faults"
account = "gm"

[settings]
pause_on_reply = true
skip_weekends = false
daily_limit_per_mailbox = 500
window = {{ start = "00:00", end = "23:59" }}
timezone = "UTC"
random_gap_secs = {{ min = 30, max = 90 }}

[send_via]
provider = "gmail"
mailboxes = ["{mailbox}"]

[[steps]]
type = "email"
name = "intro"
subject = "{{{{ company | default(\"your team\") }}}} and month-end close"
body = "Hi {{{{ first_name | default(\"there\") }}}}, is close still a three-day affair?"

[[steps]]
type = "wait"
days = 1

[[steps]]
type = "email"
name = "nudge"
body = "{{{{ first_name | default(\"Hi\") }}}}, bumping this in case it got buried."
"#
    )
}

/// Syncs until one pass succeeds for every account; each pass's progress
/// goes to `on_pass`. Panics after `MAX_SYNC_PASSES`.
async fn sync_until_clean(sync: &SyncEngine, mut on_pass: impl FnMut(&SyncSummary)) -> usize {
    for pass in 1..=MAX_SYNC_PASSES {
        let summary = sync.sync_all().await;
        on_pass(&summary);
        if !summary.failed() {
            return pass;
        }
    }
    panic!("sync did not converge in {MAX_SYNC_PASSES} passes");
}

/// The next moment anything is due: a pending outbox item, an enrollment, or
/// the next look at the history for a Smartlead reply waiting to show up there.
fn next_event(store: &Store, scheduler: &Scheduler) -> Option<DateTime<Utc>> {
    let pending = keys::KeyBuf::new()
        .byte(OutboxState::Pending.as_byte())
        .into_prefix();
    let item = store
        .index_keys(Index::OutboxByState, &pending, false)
        .next()
        .and_then(|e| e.ok())
        .and_then(|(k, _)| keys::time_from(&k[1..]));
    let due = scheduler.next_due_at().expect("due index");
    let settles = outbox_in(store, OutboxState::Sending)
        .iter()
        .filter_map(outpost::outbox::next_lookup_at)
        .min();
    [item, due, settles].into_iter().flatten().min()
}

fn outbox_in(store: &Store, state: OutboxState) -> Vec<OutboxItem> {
    store
        .iter::<OutboxItem>()
        .map(|i| i.expect("outbox item"))
        .filter(|i| i.state == state)
        .collect()
}

/// Moves the fake clock from event to event, sending and ticking, until
/// nothing is due and nothing waits to be settled.
async fn drive(run: &Run, scheduler: &Scheduler, worker: &OutboxWorker) {
    let store = outpost::testing::store(&run.engine);
    for _ in 0..MAX_DRIVE_EVENTS {
        let unsettled = !outbox_in(store, OutboxState::Sending).is_empty();
        let next = next_event(store, scheduler);
        if next.is_none() && !unsettled {
            return;
        }
        if let Some(t) = next {
            run.clock.set(t.max(run.clock.now()));
        }
        worker.send_due().await.expect("outbox pass");
        scheduler.tick(run.clock.now()).expect("scheduler tick");
    }
    let stuck: Vec<_> = store
        .iter::<OutboxItem>()
        .map(|i| i.expect("outbox item"))
        .filter(|i| matches!(i.state, OutboxState::Pending | OutboxState::Sending))
        .map(|i| (i.id, i.state, i.last_error))
        .collect();
    panic!("the outbox did not converge after {MAX_DRIVE_EVENTS} events: {stuck:?}");
}

/// What a run ends with, without anything that depends on when or in which
/// order the run's own requests happened.
#[derive(Debug, PartialEq)]
struct Outcome {
    leads: BTreeMap<String, String>,
    threads: Vec<String>,
    events: Vec<String>,
    /// (lead, outbox step, "reply" or "smartlead reply") -> times the sandbox received it.
    received: BTreeMap<(String, String), usize>,
    enrollments: BTreeMap<String, String>,
}

fn outcome(
    run: &Run,
    original_threads: &BTreeSet<String>,
    original_messages: &BTreeSet<String>,
) -> Outcome {
    let store = outpost::testing::store(&run.engine);
    let leads = store
        .iter::<Lead>()
        .map(|l| l.expect("lead"))
        .map(|l| {
            let campaigns: Vec<i64> = l.memberships.iter().map(|m| m.campaign_id).collect();
            (
                format!("{}/{}", l.account, l.email),
                format!(
                    "{:?} {:?} {:?} {:?} {campaigns:?} {:?} {:?} {}",
                    l.first_name,
                    l.last_name,
                    l.company,
                    l.category,
                    l.status,
                    l.last_event,
                    l.unsubscribed
                ),
            )
        })
        .collect();
    let mut threads: Vec<String> = store
        .iter::<Thread>()
        .map(|t| t.expect("thread"))
        .map(|t| {
            // Threads a send started get their id from the order of sends.
            let id = if original_threads.contains(&t.provider_thread_id) {
                t.provider_thread_id.clone()
            } else {
                "(new)".into()
            };
            let mut people = t.participants.clone();
            people.sort();
            format!(
                "{} {id} {:?} {:?} {} {} {people:?}",
                t.account, t.lead_email, t.subject, t.message_count, t.has_reply
            )
        })
        .collect();
    threads.sort();
    let mut events: Vec<String> = store
        .iter::<outpost::model::Activity>()
        .flat_map(|a| a.expect("activity").events)
        .map(|e| {
            // Outbox events are keyed by per-run idempotency keys, and
            // messages our sends made get their Gmail id from the order of sends.
            let key = match e.dedupe_key.split('|').collect::<Vec<_>>()[..] {
                _ if e.source == EventSource::Outbox => String::new(),
                ["gmail", id, kind] if !original_messages.contains(id) => {
                    format!("gmail|(new)|{kind}")
                }
                _ => e.dedupe_key.clone(),
            };
            format!(
                "{} {:?} {} {:?} {:?} {:?} {key}",
                e.account, e.kind, e.lead_email, e.campaign_id, e.sequence_number, e.source
            )
        })
        .collect();
    events.sort();
    let enrollments = store
        .iter::<Enrollment>()
        .map(|e| e.expect("enrollment"))
        .map(|e| (e.lead_email.clone(), format!("{:?}", e.state)))
        .collect();

    // The judge: what the sandbox received, matched to our outbox by Message-ID.
    let by_message_id: BTreeMap<String, OutboxItem> = store
        .iter::<OutboxItem>()
        .map(|i| i.expect("outbox item"))
        .map(|i| (i.message_id.clone(), i))
        .collect();
    let mut received = BTreeMap::new();
    for m in run.sandbox.google().sent_messages() {
        let id = m
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Message-ID"))
            .map(|(_, v)| v.trim().to_string())
            .expect("a Message-ID");
        let item = by_message_id
            .get(&id)
            .unwrap_or_else(|| panic!("the sandbox got {id}, which outpost never queued"));
        let step = item
            .step
            .map(|s| format!("step {}", s + 1))
            .unwrap_or_else(|| "reply".into());
        *received
            .entry((item.email.to[0].to_lowercase(), step))
            .or_insert(0) += 1;
    }
    // Smartlead replies, matched by the message they answer.
    let by_answered: BTreeMap<(i64, String), OutboxItem> = by_message_id
        .into_values()
        .filter_map(|i| match &i.delivery {
            Delivery::SmartleadReply(r) => Some(((r.campaign_id, r.email_stats_id.clone()), i)),
            _ => None,
        })
        .collect();
    for post in run.sandbox.reply_posts() {
        let stats_id = post.body["email_stats_id"].as_str().unwrap_or_default();
        let item = by_answered
            .get(&(post.campaign_id, stats_id.to_string()))
            .unwrap_or_else(|| panic!("the sandbox got a reply outpost never queued: {post:?}"));
        *received
            .entry((item.email.to[0].to_lowercase(), "smartlead reply".into()))
            .or_insert(0) += 1;
    }
    Outcome {
        leads,
        threads,
        events,
        received,
        enrollments,
    }
}

/// The TUI on a test backend, fed from the engine's change feed.
struct Screen {
    app: App,
    engine: Engine,
    feed: broadcast::Receiver<Change>,
    terminal: Terminal<TestBackend>,
}

impl Screen {
    fn new(run: &Run) -> Screen {
        let app = App::new(
            Keymap::defaults(),
            Theme::new(&BTreeMap::new(), false).expect("theme"),
            run.clock.clone(),
            10,
            Notify::Bell,
        );
        Screen {
            app,
            engine: run.engine.clone(),
            feed: run.engine.subscribe(),
            terminal: Terminal::new(TestBackend::new(140, 30)).expect("terminal"),
        }
    }

    async fn settle(&mut self) {
        loop {
            let mut busy = false;
            for job in self.app.take_jobs() {
                busy = true;
                let result = jobs::run(self.engine.clone(), job).await;
                self.app.apply(result);
            }
            loop {
                match self.feed.try_recv() {
                    Ok(change) => {
                        busy = true;
                        self.app.on_change(change);
                    }
                    Err(broadcast::error::TryRecvError::Lagged(_)) => busy = true,
                    Err(_) => break,
                }
            }
            if !busy {
                break;
            }
        }
    }

    fn key(&mut self, c: char) {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        self.app
            .handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }

    fn text(&mut self) -> String {
        self.terminal
            .draw(|f| view::draw(f, &mut self.app))
            .expect("draw");
        let buffer = self.terminal.backend().buffer();
        let area = buffer.area;
        let mut out = String::new();
        for y in 0..area.height {
            for x in 0..area.width {
                out.push_str(buffer[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    /// The last line: the status bar.
    fn status_bar(&mut self) -> String {
        let text = self.text();
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string()
    }
}

/// One whole run; the TUI checks happen only when `screen` is given.
async fn full_run(run: &Run, mut screen: Option<&mut Screen>) -> (usize, Outcome) {
    let start = run.clock.now();
    let store = outpost::testing::store(&run.engine).clone();
    let sync = SyncEngine::new(run.engine.clone());
    let original_threads: BTreeSet<String> =
        run.sandbox.google().thread_ids().into_iter().collect();
    let faulty = screen.is_some();

    if let Some(screen) = screen.as_deref_mut() {
        // An outage first: every request fails, and the rep sees it.
        let faults = run.sandbox.set_faults(Faults {
            error_rate: 1.0,
            latency_ms: 3,
        });
        faults.expect("outage set");
        screen.settle().await;
        let summary = sync.sync_all().await;
        assert!(summary.failed(), "{summary:?}");
        screen.settle().await;
        let bar = screen.status_bar();
        assert!(bar.contains("sl ✗"), "status bar: {bar}");
        assert!(bar.contains("gm ✗"), "status bar: {bar}");
        // Keys still work while the errors are reported: switch to the leads pane.
        screen.key('2');
        screen.settle().await;
        let text = screen.text();
        assert_eq!(screen.app.screen(), outpost::tui::action::Screen::Leads);
        assert!(text.contains("sl ✗"), "{text}");
        run.sandbox
            .set_faults(Faults {
                error_rate: 0.2,
                latency_ms: 3,
            })
            .expect("faults set");
    }

    let mut passes = 0;
    if faulty {
        // Another tool using the same key has spent its window (the usual
        // cause of 429s): the first requests are refused until it is done.
        // Lifted as soon as one was refused, so the 429 is certain however
        // fast or slow this machine runs.
        let tight = run.sandbox.rate_limit();
        run.sandbox.set_rate_limit(RateLimit {
            max_requests: 0,
            window: StdDuration::from_secs(1),
        });
        let key = run.sandbox.info().smartlead_api_key.clone();
        let lift = async {
            let deadline = tokio::time::Instant::now() + StdDuration::from_secs(60);
            while run.sandbox.throttled_count(&key) == 0 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no request reached the spent window"
                );
                tokio::time::sleep(StdDuration::from_millis(5)).await;
            }
            run.sandbox.set_rate_limit(tight);
        };
        let (synced, ()) = tokio::join!(sync_until_clean(&sync, |_| {}), lift);
        passes += synced;
    } else {
        passes += sync_until_clean(&sync, |_| {}).await;
    }
    let original_messages: BTreeSet<String> = store
        .iter::<Message>()
        .map(|m| m.expect("message"))
        .filter(|m| m.account == "gm")
        .map(|m| m.provider_id)
        .collect();
    if let Some(screen) = screen {
        screen.settle().await;
        let bar = screen.status_bar();
        assert!(
            bar.contains("sl ✓") && bar.contains("gm ✓"),
            "status bar: {bar}"
        );
        screen.key('1');
        screen.settle().await;
        assert_eq!(screen.app.screen(), outpost::tui::action::Screen::Inbox);
    }

    // Replies through the outbox, on the first few Gmail conversations.
    let worker = OutboxWorker::new(run.engine.clone());
    // Only the rep's own Gmail conversations: a Gmail copy of a campaign
    // conversation is answered through Smartlead, like the campaign's.
    let mut thread_ids: Vec<String> = original_threads
        .iter()
        .filter(|id| {
            store
                .get::<Thread>(&Thread::key_for("gm", id))
                .expect("thread")
                .is_some_and(|t| t.is_primary())
        })
        .cloned()
        .collect();
    thread_ids.truncate(REPLIES);
    for id in &thread_ids {
        run.engine
            .queue_reply(
                &Thread::key_for("gm", id),
                &ReplyDraft {
                    text: "Thanks, I'll follow up on Thursday.".into(),
                    ..ReplyDraft::default()
                },
                Duration::zero(),
            )
            .expect("reply queued");
    }

    // And through Smartlead, in the first conversations leads replied in.
    let mut conversations: Vec<String> = store
        .iter::<Thread>()
        .map(|t| t.expect("thread"))
        .filter(|t| t.provider == Provider::Smartlead && t.has_reply)
        .map(|t| t.key())
        .collect();
    conversations.sort();
    conversations.truncate(SMARTLEAD_REPLIES);
    assert_eq!(
        conversations.len(),
        SMARTLEAD_REPLIES,
        "replied conversations"
    );
    for key in &conversations {
        run.engine
            .queue_reply(
                key,
                &ReplyDraft {
                    text: "Thanks! Tuesday at 10:00 ET works, I'll send an invite.".into(),
                    ..ReplyDraft::default()
                },
                Duration::zero(),
            )
            .expect("smartlead reply queued");
    }

    // Twenty leads through a two-step sequence.
    let mailbox = run.sandbox.info().gmail_email.clone();
    sequences::apply_sequence(
        &store,
        "faults.toml",
        &sequence_toml(&mailbox),
        &run.config.sending,
        start,
    )
    .expect("sequence applies");
    let suppressed: BTreeSet<String> = store
        .iter::<Suppression>()
        .map(|s| s.expect("suppression").email.to_lowercase())
        .collect();
    let mut csv = String::from("email,first_name,company\n");
    let mut seen = BTreeSet::new();
    for c in run.sandbox.gmail_contacts(LEADS) {
        let email = c.email.to_lowercase();
        if suppressed.contains(&email) || !seen.insert(email) {
            continue;
        }
        csv.push_str(&format!("{},{},\"{}\"\n", c.email, c.first_name, c.company));
        if seen.len() == ENROLLED {
            break;
        }
    }
    let inputs = sequences::read_leads_csv(csv.as_bytes(), "leads.csv").expect("csv");
    // Forced past the enrollment guard: these sandbox contacts replied and
    // sit in Smartlead campaigns; the faults are what is tested here.
    let report =
        sequences::enroll_leads(&store, "faults", &inputs, start, true, start).expect("enrolls");
    assert_eq!(report.enrolled.len(), ENROLLED, "{:?}", report.skipped);

    let scheduler = Scheduler::new(
        store.clone(),
        SchedulerConfig::from_config(&run.config).expect("scheduler config"),
    );
    drive(run, &scheduler, &worker).await;
    assert!(outbox_in(&store, OutboxState::Failed).is_empty(), "{:?}", {
        outbox_in(&store, OutboxState::Failed)
            .into_iter()
            .map(|i| i.last_error)
            .collect::<Vec<_>>()
    });

    // The sends are in Gmail now; one more clean sync brings them in.
    passes += sync_until_clean(&sync, |_| {}).await;
    (passes, outcome(run, &original_threads, &original_messages))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_run_converges_to_the_clean_run_with_no_duplicate_send() {
    let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("start time");

    let clean = start_run(start, false, None, false).await;
    let (clean_passes, expected) = full_run(&clean, None).await;
    assert_eq!(clean_passes, 2, "a clean run syncs in one pass each time");

    let faulty = start_run(start, true, Some(LOSE_EVERY), true).await;
    let mut screen = Screen::new(&faulty);
    let (_, got) = full_run(&faulty, Some(&mut screen)).await;
    // The trouble really happened: server errors, 429s and lost answers.
    let faults: serde_json::Value =
        reqwest::get(format!("http://{}/_sandbox/faults", faulty.sandbox.addr()))
            .await
            .expect("fault counter")
            .json()
            .await
            .expect("fault JSON");
    let injected = faults["injected"].as_u64().unwrap_or(0);
    let throttled = faulty
        .sandbox
        .throttled_count(&faulty.sandbox.info().smartlead_api_key);
    let lost = faulty.lost_answers.load(Ordering::SeqCst);
    let lost_replies = faulty.replies.lost.load(Ordering::SeqCst);
    let refused_replies = faulty.replies.refused.load(Ordering::SeqCst);
    assert!(injected > 20, "only {injected} injected errors");
    assert!(throttled > 0, "the tight rate limit never answered 429");
    assert!(lost > 0, "no send answer was lost");
    assert!(lost_replies > 0, "no Smartlead reply answer was lost");
    assert!(refused_replies > 0, "no Smartlead reply was refused");
    eprintln!(
        "faulty run: {injected} injected 5xx, {throttled} 429s, {lost} lost send answers, \
         {lost_replies} lost and {refused_replies} refused Smartlead replies"
    );
    // The refused replies went out later, after their wait in the history.
    let resent = outpost::testing::store(&faulty.engine)
        .iter::<OutboxItem>()
        .map(|i| i.expect("outbox item"))
        .filter(|i| matches!(i.delivery, Delivery::SmartleadReply(_)) && i.attempts > 1)
        .count();
    assert!(resent > 0, "no Smartlead reply was sent again");

    // The sandbox received each (lead, step) and each reply exactly once.
    let mut wanted: BTreeMap<(String, String), usize> = BTreeMap::new();
    for ((lead, step), n) in &expected.received {
        assert_eq!(*n, 1, "the clean run sent {lead} {step} {n} times");
        wanted.insert((lead.clone(), step.clone()), 1);
    }
    assert_eq!(
        expected.received.len(),
        ENROLLED * 2 + REPLIES + SMARTLEAD_REPLIES,
        "{:?}",
        expected.received
    );
    let duplicates: Vec<_> = got.received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "sent more than once: {duplicates:?}");
    assert_eq!(got.received, wanted, "the faulty run's sends differ");

    assert_eq!(got.leads, expected.leads, "leads differ");
    same("threads", &got.threads, &expected.threads);
    same("events", &got.events, &expected.events);
    assert_eq!(got.enrollments, expected.enrollments, "enrollments differ");
    assert_eq!(got, expected);
}

/// Equal lists, or a failure that names only what differs.
fn same(what: &str, got: &[String], expected: &[String]) {
    let extra: Vec<&String> = got.iter().filter(|g| !expected.contains(g)).collect();
    let missing: Vec<&String> = expected.iter().filter(|e| !got.contains(e)).collect();
    assert!(
        got == expected,
        "{what} differ: {} vs {} entries; only in the faulty run: {extra:#?}; only in the clean run: {missing:#?}",
        got.len(),
        expected.len()
    );
}

/// The outbox bug this run found: a send whose outcome was unknown stayed in
/// `sending` until the process restarted. Now the next pass settles it by
/// looking the Message-ID up in Sent: sent once, never twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_send_outcome_is_settled_without_a_restart() {
    let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("start time");
    // Every send's answer is lost after Gmail took the message.
    let run = start_run(start, false, Some(1), false).await;
    let sync = SyncEngine::new(run.engine.clone());
    sync_until_clean(&sync, |_| {}).await;
    let worker = OutboxWorker::new(run.engine.clone());
    let threads = run.sandbox.google().thread_ids();
    let draft = ReplyDraft {
        text: "Thanks!".into(),
        ..ReplyDraft::default()
    };
    let lost = run
        .engine
        .queue_reply(
            &Thread::key_for("gm", &threads[0]),
            &draft,
            Duration::zero(),
        )
        .expect("queued");
    let handled = worker.send_due().await.expect("outbox pass");
    let item = handled.iter().find(|i| i.id == lost.id).expect("handled");
    assert_eq!(item.state, OutboxState::Sent, "{:?}", item.last_error);
    assert_eq!(run.lost_answers.load(Ordering::SeqCst), 1);

    // A 5xx on the send and on the lookup: it waits in `sending`, and the
    // next pass (not a restart) settles it, then sends it exactly once.
    let failed = run
        .engine
        .queue_reply(
            &Thread::key_for("gm", &threads[1]),
            &draft,
            Duration::zero(),
        )
        .expect("queued");
    run.sandbox
        .set_faults(Faults {
            error_rate: 1.0,
            latency_ms: 0,
        })
        .expect("outage");
    worker.send_due().await.expect("outbox pass");
    let waiting = outpost::testing::store(&run.engine)
        .get::<OutboxItem>(&failed.id)
        .expect("read")
        .expect("item");
    assert_eq!(waiting.state, OutboxState::Sending);
    assert!(waiting.last_error.is_some());
    run.sandbox
        .set_faults(Faults::default())
        .expect("outage over");
    let scheduler = Scheduler::new(
        outpost::testing::store(&run.engine).clone(),
        SchedulerConfig::from_config(&run.config).expect("scheduler config"),
    );
    drive(&run, &scheduler, &worker).await;
    let done = outpost::testing::store(&run.engine)
        .get::<OutboxItem>(&failed.id)
        .expect("read")
        .expect("item");
    assert_eq!(done.state, OutboxState::Sent, "{:?}", done.last_error);
    let ids: Vec<String> = [&lost, &failed]
        .iter()
        .map(|i| i.message_id.clone())
        .collect();
    let received: Vec<String> = run
        .sandbox
        .google()
        .sent_messages()
        .iter()
        .filter_map(|m| {
            m.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("Message-ID"))
                .map(|(_, v)| v.trim().to_string())
        })
        .collect();
    for id in &ids {
        assert_eq!(received.iter().filter(|r| *r == id).count(), 1, "{id}");
    }
}
