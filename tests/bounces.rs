//! Bounces and suppression end to end, on one fake clock shared by the
//! sandbox and the engine: a hard bounce notice in the sent Gmail thread
//! stops and suppresses the address (and enrolling it again is refused), a
//! soft one is only recorded; Smartlead's EMAIL_BOUNCE and unsubscribe
//! webhooks suppress; an unsubscribe through outpost's link reaches
//! Smartlead; the enrollment guard refuses, with its reasons, unless forced.

mod daemon_support;
mod sequences_support;
mod support;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use outpost::clock::{Clock, FakeClock, SharedClock};
use outpost::engine::Engine;
use outpost::model::*;
use outpost::outbox::OutboxWorker;
use outpost::providers::registry::Providers;
use outpost::providers::smartlead::{Client as SmartleadClient, SmartleadConfig};
use outpost::sandbox::google::InboundMessage;
use outpost::sandbox::{self, SandboxHandle, SandboxOptions};
use outpost::sequences::{self, LeadInput, Scheduler, SchedulerConfig, TokenClaims, TokenKind};
use outpost::sync::SyncEngine;
use secrecy::SecretString;
use sequences_support::{suppressed, two_step, utc};
use support::{ClientLimit, engine_with_clock, load_config, store_gmail_tokens_at, write_config};

struct GmailRig {
    sandbox: SandboxHandle,
    _dir: tempfile::TempDir,
    clock: Arc<FakeClock>,
    config: outpost::config::Config,
    engine: Engine,
}

