//! The door's back entrance for the crate's own integration tests and
//! benches, which set up records and read what a command left behind
//! directly. Faces never use it (tests/layering.rs checks); it exists only
//! with the `testing` feature, which `cargo test` and `cargo bench` turn on
//! through the crate's dev-dependency on itself, so a product build never
//! has it.

use std::sync::Arc;

use crate::engine::Engine;
use crate::providers::registry::Providers;
use crate::store::Store;

/// The store behind `engine`.
pub fn store(engine: &Engine) -> &Store {
    engine.store()
}

/// The provider clients `engine` holds now.
pub fn providers(engine: &Engine) -> Arc<Providers> {
    engine.providers()
}
