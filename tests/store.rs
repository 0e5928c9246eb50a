//! The store keeps every index in step with its records, across reopen, and
//! refuses a second process on the same data dir.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use outpost::clock::FakeClock;
use outpost::engine::{Engine, LeadQuery, LeadSort};
use outpost::model::*;
use outpost::store::{Change, Index, Kind, Store, StoreError, keys::KeyBuf};
use proptest::prelude::*;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

fn lead(email_n: u8, campaigns: Vec<i64>, event_at: Option<i64>) -> Lead {
    let mut lead = Lead::new("acme", &format!("lead{email_n}@example.com"));
    lead.first_name = Some(format!("First{email_n}"));
    lead.memberships = campaigns
        .into_iter()
        .map(|campaign_id| Membership {
            campaign_id,
            campaign_name: None,
            map_id: Some(campaign_id * 1000 + email_n as i64),
            status: Some("INPROGRESS".into()),
            category_id: None,
        })
        .collect();
    if let Some(secs) = event_at {
        lead.last_event = Some(EventType::EmailOpened);
        lead.last_event_at = Some(at(secs));
    }
    lead
}

fn enrollment(n: u8, state: EnrollmentState, due: Option<i64>) -> Enrollment {
    Enrollment {
        id: format!("enr-{n}"),
        account: "acme".into(),
        sequence: format!("seq-{}", n % 3),
        lead_email: format!("lead{n}@example.com"),
        state,
        reason: None,
        current_step: 0,
        next_due_at: due.map(at),
        enrolled_at: at(0),
        started_at: at(0),
        updated_at: at(0),
        mailbox: None,
        thread_id: None,
        last_message_id: None,
        references: vec![],
        last_subject: None,
        variants: Default::default(),
        resume_at: None,
    }
}

#[derive(Debug, Clone)]
enum Op {
    PutLead(u8, Vec<i64>, Option<i64>),
    /// The same, through the per-record path (compare-and-swap when no
    /// index entry moves).
    PutLeadEach(u8, Vec<i64>, Option<i64>),
    DeleteLead(u8),
    PutEnrollment(u8, u8, Option<i64>),
    DeleteEnrollment(u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..20, prop::collection::vec(1i64..5, 0..3), prop::option::of(0i64..10_000))
            .prop_map(|(n, c, e)| Op::PutLead(n, c, e)),
        3 => (0u8..20, prop::collection::vec(1i64..5, 0..3), prop::option::of(0i64..10_000))
            .prop_map(|(n, c, e)| Op::PutLeadEach(n, c, e)),
        2 => (0u8..20).prop_map(Op::DeleteLead),
        3 => (0u8..20, 0u8..5, prop::option::of(0i64..10_000))
            .prop_map(|(n, s, d)| Op::PutEnrollment(n, s, d)),
        1 => (0u8..20).prop_map(Op::DeleteEnrollment),
        1 => Just(Op::Reopen),
    ]
}

fn state(n: u8) -> EnrollmentState {
    [
        EnrollmentState::Active,
        EnrollmentState::Paused,
        EnrollmentState::Completed,
        EnrollmentState::Stopped,
        EnrollmentState::Failed,
    ][n as usize % 5]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn indexes_agree_with_records(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), "test").unwrap();
        for op in ops {
            match op {
                Op::PutLead(n, c, e) => { store.put(&lead(n, c, e)).unwrap(); }
                Op::PutLeadEach(n, c, e) => { store.put_each(&[lead(n, c, e)]).unwrap(); }
                Op::DeleteLead(n) => {
                    store.delete::<Lead>(&Lead::key_for("acme", &format!("lead{n}@example.com"))).unwrap();
                }
                Op::PutEnrollment(n, s, d) => { store.put(&enrollment(n, state(s), d)).unwrap(); }
                Op::DeleteEnrollment(n) => { store.delete::<Enrollment>(&format!("enr-{n}")).unwrap(); }
                Op::Reopen => {
                    drop(store);
                    store = Store::open(dir.path(), "test").unwrap();
                }
            }
            let problems = store.verify_indexes().unwrap();
            prop_assert!(problems.is_empty(), "{problems:?}");
        }
        drop(store);
        let store = Store::open(dir.path(), "test").unwrap();
        let problems = store.verify_indexes().unwrap();
        prop_assert!(problems.is_empty(), "after reopen: {problems:?}");
    }
}

#[test]
fn identical_put_writes_nothing() {
    let store = Store::temporary().unwrap();
    let l = lead(1, vec![7], Some(5));
    assert!(store.put(&l).unwrap());
    let writes = store.write_count();
    assert!(!store.put(&l).unwrap());
    assert_eq!(store.write_count(), writes);
    let mut changed = l.clone();
    changed.company = Some("Ledgerly".into());
    assert!(store.put(&changed).unwrap());
    assert_eq!(store.write_count(), writes + 1);
}

