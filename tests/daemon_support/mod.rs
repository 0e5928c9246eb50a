//! A daemon server on loopback over a temporary store, for route tests.
#![allow(dead_code)]

use std::sync::Arc;

use outpost::clock::{FakeClock, SharedClock};
use outpost::engine::Engine;
use outpost::sequences::TrackingKey;
use outpost::server::state::{ServerParts, WebhookRoute};
use outpost::server::{Ingest, Metrics, ServerState};
use outpost::store::Store;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "8d1f0c8e-3c55-4b0e-9f6a-2a7d1c9b4e11";
pub const API_TOKEN: &str = "test-api-token";
pub const ACCOUNT: &str = "acme-smartlead";

pub struct TestServer {
    pub base: String,
    pub engine: Engine,
    pub clock: FakeClock,
    pub key: TrackingKey,
    pub state: ServerState,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "daemon").unwrap();
        let clock = FakeClock::new("2025-06-04T09:00:00Z".parse().unwrap());
        let shared: SharedClock = Arc::new(clock.clone());
        let engine = Engine::new(store, shared);
        Self::serve(engine, clock, dir).await
    }

    /// The routes over an engine the test made (with providers, say), on
    /// the clock it was made with; `dir` lives as long as the server.
    pub async fn serve(engine: Engine, clock: FakeClock, dir: tempfile::TempDir) -> TestServer {
        let metrics = Arc::new(Metrics::default());
        let (ingest, _writer) = Ingest::start(engine.clone());
        let key = TrackingKey::from_bytes([42; 32]);
        let shutdown = CancellationToken::new();
        let state = ServerState::new(ServerParts {
            engine: engine.clone(),
            ingest,
            metrics,
            routes: vec![WebhookRoute {
                account: ACCOUNT.into(),
                token: Some("org_42".into()),
            }],
            webhook_secret: Some(SecretString::from(SECRET)),
            api_token: SecretString::from(API_TOKEN),
            tracking_key: Some(key.clone()),
            sync: None,
            scheduler: None,
            shutdown: shutdown.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(outpost::server::serve(
            listener,
            state.clone(),
            shutdown.clone(),
        ));
        TestServer {
            base,
            engine,
            clock,
            key,
            state,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            shutdown,
            _dir: dir,
        }
    }

    pub async fn post_webhook(&self, body: &Value) -> (u16, Value) {
        self.post_raw("/webhooks/smartlead", body.to_string(), &[])
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: String,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn event_count(&self) -> usize {
        self.engine.event_count().unwrap()
    }
}

/// A reply payload as the reference shows it, for one lead.
pub fn reply_payload(lead: &str, lead_id: i64, at: &str, text: &str) -> Value {
    json!({
        "event_type": "EMAIL_REPLY", "webhook_id": 799, "webhook_name": "outpost",
        "campaign_id": 1764810, "campaign_name": "Q3 Fintech CFOs", "campaign_status": "ACTIVE",
        "client_id": 34998, "sequence_number": 1,
        "sl_email_lead_id": lead_id.to_string(), "sl_email_lead_map_id": 2433664091_i64,
        "sl_lead_email": lead,
        "stats_id": format!("stats-{lead_id}"), "stats_thread_id": "thr",
        "from_email": "sam@ledger-outreach.example", "to_email": "sam@ledger-outreach.example",
        "subject": "Re: Dana, quick question",
        "sent_message": {"message_id": "<a1b2c3@mail.ledger-outreach.example>", "html": "<p>Hi Dana,</p>",
            "text": "Hi Dana,", "time": "2025-06-03T13:04:10.000Z"},
        "reply_message": {"message_id": format!("<reply-{lead_id}@mail.gmail.com>"),
            "html": format!("<div>{text}</div>"), "text": text, "time": at},
        "event_timestamp": at, "time_replied": at, "reply_category": null,
        "leadCorrespondence": {"targetLeadEmail": lead, "replyReceivedFrom": lead,
            "repliedCompanyDomain": "SameCompany"},
        "secret_key": SECRET,
    })
}

pub fn event_payload(event_type: &str, lead: &str, at: &str) -> Value {
    json!({
        "event_type": event_type, "campaign_id": "1764810", "sequence_number": "2",
        "sl_email_lead_id": 2995276770_i64, "sl_email_lead_map_id": "2433664091",
        "sl_lead_email": lead, "stats_id": "6d6ef88a", "event_timestamp": at,
        "link_clicked": ["https://acme.example/demo"], "secret_key": SECRET,
    })
}
