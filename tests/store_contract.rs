//! The store's contract, run against both backends: the embedded sled
//! cache and Postgres (a throwaway cluster the tests start themselves).
//! Everything above the store relies on these properties, so a backend
//! that passes them can carry outpost.

mod support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use outpost::model::{Cursor, Enrollment, EnrollmentState, Lead, Membership};
use outpost::store::keys::KeyBuf;
use outpost::store::{Change, Index, Kind, Op, Store, StoreError};
use support::postgres;

fn t0() -> DateTime<Utc> {
    "2026-03-02T10:00:00Z".parse().unwrap()
}

fn enrollment(id: &str, due: DateTime<Utc>) -> Enrollment {
    Enrollment {
        id: id.into(),
        account: "acme".into(),
        sequence: "seq".into(),
        lead_email: format!("{id}@ledgerly.example"),
        state: EnrollmentState::Active,
        reason: None,
        current_step: 0,
        next_due_at: Some(due),
        enrolled_at: due,
        started_at: due,
        updated_at: due,
        mailbox: None,
        thread_id: None,
        last_message_id: None,
        references: Vec::new(),
        last_subject: None,
        variants: Default::default(),
        resume_at: None,
    }
}

fn cursor(name: &str, value: &str) -> Cursor {
    Cursor {
        account: "acme".into(),
        name: name.into(),
        value: value.into(),
    }
}

fn lead(email: &str, campaign: i64) -> Lead {
    let mut lead = Lead::new("acme", email);
    lead.memberships = vec![Membership {
        campaign_id: campaign,
        campaign_name: None,
        map_id: None,
        status: None,
        category_id: None,
    }];
    lead
}

fn due_order(store: &Store, reverse: bool) -> Vec<String> {
    store
        .index_keys(Index::EnrollmentsByDue, &[], reverse)
        .map(|e| e.unwrap().1)
        .collect()
}

fn records_round_trip_and_identical_writes_change_nothing(store: Store) {
    let enr = enrollment("e1", t0());
    assert!(store.put(&enr).unwrap());
    assert!(
        !store.put(&enr).unwrap(),
        "identical bytes are not rewritten"
    );
    assert_eq!(store.get::<Enrollment>("e1").unwrap(), Some(enr.clone()));
    assert!(store.contains::<Enrollment>("e1").unwrap());
    assert!(!store.contains::<Enrollment>("e2").unwrap());
    assert_eq!(store.count::<Enrollment>(), 1);
    assert!(store.delete::<Enrollment>("e1").unwrap());
    assert!(!store.delete::<Enrollment>("e1").unwrap());
    assert_eq!(store.get::<Enrollment>("e1").unwrap(), None);
    assert!(
        due_order(&store, false).is_empty(),
        "its index entry went too"
    );
}

fn indexes_follow_their_records_in_order(store: Store) {
    let hours = |h| t0() + chrono::Duration::hours(h);
    for (id, h) in [("a", 3), ("b", 1), ("c", 2)] {
        store.put(&enrollment(id, hours(h))).unwrap();
    }
    assert_eq!(due_order(&store, false), ["b", "c", "a"]);
    assert_eq!(due_order(&store, true), ["a", "c", "b"]);
    // Moving a due time moves its entry; a stopped enrollment leaves.
    let mut a = store.get::<Enrollment>("a").unwrap().unwrap();
    a.next_due_at = Some(hours(0));
    store.put(&a).unwrap();
    let mut c = store.get::<Enrollment>("c").unwrap().unwrap();
    c.state = EnrollmentState::Stopped;
    c.next_due_at = None;
    store.put(&c).unwrap();
    assert_eq!(due_order(&store, false), ["a", "b"]);
    let via_index: Vec<String> = store
        .by_index::<Enrollment>(Index::EnrollmentsByDue, &[], false)
        .map(|e| e.unwrap().id)
        .collect();
    assert_eq!(via_index, ["a", "b"]);
    // A range over a campaign's leads, and counts by prefix.
    store
        .put_all(&[
            lead("x@a.example", 1),
            lead("y@a.example", 2),
            lead("z@a.example", 1),
        ])
        .unwrap();
    let campaign = |id| {
        KeyBuf::new()
            .text(&outpost::model::Campaign::key_for("acme", id))
            .into_prefix()
    };
    assert_eq!(store.index_len(Index::LeadsByCampaign, &campaign(1)), 2);
    assert_eq!(store.index_len(Index::LeadsByCampaign, &campaign(2)), 1);
    assert!(store.verify_indexes().unwrap().is_empty());
}

