//! `archive`, `unarchive`, `snooze`, `read`, `unread`, `category`, `undo`,
//! `remind`, `reminders` and `reminder done`: the rep's own handling of
//! conversations (engine/triage.rs). The first six take several keys or a
//! search and make one bulk change that `undo` reverts (engine/bulk.rs).

use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table};
use super::{Cli, CliError, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::engine::{BulkTarget, InboxQuery, snippet};
use crate::model::BulkOp;

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Mark conversations done: out of the inbox until something new arrives.
    Archive(KeysArgs),
    /// Bring archived conversations back to the inbox.
    Unarchive(KeysArgs),
    /// Hide conversations until WHEN; a reply from the person wakes one early.
    Snooze(SnoozeArgs),
    /// Mark conversations read (in Gmail too).
    Read(KeysArgs),
    /// Mark conversations' replies unread again (in Gmail too).
    Unread(KeysArgs),
    /// Set the reply category of conversations (at Smartlead too).
    Category(CategoryArgs),
    /// Undo a bulk change: the latest, or the one ID names.
    Undo(UndoArgs),
    /// Be reminded of a conversation at WHEN.
    Remind(RemindArgs),
    /// Reminders not yet dismissed, soonest first.
    Reminders(RemindersArgs),
    /// Dismiss a reminder.
    #[command(subcommand)]
    Reminder(ReminderCommand),
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Conversation keys, as `inbox` prints them.
    #[arg(value_name = "KEY", required_unless_present = "search")]
    pub keys: Vec<String>,
    /// Every conversation this inbox search matches, instead of keys.
    #[arg(long, value_name = "QUERY", conflicts_with = "keys")]
    pub search: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct CategoryArgs {
    /// Conversation keys, then the category (`Interested`, "Meeting Request").
    #[arg(value_name = "KEY... NAME", required = true)]
    pub args: Vec<String>,
    /// Every conversation this inbox search matches, instead of keys.
    #[arg(long, value_name = "QUERY")]
    pub search: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The id a bulk command printed (or a unique start of it); default: the latest.
    pub id: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct SnoozeArgs {
    /// Conversation keys, as `inbox` prints them.
    #[arg(value_name = "KEY", required_unless_present = "search")]
    pub keys: Vec<String>,
    /// Every conversation this inbox search matches, instead of keys.
    #[arg(long, value_name = "QUERY", conflicts_with = "keys")]
    pub search: Option<String>,
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
    // Read marks go on to Gmail and categories to Smartlead from here.
    let reach = match command {
        Commands::Read(_) | Commands::Unread(_) | Commands::Category(_) | Commands::Undo(_) => {
            Reach::ProvidersIfAny
        }
        _ => Reach::Cache,
    };
    let door = CliDoor::open(cli, reach)?;
    let now = door.clock().now();
    let when = |text: &str| door.zone.parse(text, now).map_err(CliError::usage);
    match command {
        Commands::Archive(args) => bulk(&door, BulkOp::Archive, args),
        Commands::Unarchive(args) => bulk(&door, BulkOp::Unarchive, args),
        Commands::Read(args) => {
            bulk(&door, BulkOp::Read, args)?;
            door.push_read_marks();
            Ok(())
        }
        Commands::Unread(args) => {
            bulk(&door, BulkOp::Unread, args)?;
            door.push_read_marks();
            Ok(())
        }
        Commands::Snooze(args) => {
            let op = match &args.until {
                Some(text) => BulkOp::Snooze { until: when(text)? },
                None => BulkOp::Unsnooze,
            };
            let keys = KeysArgs {
                keys: args.keys.clone(),
                search: args.search.clone(),
                json: args.json.clone(),
            };
            bulk(&door, op, &keys)
        }
        Commands::Category(args) => {
            let (name, keys) = args.args.split_last().expect("clap requires one");
            if keys.is_empty() == args.search.is_none() {
                return Err(CliError::usage(
                    "give the conversations' keys then the category, or --search QUERY and \
                     the category (`outpost category KEY... NAME`)",
                ));
            }
            let keys = KeysArgs {
                keys: keys.to_vec(),
                search: args.search.clone(),
                json: args.json.clone(),
            };
            bulk(&door, BulkOp::Category { name: name.clone() }, &keys)
        }
        Commands::Undo(args) => {
            let report = match door.call(Request::Undo {
                id: args.id.clone(),
            })? {
                Response::Undone(report) => report,
                other => return Err(unexpected(other)),
            };
            if matches!(report.op, BulkOp::Read | BulkOp::Unread) {
                door.push_read_marks();
            }
            if args.json.json {
                return output::json(&report);
            }
            println!(
                "Undid {} ({}): {} restored",
                report.id,
                report.op.label(),
                count(report.restored.len())
            );
            for key in &report.restored {
                println!("  restored {key}");
            }
            for skip in &report.skipped {
                println!("  skipped {}: {}", skip.key, skip.reason);
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

/// Runs one bulk change and says what it did and how to undo it.
pub(super) fn bulk(door: &CliDoor, op: BulkOp, args: &KeysArgs) -> CliResult {
    let target = match &args.search {
        Some(search) => BulkTarget::Query {
            query: InboxQuery {
                search: Some(search.clone()),
                // What unarchive brings back is among the archived.
                archived: op == BulkOp::Unarchive,
                ..InboxQuery::default()
            },
        },
        None => BulkTarget::Keys {
            keys: args.keys.clone(),
        },
    };
    let report = match door.call(Request::Bulk {
        operation: op.clone(),
        target,
    })? {
        Response::Bulk(report) => report,
        other => return Err(unexpected(other)),
    };
    if args.json.json {
        return output::json(&report);
    }
    let done = match &op {
        BulkOp::Archive => "Archived".to_string(),
        BulkOp::Unarchive => "Back in the inbox:".to_string(),
        BulkOp::Snooze { until } => format!("Snoozed until {}:", door.zone.show(*until)),
        BulkOp::Unsnooze => "Snooze taken off".to_string(),
        BulkOp::Read => "Marked read".to_string(),
        BulkOp::Unread => "Marked unread".to_string(),
        BulkOp::Category { name } => format!("Category {name} set on"),
        BulkOp::Enroll { sequence } => format!("Enrolled in {sequence}:"),
        BulkOp::Pause => "Paused".to_string(),
        BulkOp::Tag { .. } => format!("{}:", op.label()),
    };
    match &report.id {
        Some(id) => println!(
            "{done} {} (undo: outpost undo {id})",
            count_keys(&report.changed)
        ),
        None => println!("{done} {}", count(0)),
    }
    if !report.unchanged.is_empty() {
        println!("  {} already so", count_keys(&report.unchanged));
    }
    for failed in &report.failed {
        println!("  not changed {}: {}", failed.key, failed.reason);
    }
    Ok(())
}

/// Keys counted by what they name: a lead's key is its email (tags,
/// enroll, pause), a conversation's has a `/`.
fn count_keys(keys: &[String]) -> String {
    let leads = keys.iter().filter(|k| !k.contains('/')).count();
    let plural = |n: usize, one: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {one}s"),
    };
    match (keys.len() - leads, leads) {
        (_, 0) => count(keys.len()),
        (0, leads) => plural(leads, "lead"),
        (conversations, leads) => format!(
            "{} and {}",
            plural(conversations, "conversation"),
            plural(leads, "lead")
        ),
    }
}

fn count(n: usize) -> String {
    match n {
        1 => "1 conversation".into(),
        n => format!("{n} conversations"),
    }
}
