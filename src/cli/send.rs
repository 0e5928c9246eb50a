//! `outpost send [--until-idle]`: the scheduler and the outbox worker without a
//! daemon (a cron verb). Interrupted sends are reconciled first, then due
//! steps are queued and due items sent; with `--until-idle` that repeats
//! until nothing is due now.

use clap::Args;
use serde::Serialize;

use super::live::{LiveContext, runtime};
use super::output;
use super::{Cli, CliError, CliResult};
use crate::model::{OutboxItem, OutboxState};
use crate::outbox::OutboxWorker;
use crate::sequences::{SchedulerConfig, webhook_client};

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Keep going until nothing is due, then exit (default: one pass).
    #[arg(long)]
    pub until_idle: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct SendSummary {
    /// Interrupted sends resolved before anything else.
    pub reconciled: usize,
    /// Outbox items the scheduler wrote.
    pub queued: usize,
    pub sent: usize,
    pub failed: usize,
    /// Items that were tried and will be tried again later.
    pub retrying: usize,
    pub passes: usize,
    /// Accounts set aside for a secret the rep must fix: their due mail
    /// waits, everyone else's went out.
    pub needs_attention: Vec<crate::providers::registry::AccountAttention>,
}

impl SendSummary {
    fn count(&mut self, handled: &[OutboxItem]) {
        for item in handled {
            match item.state {
                OutboxState::Sent => self.sent += 1,
                OutboxState::Failed => self.failed += 1,
                _ => self.retrying += 1,
            }
        }
    }
}

/// More passes than this means something keeps itself due; stop and say so.
const MAX_PASSES: usize = 100_000;

pub fn send(cli: &Cli, args: &SendArgs) -> CliResult {
    let ctx = match LiveContext::open(cli, "send") {
        Ok(ctx) => ctx,
        Err(refused) => return already_sending(cli, args, refused),
    };
    let scheduler = ctx
        .engine
        .scheduler(SchedulerConfig::from_config(&ctx.config)?);
    let worker = OutboxWorker::new(ctx.engine.clone());
    let clock = ctx.engine.clock().clone();
    let client = webhook_client();
    let summary = runtime()?.block_on(async {
        let mut summary = SendSummary {
            reconciled: worker.reconcile().await?.len(),
            ..SendSummary::default()
        };
        loop {
            summary.passes += 1;
            let report = scheduler.tick(clock.now())?;
            summary.queued += report.queued.len();
            scheduler
                .deliver_webhooks(&client, &report.webhooks, &clock, &tokio_util::sync::CancellationToken::new())
                .await;
            let handled = worker.send_due().await?;
            summary.count(&handled);
            // Retries wait for their backoff, so only real progress keeps the loop going.
            let progressed = !report.queued.is_empty()
                || report.more
                || handled.iter().any(|i| i.state != OutboxState::Pending);
            let due_now = scheduler
                .next_due_at()?
                .is_some_and(|at| at <= clock.now());
            if !args.until_idle || !(progressed || due_now) {
                break;
            }
            if summary.passes >= MAX_PASSES {
                return Err(CliError::runtime(
                    "outpost send stopped after too many passes; something stays due (see `outpost plan`)",
                ));
            }
        }
        ctx.engine.flush().await?;
        Ok::<_, CliError>(summary)
    })?;
    let mut summary = summary;
    summary.needs_attention = ctx.engine.accounts_needing_attention();
    if args.json {
        output::json(&summary)?;
    } else {
        println!(
            "sent {}, failed {}, retrying later {}, queued {}, reconciled {}",
            summary.sent, summary.failed, summary.retrying, summary.queued, summary.reconciled
        );
    }
    super::live::attention_exit(&summary.needs_attention, "its due mail waits")
}

/// What the process holding the data dir does instead: a TUI or a daemon
/// runs the scheduler and the outbox worker itself, so a second pass here
/// would only race it. Any other failure (or a holder that serves no door)
/// is reported as it was.
fn already_sending(cli: &Cli, args: &SendArgs, refused: CliError) -> CliResult {
    let Some(holder) = super::door::serving_holder(cli)? else {
        return Err(refused);
    };
    if args.json {
        return output::json(&serde_json::json!({
            "sent_by": holder.mode,
            "pid": holder.pid,
        }));
    }
    println!(
        "nothing to do here: the {} (pid {}) holding the data dir queues due steps and sends them itself",
        holder.mode, holder.pid
    );
    Ok(())
}