fn scans_page_through_many_records_in_key_order(store: Store) {
    // More than one round trip's worth on Postgres, both directions.
    let cursors: Vec<Cursor> = (0..700).map(|n| cursor(&format!("c{n:04}"), "1")).collect();
    assert_eq!(store.put_all(&cursors).unwrap(), 700);
    let names: Vec<String> = store
        .scan_prefix::<Cursor>("acme/")
        .map(|c| c.unwrap().name)
        .collect();
    assert_eq!(names.len(), 700);
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    let enrollments: Vec<Enrollment> = (0..600)
        .map(|n| enrollment(&format!("e{n:04}"), t0() + chrono::Duration::minutes(n)))
        .collect();
    store.put_all(&enrollments).unwrap();
    let backwards = due_order(&store, true);
    assert_eq!(backwards.len(), 600);
    assert_eq!(backwards.first().map(String::as_str), Some("e0599"));
    assert_eq!(backwards.last().map(String::as_str), Some("e0000"));
    // A bounded range, in both directions.
    let start = KeyBuf::new()
        .time(t0() + chrono::Duration::minutes(100))
        .into_prefix();
    let end = KeyBuf::new()
        .time(t0() + chrono::Duration::minutes(400))
        .into_prefix();
    let forward: Vec<String> = store
        .index_range(Index::EnrollmentsByDue, &start, &end, false)
        .map(|e| e.unwrap().1)
        .collect();
    assert_eq!(forward.len(), 300);
    assert_eq!(forward[0], "e0100");
    let reverse: Vec<String> = store
        .index_range(Index::EnrollmentsByDue, &start, &end, true)
        .map(|e| e.unwrap().1)
        .collect();
    assert_eq!(reverse.len(), 300);
    assert_eq!(reverse[0], "e0399");
}

