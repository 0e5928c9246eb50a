//! A team server: real outpost processes on one Postgres database, each
//! with its own data dir, as replicas behind a load balancer run.
//!
//! - Two senders work through one 40-lead, three-step sequence at the same
//!   time while one of them is SIGKILLed at random moments, again and
//!   again: the sandbox's Sent log holds every step of every lead once.
//! - The same with two `outpost --daemon` replicas (each its own data dir
//!   and listen address), one SIGKILLed mid-run and started again ten
//!   times: their outboxes claim due items with `FOR UPDATE SKIP LOCKED`
//!   and leases, and the Sent log still holds every step once.
//! - Two daemons take 200 reply webhooks, half of them delivered to both
//!   at the same moment: each reply is stored once.

mod support;

use support::cli_sequences::midday_zone;
use support::{Reaper, runtime};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use rand::Rng;
use serde_json::{Value, json};

const LEADS: usize = 40;
const KILLS: usize = 10;

/// One replica: its own config and data dir, the shared database.
struct Replica {
    dir: PathBuf,
    database_url: String,
}

impl Replica {
    fn new(root: &Path, name: &str, database_url: &str, accounts: &str, daemon: &str) -> Replica {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "data_dir = {data}\n\n[store]\nbackend = \"postgres\"\nurl_env = \"OUTPOST_DATABASE_URL\"\n\n{accounts}\n{daemon}\n",
            data = toml::Value::String(dir.join("data").display().to_string()),
        );
        let path = dir.join("config.toml");
        std::fs::write(&path, config).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Replica {
            dir,
            database_url: database_url.to_string(),
        }
    }

    fn outpost(&self) -> Command {
        let mut cmd = Command::cargo_bin("outpost").unwrap();
        cmd.env_remove("OUTPOST_CONFIG")
            .env_remove("OUTPOST_DATA_DIR")
            .env("RUST_LOG", "warn")
            .env("OUTPOST_DATABASE_URL", &self.database_url)
            .env("OUTPOST_WEBHOOK_SECRET", SECRET)
            .arg("--config")
            .arg(self.dir.join("config.toml"));
        cmd
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.outpost().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "outpost {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn sign_in(&self) {
        support::cli_sequences::sign_in_gmail(self.outpost());
    }

    /// Starts `outpost send --until-idle`.
    fn start_sender(&self) -> Child {
        self.outpost()
            .args(["send", "--until-idle"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Waits for a sender; panics on a failed run.
fn finished(child: &mut Child) -> bool {
    match child.try_wait().unwrap() {
        Some(status) => {
            // Read once; a child already reported has no stderr left.
            if let Some(mut stderr) = child.stderr.take() {
                let mut err = String::new();
                stderr.read_to_string(&mut err).unwrap();
                assert!(status.success(), "outpost send failed: {err}");
            }
            true
        }
        None => false,
    }
}

const SECRET: &str = "team-webhook-secret";

struct Sandbox {
    _process: Reaper,
    info: Value,
}

fn start_sandbox() -> Sandbox {
    let mut child = Command::cargo_bin("outpost")
        .unwrap()
        .args(["sandbox", "--leads", "20", "--seed", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).expect("one JSON line");
    Sandbox {
        _process: Reaper(child),
        info,
    }
}

impl Sandbox {
    fn s(&self, key: &str) -> String {
        toml::Value::String(self.info[key].as_str().unwrap().to_string()).to_string()
    }

    fn gmail_account(&self) -> String {
        format!(
            "[accounts.gm]\nprovider = \"gmail\"\nemail = {email}\nclient_id = {cid}\n\
             client_secret = {secret}\napi_base_url = {base}\nauth_url = {auth}\ntoken_url = {token}\n\
             poll_interval_secs = 3600\n",
            email = self.s("gmail_email"),
            cid = self.s("oauth_client_id"),
            secret = self.s("oauth_client_secret"),
            base = self.s("gmail_api_base_url"),
            auth = self.s("oauth_auth_url"),
            token = self.s("oauth_token_url"),
        )
    }

    fn gmail_base(&self) -> String {
        self.info["gmail_api_base_url"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Sent messages per lead, from the sandbox's log.
fn sent_per_lead(sandbox: &Sandbox) -> BTreeMap<String, usize> {
    let sent: Value = runtime().block_on(async {
        reqwest::get(format!("{}/_sandbox/google/sent", sandbox.gmail_base()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let mut per_lead = BTreeMap::new();
    for m in sent["messages"].as_array().expect("a sent log") {
        let to = m["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|h| {
                let pair = h.as_array()?;
                pair[0]
                    .as_str()?
                    .eq_ignore_ascii_case("To")
                    .then(|| pair[1].as_str().unwrap().trim().to_lowercase())
            })
            .unwrap_or_default();
        let to = to
            .rsplit_once('<')
            .map_or(to.as_str(), |(_, rest)| rest.trim_end_matches('>'))
            .to_string();
        *per_lead.entry(to).or_insert(0) += 1;
    }
    per_lead
}

/// What each Gmail call of the sandbox takes in the kill tests: long
/// enough that the 120 sends outlast ten kills and restarts however fast
/// the store is.
const SEND_LATENCY_MS: u64 = 60;

/// No Gmail quota to wait on, and every call slowed to [`SEND_LATENCY_MS`].
fn unlimited_but_slow_gmail(sandbox: &Sandbox) {
    runtime().block_on(async {
        let http = reqwest::Client::new();
        let quota = http
            .put(format!("{}/_sandbox/google/quota", sandbox.gmail_base()))
            .json(&json!({"unitsPerMinute": 100_000_000}))
            .send()
            .await
            .unwrap();
        assert!(quota.status().is_success());
        let slow = http
            .put(format!("{}/_sandbox/faults", sandbox.gmail_base()))
            .json(&json!({"error_rate": 0.0, "latency_ms": SEND_LATENCY_MS}))
            .send()
            .await
            .unwrap();
        assert!(slow.status().is_success());
    });
}

/// The three-step team sequence applied through `a` and the leads
/// enrolled through `b`: the database is one.
fn apply_and_enroll(sandbox: &Sandbox, root: &Path, a: &Replica, b: &Replica) {
    let mailbox = sandbox.info["gmail_email"].as_str().unwrap().to_string();
    let seq_file = root.join("team.toml");
    std::fs::write(
        &seq_file,
        support::cli_sequences::gmail_sequence("team", "gm", &mailbox, &midday_zone(), 3),
    )
    .unwrap();
    a.run_ok(&["sequence", "apply", seq_file.to_str().unwrap()]);
    let mut csv = String::from("email,first_name\n");
    for i in 0..LEADS {
        csv.push_str(&format!("lead{i}@team.example,Lead{i}\n"));
    }
    let csv_file = root.join("leads.csv");
    std::fs::write(&csv_file, csv).unwrap();
    b.run_ok(&[
        "enroll",
        "--sequence",
        "team",
        "--csv",
        csv_file.to_str().unwrap(),
    ]);
}

#[test]
fn two_senders_on_one_database_send_each_step_once_while_one_is_killed_again_and_again() {
    let database_url = support::postgres::fresh_database();
    let sandbox = start_sandbox();
    unlimited_but_slow_gmail(&sandbox);
    let root = tempfile::tempdir().unwrap();
    let accounts = sandbox.gmail_account();
    let a = Replica::new(root.path(), "a", &database_url, &accounts, "");
    let b = Replica::new(root.path(), "b", &database_url, &accounts, "");
    a.sign_in();
    b.sign_in();

    apply_and_enroll(&sandbox, root.path(), &a, &b);

    // Both send at once; "a" is killed at random moments and started
    // again, "b" is started again whenever it finds nothing left.
    let mut rng = rand::rng();
    let mut sender_b = Reaper(b.start_sender());
    let mut killed = 0;
    while killed < KILLS {
        let mut sender_a = Reaper(a.start_sender());
        let deadline = Instant::now() + Duration::from_millis(rng.random_range(50..400));
        let mut done = false;
        while Instant::now() < deadline {
            if finished(&mut sender_a.0) {
                done = true;
                break;
            }
            if finished(&mut sender_b.0) {
                sender_b = Reaper(b.start_sender());
            }
            // Polling the children is how "kill it at this moment" is done.
            std::thread::sleep(Duration::from_millis(2));
        }
        if !done {
            sender_a.0.kill().unwrap(); // SIGKILL
            sender_a.0.wait().unwrap();
            killed += 1;
        } else {
            assert!(
                killed >= KILLS,
                "the batch finished after {killed} kills; more leads are needed"
            );
        }
    }
    // Then both run until each finds nothing left to do.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut sender_a = Reaper(a.start_sender());
    let (mut a_idle, mut b_idle) = (false, false);
    while !(a_idle && b_idle) {
        assert!(Instant::now() < deadline, "the senders never became idle");
        if finished(&mut sender_a.0) {
            a_idle = all_completed(&a);
            if !a_idle {
                sender_a = Reaper(a.start_sender());
            }
        }
        if finished(&mut sender_b.0) {
            b_idle = all_completed(&b);
            if !b_idle {
                sender_b = Reaper(b.start_sender());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    let per_lead = sent_per_lead(&sandbox);
    assert_eq!(per_lead.len(), LEADS, "{per_lead:?}");
    assert!(
        per_lead.values().all(|&n| n == 3),
        "{killed} kills: every step exactly once: {per_lead:?}"
    );
}

#[test]
fn two_daemons_on_one_database_send_each_step_once_while_one_is_killed_again_and_again() {
    let database_url = support::postgres::fresh_database();
    let sandbox = start_sandbox();
    unlimited_but_slow_gmail(&sandbox);
    let root = tempfile::tempdir().unwrap();
    let accounts = sandbox.gmail_account();
    let (port_a, port_b) = (free_port(), free_port());
    // Both look for due work ten times a second, so a step one replica
    // made due is taken by either at once.
    let daemon =
        |port: u16| format!("[daemon]\nlisten = \"127.0.0.1:{port}\"\nwork_interval_ms = 100\n");
    let a = Replica::new(root.path(), "a", &database_url, &accounts, &daemon(port_a));
    let b = Replica::new(root.path(), "b", &database_url, &accounts, &daemon(port_b));
    a.sign_in();
    b.sign_in();
    apply_and_enroll(&sandbox, root.path(), &a, &b);

    let (base_a, base_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let started = Instant::now();
    let mut daemon_b = start_daemon(&b, &base_b);
    // "a" is SIGKILLed at a random moment of each run and started again,
    // while "b" sends throughout; every kill lands while mail is left.
    let mut rng = rand::rng();
    for kill in 1..=KILLS {
        let mut daemon_a = start_daemon(&a, &base_a);
        let kill_at = Instant::now() + Duration::from_millis(rng.random_range(50..400));
        while Instant::now() < kill_at {
            assert!(
                daemon_a.0.try_wait().unwrap().is_none(),
                "daemon a stopped by itself"
            );
            assert!(
                daemon_b.0.try_wait().unwrap().is_none(),
                "daemon b stopped by itself"
            );
            // Polling the children is how "kill it at this moment" is done.
            std::thread::sleep(Duration::from_millis(5));
        }
        let sent = sent_count(&sandbox);
        assert!(
            sent < LEADS * 3,
            "everything was sent before kill {kill}; more leads or latency are needed"
        );
        daemon_a.0.kill().unwrap(); // SIGKILL
        daemon_a.0.wait().unwrap();
    }
    // Then both run until every lead has every step.
    let _daemon_a = start_daemon(&a, &base_a);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(sent_count(&sandbox) >= LEADS * 3 && all_completed(&b)) {
        assert!(
            Instant::now() < deadline,
            "the daemons did not finish the sequence: {:?}",
            sent_per_lead(&sandbox)
        );
        assert!(
            daemon_b.0.try_wait().unwrap().is_none(),
            "daemon b stopped by itself"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{KILLS} kills, {} sends in {:.1} s",
        LEADS * 3,
        started.elapsed().as_secs_f64()
    );
    let per_lead = sent_per_lead(&sandbox);
    assert_eq!(per_lead.len(), LEADS, "{per_lead:?}");
    assert!(
        per_lead.values().all(|&n| n == 3),
        "{KILLS} kills: every step exactly once: {per_lead:?}"
    );
    // Nothing more goes out once the work is done.
    assert_eq!(sent_count(&sandbox), LEADS * 3);
}

/// How many messages the sandbox's Sent log holds.
fn sent_count(sandbox: &Sandbox) -> usize {
    sent_per_lead(sandbox).values().sum()
}

/// Whether every enrollment completed (read through this replica).
fn all_completed(replica: &Replica) -> bool {
    let show: Value =
        serde_json::from_str(&replica.run_ok(&["sequence", "show", "team", "--json"])).unwrap();
    show["enrollments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["state"] == "completed")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts a daemon and waits until it answers /health.
fn start_daemon(replica: &Replica, base: &str) -> Reaper {
    let child = replica
        .outpost()
        .arg("--daemon")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Reaper(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    runtime().block_on(async {
        let http = reqwest::Client::new();
        loop {
            if let Ok(resp) = http.get(format!("{base}/health")).send().await
                && resp.status().is_success()
            {
                let health: Value = resp.json().await.unwrap();
                assert_eq!(health["store"]["backend"], "postgres", "{health}");
                assert_eq!(health["store"]["reachable"], true, "{health}");
                return;
            }
            assert!(Instant::now() < deadline, "the daemon did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    child
}

fn reply_webhook(n: usize) -> Value {
    let lead = format!("lead{n}@reply.example");
    let at = "2026-12-01T10:00:00.000Z";
    json!({
        "event_type": "EMAIL_REPLY", "webhook_id": 799, "webhook_name": "outpost",
        "campaign_id": 1764810, "campaign_name": "Q3 Outbound", "campaign_status": "ACTIVE",
        "client_id": 34998, "sequence_number": 1,
        "sl_email_lead_id": (9_100_000 + n).to_string(), "sl_email_lead_map_id": 9_200_000 + n,
        "sl_lead_email": lead,
        "stats_id": format!("stats-{n}"), "stats_thread_id": format!("thr-{n}"),
        "from_email": "sam@acme.example", "to_email": "sam@acme.example",
        "subject": format!("Re: notes {n}"),
        "sent_message": {"message_id": format!("<sent-{n}@acme.example>"),
            "html": "<p>The notes.</p>", "text": "The notes.", "time": "2026-11-30T10:00:00.000Z"},
        "reply_message": {"message_id": format!("<reply-{n}@reply.example>"),
            "html": format!("<div>Thanks, reply {n}.</div>"), "text": format!("Thanks, reply {n}."),
            "time": at},
        "event_timestamp": at, "time_replied": at, "reply_category": null,
        "leadCorrespondence": {"targetLeadEmail": lead, "replyReceivedFrom": lead,
            "repliedCompanyDomain": "SameCompany"},
        "secret_key": SECRET,
    })
}

#[test]
fn two_daemons_on_one_database_store_each_reply_once() {
    let database_url = support::postgres::fresh_database();
    let root = tempfile::tempdir().unwrap();
    let accounts = "[accounts.acme-smartlead]\nprovider = \"smartlead\"\napi_key = \"unused\"\n\
                    base_url = \"http://127.0.0.1:9/api/v1\"\npoll_interval_secs = 3600\n";
    let (port_a, port_b) = (free_port(), free_port());
    let daemon = |port: u16| {
        format!(
            "[daemon]\nlisten = \"127.0.0.1:{port}\"\nwebhook_secret_env = \"OUTPOST_WEBHOOK_SECRET\"\n"
        )
    };
    let a = Replica::new(root.path(), "a", &database_url, accounts, &daemon(port_a));
    let b = Replica::new(root.path(), "b", &database_url, accounts, &daemon(port_b));
    let bases = [
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    ];
    let _daemons = [start_daemon(&a, &bases[0]), start_daemon(&b, &bases[1])];

    // 200 replies; the even ones reach both replicas at the same moment
    // (a retried delivery landing on the other box), the odd ones one.
    const REPLIES: usize = 200;
    let barrier = Arc::new(Barrier::new(2));
    let posters: Vec<_> = bases
        .iter()
        .enumerate()
        .map(|(which, base)| {
            let (url, barrier) = (format!("{base}/webhooks/smartlead"), barrier.clone());
            std::thread::spawn(move || {
                let runtime = runtime();
                let http = reqwest::Client::new();
                let mut new_events = BTreeMap::new();
                for n in 0..REPLIES {
                    let both = n % 2 == 0;
                    if !both && n % 4 != 1 + 2 * which {
                        continue;
                    }
                    if both {
                        barrier.wait();
                    }
                    let answer: Value = runtime.block_on(async {
                        let response = http
                            .post(&url)
                            .json(&reply_webhook(n))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(response.status(), 200, "reply {n}");
                        response.json().await.unwrap()
                    });
                    new_events.insert(n, answer["new_events"].as_u64().unwrap_or(0));
                }
                new_events
            })
        })
        .collect();
    let answers: Vec<BTreeMap<usize, u64>> =
        posters.into_iter().map(|p| p.join().unwrap()).collect();
    for n in 0..REPLIES {
        let new: u64 = answers.iter().filter_map(|a| a.get(&n)).sum();
        assert_eq!(new, 1, "reply {n} is new to exactly one replica");
    }
    // Read back through a third process on the same database.
    let reader = Replica::new(root.path(), "reader", &database_url, accounts, "");
    let inbox: Value = serde_json::from_str(&reader.run_ok(&["inbox", "--json"])).unwrap();
    let rows = inbox.as_array().expect("rows");
    let mut per_lead: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows {
        let email = row["thread"]["lead_email"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *per_lead.entry(email).or_insert(0) += 1;
    }
    assert_eq!(per_lead.len(), REPLIES, "one conversation per reply");
    assert!(per_lead.values().all(|&n| n == 1), "{per_lead:?}");
    for n in [0, 1, 2, 199] {
        let key = rows
            .iter()
            .find(|r| r["thread"]["lead_email"] == format!("lead{n}@reply.example"))
            .and_then(|r| r["key"].as_str())
            .expect("the conversation")
            .to_string();
        let thread: Value =
            serde_json::from_str(&reader.run_ok(&["thread", &key, "--json"])).unwrap();
        let inbound = thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "inbound")
            .count();
        assert_eq!(inbound, 1, "reply {n} stored once: {thread}");
    }
}
