//! Commands that reach the providers: sync, reply, auth.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::output;
use super::{Cli, CliError, CliResult, sources};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, Config, ProviderSettings};
use crate::engine::{Engine, ReplyDraft};
use crate::model::Provider;
use crate::providers::gmail::{self, OAuthParams, TokenStore};
use crate::providers::registry::Providers;
use crate::store::{Change, Store};
use crate::sync::{SyncEngine, SyncSummary};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sync once and exit (default: keep syncing at each account's interval).
    #[arg(long)]
    pub once: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("body_source").required(true).args(["body", "body_file"])))]
pub struct ReplyArgs {
    /// Thread id as `inbox` prints it.
    pub thread_id: String,
    /// The reply text.
    #[arg(long)]
    pub body: Option<String>,
    /// Read the reply text from a file (`-` for stdin).
    #[arg(long, value_name = "F")]
    pub body_file: Option<PathBuf>,
    /// Send through Smartlead's reply-email-thread (`smartlead`, the
    /// default for a campaign conversation) or from the rep's own mailbox in
    /// the Gmail copy's thread (`gmail`).
    #[arg(long, value_name = "ROUTE", value_parser = parse_route)]
    pub via: Option<Provider>,
    /// Reply to all: also everyone else on the message answered (its From,
    /// To and Cc, your own mailboxes aside), in Cc.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub compose: super::compose::ComposeArgs,
    /// Print the outbox item (with its `route`) as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_route(raw: &str) -> Result<Provider, String> {
    Provider::parse(raw).ok_or_else(|| format!("{raw:?} is not a route; use smartlead or gmail"))
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Log in to a Gmail mailbox (OAuth, loopback redirect) and store its tokens.
    Gmail(AuthGmailArgs),
}

#[derive(Debug, Args)]
pub struct AuthGmailArgs {
    /// The account (config name); optional when only one Gmail account exists.
    #[arg(long)]
    pub account: Option<String>,
    /// Print the authorization URL instead of opening a browser, then wait.
    #[arg(long)]
    pub no_browser: bool,
}

pub fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))
}

/// Config with every account's secret resolved, the store, and the clients.
pub struct LiveContext {
    pub config: Config,
    pub engine: Engine,
}

impl LiveContext {
    pub fn open(cli: &Cli, mode: &str) -> CliResult<LiveContext> {
        let config = config::load_unresolved(&sources(cli))?;
        Self::from_config(config, mode)
    }

    pub fn from_config(config: Config, mode: &str) -> CliResult<LiveContext> {
        for warning in config.warnings() {
            eprintln!("warning: {warning}");
        }
        let clock: SharedClock = Arc::new(SystemClock);
        let providers = usable_providers(&config, clock.clone())?;
        let store = Store::open_at(config.data_dir(), mode, &config.store_location()?)?;
        let engine = Engine::with_providers(store, clock, Arc::new(providers))
            .with_settings(crate::engine::EngineSettings::from_config(&config));
        Ok(LiveContext { config, engine })
    }
}

/// The provider clients of the config, at least one of them usable. They
/// need no store: a verb that only talks to a provider (`webhooks
/// register`) runs while a TUI or daemon holds the data dir.
pub fn usable_providers(config: &Config, clock: SharedClock) -> CliResult<Providers> {
    let providers =
        Providers::from_config(config, config.data_dir(), clock).map_err(|e| match e {
            crate::providers::registry::ProviderSetupError::Config(c) => CliError::from(c),
            other => CliError::runtime(other.to_string()),
        })?;
    providers.require_one_usable(config)?;
    Ok(providers)
}

/// The end of a command that did its work for every usable account: exit 1
/// (a partial failure) when some account was set aside, naming each with
/// what to set on stderr; 0 otherwise.
pub fn attention_exit(
    set_aside: &[crate::providers::registry::AccountAttention],
    consequence: &str,
) -> CliResult {
    for attention in set_aside {
        eprintln!(
            "account {} {} ({}); {consequence}",
            attention.account,
            attention.summary(),
            attention.problem
        );
    }
    match set_aside.len() {
        0 => Ok(()),
        n => Err(CliError::runtime(format!(
            "{n} account(s) need attention (see above); the others were handled"
        ))),
    }
}

