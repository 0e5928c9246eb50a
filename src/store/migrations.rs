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
    Migration {
        from: 3,
        describe: "threads know their person, preview and merged copies",
        run: threads_gain_conversation_fields,
    },
    Migration {
        from: 4,
        describe: "tasks hold their sequence step until done or skipped",
        run: tasks_gain_outcomes,
    },
    Migration {
        from: 5,
        describe: "outbox items carry attachments and a time to send",
        run: outbox_gains_composer_fields,
    },
    Migration {
        from: 6,
        describe: "outbox items being sent carry their sender's lease",
        run: outbox_gains_leases,
    },
    Migration {
        from: 7,
        describe: "threads no longer indexed by lead",
        run: drop_thread_lead_index,
    },
];

/// Steps that only drop index trees, with the trees they drop. A store
/// outside sled (Postgres) takes these too, by deleting the trees' rows;
/// the other steps rewrite records, which it cannot do in place yet.
pub(crate) const INDEX_DROPS: &[(u32, &[&str])] = &[(7, &["idx_threads_lead"])];

/// Version 8 stopped indexing threads by lead (see `Record for Thread`):
/// nothing read it, and it moved with every reply. Dropping an absent tree
/// is fine, so a rerun is harmless.
fn drop_thread_lead_index(db: &sled::Db) -> sled::Result<()> {
    db.drop_tree("idx_threads_lead")?;
    Ok(())
}

/// Version 3 of an outbox item appends `lease` (None: one zero byte), so a
/// version-2 record is its bytes plus one zero. An old `sending` item thus
/// has no lease, which counts as expired: the first replica to look settles
/// it, as a restart did before. Version 3 records are left alone, so a rerun
/// is harmless.
fn outbox_gains_leases(db: &sled::Db) -> sled::Result<()> {
    let outbox = db.open_tree("outbox")?;
    for item in outbox.iter() {
        let (key, bytes) = item?;
        if bytes.first() != Some(&2) {
            continue;
        }
        let mut upgraded = Vec::with_capacity(bytes.len() + 1);
        upgraded.push(3);
        upgraded.extend_from_slice(&bytes[1..]);
        upgraded.push(0);
        outbox.insert(key, upgraded)?;
    }
    Ok(())
}

/// Version 2 of an outbox item has `attachments` inside its email (after
/// `headers`) and, at its end, `send_at` and `attachments_left_out`. The
/// first sits mid-record, so a version-1 item is decoded in its old shape
/// and written again; one that already has the attachments (written by a
/// build between the two) only gains the trailing empties (one zero byte
/// each: the two of version 2, and version 3's lease, as it is decoded
/// straight into the current shape). Version 2 records are left alone, so a rerun is harmless.
fn outbox_gains_composer_fields(db: &sled::Db) -> sled::Result<()> {
    let outbox = db.open_tree("outbox")?;
    for item in outbox.iter() {
        let (key, bytes) = item?;
        let Some((1, body)) = bytes.split_first() else {
            continue;
        };
        let upgraded = match postcard::from_bytes::<outbox_v1::OutboxItem>(body) {
            Ok(old) => crate::model::OutboxItem::from(old),
            Err(_) => {
                let mut padded = body.to_vec();
                padded.extend_from_slice(&[0, 0, 0]);
                postcard::from_bytes(&padded).map_err(|e| {
                    sled::Error::Unsupported(format!(
                        "outbox item {} cannot be read ({e}); run `outpost export` with the previous outpost",
                        String::from_utf8_lossy(&key)
                    ))
                })?
            }
        };
        let encoded =
            Store::encode(&upgraded).map_err(|e| sled::Error::Unsupported(e.to_string()))?;
        outbox.insert(key, encoded)?;
    }
    Ok(())
}

