//! `mailbox list|resume`: each Gmail mailbox's bounce rate, and resuming one
//! its bounce rate paused (it sends no sequence steps until then; replies
//! still go).

use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table, when};
use super::{Cli, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::engine::{MailboxBounces, rate_text};

#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Sends, hard and soft bounces, bounce rate and pause of each Gmail mailbox.
    List(ListArgs),
    /// Let a mailbox paused for bounces send sequence steps again.
    Resume(ResumeArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The mailbox address (or its account's name).
    pub mailbox: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn run(cli: &Cli, command: &MailboxCommand) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    match command {
        MailboxCommand::List(args) => {
            let mailboxes = match door.call(Request::MailboxBounces)? {
                Response::Mailboxes(list) => list,
                other => return Err(unexpected(other)),
            };
            if args.json.json {
                return output::json(&mailboxes);
            }
            if mailboxes.is_empty() {
                println!("No Gmail mailbox is synced yet; `outpost sync` reads them.");
                return Ok(());
            }
            let mut table = Table::new(vec![
                "MAILBOX", "ACCOUNT", "SENT", "HARD", "SOFT", "RATE", "STATE",
            ]);
            for m in &mailboxes {
                table.row(vec![
                    m.mailbox.clone(),
                    m.account.clone(),
                    m.sends.to_string(),
                    m.hard_bounces.to_string(),
                    m.soft_bounces.to_string(),
                    rate_text(m.bounce_rate),
                    state_text(m),
                ]);
            }
            table.print()
        }
        MailboxCommand::Resume(args) => {
            let mailbox = match door.call(Request::MailboxResume {
                mailbox: args.mailbox.clone(),
            })? {
                Response::Mailbox(m) => m,
                other => return Err(unexpected(other)),
            };
            if args.json.json {
                return output::json(&mailbox);
            }
            println!(
                "{} resumed (bounce rate {}); it sends sequence steps again, and pauses again on a new hard bounce while the rate stays high",
                mailbox.mailbox,
                rate_text(mailbox.bounce_rate)
            );
            Ok(())
        }
    }
}

/// "paused since …" or "sending".
pub fn state_text(m: &MailboxBounces) -> String {
    if m.paused {
        format!("paused since {}", when(m.paused_at))
    } else {
        "sending".into()
    }
}
