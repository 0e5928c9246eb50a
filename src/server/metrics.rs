//! Counters behind `/metrics`. Plain atomics: the webhook path only ever
//! increments, and a scrape reads a consistent-enough snapshot.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a webhook was refused (a label on `outpost_webhook_rejections_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    BadJson,
    TooLarge,
    BadSecret,
    BadSignature,
    UnknownEventType,
    MissingField,
    UnknownAccount,
    NotConfigured,
    StoreFailure,
    /// The webhook queue is full (the writer is far behind).
    Behind,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::BadJson => "bad_json",
            Rejection::TooLarge => "too_large",
            Rejection::BadSecret => "bad_secret",
            Rejection::BadSignature => "bad_signature",
            Rejection::UnknownEventType => "unknown_event_type",
            Rejection::MissingField => "missing_field",
            Rejection::UnknownAccount => "unknown_account",
            Rejection::NotConfigured => "not_configured",
            Rejection::StoreFailure => "store_failure",
            Rejection::Behind => "behind",
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub webhook_requests: AtomicU64,
    pub webhook_duplicates: AtomicU64,
    pub opens: AtomicU64,
    pub clicks: AtomicU64,
    pub unsubscribes: AtomicU64,
    pub tracking_rejections: AtomicU64,
    pub api_requests: AtomicU64,
    pub api_unauthorized: AtomicU64,
    pub scheduler_ticks: AtomicU64,
    pub scheduler_tick_micros_total: AtomicU64,
    pub scheduler_tick_micros_last: AtomicU64,
    rejections: Mutex<BTreeMap<Rejection, u64>>,
}

impl Metrics {
    pub fn reject(&self, why: Rejection) {
        let mut all = self.rejections.lock().unwrap_or_else(|e| e.into_inner());
        *all.entry(why).or_default() += 1;
    }

    pub fn rejections(&self, why: Rejection) -> u64 {
        let all = self.rejections.lock().unwrap_or_else(|e| e.into_inner());
        all.get(&why).copied().unwrap_or(0)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn record_tick(&self, took: std::time::Duration) {
        let micros = took.as_micros().min(u128::from(u64::MAX)) as u64;
        Self::add(&self.scheduler_ticks, 1);
        Self::add(&self.scheduler_tick_micros_total, micros);
        self.scheduler_tick_micros_last
            .store(micros, Ordering::Relaxed);
    }

    /// The daemon's own counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            describe(out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        };
        counter(
            out,
            "outpost_webhook_requests_total",
            "Webhook deliveries received.",
            Self::get(&self.webhook_requests),
        );
        counter(
            out,
            "outpost_webhook_duplicates_total",
            "Webhook deliveries already seen (answered 2xx, nothing stored).",
            Self::get(&self.webhook_duplicates),
        );
        describe(
            out,
            "outpost_webhook_rejections_total",
            "counter",
            "Webhooks refused, by reason.",
        );
        {
            let all = self.rejections.lock().unwrap_or_else(|e| e.into_inner());
            for why in [
                Rejection::BadJson,
                Rejection::TooLarge,
                Rejection::BadSecret,
                Rejection::BadSignature,
                Rejection::UnknownEventType,
                Rejection::MissingField,
                Rejection::UnknownAccount,
                Rejection::NotConfigured,
                Rejection::StoreFailure,
                Rejection::Behind,
            ] {
                let value = all.get(&why).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "outpost_webhook_rejections_total{{reason=\"{}\"}} {value}",
                    why.as_str()
                );
            }
        }
        counter(
            out,
            "outpost_tracking_opens_total",
            "Open pixels served for valid tokens.",
            Self::get(&self.opens),
        );
        counter(
            out,
            "outpost_tracking_clicks_total",
            "Click redirects served for valid tokens.",
            Self::get(&self.clicks),
        );
        counter(
            out,
            "outpost_tracking_rejections_total",
            "Tracking or unsubscribe links refused (forged, edited or malformed).",
            Self::get(&self.tracking_rejections),
        );
        counter(
            out,
            "outpost_unsubscribes_total",
            "Unsubscribe requests honoured (replays included).",
            Self::get(&self.unsubscribes),
        );
        counter(
            out,
            "outpost_api_requests_total",
            "Engine API requests.",
            Self::get(&self.api_requests),
        );
        counter(
            out,
            "outpost_api_unauthorized_total",
            "Engine API requests refused for a missing or wrong token.",
            Self::get(&self.api_unauthorized),
        );
        counter(
            out,
            "outpost_scheduler_ticks_total",
            "Sequence scheduler ticks.",
            Self::get(&self.scheduler_ticks),
        );
        let total = Self::get(&self.scheduler_tick_micros_total) as f64 / 1e6;
        counter_f64(
            out,
            "outpost_scheduler_tick_seconds_total",
            "Time spent in scheduler ticks.",
            total,
        );
        describe(
            out,
            "outpost_scheduler_last_tick_seconds",
            "gauge",
            "Duration of the latest tick.",
        );
        let _ = writeln!(
            out,
            "outpost_scheduler_last_tick_seconds {}",
            Self::get(&self.scheduler_tick_micros_last) as f64 / 1e6
        );
    }
}

/// Writes a series' `# HELP` and `# TYPE` lines (Prometheus text format).
pub(crate) fn describe(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter_f64(out: &mut String, name: &str, help: &str, value: f64) {
    describe(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}
