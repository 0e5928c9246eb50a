//! No secret leaves the daemon: `outpost --daemon` at trace level, with a
//! Smartlead API key, a Google client secret, stored Gmail tokens, a webhook
//! secret and an API token, syncs both accounts, takes webhooks (one with a
//! wrong secret), serves /health, /metrics and /api, and stops on SIGTERM.
//! None of the secret values may appear on its stdout or stderr, in its log
//! file, in any HTTP answer, or in any data-dir file other than the two 0600
//! files made to hold them. Run twice: logging to a file, then to stderr.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::{Value, json};
use support::fast_rig;

const WEBHOOK_SECRET: &str = "whsec-5f2b9c1e-outpost-test-7d41";
const TOKEN_FILES: [&str; 2] = ["tokens/gm.json", "api.token"];

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn read_output(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits until /health says both accounts synced; returns the /health body.
async fn wait_synced(http: &reqwest::Client, base: &str, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(status) = child.try_wait().expect("daemon status") {
            panic!("the daemon exited ({status}): {}", read_output(child));
        }
        if let Ok(answer) = http.get(format!("{base}/health")).send().await
            && let Ok(body) = answer.text().await
            && let Ok(health) = serde_json::from_str::<Value>(&body)
        {
            let accounts = health["accounts"].as_array().cloned().unwrap_or_default();
            let synced = accounts
                .iter()
                .filter(|a| !a["last_success"].is_null())
                .count();
            if synced == 2 {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not sync both accounts within 40 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One daemon lifetime; returns everything it said (output, log, HTTP bodies).
async fn session(config: &Path, data_dir: &Path, log_file: Option<&Path>, lead: &str) -> String {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut text = std::fs::read_to_string(config).expect("config");
    text.push_str(&format!(
        "\n[daemon]\nlisten = \"127.0.0.1:{port}\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\n"
    ));
    if let Some(file) = log_file {
        let path = toml::Value::String(file.to_string_lossy().into_owned());
        text.push_str(&format!("log_file = {path}\n"));
    }
    text.push_str("\n[logging]\nlevel = \"trace\"\n");
    let session_config = config.with_extension(if log_file.is_some() {
        "file.toml"
    } else {
        "stderr.toml"
    });
    std::fs::write(&session_config, text).expect("session config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&session_config, std::fs::Permissions::from_mode(0o600))
            .expect("config made private");
    }

    let mut child = Command::cargo_bin("outpost")
        .expect("the outpost binary")
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(&session_config)
        .arg("--daemon")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon starts");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let mut seen = wait_synced(&http, &base, &mut child).await;

    let token = std::fs::read_to_string(data_dir.join("api.token"))
        .expect("the daemon made its API token")
        .trim()
        .to_string();
    let hook = |secret: &str| {
        json!({
            "event_type": "EMAIL_OPEN", "campaign_id": 1, "sl_email_lead_id": "77",
            "sl_lead_email": lead, "stats_id": "s-77",
            "event_timestamp": "2025-06-04T08:02:31Z", "secret_key": secret,
        })
    };
    let mut answers = Vec::new();
    for (body, expect_ok) in [
        (hook(WEBHOOK_SECRET), true),
        (hook("whsec-wrong-0000"), false),
    ] {
        let answer = http
            .post(format!("{base}/webhooks/smartlead"))
            .json(&body)
            .send()
            .await
            .expect("webhook answered");
        assert_eq!(
            answer.status().is_success(),
            expect_ok,
            "{}",
            answer.status()
        );
        answers.push(answer);
    }
    let bearer = format!("Bearer {token}");
    for (path, op, auth) in [
        ("/health", None, None),
        ("/metrics", None, None),
        ("/api/exec", Some("accounts"), Some(bearer.as_str())),
        ("/api/exec", Some("sequences_pane"), Some(bearer.as_str())),
        ("/api/exec", Some("accounts"), Some("Bearer not-the-token")),
        ("/api/exec", Some("accounts"), None),
    ] {
        let mut request = match op {
            Some(op) => http
                .post(format!("{base}{path}"))
                .json(&json!({ "op": op })),
            None => http.get(format!("{base}{path}")),
        };
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let answer = request.send().await.expect("answered");
        let wanted = auth == Some(bearer.as_str()) || !path.starts_with("/api");
        assert_eq!(
            answer.status().is_success(),
            wanted,
            "{path}: {}",
            answer.status()
        );
        answers.push(answer);
    }
    let leads = http
        .post(format!("{base}/api/exec"))
        .header("authorization", &bearer)
        .json(&json!({"op": "leads", "query": outpost::engine::LeadQuery::default()}))
        .send()
        .await
        .expect("answered");
    assert!(leads.status().is_success(), "{}", leads.status());
    answers.push(leads);
    for answer in answers {
        seen.push_str(&format!("{:?}\n", answer.headers()));
        seen.push_str(&answer.text().await.expect("a body"));
    }
    // Both providers' clients report their counters in /metrics.
    for provider in ["smartlead", "gmail"] {
        let series = format!("provider=\"{provider}\"}}");
        assert!(
            seen.lines()
                .any(|l| l.starts_with("outpost_provider_requests_total{") && l.contains(&series)),
            "no {provider} request counter in /metrics"
        );
    }

    terminate(&child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("daemon status").is_none() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = read_output(&mut child);
    match log_file {
        Some(file) => {
            let log = std::fs::read_to_string(file).expect("the log file");
            assert!(
                log.contains("TRACE") || log.contains("DEBUG"),
                "trace logging is on"
            );
            seen.push_str(&log);
        }
        None => assert!(
            output.contains("TRACE") || output.contains("DEBUG"),
            "trace logging goes to stderr"
        ),
    }
    seen.push_str(&output);
    seen
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_never_shows_a_secret() {
    let rig = fast_rig(30, 17).await;
    let info = rig.sandbox.info().clone();
    let config = rig.config_path.clone();
    let data_dir = rig.dir.path().join("data");
    let lead = rig
        .sandbox
        .gmail_contacts(1)
        .first()
        .map(|c| c.email.clone())
        .expect("a contact");
    drop(rig.engine);

    let tokens_before = std::fs::read_to_string(data_dir.join("tokens/gm.json")).expect("tokens");
    let mut seen = session(
        &config,
        &data_dir,
        Some(&rig.dir.path().join("logs/daemon.log")),
        &lead,
    )
    .await;
    seen.push_str(&session(&config, &data_dir, None, &lead).await);

    let mut secrets = vec![
        info.smartlead_api_key.clone(),
        info.oauth_client_secret.clone(),
        WEBHOOK_SECRET.to_string(),
    ];
    let api_token = std::fs::read_to_string(data_dir.join("api.token")).expect("api token");
    secrets.push(api_token.trim().to_string());
    let tokens_after = std::fs::read_to_string(data_dir.join("tokens/gm.json")).expect("tokens");
    for text in [&tokens_before, &tokens_after] {
        let tokens: Value = serde_json::from_str(text).expect("token JSON");
        for field in ["access_token", "refresh_token"] {
            if let Some(value) = tokens[field].as_str() {
                secrets.push(value.to_string());
            }
        }
    }
    assert!(secrets.len() >= 6, "every kind of secret is checked");

    for (i, secret) in secrets.iter().enumerate() {
        assert!(
            secret.len() >= 8,
            "secret #{i} is long enough to search for"
        );
        assert!(
            !seen.contains(secret.as_str()),
            "secret #{i} appeared in the daemon's output, log or an HTTP answer"
        );
    }
    // The data dir: only the two dedicated private files hold secrets.
    for path in files_under(&data_dir) {
        let relative = path.strip_prefix(&data_dir).expect("inside");
        let name = relative.to_string_lossy().replace('\\', "/");
        if TOKEN_FILES.contains(&name.as_str()) {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{name} is private");
            }
            continue;
        }
        let bytes = std::fs::read(&path).expect("a data-dir file");
        for (i, secret) in secrets.iter().enumerate() {
            assert!(!contains(&bytes, secret), "secret #{i} is stored in {name}");
        }
    }
}
