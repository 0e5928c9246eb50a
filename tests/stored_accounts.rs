//! Accounts added through the API of a running daemon: a Gmail account's
//! tokens are stored sealed, refreshed with the `[gmail_oauth]` client and
//! written back sealed, and the daemon starts polling it without a restart.

mod support;

use std::time::{Duration, Instant};

use outpost::engine::credentials::SealKey;
use outpost::model::StoredAccount;
use outpost::providers::gmail::{GMAIL_MODIFY_SCOPE, TokenSet, decode_tokens, encode_tokens};
use outpost::sandbox::{self, SandboxOptions};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use support::Cli;
use support::daemon_process::{DaemonProcess, all_bytes, contains, owner_token, run_env};

const SECRET_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// Gmail API calls the sandbox has served.
fn gmail_calls(sandbox: &sandbox::SandboxHandle) -> u64 {
    sandbox.google().counters().calls.values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gmail_account_added_to_a_running_daemon_is_polled_with_its_sealed_tokens() {
    let sandbox = sandbox::start(SandboxOptions {
        leads: 20,
        seed: 16,
        rate_limit: sandbox::RateLimit::unlimited(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let info = sandbox.info().clone();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    // No account in the config: only the OAuth client stored Gmail accounts use.
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "data_dir = {data}\n\n\
             [daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"whsec-stored-accounts\"\n\n\
             [gmail_oauth]\nclient_id = {cid}\nclient_secret = {secret}\n\
             api_base_url = {gbase}\nauth_url = {auth}\ntoken_url = {token}\n",
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
    let token_file = dir.path().join("rep-tokens.json");
    std::fs::write(&token_file, encode_tokens(&signed_in).expose_secret()).unwrap();
    let refresh_token = issued.refresh_token.clone().unwrap();

    let daemon = DaemonProcess::start(&config_path, &data_dir, SECRET_KEY).await;
    let pid = daemon.child.id();
    let owner = owner_token(&data_dir);
    let remote = |args: &[&str]| {
        let mut all = vec!["--remote", daemon.url.as_str(), "--token", owner.as_str()];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(gmail_calls(&sandbox), 0, "nothing to poll yet");

    let args = remote(&[
        "account",
        "add",
        "gmail",
        "--name",
        "rep-gmail",
        "--email",
        &info.gmail_email,
        "--token-file",
        &token_file.to_string_lossy(),
        "--json",
    ]);
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
