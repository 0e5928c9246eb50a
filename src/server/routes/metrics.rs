//! `GET /metrics`: Prometheus text. The daemon's counters, the outbox, and
//! each provider client's request, retry and rate-limit counters.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::health::scheduler_lag;
use crate::server::metrics::{Metrics, describe};
use crate::server::state::ServerState;

/// Reads one counter from a provider's snapshot.
type Pick = fn(&crate::providers::http::HttpMetricsSnapshot) -> u64;

pub fn render(state: &ServerState) -> String {
    let mut out = String::with_capacity(4096);
    state.metrics().render(&mut out);
    let outbox = state.engine().outbox_counts();
    describe(
        &mut out,
        "outpost_sends_total",
        "counter",
        "Emails the outbox has sent.",
    );
    let _ = writeln!(out, "outpost_sends_total {}", outbox.sent);
    describe(
        &mut out,
        "outpost_outbox_depth",
        "gauge",
        "Outbox items by state.",
    );
    for (label, n) in [
        ("pending", outbox.pending),
        ("sending", outbox.sending),
        ("failed", outbox.failed),
    ] {
        let _ = writeln!(out, "outpost_outbox_depth{{state=\"{label}\"}} {n}");
    }
    if let Some(lag) = scheduler_lag(state) {
        describe(
            &mut out,
            "outpost_scheduler_lag_seconds",
            "gauge",
            "Age of the oldest overdue sequence step.",
        );
        let _ = writeln!(out, "outpost_scheduler_lag_seconds {lag}");
    }
    let writer = state.inner.ingest.stats();
    for (name, kind, help, value) in [
        (
            "outpost_events_ingested_total",
            "counter",
            "Email events new to the store (webhooks, tracking, unsubscribes).",
            &writer.events_ingested,
        ),
        (
            "outpost_store_flushes_total",
            "counter",
            "Group-commit flushes of the store.",
            &writer.flushes,
        ),
        (
            "outpost_ingest_batches_total",
            "counter",
            "Batches of deliveries the webhook writer took (a flush answers each).",
            &writer.batches,
        ),
        (
            "outpost_ingest_queued_total",
            "counter",
            "Webhook deliveries answered 202 from the queue while the writer was behind.",
            &writer.queued_total,
        ),
        (
            "outpost_ingest_queued",
            "gauge",
            "Webhook deliveries queued and not yet applied.",
            &writer.queued_now,
        ),
    ] {
        describe(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {}", Metrics::get(value));
    }
    describe(
        &mut out,
        "outpost_ingest_stage_seconds_total",
        "counter",
        "Time the webhook writer spent per stage.",
    );
    for (stage, nanos) in [
        ("events", &writer.store_nanos),
        ("payload_records", &writer.apply_nanos),
        ("leads", &writer.lead_nanos),
        ("reactions", &writer.react_nanos),
        ("flush", &writer.flush_nanos),
    ] {
        let _ = writeln!(
            out,
            "outpost_ingest_stage_seconds_total{{stage=\"{stage}\"}} {:.6}",
            Metrics::get(nanos) as f64 / 1e9
        );
    }
    let providers = state.engine().provider_counters();
    let series: [(&str, &str, Pick); 4] = [
        (
            "outpost_provider_requests_total",
            "Requests sent to a provider, retries included.",
            |m| m.requests,
        ),
        (
            "outpost_provider_errors_total",
            "Provider answers that were retried (429, 5xx, network).",
            |m| m.retries,
        ),
        (
            "outpost_provider_rate_limited_total",
            "Provider answers with status 429.",
            |m| m.rate_limited,
        ),
        (
            "outpost_rate_limit_waits_total",
            "Times the local rate limiter (Gmail: the quota pacer) made a request wait.",
            |m| m.rate_limit_waits,
        ),
    ];
    for (name, help, pick) in series {
        describe(&mut out, name, "counter", help);
        for client in &providers {
            let _ = writeln!(
                out,
                "{name}{{account=\"{}\",provider=\"{}\"}} {}",
                client.account,
                client.provider,
                pick(&client.counters)
            );
        }
    }
    let failing = state
        .inner
        .sync
        .as_ref()
        .map(|s| {
            s.progress()
                .iter()
                .filter(|p| p.last_error.is_some())
                .count()
        })
        .unwrap_or(0);
    describe(
        &mut out,
        "outpost_sync_failing_accounts",
        "gauge",
        "Accounts whose latest sync failed.",
    );
    let _ = writeln!(out, "outpost_sync_failing_accounts {failing}");
    out
}

pub async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&state),
    )
}
