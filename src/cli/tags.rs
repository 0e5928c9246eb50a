//! `tag` and `tags`: the rep's own tags on conversations and leads
//! (engine/tags.rs). Several keys, or `--search`, make one bulk change that
//! `outpost undo` reverts (engine/bulk.rs).

use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table};
use super::triage::KeysArgs;
use super::{Cli, CliError, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::engine::parse_tag_changes;
use crate::model::{BulkOp, TagOn};

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Add (+name) and remove (-name) tags on conversations or leads.
    Tag(TagArgs),
    /// Tags in use, with how many conversations and leads carry each.
    Tags(TagsArgs),
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Conversation keys as `inbox` prints them, or leads' emails; then
    /// `+hot` adds hot, `-later` removes later (a name without a sign adds).
    #[arg(value_name = "KEY... +NAME|-NAME", required_unless_present = "search")]
    pub words: Vec<String>,
    /// A tag to remove (what `-NAME` after the key means).
    #[arg(long, value_name = "NAME")]
    pub remove: Vec<String>,
    /// Every conversation this inbox search matches, instead of keys.
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub search: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// Splits `tag`'s words into keys and tag changes. The first word is a
/// key (`outpost tag KEY hot` tags KEY with hot, as it always has); so is
/// each next word that reads as one — a conversation key has a `/`, a
/// lead's email an `@` — until the first `+name`. The rest are tags.
fn split_keys(words: &[String]) -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut rest = words.iter();
    for word in rest.by_ref() {
        let key_like = keys.is_empty() || word.contains(['/', '@']);
        if word.starts_with('+') || !key_like {
            let tags = std::iter::once(word).chain(rest).cloned().collect();
            return (keys, tags);
        }
        keys.push(word.clone());
    }
    (keys, Vec::new())
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
            let (keys, adds) = match &args.search {
                Some(_) => (Vec::new(), args.words.clone()),
                None => split_keys(&args.words),
            };
            let words: Vec<String> = adds
                .into_iter()
                .chain(args.remove.iter().map(|name| format!("-{name}")))
                .collect();
            let json = args.json.json;
            let (add, remove) = parse_tag_changes(&words).map_err(CliError::usage)?;
            let door = CliDoor::open(cli, Reach::Cache)?;
            let [key] = keys.as_slice() else {
                // Several keys or a search: one change, one undo.
                let keys = KeysArgs {
                    keys,
                    search: args.search.clone(),
                    json: args.json.clone(),
                };
                return super::triage::bulk(&door, BulkOp::Tag { add, remove }, &keys);
            };
            let request = Request::Tag {
                key: key.clone(),
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
    fn keys_come_first_then_the_tags() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let split = |w: &[&str]| split_keys(&words(w));
        // One key, as always: a word without a sign is a tag.
        assert_eq!(split(&["gm/1", "hot"]), (words(&["gm/1"]), words(&["hot"])));
        assert_eq!(
            split(&["dana@acme.io", "+hot", "vip"]),
            (words(&["dana@acme.io"]), words(&["+hot", "vip"]))
        );
        // Several: each reads as a key until the first change.
        assert_eq!(
            split(&["gm/1", "sl/2", "dana@acme.io", "+hot", "q3/renewal"]),
            (
                words(&["gm/1", "sl/2", "dana@acme.io"]),
                words(&["+hot", "q3/renewal"])
            )
        );
        // Removals alone arrive as --remove, after the keys.
        assert_eq!(split(&["gm/1", "gm/2"]), (words(&["gm/1", "gm/2"]), vec![]));
    }

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
