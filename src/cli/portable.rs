//! `outpost export` and `outpost import`: the whole cache as JSON lines.
//! On a free data dir they stream; while a TUI or daemon holds it they go
//! through its door (the export in one answer, the import a few MB at a time).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use clap::Args;

use super::door::{CliDoor, Reach, unexpected};
use super::{Cli, CliError, CliResult};
use crate::engine::door::{Door, Request, Response};
use crate::store::portable::{PortableError, PortableSummary};

/// How much of an import goes to a holder in one request (its API takes
/// bodies up to a few times this).
const IMPORT_PART_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An export made by `outpost export` (`-` for stdin).
    pub file: PathBuf,
}

pub fn export(cli: &Cli, args: &ExportArgs) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(std::fs::File::create(path).map_err(
            |e| CliError::usage(format!("cannot write {}: {e}", path.display())),
        )?)),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let summary = match &door.door {
        Door::Local(engine) => engine.export_to(&mut out).map_err(failure)?,
        Door::Remote(_) => match door.call(Request::Export)? {
            Response::Exported { text, summary } => {
                out.write_all(text.as_bytes())?;
                summary
            }
            other => return Err(unexpected(other)),
        },
    };
    out.flush()?;
    eprintln!("exported {} records", summary.records);
    Ok(())
}

pub fn import(cli: &Cli, args: &ImportArgs) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let mut input: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(std::fs::File::open(&args.file).map_err(
            |e| CliError::usage(format!("cannot read {}: {e}", args.file.display())),
        )?))
    };
    let summary = match &door.door {
        Door::Local(engine) => engine.import_from(&mut input, 1).map_err(failure)?,
        Door::Remote(_) => import_in_parts(&door, &mut input)?,
    };
    for (kind, count) in &summary.by_kind {
        println!("{kind:<14} {count}");
    }
    println!("imported {} records", summary.records);
    Ok(())
}

/// Sends the export to the holder a part at a time, whole lines each.
fn import_in_parts(door: &CliDoor, input: &mut dyn BufRead) -> CliResult<PortableSummary> {
    let mut total = PortableSummary::default();
    let mut part = String::new();
    let mut first_line = 1u64;
    let mut lines_in_part = 0u64;
    loop {
        let read = input.read_line(&mut part)?;
        if read > 0 {
            lines_in_part += 1;
        }
        if (read == 0 || part.len() >= IMPORT_PART_BYTES) && !part.is_empty() {
            let request = Request::Import {
                text: std::mem::take(&mut part),
                first_line,
            };
            let summary = match door.call(request)? {
                Response::Imported(summary) => summary,
                other => return Err(unexpected(other)),
            };
            total.records += summary.records;
            for (kind, count) in summary.by_kind {
                *total.by_kind.entry(kind).or_default() += count;
            }
            first_line += lines_in_part;
            lines_in_part = 0;
        }
        if read == 0 {
            return Ok(total);
        }
    }
}

fn failure(err: PortableError) -> CliError {
    match err {
        PortableError::BadLine { .. } => CliError::usage(err.to_string()),
        PortableError::Store(e) => CliError::from(e),
        PortableError::Io(e) => CliError::from(e),
    }
}
