//! `outpost sandbox` (the emulator alone) and `outpost demo` (the emulator
//! in-process, a throwaway data dir, and the real clients against it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use secrecy::SecretString;

use super::live::{LiveContext, print_summary, progress_printer, runtime};
use super::{Cli, CliError, CliResult};
use crate::config::{self, ConfigSources, UiConfig};
use crate::providers::gmail::{TokenSet, TokenStore};
use crate::sandbox::{self, SandboxOptions};
use crate::sync::SyncEngine;

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// How many leads to generate.
    #[arg(long, default_value_t = 1000)]
    pub leads: usize,
    /// Seed of the deterministic generator.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Share of requests answered with an injected 5xx (0.0-1.0).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Added latency per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many leads the sandbox generates.
    #[arg(long, default_value_t = 1000)]
    pub leads: usize,
    /// Seed of the deterministic generator.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn sandbox(args: &SandboxArgs) -> CliResult {
    let opts = SandboxOptions {
        leads: args.leads,
        seed: args.seed,
        listen: args.listen,
        faults: sandbox::Faults {
            error_rate: args.error_rate,
            latency_ms: args.latency_ms,
        },
        ..SandboxOptions::default()
    };
    runtime()?
        .block_on(sandbox::run_cli(opts))
        .map_err(|e| CliError::runtime(e.to_string()))
}

