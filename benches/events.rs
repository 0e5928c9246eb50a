//! What one new event costs a lead as its history grows: one lead receives
//! 64-event batches (a webhook writer's batch into one conversation) until
//! it holds `OUTPOST_BENCH_EVENTS` events (default 32,000), and each fifth
//! of the run is timed. Flat rounds mean the record rewritten per event
//! stays bounded (older events are sealed into write-once pages).
//!
//! Run: `cargo bench --bench events`.

// The allocator the outpost binary ships with.
#[global_allocator]
static ALLOCATOR: outpost::Allocator = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration};
use outpost::clock::FakeClock;
use outpost::engine::Engine;
use outpost::model::*;
use outpost::store::Store;

const BATCH: usize = 64;
const ROUNDS: usize = 5;

fn main() {
    let total: usize = std::env::var("OUTPOST_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32_000);
    let start = DateTime::from_timestamp(1_770_000_000, 0).expect("time");
    let engine = Engine::new(
        Store::temporary().expect("store"),
        Arc::new(FakeClock::new(start)),
    );
    outpost::testing::store(&engine)
        .put(&Lead::new("acme", "ann@example.com"))
        .expect("lead");
    let event = |i: usize| EmailEvent {
        id: format!("ev{i:08}"),
        account: "acme".into(),
        kind: EventType::EmailReplied,
        lead_email: "ann@example.com".into(),
        campaign_id: Some(1),
        sequence_number: Some(1),
        at: start + Duration::seconds(i as i64),
        source: EventSource::Webhook,
        dedupe_key: format!("k{i}"),
        message_id: Some(format!("<m{i}@example.com>")),
        detail: Some("Sounds interesting, send over a few times for next week.".into()),
    };
    let per_round = total / ROUNDS / BATCH * BATCH;
    let mut next = 0;
    let mut first = None;
    println!("one lead, {BATCH}-event batches, {per_round} events per round");
    for round in 1..=ROUNDS {
        let at_start = next;
        let began = Instant::now();
        while next < at_start + per_round {
            let batch: Vec<EmailEvent> = (next..next + BATCH).map(event).collect();
            next += BATCH;
            let fresh = engine.record_events(&batch).expect("record");
            assert_eq!(fresh.len(), BATCH, "every event is new");
        }
        let per_event = began.elapsed().as_secs_f64() * 1e6 / per_round as f64;
        let ratio = per_event / *first.get_or_insert(per_event);
        println!(
            "round {round}: history {at_start:>6} → {next:>6} events, {per_event:6.1} µs per event ({ratio:.2}x round 1)"
        );
    }
    assert_eq!(engine.event_count().expect("count"), next);
}
