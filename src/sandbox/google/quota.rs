//! Per-user quota units over a rolling minute, and the call counters tests read.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Gmail's current per-user limit.
pub const DEFAULT_UNITS_PER_MINUTE: u32 = 6000;

/// How an exhausted quota is reported; real Gmail has used both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaErrorStyle {
    /// 429 `rateLimitExceeded`, `RESOURCE_EXHAUSTED`.
    #[default]
    TooManyRequests,
    /// 403 `userRateLimitExceeded`.
    UserRateLimitExceeded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSettings {
    pub units_per_minute: u32,
    #[serde(default)]
    pub style: QuotaErrorStyle,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            units_per_minute: DEFAULT_UNITS_PER_MINUTE,
            style: QuotaErrorStyle::default(),
        }
    }
}

/// What the sandbox has seen, for assertions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleCounters {
    /// Served Gmail calls per method name (e.g. `messages.get`).
    pub calls: BTreeMap<String, u64>,
    pub units_used: u64,
    /// Gmail calls refused with 401.
    pub unauthorized: u64,
    /// Gmail calls refused for quota (429 or 403).
    pub rate_limited: u64,
    /// Successful `/token` answers.
    pub tokens_issued: u64,
}

/// The unit cost of each Gmail method (the "Usage limits" table).
pub fn units_for(method: &str) -> u32 {
    match method {
        "getProfile" | "labels.list" | "labels.get" => 1,
        "history.list" => 2,
        "messages.list"
        | "messages.get"
        | "messages.modify"
        | "messages.trash"
        | "messages.untrash"
        | "messages.attachments.get"
        | "drafts.get"
        | "drafts.list" => 5,
        "drafts.create" | "threads.get" | "threads.list" | "threads.modify" | "threads.trash"
        | "threads.untrash" => 10,
        "messages.batchModify" => 50,
        "messages.send" | "drafts.send" => 100,
        _ => 5,
    }
}

#[derive(Debug, Default)]
pub struct Quota {
    pub settings: QuotaSettings,
    window: VecDeque<(DateTime<Utc>, u32)>,
    pub counters: GoogleCounters,
}

impl Quota {
    /// Charge a call; on refusal returns when enough units will be free again.
    pub fn charge(&mut self, now: DateTime<Utc>, method: &str) -> Result<(), DateTime<Utc>> {
        let minute = Duration::minutes(1);
        while self
            .window
            .front()
            .is_some_and(|(at, _)| *at + minute <= now)
        {
            self.window.pop_front();
        }
        let units = units_for(method);
        let used: u32 = self.window.iter().map(|(_, u)| *u).sum();
        if used.saturating_add(units) > self.settings.units_per_minute {
            self.counters.rate_limited += 1;
            let mut freed = 0u32;
            let mut retry_at = now + minute;
            for (at, spent) in &self.window {
                freed += spent;
                if used - freed + units <= self.settings.units_per_minute {
                    retry_at = *at + minute;
                    break;
                }
            }
            return Err(retry_at);
        }
        self.window.push_back((now, units));
        self.counters.units_used += u64::from(units);
        *self.counters.calls.entry(method.to_string()).or_default() += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_refuses_then_recovers_after_a_minute() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let mut quota = Quota {
            settings: QuotaSettings {
                units_per_minute: 10,
                style: QuotaErrorStyle::TooManyRequests,
            },
            ..Quota::default()
        };
        assert!(quota.charge(start, "messages.get").is_ok());
        assert!(quota.charge(start, "messages.get").is_ok());
        let retry = quota.charge(start, "getProfile");
        assert_eq!(retry, Err(start + Duration::minutes(1)));
        assert!(
            quota
                .charge(start + Duration::seconds(59), "getProfile")
                .is_err()
        );
        assert!(
            quota
                .charge(start + Duration::seconds(60), "messages.get")
                .is_ok()
        );
        assert_eq!(quota.counters.rate_limited, 2);
        assert_eq!(quota.counters.units_used, 15);
        assert_eq!(quota.counters.calls.get("messages.get"), Some(&3));
    }
}
