//! Users of a shared daemon, as a team's scripts use it: an admin mints
//! each user a token (`outpost user token NAME`, through the daemon that
//! holds the data dir), and `outpost --remote URL --token T VERB` then sees
//! only that user's accounts; the data dir's own token sees everything; a
//! wrong token is refused.

mod daemon_support;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::daemon_process::{DaemonProcess, all_bytes, contains, owner_token, run_env};
use support::{Cli, fast_rig};
use tokio_util::sync::CancellationToken;

/// A daemon (in this process) on the rig's data dir, with users `alice`
/// (the Smartlead account), `bob` (the Gmail account) and `boss` (admin).
struct Team {
    _sandbox: outpost::sandbox::SandboxHandle,
    dir: tempfile::TempDir,
    cli: Cli,
    url: String,
    shutdown: CancellationToken,
    daemon: tokio::task::JoinHandle<Result<(), outpost::daemon::DaemonError>>,
}

impl Team {
    /// Syncs the sandbox into a fresh data dir, then starts the daemon on it.
    async fn start(seed: u64) -> Team {
        Team::start_with(seed, "").await
    }

    /// `top`: top-level config keys, put before every table.
    async fn start_with(seed: u64, top: &str) -> Team {
        let support::Rig {
            sandbox,
            dir,
            config_path,
            engine,
        } = fast_rig(60, seed).await;
        drop(engine);
        let cli = Cli {
            config: config_path,
        };
        cli.ok(&["sync", "--once"]).await;
        let mut text = format!("{top}\n{}", std::fs::read_to_string(&cli.config).unwrap());
        text.push_str(&format!(
            "\n[daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"{}\"\n\n\
             [users.alice]\naccounts = [\"sl\"]\n\n\
             [users.bob]\naccounts = [\"gm\"]\n\n\
             [users.boss]\nadmin = true\n",
            daemon_support::SECRET
        ));
        std::fs::write(&cli.config, text).unwrap();
        let config = support::load_config(&cli.config);
        let shutdown = CancellationToken::new();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let daemon = tokio::spawn(outpost::daemon::run(
            config,
            None,
            shutdown.clone(),
            Some(ready_tx),
        ));
        let started = ready.await.expect("the daemon starts");
        Team {
            _sandbox: sandbox,
            dir,
            cli,
            url: format!("http://{}", started.addr),
            shutdown,
            daemon,
        }
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// `outpost user token NAME` through the daemon: the token alone on stdout.
    async fn mint(&self, user: &str) -> String {
        let token = self.cli.ok(&["user", "token", user]).await;
        token.trim().to_string()
    }

    /// `outpost --remote URL --token TOKEN ARGS...`
    async fn remote(&self, token: &str, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["--remote", self.url.as_str(), "--token", token];
        all.extend(args);
        self.cli.run(&all).await
    }

    async fn remote_json(&self, token: &str, args: &[&str]) -> Value {
        let (code, stdout, stderr) = self.remote(token, args).await;
        assert_eq!(code, 0, "{args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.daemon)
            .await
            .expect("the daemon stops")
            .unwrap()
            .unwrap();
    }
}

/// Each conversation's accounts, by key.
fn conversations(inbox: &Value) -> Vec<(String, BTreeSet<String>)> {
    inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let accounts = t["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            (t["key"].as_str().unwrap().to_string(), accounts)
        })
        .collect()
}

fn lead_accounts(leads: &Value) -> BTreeSet<String> {
    leads
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["account"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_token_sees_only_their_accounts_and_the_owner_sees_all() {
    let team = Team::start(31).await;

    let alice = team.mint("alice").await;
    assert!(alice.starts_with("op_"), "{alice}");
    let bob = team.mint("bob").await;
    let boss = team.mint("boss").await;
    let owner = owner_token(&team.data_dir());

    // The store keeps hashes only: no token is in any record.
    let listed = team.cli.json(&["user", "list", "--json"]).await;
    let text = listed.to_string();
    assert!(!text.contains(&alice) && !text.contains("hash"), "{text}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["has_token"] == true),
        "{listed}"
    );

    // A user sees who could take one of theirs (admins, users sharing an
    // account), with the shared accounts only and nothing of tokens.
    let seen = team.remote_json(&alice, &["user", "list", "--json"]).await;
    let names: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "boss"], "{seen}");
    assert!(
        seen.as_array()
            .unwrap()
            .iter()
            .all(|u| u["has_token"] == false
                && u["accounts"].as_array().unwrap().iter().all(|a| a == "sl")),
        "{seen}"
    );

    let everyone = conversations(&team.remote_json(&owner, &["inbox", "--json"]).await);
    let alices = conversations(&team.remote_json(&alice, &["inbox", "--json"]).await);
    let bobs = conversations(&team.remote_json(&bob, &["inbox", "--json"]).await);
    let bosses = conversations(&team.remote_json(&boss, &["inbox", "--json"]).await);
    assert!(!alices.is_empty() && !bobs.is_empty(), "{everyone:?}");
    assert!(alices.iter().all(|(_, a)| a.contains("sl")), "{alices:?}");
    assert!(bobs.iter().all(|(_, a)| a.contains("gm")), "{bobs:?}");
    // Each user misses the other's conversations; the owner and an admin see all.
    assert!(alices.len() < everyone.len() && bobs.len() < everyone.len());
    let expected: Vec<_> = everyone
        .iter()
        .filter(|(_, a)| a.contains("sl"))
        .cloned()
        .collect();
    assert_eq!(alices, expected);
    assert_eq!(bosses, everyone);

    // Lead records live under the Smartlead account: alice has them all,
    // bob (the Gmail mailbox alone) none.
    let all_leads = team.remote_json(&owner, &["leads", "--json"]).await;
    assert_eq!(lead_accounts(&all_leads), BTreeSet::from(["sl".into()]));
    let alice_leads = team.remote_json(&alice, &["leads", "--json"]).await;
    assert_eq!(alice_leads, all_leads);
    let bob_leads = team.remote_json(&bob, &["leads", "--json"]).await;
    assert_eq!(bob_leads, serde_json::json!([]));
    let email = all_leads[0]["email"].as_str().unwrap();
    // Bob's view of a lead: his mailbox's mail with them, not alice's records.
    let view = team.remote_json(&bob, &["lead", email, "--json"]).await;
    if !view.is_null() {
        assert_eq!(view["records"], serde_json::json!([]), "{view}");
        let timeline = view["timeline"].as_array().unwrap();
        assert!(timeline.iter().all(|i| i["account"] == "gm"), "{view}");
    }

    // Statistics: campaigns and mailboxes of the user's accounts only.
    let all_stats = team.remote_json(&owner, &["stats", "--json"]).await;
    assert!(!all_stats["campaigns"].as_array().unwrap().is_empty());
    let bob_stats = team.remote_json(&bob, &["stats", "--json"]).await;
    assert_eq!(bob_stats["campaigns"], serde_json::json!([]), "{bob_stats}");
    assert_eq!(bob_stats["mailboxes"], serde_json::json!([]), "{bob_stats}");
    let alice_stats = team.remote_json(&alice, &["stats", "--json"]).await;
    assert_eq!(alice_stats["campaigns"], all_stats["campaigns"]);
    assert!(
        alice_stats["gmail_mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["account"] == "sl"),
        "{alice_stats}"
    );

    // A conversation of bob's only, named by alice: refused, and nothing shown.
    let (bobs_only, _) = bobs.iter().find(|(_, a)| !a.contains("sl")).unwrap();
    let (code, stdout, stderr) = team.remote(&alice, &["thread", bobs_only]).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("not in your accounts"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let (code, _, stderr) = team.remote(&alice, &["archive", bobs_only]).await;
    assert_eq!(code, 2, "{stderr}");
    // A bulk change naming one of bob's is refused whole; one by search
    // reaches alice's conversations only.
    let (code, _, stderr) = team
        .remote(&alice, &["read", &alices[0].0, bobs_only])
        .await;
    assert_eq!(code, 2, "{stderr}");
    let report = team
        .remote_json(&alice, &["read", "--search", "after:2000-01-01", "--json"])
        .await;
    let touched: Vec<&str> = ["changed", "unchanged"]
        .iter()
        .flat_map(|k| report[k].as_array().unwrap())
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(!touched.is_empty(), "{report}");
    assert!(
        touched
            .iter()
            .all(|k| alices.iter().any(|(key, _)| key == k)),
        "{report}"
    );
    // A key that exists nowhere reads the same: nothing to probe.
    let (code, _, missing) = team.remote(&alice, &["thread", "sl/no-such-thread"]).await;
    assert_eq!(code, 2);
    assert!(missing.contains("not in your accounts"), "{missing}");
    // Her own conversation reads as usual.
    let (code, stdout, _) = team.remote(&alice, &["thread", &alices[0].0]).await;
    assert_eq!(code, 0);
    assert!(!stdout.is_empty());
    // What spans every account is for admins.
    let (code, _, stderr) = team.remote(&alice, &["export"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("for admins"), "{stderr}");

    // Alice's live stream carries her accounts' changes only: bob's
    // conversation archived first never reaches it, hers does.
    let stream_as = |token: &str| {
        outpost::engine::remote::RemoteEngine::new(
            &team.url,
            secrecy::SecretString::from(token.to_string()),
        )
        .unwrap()
    };
    let mut stream = stream_as(&alice).changes().await.unwrap();
    team.remote(&owner, &["archive", bobs_only]).await;
    team.remote(&owner, &["archive", &alices[0].0]).await;
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Some(Ok(outpost::engine::remote::RemoteChange::Change(
                    outpost::store::Change::Record { key, .. },
                ))) => break key,
                Some(Ok(_)) => continue,
                other => panic!("the stream ended: {other:?}"),
            }
        }
    })
    .await
    .expect("alice's change arrives");
    assert_eq!(first, alices[0].0);

