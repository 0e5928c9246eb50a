//! The Engine: the one door to outpost's data. The TUI, the CLI and the
//! daemon's HTTP API all read and act through it; none of them touch sled or
//! a provider directly.
//!
//! Queries return plain serializable views so the same call can be printed as
//! a table, as `--json`, or sent over the daemon's API.

mod commands;
mod queries;
mod stats;

pub use commands::*;
pub use queries::*;
pub use stats::*;

use crate::clock::SharedClock;
use crate::store::{Change, Store};

#[derive(Clone, Debug)]
pub struct Engine {
    store: Store,
    clock: SharedClock,
}

impl Engine {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.store.subscribe()
    }
}
