//! Scheduler tick cost: 100k active enrollments, 1k of them due, Gmail
//! sequence with a window, caps and gaps. Measures engine time only (the tick
//! writes outbox items; nothing is sent).
//!
//! Run: `cargo bench --bench scheduler`

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use outpost::config::SendingConfig;
use outpost::model::*;
use outpost::sequences::{self, Scheduler, SchedulerConfig};
use outpost::store::Store;

const TOTAL: usize = 100_000;
const DUE_PER_TICK: usize = 1_000;
const ROUNDS: usize = 5;

const SEQUENCE: &str = r#"
name = "bench"
account = "acme"
[settings]
daily_limit_per_mailbox = 100000
window = { start = "00:00", end = "23:59" }
skip_weekends = false
random_gap_secs = { min = 0, max = 2 }
[send_via]
provider = "gmail"
mailboxes = ["a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example"]
[[steps]]
type = "email"
subject = "{Hi|Hello} {{ first_name | default(\"there\") }}"
body = "About {{ company | default(\"your team\") }}: https://acme.example/x"
[[steps]]
type = "wait"
days = 3
[[steps]]
type = "email"
body = "Following up."
"#;

fn enrollment(i: usize, due: DateTime<Utc>, now: DateTime<Utc>) -> Enrollment {
    Enrollment {
        id: format!("{i:08}-bench"),
        account: "acme".into(),
        sequence: "bench".into(),
        lead_email: format!("lead{i}@co{}.example", i % 5000),
        state: EnrollmentState::Active,
        reason: None,
        current_step: 0,
        next_due_at: Some(due),
        enrolled_at: now,
        started_at: due,
        updated_at: now,
        mailbox: None,
        thread_id: None,
        last_message_id: None,
        references: Vec::new(),
        last_subject: None,
        variants: BTreeMap::new(),
        resume_at: None,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), "bench").expect("store");
    let now: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().expect("time");
    sequences::apply_sequence(
        &store,
        "bench.toml",
        SEQUENCE,
        &SendingConfig::default(),
        now,
    )
    .expect("apply");

    let setup = Instant::now();
    let mut leads = Vec::new();
    let mut batch = Vec::new();
    for i in 0..TOTAL {
        // ROUNDS batches of 1k due one minute apart; the rest due in a month.
        let due = if i < DUE_PER_TICK * ROUNDS {
            now + Duration::minutes((i / DUE_PER_TICK) as i64)
        } else {
            now + Duration::days(30) + Duration::seconds(i as i64)
        };
        batch.push(enrollment(i, due, now));
        let mut lead = Lead::new("acme", &format!("lead{i}@co{}.example", i % 5000));
        lead.first_name = Some(format!("Lead{i}"));
        lead.company = Some(format!("Co {}", i % 5000));
        leads.push(lead);
        if batch.len() == 5_000 {
            store.put_all(&batch).expect("enrollments");
            store.put_all(&leads).expect("leads");
            batch.clear();
            leads.clear();
        }
    }
    store.put_all(&batch).expect("enrollments");
    store.put_all(&leads).expect("leads");
    eprintln!(
        "setup: {TOTAL} enrollments and leads in {:?}",
        setup.elapsed()
    );

    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::new(chrono_tz::UTC));
    let mut times: Vec<StdDuration> = Vec::new();
    for round in 0..ROUNDS {
        let at = now + Duration::minutes(round as i64);
        let start = Instant::now();
        let report = scheduler.tick(at).expect("tick");
        times.push(start.elapsed());
        assert_eq!(report.queued.len(), DUE_PER_TICK, "round {round}");
    }
    times.sort();
    println!(
        "scheduler tick: {TOTAL} active enrollments, {DUE_PER_TICK} due steps -> min {:?}, median {:?}, max {:?} ({ROUNDS} rounds)",
        times[0],
        times[ROUNDS / 2],
        times[ROUNDS - 1]
    );
}
