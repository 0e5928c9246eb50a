//! `outpost --daemon [--listen ADDR]` and `outpost webhooks register`.

use std::net::SocketAddr;

use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use super::{Cli, CliError, CliResult, sources};
use crate::config::{self, ProviderSettings};
use crate::providers::smartlead::{CampaignId, WebhookUpsert};

/// The global flags that turn outpost into the headless daemon.
#[derive(Debug, Args, Clone, Default)]
pub struct DaemonFlags {
    /// Run headless: sync, sequences, outbox and the HTTP server (webhooks,
    /// tracking, unsubscribe, health, metrics, engine API).
    #[arg(long, global = true)]
    pub daemon: bool,
    /// Address the daemon listens on (default: [daemon] listen, 127.0.0.1:8790).
    #[arg(long, global = true, value_name = "ADDR", requires = "daemon")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Register the daemon's webhook URL on every campaign of a Smartlead account.
    Register(RegisterArgs),
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The Smartlead account (config name); optional when there is only one.
    #[arg(long)]
    pub account: Option<String>,
    /// The webhook URL (default: [daemon] public_url + /webhooks/smartlead[/token]).
    #[arg(long)]
    pub url: Option<url::Url>,
    /// Only this campaign (default: every campaign of the account).
    #[arg(long)]
    pub campaign: Option<i64>,
}

/// The event types outpost understands, all registered.
pub const EVENT_TYPES: &[&str] = &[
    "EMAIL_SENT",
    "FIRST_EMAIL_SENT",
    "EMAIL_OPEN",
    "EMAIL_LINK_CLICK",
    "EMAIL_REPLY",
    "EMAIL_BOUNCE",
    "LEAD_UNSUBSCRIBED",
    "LEAD_CATEGORY_UPDATED",
    "CAMPAIGN_STATUS_CHANGED",
    "UNTRACKED_REPLIES",
    "MANUAL_STEP_REACHED",
];

/// Runs the daemon in the foreground until SIGTERM/SIGINT.
pub fn run_daemon(cli: &Cli) -> CliResult {
    // Secrets are read per account: one that cannot be read sets that
    // account aside (shown in /health) instead of stopping the daemon.
    let config = config::load_unresolved(&sources(cli))?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    let _logs =
        crate::daemon::init_logging(&config).map_err(|e| CliError::runtime(e.to_string()))?;
    let runtime = super::live::runtime()?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(crate::daemon::cancel_on_signal(shutdown.clone()));
        crate::daemon::run(config, cli.daemon.listen, shutdown, None)
            .await
            .map_err(|e| CliError {
                code: e.exit_code(),
                message: e.to_string(),
            })
    })
}

pub fn webhooks(cli: &Cli, command: &WebhooksCommand) -> CliResult {
    let WebhooksCommand::Register(args) = command;
    // Only Smartlead is talked to: the data dir may be held meanwhile.
    let config = crate::config::load_unresolved(&super::sources(cli))?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    let providers =
        super::live::usable_providers(&config, std::sync::Arc::new(crate::clock::SystemClock))?;
    let smartlead = &providers.smartlead;
    let name = match &args.account {
        Some(name) => name.clone(),
        None => match smartlead.keys().collect::<Vec<_>>().as_slice() {
            [only] => (*only).clone(),
            [] => return Err(CliError::usage("no Smartlead account in the config")),
            _ => {
                return Err(CliError::usage(
                    "several Smartlead accounts are configured; pick one with --account",
                ));
            }
        },
    };
    let account = smartlead
        .get(&name)
        .ok_or_else(|| CliError::usage(format!("no Smartlead account {name:?} in the config")))?;
    let token = match config.account(&name).map(|a| &a.provider) {
        Some(ProviderSettings::Smartlead(s)) => s.webhook_token.clone(),
        _ => None,
    };
    let url = match &args.url {
        Some(url) => url.to_string(),
        None => {
            let base = config.daemon.public_url.as_ref().ok_or_else(|| {
                CliError::usage(
                    "set [daemon] public_url (the daemon's address as Smartlead sees it) or pass --url",
                )
            })?;
            let base = base.as_str().trim_end_matches('/');
            match &token {
                Some(t) => format!("{base}/webhooks/smartlead/{t}"),
                None => format!("{base}/webhooks/smartlead"),
            }
        }
    };
    let runtime = super::live::runtime()?;
    runtime.block_on(async {
        let categories: Vec<String> = account
            .client
            .categories()
            .await
            .map_err(|e| CliError::runtime(format!("cannot read the lead categories: {e}")))?
            .into_iter()
            .map(|c| c.name)
            .collect();
        let campaigns: Vec<i64> = match args.campaign {
            Some(id) => vec![id],
            None => account
                .client
                .list_campaigns(account.client_id)
                .await
                .map_err(|e| CliError::runtime(format!("cannot list campaigns: {e}")))?
                .into_iter()
                .map(|c| c.id.0)
                .collect(),
        };
        for id in campaigns {
            // Update ours if it is there (so re-running never duplicates it).
            let existing = account
                .client
                .webhooks(CampaignId(id))
                .await
                .map_err(|e| CliError::runtime(format!("campaign {id}: {e}")))?
                .into_iter()
                .find(|w| w.name == "outpost" || w.webhook_url == url)
                .map(|w| w.id);
            let hook = WebhookUpsert {
                id: existing,
                name: "outpost".into(),
                webhook_url: url.clone(),
                event_types: EVENT_TYPES.iter().map(|s| s.to_string()).collect(),
                categories: categories.clone(),
            };
            account
                .client
                .upsert_webhook(CampaignId(id), &hook)
                .await
                .map_err(|e| CliError::runtime(format!("campaign {id}: {e}")))?;
            println!(
                "campaign {id}: webhook {}",
                if existing.is_some() {
                    "updated"
                } else {
                    "registered"
                }
            );
        }
        Ok(())
    })
}