mod outbox_v1 {
    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    use crate::model::{self, Delivery, OutboxState, Provider};

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct OutboxItem {
        pub(super) id: String,
        pub(super) account: String,
        pub(super) provider: Provider,
        pub(super) idempotency_key: String,
        pub(super) state: OutboxState,
        pub(super) not_before: DateTime<Utc>,
        pub(super) message_id: String,
        pub(super) email: OutgoingEmail,
        pub(super) delivery: Delivery,
        pub(super) thread_key: Option<String>,
        pub(super) enrollment_id: Option<String>,
        pub(super) step: Option<usize>,
        pub(super) attempts: u32,
        pub(super) last_error: Option<String>,
        pub(super) provider_id: Option<String>,
        pub(super) created_at: DateTime<Utc>,
        pub(super) updated_at: DateTime<Utc>,
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct OutgoingEmail {
        pub(super) from: String,
        pub(super) to: Vec<String>,
        pub(super) cc: Vec<String>,
        pub(super) bcc: Vec<String>,
        pub(super) subject: String,
        pub(super) text_body: String,
        pub(super) html_body: Option<String>,
        pub(super) in_reply_to: Option<String>,
        pub(super) references: Vec<String>,
        pub(super) headers: Vec<(String, String)>,
    }

    impl From<OutboxItem> for model::OutboxItem {
        fn from(old: OutboxItem) -> Self {
            let email = old.email;
            model::OutboxItem {
                id: old.id,
                account: old.account,
                provider: old.provider,
                idempotency_key: old.idempotency_key,
                state: old.state,
                not_before: old.not_before,
                message_id: old.message_id,
                email: model::OutgoingEmail {
                    from: email.from,
                    to: email.to,
                    cc: email.cc,
                    bcc: email.bcc,
                    subject: email.subject,
                    text_body: email.text_body,
                    html_body: email.html_body,
                    in_reply_to: email.in_reply_to,
                    references: email.references,
                    headers: email.headers,
                    attachments: Vec::new(),
                },
                delivery: old.delivery,
                thread_key: old.thread_key,
                enrollment_id: old.enrollment_id,
                step: old.step,
                attempts: old.attempts,
                last_error: old.last_error,
                provider_id: old.provider_id,
                created_at: old.created_at,
                updated_at: old.updated_at,
                send_at: None,
                attachments_left_out: Vec::new(),
                lease: None,
            }
        }
    }
}

/// Version 2 of a task appends four empty fields (`outcome`, `note`,
/// `step`, `auto_skip_at`: one zero byte each in postcard). Version 2 of a
/// sequence gives each task step an `auto_skip_after_days` (None), which sits
/// inside the steps, so sequences are decoded in their old shape and written
/// again. Records already at version 2 are left alone, so a rerun is harmless.
fn tasks_gain_outcomes(db: &sled::Db) -> sled::Result<()> {
    let tasks = db.open_tree("tasks")?;
    for item in tasks.iter() {
        let (key, bytes) = item?;
        if bytes.first() != Some(&1) {
            continue;
        }
        let mut upgraded = Vec::with_capacity(bytes.len() + 4);
        upgraded.push(2);
        upgraded.extend_from_slice(&bytes[1..]);
        upgraded.extend_from_slice(&[0; 4]);
        tasks.insert(key, upgraded)?;
    }
    let sequences = db.open_tree("sequences")?;
    for item in sequences.iter() {
        let (key, bytes) = item?;
        let Some((1, body)) = bytes.split_first() else {
            continue;
        };
        let old: sequence_v1::Sequence = postcard::from_bytes(body).map_err(|e| {
            sled::Error::Unsupported(format!(
                "sequence {} cannot be read ({e}); run `outpost export` with the previous outpost",
                String::from_utf8_lossy(&key)
            ))
        })?;
        let upgraded =
            Store::encode(&old.upgrade()).map_err(|e| sled::Error::Unsupported(e.to_string()))?;
        sequences.insert(key, upgraded)?;
    }
    Ok(())
}

/// A sequence as version 1 encoded it (task steps without auto-skip).
mod sequence_v1 {
    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    use crate::model::{
        self, Condition, SendVia, SequenceCategory, SequenceSettings, SequenceStatus, Variant,
    };

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub struct Sequence {
        pub(super) name: String,
        pub(super) account: String,
        pub(super) description: String,
        pub(super) category: SequenceCategory,
        pub(super) status: SequenceStatus,
        pub(super) settings: SequenceSettings,
        pub(super) send_via: SendVia,
        pub(super) steps: Vec<Step>,
        pub(super) source_file: Option<String>,
        pub(super) created_at: DateTime<Utc>,
        pub(super) updated_at: DateTime<Utc>,
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct Step {
        pub(super) name: String,
        pub(super) kind: StepKind,
        pub(super) source_line: Option<u32>,
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) enum StepKind {
        Email {
            variants: Vec<Variant>,
            same_thread: bool,
        },
        Wait {
            days: u32,
            hours: u32,
            business_days: bool,
        },
        Task {
            title: String,
            body: String,
        },
        Conditional {
            condition: Condition,
            within_hours: u32,
            then_step: usize,
            else_step: usize,
        },
        Webhook {
            url: String,
            payload: Option<String>,
        },
    }

    impl Sequence {
        pub fn upgrade(self) -> model::Sequence {
            let steps = self
                .steps
                .into_iter()
                .map(|step| model::Step {
                    name: step.name,
                    source_line: step.source_line,
                    kind: match step.kind {
                        StepKind::Email {
                            variants,
                            same_thread,
                        } => model::StepKind::Email {
                            variants,
                            same_thread,
                        },
                        StepKind::Wait {
                            days,
                            hours,
                            business_days,
                        } => model::StepKind::Wait {
                            days,
                            hours,
                            business_days,
                        },
                        StepKind::Task { title, body } => model::StepKind::Task {
                            title,
                            body,
                            auto_skip_after_days: None,
                        },
                        StepKind::Conditional {
                            condition,
                            within_hours,
                            then_step,
                            else_step,
                        } => model::StepKind::Conditional {
                            condition,
                            within_hours,
                            then_step,
                            else_step,
                        },
                        StepKind::Webhook { url, payload } => {
                            model::StepKind::Webhook { url, payload }
                        }
                    },
                })
                .collect();
            model::Sequence {
                name: self.name,
                account: self.account,
                description: self.description,
                category: self.category,
                status: self.status,
                settings: self.settings,
                send_via: self.send_via,
                steps,
                source_file: self.source_file,
                created_at: self.created_at,
                updated_at: self.updated_at,
            }
        }
    }
}

/// Set by the step to schema 4: the conversations of the cache are linked
/// across providers once, by the first engine that opens it (linking needs
/// the record types, which a migration step does not use).
pub const PENDING_SETTLE: &[u8] = b"pending_settle_conversations";

/// Version 2 of a thread record appends five fields to version 1, each
/// empty: `lead_name` None, `preview` "", `answered_last` false,
/// `merged_into` None, `sources` []. Each encodes in postcard as one zero
/// byte, so an old record is its bytes plus five zeros. Records already at
/// version 2 are left alone, so a rerun is harmless.
fn threads_gain_conversation_fields(db: &sled::Db) -> sled::Result<()> {
    let threads = db.open_tree("threads")?;
    for item in threads.iter() {
        let (key, bytes) = item?;
        if bytes.first() != Some(&1) {
            continue;
        }
        let mut upgraded = Vec::with_capacity(bytes.len() + 5);
        upgraded.push(2);
        upgraded.extend_from_slice(&bytes[1..]);
        upgraded.extend_from_slice(&[0; 5]);
        threads.insert(key, upgraded)?;
    }
    db.open_tree("meta")?.insert(PENDING_SETTLE, &[1])?;
    Ok(())
}

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
            let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
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
            let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
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
        let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
        let names: Vec<Vec<u8>> = db.tree_names().into_iter().map(|n| n.to_vec()).collect();
        assert!(!names.contains(&b"idx_leads_last_event".to_vec()));
        // Running the step again (a crash before the version moved) is harmless.
        drop_lead_last_event_index(&db).unwrap();
    }

