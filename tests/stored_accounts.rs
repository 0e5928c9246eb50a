//! Accounts added through the API of a running daemon: a Gmail account's
//! tokens are stored sealed, refreshed with the `[gmail_oauth]` client and
//! written back sealed, and the daemon starts polling it without a restart.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use outpost::engine::credentials::SealKey;
use outpost::model::StoredAccount;
use outpost::providers::gmail::{GMAIL_MODIFY_SCOPE, TokenSet, decode_tokens, encode_tokens};
use outpost::sandbox;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use support::Cli;
use support::daemon_process::{DaemonProcess, all_bytes, contains, owner_token, run_env};

const SECRET_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// Gmail API calls the sandbox has served.
fn gmail_calls(sandbox: &sandbox::SandboxHandle) -> u64 {
    sandbox.google().counters().calls.values().sum()
}

/// A config with no account, only the OAuth client stored Gmail accounts
/// use, and `extra` (a [store] section).
fn write_config(dir: &Path, data_dir: &Path, info: &sandbox::SandboxInfo, extra: &str) -> PathBuf {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let config_path = dir.join(format!(
        "{}.toml",
        data_dir.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &config_path,
        format!(
            "data_dir = {data}\n\n\
             [daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"whsec-stored-accounts\"\n\n\
             [gmail_oauth]\nclient_id = {cid}\nclient_secret = {secret}\n\
             api_base_url = {gbase}\nauth_url = {auth}\ntoken_url = {token}\n\n{extra}",
            data = q(&data_dir.to_string_lossy()),
            cid = q(&info.oauth_client_id),
            secret = q(&info.oauth_client_secret),
            gbase = q(&info.gmail_api_base_url),
            auth = q(&info.oauth_auth_url),
            token = q(&info.oauth_token_url),
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &config_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    config_path
}

fn write_token_file(dir: &Path, tokens: &TokenSet) -> PathBuf {
    let token_file = dir.join("rep-tokens.json");
    std::fs::write(&token_file, encode_tokens(tokens).expose_secret()).unwrap();
    token_file
}

/// `outpost --remote URL --token T ARGS...` as argument strings.
fn remote(url: &str, token: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--remote", url, "--token", token];
    all.extend_from_slice(args);
    all.into_iter().map(str::to_string).collect()
}

/// `outpost account add gmail` of the rep's mailbox as "rep-gmail" with the
/// token file, through the daemon at `url`.
fn add_rep_gmail(
    url: &str,
    token: &str,
    email: &str,
    token_file: &Path,
    extra: &[&str],
) -> Vec<String> {
    let token_file = token_file.to_string_lossy();
    let mut args = vec![
        "account",
        "add",
        "gmail",
        "--name",
        "rep-gmail",
        "--email",
        email,
        "--token-file",
        &token_file,
    ];
    args.extend_from_slice(extra);
    remote(url, token, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gmail_account_added_to_a_running_daemon_is_polled_with_its_sealed_tokens() {
    let sandbox = sandbox::start(support::unlimited(20, 16)).await.unwrap();
    let info = sandbox.info().clone();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = write_config(dir.path(), &data_dir, &info, "");
    let cli = Cli {
        config: config_path.clone(),
    };

    // The rep's token file, its access token already expired: the first
    // poll must refresh it with the [gmail_oauth] client.
    let issued = sandbox.google().issue_tokens(GMAIL_MODIFY_SCOPE);
    let signed_in = TokenSet {
        access_token: SecretString::from(issued.access_token.clone()),
        refresh_token: issued.refresh_token.clone().map(SecretString::from),
        expires_at: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        scopes: vec![GMAIL_MODIFY_SCOPE.into()],
    };
    let token_file = write_token_file(dir.path(), &signed_in);
    let refresh_token = issued.refresh_token.clone().unwrap();

    let daemon = DaemonProcess::start(&config_path, &data_dir, SECRET_KEY).await;
    let pid = daemon.child.id();
    let owner = owner_token(&data_dir);
    let remote = |args: &[&str]| remote(&daemon.url, &owner, args);
    assert_eq!(gmail_calls(&sandbox), 0, "nothing to poll yet");

    let args = add_rep_gmail(
        &daemon.url,
        &owner,
        &info.gmail_email,
        &token_file,
        &["--json"],
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run_env(&config_path, &argv, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains(&refresh_token) && !stderr.contains(&refresh_token));

    // Polled by the running daemon: its conversations show in the inbox.
    let args = remote(&["inbox", "--json"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let inbox = loop {
        let inbox: Value = cli.json(&argv).await;
        let from_gmail = inbox.as_array().unwrap().iter().any(|t| {
            t["accounts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == "rep-gmail"))
        });
        if from_gmail {
            break inbox;
        }
        assert!(
            Instant::now() < deadline,
            "the added account was not polled: {inbox}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(gmail_calls(&sandbox) > 0);
    assert!(sandbox.google().counters().tokens_issued >= 1, "refreshed");
    assert!(!inbox.to_string().contains(&refresh_token));
    assert_eq!(daemon.child.id(), pid, "no restart");
    daemon.stop();

    // The refreshed token went back into the sealed record: no token file,
    // and neither token's text anywhere in the data dir.
    assert!(!data_dir.join("tokens").join("rep-gmail.json").exists());
    let bytes = all_bytes(&data_dir);
    assert!(!contains(&bytes, &refresh_token));
    assert!(!contains(&bytes, &issued.access_token));
    let store = outpost::store::Store::open(&data_dir, "test").unwrap();
    let record = store
        .get::<StoredAccount>("rep-gmail")
        .unwrap()
        .expect("stored");
    let key = SealKey::from_env_value(Some(SECRET_KEY)).unwrap();
    let opened = key.open("rep-gmail", &record.sealed).unwrap();
    let stored = decode_tokens(opened.expose_secret().as_bytes()).unwrap();
    assert_ne!(stored.access_token.expose_secret(), issued.access_token);
    assert!(!contains(&bytes, stored.access_token.expose_secret()));
    assert_eq!(
        stored.refresh_token.unwrap().expose_secret(),
        refresh_token.as_str()
    );
    assert!(stored.expires_at.unwrap() > chrono::Utc::now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_added_through_one_replica_is_picked_up_by_the_other() {
    let sandbox = sandbox::start(support::unlimited(10, 17)).await.unwrap();
    let info = sandbox.info().clone();
    let database_url = support::postgres::fresh_database();
    let store = format!(
        "[store]\nbackend = \"postgres\"\nurl = {}\n",
        toml::Value::String(database_url)
    );
    let dir = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (dir.path().join("a"), dir.path().join("b"));
    let config_a = write_config(dir.path(), &data_a, &info, &store);
    let config_b = write_config(dir.path(), &data_b, &info, &store);
    let a = DaemonProcess::start(&config_a, &data_a, SECRET_KEY).await;
    let b = DaemonProcess::start(&config_b, &data_b, SECRET_KEY).await;
    let (owner_a, owner_b) = (owner_token(&data_a), owner_token(&data_b));

    let issued = sandbox.google().issue_tokens(GMAIL_MODIFY_SCOPE);
    let token_file = write_token_file(
        dir.path(),
        &TokenSet {
            access_token: SecretString::from(issued.access_token),
            refresh_token: issued.refresh_token.map(SecretString::from),
            expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            scopes: vec![GMAIL_MODIFY_SCOPE.into()],
        },
    );
    let args = add_rep_gmail(&a.url, &owner_a, &info.gmail_email, &token_file, &[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = run_env(&config_a, &argv, &[]).await;
    assert_eq!(code, 0, "{stderr}");

    // B was told by the change feed (NOTIFY): its own sync covers the
    // account, with B's clients, no restart.
    let cli = Cli {
        config: config_b.clone(),
    };
    let args = remote(&b.url, &owner_b, &["sync", "--once", "--json"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, stdout, _) = cli.run(&argv).await;
        let summary: Value = serde_json::from_str(&stdout).unwrap_or_default();
        let synced = summary["accounts"].as_array().is_some_and(|all| {
            all.iter()
                .any(|s| s["account"] == "rep-gmail" && s["error"].is_null())
        });
        if synced {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica B never picked the account up: {stdout}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let b_pid = b.child.id();
    assert!(gmail_calls(&sandbox) > 0);
    assert_eq!(b.child.id(), b_pid);
    b.stop();
    a.stop();
}
