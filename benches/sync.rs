//! Full sync of a 10k-lead sandbox at Smartlead's documented rate limit
//! (10 requests / 2 s): requests made vs the minimum the API allows, and
//! wall time vs the bound the rate limit sets.
//!
//! Then the incremental polls: one at once (it re-reads campaigns with events
//! in the cursor's overlap), and an hour later (by a clock the sandbox and
//! outpost share) one that settles the cursors and one with nothing new.
//!
//! cargo bench --bench sync            (OUTPOST_BENCH_LEADS overrides 10000)

use std::sync::Arc;
use std::time::Instant;

use outpost::clock::{FakeClock, SharedClock};
use outpost::config::{self, ConfigSources};
use outpost::engine::Engine;
use outpost::providers::registry::Providers;
use outpost::sandbox::{self, SandboxOptions};
use outpost::store::Store;
use outpost::sync::SyncEngine;

fn main() {
    let leads: usize = std::env::var("OUTPOST_BENCH_LEADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        // One clock for the sandbox and outpost, so a poll can come later.
        let fake_clock = FakeClock::new(chrono::Utc::now());
        let handle = sandbox::start(SandboxOptions {
            leads,
            seed: 42,
            clock: Arc::new(fake_clock.clone()),
            ..SandboxOptions::default()
        })
        .await
        .expect("sandbox");
        let info = handle.info().clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let config_path = dir.path().join("config.toml");
        std::fs::write(
            &config_path,
            format!(
                "data_dir = {}\n[accounts.bench]\nprovider = \"smartlead\"\napi_key = {}\nbase_url = {}\n",
                q(&dir.path().join("data").to_string_lossy()),
                q(&info.smartlead_api_key),
                q(&info.smartlead_base_url)
            ),
        )
        .expect("config");
        let config = config::load(&ConfigSources {
            config_path: Some(config_path),
            data_dir: None,
        })
        .expect("config loads");
        let clock: SharedClock = Arc::new(fake_clock.clone());
        let providers = Providers::from_config(&config, config.data_dir(), clock.clone()).expect("providers");
        let store = Store::open(config.data_dir(), "bench").expect("store");
        let engine = Engine::with_providers(store, clock, Arc::new(providers));

        // The minimum: one call per list, and per campaign one for its
        // analytics, one for its email accounts (the per-mailbox bounce
        // rate), one per 100 leads, one per 500 statistics rows and one
        // history per replied lead.
        let truth = handle.ground_truth();
        let minimum: u64 = 3 + truth
            .iter()
            .map(|c| {
                2 + c.lead_count.div_ceil(100).max(1)
                    + c.totals.sent_count.div_ceil(500).max(1)
                    + c.replied_leads
            })
            .sum::<u64>();

        let started = Instant::now();
        let summary = SyncEngine::new(engine.clone()).sync_all().await;
        let elapsed = started.elapsed();
        let account = &summary.accounts[0];
        assert!(account.error.is_none(), "{account:?}");
        let bound = (account.requests as f64 / 10.0) * 2.0;
        println!("full sync of {leads} leads ({} campaigns)", truth.len());
        println!("  requests made      {}", account.requests);
        println!("  minimum needed     {minimum}");
        println!("  wall time          {:.1} s", elapsed.as_secs_f64());
        println!("  rate-limit bound   {bound:.1} s  (requests / 10 per 2 s)");
        println!("  429s received      {}", handle.throttled_count(&info.smartlead_api_key));
        println!("  records written    {}", account.writes);

        let sync = SyncEngine::new(engine);
        let poll = |label: &'static str| {
            let sync = sync.clone();
            async move {
                let started = Instant::now();
                let again = sync.sync_all().await;
                let account = &again.accounts[0];
                assert!(account.error.is_none(), "{account:?}");
                println!(
                    "{label}: {} requests, {} writes, {:.1} s",
                    account.requests,
                    account.writes,
                    started.elapsed().as_secs_f64()
                );
            }
        };
        poll("second sync (at once)").await;
        fake_clock.advance(chrono::Duration::hours(1));
        poll("poll an hour later (settles the cursors)").await;
        poll("poll with nothing new").await;
    });
}
