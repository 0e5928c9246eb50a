//! The daemon's routes against bad input of every kind, and the effects of
//! good input: webhooks, tracking, unsubscribe, health, metrics, API auth.

mod daemon_support;

use daemon_support::*;
use outpost::model::*;
use outpost::sequences::{TokenClaims, TokenKind};
use serde_json::json;

#[tokio::test]
async fn a_reply_webhook_records_the_event_and_creates_the_unread_thread() {
    let server = TestServer::start().await;
    let payload = reply_payload(
        "Dana@Ledgerly.example",
        2995276770,
        "2025-06-04T08:02:31+00:00",
        "Sounds interesting, send times.",
    );
    let (status, body) = server.post_webhook(&payload).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["new_events"], 1);

    let lead = outpost::testing::store(&server.engine)
        .get::<Lead>(&Lead::key_for(ACCOUNT, "dana@ledgerly.example"))
        .unwrap()
        .expect("the lead is created from the webhook");
    assert_eq!(lead.last_event, Some(EventType::EmailReplied));
    assert_eq!(lead.smartlead_lead_id, Some(2995276770));

    let view = server
        .engine
        .thread(&Thread::key_for(ACCOUNT, "1764810:2995276770"))
        .unwrap()
        .expect("the reply's thread exists at once");
    assert!(view.thread.unread && view.thread.has_reply);
    assert_eq!(view.messages.len(), 2, "the sent email and the reply");
    let reply = view
        .messages
        .iter()
        .find(|m| m.direction == Direction::Inbound)
        .unwrap();
    assert_eq!(reply.from.email, "dana@ledgerly.example", "never to_email");
    assert_eq!(reply.text_body, "Sounds interesting, send times.");

    // A redelivery (no request id) is deduped: still one event, one reply.
    let (status, body) = server.post_webhook(&payload).await;
    assert_eq!((status, body["new_events"].as_u64()), (200, Some(0)));
    assert_eq!(server.event_count(), 1);
    let view = server.engine.thread(&view.key).unwrap().unwrap();
    assert_eq!(view.messages.len(), 2);
    assert_eq!(view.thread.message_count, 2);

    // A second reply in the conversation joins the thread and its summary.
    let mut later = reply_payload(
        "dana@ledgerly.example",
        2995276770,
        "2025-06-05T09:30:00+00:00",
        "Tuesday 10:00 works.",
    );
    later["reply_message"]["message_id"] = json!("<second-reply@mail.gmail.com>");
    let (status, body) = server.post_webhook(&later).await;
    assert_eq!((status, body["new_events"].as_u64()), (200, Some(1)));
    let view = server.engine.thread(&view.key).unwrap().unwrap();
    assert_eq!(view.messages.len(), 3);
    assert_eq!(view.thread.message_count, 3);
    assert_eq!(view.thread.snippet, "Tuesday 10:00 works.");
    assert!(
        outpost::testing::store(&server.engine)
            .verify_indexes()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn duplicate_request_ids_are_answered_without_storing() {
    let server = TestServer::start().await;
    let payload = event_payload("EMAIL_OPEN", "a@b.example", "2025-06-04T08:00:00Z");
    let headers = [("x-request-id", "req-1")];
    let (status, _) = server
        .post_raw("/webhooks/smartlead", payload.to_string(), &headers)
        .await;
    assert_eq!(status, 200);
    let (status, body) = server
        .post_raw("/webhooks/smartlead", payload.to_string(), &headers)
        .await;
    assert_eq!((status, body["duplicate"].as_bool()), (200, Some(true)));
    assert_eq!(server.event_count(), 1);
}

#[tokio::test]
async fn every_event_type_maps_and_follow_ups_are_marked() {
    let server = TestServer::start().await;
    let cases = [
        ("EMAIL_SENT", EventType::EmailSent),
        ("FIRST_EMAIL_SENT", EventType::EmailSent),
        ("EMAIL_OPEN", EventType::EmailFollowUpOpened),
        ("EMAIL_LINK_CLICK", EventType::EmailFollowUpClicked),
        ("EMAIL_BOUNCE", EventType::EmailBounced),
    ];
    for (i, (kind, expected)) in cases.iter().enumerate() {
        let at = format!("2025-06-04T08:0{i}:00Z");
        let (status, body) = server
            .post_webhook(&event_payload(kind, "a@b.example", &at))
            .await;
        assert_eq!(status, 200, "{kind}: {body}");
        let events: Vec<EmailEvent> = server.engine.all_events().map(Result::unwrap).collect();
        assert!(
            events.iter().any(|e| e.kind == *expected),
            "{kind} → {expected:?}"
        );
    }
    let unsubscribe = json!({"event_type": "LEAD_UNSUBSCRIBED", "lead_email": "u@b.example",
        "to_email": "sam@ours.example", "event_timestamp": "2025-06-04T08:10:00Z", "secret_key": SECRET});
    assert_eq!(server.post_webhook(&unsubscribe).await.0, 200);
    let lead = outpost::testing::store(&server.engine)
        .get::<Lead>(&Lead::key_for(ACCOUNT, "u@b.example"))
        .unwrap()
        .unwrap();
    assert!(lead.unsubscribed);
    let suppressed = outpost::testing::store(&server.engine)
        .get::<Suppression>(&scoped_key(ACCOUNT, "u@b.example"))
        .unwrap();
    assert!(
        suppressed.is_some(),
        "an unsubscribe suppresses the address"
    );

    let category = json!({"event_type": "LEAD_CATEGORY_UPDATED", "campaign_id": 1764810, "lead_id": 77,
        "event_timestamp": "2025-06-04T08:11:00Z", "secret_key": SECRET,
        "lead_category": {"old_id": null, "old_name": null, "new_id": 1, "new_name": "Interested"},
        "lead_data": {"email": "c@b.example", "category": {"name": "Interested", "sentiment_type": "positive"}}});
    assert_eq!(server.post_webhook(&category).await.0, 200);
    let lead = outpost::testing::store(&server.engine)
        .get::<Lead>(&Lead::key_for(ACCOUNT, "c@b.example"))
        .unwrap()
        .unwrap();
    assert_eq!(
        lead.category.as_ref().map(|c| c.name.as_str()),
        Some("Interested")
    );
    let changed: Vec<EmailEvent> = server
        .engine
        .all_events()
        .map(Result::unwrap)
        .filter(|e| e.kind == EventType::CategoryChanged)
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].detail.as_deref(), Some("Interested"));

    for other in [
        "CAMPAIGN_STATUS_CHANGED",
        "MANUAL_STEP_REACHED",
        "UNTRACKED_REPLIES",
    ] {
        let mut payload = event_payload(other, "m@b.example", "2025-06-04T08:12:00Z");
        payload["status"] = json!("PAUSED");
        if other == "UNTRACKED_REPLIES" {
            payload["reply_message"] = json!({"text": "hello", "time": "2025-06-04T08:12:00Z"});
        }
        let (status, body) = server.post_webhook(&payload).await;
        assert_eq!(status, 200, "{other}: {body}");
    }
}

