//! Conditional and webhook steps run end to end: enroll, scheduler ticks on
//! the injected clock, events through the engine's one event door (as sync,
//! webhooks and tracking bring them), and what lands in the outbox, or at a
//! loopback HTTP receiver for webhook steps.

mod sequences_support;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use outpost::clock::{Clock, FakeClock, SharedClock};
use outpost::engine::Engine;
use outpost::model::*;
use outpost::store::Store;
use sequences_support::*;

/// First email, then `if = condition` within 48 hours: "yes" or "no".
fn branching(condition: &str, settings: &str) -> String {
    format!(
        r#"
name = "branch"
account = "acme"
category = "follow_up"

[settings]
skip_weekends = false
random_gap_secs = {{ min = 0, max = 0 }}
{settings}

[send_via]
provider = "gmail"
mailboxes = ["rep@acme.example"]

[[steps]]
type = "email"
name = "first"
subject = "The deck"
body = "Hi {{{{first_name}}}}, the deck: https://acme.example/deck"

[[steps]]
type = "conditional"
if = "{condition}"
within_hours = 48
then = "yes"
else = "no"

[[steps]]
type = "email"
name = "yes"
body = "YES branch"

[[steps]]
type = "conditional"
name = "done"
if = "no_reply"
within_hours = 1
then = "end"
else = "end"

[[steps]]
type = "email"
name = "no"
body = "NO branch"
"#
    )
}

const START: &str = "2026-03-02T10:00:00Z";

struct Run {
    store: Store,
    engine: Engine,
    clock: Arc<FakeClock>,
    enrollment: Enrollment,
    first_sent: DateTime<Utc>,
}

/// Applies and enrolls one lead, and sends the first email.
fn started(text: &str) -> Run {
    let store = Store::temporary().unwrap();
    apply(&store, text);
    let start = utc(START);
    let [enrollment] = enroll(
        &store,
        "branch",
        &[lead("dana@ledgerly.example", "Ledgerly", None)],
        start,
    )
    .try_into()
    .unwrap();
    let clock = Arc::new(FakeClock::new(start));
    let engine = Engine::new(store.clone(), clock.clone() as SharedClock);
    // Only the first email: the step after it runs in each test.
    scheduler(&store).tick(start).unwrap();
    let [first] = pending(&store).try_into().unwrap();
    let first_sent = send(&store, &first, first.not_before).not_before;
    Run {
        store,
        engine,
        clock,
        enrollment,
        first_sent,
    }
}

impl Run {
    /// An event arriving through the engine (dedupe, activity, reactions) at `at`.
    fn event(&self, kind: EventType, at: DateTime<Utc>, detail: Option<&str>) {
        self.clock.set(at);
        let fresh = self
            .engine
            .record_events(&[event(kind, "dana@ledgerly.example", at, detail)])
            .unwrap();
        assert_eq!(fresh.len(), 1);
    }

