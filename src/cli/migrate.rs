//! `outpost migrate`: brings the team database's schema up to this build.
//! Every open does the same; running it first (a deploy step) keeps the
//! replicas' starts quick and shows what changed.

use super::{Cli, CliError, CliResult, sources};
use crate::config::{self, StoreBackend};
use crate::store::{Location, POSTGRES_MIGRATIONS, Store};
use secrecy::ExposeSecret;

pub fn migrate(cli: &Cli) -> CliResult<()> {
    let config = config::load_unresolved(&sources(cli))?;
    if config.store.backend == StoreBackend::Sled {
        println!(
            "nothing to do: the embedded cache in {} migrates itself when it is opened",
            config.data_dir().display()
        );
        return Ok(());
    }
    let Location::Postgres(url) = config.store_location()? else {
        return Err(CliError::usage("[store] names no database URL"));
    };
    let applied = Store::migrate_postgres(url.expose_secret())?;
    let latest = POSTGRES_MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    for (version, describe, _) in POSTGRES_MIGRATIONS
        .iter()
        .filter(|m| applied.contains(&m.0))
    {
        println!("applied {version}: {describe}");
    }
    println!("the database is at schema {latest}");
    Ok(())
}
