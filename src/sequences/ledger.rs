//! Per-mailbox, per-day send counts shared by every sequence, so a daily cap
//! holds across sequences, and the last scheduled send for the random gap.
//! Kept as cursor records (`{account}/mailbox-day/{mailbox}/{date}`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::model::Cursor;
use crate::store::{Store, StoreResult};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxDay {
    pub count: u32,
    pub last_at: Option<DateTime<Utc>>,
}

impl MailboxDay {
    fn parse(text: &str) -> MailboxDay {
        let mut parts = text.split_whitespace();
        let count = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let last_at = parts
            .next()
            .and_then(|m| m.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis);
        MailboxDay { count, last_at }
    }

    fn render(&self) -> String {
        match self.last_at {
            Some(at) => format!("{} {}", self.count, at.timestamp_millis()),
            None => self.count.to_string(),
        }
    }
}

/// Reads through to the store, buffers changes until `drain`.
#[derive(Debug, Default)]
pub struct Ledger {
    days: BTreeMap<(String, String, NaiveDate), MailboxDay>,
    dirty: BTreeMap<(String, String, NaiveDate), ()>,
}

fn cursor_name(mailbox: &str, day: NaiveDate) -> String {
    format!("mailbox-day/{mailbox}/{day}")
}

impl Ledger {
    pub fn get(
        &mut self,
        store: &Store,
        account: &str,
        mailbox: &str,
        day: NaiveDate,
    ) -> StoreResult<MailboxDay> {
        let key = (account.to_string(), mailbox.to_string(), day);
        if let Some(found) = self.days.get(&key) {
            return Ok(*found);
        }
        let cursor_key = crate::model::scoped_key(account, cursor_name(mailbox, day));
        let value = store
            .get::<Cursor>(&cursor_key)?
            .map(|c| MailboxDay::parse(&c.value))
            .unwrap_or_default();
        self.days.insert(key, value);
        Ok(value)
    }

    /// Counts one send at `at` (the caller has checked the cap).
    pub fn record(
        &mut self,
        store: &Store,
        account: &str,
        mailbox: &str,
        day: NaiveDate,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut value = self.get(store, account, mailbox, day)?;
        value.count += 1;
        value.last_at = Some(value.last_at.map_or(at, |last| last.max(at)));
        let key = (account.to_string(), mailbox.to_string(), day);
        self.days.insert(key.clone(), value);
        self.dirty.insert(key, ());
        Ok(())
    }

    /// The changed days as cursor records, ready to write.
    pub fn drain(&mut self) -> Vec<Cursor> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_keys()
            .filter_map(|key| {
                let value = self.days.get(&key)?;
                Some(Cursor {
                    account: key.0.clone(),
                    name: cursor_name(&key.1, key.2),
                    value: value.render(),
                })
            })
            .collect()
    }
}
