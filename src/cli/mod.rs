//! The command line: parse, pick a face, run, map failures to exit codes.

mod accounts;
pub mod attach;
mod attachments;
mod completions;
mod compose;
mod daemon_cli;
mod demo;
mod doctor;
mod door;
mod error;
mod live;
pub(crate) mod logging;
mod mailbox;
mod migrate;
mod outbox;
mod output;
mod portable;
mod read;
mod send;
mod sequences;
mod snippets;
pub mod tags;
mod tasks;
mod triage;
mod users;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

pub use error::{CliError, CliResult};

use crate::clock::SystemClock;
use crate::config::{self, Config, ConfigSources};
use crate::engine::Engine;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "outpost",
    version,
    about = "A keyboard-driven terminal inbox and sequence engine for SDRs"
)]
pub struct Cli {
    /// Config file (default: $OUTPOST_CONFIG, else the platform config dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Data directory (default: $OUTPOST_DATA_DIR, else `data_dir` in the config,
    /// else the platform data dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub daemon: daemon_cli::DaemonFlags,
    #[command(flatten)]
    pub attach: attach::AttachFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replies across every account, newest first.
    Inbox(read::InboxArgs),
    /// One conversation with every message.
    Thread(read::ThreadArgs),
    /// Leads, filtered; every match unless --limit (so --json is a full export).
    Leads(read::LeadsArgs),
    /// One lead: details, enrollments and the activity timeline from both providers.
    Lead(read::LeadArgs),
    /// Campaign statistics: counts, rates and their definitions, daily series.
    Stats(read::StatsArgs),
    /// Pull every account now; progress on stderr, summary on stdout.
    Sync(live::SyncArgs),
    /// Answer a thread through the durable outbox (Smartlead or Gmail, from the thread).
    Reply(live::ReplyArgs),
    /// Pass a conversation on to someone new: `Fwd:` and the original below,
    /// from your Gmail mailbox.
    Forward(compose::ForwardArgs),
    /// Log in to a provider and store its tokens.
    #[command(subcommand)]
    Auth(live::AuthCommand),
    /// The Smartlead + Gmail + Google OAuth emulator alone, on loopback.
    Sandbox(demo::SandboxArgs),
    /// Run outpost against the built-in sandbox, no accounts needed.
    Demo(demo::DemoArgs),
    /// Check the config, credentials, reachability and the data dir.
    Doctor,
    /// Write every record in the cache as JSON lines.
    Export(portable::ExportArgs),
    /// Load an export back into the cache (records and indexes).
    Import(portable::ImportArgs),
    /// Queue due sequence steps and send what is due (a cron verb; no daemon needed).
    Send(send::SendArgs),
    /// What is waiting to be sent and what failed; cancel or retry a send of your own.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    #[command(flatten)]
    Sequences(sequences::Commands),
    #[command(flatten)]
    Triage(triage::Commands),
    #[command(flatten)]
    Tags(tags::Commands),
    #[command(flatten)]
    Tasks(tasks::Commands),
    /// Smartlead webhooks pointing at the daemon.
    #[command(subcommand)]
    Webhooks(daemon_cli::WebhooksCommand),
    /// Files a conversation received: list them, save them.
    #[command(subcommand)]
    Attachment(attachments::AttachmentCommand),
    /// Gmail mailboxes' bounce rates; resume one paused for bounces.
    #[command(subcommand)]
    Mailbox(mailbox::MailboxCommand),
    /// Canned replies in the snippets folder beside the config (NAME.md), by name.
    Snippets(snippets::SnippetsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff) on stdout.
    Man,
    /// Apply the team database's schema migrations ([store] backend = "postgres").
    Migrate,
    /// Users of a shared outpost: mint a user's API token, list users.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Assign a conversation to a user (`--to nobody` takes it off).
    Assign(users::AssignArgs),
    /// Take a conversation's assignment off.
    Unassign(users::UnassignArgs),
    /// Provider accounts added through the engine, their secrets sealed in the store.
    #[command(subcommand)]
    Account(accounts::AccountCommand),
}

impl Command {
    /// Whether the verb goes through the door, so `--remote` can take it to
    /// a daemon (the rest work on this machine: its config, its browser,
    /// its files).
    fn reaches_remote(&self) -> bool {
        !matches!(
            self,
            Command::Auth(_)
                | Command::Sandbox(_)
                | Command::Demo(_)
                | Command::Doctor
                | Command::Send(_)
                | Command::Webhooks(_)
                | Command::Snippets(_)
                | Command::Completions(_)
                | Command::Man
                | Command::Migrate
        )
    }
}

