//! `archive`, `unarchive`, `snooze`, `remind`, `reminders` and `reminder
//! done`: the rep's own handling of conversations (engine/triage.rs).

use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table};
use super::{Cli, CliError, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::engine::snippet;
use crate::model::Triage;

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Mark a conversation done: out of the inbox until something new arrives.
    Archive(KeyArgs),
    /// Bring an archived conversation back to the inbox.
    Unarchive(KeyArgs),
    /// Hide a conversation until WHEN; a reply from the person wakes it early.
    Snooze(SnoozeArgs),
    /// Be reminded of a conversation at WHEN.
    Remind(RemindArgs),
    /// Reminders not yet dismissed, soonest first.
    Reminders(RemindersArgs),
    /// Dismiss a reminder.
    #[command(subcommand)]
    Reminder(ReminderCommand),
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The conversation's key, as `inbox` prints it.
    pub key: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct SnoozeArgs {
    pub key: String,
    /// RFC 3339, a date and time, `tomorrow 9:00`, `mon`, `16:30`, `2d`, `3h`,
    /// `later`; in `[ui] timezone` (default: the system's).
    #[arg(long, value_name = "WHEN", required_unless_present = "clear")]
    pub until: Option<String>,
    /// Take the snooze off.
    #[arg(long, conflicts_with = "until")]
    pub clear: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct RemindArgs {
    pub key: String,
    /// When, as for `snooze --until`.
    #[arg(long, value_name = "WHEN")]
    pub at: String,
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct RemindersArgs {
    /// Dismissed ones too.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum ReminderCommand {
    /// Dismiss a reminder (its id, or a unique start of it).
    Done { id: String },
}

pub fn run(cli: &Cli, command: &Commands) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let now = door.clock().now();
    let when = |text: &str| door.zone.parse(text, now).map_err(CliError::usage);
    match command {
        Commands::Archive(args) | Commands::Unarchive(args) => {
            let archived = matches!(command, Commands::Archive(_));
            let request = Request::Archive {
                key: args.key.clone(),
                archived,
            };
            let triage = triage(door.call(request)?)?;
            if args.json.json {
                return output::json(&triage);
            }
            println!(
                "{} {}",
                if archived {
                    "Archived"
                } else {
                    "Back in the inbox:"
                },
                triage.conversation
            );
            Ok(())
        }
        Commands::Snooze(args) => {
            let until = match &args.until {
                Some(text) => Some(when(text)?),
                None => None,
            };
            let request = Request::Snooze {
                key: args.key.clone(),
                until,
            };
            let triage = triage(door.call(request)?)?;
            if args.json.json {
                return output::json(&triage);
            }
            match triage.snoozed_until {
                Some(until) => println!(
                    "Snoozed {} until {}",
                    triage.conversation,
                    door.zone.show(until)
                ),
                None => println!("Snooze taken off {}", triage.conversation),
            }
            Ok(())
        }
        Commands::Remind(args) => {
            let request = Request::Remind {
                key: args.key.clone(),
                at: when(&args.at)?,
                note: args.note.clone(),
            };
            let reminder = match door.call(request)? {
                Response::Reminder(r) => r,
                other => return Err(unexpected(other)),
            };
            if args.json.json {
                return output::json(&reminder);
            }
            println!(
                "Reminder {} at {} for {}",
                reminder.id,
                door.zone.show(reminder.at),
                reminder.conversation
            );
            Ok(())
        }
        Commands::Reminders(args) => {
            let list = match door.call(Request::Reminders { all: args.all })? {
                Response::Reminders(list) => list,
                other => return Err(unexpected(other)),
            };
            if args.json.json {
                return output::json(&list);
            }
            if list.is_empty() {
                println!("No reminders.");
                return Ok(());
            }
            let mut table = Table::new(vec!["ID", "WHEN", "", "WHO", "SUBJECT", "NOTE", "KEY"]);
            for view in &list {
                let r = &view.reminder;
                let mark = if r.done {
                    "done"
                } else if view.due {
                    "DUE"
                } else {
                    ""
                };
                table.row(vec![
                    r.id.clone(),
                    door.zone.show(r.at),
                    mark.into(),
                    view.name.clone(),
                    snippet(&view.subject, 40),
                    snippet(r.note.as_deref().unwrap_or(""), 40),
                    r.conversation.clone(),
                ]);
            }
            table.print()
        }
        Commands::Reminder(ReminderCommand::Done { id }) => {
            match door.call(Request::ReminderDone { id: id.clone() })? {
                Response::Reminder(r) => println!("Dismissed {}", r.id),
                other => return Err(unexpected(other)),
            }
            Ok(())
        }
    }
}

fn triage(response: Response) -> CliResult<Triage> {
    match response {
        Response::Triage(t) => Ok(t),
        other => Err(unexpected(other)),
    }
}
