//! Typed clients for the remote services outpost pulls from and sends through.
//!
//! `http` is the shared transport layer (user agent, timeouts, per-key rate
//! limits, retries, redaction, counters); each provider builds on it.

pub mod gmail;
pub mod http;
pub mod registry;
pub mod smartlead;