fn racing_modifies_lose_no_update(store: Store) {
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..25 {
                    store
                        .modify::<Enrollment, ()>(&["e1".to_string()], |_, current| {
                            let mut enr = current.unwrap_or_else(|| enrollment("e1", t0()));
                            enr.current_step += 1;
                            enr.next_due_at =
                                Some(t0() + chrono::Duration::minutes(enr.current_step as i64));
                            Some((enr, ()))
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(
        store.get::<Enrollment>("e1").unwrap().unwrap().current_step,
        100
    );
    assert_eq!(
        due_order(&store, false),
        ["e1"],
        "one due entry, not a trail"
    );
    assert!(store.verify_indexes().unwrap().is_empty());
}

fn modify_together_applies_each_change_once_with_what_goes_with_it(store: Store) {
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..20 {
                    store
                        .modify_together::<Enrollment, ()>("e1", |current, batch| {
                            let mut enr = current.unwrap_or_else(|| enrollment("e1", t0()));
                            enr.current_step += 1;
                            batch.put(&cursor(&format!("step-{}", enr.current_step), "1"))?;
                            batch.put(&enr)?;
                            Ok(Some(()))
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(
        store.get::<Enrollment>("e1").unwrap().unwrap().current_step,
        80
    );
    assert_eq!(store.count::<Cursor>(), 80);
}

fn a_batch_from_a_stale_read_is_refused_whole(store: Store) {
    let as_read = enrollment("e1", t0());
    store.put(&as_read).unwrap();
    let mut paused = as_read.clone();
    paused.state = EnrollmentState::Paused;
    paused.next_due_at = None;
    store.put(&paused).unwrap();
    let mut advanced = as_read.clone();
    advanced.current_step = 1;
    let err = store
        .write(|batch| {
            batch.expect_unchanged(&as_read)?;
            batch.put(&advanced)?;
            batch.put(&cursor("tick", "1"))
        })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Changed { ref key, .. } if key == "e1"),
        "{err}"
    );
    assert_eq!(
        store.get::<Enrollment>("e1").unwrap().unwrap().state,
        EnrollmentState::Paused,
        "the pause stands"
    );
    assert_eq!(store.count::<Cursor>(), 0, "nothing of the batch landed");
    // Read as absent, created meanwhile: refused too.
    let err = store
        .write(|batch| {
            batch.expect_absent::<Enrollment>("e1");
            batch.put(&cursor("created", "1"))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Changed { .. }), "{err}");
    assert_eq!(store.count::<Cursor>(), 0);
}

fn first_sighting_wins_and_deletes_compare(store: Store) {
    assert_eq!(store.insert_new(&[cursor("a", "first")]).unwrap(), 1);
    assert_eq!(
        store
            .insert_new(&[cursor("a", "second"), cursor("b", "x")])
            .unwrap(),
        1
    );
    assert_eq!(
        store.get::<Cursor>("acme/a").unwrap().unwrap().value,
        "first"
    );
    let stale = cursor("b", "old");
    assert!(!store.delete_if_unchanged(&stale).unwrap(), "changed: kept");
    assert!(store.delete_if_unchanged(&cursor("b", "x")).unwrap());
    assert_eq!(store.get::<Cursor>("acme/b").unwrap(), None);
}

fn per_record_writes_lose_no_update_and_keep_indexes(store: Store) {
    let mut a = lead("a@x.example", 1);
    assert_eq!(
        store
            .put_each(&[a.clone(), lead("b@x.example", 2)])
            .unwrap(),
        2
    );
    a.company = Some("Acme".into());
    assert_eq!(store.put_each(&[a.clone()]).unwrap(), 1);
    assert_eq!(store.put_each(&[a.clone()]).unwrap(), 0);
    a.memberships[0].campaign_id = 3;
    assert_eq!(store.put_each(&[a.clone()]).unwrap(), 1);
    assert!(store.verify_indexes().unwrap().is_empty());
    let key = a.key();
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for n in 0..20 {
                    store
                        .modify_each::<Lead, ()>(std::slice::from_ref(&key), |_, current| {
                            let mut lead = current?;
                            lead.custom_fields.insert(format!("{t}-{n}"), "1".into());
                            Some((lead, ()))
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let stored: Lead = store.get(&key).unwrap().unwrap();
    assert_eq!(stored.custom_fields.len(), 80);
}

fn every_write_is_announced_on_the_feed(store: Store) {
    let mut feed = store.subscribe();
    store.put(&enrollment("e1", t0())).unwrap();
    store.delete::<Enrollment>("e1").unwrap();
    let mut seen = Vec::new();
    while let Ok(change) = feed.try_recv() {
        seen.push(change);
    }
    assert_eq!(
        seen,
        [
            Change::Record {
                kind: Kind::Enrollment,
                key: "e1".into(),
                op: Op::Put
            },
            Change::Record {
                kind: Kind::Enrollment,
                key: "e1".into(),
                op: Op::Delete
            },
        ]
    );
}

/// A record put twice in one batch (the writes of a transaction are kept
/// until its commit on Postgres): the second put sees the first, so the
/// first's index entry goes and only the second's stays.
fn a_batch_writing_one_record_twice_keeps_only_the_last_index_entries(store: Store) {
    store.put(&enrollment("e1", t0())).unwrap();
    let later = t0() + chrono::Duration::hours(1);
    let last = t0() + chrono::Duration::hours(2);
    let changed = store
        .write(|batch| {
            batch.put(&enrollment("e1", later))?;
            batch.put(&enrollment("e2", later))?;
            batch.put(&enrollment("e1", last))
        })
        .unwrap();
    assert_eq!(changed, 3);
    assert_eq!(due_order(&store, false), ["e2", "e1"]);
    assert_eq!(
        store.get::<Enrollment>("e1").unwrap().unwrap().next_due_at,
        Some(last)
    );
    assert!(store.verify_indexes().unwrap().is_empty());
}

/// Many records read at once come back in the order asked, absent ones as
/// None, a key asked twice twice.
fn many_records_read_at_once_come_back_in_the_order_asked(store: Store) {
    store
        .put_all(&[enrollment("e1", t0()), enrollment("e2", t0())])
        .unwrap();
    let keys = ["e2", "nope", "e1", "e2"].map(String::from);
    let ids: Vec<Option<String>> = store
        .get_many::<Enrollment>(&keys)
        .unwrap()
        .into_iter()
        .map(|found| found.map(|enrollment| enrollment.id))
        .collect();
    assert_eq!(
        ids,
        [
            Some("e2".into()),
            None,
            Some("e1".into()),
            Some("e2".into())
        ]
    );
    assert!(store.get_many::<Enrollment>(&[]).unwrap().is_empty());
}

/// Takes up to `limit` due enrollments for `claimer`: each leaves the due
/// index (paused) and says who took it.
fn claim_due(store: &Store, claimer: &str, limit: usize) -> Vec<String> {
    let end = outpost::store::keys::time(t0() + chrono::Duration::days(1));
    store
        .claim::<Enrollment, String>(
            Index::EnrollmentsByDue,
            &[],
            &end,
            limit,
            &[],
            |mut enr, _| {
                enr.state = EnrollmentState::Paused;
                enr.next_due_at = None;
                enr.reason = Some(claimer.to_string());
                Ok(Some((enr.clone(), enr.id)))
            },
        )
        .unwrap()
}

fn claims_hand_each_record_to_one_claimer(store: Store) {
    for n in 0..30 {
        store
            .put(&enrollment(
                &format!("e{n:02}"),
                t0() + chrono::Duration::minutes(n),
            ))
            .unwrap();
    }
    // Not yet due: outside the claimed range.
    store
        .put(&enrollment("later", t0() + chrono::Duration::days(2)))
        .unwrap();
    // A claim walks in index order and declines what `change` leaves.
    let end = outpost::store::keys::time(t0() + chrono::Duration::days(1));
    let odd: Vec<String> = store
        .claim::<Enrollment, String>(Index::EnrollmentsByDue, &[], &end, 2, &[], |mut enr, _| {
            if enr.id.ends_with(['0', '2', '4', '6', '8']) {
                return Ok(None);
            }
            enr.state = EnrollmentState::Paused;
            enr.next_due_at = None;
            enr.reason = Some("first".into());
            Ok(Some((enr.clone(), enr.id)))
        })
        .unwrap();
    assert_eq!(odd, ["e01", "e03"]);
    // Claimers racing over the rest: each record goes to exactly one.
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|n| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let claimer = format!("claimer-{n}");
                barrier.wait();
                let mut mine = Vec::new();
                loop {
                    let got = claim_due(&store, &claimer, 2);
                    if got.is_empty() {
                        return (claimer, mine);
                    }
                    mine.extend(got);
                }
            })
        })
        .collect();
    let mut all: Vec<String> = odd;
    for handle in handles {
        let (claimer, mine) = handle.join().unwrap();
        for id in &mine {
            let stored = store.get::<Enrollment>(id).unwrap().unwrap();
            assert_eq!(stored.reason.as_deref(), Some(claimer.as_str()), "{id}");
        }
        all.extend(mine);
    }
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(claimed, all.len(), "nothing is claimed twice: {all:?}");
    assert_eq!(all.len(), 30, "every due record is claimed");
    assert_eq!(due_order(&store, false), ["later"]);
    assert!(store.verify_indexes().unwrap().is_empty());
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sled {
            $(#[test] fn $name() { super::$name(outpost::store::Store::temporary().unwrap()) })*
        }
        mod on_postgres {
            $(#[test] fn $name() {
                super::$name(outpost::store::Store::postgres(&super::postgres::fresh_database()).unwrap())
            })*
        }
    };
}

contract!(
    records_round_trip_and_identical_writes_change_nothing,
    indexes_follow_their_records_in_order,
    scans_page_through_many_records_in_key_order,
    racing_modifies_lose_no_update,
    modify_together_applies_each_change_once_with_what_goes_with_it,
    a_batch_from_a_stale_read_is_refused_whole,
    first_sighting_wins_and_deletes_compare,
    per_record_writes_lose_no_update_and_keep_indexes,
    every_write_is_announced_on_the_feed,
    claims_hand_each_record_to_one_claimer,
    a_batch_writing_one_record_twice_keeps_only_the_last_index_entries,
    many_records_read_at_once_come_back_in_the_order_asked,
);

/// Batches on Postgres read all their records of a kind in one statement:
/// twenty new records are two round trips (their reads with the BEGIN, then
/// the writes with the COMMIT), a batch that checks and writes two kinds
/// three, and reading twenty records one.
#[test]
fn a_batch_on_postgres_reads_each_kind_in_one_round_trip() {
    let store = Store::postgres(&postgres::fresh_database()).unwrap();
    let trips = || store.database_round_trips().unwrap();
    // The first use of each statement on a connection also prepares it.
    store.put(&enrollment("warm", t0())).unwrap();
    store.put(&lead("warm@x.example", 1)).unwrap();
    store
        .write(|batch| {
            batch.expect_unchanged(&enrollment("warm", t0()))?;
            batch.put(&lead("warm@x.example", 2))
        })
        .unwrap();
    let twenty: Vec<Enrollment> = (0..20)
        .map(|n| enrollment(&format!("e{n:02}"), t0()))
        .collect();
    let before = trips();
    assert_eq!(store.put_all(&twenty).unwrap(), 20);
    assert_eq!(trips() - before, 2, "twenty new records");
    let keys: Vec<String> = twenty.iter().map(|e| e.id.clone()).collect();
    let before = trips();
    assert_eq!(store.get_many::<Enrollment>(&keys).unwrap().len(), 20);
    assert_eq!(trips() - before, 1, "twenty records read");
    let before = trips();
    store
        .write(|batch| {
            for enrollment in &twenty[..5] {
                batch.expect_unchanged(enrollment)?;
                let mut moved = enrollment.clone();
                moved.next_due_at = Some(t0() + chrono::Duration::hours(1));
                batch.put(&moved)?;
            }
            batch.put(&lead("a@x.example", 1))?;
            batch.put(&lead("b@x.example", 1))
        })
        .unwrap();
    assert_eq!(
        trips() - before,
        3,
        "a batch checking and writing two kinds"
    );
    assert!(store.verify_indexes().unwrap().is_empty());
}

/// What a write costs on Postgres, in round trips to the server: a put of
/// a record and its index entries is one transaction whose first read
/// carries the BEGIN and whose writes, change notice and COMMIT go
/// together, so two (an unchanged put too: its read, then a bare COMMIT).
#[test]
fn a_put_on_postgres_is_two_round_trips() {
    let store = Store::postgres(&postgres::fresh_database()).unwrap();
    let trips = || store.database_round_trips().unwrap();
    // The first use of each statement on a connection also prepares it.
    store.put(&enrollment("warm", t0())).unwrap();
    let before = trips();
    store.put(&enrollment("e1", t0())).unwrap();
    assert_eq!(trips() - before, 2, "a new record with an index entry");
    let before = trips();
    store
        .put(&enrollment("e1", t0() + chrono::Duration::hours(1)))
        .unwrap();
    assert_eq!(trips() - before, 2, "its due time moved");
    let before = trips();
    store
        .put(&enrollment("e1", t0() + chrono::Duration::hours(1)))
        .unwrap();
    assert_eq!(trips() - before, 2, "unchanged: the read and the COMMIT");
    assert_eq!(due_order(&store, false), ["warm", "e1"]);
    assert!(store.verify_indexes().unwrap().is_empty());
}

/// Writes with `write(1)`, `write(2)`, ... until a change `heard` accepts
/// reaches `feed` within half a second of a write (another store's listener
/// connects in the background, so the first writes may go unheard); returns
/// the number of the write that was heard. Fails with `unheard` after 20 s.
fn write_until_heard(
    feed: &mut tokio::sync::broadcast::Receiver<Change>,
    mut write: impl FnMut(usize),
    heard: impl Fn(usize, &Change) -> bool,
    unheard: &str,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        write(n);
        let wait_until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < wait_until {
            match feed.try_recv() {
                Ok(change) if heard(n, &change) => return n,
                Ok(_) => {}
                Err(_) => std::thread::yield_now(),
            }
        }
        assert!(Instant::now() < deadline, "{unheard}");
    }
}

/// A delete on one replica reaches the other's feed as a delete (its
/// notice goes in the deleting transaction, naming only what was there).
#[test]
fn a_replica_hears_the_other_replicas_deletes() {
    let url = postgres::fresh_database();
    let writer = Store::postgres(&url).unwrap();
    let reader = Store::postgres(&url).unwrap();
    let mut feed = reader.subscribe();
    let n = write_until_heard(
        &mut feed,
        |n| {
            let id = format!("e{n}");
            writer.put(&enrollment(&id, t0())).unwrap();
            assert!(writer.delete::<Enrollment>(&id).unwrap());
        },
        |n, change| match change {
            Change::Record {
                kind: Kind::Enrollment,
                key,
                op: Op::Delete,
            } => {
                assert_eq!(*key, format!("e{n}"));
                true
            }
            _ => false,
        },
        "no delete notice reached the other store",
    );
    assert_eq!(reader.get::<Enrollment>(&format!("e{n}")).unwrap(), None);
}

/// Two replicas claiming from one queue at the same moment take different
/// rows: the second skips what the first holds instead of waiting for it
/// or colliding with it.
#[test]
fn two_claims_at_once_take_different_rows_on_postgres() {
    let url = postgres::fresh_database();
    let first = Store::postgres(&url).unwrap();
    let second = Store::postgres(&url).unwrap();
    for n in 0..6 {
        first
            .put(&enrollment(
                &format!("e{n}"),
                t0() + chrono::Duration::minutes(n),
            ))
            .unwrap();
    }
    let (holding, first_holds) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let end = outpost::store::keys::time(t0() + chrono::Duration::days(1));
    let holder = std::thread::spawn(move || {
        first
            .claim::<Enrollment, String>(
                Index::EnrollmentsByDue,
                &[],
                &end,
                3,
                &[],
                |mut enr, _| {
                    // The first claim stops mid-transaction, its rows locked,
                    // until the second has claimed.
                    let _ = holding.send(());
                    let _ = released
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(30));
                    enr.state = EnrollmentState::Paused;
                    enr.next_due_at = None;
                    Ok(Some((enr.clone(), enr.id)))
                },
            )
            .unwrap()
    });
    first_holds
        .recv_timeout(Duration::from_secs(30))
        .expect("the first claim started");
    let started = Instant::now();
    let taken_second = claim_due(&second, "second", 3);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the second claim waited for the first"
    );
    release.send(()).unwrap();
    // Gone: the first claim's later records do not wait.
    drop(release);
    let taken_first = holder.join().unwrap();
    assert_eq!(taken_first, ["e0", "e1", "e2"]);
    assert_eq!(taken_second, ["e3", "e4", "e5"]);
    assert!(due_order(&second, false).is_empty());
}