#[test]
fn events_are_inserted_once() {
    let store = Store::temporary().unwrap();
    let event = EmailEvent {
        id: EmailEvent::id_for("acme", "k1"),
        account: "acme".into(),
        kind: EventType::EmailOpened,
        lead_email: "a@b.example".into(),
        campaign_id: Some(3),
        sequence_number: Some(1),
        at: at(10),
        source: EventSource::Webhook,
        dedupe_key: "k1".into(),
        message_id: None,
        detail: None,
    };
    let engine = outpost::engine::Engine::new(
        store.clone(),
        std::sync::Arc::new(outpost::clock::FakeClock::new(at(20))),
    );
    assert_eq!(
        engine
            .record_events(std::slice::from_ref(&event))
            .unwrap()
            .len(),
        1
    );
    let mut again = event.clone();
    again.source = EventSource::Sync;
    assert!(engine.record_events(&[again]).unwrap().is_empty());
    let stored = engine.lead_events("acme/a@b.example").unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].source,
        EventSource::Webhook,
        "first sighting wins"
    );

    // Writers racing with the same facts store each once (dedupe happens
    // in the atomic step that writes the activity record).
    let facts: Vec<EmailEvent> = (0..50)
        .map(|n| EmailEvent {
            id: EmailEvent::id_for("acme", &format!("race{n}")),
            dedupe_key: format!("race{n}"),
            at: at(n),
            ..event.clone()
        })
        .collect();
    let fresh: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| engine.record_events(&facts).unwrap().len()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(fresh, 50, "each fact is new to exactly one writer");
    assert_eq!(engine.lead_events("acme/a@b.example").unwrap().len(), 51);
}

#[test]
fn index_scans_follow_index_order() {
    let store = Store::temporary().unwrap();
    store
        .put_all(&[
            lead(1, vec![1], Some(30)),
            lead(2, vec![1, 2], Some(10)),
            lead(3, vec![2], Some(20)),
        ])
        .unwrap();
    let emails: Vec<String> = store
        .by_index::<Lead>(Index::LeadsByEmail, b"", true)
        .map(|l| l.unwrap().email)
        .collect();
    assert_eq!(
        emails,
        [
            "lead3@example.com",
            "lead2@example.com",
            "lead1@example.com"
        ]
    );
    let in_campaign_2 = KeyBuf::new()
        .text(&Campaign::key_for("acme", 2))
        .into_prefix();
    assert_eq!(store.index_len(Index::LeadsByCampaign, &in_campaign_2), 2);
}

#[test]
fn due_index_holds_only_actionable_enrollments() {
    let store = Store::temporary().unwrap();
    store
        .put(&enrollment(1, EnrollmentState::Active, Some(100)))
        .unwrap();
    store
        .put(&enrollment(2, EnrollmentState::Completed, Some(50)))
        .unwrap();
    let due: Vec<String> = store
        .by_index::<Enrollment>(Index::EnrollmentsByDue, b"", false)
        .map(|e| e.unwrap().id)
        .collect();
    assert_eq!(due, ["enr-1"]);
    let mut done = enrollment(1, EnrollmentState::Completed, None);
    done.current_step = 3;
    store.put(&done).unwrap();
    assert_eq!(store.index_len(Index::EnrollmentsByDue, b""), 0);
}

#[test]
fn a_second_process_gets_a_clear_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path(), "daemon").unwrap();
    let err = Store::open(dir.path(), "tui").unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }));
    let text = err.to_string();
    assert!(text.contains("in use by another outpost process"), "{text}");
    assert!(text.contains("daemon pid"), "{text}");
}

#[test]
fn the_feed_reports_writes() {
    let store = Store::temporary().unwrap();
    let mut feed = store.subscribe();
    store.put(&lead(4, vec![], None)).unwrap();
    match feed.try_recv().unwrap() {
        Change::Record { kind, key, .. } => {
            assert_eq!(kind, Kind::Lead);
            assert_eq!(key, "acme/lead4@example.com");
        }
        other => panic!("unexpected change {other:?}"),
    }
}

#[test]
fn a_damaged_record_is_reported_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), "test").unwrap();
        store.put(&lead(5, vec![], None)).unwrap();
        store.flush().unwrap();
    }
    {
        let db = outpost::store::open_raw(&dir.path().join("cache")).unwrap();
        db.open_tree("leads")
            .unwrap()
            .insert("acme/lead5@example.com", &[1u8, 0xff, 0xff][..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path(), "test").unwrap();
    let err = store.get::<Lead>("acme/lead5@example.com").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }));
    assert!(err.to_string().contains("outpost export"));
}

