//! Generating the sandbox data set: 100k leads with full histories.

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use outpost::sandbox::generate;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-08T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn generate_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("sandbox_gen");
    group.sample_size(10);
    group.bench_function("generate_100k_leads", |b| {
        b.iter(|| {
            let dataset = generate(7, 100_000, now());
            assert_eq!(dataset.lead_count(), 100_000);
            dataset
        })
    });
    group.finish();
}

criterion_group!(benches, generate_100k);
criterion_main!(benches);