/// Two processes' stores on one database: a write by one reaches the
/// other's change feed (what keeps every replica's TUI live).
#[test]
fn a_replica_hears_the_other_replicas_writes() {
    let url = postgres::fresh_database();
    let writer = Store::postgres(&url).unwrap();
    let reader = Store::postgres(&url).unwrap();
    let mut feed = reader.subscribe();
    let n = write_until_heard(
        &mut feed,
        |n| {
            writer.put(&cursor(&format!("c{n}"), "1")).unwrap();
        },
        |_, change| {
            matches!(
                change,
                Change::Record {
                    kind: Kind::Cursor,
                    op: Op::Put,
                    ..
                }
            )
        },
        "no change notice reached the other store",
    );
    assert!(
        reader
            .get::<Cursor>(&format!("acme/c{n}"))
            .unwrap()
            .is_some()
    );
    // Its own writes come once, from its own store, not again via NOTIFY.
    let mut own = writer.subscribe();
    writer.put(&cursor("mine", "1")).unwrap();
    assert!(matches!(own.try_recv(), Ok(Change::Record { .. })));
    reader.put(&cursor("probe", "1")).unwrap();
    // Wait for the reader's notice to reach the writer, then check nothing
    // of the writer's own write came twice.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match own.try_recv() {
            Ok(Change::Record { key, .. }) if key == "acme/probe" => break,
            Ok(Change::Record { key, .. }) => panic!("heard {key} twice"),
            Ok(_) => {}
            Err(_) => {
                assert!(Instant::now() < deadline, "the probe was not heard");
                std::thread::yield_now();
            }
        }
    }
}

