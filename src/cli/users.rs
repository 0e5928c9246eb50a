//! `user token NAME | user list`: the users of a shared outpost and their
//! API tokens (a token is shown once; the store keeps only its hash); and
//! `assign KEY --to NAME | unassign KEY`: who a conversation is with.

use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, when};
use super::{Cli, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Mint a user's API token and print it once; it replaces the user's
    /// earlier token, which stops working.
    Token(TokenArgs),
    /// The configured users, their accounts, and whether each has a token.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// A user declared as a [users.NAME] section of the config.
    pub name: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn run(cli: &Cli, command: &UserCommand) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    match command {
        UserCommand::Token(args) => {
            let minted = match door.call(Request::UserToken {
                name: args.name.clone(),
            })? {
                Response::UserToken(minted) => minted,
                other => return Err(unexpected(other)),
            };
            if args.json.json {
                return output::json(&minted);
            }
            // The token alone on stdout, so a script can capture it.
            println!("{}", minted.token);
            eprintln!(
                "This is {}'s API token; it is shown only this once{}. Use it as \
                 `outpost --remote URL --token-file FILE …`.",
                minted.user,
                match minted.replaced {
                    true => " and replaces the earlier one, which no longer works",
                    false => "",
                }
            );
            Ok(())
        }
        UserCommand::List(args) => {
            let users = match door.call(Request::Users)? {
                Response::Users(users) => users,
                other => return Err(unexpected(other)),
            };
            output::listing(
                &users,
                args.json.json,
                "No users are configured; declare them as [users.NAME] sections.",
                vec!["USER", "ADMIN", "ACCOUNTS", "TOKEN"],
                |u| {
                    vec![
                        u.name.clone(),
                        if u.admin { "yes" } else { "no" }.to_string(),
                        u.accounts.join(", "),
                        match u.has_token {
                            true => format!("minted {}", when(u.token_created_at)),
                            false => "none".to_string(),
                        },
                    ]
                },
            )
        }
    }
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// The conversation's key (`outpost inbox` lists them).
    pub key: String,
    /// A [users.NAME] user who sees the conversation's account, or `nobody`.
    #[arg(long, value_name = "NAME")]
    pub to: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UnassignArgs {
    /// The conversation's key.
    pub key: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn assign(cli: &Cli, args: &AssignArgs) -> CliResult {
    let to = match args.to.trim() {
        "nobody" => None,
        name => Some(name.to_string()),
    };
    assign_to(cli, &args.key, to, args.json.json)
}

pub fn unassign(cli: &Cli, args: &UnassignArgs) -> CliResult {
    assign_to(cli, &args.key, None, args.json.json)
}

fn assign_to(cli: &Cli, key: &str, to: Option<String>, json: bool) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let assignment = match door.call(Request::Assign {
        key: key.to_string(),
        to,
    })? {
        Response::Assignment(assignment) => assignment,
        other => return Err(unexpected(other)),
    };
    if json {
        return output::json(&serde_json::json!({
            "key": key,
            "assigned_to": assignment.as_ref().map(|a| a.user.as_str()),
        }));
    }
    match assignment {
        Some(a) => println!("{key} is assigned to {}", a.user),
        None => println!("{key} is assigned to nobody"),
    }
    Ok(())
}
