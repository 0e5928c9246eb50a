//! Per-mailbox, per-day send counts shared by every sequence, so a daily cap
//! holds across sequences, and the day's booked send times, so the random gap
//! holds around every send, not only after the latest one (a lead in an early
//! time zone can take a slot before sends already booked for later leads).
//! Kept as cursor records (`{account}/mailbox-day/{mailbox}/{date}`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::model::Cursor;
use crate::store::{Store, StoreResult};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxDay {
    pub count: u32,
    /// The day's booked send times, sorted.
    pub slots: Vec<DateTime<Utc>>,
}

impl MailboxDay {
    /// `count t1 t2 …` (epoch millis). Older records hold `count last`,
    /// which reads as one booked time.
    fn parse(text: &str) -> MailboxDay {
        let mut parts = text.split_whitespace();
        let count = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut slots: Vec<DateTime<Utc>> = parts
            .filter_map(|m| m.parse::<i64>().ok())
            .filter_map(DateTime::from_timestamp_millis)
            .collect();
        slots.sort();
        MailboxDay { count, slots }
    }

    fn render(&self) -> String {
        let mut out = self.count.to_string();
        for slot in &self.slots {
            out.push(' ');
            out.push_str(&slot.timestamp_millis().to_string());
        }
        out
    }

    /// The earliest time at or after `from` that is at least `gap` away
    /// from every booked send.
    pub fn first_free(&self, from: DateTime<Utc>, gap: Duration) -> DateTime<Utc> {
        let mut at = from;
        for &booked in &self.slots {
            if booked + gap <= at {
                continue;
            }
            if booked >= at + gap {
                break;
            }
            at = booked + gap;
        }
        at
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
            return Ok(found.clone());
        }
        let cursor_key = crate::model::scoped_key(account, cursor_name(mailbox, day));
        let value = store
            .get::<Cursor>(&cursor_key)?
            .map(|c| MailboxDay::parse(&c.value))
            .unwrap_or_default();
        self.days.insert(key, value.clone());
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
        let place = value.slots.partition_point(|booked| *booked <= at);
        value.slots.insert(place, at);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_free_time_keeps_the_gap_on_both_sides_of_every_booked_send() {
        let day = MailboxDay::parse("3 1772460000000 1772460300000 1772463600000");
        assert_eq!(day.slots[0], at("2026-03-02T14:00:00Z"));
        let gap = Duration::minutes(2);
        // Well before the first booked send: free as asked.
        assert_eq!(
            day.first_free(at("2026-03-02T01:00:00Z"), gap),
            at("2026-03-02T01:00:00Z")
        );
        // Too close to 14:00, and 14:02 is free (14:05 is three minutes on).
        assert_eq!(
            day.first_free(at("2026-03-02T13:59:00Z"), gap),
            at("2026-03-02T14:02:00Z")
        );
        // Between 14:05 and 15:00 there is room.
        assert_eq!(
            day.first_free(at("2026-03-02T14:06:00Z"), gap),
            at("2026-03-02T14:07:00Z")
        );
        assert_eq!(MailboxDay::parse(&day.render()), day);
    }

    #[test]
    fn an_older_count_and_last_record_reads_as_one_booked_send() {
        let day = MailboxDay::parse("7 1772460000000");
        assert_eq!((day.count, day.slots.len()), (7, 1));
        assert_eq!(
            MailboxDay::parse("4"),
            MailboxDay {
                count: 4,
                slots: vec![]
            }
        );
    }
}
