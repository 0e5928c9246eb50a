//! Store throughput: record writes (single and batched, with index upkeep),
//! point reads, and the newest-leads page, on generated leads.
//!
//! cargo bench --bench store

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use outpost::clock::FakeClock;
use outpost::engine::{Engine, LeadQuery, LeadSort};
use outpost::model::{EventType, Lead, Membership};
use outpost::store::Store;

fn lead(n: u64) -> Lead {
    let mut lead = Lead::new("bench", &format!("lead{n}@company{}.example", n % 5000));
    lead.first_name = Some(format!("First{n}"));
    lead.last_name = Some(format!("Last{n}"));
    lead.company = Some(format!("Company {}", n % 5000));
    lead.linkedin_url = Some(format!("https://www.linkedin.com/in/lead-{n}"));
    lead.custom_fields = BTreeMap::from([("role".to_string(), "VP Finance".to_string())]);
    lead.memberships = vec![Membership {
        campaign_id: (n % 20) as i64,
        campaign_name: None,
        map_id: Some(2_400_000_000 + n as i64),
        status: Some("INPROGRESS".into()),
        category_id: None,
    }];
    lead.last_event = Some(EventType::EmailOpened);
    lead.last_event_at = Some(Utc.timestamp_opt(1_750_000_000 + n as i64 * 7, 0).unwrap());
    lead
}

fn bench_store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.sample_size(10);

    group.throughput(Throughput::Elements(1_000));
    group.bench_function("put 1k leads, one transaction each", |b| {
        b.iter_batched(
            || {
                (
                    Store::temporary().unwrap(),
                    (0..1_000).map(lead).collect::<Vec<_>>(),
                )
            },
            |(store, leads)| {
                for l in &leads {
                    store.put(l).unwrap();
                }
                store
            },
            BatchSize::PerIteration,
        )
    });

    group.throughput(Throughput::Elements(10_000));
    group.bench_function("put 10k leads, batches of 500", |b| {
        b.iter_batched(
            || {
                (
                    Store::temporary().unwrap(),
                    (0..10_000).map(lead).collect::<Vec<_>>(),
                )
            },
            |(store, leads)| {
                for chunk in leads.chunks(500) {
                    store.put_all(chunk).unwrap();
                }
                store
            },
            BatchSize::PerIteration,
        )
    });

    let store = Store::temporary().unwrap();
    let leads: Vec<Lead> = (0..100_000).map(lead).collect();
    for chunk in leads.chunks(1_000) {
        store.put_all(chunk).unwrap();
    }
    let keys: Vec<String> = leads.iter().map(|l| l.key()).collect();

    group.throughput(Throughput::Elements(10_000));
    group.bench_function("get 10k leads by key (of 100k)", |b| {
        b.iter(|| {
            for key in keys.iter().step_by(10) {
                black_box(store.get::<Lead>(key).unwrap());
            }
        })
    });

    // No index keeps this order (it would cost two tree writes per event):
    // the query walks every lead and keeps the best 50.
    let engine = Engine::new(
        store.clone(),
        std::sync::Arc::new(FakeClock::new(Utc.timestamp_opt(1_750_000_000, 0).unwrap())),
    );
    let newest = LeadQuery {
        sort: LeadSort::LastEvent,
        limit: Some(50),
        ..LeadQuery::default()
    };
    group.throughput(Throughput::Elements(50));
    group.bench_function("newest 50 leads by last event (of 100k)", |b| {
        b.iter(|| black_box(engine.leads(&newest).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