/// Two stores on one database racing one record: serializable
/// transactions lose no update across processes.
#[test]
fn two_replicas_racing_one_record_lose_no_update() {
    let url = postgres::fresh_database();
    let stores = [
        Store::postgres(&url).unwrap(),
        Store::postgres(&url).unwrap(),
    ];
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = stores
        .iter()
        .cloned()
        .map(|store| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..40 {
                    store
                        .modify_together::<Enrollment, ()>("e1", |current, batch| {
                            let mut enr = current.unwrap_or_else(|| enrollment("e1", t0()));
                            enr.current_step += 1;
                            batch.put(&enr)?;
                            Ok(Some(()))
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(
        stores[0]
            .get::<Enrollment>("e1")
            .unwrap()
            .unwrap()
            .current_step,
        80
    );
}

/// Migrations are versioned and applied once, also by `outpost migrate`
/// on a database that is already current.
#[test]
fn migrations_apply_once() {
    let url = postgres::fresh_database();
    let applied = Store::migrate_postgres(&url).unwrap();
    assert_eq!(applied, [1]);
    assert!(Store::migrate_postgres(&url).unwrap().is_empty());
    let versions = postgres::query(&url, "SELECT version FROM outpost_migrations ORDER BY 1");
    assert_eq!(versions.trim(), "1");
    let store = Store::postgres(&url).unwrap();
    store.ping().unwrap();
    assert_eq!(store.backend_name(), "postgres");
}

/// A bad URL or an unreachable server is a clear error, never a panic,
/// and never shows the password.
#[test]
fn a_bad_database_url_is_a_clear_error() {
    let err = Store::postgres("host=/nonexistent/dir port=1 user=u password=hunter2 dbname=x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot connect to the database"), "{err}");
    assert!(err.contains("[store]"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = Store::postgres("postgres://u:hunter2@[bad")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
