//! What `reply` and `forward` share: recipients, send later, attachments
//! read from disk, the signature switch, and how a queued send is reported.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;

use super::door::{CliDoor, Reach, unexpected};
use super::output;
use super::{Cli, CliError, CliResult};
use crate::engine::ForwardDraft;
use crate::engine::door::{Door, Request, Response};
use crate::model::{OutboxItem, OutboxState, OutgoingAttachment};

/// Options every composed send takes.
#[derive(Debug, Args, Clone, Default)]
pub struct ComposeArgs {
    /// Copy someone in (repeatable, or a comma list).
    #[arg(long, value_name = "ADDR")]
    pub cc: Vec<String>,
    /// Copy someone in unseen by the others (repeatable, or a comma list).
    #[arg(long, value_name = "ADDR")]
    pub bcc: Vec<String>,
    /// Send later: RFC 3339, `tomorrow 9:00`, `mon`, `2h`… in `[ui] timezone`.
    #[arg(long, value_name = "WHEN")]
    pub at: Option<String>,
    /// Send a file along (repeatable; 25 MB in all). Needs a Gmail route.
    #[arg(long, value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// Leave the account's `signature` off this once.
    #[arg(long)]
    pub no_signature: bool,
}

impl ComposeArgs {
    /// The time `--at` names, in the rep's zone; a time passed is refused.
    pub fn send_at(&self, door: &CliDoor) -> CliResult<Option<DateTime<Utc>>> {
        let Some(text) = &self.at else {
            return Ok(None);
        };
        let now = door.clock().now();
        door.zone
            .parse(text, now)
            .map(Some)
            .map_err(|e| CliError::usage(format!("--at: {e}")))
    }

    /// The files of `--attach`, read whole; a missing file or more than
    /// Gmail takes is refused before anything is read.
    pub fn attachments(&self) -> CliResult<Vec<OutgoingAttachment>> {
        let mut total = 0u64;
        for path in &self.attach {
            let meta = std::fs::metadata(path).map_err(|e| {
                CliError::usage(format!("cannot read --attach {}: {e}", path.display()))
            })?;
            if !meta.is_file() {
                return Err(CliError::usage(format!(
                    "--attach {} is not a file",
                    path.display()
                )));
            }
            total += meta.len();
        }
        if let Some(why) = crate::model::attachments_too_large(total) {
            return Err(CliError::usage(why));
        }
        self.attach
            .iter()
            .map(|path| {
                OutgoingAttachment::from_file(path)
                    .map_err(|e| CliError::usage(format!("cannot read --attach {e}")))
            })
            .collect()
    }
}

/// Reads `--body`/`--body-file` (`-` for stdin).
pub fn read_body(body: Option<&String>, body_file: Option<&PathBuf>) -> CliResult<String> {
    if let Some(body) = body {
        return Ok(body.clone());
    }
    let Some(path) = body_file else {
        return Ok(String::new());
    };
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read --body-file {}: {e}", path.display())))
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("forward_body").args(["body", "body_file"])))]
pub struct ForwardArgs {
    /// Conversation key as `inbox` prints it.
    pub key: String,
    /// Whom to forward it to (repeatable, or a comma list).
    #[arg(long, value_name = "ADDR", required = true)]
    pub to: Vec<String>,
    /// A note above the forwarded message.
    #[arg(long)]
    pub body: Option<String>,
    /// Read the note from a file (`-` for stdin).
    #[arg(long, value_name = "F")]
    pub body_file: Option<PathBuf>,
    #[command(flatten)]
    pub compose: ComposeArgs,
    /// Print the outbox item as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn forward(cli: &Cli, args: &ForwardArgs) -> CliResult {
    let note = read_body(args.body.as_ref(), args.body_file.as_ref())?;
    let attachments = args.compose.attachments()?;
    let door = CliDoor::open(cli, Reach::Providers)?;
    let request = Request::Forward {
        key: args.key.clone(),
        forward: ForwardDraft {
            to: args.to.clone(),
            cc: args.compose.cc.clone(),
            bcc: args.compose.bcc.clone(),
            text: note,
            attachments,
            send_at: args.compose.send_at(&door)?,
            without_signature: args.compose.no_signature,
        },
        delay_secs: 0,
    };
    let item = match door.call(request)? {
        Response::OutboxItem(item) => item,
        other => return Err(unexpected(other)),
    };
    report(&door, &item, args.json, "forward")
}

