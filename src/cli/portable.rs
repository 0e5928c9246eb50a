//! `outpost export` and `outpost import`: the whole cache as JSON lines.

use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use clap::Args;

use super::{Cli, CliError, CliResult, Context};
use crate::store::portable::{self, PortableError};

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
    let ctx = Context::open(cli, "cli")?;
    let summary = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
            let mut out = BufWriter::new(file);
            let summary = portable::export(ctx.engine.store(), &mut out).map_err(failure)?;
            out.flush()?;
            summary
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            portable::export(ctx.engine.store(), &mut out).map_err(failure)?
        }
    };
    eprintln!("exported {} records", summary.records);
    Ok(())
}

pub fn import(cli: &Cli, args: &ImportArgs) -> CliResult {
    let ctx = Context::open(cli, "cli")?;
    let summary = if args.file.as_os_str() == "-" {
        let stdin = std::io::stdin();
        portable::import(ctx.engine.store(), &mut stdin.lock()).map_err(failure)?
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", args.file.display())))?;
        portable::import(ctx.engine.store(), &mut BufReader::new(file)).map_err(failure)?
    };
    for (kind, count) in &summary.by_kind {
        println!("{kind:<14} {count}");
    }
    println!("imported {} records", summary.records);
    Ok(())
}

fn failure(err: PortableError) -> CliError {
    match err {
        PortableError::BadLine { .. } => CliError::usage(err.to_string()),
        PortableError::Store(e) => CliError::from(e),
        PortableError::Io(e) => CliError::from(e),
    }
}
