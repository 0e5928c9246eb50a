//! `outpost snippets`: the canned replies the composer offers, by name.

use clap::Args;

use super::output::{self, Table};
use super::{Cli, CliResult, JsonFlag, sources};
use crate::config;

#[derive(Debug, Args)]
pub struct SnippetsArgs {
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn snippets(cli: &Cli, args: &SnippetsArgs) -> CliResult {
    let config = config::load_unresolved(&sources(cli))?;
    let dir = crate::snippets::folder_for(config.config_path());
    let all =
        crate::snippets::load_all(&dir).map_err(|e| super::CliError::runtime(e.to_string()))?;
    if args.json.json {
        return output::json(&all);
    }
    if all.is_empty() {
        eprintln!(
            "no snippets yet: add files NAME.md to {} (template variables such as {{{{first_name}}}} allowed)",
            dir.display()
        );
        return Ok(());
    }
    let mut table = Table::new(vec!["NAME", "FIRST LINE"]);
    for snippet in &all {
        let first = snippet.text.lines().next().unwrap_or_default().to_string();
        table.row(vec![snippet.name.clone(), first]);
    }
    table.print()
}
