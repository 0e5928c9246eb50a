//! TUI performance on a big cache: 100k leads, 1M events, 20k threads.
//!
//! cargo bench --bench tui            (OUTPOST_BENCH_SCALE=0.1 for a tenth)
//!
//! The cache is generated straight into an on-disk store, then a fresh child
//! process (so its peak RSS is the TUI's alone) opens it and measures:
//! start to the first full frame, keypress-to-frame while filtering the leads
//! table, and peak RSS.

// The allocator the outpost binary ships with.
#[global_allocator]
static ALLOCATOR: outpost::Allocator = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use outpost::clock::SystemClock;
use outpost::config::Notify;
use outpost::engine::Engine;
use outpost::model::*;
use outpost::store::Store;
use outpost::tui::{App, Keymap, Theme, jobs, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const COMPANIES: [&str; 12] = [
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Litware",
    "Adventure Works",
    "Proseware",
    "Wingtip",
    "Woodgrove",
    "Fourth Coffee",
    "Alpine Ski",
    "Blue Yonder",
];

fn generate(store: &Store, scale: f64) {
    let leads_n = (100_000.0 * scale) as u64;
    let events_per_lead: u64 = std::env::var("OUTPOST_BENCH_EVENTS_PER_LEAD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let threads_n = (20_000.0 * scale) as u64;
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
    store
        .put(&Account {
            name: "bench".into(),
            provider: Provider::Smartlead,
            email: Some("sam@acme.io".into()),
            needs_login: false,
            last_sync_ok: Some(base),
            last_error: None,
            categories: Vec::new(),
        })
        .unwrap();
    for id in 0..20 {
        store
            .put(&Campaign {
                account: "bench".into(),
                id,
                name: format!("Campaign {id}"),
                status: "ACTIVE".into(),
                client_id: None,
                parent_campaign_id: None,
                created_at: Some(base),
                sequence_count: 3,
                counts: Counts::default(),
                lead_stats: LeadStats::default(),
                email_account_ids: Vec::new(),
                timezone: None,
                synced_at: None,
            })
            .unwrap();
    }
    let mut leads = Vec::with_capacity(1000);
    let mut events = Vec::with_capacity(1000);
    for n in 0..leads_n {
        let company = COMPANIES[(n % 12) as usize];
        let mut lead = Lead::new(
            "bench",
            &format!(
                "lead{n}@{}{}.example",
                company.to_lowercase().replace(' ', ""),
                n % 997
            ),
        );
        lead.first_name = Some(format!("First{n}"));
        lead.last_name = Some(format!("Last{}", n % 7919));
        lead.company = Some(format!("{company} {}", n % 997));
        lead.linkedin_url = Some(format!("https://linkedin.com/in/lead-{n}"));
        lead.custom_fields = BTreeMap::from([("role".to_string(), "VP Finance".to_string())]);
        lead.memberships = vec![Membership {
            campaign_id: (n % 20) as i64,
            campaign_name: None,
            map_id: Some(n as i64),
            status: Some("INPROGRESS".into()),
            category_id: None,
        }];
        let last = base + Duration::minutes((n * 7 % 100_000) as i64);
        let mut activity = Activity::new("bench", &lead.email);
        for e in 0..events_per_lead {
            let kind = EventType::ALL[(e % 7) as usize];
            let at = last - Duration::hours(e as i64);
            let dedupe = format!("{n}|{e}");
            activity.insert(EmailEvent {
                id: EmailEvent::id_for("bench", &dedupe),
                account: "bench".into(),
                kind,
                lead_email: lead.email.clone(),
                campaign_id: Some((n % 20) as i64),
                sequence_number: Some(1),
                at,
                source: EventSource::Sync,
                dedupe_key: dedupe,
                message_id: None,
                detail: None,
            });
        }
        if !activity.events.is_empty() {
            events.push(activity);
        }
        lead.last_event = Some(EventType::EmailOpened);
        lead.last_event_at = Some(last);
        leads.push(lead);
        if leads.len() == 1000 {
            store.put_all(&leads).unwrap();
            store.put_all(&events).unwrap();
            leads.clear();
            events.clear();
        }
    }
    store.put_all(&leads).unwrap();
    store.put_all(&events).unwrap();
    let mut threads = Vec::with_capacity(1000);
    for n in 0..threads_n {
        let at = base + Duration::minutes(n as i64 * 5);
        threads.push(Thread {
            account: "bench".into(),
            provider: Provider::Smartlead,
            provider_thread_id: format!("{}:{n}", n % 20),
            subject: format!("Re: Quick question {n}"),
            lead_email: Some(format!("lead{n}@bench.example")),
            campaign_id: Some((n % 20) as i64),
            campaign_name: Some(format!("Campaign {}", n % 20)),
            last_message_at: at,
            last_inbound_at: Some(at),
            message_count: 2,
            unread: n % 3 == 0,
            has_reply: true,
            category: None,
            snippet: "Thanks, happy to chat next week. Does Thursday work?".into(),
            participants: vec![format!("lead{n}@bench.example")],
            lead_name: Some(format!("Lead {n}")),
            preview: "Thanks, happy to chat next week. Does Thursday work?".into(),
            answered_last: false,
            merged_into: None,
            sources: Vec::new(),
        });
        if threads.len() == 1000 {
            store.put_all(&threads).unwrap();
            threads.clear();
        }
    }
    store.put_all(&threads).unwrap();
    store.flush().unwrap();
}

fn peak_rss_mb() -> Option<f64> {
    proc_status_mb("VmHWM:")
}

fn rss_mb() -> f64 {
    proc_status_mb("VmRSS:").unwrap_or(0.0)
}

fn proc_status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn measure(dir: &std::path::Path) {
    let start = Instant::now();
    let store = Store::open(dir, "bench").unwrap();
    let opened = start.elapsed();
    let rss_open = rss_mb();
    let engine = Engine::new(store, Arc::new(SystemClock));
    // Jobs run as the TUI runs them: through the door, on a runtime.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let run = |job| runtime.block_on(jobs::run(engine.clone(), job));
    let theme = Theme::new(&BTreeMap::new(), false).unwrap();
    let mut app = App::new(
        Keymap::defaults(),
        theme,
        Arc::new(SystemClock),
        10,
        Notify::Off,
    );
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    // The first frame needs the inbox page and the accounts; the lead index
    // builds in the background meanwhile (measured separately below).
    let mut deferred = Vec::new();
    for job in app.take_jobs() {
        if matches!(job, jobs::Job::LeadIndex) {
            deferred.push(job);
        } else {
            let result = run(job);
            app.apply(result);
        }
    }
    terminal.draw(|f| view::draw(f, &mut app)).unwrap();
    let first_frame = start.elapsed();
    println!("threads in first inbox page: {}", app.inbox.rows.len());

    let index_start = Instant::now();
    for job in deferred {
        let result = run(job);
        app.apply(result);
    }
    let index_time = index_start.elapsed();
    let rss_indexed = rss_mb();
    let leads = app.leads.index.as_ref().map_or(0, |i| i.len());

    app.handle_key(key('2'));
    terminal.draw(|f| view::draw(f, &mut app)).unwrap();
    let mut samples = Vec::new();
    for round in 0..5 {
        app.handle_key(key('/'));
        let typed = ["lead1", "north", "first42", "contoso 9", "last77"][round];
        for c in typed.chars() {
            let t = Instant::now();
            app.handle_key(key(c));
            terminal.draw(|f| view::draw(f, &mut app)).unwrap();
            samples.push(t.elapsed());
        }
        for _ in typed.chars() {
            let t = Instant::now();
            app.handle_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
            terminal.draw(|f| view::draw(f, &mut app)).unwrap();
            samples.push(t.elapsed());
        }
        app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    }
    samples.sort();
    println!("leads indexed: {leads}");
    println!(
        "start to first full frame: {:.1} ms (store open {:.1} ms)",
        first_frame.as_secs_f64() * 1e3,
        opened.as_secs_f64() * 1e3
    );
    println!(
        "lead index build (background): {:.1} ms",
        index_time.as_secs_f64() * 1e3
    );
    println!(
        "keypress to frame while filtering ({} samples): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
    println!("RSS after store open {rss_open:.0} MB, after lead index {rss_indexed:.0} MB");
    match peak_rss_mb() {
        Some(mb) => println!("peak RSS: {mb:.0} MB"),
        None => println!("peak RSS: unavailable (no /proc)"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--measure") {
        let dir = args.get(at + 1).expect("--measure DIR");
        measure(std::path::Path::new(dir));
        return;
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it, and then it only checks that it starts.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let scale: f64 = std::env::var("OUTPOST_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    // OUTPOST_BENCH_DIR keeps the generated cache between runs (generated
    // once if the directory is empty), for measuring store changes quickly.
    let kept = std::env::var_os("OUTPOST_BENCH_DIR").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let reuse = kept.is_some() && dir.join("cache").exists();
    let t = Instant::now();
    if !reuse {
        let store = Store::open(&dir, "bench-gen").unwrap();
        generate(&store, scale);
        println!(
            "generated {} leads, {} events, {} threads in {:.1} s",
            store.count::<Lead>(),
            store
                .iter::<Activity>()
                .map(|a| a.unwrap().events.len())
                .sum::<usize>(),
            store.count::<Thread>(),
            t.elapsed().as_secs_f64()
        );
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--measure")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
}
