//! `tasks` and `task add|done|skip`: the rep's to-do list, fed by sequence
//! task steps (which wait for it) and by hand.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table};
use super::sequences::parse_when;
use super::{Cli, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::model::{Task, TaskOutcome};

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Tasks due today and overdue (sequence task steps and your own).
    Tasks(TasksArgs),
    /// Add a task for a lead, or mark one done or skipped.
    #[command(subcommand)]
    Task(TaskCommand),
}

#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Every task: later ones and closed ones too.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// A task of your own for a lead.
    Add {
        #[arg(long, value_name = "EMAIL")]
        lead: String,
        #[arg(long, value_name = "T")]
        title: String,
        /// When it is due: RFC 3339 or YYYY-MM-DD (midnight UTC). Default: now.
        #[arg(long, value_name = "WHEN")]
        due: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Mark a task done; a sequence's next step then becomes due.
    Done(CloseArgs),
    /// Skip a task; a sequence's next step then becomes due.
    Skip(CloseArgs),
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Task id (or a unique prefix of 6+ characters).
    pub id: String,
    /// What happened, kept with the task.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn run(cli: &Cli, command: &Commands) -> CliResult {
    match command {
        Commands::Tasks(args) => list(cli, args),
        Commands::Task(TaskCommand::Add {
            lead,
            title,
            due,
            json,
        }) => {
            let due = due.as_deref().map(|d| parse_when("--due", d)).transpose()?;
            let door = CliDoor::open(cli, Reach::Cache)?;
            let request = Request::TaskAdd {
                lead: lead.clone(),
                title: title.clone(),
                due,
            };
            let task = answer(door.call(request)?)?;
            if json.json {
                return output::json(&task);
            }
            println!(
                "added task {} for {}, due {}",
                task.id,
                task.lead_email,
                utc(task.due_at)
            );
            Ok(())
        }
        Commands::Task(TaskCommand::Done(args)) => close(cli, args, TaskOutcome::Done),
        Commands::Task(TaskCommand::Skip(args)) => close(cli, args, TaskOutcome::Skipped),
    }
}

fn answer(response: Response) -> CliResult<Task> {
    match response {
        Response::Task(task) => Ok(task),
        other => Err(unexpected(other)),
    }
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn close(cli: &Cli, args: &CloseArgs, outcome: TaskOutcome) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let request = Request::TaskClose {
        id: args.id.clone(),
        outcome,
        note: args.note.clone(),
    };
    let task = answer(door.call(request)?)?;
    if args.json.json {
        return output::json(&task);
    }
    let next = if task.enrollment_id.is_some() {
        "; the sequence's next step is due now"
    } else {
        ""
    };
    println!(
        "{} {}: {} ({}){next}",
        outcome.as_str(),
        task.id,
        task.title,
        task.lead_email
    );
    Ok(())
}

fn list(cli: &Cli, args: &TasksArgs) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let now = door.clock().now();
    let tasks = match door.call(Request::Tasks { all: args.all })? {
        Response::Tasks(tasks) => tasks,
        other => return Err(unexpected(other)),
    };
    if args.json.json {
        return output::json(&tasks);
    }
    if tasks.is_empty() {
        println!(
            "no tasks due; `outpost task add --lead EMAIL --title T` adds one{}",
            if args.all {
                ""
            } else {
                " (--all lists later and closed ones)"
            }
        );
        return Ok(());
    }
    let mut table = Table::new(vec!["DUE (UTC)", "STATE", "ID", "LEAD", "TITLE", "FROM"]);
    for task in &tasks {
        let state = match task.outcome {
            Some(outcome) => outcome.as_str(),
            None if task.due_at < now => "overdue",
            None => "due",
        };
        let from = match (&task.enrollment_id, task.step) {
            (Some(enrollment), Some(step)) => format!("enrollment {enrollment}, step {}", step + 1),
            _ => "added by hand".into(),
        };
        table.row(vec![
            task.due_at.format("%Y-%m-%d %H:%M").to_string(),
            state.into(),
            task.id.clone(),
            task.lead_email.clone(),
            task.title.clone(),
            from,
        ]);
    }
    table.print()
}
