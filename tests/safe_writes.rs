//! Safe writes: writers that run at once never undo each other (every
//! read-modify-write is a compare-and-swap), and a data dir survives a kill
//! at any moment (a half-made sled snapshot never stops the next open).

mod sequences_support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use outpost::clock::FakeClock;
use outpost::engine::Engine;
use outpost::model::*;
use outpost::outbox::OutboxWorker;
use outpost::sequences;
use outpost::store::{Kind, Store};
use rand::{Rng, SeedableRng};
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

/// A data dir's sled files.
fn cache_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("cache")
}

fn snapshot_files(data_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache_dir(data_dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("snap."))
        .collect();
    names.sort();
    names
}

fn suppression(n: usize) -> Suppression {
    Suppression {
        account: "acme".into(),
        email: format!("lead{n}@kill.example"),
        reason: SuppressionReason::Manual,
        at: utc("2026-03-02T10:00:00Z"),
        note: None,
    }
}

/// Plants what a kill between sled's write of a snapshot and its rename
/// leaves: the first half of the snapshot under its `.generating` name.
fn plant_torn_snapshot(data_dir: &Path) -> String {
    let finished = snapshot_files(data_dir)
        .into_iter()
        .rfind(|name| !name.ends_with(".generating"))
        .expect("sled wrote a snapshot on open");
    let bytes = std::fs::read(cache_dir(data_dir).join(&finished)).unwrap();
    let torn = format!("{finished}.generating");
    std::fs::write(cache_dir(data_dir).join(&torn), &bytes[..bytes.len() / 2]).unwrap();
    torn
}

#[test]
fn a_torn_snapshot_left_by_a_kill_does_not_stop_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let written: Vec<Suppression> = (0..50).map(suppression).collect();
    {
        let store = Store::open(&data_dir, "cli").unwrap();
        store.put_all(&written).unwrap();
        store.flush().unwrap();
    }
    // sled snapshots while opening: one more open and close makes sure a
    // finished snapshot exists to tear a copy of.
    drop(Store::open(&data_dir, "cli").unwrap());
    let torn = plant_torn_snapshot(&data_dir);

    let store = Store::open(&data_dir, "cli")
        .unwrap_or_else(|e| panic!("a torn {torn} stopped the open: {e}"));
    let found: Vec<Suppression> = store.iter::<Suppression>().map(Result::unwrap).collect();
    assert_eq!(found.len(), written.len());
    for record in &written {
        assert!(found.contains(record), "{record:?} is missing");
    }
    assert!(
        !snapshot_files(&data_dir).contains(&torn),
        "{torn} was removed"
    );
}

#[test]
fn the_checkpoint_on_close_clears_a_torn_snapshot_too() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    drop(Store::open(&data_dir, "cli").unwrap());
    let store = Store::open(&data_dir, "cli").unwrap();
    // Enough writes that closing reopens sled once to checkpoint it.
    let many: Vec<Suppression> = (0..20_000).map(suppression).collect();
    for chunk in many.chunks(2_000) {
        store.put_all(chunk).unwrap();
    }
    let torn = plant_torn_snapshot(&data_dir);
    drop(store);
    assert!(
        !snapshot_files(&data_dir).contains(&torn),
        "the checkpoint opened sled over {torn}"
    );
    let store = Store::open(&data_dir, "cli").unwrap();
    assert_eq!(store.count::<Suppression>(), many.len());
}

fn outpost(config: &Path) -> Command {
    let mut cmd = Command::cargo_bin("outpost").unwrap();
    cmd.env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .env("RUST_LOG", "warn")
        .arg("--config")
        .arg(config);
    cmd
}

/// One import file of `per_file` suppressions, numbered from `first`.
fn write_import(path: &Path, first: usize, per_file: usize) {
    let mut text = String::new();
    for n in first..first + per_file {
        let line = serde_json::json!({ "kind": Kind::Suppression, "record": suppression(n) });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Runs `outpost import FILE` and SIGKILLs it `after` from its start unless
/// it ended by then. True when it acknowledged the import: `outpost import`
/// flushes the store before it prints its total.
fn import_until(config: &Path, file: &Path, after: Duration) -> bool {
    let mut child = outpost(config)
        .arg("import")
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + after;
    // Polling the child is how "kill it at this moment" is done.
    let finished = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().unwrap(); // SIGKILL on unix
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    if let Some(status) = finished {
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "outpost import failed: {err}");
    }
    out.lines().any(|l| l.starts_with("imported "))
}

#[test]
fn two_hundred_kills_during_opens_and_writes_lose_nothing_acknowledged() {
    let seed: u64 = std::env::var("OUTPOST_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("kill loop seed: {seed} (OUTPOST_KILL_SEED={seed} repeats it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let kills: usize = std::env::var("OUTPOST_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let per_file = 40;

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config = dir.path().join("config.toml");
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    std::fs::write(
        &config,
        format!("data_dir = {}\n", q(&data_dir.to_string_lossy())),
    )
    .unwrap();

    // How long one import takes here (the quickest of three): the kills land
    // anywhere from the process's start (sled's open and snapshot) through
    // its writes, and about a third of the imports finish and acknowledge.
    let file = dir.path().join("import.jsonl");
    let mut acknowledged: Vec<usize> = Vec::new();
    let mut span = Duration::MAX;
    for round in 0..3 {
        write_import(&file, round * per_file, per_file);
        let started = Instant::now();
        assert!(import_until(&config, &file, Duration::from_secs(60)));
        span = span.min(started.elapsed());
        acknowledged.extend(round * per_file..(round + 1) * per_file);
    }

    let mut killed = 0;
    let mut round = 3;
    while killed < kills {
        let first = round * per_file;
        write_import(&file, first, per_file);
        let after = span.mul_f64(rng.random_range(0.0..1.6));
        if import_until(&config, &file, after) {
            acknowledged.extend(first..first + per_file);
        } else {
            killed += 1;
        }
        round += 1;
        // The next open succeeds and holds every acknowledged record.
        let store = Store::open(&data_dir, "cli").unwrap_or_else(|e| {
            panic!("seed {seed}, round {round}: the open after a kill failed: {e}")
        });
        for n in &acknowledged {
            let key = suppression(*n).key();
            assert!(
                store.contains::<Suppression>(&key).unwrap(),
                "seed {seed}, round {round}: acknowledged {key} is gone"
            );
        }
    }
    println!(
        "{killed} kills over {round} imports of {per_file} records (one import takes {span:?}), \
         {} records acknowledged",
        acknowledged.len()
    );
}