/// Writes the config a demo uses: one Smartlead key and one Gmail mailbox,
/// both pointing at the sandbox. Secrets are literal (the file is 0600 and
/// the sandbox's credentials are throwaway). The cache sits beside it in
/// `dir`, so `outpost --data-dir DIR` afterwards finds both.
fn write_demo_config(dir: &Path, info: &sandbox::SandboxInfo) -> CliResult<PathBuf> {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let text = format!(
        "# Written by `outpost demo`: every account points at the built-in sandbox,\n\
         # which runs only while the demo does (`outpost demo --data-dir DIR` starts it\n\
         # again). `outpost --data-dir DIR inbox` and the other verbs read the cache.\n\
         data_dir = {data}\n\n\
         [accounts.demo-smartlead]\nprovider = \"smartlead\"\napi_key = {key}\nbase_url = {base}\npoll_interval_secs = 30\n\n\
         [accounts.demo-gmail]\nprovider = \"gmail\"\nemail = {email}\nfrom_name = {from_name}\nclient_id = {cid}\nclient_secret = {secret}\n\
         api_base_url = {gbase}\nauth_url = {auth}\ntoken_url = {token}\npoll_interval_secs = 30\n",
        data = quote(&dir.to_string_lossy()),
        key = quote(&info.smartlead_api_key),
        base = quote(&info.smartlead_base_url),
        email = quote(&info.gmail_email),
        // The name the sandbox's Smartlead mailbox for the rep carries too.
        from_name = quote(&sandbox::google::display_name_of(&info.gmail_email)),
        cid = quote(&info.oauth_client_id),
        secret = quote(&info.oauth_client_secret),
        gbase = quote(&info.gmail_api_base_url),
        auth = quote(&info.oauth_auth_url),
        token = quote(&info.oauth_token_url),
    );
    let path = dir.join("config.toml");
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

fn write_private(path: &Path, bytes: &[u8]) -> CliResult {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    Ok(())
}

/// The rep's own `[ui]` (keys, theme, undo window) from `--config`, else
/// `OUTPOST_CONFIG`, else the platform config: the demo is tried with the
/// keys they use. Its accounts are not the demo's business.
fn rep_ui(cli: &Cli) -> CliResult<UiConfig> {
    let rep = config::load_unresolved(&ConfigSources {
        config_path: cli.config.clone(),
        data_dir: None,
    })?;
    Ok(rep.ui)
}

/// The demo's config: its own accounts on the sandbox, the rep's `ui`.
fn demo_config(dir: &Path, info: &sandbox::SandboxInfo, ui: UiConfig) -> CliResult<config::Config> {
    let config_path = write_demo_config(dir, info)?;
    let mut config = config::load(&ConfigSources {
        config_path: Some(config_path),
        data_dir: None,
    })?;
    config.ui = ui;
    Ok(config)
}

pub fn demo(cli: &Cli, args: &DemoArgs) -> CliResult {
    // Read first: a bad config stops the demo before anything starts.
    let ui = rep_ui(cli)?;
    // A throwaway directory unless the rep named one (the flag or
    // $OUTPOST_DATA_DIR, as every other verb reads it), so the config lands
    // beside the cache and `outpost inbox` on that dir finds both.
    let named = cli.data_dir.clone().or_else(|| {
        std::env::var_os("OUTPOST_DATA_DIR")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
    });
    let scratch = match &named {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("outpost-demo-").tempdir()?),
    };
    let dir = match (&named, &scratch) {
        (Some(dir), _) => dir.clone(),
        (None, Some(tmp)) => tmp.path().to_path_buf(),
        (None, None) => unreachable!("one of the two is set"),
    };
    std::fs::create_dir_all(&dir)?;
    let rt = runtime()?;
    rt.block_on(async {
        eprintln!(
            "starting the sandbox ({} leads, seed {})…",
            args.leads, args.seed
        );
        let handle = sandbox::start(SandboxOptions {
            leads: args.leads,
            seed: args.seed,
            ..SandboxOptions::default()
        })
        .await
        .map_err(|e| CliError::runtime(e.to_string()))?;
        let config = demo_config(&dir, handle.info(), ui)?;
        // The sandbox signs the demo mailbox in; `outpost auth gmail` does the
        // same through the browser flow for a real one.
        let issued = handle
            .google()
            .issue_tokens(crate::providers::gmail::GMAIL_MODIFY_SCOPE);
        let tokens = TokenSet {
            access_token: SecretString::from(issued.access_token),
            refresh_token: issued.refresh_token.map(SecretString::from),
            expires_at: Some(chrono::Utc::now() + chrono::Duration::seconds(issued.expires_in)),
            scopes: issued.scope.split(' ').map(str::to_string).collect(),
        };
        TokenStore::new(config.data_dir(), "demo-gmail")
            .and_then(|store| store.save(&tokens))
            .map_err(|e| CliError::runtime(e.to_string()))?;
        let ctx = LiveContext::from_config(config, "tui")?;
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            // The full-screen client; its status bar shows the first sync.
            super::run_tui(ctx).await?;
        } else {
            // No terminal to draw on (a script, CI): sync once and print.
            let printer = progress_printer(&ctx.engine);
            let summary = SyncEngine::new(ctx.engine.clone()).sync_all().await;
            printer.abort();
            print_summary(&summary, false)?;
            println!();
            super::read::print_inbox(&ctx.engine, 15)?;
            println!();
            super::read::print_stats(&ctx.engine, &Default::default())?;
            if summary.failed() {
                return Err(CliError::runtime("the demo sync failed (see above)"));
            }
        }
        handle
            .shutdown()
            .await
            .map_err(|e| CliError::runtime(e.to_string()))?;
        if scratch.is_none() {
            eprintln!(
                "the demo's data stays in {dir}: `outpost --data-dir {dir} inbox` (or any verb) reads it; \
                 `outpost demo --data-dir {dir}` starts its sandbox again",
                dir = dir.display()
            );
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn sandbox_info() -> sandbox::SandboxInfo {
        sandbox::SandboxInfo {
            smartlead_base_url: "http://127.0.0.1:9/api/v1".into(),
            smartlead_api_key: "demo-key".into(),
            gmail_api_base_url: "http://127.0.0.1:9".into(),
            oauth_auth_url: "http://127.0.0.1:9/auth".into(),
            oauth_token_url: "http://127.0.0.1:9/token".into(),
            oauth_client_id: "demo-client".into(),
            oauth_client_secret: "demo-secret".into(),
            gmail_email: "rep@demo.example".into(),
        }
    }

    #[test]
    fn the_demo_keeps_its_cache_beside_its_config_and_takes_the_reps_ui() {
        let dir = tempfile::tempdir().unwrap();
        let rep_config = dir.path().join("mine.toml");
        std::fs::write(
            &rep_config,
            "[accounts.work]\nprovider = \"smartlead\"\napi_key_env = \"OUTPOST_TEST_UNSET_DEMO_KEY\"\n\n\
             [ui]\nundo_send_secs = 3\n\n[ui.keymap]\nquit = [\"Q\"]\n",
        )
        .unwrap();
        let demo_dir = dir.path().join("demo");
        std::fs::create_dir_all(&demo_dir).unwrap();
        let cli = Cli::try_parse_from([
            "outpost".as_ref(),
            "demo".as_ref(),
            "--config".as_ref(),
            rep_config.as_os_str(),
        ])
        .unwrap();

        let config = demo_config(&demo_dir, &sandbox_info(), rep_ui(&cli).unwrap()).unwrap();
        assert_eq!(config.ui.undo_send_secs, 3);
        assert_eq!(config.ui.keymap["quit"], vec!["Q"]);
        assert_eq!(
            config.accounts.keys().collect::<Vec<_>>(),
            ["demo-gmail", "demo-smartlead"],
            "the rep's accounts stay out of the demo"
        );
        assert_eq!(config.data_dir(), demo_dir);
        assert_eq!(config.config_path(), demo_dir.join("config.toml"));
    }
}
