//! outpost: a keyboard-driven terminal inbox and sequence engine for SDRs.
//!
//! The crate is one core with several faces (TUI, daemon, subcommands); see
//! DESIGN.md in the project docs for the shape.

pub mod cli;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod daemon;
pub mod deliverability;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod model;
pub mod notify;
pub mod outbox;
pub mod providers;
pub mod replica;
pub mod sandbox;
pub mod sequences;
pub mod server;
pub mod services;
pub mod snippets;
pub mod store;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod triage;
pub mod tui;

/// The allocator the outpost binary (and its benchmarks) run with: the
/// scheduler's and the webhook writer's hot paths are dominated by many small
/// short-lived allocations, where mimalloc is markedly faster than glibc's.
pub type Allocator = mimalloc::MiMalloc;
