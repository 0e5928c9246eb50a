//! Search per keystroke over a big cache: 20k conversations, 200k messages.
//!
//! cargo bench --bench search            (OUTPOST_BENCH_SCALE=0.1 for a tenth)
//!
//! The cache is written straight into an on-disk store; then one engine
//! answers what the TUI asks on each keystroke of `/`: the first page of
//! rows and the exact counts for the query typed so far. Words are typed
//! letter by letter, then a few operator queries; p50 and p99 are over
//! every keystroke of every round. The first query builds the in-memory
//! index and is reported on its own.

// The allocator the outpost binary ships with.
#[global_allocator]
static ALLOCATOR: outpost::Allocator = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use outpost::clock::FakeClock;
use outpost::engine::{Engine, InboxQuery};
use outpost::model::*;
use outpost::store::Store;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const WORDS: [&str; 48] = [
    "thanks",
    "for",
    "the",
    "note",
    "we",
    "are",
    "looking",
    "at",
    "pricing",
    "next",
    "quarter",
    "budget",
    "team",
    "plan",
    "demo",
    "call",
    "tuesday",
    "works",
    "send",
    "invite",
    "contract",
    "renewal",
    "security",
    "review",
    "legal",
    "procurement",
    "timeline",
    "onboarding",
    "seats",
    "annual",
    "discount",
    "proposal",
    "meeting",
    "calendar",
    "follow",
    "up",
    "question",
    "about",
    "integration",
    "salesforce",
    "hubspot",
    "pipeline",
    "forecast",
    "board",
    "approval",
    "q3",
    "happy",
    "connect",
];
const NAMES: [&str; 12] = [
    "Ann Lee",
    "Bo Chan",
    "Cy Diaz",
    "Di Eng",
    "Ed Fox",
    "Flo Gray",
    "Gus Hale",
    "Hal Ito",
    "Ivy Jones",
    "Jo King",
    "Kai Lam",
    "Lu Moss",
];
const COMPANIES: [&str; 8] = [
    "northwind",
    "contoso",
    "fabrikam",
    "tailspin",
    "litware",
    "proseware",
    "wingtip",
    "woodgrove",
];

fn body(rng: &mut ChaCha8Rng, words: usize) -> String {
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            out.push(if i % 12 == 0 { '\n' } else { ' ' });
        }
        out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    out
}

fn generate(store: &Store, scale: f64) {
    let conversations = (20_000.0 * scale) as usize;
    let per_conversation = 10;
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    store
        .put(&GmailLabels {
            account: "gm".into(),
            labels: vec![
                LabelName {
                    id: "INBOX".into(),
                    name: "INBOX".into(),
                    system: true,
                },
                LabelName {
                    id: "Label_1".into(),
                    name: "Prospects".into(),
                    system: false,
                },
                LabelName {
                    id: "Label_2".into(),
                    name: "Follow up".into(),
                    system: false,
                },
            ],
        })
        .unwrap();
    let mut threads = Vec::new();
    let mut messages = Vec::new();
    for n in 0..conversations {
        let name = NAMES[n % NAMES.len()];
        let company = COMPANIES[n % COMPANIES.len()];
        let email = format!(
            "{}.{n}@{company}.io",
            name.split(' ').next().unwrap().to_lowercase()
        );
        let id = format!("t{n:06}");
        let key = Thread::key_for("gm", &id);
        let start = base + Duration::minutes(n as i64 * 7);
        let subject = format!("{} for {company}", WORDS[n % WORDS.len()]);
        let label = match n % 4 {
            0 => Some("Label_1"),
            1 => Some("Label_2"),
            _ => None,
        };
        for m in 0..per_conversation {
            let inbound = m % 2 == 1;
            let (from, to) = if inbound {
                (
                    Address {
                        name: Some(name.into()),
                        email: email.clone(),
                    },
                    Address::new("sam@acme.io"),
                )
            } else {
                (
                    Address {
                        name: Some("Sam Carter".into()),
                        email: "sam@acme.io".into(),
                    },
                    Address::new(email.clone()),
                )
            };
            let mut labels = vec!["INBOX".to_string()];
            labels.extend(label.map(str::to_string));
            messages.push(Message {
                account: "gm".into(),
                provider_id: format!("{id}-{m}"),
                thread_key: key.clone(),
                direction: if inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                message_id: Some(format!("<{id}-{m}@bench.example>")),
                in_reply_to: None,
                references: Vec::new(),
                from,
                to: vec![to],
                cc: Vec::new(),
                subject: subject.clone(),
                date: start + Duration::hours(m as i64),
                text_body: body(&mut rng, 60),
                html_body: None,
                attachments: if n % 10 == 3 && m == 1 {
                    vec![Attachment {
                        filename: "requirements.csv".into(),
                        mime_type: "text/csv".into(),
                        size: 120,
                    }]
                } else {
                    Vec::new()
                },
                read: !inbound || n % 3 != 0,
                labels,
                smartlead: None,
            });
        }
        let last = start + Duration::hours(per_conversation as i64 - 1);
        threads.push(Thread {
            account: "gm".into(),
            provider: Provider::Gmail,
            provider_thread_id: id,
            subject,
            lead_email: Some(email.clone()),
            campaign_id: Some((n % 20) as i64),
            campaign_name: Some(format!("Campaign {} {}", n % 20, WORDS[n % 7])),
            last_message_at: last,
            last_inbound_at: Some(last - Duration::hours(1)),
            message_count: per_conversation as u32,
            unread: n % 3 == 0,
            has_reply: true,
            category: None,
            snippet: String::new(),
            participants: vec![email],
            lead_name: Some(name.into()),
            preview: String::new(),
            answered_last: true,
            merged_into: None,
            sources: Vec::new(),
        });
        if messages.len() >= 5_000 {
            store.put_all(&messages).unwrap();
            messages.clear();
        }
        if threads.len() >= 1_000 {
            store.put_all(&threads).unwrap();
            threads.clear();
        }
    }
    store.put_all(&messages).unwrap();
    store.put_all(&threads).unwrap();
}

fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The CPU time this thread has used: what a keystroke costs whatever else
/// the machine runs (wall time on a busy machine includes waiting for a core).
fn thread_cpu() -> StdDuration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    StdDuration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// What one keystroke took: rows and counts (wall time), the rows alone,
/// and rows and counts in this thread's CPU time.
struct Took {
    all: StdDuration,
    rows: StdDuration,
    cpu: StdDuration,
}

/// What the TUI asks for one keystroke: the first page and the counts.
fn keystroke(engine: &Engine, text: &str) -> Took {
    let query = InboxQuery {
        search: Some(text.to_string()),
        limit: Some(200),
        ..InboxQuery::default()
    };
    let cpu = thread_cpu();
    let t = Instant::now();
    let rows = engine.inbox(&query).unwrap();
    let rows_took = t.elapsed();
    let counts = engine.inbox_counts(&query).unwrap();
    let took = t.elapsed();
    let cpu = thread_cpu() - cpu;
    std::hint::black_box((rows, counts));
    Took {
        all: took,
        rows: rows_took,
        cpu,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it, and then it only checks that it starts.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let scale: f64 = std::env::var("OUTPOST_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), "bench-search").unwrap();
    let t = Instant::now();
    generate(&store, scale);
    println!(
        "generated {} conversations, {} messages in {:.1} s",
        store.count::<Thread>(),
        store.count::<Message>(),
        t.elapsed().as_secs_f64()
    );
    let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap());
    let engine = Engine::new(store, Arc::new(clock));
    // Tags, so tag: has something to find.
    for n in (0..(20_000.0 * scale) as usize).step_by(50) {
        engine
            .tag(
                &Thread::key_for("gm", &format!("t{n:06}")),
                &["hot".into()],
                &[],
            )
            .unwrap();
    }

    let first = keystroke(&engine, "p").all;
    println!("first query (builds the index): {:.0} ms", ms(first));

    let typed = ["pricing", "budget approval", "salesforce"];
    let operators = [
        "from:ann",
        "to:sam@acme.io is:unread",
        "label:prospects pricing",
        "\"security review\"",
        "has:attachment -is:read",
        "campaign:\"campaign 7\" tag:hot",
        "after:2026-02-01 before:2026-03-01 demo",
        "-label:prospects onboarding seats",
    ];
    let rounds = 5;
    let mut samples = Vec::new();
    let mut cpu_samples = Vec::new();
    let mut operator_samples = Vec::new();
    // Each query's slowest keystroke over the rounds, and its rows' share,
    // so the tail can be named.
    let mut by_query: Vec<(String, StdDuration, StdDuration)> = Vec::new();
    let mut note = |query: &str, took: Took| {
        cpu_samples.push(took.cpu);
        match by_query.iter_mut().find(|(q, _, _)| q == query) {
            Some(slowest) if slowest.1 < took.all => {
                *slowest = (query.to_string(), took.all, took.rows)
            }
            Some(_) => {}
            None => by_query.push((query.to_string(), took.all, took.rows)),
        }
        took.all
    };
    for _ in 0..rounds {
        for word in typed {
            for end in 1..=word.len() {
                samples.push(note(&word[..end], keystroke(&engine, &word[..end])));
            }
        }
        for query in operators {
            let took = note(query, keystroke(&engine, query));
            samples.push(took);
            operator_samples.push(took);
        }
    }
    samples.sort();
    cpu_samples.sort();
    operator_samples.sort();
    println!(
        "per keystroke ({} samples: {} words typed letter by letter and {} operator queries, \
         {rounds} rounds; rows + counts): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        typed.len(),
        operators.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
    );
    println!(
        "operator queries alone: p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&operator_samples, 0.5)),
        ms(percentile(&operator_samples, 0.99)),
    );
    println!(
        "per keystroke in CPU time (this thread; what the machine's load does not add): \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&cpu_samples, 0.5)),
        ms(percentile(&cpu_samples, 0.99)),
        ms(*cpu_samples.last().unwrap()),
    );
    by_query.sort_by_key(|slowest| std::cmp::Reverse(slowest.1));
    println!("slowest queries (worst round: rows + counts, rows alone):");
    for (query, took, rows) in by_query.iter().take(12) {
        println!("  {:>7.1} ms {:>7.1} ms  {query}", ms(*took), ms(*rows));
    }
    let size = engine.search_index_size();
    println!(
        "index: {} conversations, {:.1} MB of text, {} distinct words, {} postings ({:.1} MB)",
        size.documents,
        size.text_bytes as f64 / 1e6,
        size.words,
        size.postings,
        size.posting_bytes as f64 / 1e6,
    );
}
