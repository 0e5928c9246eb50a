//! A record kind used as a first-in, first-out queue (the webhook writer's
//! queued deliveries): appended and removed key by key, without the
//! transaction, old-value reads and change announcements of `put_all`. An
//! append is a plain insert because a queued record is never changed, only
//! added once and removed once, and nobody watches the queue's changes.
//! Only for kinds without indexes (nothing would keep them in step).

use std::sync::atomic::Ordering;

use super::{Record, Store, StoreResult};

impl Store {
    /// Adds `records` (each a new key).
    pub fn append<R: Record>(&self, records: &[R]) -> StoreResult<()> {
        debug_assert!(R::KIND.indexes().is_empty(), "{:?} has indexes", R::KIND);
        let tree = self.tree(R::KIND);
        for record in records {
            tree.insert(record.key().as_bytes(), &Self::encode(record)?)?;
        }
        self.inner
            .writes
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Up to `limit` records in key order, starting after key `after`
    /// (from the first with None).
    pub fn first_after<R: Record>(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<R>> {
        let start = match after {
            // The smallest key greater than `after`.
            Some(after) => [after.as_bytes(), &[0]].concat(),
            None => Vec::new(),
        };
        self.tree(R::KIND)
            .range(&start, &[0xff], false)
            .take(limit)
            .map(|item| {
                let (key, value) = item?;
                Self::decode(&key, &value)
            })
            .collect()
    }

    /// The record with the greatest key.
    pub fn last<R: Record>(&self) -> StoreResult<Option<R>> {
        match self.tree(R::KIND).scan_prefix(&[], true).next() {
            Some(item) => {
                let (key, value) = item?;
                Ok(Some(Self::decode(&key, &value)?))
            }
            None => Ok(None),
        }
    }

    /// Removes the records at `keys`; how many were there (absent ones are
    /// skipped, so a key removed twice counts once).
    pub fn remove_all<R: Record>(&self, keys: &[String]) -> StoreResult<usize> {
        debug_assert!(R::KIND.indexes().is_empty(), "{:?} has indexes", R::KIND);
        let tree = self.tree(R::KIND);
        let mut removed = 0;
        for key in keys {
            if tree.remove_existing(key.as_bytes())? {
                removed += 1;
            }
        }
        self.inner
            .writes
            .fetch_add(removed as u64, Ordering::Relaxed);
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use crate::model::QueuedDelivery;
    use crate::store::Store;

    fn queued(seq: u64) -> QueuedDelivery {
        QueuedDelivery {
            seq,
            received_at: DateTime::from_timestamp(1_770_000_000, 0).expect("time"),
            delivery: format!("{{\"n\":{seq}}}"),
        }
    }

    #[test]
    fn appended_records_come_back_in_order_after_a_key_and_leave_when_removed() {
        let store = Store::temporary().expect("store");
        assert_eq!(store.last::<QueuedDelivery>().expect("last"), None);
        // Appended out of order; keys sort by sequence number, 9 before 10.
        store
            .append(&[queued(10), queued(9), queued(11)])
            .expect("append");
        let all: Vec<u64> = store
            .first_after::<QueuedDelivery>(None, 10)
            .expect("read")
            .iter()
            .map(|q| q.seq)
            .collect();
        assert_eq!(all, [9, 10, 11]);
        let after_nine = store
            .first_after::<QueuedDelivery>(Some(&QueuedDelivery::key_for(9)), 1)
            .expect("read");
        assert_eq!(after_nine, [queued(10)]);
        assert_eq!(
            store.last::<QueuedDelivery>().expect("last"),
            Some(queued(11))
        );
        let removed = store
            .remove_all::<QueuedDelivery>(&[QueuedDelivery::key_for(9), "absent".into()])
            .expect("remove");
        assert_eq!(removed, 1);
        assert_eq!(store.count::<QueuedDelivery>(), 2);
        let again = store
            .remove_all::<QueuedDelivery>(&[QueuedDelivery::key_for(9)])
            .expect("remove");
        assert_eq!(again, 0, "a key removed twice counts once");
    }
}
