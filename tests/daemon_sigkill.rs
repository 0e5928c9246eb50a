//! The real `outpost --daemon` killed with SIGKILL in the middle of webhook
//! load, three times, restarted on the same data dir each time: every webhook
//! it answered 2xx is in the store afterwards (the small-scale version of
//! `scripts/sigkill-under-load.sh`). Deliveries it had answered from its
//! queue but not yet applied are applied by the next outpost process that
//! holds the data dir, before a CLI command reads anything.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use chrono::{DateTime, Utc};
use outpost::ingest::{Delivery, RecordChanges};
use outpost::model::QueuedDelivery;
use outpost::store::Store;
use serde_json::{Value, json};

const SECRET: &str = "sigkill-test-secret";
const WORKERS: usize = 6;
const ROUNDS: usize = 3;
/// Acknowledged events per round before the kill (the kill lands mid-load:
/// the workers keep posting until the daemon is gone).
const ACKS_PER_ROUND: usize = 150;

fn outpost(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("outpost").expect("the outpost binary");
    cmd.env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"));
    cmd
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn write_config(dir: &Path, port: u16) {
    let text = format!(
        "[accounts.acme-smartlead]\nprovider = \"smartlead\"\napi_key = \"unused\"\n\
         base_url = \"http://127.0.0.1:9/api/v1\"\npoll_interval_secs = 3600\n\n\
         [daemon]\nlisten = \"127.0.0.1:{port}\"\nwebhook_secret = \"{SECRET}\"\n"
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("config made private");
    }
}

/// Starts the daemon and waits until *it* answers /health.
async fn start_daemon(dir: &Path, base: &str, http: &reqwest::Client) -> Child {
    let mut child = outpost(dir)
        .arg("--daemon")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("daemon status") {
            panic!("the daemon exited before serving: {status}");
        }
        let ok = http
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return child;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not answer /health within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn webhook(n: usize) -> (String, Value) {
    let email = format!("lead{n}@kill.example");
    let body = json!({
        "event_type": "EMAIL_OPEN", "campaign_id": 1,
        "sl_email_lead_id": n.to_string(), "sl_lead_email": email,
        "stats_id": format!("s-{n}"), "event_timestamp": "2025-06-04T08:02:31Z",
        "secret_key": SECRET,
    });
    (email, body)
}

/// Posts until `stop`; returns the emails whose webhook was answered 2xx.
async fn load(
    http: reqwest::Client,
    url: String,
    first: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut mine = Vec::new();
    let mut n = first;
    while !stop.load(Ordering::Relaxed) {
        let (email, body) = webhook(n);
        n += WORKERS;
        let answer = http.post(&url).json(&body).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            mine.push(email);
            acked.fetch_add(1, Ordering::Relaxed);
        }
    }
    mine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_webhook_survives_three_sigkills() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port();
    write_config(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an http client");

    let mut acknowledged = BTreeSet::new();
    for round in 0..ROUNDS {
        let mut daemon = start_daemon(dir.path(), &base, &http).await;
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                tokio::spawn(load(
                    http.clone(),
                    format!("{base}/webhooks/smartlead"),
                    round * 1_000_000 + w,
                    stop.clone(),
                    acked.clone(),
                ))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(15);
        while acked.load(Ordering::Relaxed) < ACKS_PER_ROUND {
            assert!(
                Instant::now() < deadline,
                "round {round}: only {} webhooks acknowledged in 15 s",
                acked.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // SIGKILL while the workers are still posting.
        daemon.kill().expect("SIGKILL");
        daemon.wait().expect("the daemon is reaped");
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            acknowledged.extend(worker.await.expect("a load worker"));
        }
    }
    assert!(acknowledged.len() >= ROUNDS * ACKS_PER_ROUND);

    let out = outpost(dir.path())
        .args(["leads", "--json"])
        .output()
        .expect("outpost leads runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let leads: Value = serde_json::from_slice(&out.stdout).expect("leads --json is JSON");
    let rows = leads
        .as_array()
        .or_else(|| leads["leads"].as_array())
        .cloned()
        .unwrap_or_default();
    let stored: BTreeSet<String> = rows
        .iter()
        .filter(|r| r["last_event"] == "email_opened")
        .filter_map(|r| r["email"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events are missing, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(5)]
    );
}

/// An EMAIL_REPLY into one of two conversations (even `n` all go to lead
/// 0's, odd ones each to their own lead), with its own Message-IDs.
fn reply_webhook(n: usize) -> (String, Value) {
    let lead = if n.is_multiple_of(2) { 0 } else { n };
    let email = format!("lead{lead}@kill.example");
    let reply_id = format!("<reply-{n}@mail.kill.example>");
    let at = |secs: usize| {
        chrono::DateTime::from_timestamp(1_780_000_000 + (n * 2 + secs) as i64, 0)
            .expect("time")
            .to_rfc3339()
    };
    let body = json!({
        "event_type": "EMAIL_REPLY", "campaign_id": 1,
        "sl_email_lead_id": lead.to_string(), "sl_lead_email": email,
        "stats_id": format!("s-{n}"), "from_email": "rep@acme.example",
        "subject": "Re: Hello",
        "sent_message": {"message_id": format!("<sent-{n}@acme.example>"),
                         "text": "Hi there", "time": at(0)},
        "reply_message": {"message_id": reply_id, "text": "Tell me more", "time": at(1)},
        "event_timestamp": at(1),
        "secret_key": SECRET,
    });
    (reply_id, body)
}

/// Posts replies until `stop`; returns the Message-IDs of those answered 2xx.
async fn load_replies(
    http: reqwest::Client,
    url: String,
    first: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut mine = Vec::new();
    let mut n = first;
    while !stop.load(Ordering::Relaxed) {
        let (reply_id, body) = reply_webhook(n);
        n += WORKERS;
        let answer = http.post(&url).json(&body).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            mine.push(reply_id);
            acked.fetch_add(1, Ordering::Relaxed);
        }
    }
    mine
}

/// The ack of a reply means its messages and conversation are on disk: the
/// daemon is killed while replies (batched, many into one conversation)
/// are still coming, and every reply it answered 2xx is in the export, in
/// a thread that lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_reply_is_in_its_conversation_after_a_sigkill() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port();
    write_config(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an http client");
    let mut daemon = start_daemon(dir.path(), &base, &http).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            tokio::spawn(load_replies(
                http.clone(),
                format!("{base}/webhooks/smartlead"),
                w,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    while acked.load(Ordering::Relaxed) < ACKS_PER_ROUND {
        assert!(
            Instant::now() < deadline,
            "only {} replies acknowledged in 15 s",
            acked.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.kill().expect("SIGKILL");
    daemon.wait().expect("the daemon is reaped");
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = BTreeSet::new();
    for worker in workers {
        acknowledged.extend(worker.await.expect("a load worker"));
    }
    assert!(acknowledged.len() >= ACKS_PER_ROUND);

    let export = dir.path().join("export.jsonl");
    let out = outpost(dir.path())
        .args(["export", "-o"])
        .arg(&export)
        .output()
        .expect("outpost export runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut stored = BTreeSet::new();
    let mut thread_counts = std::collections::BTreeMap::new();
    let mut inbound_by_thread = std::collections::BTreeMap::<String, u32>::new();
    for line in std::fs::read_to_string(&export).expect("export").lines() {
        let row: Value = serde_json::from_str(line).expect("a JSON line");
        let record = &row["record"];
        match row["kind"].as_str() {
            Some("message") if record["direction"] == "inbound" => {
                if let Some(id) = record["message_id"].as_str() {
                    stored.insert(id.to_string());
                }
                let thread = record["thread_key"].as_str().unwrap_or_default();
                *inbound_by_thread.entry(thread.to_string()).or_default() += 1;
            }
            Some("thread") => {
                let key = format!(
                    "{}/{}",
                    record["account"].as_str().unwrap_or_default(),
                    record["provider_thread_id"].as_str().unwrap_or_default()
                );
                thread_counts.insert(key, record["message_count"].as_u64().unwrap_or(0));
            }
            _ => {}
        }
    }
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged replies are missing, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(5)]
    );
    // Each thread counts the messages it holds: its summary landed with them.
    for (thread, inbound) in &inbound_by_thread {
        let count = thread_counts.get(thread).copied().unwrap_or(0);
        assert_eq!(
            count,
            u64::from(*inbound) * 2,
            "{thread}: a sent email and a reply per webhook"
        );
    }
}

/// Reply `n` of Dana's conversation, as the route hands it to the writer.
fn reply(n: i64) -> Delivery {
    let at = |secs: i64| {
        DateTime::<Utc>::from_timestamp(1_780_000_000 + n * 60 + secs, 0)
            .expect("time")
            .to_rfc3339()
    };
    let payload = outpost::server::routes::webhooks::parse::parse(&json!({
        "event_type": "EMAIL_REPLY", "campaign_id": 7, "sl_email_lead_id": 42,
        "sl_lead_email": "dana@lead.example", "from_email": "rep@acme.example",
        "stats_id": format!("st{n}"), "subject": "Re: Hello",
        "sent_message": {"message_id": format!("<sent{n}@acme.example>"), "text": "Hi.", "time": at(0)},
        "reply_message": {"message_id": format!("<reply{n}@lead.example>"),
                          "text": format!("Answer number {n}"), "time": at(30)},
        "event_timestamp": at(30),
    }))
    .expect("payload");
    let now = DateTime::from_timestamp(1_780_000_000, 0).expect("time");
    let event = outpost::ingest::apply::event_for("acme-smartlead", &payload, || "d".into(), now)
        .expect("a reply is an event");
    Delivery {
        events: vec![event],
        changes: Some(RecordChanges::new("acme-smartlead", vec![payload])),
    }
}

#[test]
fn a_queue_a_stopped_daemon_left_is_applied_before_the_next_command_reads() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_config(dir.path(), free_port());
    {
        // What a daemon killed with three deliveries queued leaves behind.
        let store = Store::open(&dir.path().join("data"), "daemon").expect("store");
        let received_at = DateTime::from_timestamp(1_780_000_100, 0).expect("time");
        let queued: Vec<QueuedDelivery> = (1..=3)
            .map(|n| QueuedDelivery {
                seq: n as u64,
                received_at,
                delivery: serde_json::to_string(&reply(n)).expect("json"),
            })
            .collect();
        store.append(&queued).expect("queued");
        store.flush().expect("flushed");
    }

    let out = outpost(dir.path())
        .args(["inbox", "--json"])
        .output()
        .expect("outpost inbox runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("applying the webhook deliveries the daemon queued before it stopped: 3"),
        "{stderr}"
    );
    let inbox: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows = inbox.as_array().expect("rows");
    assert_eq!(rows.len(), 1, "one conversation: {inbox}");
    assert_eq!(rows[0]["thread"]["message_count"], 6, "{}", rows[0]);
    assert_eq!(rows[0]["thread"]["preview"], "Answer number 3");

    // Applied once: the next command has nothing to apply.
    let again = outpost(dir.path())
        .args(["inbox", "--json"])
        .output()
        .expect("outpost inbox runs");
    assert!(again.status.success());
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains("applying"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&again.stdout).expect("JSON"),
        inbox
    );
}
