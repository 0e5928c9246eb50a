//! Webhook ingest under sustained load, on loopback: a load generator keeps
//! `OUTPOST_BENCH_CONCURRENCY` requests in flight against the daemon's HTTP
//! server for `OUTPOST_BENCH_SECS`, each a distinct EMAIL_OPEN payload with
//! its own `X-Request-Id`. Reports events/s, p50/p99 latency, lost events
//! (2xx answered minus events in the store, must be 0) and RSS over time.
//!
//! cargo bench --bench webhooks
//! OUTPOST_BENCH_SECS=300 cargo bench --bench webhooks      (the soak)

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
use tokio_util::sync::CancellationToken;

const SECRET: &str = "bench-secret";
/// Latency histogram: 10 µs buckets up to 1 s (constant memory over a soak).
const BUCKET_MICROS: u64 = 10;
const BUCKETS: usize = 100_000;

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

fn percentile(hist: &[u64], total: u64, p: f64) -> f64 {
    let wanted = ((total as f64) * p).ceil() as u64;
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= wanted.max(1) {
            return ((i as u64 + 1) * BUCKET_MICROS) as f64 / 1000.0;
        }
    }
    f64::NAN
}

fn payload(n: u64) -> String {
    format!(
        r#"{{"event_type":"EMAIL_OPEN","campaign_id":1764810,"sequence_number":1,"sl_email_lead_id":"{lead}","sl_email_lead_map_id":"{lead}","sl_lead_email":"lead{lead}@bench.example","stats_id":"stats-{n}","event_timestamp":"2025-06-04T08:02:31+00:00","time_opened":"2025-06-04T08:02:31+00:00","subject":"Quick question","secret_key":"{SECRET}"}}"#,
        lead = n % 5000
    )
}

fn main() {
    let secs = env("OUTPOST_BENCH_SECS", 20);
    let concurrency = env("OUTPOST_BENCH_CONCURRENCY", 128);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), "daemon").expect("store");
        let clock: SharedClock = Arc::new(SystemClock);
        let engine = Engine::new(store.clone(), clock);
        let metrics = Arc::new(Metrics::default());
        let (ingest, _writer) = Ingest::start(engine.clone(), metrics.clone());
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
        let url = format!(
            "http://{}/webhooks/smartlead",
            listener.local_addr().expect("addr")
        );
        let server = tokio::spawn(outpost::server::serve(listener, state, shutdown.clone()));

        let next = Arc::new(AtomicU64::new(0));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency as usize)
            .build()
            .expect("client");
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (client, url, next, ok, failed, stop) = (
                client.clone(),
                url.clone(),
                next.clone(),
                ok.clone(),
                failed.clone(),
                stop.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut hist = vec![0u64; BUCKETS];
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    let answer = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-request-id", format!("req-{n}"))
                        .body(payload(n))
                        .send()
                        .await;
                    let micros = sent.elapsed().as_micros() as u64;
                    match answer {
                        Ok(r) if r.status().is_success() => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            let bucket = ((micros / BUCKET_MICROS) as usize).min(BUCKETS - 1);
                            hist[bucket] += 1;
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                hist
            }));
        }
        let mut rss = vec![(0u64, rss_kib())];
        let mut last_ok = 0;
        for second in 1..=secs {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now_ok = ok.load(Ordering::Relaxed);
            if second % 10 == 0 || second == secs {
                let kib = rss_kib();
                rss.push((second, kib));
                eprintln!(
                    "t={second:>4}s  {:>7} events/s  rss {:>7} KiB",
                    now_ok - last_ok,
                    kib
                );
            }
            last_ok = now_ok;
        }
        stop.store(true, Ordering::Relaxed);
        let mut hist = vec![0u64; BUCKETS];
        for worker in workers {
            for (i, n) in worker.await.expect("worker").into_iter().enumerate() {
                hist[i] += n;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let answered = ok.load(Ordering::Relaxed);
        let stored = engine.event_count().expect("count events") as u64;
        shutdown.cancel();
        let _ = server.await;
        println!("webhook ingest, {concurrency} in flight, {secs} s, loopback, one process");
        println!("  answered 2xx     {answered}");
        println!("  failed           {}", failed.load(Ordering::Relaxed));
        println!("  events/s         {:.0}", answered as f64 / elapsed);
        println!(
            "  p50 latency      {:.2} ms",
            percentile(&hist, answered, 0.50)
        );
        println!(
            "  p99 latency      {:.2} ms",
            percentile(&hist, answered, 0.99)
        );
        println!("  events in store  {stored}");
        println!("  lost             {}", answered.saturating_sub(stored));
        println!(
            "  flushes          {} ({:.0} events per flush)",
            Metrics::get(&metrics.flushes),
            answered as f64 / Metrics::get(&metrics.flushes).max(1) as f64
        );
        let rss_line: Vec<String> = rss
            .iter()
            .map(|(t, k)| format!("{t}s:{}MiB", k / 1024))
            .collect();
        println!("  rss              {}", rss_line.join(" "));
        assert_eq!(
            answered.saturating_sub(stored),
            0,
            "acknowledged events were lost"
        );
    });
}
