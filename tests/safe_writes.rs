//! Safe writes: writers that run at once never undo each other (every
//! read-modify-write is a compare-and-swap).

mod sequences_support;

use std::sync::{Arc, Barrier};

use outpost::clock::FakeClock;
use outpost::engine::Engine;
use outpost::model::*;
use outpost::outbox::OutboxWorker;
use outpost::sequences;
use outpost::store::Store;
use sequences_support::*;

/// One round of the race: an enrollment whose first email the worker holds
/// in `sending` when the lead's reply comes in. Returns the store and the
/// sent item to report.
fn round_setup() -> (Store, Enrollment, OutboxItem) {
    let t0 = utc("2026-03-02T10:00:00Z");
    let store = Store::temporary().unwrap();
    // A short wait: the day after, the second email would be queued.
    apply(&store, &two_step("seq", "", "hours = 1"));
    let enrolled = enroll(&store, "seq", &[lead("ana@acme.example", "Acme", None)], t0);
    scheduler(&store).tick(t0).unwrap();
    let mut item = pending(&store).remove(0);
    item.state = OutboxState::Sending;
    item.attempts = 1;
    store.put(&item).unwrap();
    let mut sent = item;
    sent.state = OutboxState::Sent;
    sent.provider_id = Some("gm-1".into());
    sent.delivery = Delivery::GmailSend {
        thread_id: Some("thread-1".into()),
    };
    (store, enrolled[0].clone(), sent)
}

#[test]
fn a_reply_pause_is_never_undone_by_the_outbox_or_the_webhook_reactions() {
    let now = utc("2026-03-02T10:00:30Z");
    let rounds = 1_000;
    for round in 0..rounds {
        let (store, enrollment, sent) = round_setup();
        let reply = event(
            EventType::EmailReplied,
            "ana@acme.example",
            now,
            Some("Sounds good, call me"),
        );
        let opened = event(EventType::EmailOpened, "ana@acme.example", now, None);
        let start = Arc::new(Barrier::new(4));
        let run = |work: Box<dyn FnOnce(&Store) + Send>| {
            let (store, start) = (store.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                work(&store);
            })
        };
        let clock = move || FakeClock::new(now);
        let threads = [
            // The outbox worker reports the send, then marks the item sent.
            run(Box::new(move |store| {
                sequences::on_outbox_sent(store, &sent, &clock()).unwrap();
                store.put(&sent).unwrap();
            })),
            // The webhook writer's reaction to the lead's reply.
            run(Box::new(move |store| {
                sequences::react_to_event(store, &reply, &clock()).unwrap();
            })),
            // And to an open of the same email, delivered at the same time.
            run(Box::new(move |store| {
                sequences::react_to_event(store, &opened, &clock()).unwrap();
            })),
            // The scheduler, running whatever is due.
            run(Box::new(move |store| {
                scheduler(store).tick(now).unwrap();
            })),
        ];
        for thread in threads {
            thread.join().unwrap();
        }
        let after = self::enrollment(&store, &enrollment.id);
        assert_eq!(
            after.state,
            EnrollmentState::Paused,
            "round {round}: the reply's pause was overwritten: {after:?}"
        );
        // Nothing queued after the pause goes out, then or later.
        scheduler(&store)
            .tick(now + chrono::Duration::days(1))
            .unwrap();
        let live_later_steps: Vec<_> = items(&store)
            .into_iter()
            .filter(|i| i.step != Some(0) && i.state != OutboxState::Cancelled)
            .collect();
        assert!(
            live_later_steps.is_empty(),
            "round {round}: a next step is queued after the reply: {live_later_steps:?}"
        );
        assert_eq!(
            self::enrollment(&store, &enrollment.id).state,
            EnrollmentState::Paused,
            "round {round}"
        );
    }
}

/// A step the worker put back to wait (an attempt that certainly did not
/// go out) after the lead's reply paused its enrollment: a pause leaves an
/// item in `sending` alone, so the worker's claim is what stops it.
#[tokio::test]
async fn a_step_waiting_again_after_a_reply_is_cancelled_not_sent() {
    let (store, enrollment, _) = round_setup();
    let now = utc("2026-03-02T10:05:00Z");
    let reply = event(EventType::EmailReplied, "ana@acme.example", now, None);
    sequences::react_to_event(&store, &reply, &FakeClock::new(now)).unwrap();
    let mut retry = items(&store).remove(0);
    assert_eq!(retry.state, OutboxState::Sending, "the pause left it alone");
    retry.state = OutboxState::Pending;
    retry.last_error = Some("rate limited; not sent".into());
    store.put(&retry).unwrap();

    let engine = Engine::new(store.clone(), Arc::new(FakeClock::new(now)));
    let handled = OutboxWorker::new(engine).send_due().await.unwrap();
    assert_eq!(handled.len(), 1);
    let item = store.get::<OutboxItem>(&retry.id).unwrap().unwrap();
    assert_eq!(item.state, OutboxState::Cancelled, "{item:?}");
    assert_eq!(item.attempts, retry.attempts, "no new attempt was made");
    let after = self::enrollment(&store, &enrollment.id);
    assert_eq!(after.state, EnrollmentState::Paused, "{after:?}");
}