/// Prints sync progress lines on stderr while `run` goes on.
pub fn progress_printer(engine: &Engine) -> tokio::task::JoinHandle<()> {
    let mut feed = engine.subscribe();
    tokio::spawn(async move {
        let mut last = std::collections::HashMap::<String, String>::new();
        loop {
            match feed.recv().await {
                Ok(Change::Progress(p)) => {
                    let line = match (p.total, &p.last_error) {
                        (_, Some(err)) if !p.running => format!("{}: failed: {err}", p.account),
                        (Some(total), _) if p.running => {
                            format!("{}: {} ({}/{})", p.account, p.phase, p.done, total)
                        }
                        _ => format!("{}: {}", p.account, p.phase),
                    };
                    if last.get(&p.account) != Some(&line) {
                        eprintln!("{line}");
                        last.insert(p.account.clone(), line);
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    })
}

pub fn print_summary(summary: &SyncSummary, json: bool) -> CliResult {
    // Whole on stderr too, where the table would clip what to set.
    for a in &summary.accounts {
        if let Some(fix) = &a.needs_attention {
            eprintln!("account {} needs attention: {fix}", a.account);
        }
    }
    if json {
        return output::json(summary);
    }
    let mut table = output::Table::new(vec![
        "ACCOUNT",
        "PROVIDER",
        "CAMPAIGNS",
        "LEADS",
        "THREADS",
        "MESSAGES",
        "NEW EVENTS",
        "WRITES",
        "REQUESTS",
        "RESULT",
    ]);
    for a in &summary.accounts {
        table.row(vec![
            a.account.clone(),
            a.provider.clone(),
            a.campaigns.to_string(),
            a.leads.to_string(),
            a.threads.to_string(),
            a.messages.to_string(),
            a.new_events.to_string(),
            a.writes.to_string(),
            a.requests.to_string(),
            match (&a.error, a.full_resync) {
                (Some(_), _) if a.needs_attention.is_some() => format!(
                    "needs attention: {}",
                    a.needs_attention.as_deref().unwrap_or_default()
                ),
                (Some(err), _) => format!("failed: {err}"),
                (None, true) => "ok (full resync)".into(),
                (None, false) => "ok".into(),
            },
        ]);
    }
    table.print()
}

pub fn sync(cli: &Cli, args: &SyncArgs) -> CliResult {
    if cli.attach.remote.is_some() {
        return match args.once {
            true => sync_through_door(cli, args),
            false => Err(CliError::usage(
                "a daemon syncs every account at its interval; `outpost --remote URL sync --once` \
                 asks it to sync now",
            )),
        };
    }
    let ctx = match LiveContext::open(cli, "cli") {
        Ok(ctx) => ctx,
        Err(refused) => return sync_by_holder(cli, args, refused),
    };
    if !ctx.engine.has_accounts() {
        return Err(CliError::usage(format!(
            "no accounts configured in {}; add an [accounts.<name>] section (see config.example.toml)",
            ctx.config.config_path().display()
        )));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let printer = progress_printer(&ctx.engine);
        let sync = SyncEngine::new(ctx.engine.clone());
        if args.once {
            let summary = sync.sync_all().await;
            // New replies reach the notify hook here too (no daemon needed).
            crate::notify::pass(&ctx.engine, &ctx.config.notify).await;
            ctx.engine.flush().await?;
            printer.abort();
            print_summary(&summary, args.json)?;
            if summary.failed() {
                return Err(CliError::runtime(
                    "some accounts failed to sync (see RESULT above)",
                ));
            }
            return Ok(());
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        });
        eprintln!("syncing every account at its interval; Ctrl-C stops");
        let notifier = tokio::spawn(crate::notify::run(
            ctx.engine.clone(),
            ctx.config.notify.clone(),
            shutdown.clone(),
        ));
        sync.run_pollers(shutdown).await;
        let _ = notifier.await;
        ctx.engine.flush().await?;
        printer.abort();
        Ok(())
    })
}

/// While another outpost holds the data dir, it syncs: `--once` asks it to
/// pull every account now and prints its summary; the continuous form has
/// nothing to add, since the holder polls every account itself.
fn sync_by_holder(cli: &Cli, args: &SyncArgs, refused: CliError) -> CliResult {
    let Some(holder) = super::door::serving_holder(cli)? else {
        return Err(refused);
    };
    if !args.once {
        println!(
            "nothing to do here: the {} (pid {}) holding the data dir syncs every account at its interval; `outpost sync --once` asks it to sync now",
            holder.mode, holder.pid
        );
        return Ok(());
    }
    sync_through_door(cli, args)
}

/// Asks the outpost holding the data (a local holder, or `--remote`) to
/// pull every account now, and prints its summary.
fn sync_through_door(cli: &Cli, args: &SyncArgs) -> CliResult {
    let door = super::door::CliDoor::open(cli, super::door::Reach::Cache)?;
    let summary = match door.call(crate::engine::door::Request::Sync)? {
        crate::engine::door::Response::Synced(summary) => summary,
        other => return Err(super::door::unexpected(other)),
    };
    print_summary(&summary, args.json)?;
    if summary.failed() {
        return Err(CliError::runtime(
            "some accounts failed to sync (see RESULT above)",
        ));
    }
    Ok(())
}

pub fn reply(cli: &Cli, args: &ReplyArgs) -> CliResult {
    let body = super::compose::read_body(args.body.as_ref(), args.body_file.as_ref())?;
    let attachments = args.compose.attachments()?;
    let door = super::door::CliDoor::open(cli, super::door::Reach::Providers)?;
    let request = crate::engine::door::Request::Reply {
        thread_key: args.thread_id.clone(),
        reply: ReplyDraft {
            text: body,
            route: args.via,
            cc: args.compose.cc.clone(),
            bcc: args.compose.bcc.clone(),
            reply_all: args.all,
            attachments,
            send_at: args.compose.send_at(&door)?,
            without_signature: args.compose.no_signature,
            ..ReplyDraft::default()
        },
    };
    let item = match door.call(request)? {
        crate::engine::door::Response::OutboxItem(item) => item,
        other => return Err(super::door::unexpected(other)),
    };
    super::compose::report(&door, &item, args.json, "reply")
}

pub fn auth(cli: &Cli, command: &AuthCommand) -> CliResult {
    let AuthCommand::Gmail(args) = command;
    let config = config::load_unresolved(&sources(cli))?;
    let gmail_accounts: Vec<&str> = config
        .accounts
        .values()
        .filter(|a| matches!(a.provider, ProviderSettings::Gmail(_)))
        .map(|a| a.name.as_str())
        .collect();
    let name = match (&args.account, gmail_accounts.as_slice()) {
        (Some(name), _) => name.clone(),
        (None, [only]) => only.to_string(),
        (None, []) => {
            return Err(CliError::usage(format!(
                "no Gmail account in {}; add [accounts.<name>] with provider = \"gmail\"",
                config.config_path().display()
            )));
        }
        (None, many) => {
            return Err(CliError::usage(format!(
                "several Gmail accounts ({}); pick one with --account",
                many.join(", ")
            )));
        }
    };
    let Some(account) = config.account(&name) else {
        return Err(CliError::usage(format!(
            "no account {name:?} in the config"
        )));
    };
    let ProviderSettings::Gmail(settings) = &account.provider else {
        return Err(CliError::usage(format!(
            "account {name:?} is not a Gmail account"
        )));
    };
    let mut params = OAuthParams::google(
        settings.client_id.clone(),
        settings.client_secret.resolve()?,
    );
    params.auth_url = settings.auth_url.clone();
    params.token_url = settings.token_url.clone();
    let store = TokenStore::configured(config.data_dir(), &name, settings.token_store)
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let rt = runtime()?;
    let tokens = rt.block_on(async {
        let mut out = std::io::stdout();
        gmail::login(params, args.no_browser, &mut out).await
    });
    let tokens = tokens.map_err(|e| CliError::runtime(e.to_string()))?;
    store
        .save(&tokens)
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let mut out = std::io::stdout();
    writeln!(out, "Tokens for {name} stored in {}", store.describe())?;
    Ok(())
}
