//! A webhook delivery the daemon acknowledged before applying it.
//!
//! When the webhook writer is busy, a delivery is written here (one small
//! record, then the flush) and answered `202`; the writer applies queued
//! deliveries in order as it catches up and removes each once applied. So a
//! burst is acknowledged at the speed of an append, and a crash between the
//! two leaves the delivery here for the next start. The delivery itself is
//! JSON (`ingest::Delivery`), so a queue left by one version of
//! outpost is read by the next.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedDelivery {
    /// Arrival order; keys sort by it.
    pub seq: u64,
    pub received_at: DateTime<Utc>,
    /// The delivery as JSON, its payloads' `secret_key` removed.
    pub delivery: String,
}

impl QueuedDelivery {
    pub fn key_for(seq: u64) -> String {
        format!("{seq:020}")
    }

    pub fn key(&self) -> String {
        Self::key_for(self.seq)
    }
}