    // A wrong token is refused, and never echoed.
    let wrong = "op_not-a-real-token-at-all";
    let (code, stdout, stderr) = team.remote(wrong, &["inbox", "--json"]).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("refused the API token"), "{stderr}");
    assert!(!stderr.contains(wrong) && !stdout.contains(wrong));

    // A new token replaces the old one.
    let alice_again = team.mint("alice").await;
    assert_ne!(alice_again, alice);
    let (code, _, _) = team.remote(&alice, &["inbox", "--json"]).await;
    assert_eq!(code, 2);
    team.remote_json(&alice_again, &["inbox", "--json"]).await;

    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assigned_conversation_shows_under_assigned_to_me_for_its_owner_only() {
    let team = Team::start(32).await;
    let alice = team.mint("alice").await;
    let bob = team.mint("bob").await;
    let boss = team.mint("boss").await;
    let owner = owner_token(&team.data_dir());

    let alices = conversations(&team.remote_json(&alice, &["inbox", "--json"]).await);
    let bobs = conversations(&team.remote_json(&bob, &["inbox", "--json"]).await);
    let (key, _) = alices[0].clone();
    let (bobs_only, _) = bobs.iter().find(|(_, a)| !a.contains("sl")).unwrap();

    // Nothing is assigned yet.
    let mine = team
        .remote_json(&alice, &["inbox", "--mine", "--json"])
        .await;
    assert_eq!(mine, serde_json::json!([]));

    // Alice takes one of hers.
    let (code, stdout, stderr) = team
        .remote(&alice, &["assign", &key, "--to", "alice"])
        .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("assigned to alice"), "{stdout}");

    let mine = conversations(
        &team
            .remote_json(&alice, &["inbox", "--mine", "--json"])
            .await,
    );
    assert_eq!(mine.iter().map(|(k, _)| k).collect::<Vec<_>>(), [&key]);
    let searched = conversations(
        &team
            .remote_json(&alice, &["inbox", "--search", "assigned:me", "--json"])
            .await,
    );
    assert_eq!(searched, mine);
    // Bob's "me" is bob: nothing; the boss finds it by name.
    assert_eq!(
        team.remote_json(&bob, &["inbox", "--mine", "--json"]).await,
        serde_json::json!([])
    );
    assert_eq!(
        team.remote_json(&boss, &["inbox", "--search", "assigned:me", "--json"])
            .await,
        serde_json::json!([])
    );
    let by_name = conversations(
        &team
            .remote_json(&boss, &["inbox", "--search", "assigned:alice", "--json"])
            .await,
    );
    assert_eq!(by_name, mine);
    // Rows say who has it.
    let rows = team.remote_json(&owner, &["inbox", "--json"]).await;
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key.as_str())
        .unwrap();
    assert_eq!(row["assigned_to"], "alice");
    let unassigned = team
        .remote_json(&owner, &["inbox", "--search", "assigned:nobody", "--json"])
        .await;
    assert_eq!(
        unassigned.as_array().unwrap().len(),
        rows.as_array().unwrap().len() - 1
    );

    // Bob cannot be given what he does not see, nor can alice assign his.
    let (alice_only, _) = alices
        .iter()
        .find(|(_, a)| !a.contains("gm"))
        .expect("a conversation in Smartlead alone");
    let (code, _, stderr) = team
        .remote(&boss, &["assign", alice_only, "--to", "bob"])
        .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("bob does not see"), "{stderr}");
    let (code, _, stderr) = team
        .remote(&alice, &["assign", bobs_only, "--to", "alice"])
        .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("not in your accounts"), "{stderr}");
    // A name that is no user, and a "me" nobody is, are clear errors.
    let (code, _, stderr) = team.remote(&boss, &["assign", &key, "--to", "zed"]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("no user \"zed\""), "{stderr}");
    let (code, _, stderr) = team.remote(&owner, &["inbox", "--mine"]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("who is \"me\""), "{stderr}");
    let (code, _, stderr) = team
        .remote(&alice, &["inbox", "--search", "assigned:zed"])
        .await;
    assert_eq!(code, 2, "{stderr}");

    // Unassigned, it leaves alice's list.
    let (code, _, stderr) = team.remote(&alice, &["unassign", &key]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        team.remote_json(&alice, &["inbox", "--mine", "--json"])
            .await,
        serde_json::json!([])
    );
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_server_me_is_the_configs_user() {
    let team = Team::start_with(33, "user = \"alice\"").await;
    let inbox = conversations(&team.cli.json(&["inbox", "--json"]).await);
    let (key, _) = inbox
        .iter()
        .find(|(_, a)| a.contains("sl"))
        .unwrap()
        .clone();
    // A local verb goes through the daemon as the data dir's owner, whose
    // "me" is the config's `user`.
    team.cli.ok(&["assign", &key, "--to", "alice"]).await;
    let mine = conversations(&team.cli.json(&["inbox", "--mine", "--json"]).await);
    assert_eq!(mine.iter().map(|(k, _)| k).collect::<Vec<_>>(), [&key]);
    let searched = conversations(
        &team
            .cli
            .json(&["inbox", "--search", "assigned:me", "--json"])
            .await,
    );
    assert_eq!(searched, mine);
    team.cli.ok(&["assign", &key, "--to", "nobody"]).await;
    assert_eq!(
        team.cli.json(&["inbox", "--mine", "--json"]).await,
        serde_json::json!([])
    );
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_stored_smartlead_key_is_sealed_never_returned_and_used_to_sync() {
    let support::Rig {
        sandbox,
        dir,
        config_path,
        engine,
    } = fast_rig(40, 34).await;
    drop(engine);
    let cli = Cli {
        config: config_path.clone(),
    };
    cli.ok(&["sync", "--once"]).await;
    let mut text = std::fs::read_to_string(&config_path).unwrap();
    text.push_str(&format!(
        "\n[daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"{}\"\n\n\
         [users.alice]\naccounts = [\"sl\"]\n\n[users.bob]\naccounts = [\"gm\"]\n",
        daemon_support::SECRET
    ));
    std::fs::write(&config_path, text).unwrap();
    let data_dir = dir.path().join("data");
    let secret_key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let api_key = sandbox.info().smartlead_api_key.clone();
    let base_url = sandbox.info().smartlead_base_url.clone();

    let daemon = DaemonProcess::start(&config_path, &data_dir, secret_key).await;
    let alice = cli.ok(&["user", "token", "alice"]).await.trim().to_string();
    let bob = cli.ok(&["user", "token", "bob"]).await.trim().to_string();
    let owner = owner_token(&data_dir);
    let remote = |token: &str| {
        vec![
            "--remote".to_string(),
            daemon.url.clone(),
            "--token".into(),
            token.to_string(),
        ]
    };

    // Alice adds a second Smartlead account with her key, from her shell.
    let mut args = remote(&alice);
    args.extend(
        [
            "account",
            "add",
            "smartlead",
            "--name",
            "sl2",
            "--api-key-env",
            "SL2_KEY",
            "--base-url",
            &base_url,
            "--json",
        ]
        .map(str::to_string),
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run_env(&config_path, &argv, &[("SL2_KEY", &api_key)]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains(&api_key) && !stderr.contains(&api_key));
    let added: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(added["name"], "sl2");
    assert_eq!(added["owner"], "alice");

    // No answer carries the key: the account lists, the accounts, an export.
    for (token, verb) in [
        (&alice, vec!["account", "list", "--json"]),
        (&owner, vec!["account", "list", "--json"]),
        (&owner, vec!["export"]),
        (&alice, vec!["inbox", "--json"]),
    ] {
        let mut args = remote(token);
        args.extend(verb.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = cli.run(&argv).await;
        assert_eq!(code, 0, "{verb:?}: {stderr}");
        assert!(!stdout.contains(&api_key), "{verb:?} returned the key");
        assert!(!stderr.contains(&api_key), "{verb:?} printed the key");
    }
    let mut args = remote(&bob);
    args.extend(["account", "list", "--json"].map(str::to_string));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(cli.json(&argv).await, serde_json::json!([]));
    daemon.stop();

    // Sealed at rest: the key's text is nowhere in the data dir.
    assert!(!contains(&all_bytes(&data_dir), &api_key));

    // Without the sealing key, adding one is refused with what to set, and
    // nothing is stored.
    let (code, _, stderr) = run_env(
        &config_path,
        &[
            "account",
            "add",
            "smartlead",
            "--name",
            "sl3",
            "--api-key-env",
            "SL2_KEY",
        ],
        &[("SL2_KEY", &api_key)],
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("OUTPOST_SECRET_KEY is not set"), "{stderr}");
    let listed = run_env(&config_path, &["account", "list", "--json"], &[]).await;
    let listed: Value = serde_json::from_str(&listed.1).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // Restarted, the daemon syncs the stored account like a configured one,
    // and its conversations are alice's.
    let daemon = DaemonProcess::start(&config_path, &data_dir, secret_key).await;
    let remote = |token: &str| {
        vec![
            "--remote".to_string(),
            daemon.url.clone(),
            "--token".into(),
            token.to_string(),
        ]
    };
    let mut args = remote(&owner);
    args.extend(["sync", "--once", "--json"].map(str::to_string));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = cli.run(&argv).await;
    assert_eq!(code, 0, "{stderr}");
    let mut args = remote(&alice);
    args.extend(["inbox", "--json"].map(str::to_string));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let alices = conversations(&cli.json(&argv).await);
    assert!(alices.iter().any(|(_, a)| a.contains("sl2")), "{alices:?}");
    let mut args = remote(&bob);
    args.extend(["inbox", "--json"].map(str::to_string));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let bobs = conversations(&cli.json(&argv).await);
    // Bob sees a conversation of sl2 only where his mailbox holds a copy
    // (Smartlead sent through it).
    assert!(bobs.iter().all(|(_, a)| a.contains("gm")), "{bobs:?}");
    daemon.stop();
}
