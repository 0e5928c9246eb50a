//! `outbox list|cancel|retry`: what is waiting to be sent, what failed and
//! why, and the two things a rep may do about a send of their own.

use clap::{Args, Subcommand, ValueEnum};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table};
use super::{Cli, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
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

pub fn run(cli: &Cli, command: &OutboxCommand) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    match command {
        OutboxCommand::List(args) => list(&door, args),
        OutboxCommand::Cancel(target) => {
            let item = one_item(door.call(Request::OutboxCancel {
                id: target.id.clone(),
            })?)?;
            done(&item, target.json.json, "cancelled")
        }
        OutboxCommand::Retry(target) => {
            let item = one_item(door.call(Request::OutboxRetry {
                id: target.id.clone(),
            })?)?;
            done(
                &item,
                target.json.json,
                "queued again; `outpost send` or the daemon sends it",
            )
        }
    }
}

fn one_item(response: Response) -> CliResult<OutboxItem> {
    match response {
        Response::OutboxItem(item) => Ok(item),
        other => Err(unexpected(other)),
    }
}

fn done(item: &OutboxItem, json: bool, what: &str) -> CliResult {
    if json {
        return output::json(item);
    }
    println!(
        "{} to {} ({}): {what}",
        item.id,
        item.email.to.join(", "),
        item.email.subject
    );
    Ok(())
}

fn list(door: &CliDoor, args: &ListArgs) -> CliResult {
    let states: Vec<OutboxState> = if args.state.is_empty() {
        vec![
            OutboxState::Pending,
            OutboxState::Sending,
            OutboxState::Failed,
        ]
    } else {
        args.state.iter().map(|s| OutboxState::from(*s)).collect()
    };
    let items = match door.call(Request::OutboxList { states })? {
        Response::OutboxItems(items) => items,
        other => return Err(unexpected(other)),
    };
    if args.json.json {
        return output::json(&items);
    }
    let now = door.clock().now();
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
        // A send for later waits as the rep chose, not as a retry does.
        let state = match item.is_scheduled(now) {
            true => "scheduled",
            false => item.state.as_str(),
        };
        table.row(vec![
            item.id.chars().take(8).collect(),
            state.to_string(),
            item.account.clone(),
            item.email.to.join(", "),
            item.email.subject.clone(),
            door.zone.show(item.not_before),
            item.attempts.to_string(),
            why,
        ]);
    }
    table.print()
}
