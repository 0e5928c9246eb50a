//! The TUI's lead and sequence actions follow the same rules as the CLI
//! verbs, because they are the same code: pausing cancels the queued,
//! unsent email; enrolling refuses a lead active in another sequence; the
//! sequences pane's funnel is the metrics `outpost sequence show` prints.

mod sequences_support;

use std::sync::Arc;

use outpost::clock::FakeClock;
use outpost::engine::{CommandError, Engine};
use outpost::model::*;
use outpost::sequences;
use outpost::store::Store;
use sequences_support::*;

const ANA: &str = "ana@acme.example";

/// Two leads in "seq" with their first emails queued, and an engine at that time.
fn setup() -> (Engine, Store) {
    let store = Store::temporary().unwrap();
    apply(&store, &two_step("seq", "", "days = 2"));
    let start = utc("2026-03-02T10:00:00Z");
    enroll(
        &store,
        "seq",
        &[
            lead(ANA, "Acme", None),
            lead("cy@other.example", "Other", None),
        ],
        start,
    );
    scheduler(&store).tick(start).unwrap();
    assert_eq!(pending(&store).len(), 2);
    let engine = Engine::new(
        store.clone(),
        Arc::new(FakeClock::new(utc("2026-03-02T10:00:10Z"))),
    );
    (engine, store)
}

fn queued_for(store: &Store, email: &str) -> OutboxItem {
    items(store)
        .into_iter()
        .find(|i| i.email.to[0] == email)
        .unwrap()
}

#[test]
fn pausing_a_lead_cancels_its_queued_email() {
    let (engine, store) = setup();
    assert_eq!(engine.pause_lead(ANA).unwrap(), 1);
    assert_eq!(queued_for(&store, ANA).state, OutboxState::Cancelled);
    assert_eq!(
        queued_for(&store, "cy@other.example").state,
        OutboxState::Pending
    );
    let paused = store
        .iter::<Enrollment>()
        .map(Result::unwrap)
        .find(|e| e.lead_email == ANA)
        .unwrap();
    assert_eq!(paused.state, EnrollmentState::Paused);
    assert_eq!(paused.reason.as_deref(), Some("paused by the rep"));
}

#[test]
fn pausing_a_sequence_cancels_its_queued_emails_and_resuming_brings_them_back() {
    let (engine, store) = setup();
    let paused = engine
        .set_sequence_status("seq", SequenceStatus::Paused)
        .unwrap();
    assert_eq!(paused.status, SequenceStatus::Paused);
    assert!(pending(&store).is_empty(), "{:?}", items(&store));
    engine
        .set_sequence_status("seq", SequenceStatus::Active)
        .unwrap();
    scheduler(&store).tick(utc("2026-03-02T10:00:20Z")).unwrap();
    assert_eq!(pending(&store).len(), 2);
    assert!(matches!(
        engine.set_sequence_status("missing", SequenceStatus::Paused),
        Err(CommandError::NotFound(_))
    ));
}

#[test]
fn enrolling_one_lead_follows_the_rules_of_outpost_enroll() {
    let (engine, store) = setup();
    apply(&store, &two_step("other", "", "days = 2"));
    let refused = engine
        .enroll_lead("other", ANA, false)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("active in sequence \"seq\""), "{refused}");
    let again = engine
        .enroll_lead("seq", ANA, false)
        .unwrap_err()
        .to_string();
    assert!(again.contains("already enrolled"), "{again}");
    let enrolled = engine
        .enroll_lead("other", "new@lead.example", false)
        .unwrap();
    assert_eq!(enrolled.sequence, "other");
    assert_eq!(enrolled.state, EnrollmentState::Active);
}

#[test]
fn the_sequences_pane_funnel_is_the_cli_metrics() {
    let (engine, store) = setup();
    let now = utc("2026-03-02T10:00:10Z");
    drive(
        &store,
        &scheduler(&store),
        now,
        now + chrono::Duration::hours(1),
    );
    engine.pause_lead("cy@other.example").unwrap();
    let shown = sequences::show(&store, "seq").unwrap().unwrap();
    let summary = engine.sequences().unwrap().remove(0);
    assert_eq!(summary.enrolled, shown.summary.enrolled);
    assert_eq!(summary.by_state.get("active").copied(), Some(1));
    assert_eq!(summary.by_state.get("paused").copied(), Some(1));
    let funnel: Vec<(u64, u64)> = summary.funnel.iter().map(|f| (f.done, f.waiting)).collect();
    let metrics: Vec<(u64, u64)> = shown
        .step_stats
        .iter()
        .map(|s| (s.done, s.waiting))
        .collect();
    assert_eq!(funnel, metrics);
    // Both sent their first email; both now sit at the wait step.
    assert_eq!(funnel[0].0, 2);
    assert_eq!(funnel.iter().map(|f| f.1).sum::<u64>(), 2);
}
