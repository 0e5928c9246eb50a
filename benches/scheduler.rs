//! Scheduler tick cost: 100k active enrollments, 1k of them due, Gmail
//! sequence with a window, caps and gaps. Measures engine time only (the tick
//! writes outbox items; nothing is sent).
//!
//! Run: `cargo bench --bench scheduler` (`OUTPOST_BENCH_ROUNDS=n` for more ticks).
//! With `OUTPOST_BENCH_DATABASE_URL` set it runs on that Postgres database
//! (an empty one: the team store) instead of the embedded cache.
//! Besides wall time it prints the tick thread's time on a CPU and waiting
//! for one, read from /proc, since the machine is often shared.

// The allocator the outpost binary ships with.
#[global_allocator]
static ALLOCATOR: outpost::Allocator = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use outpost::config::SendingConfig;
use outpost::model::*;
use outpost::sequences::{self, Scheduler, SchedulerConfig, TickTimings};
use outpost::store::Store;

const TOTAL: usize = 100_000;
const DUE_PER_TICK: usize = 1_000;
/// Ticks measured (`OUTPOST_BENCH_ROUNDS`); each has its own 1k due.
const DEFAULT_ROUNDS: usize = 7;

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
    let store = match std::env::var("OUTPOST_BENCH_DATABASE_URL") {
        Ok(url) => Store::postgres(&url).expect("the database"),
        Err(_) => Store::open(dir.path(), "bench").expect("store"),
    };
    println!("store: {}", store.backend_name());
    let now: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().expect("time");
    sequences::apply_sequence(
        &store,
        "bench.toml",
        SEQUENCE,
        &SendingConfig::default(),
        now,
    )
    .expect("apply");

    let rounds = std::env::var("OUTPOST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0 && r * DUE_PER_TICK <= TOTAL)
        .unwrap_or(DEFAULT_ROUNDS);
    let setup = Instant::now();
    let mut leads = Vec::new();
    let mut batch = Vec::new();
    for i in 0..TOTAL {
        // `rounds` batches of 1k due one minute apart; the rest due in a month.
        let due = if i < DUE_PER_TICK * rounds {
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

    // Setup's writes reach disk now, not in the background during the ticks.
    store.flush().expect("flush");
    println!("load average before the ticks: {}", load_average());

    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::new(chrono_tz::UTC));
    let mut wall: Vec<StdDuration> = Vec::new();
    let mut on_cpu: Vec<StdDuration> = Vec::new();
    let mut waiting: Vec<StdDuration> = Vec::new();
    let mut phases: Vec<TickTimings> = Vec::new();
    for round in 0..rounds {
        let at = now + Duration::minutes(round as i64);
        let cpu_before = thread_schedstat();
        let start = Instant::now();
        let report = scheduler.tick(at).expect("tick");
        wall.push(start.elapsed());
        if let (Some(before), Some(after)) = (cpu_before, thread_schedstat()) {
            on_cpu.push(after.0 - before.0);
            waiting.push(after.1 - before.1);
        }
        assert_eq!(report.queued.len(), DUE_PER_TICK, "round {round}");
        phases.push(report.timings);
    }
    println!(
        "scheduler tick: {TOTAL} active enrollments, {DUE_PER_TICK} due steps, {rounds} rounds"
    );
    println!("  wall time            {}", spread(&mut wall));
    if !on_cpu.is_empty() {
        println!("  on CPU (tick thread) {}", spread(&mut on_cpu));
        println!("  waiting for a CPU    {}", spread(&mut waiting));
    }
    let median = |phase: fn(&TickTimings) -> StdDuration| {
        let mut all: Vec<StdDuration> = phases.iter().map(phase).collect();
        all.sort();
        all[all.len() / 2]
    };
    println!(
        "  phase medians (wall): scan {:?}, load {:?}, handle {:?} (lookups {:?}, compose {:?}), commit {:?}",
        median(|t| t.scan),
        median(|t| t.load),
        median(|t| t.handle),
        median(|t| t.lookups),
        median(|t| t.compose),
        median(|t| t.commit),
    );
    println!("load average after the ticks: {}", load_average());
}

/// "min .. median .. max" of some durations.
fn spread(times: &mut [StdDuration]) -> String {
    times.sort();
    let ms = |d: StdDuration| d.as_secs_f64() * 1e3;
    format!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    )
}

/// This thread's time on a CPU and waiting in the run queue (Linux), so a
/// figure taken while other builds share the cores can be read for what the
/// tick itself costs.
fn thread_schedstat() -> Option<(StdDuration, StdDuration)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
    let on_cpu = parts.next()??;
    let waiting = parts.next()??;
    Some((
        StdDuration::from_nanos(on_cpu),
        StdDuration::from_nanos(waiting),
    ))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