async fn gmail_rig(start: DateTime<Utc>) -> GmailRig {
    let clock = Arc::new(FakeClock::new(start));
    let shared: SharedClock = clock.clone();
    let sandbox = sandbox::start(SandboxOptions {
        leads: 30,
        seed: 5,
        rate_limit: sandbox::RateLimit::unlimited(),
        clock: shared.clone(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), sandbox.info(), &ClientLimit(100_000, 1));
    store_gmail_tokens_at(&sandbox, &dir.path().join("data"), start);
    let config = load_config(&path);
    let engine = engine_with_clock(&path, shared);
    GmailRig {
        sandbox,
        _dir: dir,
        clock,
        config,
        engine,
    }
}

fn gmail_sequence(name: &str, mailbox: &str) -> String {
    format!(
        r#"
name = "{name}"
account = "gm"

[settings]
skip_weekends = false
window = {{ start = "08:00", end = "18:00" }}
timezone = "UTC"
random_gap_secs = {{ min = 30, max = 60 }}

[send_via]
provider = "gmail"
mailboxes = ["{mailbox}"]

[[steps]]
type = "email"
subject = "Month-end close at {{{{ company | default(\"your team\") }}}}"
body = "Hi {{{{ first_name | default(\"there\") }}}}, worth a chat?"

[[steps]]
type = "wait"
days = 2

[[steps]]
type = "email"
body = "Bumping this, {{{{ first_name | default(\"there\") }}}}."
"#
    )
}

fn enrollment_of(engine: &Engine, email: &str, sequence: &str) -> Enrollment {
    outpost::testing::store(engine)
        .iter::<Enrollment>()
        .map(Result::unwrap)
        .find(|e| e.lead_email == email && e.sequence == sequence)
        .unwrap_or_else(|| panic!("no enrollment of {email} in {sequence}"))
}

fn sent(engine: &Engine) -> Vec<OutboxItem> {
    outpost::testing::store(engine)
        .iter::<OutboxItem>()
        .map(Result::unwrap)
        .filter(|i| i.state == OutboxState::Sent)
        .collect()
}

/// Runs the scheduler and the worker on the fake clock until `count`
/// emails have gone out (a bounded number of rounds).
async fn send_until(rig: &GmailRig, scheduler: &Scheduler, count: usize) {
    let worker = OutboxWorker::new(rig.engine.clone());
    for _ in 0..20 {
        scheduler.tick(rig.clock.now()).unwrap();
        for item in worker.send_due().await.unwrap() {
            assert_eq!(item.state, OutboxState::Sent, "{:?}", item.last_error);
        }
        if sent(&rig.engine).len() >= count {
            return;
        }
        let next = outpost::testing::store(&rig.engine)
            .iter::<OutboxItem>()
            .map(Result::unwrap)
            .filter(|i| i.state == OutboxState::Pending)
            .map(|i| i.not_before)
            .min();
        match next {
            Some(at) if at > rig.clock.now() => rig.clock.set(at),
            _ => rig
                .clock
                .set(rig.clock.now() + chrono::Duration::seconds(61)),
        }
    }
    panic!("{count} emails did not go out");
}

fn bounces_of(engine: &Engine, account: &str, email: &str) -> Vec<EmailEvent> {
    engine
        .lead_events(&scoped_key(account, email))
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventType::EmailBounced)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_bounce_in_the_sent_thread_stops_and_suppresses_and_a_soft_one_does_not() {
    let start = utc("2026-03-02T10:00:00Z");
    let rig = gmail_rig(start).await;
    let store = outpost::testing::store(&rig.engine).clone();
    let mailbox = rig.sandbox.info().gmail_email.clone();
    assert!(
        !SyncEngine::new(rig.engine.clone())
            .sync_all()
            .await
            .failed()
    );
    sequences::apply_sequence(
        &store,
        "trust.toml",
        &gmail_sequence("trust", &mailbox),
        &rig.config.sending,
        start,
    )
    .unwrap();
    // The sandbox's mail servers refuse `bounce…` addresses for good and
    // find `full…` mailboxes full (for now).
    let hard = "bounce.ann@gone.example";
    let soft = "full.bob@busy.example";
    let report = sequences::enroll_leads(
        &store,
        "trust",
        &[LeadInput::email(hard), LeadInput::email(soft)],
        start,
        false,
        start,
    )
    .unwrap();
    assert_eq!(report.enrolled.len(), 2, "{:?}", report.skipped);

    let scheduler = Scheduler::new(
        store.clone(),
        SchedulerConfig::from_config(&rig.config).unwrap(),
    );
    send_until(&rig, &scheduler, 2).await;
    let summary = SyncEngine::new(rig.engine.clone()).sync_all().await;
    assert!(!summary.failed(), "{summary:?}");

    // The notice sits in the thread of the step it returns.
    let step_one = sent(&rig.engine)
        .into_iter()
        .find(|i| i.email.to == [hard])
        .unwrap();
    let messages: Vec<Message> = store.iter::<Message>().map(Result::unwrap).collect();
    let original = messages
        .iter()
        .find(|m| m.message_id.as_deref() == Some(step_one.message_id.as_str()))
        .expect("the sent step came back from Gmail");
    let notice = messages
        .iter()
        .find(|m| m.from.email.starts_with("mailer-daemon") && m.text_body.contains(hard))
        .expect("the bounce notice was synced");
    assert_eq!(notice.thread_key, original.thread_key);

    // Hard: stopped with the reason, suppressed everywhere, on the timeline.
    let enr = enrollment_of(&rig.engine, hard, "trust");
    assert_eq!(enr.state, EnrollmentState::Stopped);
    let reason = enr.reason.unwrap_or_default();
    assert!(
        reason.contains("bounced") && reason.contains("5.1.1"),
        "{reason}"
    );
    let suppressions = suppressed(&store, hard);
    assert_eq!(suppressions.len(), 1);
    assert_eq!(suppressions[0].reason, SuppressionReason::Bounced);
    let events = bounces_of(&rig.engine, "gm", hard);
    assert_eq!(events.len(), 1, "one bounce, however often it is synced");
    assert_eq!(
        events[0].message_id.as_deref(),
        Some(step_one.message_id.as_str())
    );
    assert!(
        events[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .starts_with("hard bounce 5.1.1"),
        "{:?}",
        events[0].detail
    );

    // Soft: recorded, nothing stopped or suppressed.
    let enr = enrollment_of(&rig.engine, soft, "trust");
    assert_eq!(enr.state, EnrollmentState::Active, "{:?}", enr.reason);
    assert!(suppressed(&store, soft).is_empty());
    let events = bounces_of(&rig.engine, "gm", soft);
    assert_eq!(events.len(), 1);
    assert_eq!(
        BounceClass::of(events[0].detail.as_deref()),
        BounceClass::Soft
    );

    // A second sync reads the same notices: nothing new. A postmaster's
    // note that quotes an address we never wrote to bounces no one.
    rig.sandbox
        .google()
        .inject_inbound(InboundMessage {
            from: sandbox::Contact {
                email: "postmaster@relay.example".into(),
                first_name: "Mail".into(),
                last_name: "Delivery".into(),
                company: "Relay".into(),
            },
            thread_id: None,
            subject: Some("Undelivered Mail Returned to Sender".into()),
            text: "<someone@else.example>: host mx.else.example said: 550 5.1.1 User unknown"
                .into(),
            html: None,
        })
        .unwrap();
    SyncEngine::new(rig.engine.clone()).sync_all().await;
    assert_eq!(bounces_of(&rig.engine, "gm", hard).len(), 1);
    assert!(bounces_of(&rig.engine, "gm", "someone@else.example").is_empty());
    assert!(suppressed(&store, "someone@else.example").is_empty());

    // Enrolling the bounced address again is refused, forced or not.
    sequences::apply_sequence(
        &store,
        "again.toml",
        &gmail_sequence("again", &mailbox),
        &rig.config.sending,
        start,
    )
    .unwrap();
    for force in [false, true] {
        let report = sequences::enroll_leads(
            &store,
            "again",
            &[LeadInput::email(hard)],
            rig.clock.now(),
            force,
            rig.clock.now(),
        )
        .unwrap();
        assert!(report.enrolled.is_empty());
        assert!(
            report.skipped[0].reason.contains("bounced"),
            "{:?}",
            report.skipped
        );
    }

    // The follow-up goes to the soft-bounced lead only.
    let followups_before = sent(&rig.engine).len();
    rig.clock
        .set(start + chrono::Duration::days(2) + chrono::Duration::hours(1));
    send_until(&rig, &scheduler, followups_before + 1).await;
    let last = sent(&rig.engine);
    let to_hard = last.iter().filter(|i| i.email.to == [hard]).count();
    assert_eq!(to_hard, 1, "nothing more went to the bounced address");
}

#[tokio::test]
async fn smartlead_bounce_and_unsubscribe_webhooks_suppress_in_outposts_sequences() {
    let server = daemon_support::TestServer::start().await;
    let store = outpost::testing::store(&server.engine).clone();
    let now = server.engine.clock().now();
    sequences_support::apply(&store, &two_step("gm-seq", "", "days = 2"));
    let leads = [
        "dana@ledgerly.example",
        "bob@full.example",
        "cy@gone.example",
    ];
    let inputs: Vec<LeadInput> = leads.iter().map(|l| LeadInput::email(l)).collect();
    let report = sequences::enroll_leads(&store, "gm-seq", &inputs, now, false, now).unwrap();
    assert_eq!(report.enrolled.len(), 3, "{:?}", report.skipped);

    let mut hard = daemon_support::event_payload("EMAIL_BOUNCE", leads[0], "2025-06-04T09:00:00Z");
    hard["bounce_message"] = serde_json::json!({
        "message_id": "<b1@mx.example>", "text": "550 5.1.1 <dana@ledgerly.example>: User unknown",
        "html": "", "time": "2025-06-04T09:00:00Z"});
    let mut soft = daemon_support::event_payload("EMAIL_BOUNCE", leads[1], "2025-06-04T09:00:00Z");
    soft["bounce_message"] = serde_json::json!({
        "message_id": "<b2@mx.example>", "text": "452 4.2.2 Mailbox full, try again later",
        "html": "", "time": "2025-06-04T09:00:00Z"});
    let mut unsubscribed =
        daemon_support::event_payload("LEAD_UNSUBSCRIBED", leads[2], "2025-06-04T09:00:00Z");
    unsubscribed["lead_email"] = serde_json::json!(leads[2]);
    for payload in [&hard, &soft, &unsubscribed] {
        let (status, body) = server.post_webhook(payload).await;
        assert_eq!(status, 200, "{body}");
    }
    let state_of = |email: &str| enrollment_of(&server.engine, email, "gm-seq").state;
    assert_eq!(state_of(leads[0]), EnrollmentState::Stopped);
    assert_eq!(
        suppressed(&store, leads[0])[0].reason,
        SuppressionReason::Bounced
    );
    assert_eq!(state_of(leads[1]), EnrollmentState::Active);
    assert!(suppressed(&store, leads[1]).is_empty());
    assert_eq!(state_of(leads[2]), EnrollmentState::Stopped);
    assert_eq!(
        suppressed(&store, leads[2])[0].reason,
        SuppressionReason::Unsubscribed
    );
}

/// Makes outpost's sent email to a synced Smartlead lead that is in
/// campaigns, and unsubscribes it through the email's one-click link served
/// by `engine`. Returns the lead and the server.
async fn unsubscribe_through_link(
    rig: &GmailRig,
    engine: &Engine,
) -> (Lead, daemon_support::TestServer) {
    let start = rig.clock.now();
    let lead = outpost::testing::store(&rig.engine)
        .iter::<Lead>()
        .map(Result::unwrap)
        .find(|l| {
            l.account == "sl"
                && l.smartlead_lead_id.is_some()
                && !l.memberships.is_empty()
                && !l.unsubscribed
        })
        .expect("a synced Smartlead lead in a campaign");
    // An email outpost sent to the lead from the Gmail mailbox.
    let item = OutboxItem {
        id: "item-unsub".into(),
        account: "gm".into(),
        provider: Provider::Gmail,
        idempotency_key: "seq:item-unsub:0".into(),
        state: OutboxState::Sent,
        not_before: start,
        message_id: "<item-unsub@acme.example>".into(),
        email: OutgoingEmail {
            from: rig.sandbox.info().gmail_email.clone(),
            to: vec![lead.email.clone()],
            cc: vec![],
            bcc: vec![],
            subject: "Hi".into(),
            text_body: "Hi".into(),
            html_body: None,
            in_reply_to: None,
            references: vec![],
            headers: vec![],
            attachments: Vec::new(),
        },
        delivery: Delivery::GmailSend { thread_id: None },
        thread_key: None,
        enrollment_id: None,
        step: Some(0),
        attempts: 1,
        last_error: None,
        provider_id: Some("p1".into()),
        created_at: start,
        updated_at: start,
        send_at: None,
        attachments_left_out: Vec::new(),
        lease: None,
    };
    outpost::testing::store(engine).put(&item).unwrap();
    let server = daemon_support::TestServer::serve(
        engine.clone(),
        (*rig.clock).clone(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let token = server.key.sign(&TokenClaims {
        kind: TokenKind::Unsubscribe,
        id: item.id.clone(),
        email: None,
        url: None,
    });
    let resp = server
        .http
        .post(format!("{}/u/{token}", server.base))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    (lead, server)
}

/// The campaigns Smartlead was asked to unsubscribe `lead` from, sorted.
fn smartlead_unsubscribes(rig: &GmailRig, lead: &Lead) -> Vec<Option<i64>> {
    let lead_id = lead.smartlead_lead_id.unwrap();
    let mut calls: Vec<Option<i64>> = rig
        .sandbox
        .smartlead()
        .unsubscribe_calls()
        .into_iter()
        .filter(|c| c.lead_id == lead_id)
        .map(|c| c.campaign_id)
        .collect();
    calls.sort();
    calls
}

fn campaigns_of(lead: &Lead) -> Vec<Option<i64>> {
    let mut wanted: Vec<Option<i64>> = lead
        .memberships
        .iter()
        .map(|m| Some(m.campaign_id))
        .collect();
    wanted.sort();
    wanted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribe_through_outposts_link_reaches_every_smartlead_campaign_of_the_lead() {
    let rig = gmail_rig(utc("2026-03-02T10:00:00Z")).await;
    assert!(
        !SyncEngine::new(rig.engine.clone())
            .sync_all()
            .await
            .failed()
    );
    let (lead, _server) = unsubscribe_through_link(&rig, &rig.engine).await;

    // Smartlead hears of it once per campaign of the lead (the call is made
    // after the page answers: wait for it, with a deadline), and nothing is
    // left waiting.
    let wanted = campaigns_of(&lead);
    let pending_key = PendingUnsubscribe::key_for(&lead.email);
    let deadline = Instant::now() + StdDuration::from_secs(10);
    let calls = loop {
        let calls = smartlead_unsubscribes(&rig, &lead);
        let settled = calls.len() >= wanted.len()
            && outpost::testing::store(&rig.engine)
                .get::<PendingUnsubscribe>(&pending_key)
                .unwrap()
                .is_none();
        if settled || Instant::now() > deadline {
            break calls;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    };
    assert_eq!(calls, wanted);
    assert!(!suppressed(outpost::testing::store(&rig.engine), &lead.email).is_empty());
    assert_eq!(
        outpost::testing::store(&rig.engine)
            .get::<PendingUnsubscribe>(&pending_key)
            .unwrap(),
        None
    );
}

/// The rig's store and clock, with a Smartlead client that gives up on the
/// first failure (its own backoff waits in real time).
fn engine_without_client_retries(rig: &GmailRig) -> Engine {
    let clock: SharedClock = rig.clock.clone();
    let mut providers =
        Providers::from_config(&rig.config, rig.config.data_dir(), clock.clone()).unwrap();
    let info = rig.sandbox.info();
    let mut config = SmartleadConfig::new(
        url::Url::parse(&info.smartlead_base_url).unwrap(),
        SecretString::from(info.smartlead_api_key.clone()),
    );
    config.max_retries = 0;
    Arc::get_mut(providers.smartlead.get_mut("sl").unwrap())
        .expect("not shared yet")
        .client = SmartleadClient::new(config).unwrap();
    Engine::with_providers(
        outpost::testing::store(&rig.engine).clone(),
        clock,
        Arc::new(providers),
    )
}

async fn pending_in_health(server: &daemon_support::TestServer) -> u64 {
    let health: serde_json::Value = server
        .http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["unsubscribes_pending_in_smartlead"]
        .as_u64()
        .expect("health counts waiting unsubscribes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribe_smartlead_refuses_waits_and_one_retry_pass_takes_it_once_smartlead_answers()
{
    let start = utc("2026-03-02T10:00:00Z");
    let rig = gmail_rig(start).await;
    let engine = engine_without_client_retries(&rig);
    // Smartlead is down (every request a 5xx) once the cache is synced.
    let sync = SyncEngine::new(rig.engine.clone()).sync_all().await;
    assert!(!sync.failed());
    rig.sandbox
        .set_faults(sandbox::Faults {
            error_rate: 1.0,
            latency_ms: 0,
        })
        .unwrap();
    let (lead, server) = unsubscribe_through_link(&rig, &engine).await;
    let key = PendingUnsubscribe::key_for(&lead.email);

    // The page's own try fails; the unsubscribe waits, with the failure and
    // its next try five minutes on.
    let deadline = Instant::now() + StdDuration::from_secs(10);
    let pending = loop {
        let pending = outpost::testing::store(&engine)
            .get::<PendingUnsubscribe>(&key)
            .unwrap();
        if pending.as_ref().is_some_and(|p| p.attempts >= 1) || Instant::now() > deadline {
            break pending.expect("the unsubscribe waits for Smartlead");
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    };
    assert_eq!(pending.attempts, 1);
    assert!(pending.last_error.is_some());
    assert_eq!(
        pending.next_attempt_at,
        start + chrono::Duration::minutes(5)
    );
    assert_eq!(
        smartlead_unsubscribes(&rig, &lead),
        Vec::<Option<i64>>::new()
    );
    assert!(!suppressed(outpost::testing::store(&engine), &lead.email).is_empty());
    assert_eq!(pending_in_health(&server).await, 1);

    // Smartlead answers again; before the due time a pass sends nothing.
    rig.sandbox
        .set_faults(sandbox::Faults {
            error_rate: 0.0,
            latency_ms: 0,
        })
        .unwrap();
    assert_eq!(engine.retry_pending_unsubscribes().await, 0);
    assert_eq!(
        smartlead_unsubscribes(&rig, &lead),
        Vec::<Option<i64>>::new()
    );

    // Once due, one pass unsubscribes the lead in each of its campaigns and
    // forgets the record.
    rig.clock.set(start + chrono::Duration::minutes(5));
    assert_eq!(engine.retry_pending_unsubscribes().await, 1);
    assert_eq!(smartlead_unsubscribes(&rig, &lead), campaigns_of(&lead));
    assert_eq!(
        outpost::testing::store(&engine)
            .get::<PendingUnsubscribe>(&key)
            .unwrap(),
        None
    );
    assert_eq!(pending_in_health(&server).await, 0);

    // A second pass sends nothing more.
    rig.clock.set(start + chrono::Duration::hours(2));
    assert_eq!(engine.retry_pending_unsubscribes().await, 0);
    assert_eq!(smartlead_unsubscribes(&rig, &lead), campaigns_of(&lead));
}

#[test]
fn the_guard_refuses_with_reasons_and_a_count_unless_forced() {
    let store = outpost::store::Store::temporary().unwrap();
    let now = utc("2026-03-02T10:00:00Z");
    sequences_support::apply(&store, &two_step("guarded", "", "days = 2"));
    sequences_support::apply(&store, &two_step("other", "", "days = 2"));

    let mut interested = Lead::new("sl", "ivy@acme.example");
    interested.category = Some(Category {
        id: 1,
        name: "Interested".into(),
        sentiment: Some("positive".into()),
    });
    let mut meeting = Lead::new("sl", "mo@acme.example");
    meeting.memberships.push(Membership {
        campaign_id: 7,
        campaign_name: Some("Q3".into()),
        map_id: Some(70),
        status: Some("COMPLETED".into()),
        category_id: Some(2),
    });
    let mut do_not_contact = Lead::new("sl", "dee@acme.example");
    do_not_contact.category = Some(Category {
        id: 4,
        name: "Do Not Contact".into(),
        sentiment: Some("negative".into()),
    });
    let mut in_campaign = Lead::new("sl", "cam@acme.example");
    in_campaign.memberships.push(Membership {
        campaign_id: 9,
        campaign_name: Some("Fintech CFOs".into()),
        map_id: Some(90),
        status: Some("INPROGRESS".into()),
        category_id: None,
    });
    let mut unsubscribed = Lead::new("sl", "una@acme.example");
    unsubscribed.unsubscribed = true;
    store
        .put_all(&[
            interested,
            meeting,
            do_not_contact,
            in_campaign,
            unsubscribed,
        ])
        .unwrap();
    store
        .put(&Account {
            name: "gm".into(),
            provider: Provider::Gmail,
            email: Some("rep@acme.example".into()),
            needs_login: false,
            last_sync_ok: None,
            last_error: None,
            categories: vec![],
        })
        .unwrap();
    // "Not the right person": an answer kept under the Gmail account.
    let mut replied = sequences_support::event(
        EventType::EmailReplied,
        "rae@acme.example",
        now - chrono::Duration::days(3),
        Some("not the right person"),
    );
    replied.account = "gm".into();
    let mut activity = Activity::new("gm", "rae@acme.example");
    activity.insert(replied);
    store.put(&activity).unwrap();
    store
        .put(&Suppression {
            account: "gm".into(),
            email: "bo@gone.example".into(),
            reason: SuppressionReason::Bounced,
            at: now,
            note: None,
        })
        .unwrap();
    sequences::enroll_leads(
        &store,
        "other",
        &[LeadInput::email("busy@acme.example")],
        now,
        false,
        now,
    )
    .unwrap();

    let emails = [
        "ivy@acme.example",
        "mo@acme.example",
        "dee@acme.example",
        "cam@acme.example",
        "una@acme.example",
        "rae@acme.example",
        "bo@gone.example",
        "busy@acme.example",
        "fresh@acme.example",
    ];
    let inputs: Vec<LeadInput> = emails.iter().map(|e| LeadInput::email(e)).collect();
    let report = sequences::enroll_leads(&store, "guarded", &inputs, now, false, now).unwrap();
    let reason = |email: &str| {
        report
            .skipped
            .iter()
            .find(|s| s.email == email)
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{email} was not refused: {report:?}"))
    };
    assert!(reason("ivy@acme.example").contains("marked Interested"));
    assert!(reason("mo@acme.example").contains("marked Meeting Request"));
    assert!(reason("dee@acme.example").contains("marked Do Not Contact"));
    assert!(reason("cam@acme.example").contains("active in Smartlead campaign 9"));
    assert!(reason("una@acme.example").contains("unsubscribed"));
    assert!(reason("rae@acme.example").contains("replied on 2026-02-27"));
    assert!(reason("bo@gone.example").contains("bounced"));
    assert!(reason("busy@acme.example").contains("sequence \"other\""));
    assert_eq!(report.skipped.len(), 8, "{report:?}");
    let enrolled: Vec<&str> = report
        .enrolled
        .iter()
        .map(|e| e.lead_email.as_str())
        .collect();
    assert_eq!(enrolled, ["fresh@acme.example"]);

    // --force enrolls them all but the suppressed address.
    let report = sequences::enroll_leads(&store, "guarded", &inputs, now, true, now).unwrap();
    assert_eq!(report.enrolled.len(), 7, "{report:?}");
    let refused: Vec<&str> = report
        .skipped
        .iter()
        .filter(|s| !s.reason.starts_with("already enrolled"))
        .map(|s| s.email.as_str())
        .collect();
    assert_eq!(refused, ["bo@gone.example"]);
}

fn mailbox_event(kind: EventType, lead: &str, minute: i64, detail: Option<String>) -> EmailEvent {
    let at = utc("2026-03-01T10:00:00Z") + chrono::Duration::minutes(minute);
    let dedupe_key = format!("{kind}|{lead}|{minute}");
    EmailEvent {
        id: EmailEvent::id_for("acme", &dedupe_key),
        account: "acme".into(),
        kind,
        lead_email: lead.into(),
        campaign_id: None,
        sequence_number: None,
        at,
        source: EventSource::Sync,
        dedupe_key,
        message_id: None,
        detail,
    }
}

#[test]
fn a_mailbox_whose_mail_bounces_stops_sending_steps_until_the_rep_resumes_it() {
    let now = utc("2026-03-02T10:00:00Z");
    let clock = Arc::new(FakeClock::new(now));
    let store = outpost::store::Store::temporary().unwrap();
    let engine = Engine::new(store.clone(), clock.clone());
    assert_eq!(engine.settings().sending.bounce_pause_rate, 0.05);
    store
        .put(&Account {
            name: "acme".into(),
            provider: Provider::Gmail,
            email: Some("rep@acme.example".into()),
            needs_login: false,
            last_sync_ok: None,
            last_error: None,
            categories: vec![],
        })
        .unwrap();
    let sends: Vec<EmailEvent> = (0..60)
        .map(|i| mailbox_event(EventType::EmailSent, &format!("l{i}@x.example"), i, None))
        .collect();
    engine.record_events(&sends).unwrap();
    let hard = |i: i64| {
        mailbox_event(
            EventType::EmailBounced,
            &format!("l{i}@x.example"),
            100 + i,
            Some(bounce_detail(
                BounceClass::Hard,
                Some("5.1.1"),
                "User unknown",
            )),
        )
    };
    let health = || engine.mailbox_bounces().unwrap().remove(0);

    // 3 of 60 (5%) is not above the limit; a soft bounce does not count.
    engine.record_events(&[hard(0), hard(1), hard(2)]).unwrap();
    let soft = mailbox_event(
        EventType::EmailBounced,
        "l3@x.example",
        103,
        Some(bounce_detail(
            BounceClass::Soft,
            Some("4.2.2"),
            "Mailbox full",
        )),
    );
    engine.record_events(&[soft]).unwrap();
    assert!(!health().paused, "{:?}", health());
    assert_eq!((health().hard_bounces, health().soft_bounces), (3, 1));
    // The fourth (6.7%) pauses the mailbox.
    engine.record_events(&[hard(4)]).unwrap();
    assert!(health().paused);
    assert_eq!(outpost::engine::rate_text(health().bounce_rate), "6.7%");

    // Its sequence steps wait, unblocked, while it is paused.
    sequences_support::apply(&store, &two_step("paused", "", "days = 2"));
    let enrolled = sequences::enroll_leads(
        &store,
        "paused",
        &[sequences_support::lead("fresh@acme.example", "Acme", None)],
        now,
        false,
        now,
    )
    .unwrap();
    assert_eq!(enrolled.enrolled.len(), 1, "{:?}", enrolled.skipped);
    let scheduler = sequences_support::scheduler(&store);
    scheduler.tick(now).unwrap();
    assert!(sequences_support::pending(&store).is_empty());
    let waiting = enrollment_of(&engine, "fresh@acme.example", "paused");
    assert_eq!(waiting.state, EnrollmentState::Active);
    assert!(waiting.next_due_at.is_some_and(|d| d > now));

    // A mailbox that is not paused cannot be resumed; this one can.
    let resumed = engine.resume_mailbox("rep@acme.example").unwrap();
    assert!(!resumed.paused);
    assert!(engine.resume_mailbox("rep@acme.example").is_err());
    let later = now + chrono::Duration::hours(1);
    clock.set(later);
    scheduler.tick(later).unwrap();
    let queued = sequences_support::pending(&store);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].email.from, "rep@acme.example");

    // A new hard bounce with the rate still high pauses it again.
    engine.record_events(&[hard(5)]).unwrap();
    assert!(health().paused);
}

/// The sandbox's own data is a rep's: steps Smartlead sent through the
/// rep's Gmail that bounced left mailer-daemon notices in their threads,
/// and the first sync reads them: each such address is suppressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_mailbox_holds_bounce_notices_and_the_first_sync_suppresses_them() {
    use outpost::model::{Message, Suppression, SuppressionReason};
    let rig = support::fast_rig(600, 5).await;
    assert!(
        !outpost::sync::SyncEngine::new(rig.engine.clone())
            .sync_all()
            .await
            .failed()
    );
    let store = outpost::testing::store(&rig.engine);
    let notices: Vec<Message> = store
        .iter::<Message>()
        .filter_map(|m| m.ok())
        .filter(|m| m.from.email.starts_with("mailer-daemon@"))
        .collect();
    assert!(
        !notices.is_empty(),
        "no bounce notice in the generated mailbox"
    );
    let suppressed: Vec<Suppression> = store
        .iter::<Suppression>()
        .filter_map(|s| s.ok())
        .filter(|s| s.reason == SuppressionReason::Bounced)
        .collect();
    for notice in &notices {
        // The notice sits in the thread of the step it returns.
        let thread = rig.engine.thread(&notice.thread_key).unwrap().unwrap();
        let lead = thread
            .thread
            .lead_email
            .clone()
            .expect("a lead's conversation");
        assert!(
            suppressed.iter().any(|s| s.email == lead),
            "{lead} bounced but is not suppressed"
        );
    }
    // A second sync stores no notice twice.
    let again = outpost::sync::SyncEngine::new(rig.engine.clone())
        .sync_all()
        .await;
    assert!(!again.failed());
    let count = store
        .iter::<Message>()
        .filter_map(|m| m.ok())
        .filter(|m| m.from.email.starts_with("mailer-daemon@"))
        .count();
    assert_eq!(count, notices.len());
}
