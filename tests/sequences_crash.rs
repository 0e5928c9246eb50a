//! Crash safety with real processes: `outpost sandbox` runs on its own while
//! `outpost send --until-idle` is SIGKILLed at random moments, again and
//! again, as it works through a batch. At the end the sandbox's sent log
//! (read over HTTP) holds every step of every lead exactly once, each
//! follow-up answering the step before it.
//!
//! Scale with OUTPOST_CRASH_LEADS and OUTPOST_CRASH_KILLS (scripts/crash-harness.sh).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use rand::Rng;

mod support;
use support::dns;
use support::{Reaper, runtime};

fn outpost(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("outpost").unwrap();
    cmd.env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .env("RUST_LOG", "warn")
        .arg("--config")
        .arg(dir.join("config.toml"));
    cmd
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sign_in(dir: &Path) {
    support::cli_sequences::sign_in_gmail(outpost(dir));
}

/// Runs `outpost send --until-idle` for at most `limit`: true when it exited
/// by itself (successfully), false when it was SIGKILLed.
fn run_for(dir: &Path, limit: Duration) -> bool {
    let mut child = outpost(dir)
        .args(["send", "--until-idle"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    // Polling the child is how "kill it at this moment" is done; nothing
    // here waits for a result by sleeping.
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(status.success(), "outpost send failed: {err}");
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    false
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_step_is_sent_exactly_once_across_random_kills() {
    let leads = env_number("OUTPOST_CRASH_LEADS", 150);
    let kills = env_number("OUTPOST_CRASH_KILLS", 22);
    let dir = tempfile::tempdir().unwrap();

    let mut sandbox = Command::cargo_bin("outpost").unwrap();
    let mut sandbox = sandbox
        .args(["sandbox", "--leads", "50", "--seed", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sandbox.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sandbox = Reaper(sandbox);
    let info: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let s = |k: &str| toml::Value::String(info[k].as_str().unwrap().to_string()).to_string();
    let base = info["gmail_api_base_url"].as_str().unwrap().to_string();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "data_dir = {data}\n\n[accounts.gm]\nprovider = \"gmail\"\nemail = {email}\n\
             client_id = {cid}\nclient_secret = {secret}\napi_base_url = {base}\n\
             auth_url = {auth}\ntoken_url = {token}\n\n[sending]\ndns_server = {dns}\n",
            data = toml::Value::String(dir.path().join("data").display().to_string()),
            email = s("gmail_email"),
            cid = s("oauth_client_id"),
            secret = s("oauth_client_secret"),
            base = s("gmail_api_base_url"),
            dns = toml::Value::String(dns::shared().to_string()),
            auth = s("oauth_auth_url"),
            token = s("oauth_token_url"),
        ),
    )
    .unwrap();
    // The sandbox's per-minute quota is not what this test is about.
    runtime().block_on(async {
        let resp = reqwest::Client::new()
            .put(format!("{base}/_sandbox/google/quota"))
            .json(&serde_json::json!({"unitsPerMinute": 100_000_000}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
    });
    sign_in(dir.path());

    let mailbox = info["gmail_email"].as_str().unwrap().to_string();
    let seq_file = dir.path().join("crash.toml");
    std::fs::write(
        &seq_file,
        support::cli_sequences::gmail_sequence(
            "crash",
            "gm",
            &mailbox,
            &support::cli_sequences::midday_zone(),
            3,
        ),
    )
    .unwrap();
    run_ok(
        outpost(dir.path())
            .args(["sequence", "apply"])
            .arg(&seq_file),
    );
    let mut csv = String::from("email,first_name\n");
    for i in 0..leads {
        csv.push_str(&format!("lead{i}@crash.example,Lead{i}\n"));
    }
    let csv_file = dir.path().join("leads.csv");
    std::fs::write(&csv_file, csv).unwrap();
    run_ok(
        outpost(dir.path())
            .args(["enroll", "--sequence", "crash", "--csv"])
            .arg(&csv_file),
    );

    // Kill the sender at random moments while it works through the batch. A
    // run that ends by itself found nothing left to do, so every kill below
    // landed while work remained.
    let mut rng = rand::rng();
    let mut killed = 0;
    while killed < kills {
        let delay = Duration::from_millis(rng.random_range(10..150));
        assert!(
            !run_for(dir.path(), delay),
            "the batch finished after {killed} kills; raise OUTPOST_CRASH_LEADS"
        );
        killed += 1;
    }
    // Then let it finish: each run gets two seconds (a fresh process sends a
    // burst before Gmail quota pacing slows it), killed again if need be.
    let mut extra = 0;
    while !run_for(dir.path(), Duration::from_secs(2)) {
        extra += 1;
        assert!(extra < 100, "the sender never became idle");
    }

    let show: serde_json::Value = serde_json::from_str(&run_ok(
        outpost(dir.path()).args(["sequence", "show", "crash", "--json"]),
    ))
    .unwrap();
    let unfinished: Vec<String> = show["enrollments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["state"] != "completed")
        .map(|e| e.to_string())
        .collect();
    assert!(unfinished.is_empty(), "{unfinished:#?}");
    let sent: serde_json::Value = runtime().block_on(async {
        reqwest::get(format!("{base}/_sandbox/google/sent"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    drop(sandbox);
    let header = |m: &serde_json::Value, name: &str| -> Option<String> {
        m["headers"].as_array()?.iter().find_map(|h| {
            let pair = h.as_array()?;
            let n = pair.first()?.as_str()?;
            n.eq_ignore_ascii_case(name)
                .then(|| pair.get(1)?.as_str().map(|v| v.trim().to_string()))
                .flatten()
        })
    };
    let mut per_lead: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
    let messages = sent["messages"].as_array().expect("a sent log");
    for m in messages {
        let to = header(m, "To").unwrap_or_default().to_lowercase();
        let to = to
            .rsplit_once('<')
            .map_or(to.as_str(), |(_, rest)| rest.trim_end_matches('>'))
            .to_string();
        per_lead.entry(to).or_default().push(m);
    }
    assert_eq!(
        messages.len(),
        leads * 3,
        "{killed} kills: every step exactly once (duplicates or gaps otherwise)"
    );
    assert_eq!(per_lead.len(), leads);
    for (lead, messages) in &per_lead {
        assert_eq!(messages.len(), 3, "{lead}");
        // One first email; each follow-up answers the one before it, so the
        // three are steps 1, 2 and 3, each exactly once.
        let mut by_parent: BTreeMap<Option<String>, String> = BTreeMap::new();
        for m in messages {
            let id = header(m, "Message-ID").expect("Message-ID");
            assert!(
                by_parent.insert(header(m, "In-Reply-To"), id).is_none(),
                "{lead}: two messages answer the same one"
            );
        }
        let mut chain = vec![by_parent.get(&None).expect("a first email").clone()];
        while let Some(next) = by_parent.get(&Some(chain.last().unwrap().clone())) {
            chain.push(next.clone());
        }
        assert_eq!(chain.len(), 3, "{lead}: the follow-ups chain");
    }
    eprintln!(
        "{killed} kills mid-batch, {extra} more while finishing, {} messages",
        messages.len()
    );
}
