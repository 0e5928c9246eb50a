//! How a CLI verb reaches the data: through the one door. The verb opens the
//! data dir itself when it is free; when a TUI or a daemon holds it (sled is
//! one-process) and serves the engine API, the same request goes to that
//! process instead of being refused.

use std::sync::Arc;

use super::{Cli, CliError, CliResult, sources};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, Config};
use crate::engine::door::{Door, DoorError, ErrorKind, Request, Response};
use crate::engine::remote::RemoteEngine;
use crate::engine::{Engine, EngineSettings};
use crate::providers::registry::{ProviderSetupError, Providers};
use crate::store::{LockInfo, Store, StoreError};

impl From<DoorError> for CliError {
    fn from(err: DoorError) -> Self {
        match err.kind {
            ErrorKind::NotFound | ErrorKind::Invalid | ErrorKind::Forbidden => {
                CliError::usage(err.message)
            }
            ErrorKind::Runtime => CliError::runtime(err.message),
        }
    }
}

/// Which providers the verb needs on a local open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The cache alone (no secret is resolved).
    Cache,
    /// The providers too (a reply is sent at once).
    Providers,
    /// The providers when they can be built, else the cache alone: for
    /// verbs that only look something up from a provider (the preflight).
    ProvidersIfAny,
}

/// A door and the runtime its requests run on.
pub struct CliDoor {
    pub door: Door,
    runtime: tokio::runtime::Runtime,
    /// The rep's time zone, for times they type and read.
    pub zone: crate::triage::RepZone,
}

impl CliDoor {
    /// Opens the data dir, or the engine API of the process that holds it.
    pub fn open(cli: &Cli, reach: Reach) -> CliResult<CliDoor> {
        let config = config::load_unresolved(&sources(cli))?;
        let runtime = super::live::runtime()?;
        let zone = crate::triage::RepZone::from_config(&config);
        // `--remote`: the daemon's data, as the token's user; this
        // machine's config gives the time zone only.
        if let Some(remote) = super::attach::remote_door(&cli.attach)? {
            return Ok(CliDoor {
                door: Door::Remote(remote),
                runtime,
                zone,
            });
        }
        for warning in config.warnings() {
            eprintln!("warning: {warning}");
        }
        let door = match Store::open_at(config.data_dir(), "cli", &config.store_location()?) {
            Ok(store) => Door::Local(local_engine(&config, store, reach)?),
            Err(locked @ StoreError::Locked { .. }) => match crate::daemon::serving_holder(&config)
            {
                Some((holder, token)) => Door::Remote(holder_engine(&holder, token)?),
                // The holder serves no door (an older outpost, a crash leftover): refuse as before.
                None => return Err(locked.into()),
            },
            Err(other) => return Err(other.into()),
        };
        Ok(CliDoor {
            door,
            runtime,
            zone,
        })
    }

    /// Runs one request to its answer; a local engine's writes are on disk after.
    pub fn call(&self, request: Request) -> CliResult<Response> {
        self.runtime.block_on(async {
            let answer = self.door.execute(request).await;
            self.door.flush().await?;
            Ok(answer?)
        })
    }

    /// Takes the read marks this process left to Gmail now (a holder of
    /// the data dir pushes its own on its timer); how many got there.
    pub fn push_read_marks(&self) -> usize {
        match &self.door {
            Door::Local(engine) => self
                .runtime
                .block_on(crate::sync::read_state::push_all(engine)),
            Door::Remote(_) => 0,
        }
    }

    /// The clock of this process, for defaults the verb shows (an
    /// enrollment's start): the same wall clock the holder reads.
    pub fn clock(&self) -> SharedClock {
        match &self.door {
            Door::Local(engine) => engine.clock().clone(),
            Door::Remote(_) => Arc::new(SystemClock),
        }
    }
}

fn local_engine(config: &Config, store: Store, reach: Reach) -> CliResult<Engine> {
    let clock: SharedClock = Arc::new(SystemClock);
    let providers = match reach {
        Reach::Cache => Providers::default(),
        Reach::Providers => {
            let providers = Providers::from_config(config, config.data_dir(), clock.clone())
                .map_err(|e| match e {
                    ProviderSetupError::Config(c) => CliError::from(c),
                    other => CliError::runtime(other.to_string()),
                })?;
            providers.require_one_usable(config)?;
            providers
        }
        Reach::ProvidersIfAny => {
            Providers::from_config(config, config.data_dir(), clock.clone()).unwrap_or_default()
        }
    };
    let engine = Engine::with_providers(store, clock, Arc::new(providers))
        .with_settings(EngineSettings::from_config(config));
    // Webhook deliveries a stopped daemon acknowledged and queued but had
    // not applied yet: this process holds the data dir now, so what it
    // reads includes them.
    let progress = |n: usize| {
        eprint!("\rapplying the webhook deliveries the daemon queued before it stopped: {n}");
    };
    match crate::ingest::apply_queue(&engine, progress) {
        Ok(0) => {}
        Ok(_) => eprintln!(),
        Err(e) => {
            return Err(CliError::runtime(format!(
                "cannot apply the webhook deliveries the daemon queued: {e}"
            )));
        }
    }
    Ok(engine)
}

fn holder_engine(holder: &LockInfo, token: secrecy::SecretString) -> CliResult<RemoteEngine> {
    let url = holder.api_url.as_deref().unwrap_or_default();
    RemoteEngine::new(url, token).map_err(|e| {
        CliError::runtime(format!(
            "the {} (pid {}) holding the data dir advertises a bad engine API address: {e}",
            holder.mode, holder.pid
        ))
    })
}

/// The process that holds the data dir and serves the door there, if one does.
pub fn serving_holder(cli: &Cli) -> CliResult<Option<LockInfo>> {
    let config = config::load_unresolved(&sources(cli))?;
    Ok(crate::daemon::serving_holder(&config).map(|(holder, _)| holder))
}

/// The answer was of another kind than the request asks for.
pub fn unexpected(response: Response) -> CliError {
    DoorError::unexpected(&response).into()
}
