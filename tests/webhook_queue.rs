//! Webhook deliveries a daemon acknowledged from its queue and had not yet
//! applied when it stopped (killed mid-burst, or out of time at shutdown)
//! are applied by the next outpost process that holds the data dir, before
//! a CLI command reads anything.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use chrono::{DateTime, Utc};
use outpost::ingest::{Delivery, RecordChanges};
use outpost::model::QueuedDelivery;
use outpost::store::Store;
use serde_json::{Value, json};

const ACCOUNT: &str = "acme-smartlead";

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

fn write_config(dir: &Path) {
    let text = format!(
        "[accounts.{ACCOUNT}]\nprovider = \"smartlead\"\napi_key = \"unused\"\n\
         base_url = \"http://127.0.0.1:9/api/v1\"\n"
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
    let event = outpost::ingest::apply::event_for(ACCOUNT, &payload, || "d".into(), now)
        .expect("a reply is an event");
    Delivery {
        events: vec![event],
        changes: Some(RecordChanges::new(ACCOUNT, vec![payload])),
    }
}

#[test]
fn a_queue_a_stopped_daemon_left_is_applied_before_the_next_command_reads() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_config(dir.path());
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