    fn drive(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<OutboxItem> {
        drive(&self.store, &scheduler(&self.store), from, until)
    }

    fn branch_taken(&self) -> String {
        let exec = self
            .store
            .get::<StepExecution>(&format!("{}/00001", self.enrollment.id))
            .unwrap()
            .unwrap();
        assert_eq!(exec.outcome, ExecutionOutcome::Branched);
        exec.variant.unwrap()
    }
}

fn bodies(sent: &[OutboxItem]) -> Vec<&str> {
    sent.iter().map(|i| i.email.text_body.trim()).collect()
}

/// The event arrives an hour after the first email; the branch is taken
/// then, not when the 48 hours run out.
fn taken_on_event(condition: &str, settings: &str, kind: EventType, detail: Option<&str>) {
    let run = started(&branching(condition, settings));
    let seen = run.first_sent + Duration::hours(1);
    assert!(
        run.drive(run.first_sent, seen).is_empty(),
        "nothing before the event"
    );
    run.event(kind, seen, detail);
    let sent = run.drive(seen, seen + Duration::hours(1));
    assert_eq!(bodies(&sent), vec!["YES branch"], "{condition}");
    assert!(sent[0].not_before < run.first_sent + Duration::hours(3));
    assert_eq!(run.branch_taken(), "then -> step 3");
    let later = run.drive(seen + Duration::hours(1), seen + Duration::days(5));
    assert!(
        later.is_empty(),
        "the NO branch never goes out: {:?}",
        bodies(&later)
    );
    assert_eq!(
        enrollment(&run.store, &run.enrollment.id).state,
        EnrollmentState::Completed
    );
}

#[test]
fn opened_takes_the_then_branch_when_the_open_arrives() {
    taken_on_event("opened", "track_opens = true", EventType::EmailOpened, None);
}

#[test]
fn clicked_takes_the_then_branch_when_the_click_arrives() {
    taken_on_event(
        "clicked",
        "track_clicks = true",
        EventType::EmailClicked,
        None,
    );
}

#[test]
fn replied_takes_the_then_branch_when_the_reply_arrives() {
    // With pause_on_reply the reply would pause the lead; here it branches.
    taken_on_event(
        "replied",
        "pause_on_reply = false",
        EventType::EmailReplied,
        Some("Interesting, tell me more"),
    );
}

#[test]
fn without_the_event_the_else_branch_goes_out_at_the_deadline() {
    let run = started(&branching("opened", "track_opens = true"));
    let sent = run.drive(run.first_sent, run.first_sent + Duration::days(5));
    assert_eq!(bodies(&sent), vec!["NO branch"]);
    assert!(sent[0].not_before >= run.first_sent + Duration::hours(48));
    assert_eq!(run.branch_taken(), "else -> step 5");
    assert_eq!(
        enrollment(&run.store, &run.enrollment.id).state,
        EnrollmentState::Completed
    );
}

#[test]
fn an_event_after_the_deadline_does_not_change_the_branch() {
    let run = started(&branching("opened", "track_opens = true"));
    let late = run.first_sent + Duration::hours(49);
    let sent = run.drive(run.first_sent, late);
    assert_eq!(bodies(&sent), vec!["NO branch"]);
    run.event(EventType::EmailOpened, late, None);
    assert!(run.drive(late, late + Duration::days(3)).is_empty());
}

#[test]
fn no_reply_goes_to_else_as_soon_as_a_reply_arrives() {
    let run = started(&branching("no_reply", "pause_on_reply = false"));
    let seen = run.first_sent + Duration::hours(2);
    run.event(EventType::EmailReplied, seen, Some("Not now, thanks"));
    let sent = run.drive(seen, seen + Duration::hours(1));
    assert_eq!(bodies(&sent), vec!["NO branch"]);
}

/// A loopback receiver: every JSON body it gets, answered with `status`.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn webhook_sequence(url: &str) -> String {
    format!(
        r#"
name = "branch"
account = "acme"
category = "follow_up"

[settings]
skip_weekends = false
random_gap_secs = {{ min = 0, max = 0 }}

[send_via]
provider = "gmail"
mailboxes = ["rep@acme.example"]

[[steps]]
type = "email"
subject = "The deck"
body = "Hi {{{{first_name}}}}."

[[steps]]
type = "webhook"
name = "crm"
url = "{url}"
payload = '{{"email": "{{{{email}}}}", "company": "{{{{company}}}}", "stage": "sequenced"}}'

[[steps]]
type = "email"
body = "After the CRM heard of it."
"#
    )
}

/// Waits (on the condition, with a deadline) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_step_posts_its_payload_and_the_sequence_moves_on() {
    let (url, got) = receiver(200).await;
    let run = started(&webhook_sequence(&url));
    let now = run.first_sent + Duration::minutes(1);
    run.clock.set(now);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let scheduler = scheduler(&run.store);
    let running = tokio::spawn(scheduler.run(run.clock.clone() as SharedClock, shutdown.clone()));
    let store = run.store.clone();
    let id = run.enrollment.id.clone();
    until("the follow-up after the webhook", || {
        pending(&store)
            .iter()
            .any(|i| i.step == Some(2) && i.enrollment_id.as_deref() == Some(&id))
    })
    .await;
    shutdown.cancel();
    running.await.unwrap();
    let bodies = got.lock().unwrap().clone();
    assert_eq!(
        bodies,
        vec![serde_json::json!({
            "email": "dana@ledgerly.example",
            "company": "Ledgerly",
            "stage": "sequenced"
        })],
        "posted once"
    );
    let exec = run
        .store
        .get::<StepExecution>(&format!("{id}/00001"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (exec.outcome, exec.attempts),
        (ExecutionOutcome::WebhookDelivered, 1)
    );
    assert_eq!(exec.at, run.clock.now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_webhook_is_recorded_and_the_sequence_still_moves_on() {
    let (url, got) = receiver(400).await;
    let run = started(&webhook_sequence(&url));
    run.clock.set(run.first_sent + Duration::minutes(1));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running =
        tokio::spawn(scheduler(&run.store).run(run.clock.clone() as SharedClock, shutdown.clone()));
    let store = run.store.clone();
    let id = run.enrollment.id.clone();
    until("the follow-up after the refused webhook", || {
        pending(&store).iter().any(|i| i.step == Some(2))
    })
    .await;
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(got.lock().unwrap().len(), 1, "a 4xx is not retried");
    let exec = run
        .store
        .get::<StepExecution>(&format!("{id}/00001"))
        .unwrap()
        .unwrap();
    assert_eq!(exec.outcome, ExecutionOutcome::Failed);
    assert!(exec.error.unwrap().contains("400"));
}
