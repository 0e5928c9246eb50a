//! `attachment list` and `attachment save`: the files a conversation
//! received, their bytes from Gmail (engine/attachments.rs).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table};
use super::{Cli, CliError, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::engine::{AttachmentContent, AttachmentView, safe_file_name};

#[derive(Debug, Subcommand)]
pub enum AttachmentCommand {
    /// A conversation's attachments, numbered from 1.
    List {
        /// The conversation's key, as `inbox` prints it.
        key: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Save attachment N (all when N is left out) into DIR.
    Save(SaveArgs),
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// The conversation's key, as `inbox` prints it.
    pub key: String,
    /// Which attachment, from 1 (`attachment list` numbers them); all when left out.
    pub number: Option<usize>,
    /// The directory to save into (it must exist).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Replace a file of the same name.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// One file written, for `--json`.
#[derive(Debug, serde::Serialize)]
struct Saved {
    number: usize,
    path: PathBuf,
    bytes: usize,
}

pub fn run(cli: &Cli, command: &AttachmentCommand) -> CliResult {
    match command {
        AttachmentCommand::List { key, json } => {
            let door = CliDoor::open(cli, Reach::Cache)?;
            let list = list(&door, key)?;
            if json.json {
                return output::json(&list);
            }
            if list.is_empty() {
                println!("No attachments in {key}.");
                return Ok(());
            }
            let mut table = Table::new(vec!["N", "FILE", "TYPE", "SIZE", "FROM"]);
            for a in &list {
                table.row(vec![
                    a.number.to_string(),
                    a.filename.clone(),
                    a.mime_type.clone(),
                    a.size.to_string(),
                    a.from.clone(),
                ]);
            }
            table.print()
        }
        AttachmentCommand::Save(args) => save(cli, args),
    }
}

fn list(door: &CliDoor, key: &str) -> CliResult<Vec<AttachmentView>> {
    match door.call(Request::Attachments { key: key.into() })? {
        Response::Attachments(list) => Ok(list),
        other => Err(unexpected(other)),
    }
}

fn save(cli: &Cli, args: &SaveArgs) -> CliResult {
    if !args.to.is_dir() {
        return Err(CliError::usage(format!(
            "--to {}: no such directory",
            args.to.display()
        )));
    }
    if args.number == Some(0) {
        return Err(CliError::usage("attachments are numbered from 1"));
    }
    let door = CliDoor::open(cli, Reach::Providers)?;
    let numbers: Vec<usize> = match args.number {
        Some(n) => vec![n],
        None => list(&door, &args.key)?.iter().map(|a| a.number).collect(),
    };
    if numbers.is_empty() {
        return Err(CliError::usage(format!(
            "conversation {} has no attachments",
            args.key
        )));
    }
    // Every target is checked before any file is written.
    let mut contents = Vec::new();
    for number in numbers {
        let content = match door.call(Request::Attachment {
            key: args.key.clone(),
            number,
        })? {
            Response::Attachment(content) => content,
            other => return Err(unexpected(other)),
        };
        let path = args.to.join(safe_file_name(&content.filename, number));
        if path.exists() && !args.force {
            return Err(CliError::usage(format!(
                "{} exists; pass --force to replace it (nothing was saved)",
                path.display()
            )));
        }
        contents.push((path, content));
    }
    let mut saved = Vec::new();
    for (path, content) in contents {
        write_file(&path, &content, args.force)?;
        saved.push(Saved {
            number: content.number,
            bytes: content.data.len(),
            path,
        });
    }
    if args.json.json {
        return output::json(&saved);
    }
    for file in &saved {
        println!("Saved {} ({} bytes)", file.path.display(), file.bytes);
    }
    Ok(())
}

/// Writes a new file (or replaces one with `force`), never following a
/// name that appeared since the check.
fn write_file(path: &Path, content: &AttachmentContent, force: bool) -> CliResult {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options
        .open(path)
        .map_err(|e| CliError::runtime(format!("cannot write {}: {e}", path.display())))?;
    file.write_all(&content.data)
        .map_err(|e| CliError::runtime(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}