/// Path, body, headers, expected status, expected error code.
type BadCase = (
    &'static str,
    String,
    &'static [(&'static str, &'static str)],
    u16,
    &'static str,
);

#[tokio::test]
async fn bad_webhooks_get_json_4xx_and_change_nothing() {
    let server = TestServer::start().await;
    let good = event_payload("EMAIL_OPEN", "a@b.example", "2025-06-04T08:00:00Z");
    let mut wrong_secret = good.clone();
    wrong_secret["secret_key"] = json!("guess");
    let mut no_secret = good.clone();
    no_secret.as_object_mut().unwrap().remove("secret_key");
    let mut unknown = good.clone();
    unknown["event_type"] = json!("EMAIL_OPENED");
    let mut no_lead = good.clone();
    no_lead.as_object_mut().unwrap().remove("sl_lead_email");
    let mut no_type = good.clone();
    no_type.as_object_mut().unwrap().remove("event_type");
    let mut bad_id = good.clone();
    bad_id["campaign_id"] = json!("not-a-number");
    // A field of the wrong type is judged after the secret: a wrong secret
    // is what such a body is refused for.
    let mut odd_types_wrong_secret = wrong_secret.clone();
    odd_types_wrong_secret["campaign_id"] = json!({"id": 7});
    odd_types_wrong_secret["sent_message"] = json!(["not", "an", "object"]);
    let mut odd_type = good.clone();
    odd_type["sequence_number"] = json!(true);
    // An array item that is not an object has no secret either.
    let not_objects = json!([good.clone(), 5]);
    let mut reply_without_body = reply_payload("a@b.example", 1, "2025-06-04T08:00:00Z", "x");
    reply_without_body
        .as_object_mut()
        .unwrap()
        .remove("reply_message");
    reply_without_body
        .as_object_mut()
        .unwrap()
        .remove("reply_body");
    reply_without_body
        .as_object_mut()
        .unwrap()
        .remove("preview_text");
    // One bad item in an array refuses the whole delivery.
    let mixed = json!([good.clone(), unknown.clone()]);
    let oversized = format!(
        "{{\"event_type\":\"EMAIL_OPEN\",\"pad\":\"{}\"}}",
        "x".repeat(300 * 1024)
    );

    let cases: Vec<BadCase> = vec![
        (
            "/webhooks/smartlead",
            "{not json".into(),
            &[],
            400,
            "bad_json",
        ),
        (
            "/webhooks/smartlead",
            "\"a string\"".into(),
            &[],
            400,
            "bad_json",
        ),
        (
            "/webhooks/smartlead",
            "[]".into(),
            &[],
            422,
            "missing_field",
        ),
        ("/webhooks/smartlead", oversized, &[], 413, "too_large"),
        (
            "/webhooks/smartlead",
            wrong_secret.to_string(),
            &[],
            401,
            "bad_secret",
        ),
        (
            "/webhooks/smartlead",
            no_secret.to_string(),
            &[],
            401,
            "bad_secret",
        ),
        (
            "/webhooks/smartlead",
            unknown.to_string(),
            &[],
            422,
            "unknown_event_type",
        ),
        (
            "/webhooks/smartlead",
            no_lead.to_string(),
            &[],
            422,
            "missing_field",
        ),
        (
            "/webhooks/smartlead",
            no_type.to_string(),
            &[],
            422,
            "missing_field",
        ),
        (
            "/webhooks/smartlead",
            bad_id.to_string(),
            &[],
            422,
            "missing_field",
        ),
        (
            "/webhooks/smartlead",
            odd_types_wrong_secret.to_string(),
            &[],
            401,
            "bad_secret",
        ),
        (
            "/webhooks/smartlead",
            not_objects.to_string(),
            &[],
            401,
            "bad_secret",
        ),
        (
            "/webhooks/smartlead",
            odd_type.to_string(),
            &[],
            422,
            "missing_field",
        ),
        (
            "/webhooks/smartlead",
            reply_without_body.to_string(),
            &[],
            422,
            "missing_field",
        ),
        (
            "/webhooks/smartlead",
            mixed.to_string(),
            &[],
            422,
            "unknown_event_type",
        ),
        (
            "/webhooks/smartlead",
            good.to_string(),
            &[("x-smartlead-signature", "sha256=00ff")],
            401,
            "bad_signature",
        ),
        (
            "/webhooks/smartlead/unknown-token",
            good.to_string(),
            &[],
            404,
            "unknown_account",
        ),
    ];
    for (path, body, headers, expected, code) in cases {
        let (status, answer) = server.post_raw(path, body, headers).await;
        assert_eq!(status, expected, "{code}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert!(
            !answer["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(SECRET)
        );
    }
    assert_eq!(server.event_count(), 0, "nothing stored");
    assert_eq!(
        outpost::testing::store(&server.engine).count::<Lead>(),
        0,
        "nothing stored"
    );

    // A correct signature and the routed URL are accepted.
    let body = good.to_string();
    let signature =
        outpost::server::routes::webhooks::sign_body(SECRET.as_bytes(), body.as_bytes());
    let (status, _) = server
        .post_raw(
            "/webhooks/smartlead/org_42",
            body,
            &[("x-smartlead-signature", &signature)],
        )
        .await;
    assert_eq!(status, 200);
    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("outpost_webhook_rejections_total{reason=\"bad_secret\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("outpost_events_ingested_total 1"),
        "{metrics}"
    );
}

fn outbox_item(id: &str, sent_at: chrono::DateTime<chrono::Utc>) -> OutboxItem {
    OutboxItem {
        id: id.into(),
        account: ACCOUNT.into(),
        provider: Provider::Gmail,
        idempotency_key: format!("seq:{id}:0"),
        state: OutboxState::Sent,
        not_before: sent_at,
        message_id: format!("<{id}@acme.example>"),
        email: OutgoingEmail {
            from: "sam@acme.example".into(),
            to: vec!["dana@ledgerly.example".into()],
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
        created_at: sent_at,
        updated_at: sent_at,
        send_at: None,
        attachments_left_out: Vec::new(),
        lease: None,
    }
}

fn claims(kind: TokenKind, url: Option<&str>) -> TokenClaims {
    TokenClaims {
        kind,
        id: "item-1".into(),
        email: None,
        url: url.map(str::to_string),
    }
}

#[tokio::test]
async fn tracking_links_only_do_what_their_signature_says() {
    let server = TestServer::start().await;
    let now = server.engine.clock().now();
    outpost::testing::store(&server.engine)
        .put(&outbox_item("item-1", now - chrono::Duration::seconds(3)))
        .unwrap();

    // Open: a GIF, one event, flagged as a machine open 3 s after sending.
    let open = server.key.sign(&claims(TokenKind::Open, None));
    for _ in 0..2 {
        let resp = server
            .http
            .get(format!("{}/t/o/{open}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "image/gif");
        assert_eq!(&resp.bytes().await.unwrap()[..6], b"GIF89a");
    }
    let events: Vec<EmailEvent> = server.engine.all_events().map(Result::unwrap).collect();
    assert_eq!(events.len(), 1, "repeated opens are deduped");
    assert_eq!(events[0].kind, EventType::EmailOpened);
    assert!(
        events[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("likely machine open")
    );

    // Click: 302 to the signed target only.
    let click = server
        .key
        .sign(&claims(TokenKind::Click, Some("https://acme.example/demo")));
    let resp = server
        .http
        .get(format!("{}/t/c/{click}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "https://acme.example/demo");

    // Edited claims with the old signature, another key's token, garbage,
    // an open token used as a click, and open-redirect attempts: all 400.
    let (_, sig) = click.split_once('.').unwrap();
    use base64::Engine as _;
    let evil = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&claims(TokenKind::Click, Some("https://evil.example"))).unwrap(),
    );
    let forged = outpost::sequences::TrackingKey::from_bytes([1; 32])
        .sign(&claims(TokenKind::Click, Some("https://evil.example")));
    let js = server
        .key
        .sign(&claims(TokenKind::Click, Some("javascript:alert(1)")));
    let relative = server
        .key
        .sign(&claims(TokenKind::Click, Some("//evil.example")));
    for bad in [
        format!("{evil}.{sig}"),
        forged,
        "garbage".into(),
        "a.b".into(),
        open.clone(),
        js,
        relative,
    ] {
        let resp = server
            .http
            .get(format!(
                "{}/t/c/{bad}?url=https://evil.example",
                server.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        assert!(resp.headers().get("location").is_none());
    }
    let resp = server
        .http
        .get(format!("{}/t/o/{}", server.base, "nope.nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let clicks = server
        .engine
        .all_events()
        .map(Result::unwrap)
        .filter(|e| e.kind == EventType::EmailClicked)
        .count();
    assert_eq!(clicks, 1, "only the genuine click counts");
}

#[tokio::test]
async fn one_click_unsubscribe_suppresses_once_and_replays_change_nothing() {
    let server = TestServer::start().await;
    let now = server.engine.clock().now();
    outpost::testing::store(&server.engine)
        .put(&outbox_item("item-1", now))
        .unwrap();
    let token = server.key.sign(&claims(TokenKind::Unsubscribe, None));
    let url = format!("{}/u/{token}", server.base);

    let page = server.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("dana@ledgerly.example"));
    assert_eq!(server.event_count(), 0, "GET changes nothing");

    for _ in 0..3 {
        let resp = server
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(server.event_count(), 1, "replays are one event");
    let suppression = outpost::testing::store(&server.engine)
        .get::<Suppression>(&scoped_key(ACCOUNT, "dana@ledgerly.example"))
        .unwrap()
        .expect("suppressed");
    assert_eq!(suppression.reason, SuppressionReason::Unsubscribed);

    let edited = format!("{}x", token);
    let resp = server
        .http
        .post(format!("{}/u/{edited}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = server
        .http
        .get(format!("{}/u/{edited}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn health_metrics_and_api_auth() {
    let server = TestServer::start().await;
    let health: serde_json::Value = server
        .http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["outbox"]["pending"].is_u64());
    // The replica id the data dir keeps, so a restart knows its own leases.
    let replica = std::fs::read_to_string(
        outpost::testing::store(&server.engine)
            .path()
            .join("replica-id"),
    )
    .unwrap();
    assert_eq!(health["replica_id"], replica.trim());

    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    for name in [
        "outpost_events_ingested_total",
        "outpost_webhook_rejections_total",
        "outpost_sends_total",
        "outpost_scheduler_tick_seconds_total",
        "outpost_ingest_batches_total",
        "outpost_ingest_queued_total 0",
        "outpost_ingest_queued 0",
        "outpost_ingest_stage_seconds_total{stage=\"events\"}",
    ] {
        assert!(text.contains(name), "{name}");
    }

    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic dGVzdA=="),
        Some(API_TOKEN),
    ] {
        let mut request = server
            .http
            .post(format!("{}/api/exec", server.base))
            .json(&json!({"op": "accounts"}));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{auth:?}");
    }
    let ok = server
        .http
        .post(format!("{}/api/exec", server.base))
        .json(&json!({"op": "accounts"}))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
