//! How a lead's events are kept: its `Activity` record holds the events not
//! yet sealed (the newest, and any late arrival), at most [`HEAD_MAX`] of
//! them; the older ones are sealed into `ActivityPage` records that are
//! written once and never rewritten. So the record rewritten with every new
//! event stays small however long the lead's history grows (a lead that
//! receives thousands of webhooks costs the same per event as a new one),
//! and dedupe against sealed events is one index lookup
//! (`Index::SealedEvents`) instead of a scan of the whole history.
//!
//! A reader that wants the whole history, or the events since a time,
//! merges the pages with the head ([`Store::activity_events`]); pages are
//! keyed by their newest event, so a read of recent events stops at the
//! first page that is too old, and a lead with a short history (nearly all
//! of them) has no page and costs one read as before.

use chrono::{DateTime, Utc};

use super::keys::KeyBuf;
use super::{Index, Store, StoreResult};
use crate::model::{Activity, ActivityPage, EmailEvent};

/// The most events an `Activity` record holds before its oldest are sealed.
pub const HEAD_MAX: usize = 512;
/// How many (the newest) stay in the record when it is sealed; the rest
/// become one page.
pub const HEAD_KEEP: usize = 256;

impl Store {
    /// Whether an event of this lead was sealed into a page.
    pub fn event_sealed(&self, lead_key: &str, event_id: &str) -> StoreResult<bool> {
        let prefix = KeyBuf::new().text(lead_key).text(event_id).into_prefix();
        Ok(self
            .index_keys(Index::SealedEvents, &prefix, false)
            .next()
            .transpose()?
            .is_some())
    }

    /// Whether any of a lead's events were sealed into a page.
    pub fn has_activity_pages(&self, lead_key: &str) -> StoreResult<bool> {
        Ok(self
            .record_keys::<ActivityPage>(&ActivityPage::prefix_for(lead_key), false)
            .next()
            .transpose()?
            .is_some())
    }

