//! The real `outpost --daemon` killed with SIGKILL in the middle of webhook
//! load, three times, restarted on the same data dir each time: every webhook
//! it answered 2xx is in the store afterwards (the small-scale version of
//! `scripts/sigkill-under-load.sh`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
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