/// What `reply` and `forward` print about the item they queued, and their
/// exit: 0 while it is sent, scheduled or still queued; 1 once refused for good.
pub fn report(door: &CliDoor, item: &OutboxItem, json: bool, what: &str) -> CliResult {
    let local = matches!(door.door, Door::Local(_));
    let report = QueuedReport::of(item, local, door);
    if json {
        let mut document = serde_json::to_value(item)?;
        document["outbox_id"] = serde_json::Value::from(item.id.as_str());
        document["state"] = serde_json::Value::from(report.state);
        document["outbox_state"] = serde_json::Value::from(item.state.as_str());
        document["reason"] = serde_json::to_value(&report.reason)?;
        document["next_attempt_at"] = serde_json::to_value(report.next_attempt_at)?;
        document["route"] = serde_json::Value::from(item.provider.as_str());
        // Names and sizes; the bytes are the files the rep gave.
        document["email"]["attachments"] = item
            .email
            .attachments
            .iter()
            .map(|a| {
                serde_json::json!({
                    "filename": a.filename,
                    "mime_type": a.mime_type,
                    "size": a.data.len(),
                })
            })
            .collect();
        output::json(&document)?;
    } else {
        println!(
            "{}: {} (outbox {}, via {})",
            report.state,
            item.email.subject,
            item.id,
            item.provider.title()
        );
        if let Some(reason) = &report.reason {
            println!("  {reason}");
        }
        if let Some(hint) = &report.hint {
            println!("  {hint}");
        }
    }
    if !item.attachments_left_out.is_empty() {
        eprintln!(
            "left out (Gmail no longer gives their contents): {}",
            item.attachments_left_out.join(", ")
        );
    }
    match item.state {
        // Refused for good (or undone): nothing will go out.
        OutboxState::Failed | OutboxState::Cancelled => Err(CliError::runtime(format!(
            "the {what} was not sent and will not be: {}",
            item.last_error
                .clone()
                .unwrap_or_else(|| item.state.as_str().to_string())
        ))),
        _ => Ok(()),
    }
}

/// `sent`, `scheduled` (waiting for the rep's time), `queued` (durably in
/// the outbox, going out later) or `failed`, and why.
struct QueuedReport {
    state: &'static str,
    reason: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    hint: Option<String>,
}

impl QueuedReport {
    fn of(item: &OutboxItem, local: bool, door: &CliDoor) -> QueuedReport {
        // With the data dir opened here, no worker is left running.
        let nobody_sends = || {
            local.then(|| {
                "nothing here keeps running to send it: the TUI, `outpost --daemon` or `outpost send --until-idle` sends it once it is due".to_string()
            })
        };
        let error = item.last_error.clone();
        if item.is_scheduled(door.clock().now()) {
            return QueuedReport {
                state: "scheduled",
                reason: Some(format!(
                    "goes out at {}; `outpost outbox cancel {}` calls it off",
                    door.zone.show(item.not_before),
                    item.id
                )),
                next_attempt_at: Some(item.not_before),
                hint: nobody_sends(),
            };
        }
        match item.state {
            OutboxState::Sent => QueuedReport {
                state: "sent",
                reason: None,
                next_attempt_at: None,
                hint: None,
            },
            OutboxState::Pending => QueuedReport {
                state: "queued",
                reason: Some(format!(
                    "not sent yet: {}; next try at {}",
                    error.as_deref().unwrap_or("waiting for its time"),
                    item.not_before.format("%Y-%m-%d %H:%M:%S UTC")
                )),
                next_attempt_at: Some(item.not_before),
                hint: nobody_sends(),
            },
            OutboxState::Sending => QueuedReport {
                state: "queued",
                reason: Some(format!(
                    "on its way: {}",
                    error
                        .as_deref()
                        .unwrap_or("the provider has not confirmed it yet")
                )),
                next_attempt_at: None,
                hint: nobody_sends(),
            },
            OutboxState::Failed | OutboxState::Cancelled => QueuedReport {
                state: if item.state == OutboxState::Failed {
                    "failed"
                } else {
                    "cancelled"
                },
                reason: error,
                next_attempt_at: None,
                hint: None,
            },
        }
    }
}