    /// A lead's events (`lead_key` is `account/email`), oldest first: all of
    /// them, or those at or after `since`.
    pub fn activity_events(
        &self,
        lead_key: &str,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<EmailEvent>> {
        let head = self
            .get::<Activity>(lead_key)?
            .map(|a| a.events)
            .unwrap_or_default();
        let mut sealed = Vec::new();
        for key in self.record_keys::<ActivityPage>(&ActivityPage::prefix_for(lead_key), true) {
            let key = key?;
            // Newest pages first: once one ends before `since`, so do the rest.
            if let (Some(since), Some(newest)) = (since, ActivityPage::newest_in_key(&key))
                && newest < since
            {
                break;
            }
            if let Some(page) = self.get::<ActivityPage>(&key)? {
                sealed.extend(page.events);
            }
        }
        let keep = |e: &EmailEvent| since.is_none_or(|since| e.at >= since);
        if sealed.is_empty() {
            return Ok(head.into_iter().filter(keep).collect());
        }
        let mut all: Vec<EmailEvent> = sealed.into_iter().chain(head).filter(keep).collect();
        all.sort_by_key(|e| (e.at, e.kind));
        Ok(all)
    }

    /// Every event of the leads whose keys start with `prefix` (`""` for
    /// all, `"account/"` for one account), lead by lead, in no useful order
    /// within a lead.
    pub fn activity_events_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Iterator<Item = StoreResult<EmailEvent>> + '_ {
        let heads = self
            .scan_prefix::<Activity>(prefix)
            .map(|a| a.map(|a| a.events));
        let pages = self
            .scan_prefix::<ActivityPage>(prefix)
            .map(|p| p.map(|p| p.events));
        heads.chain(pages).flat_map(|events| match events {
            Ok(events) => events.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    }

    /// Seals the oldest events of a lead's `Activity` record into pages
    /// until it holds at most [`HEAD_MAX`]. The page and the shortened
    /// record are written in one transaction, refused (and redone on a fresh
    /// read) if a writer changed the record meanwhile, so no event is lost
    /// or kept twice. Returns how many pages were written.
    pub fn seal_activity(&self, lead_key: &str) -> StoreResult<usize> {
        let mut pages = 0;
        loop {
            let sealed = self.modify_together::<Activity, ()>(lead_key, |current, batch| {
                let Some(mut head) = current else {
                    return Ok(None);
                };
                if head.events.len() <= HEAD_MAX {
                    return Ok(None);
                }
                let kept = head.events.split_off(head.events.len() - HEAD_KEEP);
                let page = ActivityPage {
                    account: head.account.clone(),
                    lead_email: head.lead_email.clone(),
                    events: std::mem::replace(&mut head.events, kept),
                };
                batch.put(&page)?;
                batch.put(&head)?;
                Ok(Some(()))
            })?;
            match sealed {
                Some(()) => pages += 1,
                None => return Ok(pages),
            }
        }
    }

    /// The keys of a kind's records that start with `prefix`, without
    /// decoding them, in key order or reversed.
    pub fn record_keys<R: super::Record>(
        &self,
        prefix: &str,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<String>> + '_> {
        Box::new(
            self.tree(R::KIND)
                .scan_prefix(prefix.as_bytes(), reverse)
                .map(|item| Ok(String::from_utf8_lossy(&item?.0).into_owned())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventSource, EventType};

    fn event(id: usize, minute: i64) -> EmailEvent {
        EmailEvent {
            id: format!("e{id:05}"),
            account: "acme".into(),
            kind: EventType::EmailOpened,
            lead_email: "ann@example.com".into(),
            campaign_id: None,
            sequence_number: None,
            at: DateTime::from_timestamp(1_770_000_000 + minute * 60, 0).unwrap(),
            source: EventSource::Webhook,
            dedupe_key: format!("e{id}"),
            message_id: None,
            detail: None,
        }
    }

    fn head_with(events: impl IntoIterator<Item = EmailEvent>) -> Activity {
        let mut head = Activity::new("acme", "ann@example.com");
        for e in events {
            head.insert(e);
        }
        head
    }

    #[test]
    fn sealing_keeps_every_event_once_and_the_head_bounded() {
        let store = Store::temporary().unwrap();
        let lead = "acme/ann@example.com";
        let total = HEAD_MAX * 3 + 7;
        store
            .put(&head_with((0..total).map(|i| event(i, i as i64))))
            .unwrap();
        let pages = store.seal_activity(lead).unwrap();
        assert!(pages >= 1);
        let head = store.get::<Activity>(lead).unwrap().unwrap();
        assert!(head.events.len() <= HEAD_MAX);
        let all = store.activity_events(lead, None).unwrap();
        assert_eq!(all.len(), total);
        assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
        let ids: std::collections::BTreeSet<_> = all.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids.len(), total);
        // A sealed event is found by the index, a kept one is not sealed.
        assert!(store.event_sealed(lead, &event(0, 0).id).unwrap());
        assert!(!store.event_sealed(lead, &event(total - 1, 0).id).unwrap());
        assert!(store.verify_indexes().unwrap().is_empty());
        // Nothing more to seal.
        assert_eq!(store.seal_activity(lead).unwrap(), 0);
    }

    #[test]
    fn a_read_since_a_time_skips_older_pages_and_keeps_late_arrivals() {
        let store = Store::temporary().unwrap();
        let lead = "acme/ann@example.com";
        let total = HEAD_MAX * 2;
        store
            .put(&head_with((0..total).map(|i| event(i, i as i64))))
            .unwrap();
        store.seal_activity(lead).unwrap();
        // A late event, older than everything sealed, lands in the head.
        let mut head = store.get::<Activity>(lead).unwrap().unwrap();
        head.insert(event(99_999, -10));
        store.put(&head).unwrap();
        let since = event(0, (total - 10) as i64).at;
        let recent = store.activity_events(lead, Some(since)).unwrap();
        assert_eq!(recent.len(), 10);
        let all = store.activity_events(lead, None).unwrap();
        assert_eq!(all.len(), total + 1);
        assert_eq!(all[0].id, event(99_999, 0).id);
        let by_prefix: Vec<_> = store
            .activity_events_with_prefix("acme/")
            .collect::<StoreResult<_>>()
            .unwrap();
        assert_eq!(by_prefix.len(), total + 1);
    }
}