/// Options every data command shares.
#[derive(Debug, Args, Clone, Default)]
pub struct JsonFlag {
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Everything a command needs that comes from the config and the data dir.
pub struct Context {
    pub config: Config,
    pub engine: Engine,
}

impl Context {
    /// Loads the config without resolving secrets (reading the cache needs
    /// none) and opens the store.
    pub fn open(cli: &Cli, mode: &str) -> CliResult<Context> {
        let config = config::load_unresolved(&sources(cli))?;
        for warning in config.warnings() {
            eprintln!("warning: {warning}");
        }
        let store = Store::open_at(config.data_dir(), mode, &config.store_location()?)?;
        let engine = Engine::new(store, Arc::new(SystemClock))
            .with_settings(crate::engine::EngineSettings::from_config(&config));
        Ok(Context { config, engine })
    }
}

pub fn sources(cli: &Cli) -> ConfigSources {
    ConfigSources {
        config_path: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
    }
}

/// `outpost` alone: the full-screen client on the configured accounts (or
/// the first-run screen when there are none), or on a daemon's data when
/// `--remote` is given or a local daemon holds the data dir.
fn open_tui(cli: &Cli) -> CliResult<()> {
    let config = config::load_unresolved(&sources(cli))?;
    match attach::tui_target(&cli.attach, &config)? {
        attach::TuiTarget::Local => {
            let config_loaded = logging::since_start();
            let ctx = live::LiveContext::from_config(config, "tui")?;
            let store_opened = logging::since_start();
            logging::to_file(&ctx.config, ctx.config.data_dir());
            tracing::debug!(?config_loaded, ?store_opened, "startup: config and store");
            live::runtime()?.block_on(run_tui(ctx))
        }
        attach::TuiTarget::Remote { url, token, .. } => {
            for warning in config.warnings() {
                eprintln!("warning: {warning}");
            }
            live::runtime()?.block_on(attach::run_attached_tui(config, url, token))
        }
    }
}

/// The TUI with the background services beside it, until the rep quits.
pub(crate) async fn run_tui(ctx: live::LiveContext) -> CliResult<()> {
    logging::to_file(&ctx.config, ctx.config.data_dir());
    ctx.engine.checkpoint_on_close();
    let services = crate::services::Services::start(&ctx.engine, &ctx.config)
        .map_err(|e| CliError::runtime(e.to_string()))?;
    // Webhook deliveries a stopped daemon acknowledged and queued but had
    // not applied yet: this process holds the data dir now.
    let for_queue = ctx.engine.clone();
    tokio::task::spawn_blocking(
        move || match crate::ingest::apply_queue(&for_queue, |_| {}) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deliveries = n,
                "applied the webhook deliveries the daemon had queued"
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot apply the webhook deliveries the daemon had queued")
            }
        },
    );
    // Other outpost commands on this data dir go through this TUI meanwhile.
    let door = crate::server::DoorServer::start(
        &ctx.engine,
        &ctx.config,
        Some(services.sync.clone()),
        "tui",
    )
    .await;
    tracing::debug!(elapsed = ?logging::since_start(), "startup: services and engine door");
    let door = match door {
        Ok(door) => door,
        Err(e) => {
            services.stop(std::time::Duration::from_secs(3)).await;
            return Err(CliError {
                code: e.exit_code(),
                message: e.to_string(),
            });
        }
    };
    let result = crate::tui::run(
        ctx.engine.clone(),
        &ctx.config,
        crate::tui::TuiOptions::default(),
    )
    .await;
    door.stop(std::time::Duration::from_secs(2)).await;
    services.stop(std::time::Duration::from_secs(3)).await;
    ctx.engine.flush().await?;
    result.map_err(|e| CliError::runtime(e.to_string()))
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    logging::mark_start();
    // The TUI logs to a file and the daemon sets up its own logging.
    let interactive = matches!(cli.command, None | Some(Command::Demo(_)))
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if !interactive && !cli.daemon.daemon {
        logging::to_stderr(None);
    }
    let result = match &cli.command {
        _ if cli.daemon.daemon => daemon_cli::run_daemon(&cli),
        Some(command) if cli.attach.remote.is_some() && !command.reaches_remote() => {
            Err(CliError::usage(
                "--remote reaches a daemon's data: the TUI, or a verb that reads or changes \
                 it (inbox, thread, reply, leads, assign, …); this verb runs on this machine \
                 only, so drop --remote",
            ))
        }
        Some(Command::Inbox(args)) => read::inbox(&cli, args),
        Some(Command::Thread(args)) => read::thread(&cli, args),
        Some(Command::Leads(args)) => read::leads(&cli, args),
        Some(Command::Lead(args)) => read::lead(&cli, args),
        Some(Command::Stats(args)) => read::stats(&cli, args),
        Some(Command::Sync(args)) => live::sync(&cli, args),
        Some(Command::Reply(args)) => live::reply(&cli, args),
        Some(Command::Forward(args)) => compose::forward(&cli, args),
        Some(Command::Auth(command)) => live::auth(&cli, command),
        Some(Command::Sandbox(args)) => demo::sandbox(args),
        Some(Command::Demo(args)) => demo::demo(&cli, args),
        Some(Command::Doctor) => doctor::doctor(&cli),
        Some(Command::Export(args)) => portable::export(&cli, args),
        Some(Command::Import(args)) => portable::import(&cli, args),
        None => open_tui(&cli),
        Some(Command::Sequences(cmd)) => sequences::run(&cli, cmd),
        Some(Command::Triage(cmd)) => triage::run(&cli, cmd),
        Some(Command::Tags(cmd)) => tags::run(&cli, cmd),
        Some(Command::Tasks(cmd)) => tasks::run(&cli, cmd),
        Some(Command::Send(args)) => send::send(&cli, args),
        Some(Command::Outbox(command)) => outbox::run(&cli, command),
        Some(Command::Webhooks(command)) => daemon_cli::webhooks(&cli, command),
        Some(Command::Mailbox(command)) => mailbox::run(&cli, command),
        Some(Command::Snippets(args)) => snippets::snippets(&cli, args),
        Some(Command::Attachment(command)) => attachments::run(&cli, command),
        Some(Command::Completions(args)) => completions::completions(args),
        Some(Command::Man) => completions::man(),
        Some(Command::Migrate) => migrate::migrate(&cli),
        Some(Command::User(command)) => users::run(&cli, command),
        Some(Command::Assign(args)) => users::assign(&cli, args),
        Some(Command::Unassign(args)) => users::unassign(&cli, args),
        Some(Command::Account(command)) => accounts::run(&cli, command),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("outpost: {err}");
            err.code
        }
    }
}
