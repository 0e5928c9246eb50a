//! Webhook ingest under sustained load, on loopback. A load generator keeps
//! `OUTPOST_BENCH_CONCURRENCY` keep-alive connections busy (one request in
//! flight each) against the daemon's HTTP server for `OUTPOST_BENCH_SECS`.
//! Every request is a distinct EMAIL_OPEN with its own `X-Request-Id`; leads
//! come from a moving window of 4,096 so each lead gets
//! `OUTPOST_BENCH_EVENTS_PER_LEAD` events, as a campaign's leads do, and is
//! first heard of through a webhook.
//!
//! Reports events/s, p50/p99 latency, lost events (2xx answered minus events
//! in the store, asserted 0), RSS every 30 s, the writer's time per phase,
//! and the CPU the server and the load generator each used (they share the
//! machine's cores: the generator runs on its own thread, named `loadgen`).
//!
//! cargo bench --bench webhooks
//! OUTPOST_BENCH_SECS=300 cargo bench --bench webhooks      (the soak)
//!
//! `OUTPOST_BENCH_REPLY_EVERY=N` makes every Nth event a reply (which also
//! writes the lead's thread and message) instead of an open.
//!
//! `OUTPOST_BENCH_DATABASE_URL=URL` runs the daemon on that Postgres
//! database instead of sled in a temp dir (it must hold no events yet: the
//! loss check counts every event in the store); the server's CPU is then
//! outpost's alone, not the database server's.
//! `scripts/postgres-throwaway.sh run -- cargo bench --bench webhooks` gives
//! it a fresh cluster.
//!
//! `OUTPOST_BENCH_DISTINCT=N` makes request n carry fact n mod N: after the
//! first N requests every delivery is a re-delivery (a new `X-Request-Id`
//! for a fact already stored, as a sender retrying does), so the store stops
//! growing while the load goes on. That separates memory the load holds from
//! memory that follows the store's size.

// The allocator the outpost binary ships with.
#[global_allocator]
static ALLOCATOR: outpost::Allocator = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use outpost::clock::{SharedClock, SystemClock};
use outpost::engine::Engine;
use outpost::sequences::TrackingKey;
use outpost::server::state::{ServerParts, WebhookRoute};
use outpost::server::{Ingest, Metrics, ServerState};
use outpost::store::Store;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "bench-secret";
/// Latency histogram: 10 µs buckets up to 1 s (constant memory over a soak).
const BUCKET_MICROS: u64 = 10;
const BUCKETS: usize = 100_000;
/// Leads receiving events at any one time.
const LEAD_WINDOW: u64 = 4096;
const RSS_EVERY_SECS: u64 = 30;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds used so far by the load generator's thread and by every
/// other thread of the process (server, writer, sled), from /proc.
fn cpu_seconds() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let (mut loadgen, mut rest) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let Some((name_part, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        let used = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        let (Some(user), Some(system)) = (used(11), used(12)) else {
            continue;
        };
        let seconds = (user + system) / ticks;
        if name_part.ends_with("(loadgen") {
            loadgen += seconds;
        } else {
            rest += seconds;
        }
    }
    (loadgen, rest)
}

fn percentile(hist: &[AtomicU64], total: u64, p: f64) -> f64 {
    let wanted = (((total as f64) * p).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n.load(Ordering::Relaxed);
        if seen >= wanted {
            return ((i as u64 + 1) * BUCKET_MICROS) as f64 / 1000.0;
        }
    }
    f64::NAN
}