#[test]
fn moving_a_due_time_keeps_the_other_entries_and_moves_the_due_one() {
    let store = Store::temporary().unwrap();
    store
        .put(&enrollment(1, EnrollmentState::Active, Some(100)))
        .unwrap();
    // The same enrollment twice in one batch: the second sees the first's entries.
    let batch = [
        enrollment(1, EnrollmentState::Active, Some(200)),
        enrollment(1, EnrollmentState::Active, Some(300)),
    ];
    assert_eq!(store.put_all(&batch).unwrap(), 2);
    let due: Vec<(Vec<u8>, String)> = store
        .index_keys(Index::EnrollmentsByDue, b"", false)
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1, "enr-1");
    assert_eq!(outpost::store::keys::time_from(&due[0].0), Some(at(300)));
    assert_eq!(store.index_len(Index::EnrollmentsBySequence, b""), 1);
    assert_eq!(store.index_len(Index::EnrollmentsByLead, b""), 1);
    assert!(store.verify_indexes().unwrap().is_empty());
}

#[test]
fn a_big_session_is_checkpointed_on_close_and_reopens_intact() {
    let dir = tempfile::tempdir().unwrap();
    let total = 25_000;
    {
        let store = Store::open(dir.path(), "test").unwrap();
        let reader = store.clone();
        for chunk in (0..total).collect::<Vec<u32>>().chunks(5_000) {
            let cursors: Vec<Cursor> = chunk
                .iter()
                .map(|n| Cursor {
                    account: "acme".into(),
                    name: format!("c{n:06}"),
                    value: n.to_string(),
                })
                .collect();
            store.put_all(&cursors).unwrap();
        }
        drop(store);
        // A clone keeps the store open; the checkpoint waits for the last one.
        assert_eq!(reader.count::<Cursor>(), total as usize);
    }
    let store = Store::open(dir.path(), "test").unwrap();
    assert_eq!(store.count::<Cursor>(), total as usize);
    let last: Cursor = store.get("acme/c024999").unwrap().unwrap();
    assert_eq!(last.value, "24999");
}

/// The snapshot files sled keeps in a data dir's cache.
fn snapshots(data_dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect();
    names.sort();
    names
}

/// One small session, then how the next open goes: whether it found log
/// written after the last snapshot to replay (sled then writes a new one).
fn next_open_replays(checkpoint: bool) -> bool {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), "test").unwrap());
    {
        let store = Store::open(dir.path(), "test").unwrap();
        if checkpoint {
            store.checkpoint_on_close();
        }
        store
            .put(&Cursor {
                account: "acme".into(),
                name: "c".into(),
                value: "1".into(),
            })
            .unwrap();
    }
    let before = snapshots(dir.path());
    let store = Store::open(dir.path(), "test").unwrap();
    let last: Cursor = store.get("acme/c").unwrap().unwrap();
    assert_eq!(last.value, "1");
    drop(store);
    snapshots(dir.path()) != before
}

#[test]
fn a_tui_session_is_checkpointed_on_close_so_the_next_start_replays_nothing() {
    assert!(
        next_open_replays(false),
        "without the checkpoint a small session's writes are replayed at the next open"
    );
    assert!(
        !next_open_replays(true),
        "with it the next open finds nothing after the snapshot"
    );
}

#[test]
fn leads_sort_by_last_event_with_offset_and_limit() {
    let store = Store::temporary().unwrap();
    // 200 leads with events (times shuffled) and some without, which the
    // last-event order leaves out, as it always has.
    let mut leads: Vec<Lead> = (0..200u8)
        .map(|n| lead(n, vec![1], Some(i64::from((u32::from(n) * 37) % 200) * 60)))
        .collect();
    leads.extend((200..=255u8).map(|n| lead(n, vec![1], None)));
    store.put_all(&leads).unwrap();
    let engine = Engine::new(store, Arc::new(FakeClock::new(at(0))));
    let query = |offset, limit| LeadQuery {
        sort: LeadSort::LastEvent,
        offset,
        limit,
        ..LeadQuery::default()
    };
    let all = engine.leads(&query(0, None)).unwrap();
    assert_eq!(all.len(), 200);
    assert!(
        all.windows(2)
            .all(|w| w[0].last_event_at > w[1].last_event_at),
        "newest first"
    );
    // A page deep in the list is the same slice of the full order, even
    // though the walk trims what it holds as it goes.
    let page = engine.leads(&query(150, Some(20))).unwrap();
    let emails = |leads: &[Lead]| leads.iter().map(|l| l.email.clone()).collect::<Vec<_>>();
    assert_eq!(emails(&page), emails(&all[150..170]));
    let first = engine.leads(&query(0, Some(1))).unwrap();
    assert_eq!(first[0].last_event_at, Some(at(199 * 60)));
}
