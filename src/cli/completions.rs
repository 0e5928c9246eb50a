//! `outpost completions SHELL` and `outpost man`: both generated from the
//! same clap definitions the parser uses, so they cannot drift from it.

use clap::{Args, CommandFactory};

use super::{Cli, CliResult};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn completions(args: &CompletionsArgs) -> CliResult {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    clap_complete::generate(
        args.shell,
        &mut command,
        name,
        &mut std::io::stdout().lock(),
    );
    Ok(())
}

/// The man page as roff: name, synopsis, global options and every
/// subcommand with its one-line summary (`outpost help VERB` has the rest).
pub fn man() -> CliResult {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
    Ok(())
}
