//! `account add smartlead|gmail … | account list`: provider accounts added
//! through the engine (the daemon's API with `--remote`), their secret
//! sealed in the store; never printed, never answered back.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use secrecy::SecretString;

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, when};
use super::{Cli, CliError, CliResult, JsonFlag};
use crate::engine::credentials::{NewAccount, StoredAccountView, WireSecret};
use crate::engine::door::{Request, Response};
use crate::model::Provider;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Store a provider account's secret, sealed with $OUTPOST_SECRET_KEY
    /// where the data is held (the daemon, with --remote).
    #[command(subcommand)]
    Add(AddCommand),
    /// The accounts added this way (never their secrets).
    List(ListArgs),
}

#[derive(Debug, Subcommand)]
pub enum AddCommand {
    /// A Smartlead API key, read from an environment variable.
    Smartlead(SmartleadArgs),
    /// Gmail tokens, read from a token file (as `outpost auth gmail` writes it).
    Gmail(GmailArgs),
}

#[derive(Debug, Args)]
pub struct SmartleadArgs {
    #[arg(long)]
    pub name: String,
    /// The environment variable holding the API key (not the key itself:
    /// command lines are visible to other local users).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: String,
    /// Smartlead's API base URL (default: the public one).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct GmailArgs {
    #[arg(long)]
    pub name: String,
    /// The mailbox address.
    #[arg(long)]
    pub email: String,
    #[arg(long, value_name = "PATH")]
    pub token_file: PathBuf,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub json: JsonFlag,
}

pub fn run(cli: &Cli, command: &AccountCommand) -> CliResult {
    match command {
        AccountCommand::Add(AddCommand::Smartlead(args)) => {
            let key = std::env::var(&args.api_key_env)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "environment variable {} is not set or is empty; export the API key \
                         in it first",
                        args.api_key_env
                    ))
                })?;
            let new = NewAccount {
                name: args.name.clone(),
                provider: Provider::Smartlead,
                secret: WireSecret(SecretString::from(key.trim().to_string())),
                base_url: args.base_url.clone(),
                email: None,
            };
            add(cli, new, args.json.json)
        }
        AccountCommand::Add(AddCommand::Gmail(args)) => {
            let text = std::fs::read_to_string(&args.token_file).map_err(|e| {
                CliError::usage(format!(
                    "cannot read the token file {}: {e}",
                    args.token_file.display()
                ))
            })?;
            let new = NewAccount {
                name: args.name.clone(),
                provider: Provider::Gmail,
                secret: WireSecret(SecretString::from(text)),
                base_url: None,
                email: Some(args.email.clone()),
            };
            add(cli, new, args.json.json)
        }
        AccountCommand::List(args) => {
            let door = CliDoor::open(cli, Reach::Cache)?;
            let accounts = match door.call(Request::StoredAccounts)? {
                Response::StoredAccounts(list) => list,
                other => return Err(unexpected(other)),
            };
            output::listing(
                &accounts,
                args.json.json,
                "No account was added with `outpost account add`.",
                vec!["ACCOUNT", "PROVIDER", "OWNER", "UPDATED"],
                row,
            )
        }
    }
}

fn row(a: &StoredAccountView) -> Vec<String> {
    vec![
        a.name.clone(),
        a.provider.as_str().to_string(),
        a.owner.clone().unwrap_or_else(|| "(owner)".into()),
        when(Some(a.updated_at)),
    ]
}

fn add(cli: &Cli, new: NewAccount, json: bool) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let view = match door.call(Request::AccountAdd { account: new })? {
        Response::StoredAccount(view) => view,
        other => return Err(unexpected(other)),
    };
    if json {
        return output::json(&view);
    }
    println!(
        "account {} ({}) stored; its secret is sealed and will not be shown again",
        view.name,
        view.provider.as_str()
    );
    Ok(())
}