    #[test]
    fn version_7_loses_the_thread_lead_index_and_keeps_threads_listed() {
        use crate::model::{Provider, Thread};
        let at = chrono::DateTime::from_timestamp(1_770_000_000, 0).unwrap();
        let thread = Thread {
            account: "acme".into(),
            provider: Provider::Smartlead,
            provider_thread_id: "7:42".into(),
            subject: "Hello".into(),
            lead_email: Some("dana@ledgerly.example".into()),
            campaign_id: Some(7),
            campaign_name: None,
            last_message_at: at,
            last_inbound_at: Some(at),
            message_count: 2,
            unread: true,
            has_reply: true,
            category: None,
            snippet: "Yes".into(),
            participants: vec!["dana@ledgerly.example".into()],
            lead_name: None,
            preview: "Yes".into(),
            answered_last: false,
            merged_into: None,
            sources: Vec::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        {
            let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
            let key = thread.key();
            db.open_tree("threads")
                .unwrap()
                .insert(key.as_bytes(), Store::encode(&thread).unwrap())
                .unwrap();
            let by_time = crate::store::keys::KeyBuf::new().time(at).primary(&key);
            db.open_tree("idx_threads_time")
                .unwrap()
                .insert(by_time, key.as_bytes())
                .unwrap();
            let by_lead = crate::store::keys::KeyBuf::new()
                .text("dana@ledgerly.example")
                .time(at)
                .primary(&key);
            db.open_tree("idx_threads_lead")
                .unwrap()
                .insert(by_lead, key.as_bytes())
                .unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema_version", &7u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        {
            let store = Store::open(dir.path(), "test").unwrap();
            let listed: Vec<Thread> = store
                .by_index::<Thread>(crate::store::Index::ThreadsByTime, b"", true)
                .collect::<crate::store::StoreResult<_>>()
                .unwrap();
            assert_eq!(listed, vec![thread]);
            assert!(store.verify_indexes().unwrap().is_empty());
        }
        let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
        let names: Vec<Vec<u8>> = db.tree_names().into_iter().map(|n| n.to_vec()).collect();
        assert!(!names.contains(&b"idx_threads_lead".to_vec()));
        // Running the step again (a crash before the version moved) is harmless.
        drop_thread_lead_index(&db).unwrap();
    }

    #[test]
    fn version_3_threads_gain_empty_conversation_fields_and_get_linked_on_open() {
        use crate::model::{Provider, Thread};
        let thread = Thread {
            account: "gm".into(),
            provider: Provider::Gmail,
            provider_thread_id: "t1".into(),
            subject: "Hello".into(),
            lead_email: Some("dana@lead.example".into()),
            campaign_id: None,
            campaign_name: None,
            last_message_at: chrono::DateTime::UNIX_EPOCH,
            last_inbound_at: None,
            message_count: 0,
            unread: true,
            has_reply: true,
            category: None,
            snippet: "Sounds good".into(),
            participants: vec!["dana@lead.example".into()],
            lead_name: None,
            preview: String::new(),
            answered_last: false,
            merged_into: None,
            sources: Vec::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        {
            let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
            // A version-1 record is the version-2 body less its five
            // trailing empty fields.
            let v2 = Store::encode(&thread).unwrap();
            assert_eq!(v2[0], 2);
            assert_eq!(&v2[v2.len() - 5..], &[0; 5]);
            let mut v1 = vec![1u8];
            v1.extend_from_slice(&v2[1..v2.len() - 5]);
            db.open_tree("threads")
                .unwrap()
                .insert(thread.key().as_bytes(), v1)
                .unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema_version", &3u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), "test").unwrap();
        assert_eq!(store.get::<Thread>(&thread.key()).unwrap(), Some(thread));
        assert!(store.conversations_pending().unwrap());
        // The first engine on the cache links its conversations, once.
        let _engine = crate::engine::Engine::new(
            store.clone(),
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        assert!(!store.conversations_pending().unwrap());
        // A rerun of the step leaves version-2 records alone.
        threads_gain_conversation_fields(&store_db(&store)).unwrap();
        assert_eq!(
            store.get::<Thread>("gm/t1").unwrap().map(|t| t.subject),
            Some("Hello".to_string())
        );
    }

    fn store_db(store: &Store) -> sled::Db {
        store.db().clone()
    }

    #[test]
    fn version_4_tasks_and_task_steps_gain_their_new_fields() {
        use super::sequence_v1;
        use crate::model::{Sequence, StepKind, Task};
        let now = chrono::DateTime::from_timestamp(1_770_000_000, 0).unwrap();
        let task = Task {
            id: "enr-1/00001".into(),
            account: "acme".into(),
            lead_email: "dana@lead.example".into(),
            title: "Call Dana".into(),
            body: String::new(),
            due_at: now,
            done_at: None,
            enrollment_id: Some("enr-1".into()),
            outcome: None,
            note: None,
            step: None,
            auto_skip_at: None,
        };
        let settings = crate::model::SequenceSettings {
            pause_on_reply: true,
            pause_on_meeting_booked: true,
            pause_on_bounce: true,
            pause_on_unsubscribe: true,
            stop_company_on_reply: false,
            skip_weekends: true,
            holidays: vec![],
            daily_limit_per_mailbox: 40,
            window: crate::model::SendingWindow {
                start: chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                end: chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            },
            timezone: "UTC".into(),
            random_gap_secs: (0, 0),
            ooo_resume_days: 7,
            track_opens: false,
            track_clicks: false,
            plain_text: true,
        };
        let old_sequence = sequence_v1::Sequence {
            name: "calls".into(),
            account: "acme".into(),
            description: String::new(),
            category: crate::model::SequenceCategory::ColdOutreach,
            status: crate::model::SequenceStatus::Active,
            settings,
            send_via: crate::model::SendVia {
                provider: crate::model::Provider::Gmail,
                account: "acme".into(),
                mailboxes: vec!["rep@acme.example".into()],
                campaign_id: None,
            },
            steps: vec![
                sequence_v1::Step {
                    name: "call".into(),
                    kind: sequence_v1::StepKind::Task {
                        title: "Call {{first_name}}".into(),
                        body: "Ask about pricing".into(),
                    },
                    source_line: Some(9),
                },
                sequence_v1::Step {
                    name: "wait".into(),
                    kind: sequence_v1::StepKind::Wait {
                        days: 2,
                        hours: 0,
                        business_days: false,
                    },
                    source_line: Some(12),
                },
            ],
            source_file: Some("calls.toml".into()),
            created_at: now,
            updated_at: now,
        };
        let dir = tempfile::tempdir().unwrap();
        {
            let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
            let v2 = Store::encode(&task).unwrap();
            assert_eq!((v2[0], &v2[v2.len() - 4..]), (2, &[0u8; 4][..]));
            let mut v1 = vec![1u8];
            v1.extend_from_slice(&v2[1..v2.len() - 4]);
            db.open_tree("tasks")
                .unwrap()
                .insert(task.id.as_bytes(), v1)
                .unwrap();
            let mut v1 = vec![1u8];
            v1.extend(postcard::to_stdvec(&old_sequence).unwrap());
            db.open_tree("sequences")
                .unwrap()
                .insert(b"calls", v1)
                .unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema_version", &4u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), "test").unwrap();
        assert_eq!(store.get::<Task>(&task.id).unwrap(), Some(task));
        let sequence = store.get::<Sequence>("calls").unwrap().unwrap();
        assert_eq!(
            sequence.steps[0].kind,
            StepKind::Task {
                title: "Call {{first_name}}".into(),
                body: "Ask about pricing".into(),
                auto_skip_after_days: None,
            }
        );
        assert_eq!(sequence.steps[1].source_line, Some(12));
        assert_eq!(sequence.source_file.as_deref(), Some("calls.toml"));
        // A rerun leaves version-2 records alone.
        tasks_gain_outcomes(&store_db(&store)).unwrap();
        assert_eq!(store.count::<Sequence>(), 1);
    }

    #[test]
    fn version_5_outbox_items_gain_attachments_and_a_time_to_send() {
        use crate::model::{Delivery, OutboxItem, OutboxState, Provider};
        let now = chrono::DateTime::from_timestamp(1_770_000_000, 0).unwrap();
        let old = super::outbox_v1::OutboxItem {
            id: "out-1".into(),
            account: "gm".into(),
            provider: Provider::Gmail,
            idempotency_key: "reply:out-1".into(),
            state: OutboxState::Pending,
            not_before: now,
            message_id: "<m1@acme.example>".into(),
            email: super::outbox_v1::OutgoingEmail {
                from: "sam@acme.example".into(),
                to: vec!["dana@lead.example".into()],
                cc: vec!["ae@acme.example".into()],
                bcc: vec![],
                subject: "Re: hi".into(),
                text_body: "Tuesday works".into(),
                html_body: None,
                in_reply_to: Some("<p@lead.example>".into()),
                references: vec!["<p@lead.example>".into()],
                headers: vec![],
            },
            delivery: Delivery::GmailSend {
                thread_id: Some("t1".into()),
            },
            thread_key: Some("gm/t1".into()),
            enrollment_id: None,
            step: None,
            attempts: 0,
            last_error: None,
            provider_id: None,
            created_at: now,
            updated_at: now,
        };
        // Written by the build in between: attachments, not the trailing two.
        let mut between = OutboxItem::from(super::outbox_v1::OutboxItem {
            id: "out-2".into(),
            idempotency_key: "reply:out-2".into(),
            ..postcard::from_bytes(&postcard::to_stdvec(&old).unwrap()).unwrap()
        });
        between.email.attachments = vec![crate::model::OutgoingAttachment {
            filename: "deck.pdf".into(),
            mime_type: "application/pdf".into(),
            data: b"%PDF".to_vec(),
        }];
        let dir = tempfile::tempdir().unwrap();
        {
            let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
            let outbox = db.open_tree("outbox").unwrap();
            let mut v1 = vec![1u8];
            v1.extend(postcard::to_stdvec(&old).unwrap());
            outbox.insert(b"out-1", v1).unwrap();
            let v3 = Store::encode(&between).unwrap();
            assert_eq!(&v3[v3.len() - 3..], &[0u8, 0, 0][..]);
            let mut v1 = vec![1u8];
            v1.extend_from_slice(&v3[1..v3.len() - 3]);
            outbox.insert(b"out-2", v1).unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema_version", &5u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), "test").unwrap();
        let item = store.get::<OutboxItem>("out-1").unwrap().unwrap();
        assert_eq!(item.email.cc, vec!["ae@acme.example"]);
        assert!(item.email.attachments.is_empty());
        assert_eq!((item.send_at, item.attachments_left_out.len()), (None, 0));
        assert_eq!(store.get::<OutboxItem>("out-2").unwrap(), Some(between));
    }

    #[test]
    fn version_6_outbox_items_gain_a_lease_and_an_old_sending_one_counts_as_expired() {
        use crate::model::{Delivery, OutboxItem, OutboxState, Provider};
        let now = chrono::DateTime::from_timestamp(1_770_000_000, 0).unwrap();
        let item = OutboxItem {
            id: "out-1".into(),
            account: "gm".into(),
            provider: Provider::Gmail,
            idempotency_key: "enr-1/0".into(),
            state: OutboxState::Sending,
            not_before: now,
            message_id: "<m1@acme.example>".into(),
            email: crate::model::OutgoingEmail {
                from: "sam@acme.example".into(),
                to: vec!["dana@lead.example".into()],
                subject: "Hello".into(),
                cc: vec![],
                bcc: vec![],
                text_body: "Hi".into(),
                html_body: None,
                in_reply_to: None,
                references: vec![],
                headers: vec![],
                attachments: vec![],
            },
            delivery: Delivery::GmailSend { thread_id: None },
            thread_key: None,
            enrollment_id: Some("enr-1".into()),
            step: Some(0),
            attempts: 1,
            last_error: None,
            provider_id: None,
            created_at: now,
            updated_at: now,
            send_at: None,
            attachments_left_out: vec![],
            lease: None,
        };
        let dir = tempfile::tempdir().unwrap();
        {
            let db = super::super::open_raw(&dir.path().join("cache")).unwrap();
            let v3 = Store::encode(&item).unwrap();
            assert_eq!((v3[0], v3[v3.len() - 1]), (3, 0));
            let mut v2 = vec![2u8];
            v2.extend_from_slice(&v3[1..v3.len() - 1]);
            db.open_tree("outbox")
                .unwrap()
                .insert(b"out-1", v2)
                .unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema_version", &6u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), "test").unwrap();
        let migrated = store.get::<OutboxItem>("out-1").unwrap().unwrap();
        assert_eq!(migrated, item);
        assert!(crate::replica::free_for(
            migrated.lease.as_ref(),
            "any replica",
            now
        ));
        // A rerun leaves version-3 records alone.
        outbox_gains_leases(&store_db(&store)).unwrap();
        assert_eq!(store.get::<OutboxItem>("out-1").unwrap(), Some(item));
    }
}
