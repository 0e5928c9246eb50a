//! The steps between schema versions. Each must be safe to run again after a
//! crash part-way (the version only moves once a step has finished).

use std::collections::BTreeMap;

use super::Store;
use super::schema::Migration;
use crate::model::{Activity, EmailEvent};

/// Migrations of this build, in order. Version 1 is the first layout.
pub const ALL: &[Migration] = &[
    Migration {
        from: 1,
        describe: "events grouped into one activity record per lead",
        run: events_to_activity,
    },
    Migration {
        from: 2,
        describe: "leads no longer indexed by their last event",
        run: drop_lead_last_event_index,
    },
];

/// Version 3 stopped keeping leads in last-event order (see `Record for
/// Lead`); the old index tree only takes space. Dropping an absent tree is
/// fine, so a rerun is harmless.
fn drop_lead_last_event_index(db: &sled::Db) -> sled::Result<()> {
    db.drop_tree("idx_leads_last_event")?;
    Ok(())
}

/// How many version-1 events are grouped in memory before being merged in.
const CHUNK: usize = 100_000;

/// Version 1 kept one record per event plus three index trees; version 2 keeps
/// one `Activity` record per lead. Merging dedupes by event id, so a rerun
/// after a crash adds nothing twice; the old trees go only at the end.
fn events_to_activity(db: &sled::Db) -> sled::Result<()> {
    let old = db.open_tree("events")?;
    let activity = db.open_tree("activity")?;
    let mut chunk: BTreeMap<String, Vec<EmailEvent>> = BTreeMap::new();
    let mut held = 0;
    for item in old.iter() {
        let (key, value) = item?;
        let event = decode_v1_event(&value).ok_or_else(|| {
            sled::Error::Unsupported(format!(
                "event {} cannot be read; run `outpost export` with the previous outpost",
                String::from_utf8_lossy(&key)
            ))
        })?;
        chunk.entry(event.lead_key()).or_default().push(event);
        held += 1;
        if held >= CHUNK {
            merge(&activity, std::mem::take(&mut chunk))?;
            held = 0;
        }
    }
    merge(&activity, chunk)?;
    activity.flush()?;
    for tree in [
        "events",
        "idx_events_time",
        "idx_events_lead",
        "idx_events_campaign",
    ] {
        db.drop_tree(tree)?;
    }
    Ok(())
}

fn decode_v1_event(bytes: &[u8]) -> Option<EmailEvent> {
    match bytes.split_first() {
        Some((1, body)) => postcard::from_bytes(body).ok(),
        _ => None,
    }
}

fn merge(tree: &sled::Tree, chunk: BTreeMap<String, Vec<EmailEvent>>) -> sled::Result<()> {
    let encode_err = |e: super::StoreError| sled::Error::Unsupported(e.to_string());
    let mut batch = sled::Batch::default();
    for (key, events) in chunk {
        let mut record = match tree.get(key.as_bytes())? {
            Some(bytes) => Store::decode::<Activity>(key.as_bytes(), &bytes).map_err(encode_err)?,
            None => match events.first() {
                Some(first) => Activity::new(&first.account, &first.lead_email),
                None => continue,
            },
        };
        for event in events {
            record.insert(event);
        }
        batch.insert(key.as_bytes(), Store::encode(&record).map_err(encode_err)?);
    }
    tree.apply_batch(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventSource, EventType};

    fn v1_event(email: &str, n: i64) -> EmailEvent {
        let dedupe_key = format!("{email}|{n}");
        EmailEvent {
            id: EmailEvent::id_for("acme", &dedupe_key),
            account: "acme".into(),
            kind: EventType::EmailOpened,
            lead_email: email.into(),
            campaign_id: Some(3),
            sequence_number: Some(1),
            at: chrono::DateTime::from_timestamp(1_770_000_000 + n * 60, 0).unwrap(),
            source: EventSource::Sync,
            dedupe_key,
            message_id: None,
            detail: None,
        }
    }

    #[test]
    fn version_1_events_become_activity_records_and_reruns_are_harmless() {
        let dir = tempfile::tempdir().unwrap();
        {
            // Where `Store::open` keeps the sled files.
            let db = sled::open(dir.path().join("cache")).unwrap();
            let events = db.open_tree("events").unwrap();
            let index = db.open_tree("idx_events_lead").unwrap();
            for (email, n) in [("a@x.io", 2), ("a@x.io", 1), ("b@x.io", 5)] {
                let event = v1_event(email, n);
                let mut bytes = vec![1u8];
                bytes.extend(postcard::to_stdvec(&event).unwrap());
                events.insert(event.id.as_bytes(), bytes).unwrap();
                index.insert(event.id.as_bytes(), b"x").unwrap();
            }
            db.open_tree("meta")
                .unwrap()
                .insert("schema_version", &1u32.to_be_bytes())
                .unwrap();
            // A crash after the records were merged but before the version
            // moved: the step runs again on open.
            events_to_activity(&db).unwrap();
            let events = db.open_tree("events").unwrap();
            for (email, n) in [("a@x.io", 2), ("a@x.io", 1), ("b@x.io", 5)] {
                let event = v1_event(email, n);
                let mut bytes = vec![1u8];
                bytes.extend(postcard::to_stdvec(&event).unwrap());
                events.insert(event.id.as_bytes(), bytes).unwrap();
            }
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), "test").unwrap();
        let a: Activity = store.get("acme/a@x.io").unwrap().unwrap();
        assert_eq!(a.events.len(), 2);
        assert!(a.events[0].at < a.events[1].at);
        let b: Activity = store.get("acme/b@x.io").unwrap().unwrap();
        assert_eq!(b.events.len(), 1);
        assert_eq!(store.count::<Activity>(), 2);
    }

    #[test]
    fn version_2_loses_the_last_event_index_and_keeps_leads() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path().join("cache")).unwrap();
            let index = db.open_tree("idx_leads_last_event").unwrap();
            index.insert(b"t\0acme/a@x.io", b"acme/a@x.io").unwrap();
            let lead = crate::model::Lead::new("acme", "a@x.io");
            db.open_tree("leads")
                .unwrap()
                .insert(b"acme/a@x.io", Store::encode(&lead).unwrap())
                .unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema_version", &2u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        {
            let store = Store::open(dir.path(), "test").unwrap();
            assert_eq!(store.count::<crate::model::Lead>(), 1);
        }
        let db = sled::open(dir.path().join("cache")).unwrap();
        let names: Vec<Vec<u8>> = db.tree_names().into_iter().map(|n| n.to_vec()).collect();
        assert!(!names.contains(&b"idx_leads_last_event".to_vec()));
        // Running the step again (a crash before the version moved) is harmless.
        drop_lead_last_event_index(&db).unwrap();
    }
}