fn payload(n: u64, per_lead: u64, reply_every: u64) -> String {
    let lead = (n / (LEAD_WINDOW * per_lead)) * LEAD_WINDOW + n % LEAD_WINDOW;
    let at = chrono::DateTime::from_timestamp(1_749_024_000 + (n / 1000) as i64, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S+00:00");
    if reply_every > 0 && n % reply_every == reply_every - 1 {
        // A reply: it also opens or updates the lead's thread and its message.
        return format!(
            r#"{{"event_type":"EMAIL_REPLY","campaign_id":1764810,"campaign_name":"Bench","sequence_number":1,"sl_email_lead_id":"{lead}","sl_email_lead_map_id":"{lead}","sl_lead_email":"lead{lead}@bench.example","stats_id":"stats-{n}","from_email":"sam@bench.example","to_email":"lead{lead}@bench.example","subject":"Re: Quick question","sent_message":{{"message_id":"<sent-{lead}@bench.example>","html":"<p>Hi,</p>","text":"Hi,","time":"{at}"}},"reply_message":{{"message_id":"<reply-{n}@mail.example>","html":"<div>Sounds interesting, send times.</div>","text":"Sounds interesting, send times.","time":"{at}"}},"event_timestamp":"{at}","secret_key":"{SECRET}"}}"#
        );
    }
    format!(
        r#"{{"event_type":"EMAIL_OPEN","campaign_id":1764810,"sequence_number":1,"sl_email_lead_id":"{lead}","sl_email_lead_map_id":"{lead}","sl_lead_email":"lead{lead}@bench.example","stats_id":"stats-{n}","event_timestamp":"{at}","time_opened":"{at}","subject":"Quick question","secret_key":"{SECRET}"}}"#
    )
}

/// Shared by the connections of the load generator.
struct Load {
    addr: std::net::SocketAddr,
    per_lead: u64,
    /// Facts cycled through (0: every request a new fact).
    distinct: u64,
    /// Every this many facts one is a reply (0: opens only).
    reply_every: u64,
    next: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
    hist: Vec<AtomicU64>,
}

/// One keep-alive HTTP/1.1 connection posting webhooks back to back: a
/// hand-written client, so the generator costs a write and a read per request.
async fn connection(load: Arc<Load>) {
    let mut stream: Option<TcpStream> = None;
    let mut request = Vec::with_capacity(1024);
    let mut answer = Vec::with_capacity(1024);
    while !load.stop.load(Ordering::Relaxed) {
        let conn = match stream.as_mut() {
            Some(conn) => conn,
            None => match TcpStream::connect(load.addr).await {
                Ok(conn) => {
                    let _ = conn.set_nodelay(true);
                    stream.insert(conn)
                }
                Err(_) => {
                    load.failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let n = load.next.fetch_add(1, Ordering::Relaxed);
        let fact = if load.distinct > 0 {
            n % load.distinct
        } else {
            n
        };
        let body = payload(fact, load.per_lead, load.reply_every);
        request.clear();
        request.extend_from_slice(
            format!(
                "POST /webhooks/smartlead HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-request-id: req-{n}\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(body.as_bytes());
        let sent = Instant::now();
        let status = match exchange(conn, &request, &mut answer).await {
            Some(status) => status,
            None => {
                stream = None;
                load.failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let micros = sent.elapsed().as_micros() as u64;
        if (200..300).contains(&status) {
            load.ok.fetch_add(1, Ordering::Relaxed);
            let bucket = ((micros / BUCKET_MICROS) as usize).min(BUCKETS - 1);
            load.hist[bucket].fetch_add(1, Ordering::Relaxed);
        } else {
            load.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends one request and reads its whole answer; the status, or None when
/// the connection broke or the answer made no sense.
async fn exchange(conn: &mut TcpStream, request: &[u8], answer: &mut Vec<u8>) -> Option<u16> {
    conn.write_all(request).await.ok()?;
    answer.clear();
    let (head_end, body_len) = loop {
        if conn.read_buf(answer).await.ok()? == 0 {
            return None;
        }
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&answer[..end]).ok()?;
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while answer.len() < head_end + body_len {
        if conn.read_buf(answer).await.ok()? == 0 {
            return None;
        }
    }
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

fn main() {
    let secs = env("OUTPOST_BENCH_SECS", 20);
    let concurrency = env("OUTPOST_BENCH_CONCURRENCY", 128);
    let per_lead = env("OUTPOST_BENCH_EVENTS_PER_LEAD", 8).max(1);
    let distinct = env("OUTPOST_BENCH_DISTINCT", 0);
    let reply_every = env("OUTPOST_BENCH_REPLY_EVERY", 0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    // Opened outside the runtime: a Postgres store owns a runtime of its own,
    // which must not be dropped inside another's async context.
    let store = match std::env::var("OUTPOST_BENCH_DATABASE_URL") {
        Ok(url) => Store::postgres(&url).expect("the database"),
        Err(_) => Store::open(dir.path(), "daemon").expect("store"),
    };
    let opened = store.clone();
    rt.block_on(async move {
        let clock: SharedClock = Arc::new(SystemClock);
        let engine = Engine::new(store.clone(), clock);
        let metrics = Arc::new(Metrics::default());
        let (ingest, writer) = Ingest::start(engine.clone());
        let writer_stats = ingest.stats().clone();
        let shutdown = CancellationToken::new();
        let state = ServerState::new(ServerParts {
            engine: engine.clone(),
            ingest,
            metrics: metrics.clone(),
            routes: vec![WebhookRoute {
                account: "bench".into(),
                token: None,
            }],
            webhook_secret: Some(SecretString::from(SECRET)),
            api_token: SecretString::from("unused"),
            tracking_key: Some(TrackingKey::from_bytes([3; 32])),
            sync: None,
            scheduler: None,
            shutdown: shutdown.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(outpost::server::serve(listener, state, shutdown.clone()));

        let load = Arc::new(Load {
            addr,
            per_lead,
            distinct,
            reply_every,
            next: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            // Allocated and touched up front, so it never shows as RSS growth.
            hist: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        });
        let generator = {
            let load = load.clone();
            std::thread::Builder::new()
                .name("loadgen".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("load generator runtime");
                    rt.block_on(async move {
                        let mut connections = tokio::task::JoinSet::new();
                        for _ in 0..concurrency {
                            connections.spawn(connection(load.clone()));
                        }
                        while connections.join_next().await.is_some() {}
                    });
                })
                .expect("load generator thread")
        };

        let started = Instant::now();
        let cpu_start = cpu_seconds();
        let mut rss = vec![(0u64, rss_kib())];
        let mut last_ok = 0;
        let mut last_at = 0;
        for second in 1..=secs {
            tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
            if second % RSS_EVERY_SECS == 0 || second == secs {
                let now_ok = load.ok.load(Ordering::Relaxed);
                let kib = rss_kib();
                rss.push((second, kib));
                eprintln!(
                    "t={second:>4}s  {:>7.0} events/s  rss {:>4} MiB",
                    (now_ok - last_ok) as f64 / (second - last_at) as f64,
                    kib / 1024
                );
                (last_ok, last_at) = (now_ok, second);
            }
        }
        // Sampled while the generator's thread still exists (an exited
        // thread's CPU time leaves /proc with it).
        let cpu_end = cpu_seconds();
        load.stop.store(true, Ordering::Relaxed);
        let joined = tokio::task::spawn_blocking(move || generator.join()).await;
        assert!(
            matches!(joined, Ok(Ok(()))),
            "the load generator panicked"
        );
        let elapsed = started.elapsed().as_secs_f64();
        let answered = load.ok.load(Ordering::Relaxed);
        let stored = engine.event_count().expect("count events") as u64;
        shutdown.cancel();
        let _ = server.await;
        drop(writer);

        let per_event = |seconds: f64| seconds * 1e6 / answered.max(1) as f64;
        let (gen_cpu, server_cpu) = (cpu_end.0 - cpu_start.0, cpu_end.1 - cpu_start.1);
        println!(
            "webhook ingest on {}, {concurrency} connections, {secs} s, loopback, {per_lead} events per lead{}",
            store.backend_name(),
            if distinct > 0 {
                format!(", {distinct} distinct facts re-delivered in turn")
            } else {
                String::new()
            }
        );
        if reply_every > 0 {
            println!(
                "  mix              one reply every {reply_every} events, the rest opens"
            );
        }
        println!("  answered 2xx     {answered}");
        println!("  failed           {}", load.failed.load(Ordering::Relaxed));
        println!("  events/s         {:.0}", answered as f64 / elapsed);
        println!(
            "  p50 latency      {:.2} ms",
            percentile(&load.hist, answered, 0.50)
        );
        println!(
            "  p99 latency      {:.2} ms",
            percentile(&load.hist, answered, 0.99)
        );
        // With re-deliveries, each fact answered at least once must be stored
        // (exact when no request failed: see `failed` above).
        let expected = if distinct > 0 {
            answered.min(distinct)
        } else {
            answered
        };
        println!("  events in store  {stored}");
        println!("  lost             {}", expected.saturating_sub(stored));
        let batches = Metrics::get(&writer_stats.batches).max(1);
        println!(
            "  batches          {batches} ({:.0} events per batch, {} flushes)",
            Metrics::get(&writer_stats.events) as f64 / batches as f64,
            Metrics::get(&writer_stats.flushes),
        );
        let phase = |counter: &AtomicU64| per_event(Metrics::get(counter) as f64 / 1e9);
        println!(
            "  writer µs/event  apply {:.1}, store events {:.1}, leads {:.1}, reactions {:.1}",
            phase(&writer_stats.apply_nanos),
            phase(&writer_stats.store_nanos),
            phase(&writer_stats.lead_nanos),
            phase(&writer_stats.react_nanos),
        );
        println!(
            "  flush            {:.2} ms on average (overlaps the next batch)",
            Metrics::get(&writer_stats.flush_nanos) as f64 / 1e6 / batches as f64
        );
        println!(
            "  CPU µs/event     server {:.1}, load generator {:.1} (wall {:.1} s; CPU s: server {:.1}, generator {:.1})",
            per_event(server_cpu),
            per_event(gen_cpu),
            elapsed,
            server_cpu,
            gen_cpu
        );
        let rss_line: Vec<String> = rss
            .iter()
            .map(|(t, k)| format!("{t}s:{}MiB", k / 1024))
            .collect();
        println!("  rss              {}", rss_line.join(" "));
        assert_eq!(
            expected.saturating_sub(stored),
            0,
            "acknowledged events were lost"
        );
    });
    drop(rt);
    drop(opened);
}
