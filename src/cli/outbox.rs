//! `outbox list|cancel|retry`: what is waiting to be sent, what failed and
//! why, and the two things a rep may do about a send of their own.

use clap::{Args, Subcommand, ValueEnum};

use super::output::{self, Table, when};
use super::{Cli, CliError, CliResult, Context, JsonFlag};
use crate::engine::CommandError;
use crate::model::{OutboxItem, OutboxState};

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Outbox items, oldest first: by default what is not sent yet or failed.
    List(ListArgs),
    /// Cancel a queued reply or email that has not left yet (a sequence
    /// step is paused or stopped through its enrollment instead).
    Cancel(Target),
    /// Queue a failed reply or email again (a sequence step is resumed
    /// through its enrollment instead).
    Retry(Target),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which items (repeatable); default: pending, sending and failed.
    #[arg(long, value_enum)]
    pub state: Vec<StateArg>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct Target {
    /// Outbox item id (or a unique prefix of 6+ characters).
    pub id: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Pending,
    Sending,
    Sent,
    Failed,
    Cancelled,
}

impl From<StateArg> for OutboxState {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Pending => OutboxState::Pending,
            StateArg::Sending => OutboxState::Sending,
            StateArg::Sent => OutboxState::Sent,
            StateArg::Failed => OutboxState::Failed,
            StateArg::Cancelled => OutboxState::Cancelled,
        }
    }
}

fn command_error(err: CommandError) -> CliError {
    match err {
        CommandError::NotFound(m) | CommandError::Invalid(m) => CliError::usage(m),
        CommandError::Store(s) => CliError::from(s),
    }
}

pub fn run(cli: &Cli, command: &OutboxCommand) -> CliResult {
    let ctx = Context::open(cli, "cli")?;
    match command {
        OutboxCommand::List(args) => list(&ctx, args),
        OutboxCommand::Cancel(target) => {
            let item = ctx
                .engine
                .find_outbox_item(&target.id)
                .map_err(command_error)?;
            if let Some(enrollment) = &item.enrollment_id {
                return Err(CliError::usage(format!(
                    "outbox item {} is a step of enrollment {enrollment}; pause or stop the \
                     enrollment instead (outpost enrollment pause {enrollment})",
                    item.id
                )));
            }
            if !ctx.engine.cancel_outbox(&item.id).map_err(command_error)? {
                return Err(CliError::usage(format!(
                    "outbox item {} is {}; only a send that has not left can be cancelled",
                    item.id,
                    item.state.as_str()
                )));
            }
            done(&ctx, &item.id, target.json.json, "cancelled")
        }
        OutboxCommand::Retry(target) => {
            let item = ctx
                .engine
                .find_outbox_item(&target.id)
                .map_err(command_error)?;
            ctx.engine.retry_outbox(&item.id).map_err(command_error)?;
            done(
                &ctx,
                &item.id,
                target.json.json,
                "queued again; `outpost send` or the daemon sends it",
            )
        }
    }
}

fn done(ctx: &Context, id: &str, json: bool, what: &str) -> CliResult {
    let item = ctx
        .engine
        .outbox_item(id)
        .map_err(command_error)?
        .ok_or_else(|| CliError::runtime(format!("outbox item {id} vanished")))?;
    if json {
        return output::json(&item);
    }
    println!(
        "{} to {} ({}): {what}",
        item.id,
        item.email.to.join(", "),
        item.email.subject
    );
    Ok(())
}

fn list(ctx: &Context, args: &ListArgs) -> CliResult {
    let states: Vec<OutboxState> = if args.state.is_empty() {
        vec![
            OutboxState::Pending,
            OutboxState::Sending,
            OutboxState::Failed,
        ]
    } else {
        args.state.iter().map(|s| OutboxState::from(*s)).collect()
    };
    let mut items: Vec<OutboxItem> = Vec::new();
    for state in states {
        items.extend(ctx.engine.outbox_in_state(state).map_err(command_error)?);
    }
    items.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    if args.json.json {
        return output::json(&items);
    }
    if items.is_empty() {
        println!("The outbox has nothing in those states.");
        return Ok(());
    }
    let mut table = Table::new(vec![
        "ID",
        "STATE",
        "ACCOUNT",
        "TO",
        "SUBJECT",
        "NOT BEFORE",
        "TRIES",
        "WHY",
    ]);
    for item in &items {
        let why = match (&item.enrollment_id, &item.step) {
            (Some(enrollment), Some(step)) => format!("step {} of {enrollment}", step + 1),
            _ => String::new(),
        };
        let why = match &item.last_error {
            Some(error) if why.is_empty() => error.clone(),
            Some(error) => format!("{why}: {error}"),
            None => why,
        };
        table.row(vec![
            item.id.chars().take(8).collect(),
            item.state.as_str().to_string(),
            item.account.clone(),
            item.email.to.join(", "),
            item.email.subject.clone(),
            when(Some(item.not_before)),
            item.attempts.to_string(),
            why,
        ]);
    }
    table.print()
}
