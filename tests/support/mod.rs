//! Shared test rig: a sandbox on loopback, a config pointing at it, and an
//! engine with the real provider clients.
#![allow(dead_code)]

pub mod cli_sequences;
pub mod daemon_process;
pub mod dns;
pub mod postgres;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use outpost::clock::{SharedClock, SystemClock};
use outpost::config::{self, ConfigSources};
use outpost::engine::Engine;
use outpost::providers::gmail::{GMAIL_MODIFY_SCOPE, TokenSet, TokenStore};
use outpost::providers::registry::Providers;
use outpost::sandbox::{self, SandboxHandle, SandboxOptions};
use outpost::store::Store;
use secrecy::SecretString;
use serde_json::Value;

pub struct Rig {
    pub sandbox: SandboxHandle,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub engine: Engine,
}

/// Client-side rate limit written into the config: (max, per_secs).
pub struct ClientLimit(pub u32, pub u64);

pub fn write_config(dir: &Path, info: &sandbox::SandboxInfo, limit: &ClientLimit) -> PathBuf {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let text = format!(
        "data_dir = {data}\n\n\
         [accounts.sl]\nprovider = \"smartlead\"\napi_key = {key}\nbase_url = {base}\n\
         rate_limit = {{ max = {max}, per_secs = {per} }}\n\n\
         [accounts.gm]\nprovider = \"gmail\"\nemail = {email}\nclient_id = {cid}\nclient_secret = {secret}\n\
         api_base_url = {gbase}\nauth_url = {auth}\ntoken_url = {token}\n\n\
         [sending]\ndns_server = {dns}\n",
        data = q(&dir.join("data").to_string_lossy()),
        key = q(&info.smartlead_api_key),
        base = q(&info.smartlead_base_url),
        max = limit.0,
        per = limit.1,
        email = q(&info.gmail_email),
        cid = q(&info.oauth_client_id),
        secret = q(&info.oauth_client_secret),
        gbase = q(&info.gmail_api_base_url),
        auth = q(&info.oauth_auth_url),
        token = q(&info.oauth_token_url),
        dns = q(&dns::shared().to_string()),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// Signs the sandbox mailbox in (what `outpost auth gmail` stores).
pub fn store_gmail_tokens(sandbox: &SandboxHandle, data_dir: &Path) {
    store_gmail_tokens_at(sandbox, data_dir, chrono::Utc::now());
}

/// The same, with the tokens' expiry counted from `now` (a fake clock's).
pub fn store_gmail_tokens_at(
    sandbox: &SandboxHandle,
    data_dir: &Path,
    now: chrono::DateTime<chrono::Utc>,
) {
    let issued = sandbox.google().issue_tokens(GMAIL_MODIFY_SCOPE);
    let tokens = TokenSet {
        access_token: SecretString::from(issued.access_token),
        refresh_token: issued.refresh_token.map(SecretString::from),
        expires_at: Some(now + chrono::Duration::seconds(issued.expires_in)),
        scopes: issued.scope.split(' ').map(str::to_string).collect(),
    };
    TokenStore::new(data_dir, "gm")
        .unwrap()
        .save(&tokens)
        .unwrap();
}

pub async fn rig(opts: SandboxOptions, limit: ClientLimit) -> Rig {
    let opts_clock = opts.clock.clone();
    let sandbox = sandbox::start(opts).await.expect("sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(dir.path(), sandbox.info(), &limit);
    store_gmail_tokens(&sandbox, &dir.path().join("data"));
    // The engine keeps the sandbox's time, so a test can move both at once.
    let engine = engine_with_clock(&config_path, opts_clock);
    Rig {
        sandbox,
        dir,
        config_path,
        engine,
    }
}

/// The config at `config_path`, as outpost loads it.
pub fn load_config(config_path: &Path) -> config::Config {
    config::load(&ConfigSources {
        config_path: Some(config_path.to_path_buf()),
        data_dir: None,
    })
    .expect("config loads")
}

pub fn engine_for(config_path: &Path) -> Engine {
    engine_with_clock(config_path, Arc::new(SystemClock))
}

pub fn engine_with_clock(config_path: &Path, clock: SharedClock) -> Engine {
    let config = load_config(config_path);
    let providers = Providers::from_config(&config, config.data_dir(), clock.clone()).unwrap();
    let store = Store::open(config.data_dir(), "test").unwrap();
    Engine::with_providers(store, clock, Arc::new(providers))
}

/// A sandbox without rate limits on either side, for tests about data.
pub async fn fast_rig(leads: usize, seed: u64) -> Rig {
    rig(unlimited(leads, seed), ClientLimit(100_000, 1)).await
}

/// The sandbox's options for `leads` generated from `seed`, without its
/// rate limits.
pub fn unlimited(leads: usize, seed: u64) -> SandboxOptions {
    SandboxOptions {
        leads,
        seed,
        rate_limit: sandbox::RateLimit::unlimited(),
        ..SandboxOptions::default()
    }
}

/// Swaps `account`'s Smartlead client for one pointed at `base_url` with no
/// practical rate limit; `tweak` sets the rest (short retry waits, say).
pub fn fast_smartlead(
    providers: &mut Providers,
    account: &str,
    base_url: &str,
    api_key: &str,
    tweak: impl FnOnce(&mut outpost::providers::smartlead::SmartleadConfig),
) {
    use outpost::providers::smartlead::{self, SmartleadConfig};
    let mut sl = std::sync::Arc::into_inner(
        providers
            .smartlead
            .remove(account)
            .expect("the smartlead account"),
    )
    .expect("not shared yet");
    let mut cfg = SmartleadConfig::new(
        base_url.parse().expect("smartlead url"),
        SecretString::from(api_key.to_string()),
    );
    cfg.rate_limit = outpost::providers::http::RateLimit {
        max: 100_000,
        per: std::time::Duration::from_secs(1),
    };
    tweak(&mut cfg);
    sl.client = smartlead::Client::new(cfg).expect("smartlead client");
    providers
        .smartlead
        .insert(account.into(), std::sync::Arc::new(sl));
}

/// The outpost binary on one config, as a user's script runs it.
pub struct Cli {
    pub config: PathBuf,
}

impl Cli {
    /// `outpost --config CONFIG ARGS...` off the async runtime (the sandbox
    /// serves on it meanwhile): exit code, stdout, stderr.
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        daemon_process::run_env(&self.config, args, &[]).await
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.run(args).await;
        assert_eq!(code, 0, "outpost {args:?}: {stdout}{stderr}");
        stdout
    }

    pub async fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args).await).unwrap()
    }

    /// Every outbox item, whatever its state.
    pub async fn outbox(&self) -> Vec<Value> {
        let all = [
            "list",
            "--json",
            "--state",
            "pending",
            "--state",
            "sending",
            "--state",
            "sent",
            "--state",
            "failed",
            "--state",
            "cancelled",
        ];
        let mut args = vec!["outbox"];
        args.extend(all);
        self.json(&args).await.as_array().unwrap().clone()
    }
}

/// A child process killed when the test ends, however it ends.
pub struct Reaper(pub std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A current-thread runtime for the async bits of a process test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
