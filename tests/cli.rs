//! The command line as a user's scripts see it: exit codes, one-line errors,
//! the sandbox's JSON line, and replies that reach the provider exactly once.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use outpost::sandbox::google::InboundMessage;
use outpost::sandbox::{Contact, InjectReply};
use support::fast_rig;

fn outpost() -> Command {
    let mut cmd = Command::cargo_bin("outpost").unwrap();
    cmd.env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configs_give_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("invalid.toml", "data_dir = [unclosed\n", "config.toml"),
        (
            "unknown.toml",
            "[accounts.acme]\nprovider = \"smartlead\"\napi_key = \"k\"\npol_interval_secs = 5\n",
            "pol_interval_secs",
        ),
        (
            "missing_secret.toml",
            "[accounts.acme]\nprovider = \"smartlead\"\napi_key_env = \"OUTPOST_TEST_UNSET_KEY_VAR\"\n",
            "OUTPOST_TEST_UNSET_KEY_VAR",
        ),
    ];
    for (name, text, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (code, stdout, stderr) = run(outpost()
            .args(["sync", "--once", "--config"])
            .arg(&path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env_remove("OUTPOST_TEST_UNSET_KEY_VAR"));
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stdout.is_empty(), "{name}: nothing on stdout");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{name}: one line: {stderr}"
        );
        let needle = if name == "invalid.toml" { name } else { needle };
        assert!(stderr.contains(needle), "{name}: {stderr}");
    }
    // A named config that does not exist is an error too; bad flags are usage errors.
    let (code, _, stderr) = run(outpost().args(["inbox", "--config", "/nonexistent/outpost.toml"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = run(outpost().args(["leads", "--event", "teleported"]));
    assert_eq!(code, 2);
}

#[test]
fn sandbox_prints_one_json_line_and_serves() {
    let mut child = outpost()
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--leads",
            "1000",
            "--seed",
            "7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    for key in [
        "smartlead_base_url",
        "smartlead_api_key",
        "gmail_api_base_url",
        "oauth_auth_url",
        "oauth_token_url",
        "oauth_client_id",
        "oauth_client_secret",
        "gmail_email",
    ] {
        assert!(info[key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
    }
    let url = format!(
        "{}/campaigns/?api_key={}",
        info["smartlead_base_url"].as_str().unwrap(),
        info["smartlead_api_key"].as_str().unwrap()
    );
    let body: serde_json::Value = reqwest::blocking_get(&url);
    assert!(body.as_array().is_some_and(|a| !a.is_empty()));
    child.kill().unwrap();
    let _ = child.wait();
}

mod reqwest {
    /// A tiny blocking GET for a test that has no runtime of its own.
    pub fn blocking_get(url: &str) -> serde_json::Value {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { ::reqwest::get(url).await.unwrap().json().await.unwrap() })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_from_the_cli_reach_the_provider_once_with_the_right_fields() {
    let rig = fast_rig(200, 5).await;
    let config = rig.config_path.clone();
    drop(rig.engine); // the CLI opens the data dir itself
    let cli = |args: Vec<String>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || run(outpost().arg("--config").arg(&config).args(args)))
    };
    let (code, stdout, stderr) = cli(vec!["sync".into(), "--once".into()]).await.unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Smartlead: answer a new reply from a lead who had not written before.
    let (_, inbox_json, _) = cli(vec!["inbox".into(), "--json".into()]).await.unwrap();
    let (_, leads_json, _) = cli(vec!["leads".into(), "--json".into()]).await.unwrap();
    let inbox: serde_json::Value = serde_json::from_str(&inbox_json).unwrap();
    let leads: serde_json::Value = serde_json::from_str(&leads_json).unwrap();
    let answered: Vec<String> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap().to_string())
        .collect();
    let chosen = leads
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            let id = l["smartlead_lead_id"].as_i64().unwrap();
            l["memberships"].as_array().unwrap().len() == 1
                && !answered.iter().any(|k| k.ends_with(&format!(":{id}")))
        })
        .expect("a lead without a reply");
    let lead_email = chosen["email"].as_str().unwrap().to_string();
    let campaign_id = chosen["memberships"][0]["campaign_id"].as_i64().unwrap();
    let lead_id = chosen["smartlead_lead_id"].as_i64().unwrap();
    rig.sandbox
        .inject_reply(&InjectReply {
            campaign_id,
            lead_email: lead_email.clone(),
            body: "<div>Send me times for next week.</div>".into(),
            category: None,
        })
        .unwrap();
    let (code, _, stderr) = cli(vec!["sync".into(), "--once".into()]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    let thread_id = format!("sl/{campaign_id}:{lead_id}");
    let (code, stdout, stderr) = cli(vec![
        "reply".into(),
        thread_id.clone(),
        "--body".into(),
        "Tuesday 10:00 ET works.".into(),
        "--json".into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let item: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(item["state"], "sent");
    let posts = rig.sandbox.reply_posts();
    assert_eq!(posts.len(), 1, "exactly one reply reached Smartlead");
    let body = &posts[0].body;
    assert_eq!(posts[0].campaign_id, campaign_id);
    for field in [
        "email_stats_id",
        "email_body",
        "reply_message_id",
        "reply_email_time",
        "reply_email_body",
    ] {
        assert!(
            body[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {body}"
        );
    }
    assert!(
        body["email_body"]
            .as_str()
            .unwrap()
            .contains("Tuesday 10:00 ET works.")
    );
    assert!(
        body["reply_email_body"]
            .as_str()
            .unwrap()
            .contains("Send me times")
    );
    let (_, thread_json, _) = cli(vec!["thread".into(), thread_id, "--json".into()])
        .await
        .unwrap();
    assert!(
        thread_json.contains("Tuesday 10:00 ET works."),
        "the sent reply shows in the thread"
    );

    // Gmail: a reply lands in the same thread with threading headers.
    let google = rig.sandbox.google().clone();
    let gmail_thread = google.thread_ids()[0].clone();
    let injected = google
        .inject_inbound(InboundMessage {
            from: Contact {
                email: "pat.doe@prospect.example".into(),
                first_name: "Pat".into(),
                last_name: "Doe".into(),
                company: "Prospect".into(),
            },
            thread_id: Some(gmail_thread.clone()),
            subject: None,
            text: "Could you share pricing?".into(),
            html: None,
        })
        .unwrap();
    let (code, _, stderr) = cli(vec!["sync".into(), "--once".into()]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = cli(vec![
        "reply".into(),
        format!("gm/{gmail_thread}"),
        "--body".into(),
        "Pricing attached.".into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let sent = google.sent_messages();
    let ours = sent.last().expect("a sent message");
    assert_eq!(ours.thread_id, gmail_thread);
    let raw = String::from_utf8_lossy(&ours.raw);
    assert!(
        raw.contains(&format!("In-Reply-To: {}", injected.message_id_header)),
        "{raw}"
    );
    let references_line = raw
        .lines()
        .find(|l| l.starts_with("References:"))
        .expect("References header");
    assert!(raw.contains(&injected.message_id_header) && !references_line.is_empty());
    let subject_line = raw.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(
        subject_line.contains("Re: ") && !subject_line.contains("Re: Re:"),
        "{subject_line}"
    );
    assert_eq!(sent.iter().filter(|m| m.raw == ours.raw).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_gmail_without_a_browser_completes_through_the_loopback_redirect() {
    let rig = fast_rig(50, 2).await;
    let config = rig.config_path.clone();
    let data_dir = rig.dir.path().join("data");
    let token_file = data_dir.join("tokens").join("gm.json");
    std::fs::remove_file(&token_file).unwrap();
    drop(rig.engine);
    let mut child = outpost()
        .args([
            "auth",
            "gmail",
            "--account",
            "gm",
            "--no-browser",
            "--config",
        ])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("no authorization URL printed");
            }
            if line.trim_start().starts_with("http") {
                return (line.trim().to_string(), reader);
            }
        }
    })
    .await
    .unwrap();
    let (url, reader) = url;
    assert!(url.contains("code_challenge="), "{url}");
    assert!(
        !url.contains(&rig.sandbox.info().oauth_client_secret),
        "the secret never rides in the URL"
    );
    let http = ::reqwest::Client::builder()
        .redirect(::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let approve = http.get(&url).send().await.unwrap();
    assert_eq!(approve.status().as_u16(), 302);
    let back = approve.headers()["location"].to_str().unwrap().to_string();
    let landed = http.get(&back).send().await.unwrap();
    assert!(landed.status().is_success());
    let (status, rest, errors) = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        let mut errors = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut errors).unwrap();
        (child.wait().unwrap(), rest, errors)
    })
    .await
    .unwrap();
    assert!(status.success(), "{rest}{errors}");
    assert!(rest.contains("Tokens for gm stored"), "{rest}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&token_file).unwrap();
    assert!(text.contains("refresh"), "a refresh token was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_config_credentials_reachability_and_data_dir() {
    let rig = fast_rig(50, 8).await;
    let config = rig.config_path.clone();
    drop(rig.engine);
    let run_doctor = |config: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            run(outpost().arg("doctor").arg("--config").arg(config))
        })
    };
    let (code, stdout, stderr) = run_doctor(config.clone()).await.unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("sl: Smartlead answers") && stdout.contains("gm: Gmail answers"),
        "{stdout}"
    );
    assert!(stdout.contains("all good"));

    // A missing Gmail login is named with the command that fixes it.
    std::fs::remove_file(rig.dir.path().join("data/tokens/gm.json")).unwrap();
    let (code, stdout, _) = run_doctor(config).await.unwrap();
    assert_eq!(code, 1);
    assert!(
        stdout.contains("outpost auth gmail --account gm"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_rebuilds_the_cache_and_bad_lines_are_refused() {
    let rig = fast_rig(120, 12).await;
    let summary = outpost::sync::SyncEngine::new(rig.engine.clone())
        .sync_all()
        .await;
    assert!(!summary.failed());
    let leads = outpost::testing::store(&rig.engine).count::<outpost::model::Lead>();
    let events = rig.engine.event_count().unwrap();
    assert!(events > 0);
    let config = rig.config_path.clone();
    drop(rig.engine);
    let export_file = rig.dir.path().join("export.jsonl");
    let fresh = rig.dir.path().join("fresh");
    let (export_file2, fresh2) = (export_file.clone(), fresh.clone());
    let (code, _, stderr) = tokio::task::spawn_blocking(move || {
        run(outpost()
            .args(["export", "--output"])
            .arg(&export_file2)
            .arg("--config")
            .arg(&config))
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&export_file).unwrap();
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );

    let (code, stdout, stderr) = run(outpost()
        .arg("import")
        .arg(&export_file)
        .arg("--data-dir")
        .arg(&fresh2));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("imported"), "{stdout}");
    let store = outpost::store::Store::open(&fresh, "test").unwrap();
    assert_eq!(store.count::<outpost::model::Lead>(), leads);
    let imported = outpost::engine::Engine::new(
        store.clone(),
        std::sync::Arc::new(outpost::clock::SystemClock),
    );
    assert_eq!(imported.event_count().unwrap(), events);
    assert!(store.verify_indexes().unwrap().is_empty());
    drop(store);

    let broken = rig.dir.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"kind\":\"leads\",\"record\":{\"nope\":1}}\n").unwrap();
    let (code, _, stderr) = run(outpost()
        .arg("import")
        .arg(&broken)
        .arg("--data-dir")
        .arg(rig.dir.path().join("other")));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_output_or_logs_even_at_trace_level() {
    let rig = fast_rig(60, 13).await;
    let config = rig.config_path.clone();
    let info = rig.sandbox.info().clone();
    let token_file = rig.dir.path().join("data/tokens/gm.json");
    drop(rig.engine);
    let traced = |args: Vec<String>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            run(outpost()
                .env("RUST_LOG", "trace")
                .arg("--config")
                .arg(&config)
                .args(args))
        })
    };
    let mut seen = String::new();
    let (code, out, err) = traced(vec!["sync".into(), "--once".into()]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("DEBUG") || err.contains("TRACE"),
        "logging is on"
    );
    seen.push_str(&out);
    seen.push_str(&err);
    let gmail_thread = rig.sandbox.google().thread_ids()[0].clone();
    let (code, out, err) = traced(vec![
        "reply".into(),
        format!("gm/{gmail_thread}"),
        "--body".into(),
        "Thanks!".into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    seen.push_str(&out);
    seen.push_str(&err);

    // A refused key is reported without the key.
    let bad = rig.dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&info.smartlead_api_key, "sk-wrong-key-0000");
    std::fs::write(&bad, text).unwrap();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run(outpost()
            .env("RUST_LOG", "trace")
            .args(["sync", "--once", "--config"])
            .arg(&bad))
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(!format!("{out}{err}").contains("sk-wrong-key-0000"));
    seen.push_str(&out);
    seen.push_str(&err);

    let tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&token_file).unwrap()).unwrap();
    let mut secrets = vec![
        info.smartlead_api_key.clone(),
        info.oauth_client_secret.clone(),
    ];
    for field in ["access_token", "refresh_token"] {
        if let Some(value) = tokens[field].as_str() {
            secrets.push(value.to_string());
        }
    }
    assert!(secrets.len() >= 3, "{tokens}");
    for secret in secrets {
        assert!(!seen.contains(&secret), "a secret leaked into the output");
    }
}

