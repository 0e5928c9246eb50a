//! A Gmail send whose access token must be renewed while Google's token
//! endpoint is failing: nothing left, so the outbox tries again later
//! instead of failing the send, and it goes out once the endpoint is back.

mod support;

use chrono::{Duration, Utc};
use outpost::model::*;
use outpost::outbox::OutboxWorker;
use outpost::sandbox::{self, Faults, SandboxOptions};
use support::{ClientLimit, engine_for, store_gmail_tokens_at, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_endpoint_delays_a_send_and_does_not_fail_it() {
    let sandbox = sandbox::start(SandboxOptions {
        leads: 10,
        seed: 4,
        rate_limit: sandbox::RateLimit::unlimited(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(dir.path(), sandbox.info(), &ClientLimit(100_000, 1));
    // Tokens that expired an hour ago: the send must renew them first.
    store_gmail_tokens_at(
        &sandbox,
        &dir.path().join("data"),
        Utc::now() - Duration::hours(2),
    );
    let engine = engine_for(&config_path);

    let now = Utc::now();
    let mailbox = sandbox.info().gmail_email.clone();
    let item = OutboxItem {
        id: "send-1".into(),
        account: "gm".into(),
        provider: Provider::Gmail,
        idempotency_key: "compose:send-1".into(),
        state: OutboxState::Pending,
        not_before: now - Duration::minutes(1),
        message_id: "<send-1@outpost.example>".into(),
        email: OutgoingEmail {
            from: mailbox,
            to: vec!["dana@ledgerly.example".into()],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: "Tuesday".into(),
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
    };
    outpost::testing::store(&engine).put(&item).unwrap();
    let worker = OutboxWorker::new(engine.clone());

    sandbox
        .set_faults(Faults {
            error_rate: 1.0,
            latency_ms: 0,
        })
        .expect("faults");
    worker.send_due().await.expect("outbox pass");
    let waiting = engine.outbox_item("send-1").unwrap().unwrap();
    assert_eq!(
        waiting.state,
        OutboxState::Pending,
        "{:?}",
        waiting.last_error
    );
    let why = waiting.last_error.clone().unwrap_or_default();
    assert!(why.contains("unavailable for now"), "{why}");
    assert!(
        waiting.not_before > Utc::now(),
        "tried again after a backoff"
    );
    assert!(sandbox.google().sent_messages().is_empty());

    // The endpoint is back: the retry renews the token and sends, once.
    sandbox.set_faults(Faults::default()).expect("no faults");
    let sent = worker.send(waiting).await.expect("send");
    assert_eq!(sent.state, OutboxState::Sent, "{:?}", sent.last_error);
    assert_eq!(sent.attempts, 2);
    assert_eq!(sandbox.google().sent_messages().len(), 1);
}
