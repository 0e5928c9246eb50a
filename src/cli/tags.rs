//! `tag` and `tags`: the rep's own tags on conversations and leads
//! (engine/tags.rs).

use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table};
use super::{Cli, CliError, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::engine::parse_tag_changes;
use crate::model::TagOn;

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Add (+name) and remove (-name) tags on a conversation or a lead.
    Tag(TagArgs),
    /// Tags in use, with how many conversations and leads carry each.
    Tags(TagsArgs),
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// A conversation key as `inbox` prints it, or a lead's email.
    pub key: String,
    /// `+hot` adds hot, `-later` removes later (a name without a sign adds).
    #[arg(value_name = "+NAME|-NAME")]
    pub add: Vec<String>,
    /// A tag to remove (what `-NAME` after the key means).
    #[arg(long, value_name = "NAME")]
    pub remove: Vec<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// `outpost tag KEY +hot -later`: a `-later` after the key would read as
/// short flags, so it is spelled `--remove=later` before clap sees it.
pub fn spell_removals(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let Some(verb) = args.iter().position(|a| a == "tag") else {
        return args;
    };
    let mut key_seen = false;
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            if i <= verb {
                return arg;
            }
            let Some(text) = arg.to_str() else {
                return arg;
            };
            let removal = text
                .strip_prefix('-')
                .filter(|name| !name.is_empty() && !name.starts_with('-') && *name != "h");
            match removal {
                Some(name) if key_seen => format!("--remove={name}").into(),
                _ => {
                    key_seen |= !text.starts_with('-');
                    arg
                }
            }
        })
        .collect()
}

#[derive(Debug, Args)]
pub struct TagsArgs {
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn run(cli: &Cli, command: &Commands) -> CliResult {
    match command {
        Commands::Tag(args) => {
            let words: Vec<String> = args
                .add
                .iter()
                .cloned()
                .chain(args.remove.iter().map(|name| format!("-{name}")))
                .collect();
            let json = args.json.json;
            let (add, remove) = parse_tag_changes(&words).map_err(CliError::usage)?;
            let door = CliDoor::open(cli, Reach::Cache)?;
            let request = Request::Tag {
                key: args.key.clone(),
                add,
                remove,
            };
            let set = match door.call(request)? {
                Response::TagSet(set) => set,
                other => return Err(unexpected(other)),
            };
            if json {
                return output::json(&set);
            }
            let on = match set.target.on {
                TagOn::Conversation => format!("conversation {}", set.target.key),
                TagOn::Lead => format!("lead {}", set.target.key),
            };
            if set.tags.is_empty() {
                println!("No tags on {on}");
            } else {
                println!("Tags on {on}: {}", set.tags.join(" "));
            }
            Ok(())
        }
        Commands::Tags(args) => {
            let door = CliDoor::open(cli, Reach::Cache)?;
            let tags = match door.call(Request::Tags)? {
                Response::Tags(tags) => tags,
                other => return Err(unexpected(other)),
            };
            if args.json.json {
                return output::json(&tags);
            }
            if tags.is_empty() {
                println!("No tags yet; `outpost tag KEY +name` adds one.");
                return Ok(());
            }
            let mut table = Table::new(vec!["TAG", "CONVERSATIONS", "LEADS"]);
            for tag in &tags {
                table.row(vec![
                    tag.name.clone(),
                    tag.conversations.to_string(),
                    tag.leads.to_string(),
                ]);
            }
            table.print()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_after_the_key_is_spelled_as_a_flag() {
        let args = |words: &[&str]| {
            words
                .iter()
                .map(|w| w.into())
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert_eq!(
            spell_removals(args(&[
                "outpost", "tag", "gm/1", "+hot", "-later", "--json"
            ])),
            args(&["outpost", "tag", "gm/1", "+hot", "--remove=later", "--json"])
        );
        assert_eq!(
            spell_removals(args(&["outpost", "--json", "tag", "-h"])),
            args(&["outpost", "--json", "tag", "-h"])
        );
        assert_eq!(
            spell_removals(args(&["outpost", "inbox", "-x"])),
            args(&["outpost", "inbox", "-x"])
        );
    }
}