/// An outbox item as the composer or a sequence leaves it, in `state`.
fn outbox_item(
    id: &str,
    state: outpost::model::OutboxState,
    enrollment: Option<&str>,
) -> outpost::model::OutboxItem {
    use outpost::model::*;
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    OutboxItem {
        id: id.into(),
        account: "gm".into(),
        provider: Provider::Gmail,
        idempotency_key: format!("compose:{id}"),
        state,
        not_before: at,
        message_id: format!("<{id}@acme.example>"),
        email: OutgoingEmail {
            from: "sam@acme.example".into(),
            to: vec!["dana@ledgerly.example".into()],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: format!("Re: {id}"),
            text_body: "Tuesday?".into(),
            html_body: None,
            in_reply_to: None,
            references: Vec::new(),
            headers: Vec::new(),
            attachments: Vec::new(),
        },
        delivery: Delivery::GmailSend { thread_id: None },
        thread_key: None,
        enrollment_id: enrollment.map(str::to_string),
        step: enrollment.map(|_| 1),
        attempts: 10,
        last_error: (state == OutboxState::Failed).then(|| "Gmail said no".to_string()),
        provider_id: None,
        created_at: at,
        updated_at: at,
        send_at: None,
        attachments_left_out: Vec::new(),
        lease: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_lists_what_waits_and_failed_and_retries_or_cancels_a_send_of_ones_own() {
    use outpost::model::OutboxState;
    let rig = fast_rig(20, 3).await;
    for item in [
        outbox_item("failed-reply-0001", OutboxState::Failed, None),
        outbox_item("failed-step-0002", OutboxState::Failed, Some("enr-77")),
        outbox_item("queued-reply-0003", OutboxState::Pending, None),
        outbox_item("sent-reply-0004", OutboxState::Sent, None),
    ] {
        outpost::testing::store(&rig.engine).put(&item).unwrap();
    }
    let config = rig.config_path.clone();
    drop(rig.engine); // the CLI opens the data dir itself
    let cli = |args: &[&str]| run(outpost().arg("--config").arg(&config).args(args));

    // By default: what has not gone out, with why it failed.
    let (code, stdout, stderr) = cli(&["outbox", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Gmail said no"), "{stdout}");
    assert!(stdout.contains("step 2 of enr-77"), "{stdout}");
    assert!(!stdout.contains("sent-rep"), "{stdout}");
    let (code, stdout, _) = cli(&["outbox", "list", "--state", "sent", "--json"]);
    assert_eq!(code, 0);
    let sent: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(sent.as_array().unwrap().len(), 1);
    assert_eq!(sent[0]["id"], "sent-reply-0004");

    // Retry a failed reply by a unique prefix: pending again, attempts reset.
    let (code, stdout, stderr) = cli(&["outbox", "retry", "failed-r", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let retried: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(retried["state"], "pending");
    assert_eq!(retried["attempts"], 0);
    assert!(retried["last_error"].is_null());

    // A sequence step is the enrollment's: a clear refusal that names it.
    let (code, _, stderr) = cli(&["outbox", "retry", "failed-step-0002"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("outpost enrollment resume enr-77"),
        "{stderr}"
    );
    // Only failed items are retried, only unsent ones cancelled.
    let (code, _, stderr) = cli(&["outbox", "retry", "sent-reply-0004"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("only a failed send"), "{stderr}");
    let (code, _, stderr) = cli(&["outbox", "cancel", "sent-reply-0004"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("only a send that has not left"), "{stderr}");
    let (code, _, stderr) = cli(&["outbox", "cancel", "nothing-like-this"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no outbox item"), "{stderr}");
    // A prefix shared by two items is refused rather than guessed.
    let (code, _, stderr) = cli(&["outbox", "cancel", "failed"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("several outbox items"), "{stderr}");

    let (code, stdout, stderr) = cli(&["outbox", "cancel", "queued-reply-0003"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("cancelled"), "{stdout}");
    let (_, stdout, _) = cli(&["outbox", "list", "--state", "cancelled", "--json"]);
    let cancelled: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(cancelled[0]["id"], "queued-reply-0003");
}

#[test]
fn output_piped_into_a_reader_that_stops_early_ends_quietly() {
    // `outpost leads | head -1`: once the reader is gone the command ends
    // the way Unix tools do (SIGPIPE), without a panic on stderr.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("leads.jsonl");
    let lines: Vec<String> = (0..5_000)
        .map(|n| {
            serde_json::json!({"kind": "lead", "record": {
                "account": "sl", "email": format!("lead{n}@pipe.example"),
                "smartlead_lead_id": n, "first_name": "Lead", "last_name": format!("{n}"),
                "company": "Pipe Co", "linkedin_url": null, "phone": null, "website": null,
                "location": null, "timezone": null, "custom_fields": {}, "category": null,
                "status": null, "last_event": null, "last_event_at": null, "memberships": [],
                "unsubscribed": false, "created_at": null}})
            .to_string()
        })
        .collect();
    std::fs::write(&export, lines.join("\n")).unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().to_string();
    let (code, _, err) =
        run(outpost().args(["--data-dir", &data_arg, "import", export.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let mut child = outpost()
        .args(["--data-dir", &data_arg, "leads"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("EMAIL"), "{first}");
    // The reader is dropped here: the rest has nowhere to go.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Ended by the signal (as `yes | head -1` is), not by an error exit.
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(13), "{:?}", out.status);
}

/// A port nothing listens on: connecting to it is refused at once.
fn refusing_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_with_the_provider_down_is_queued_at_once_and_goes_out_later_exactly_once() {
    use outpost::clock::{FakeClock, SharedClock};
    use outpost::engine::InboxQuery;
    use outpost::model::{OutboxItem, OutboxState, Provider};
    use outpost::outbox::OutboxWorker;

    let rig = fast_rig(200, 5).await;
    outpost::sync::SyncEngine::new(rig.engine.clone())
        .sync_all()
        .await;
    let thread_key = rig
        .engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .find(|view| view.thread.provider == Provider::Smartlead)
        .expect("a Smartlead conversation")
        .key;
    rig.engine.flush().await.unwrap();
    drop(rig.engine); // the CLI opens the data dir itself

    // Both providers down: their ports refuse connections.
    let mut down = rig.sandbox.info().clone();
    down.smartlead_base_url = format!("http://{}/api/v1", refusing_address());
    down.gmail_api_base_url = format!("http://{}", refusing_address());
    let limit = support::ClientLimit(100_000, 1);
    let config = support::write_config(rig.dir.path(), &down, &limit);
    let posts_before = rig.sandbox.reply_posts().len();
    let text = "Thursday at 2 works; I'll send an invite.";
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = {
        let config = config.clone();
        let thread_key = thread_key.clone();
        tokio::task::spawn_blocking(move || {
            run(outpost().arg("--config").arg(&config).args([
                "reply",
                &thread_key,
                "--body",
                text,
                "--json",
            ]))
        })
        .await
        .unwrap()
    };
    let took = started.elapsed();
    assert_eq!(code, 0, "a queued reply is not a failure: {stdout}{stderr}");
    assert!(
        took < std::time::Duration::from_secs(10),
        "the reply waited {took:?} for the provider"
    );
    let answer: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(answer["state"], "queued", "{answer}");
    assert_eq!(answer["outbox_state"], "pending", "{answer}");
    let reason = answer["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("could not connect"), "{answer}");
    assert!(answer["next_attempt_at"].is_string(), "{answer}");
    let outbox_id = answer["outbox_id"].as_str().expect("outbox_id").to_string();
    assert!(!stdout.contains("not sent\""), "{stdout}");
    assert_eq!(rig.sandbox.reply_posts().len(), posts_before);

    // The providers are back; once its retry is due the outbox sends it, once.
    let config = support::write_config(rig.dir.path(), rig.sandbox.info(), &limit);
    let later = FakeClock::new(chrono::Utc::now() + chrono::Duration::minutes(2));
    let engine = support::engine_with_clock(&config, std::sync::Arc::new(later) as SharedClock);
    let worker = OutboxWorker::new(engine.clone());
    let handled = worker.send_due().await.unwrap();
    assert!(
        handled
            .iter()
            .any(|i| i.id == outbox_id && i.state == OutboxState::Sent),
        "{handled:?}"
    );
    worker.send_due().await.unwrap();
    let item: OutboxItem = outpost::testing::store(&engine)
        .get(&outbox_id)
        .unwrap()
        .unwrap();
    assert_eq!(item.state, OutboxState::Sent);
    let posts = rig.sandbox.reply_posts();
    assert_eq!(posts.len(), posts_before + 1, "sent exactly once");
    assert!(
        posts.last().unwrap().body["email_body"]
            .as_str()
            .unwrap()
            .contains(text)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sent_from_gmail_carries_the_accounts_from_name_mime_encoded() {
    use outpost::sandbox::google::InboundMessage;
    let rig = fast_rig(50, 3).await;
    let text = std::fs::read_to_string(&rig.config_path).unwrap();
    let text = text.replacen(
        "[accounts.gm]\n",
        "[accounts.gm]\nfrom_name = \"Zoë Ångström-Shah\"\n",
        1,
    );
    std::fs::write(&rig.config_path, text).unwrap();
    let google = rig.sandbox.google().clone();
    let gmail_thread = google.thread_ids()[0].clone();
    google
        .inject_inbound(InboundMessage {
            from: Contact {
                email: "pat.doe@prospect.example".into(),
                first_name: "Pat".into(),
                last_name: "Doe".into(),
                company: "Prospect".into(),
            },
            thread_id: Some(gmail_thread.clone()),
            subject: None,
            text: "Who am I talking to?".into(),
            html: None,
        })
        .unwrap();
    outpost::sync::SyncEngine::new(rig.engine.clone())
        .sync_all()
        .await;
    rig.engine.flush().await.unwrap();
    drop(rig.engine);

    let config = rig.config_path.clone();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run(outpost().arg("--config").arg(&config).args([
            "reply",
            &format!("gm/{gmail_thread}"),
            "--body",
            "Zoë here, from Ledger.",
        ]))
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let sent = google.sent_messages();
    let raw = &sent.last().expect("a sent message").raw;
    let head = String::from_utf8_lossy(raw);
    let from_line = head
        .lines()
        .find(|l| l.starts_with("From:"))
        .expect("a From header");
    assert!(
        from_line.is_ascii() && from_line.contains("=?"),
        "{from_line}"
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_slice())
        .expect("the sent message parses");
    let from = parsed.from().and_then(|a| a.first()).expect("a sender");
    assert_eq!(from.name(), Some("Zoë Ångström-Shah"));
    assert_eq!(
        from.address(),
        Some(rig.sandbox.info().gmail_email.as_str())
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_same_command_definitions() {
    let (code, bash, stderr) = run(outpost().args(["completions", "bash"]));
    assert_eq!(code, 0, "{stderr}");
    for verb in ["inbox", "leads", "doctor", "completions", "man"] {
        assert!(bash.contains(verb), "bash completion names {verb}");
    }
    for shell in ["zsh", "fish"] {
        let (code, script, stderr) = run(outpost().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(script.contains("inbox"), "{shell} completion names inbox");
    }
    let (code, _, stderr) = run(outpost().args(["completions", "tcsh"]));
    assert_eq!(code, 2, "an unknown shell is a usage error: {stderr}");

    let (code, page, stderr) = run(outpost().arg("man"));
    assert_eq!(code, 0, "{stderr}");
    assert!(page.contains(".TH outpost"), "a roff title: {page}");
    for verb in ["inbox", "thread", "doctor", "demo", "completions"] {
        assert!(page.contains(verb), "the man page lists {verb}");
    }
}

#[test]
fn a_key_bound_to_two_actions_is_refused_at_load_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[ui.keymap]\ntoggle_unread = [\"q\"]\n").unwrap();
    let (code, stdout, stderr) = run(outpost()
        .arg("inbox")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data")));
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for part in [
        "config.toml:2:",
        "ui.keymap.toggle_unread",
        "`q`",
        "`quit`",
        "`toggle_unread`",
        "unbind it from one of them",
    ] {
        assert!(stderr.contains(part), "{part} in {stderr}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "a refused config opens nothing"
    );

    // The same key on screens that never meet is fine.
    std::fs::write(&config, "[ui.keymap]\npause_lead = [\"e\"]\n").unwrap();
    let (code, _, stderr) = run(outpost()
        .arg("inbox")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data")));
    assert_eq!(code, 0, "{stderr}");
}

/// Runs the demo without a terminal (it syncs once, prints and exits) into
/// `dir`, as a rep would before trying the other verbs on its data.
fn demo_into(dir: &std::path::Path) {
    let (code, stdout, stderr) = run(outpost()
        .args(["demo", "--leads", "60", "--data-dir"])
        .arg(dir));
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn a_filter_naming_an_unknown_category_campaign_account_or_sequence_lists_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    demo_into(dir.path());
    let config = dir.path().join("config.toml");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["inbox", "--category", "Bogus"],
            &[
                "unknown category \"Bogus\"",
                "valid categories: Interested",
                "Out Of Office",
            ],
        ),
        (
            &["inbox", "--campaign", "5"],
            &["unknown campaign \"5\"", "valid campaigns: ", "(Logistics"],
        ),
        (
            &["inbox", "--account", "nope"],
            &["unknown account \"nope\"", "demo-gmail, demo-smartlead"],
        ),
        (&["leads", "--campaign", "5"], &["unknown campaign \"5\""]),
        (
            &["leads", "--account", "nope"],
            &["unknown account \"nope\""],
        ),
        (&["stats", "--campaign", "5"], &["unknown campaign \"5\""]),
        (
            &["stats", "--account", "nope"],
            &["unknown account \"nope\""],
        ),
        (
            &["plan", "--sequence", "nope"],
            &["unknown sequence \"nope\"", "outpost sequence apply"],
        ),
    ];
    for (args, needles) in cases {
        let (code, stdout, stderr) = run(outpost().args(*args).arg("--config").arg(&config));
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        for needle in *needles {
            assert!(stderr.contains(needle), "{args:?}: {needle} in {stderr}");
        }
    }
    // A known category matches as the inbox matches it: case-insensitively.
    let (code, stdout, stderr) = run(outpost()
        .args(["inbox", "--category", "meeting request", "--config"])
        .arg(&config));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Meeting Request"), "{stdout}");
}

/// Every path under `dir`, sorted.
fn tree(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn doctor_leaves_the_disk_as_it_was_and_says_what_it_tried_when_a_server_is_down() {
    let home = tempfile::tempdir().unwrap();
    let in_home = |cmd: &mut Command| {
        cmd.env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("share"))
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .env_remove("ALL_PROXY");
    };
    // No config anywhere: said, and no platform data dir appears.
    let mut cmd = outpost();
    in_home(cmd.arg("doctor"));
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("no config file at"), "{stdout}");
    assert!(stdout.contains("does not exist yet"), "{stdout}");
    assert!(tree(home.path()).is_empty(), "{:?}", tree(home.path()));

    // A Smartlead base_url nothing listens on (a port bound, then freed).
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = home.path().join("outpost.toml");
    let base_url = format!("http://127.0.0.1:{port}/api/v1");
    std::fs::write(
        &config,
        format!(
            "[accounts.acme]\nprovider = \"smartlead\"\napi_key_env = \"OUTPOST_TEST_DOCTOR_KEY\"\nbase_url = \"{base_url}\"\n"
        ),
    )
    .unwrap();
    let before = tree(home.path());
    let mut cmd = outpost();
    in_home(
        cmd.arg("doctor")
            .arg("--config")
            .arg(&config)
            .env("OUTPOST_TEST_DOCTOR_KEY", "sl-secret-key-0042"),
    );
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 1, "{stdout}{stderr}");
    for needle in [
        &format!("acme: tried {base_url}: ") as &str,
        "connection refused",
        "is the server running",
        "is base_url in [accounts.acme] right",
        "HTTPS_PROXY",
    ] {
        assert!(stdout.contains(needle), "{needle} in {stdout}");
    }
    assert!(!stdout.contains("check api_key and base_url"), "{stdout}");
    assert!(!format!("{stdout}{stderr}").contains("sl-secret-key-0042"));
    assert_eq!(tree(home.path()), before, "doctor created nothing");
}

#[test]
fn after_the_demo_its_data_dir_alone_reopens_what_the_rep_just_saw() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let demo = dir.path().join("demo");
    let (code, demo_out, stderr) = run(outpost()
        .args(["demo", "--leads", "60", "--data-dir"])
        .arg(&demo)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config")));
    assert_eq!(code, 0, "{demo_out}{stderr}");
    assert!(
        stderr.contains("outpost --data-dir"),
        "says how to come back: {stderr}"
    );

    let (code, stdout, stderr) = run(outpost()
        .arg("--data-dir")
        .arg(&demo)
        .args(["inbox", "--json"])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config")));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("no config file"),
        "the demo's config is found: {stderr}"
    );
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["key"].as_str().unwrap())
        .collect();
    assert!(!keys.is_empty(), "the demo's conversations: {stdout}");
    // The same conversations the demo printed as its newest.
    let newest_shown = demo_out
        .lines()
        .find_map(|line| {
            line.split_whitespace()
                .last()
                .filter(|k| k.starts_with("demo-"))
        })
        .expect("the demo printed its inbox");
    assert!(keys.contains(&newest_shown), "{newest_shown} in {keys:?}");
    assert!(
        !demo.join("data").exists(),
        "one cache, in the data dir itself"
    );
}

#[test]
fn a_command_without_any_config_file_says_so_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (code, stdout, stderr) = run(outpost()
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("inbox")
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config")));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("No replies match."), "{stdout}");
    assert!(
        stderr.contains("warning: no config file at")
            && stderr.contains(&*home.join("config").to_string_lossy()),
        "{stderr}"
    );
}

#[test]
fn the_demo_refuses_a_bad_config_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mine.toml");
    std::fs::write(&config, "[ui.keymap]\ntoggle_unread = [\"q\"]\n").unwrap();
    let demo = dir.path().join("demo");
    let (code, _, stderr) = run(outpost()
        .args(["demo", "--leads", "60", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&demo));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("toggle_unread"), "{stderr}");
    assert!(!demo.exists(), "nothing written");
}

#[test]
fn snippets_lists_the_md_files_beside_the_config_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let list = |json: bool| {
        let mut cmd = outpost();
        cmd.arg("snippets")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"));
        if json {
            cmd.arg("--json");
        }
        run(&mut cmd)
    };
    // None yet: an empty list, and where to put them.
    let (code, stdout, stderr) = list(true);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap(),
        serde_json::json!([])
    );
    let (code, stdout, stderr) = list(false);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(&dir.path().join("snippets").display().to_string()),
        "{stderr}"
    );

    let snippets = dir.path().join("snippets");
    std::fs::create_dir(&snippets).unwrap();
    std::fs::write(
        snippets.join("pricing.md"),
        "Hi {{first_name}},\nour pricing is per seat.\n",
    )
    .unwrap();
    std::fs::write(snippets.join("intro-call.md"), "Does Tuesday work?").unwrap();
    std::fs::write(snippets.join("README.txt"), "not a snippet").unwrap();
    let (code, stdout, stderr) = list(true);
    assert_eq!(code, 0, "{stderr}");
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([
            {"name": "intro-call", "text": "Does Tuesday work?"},
            {"name": "pricing", "text": "Hi {{first_name}},\nour pricing is per seat."},
        ])
    );
    let (code, stdout, _) = list(false);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("intro-call") && stdout.contains("Hi {{first_name}},"),
        "{stdout}"
    );
    assert!(!stdout.contains("README"), "{stdout}");
}
