//! Shared helpers for the sequence tests: a store, sequences from TOML, leads,
//! and a simulated outbox worker driven by a fake clock.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use outpost::clock::FakeClock;
use outpost::config::SendingConfig;
use outpost::model::*;
use outpost::sequences::{self, LeadInput, Scheduler, SchedulerConfig};
use outpost::store::{Index, Store, keys::KeyBuf};

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn apply(store: &Store, text: &str) -> Sequence {
    sequences::apply_sequence(
        store,
        "test.toml",
        text,
        &SendingConfig::default(),
        utc("2026-01-01T00:00:00Z"),
    )
    .unwrap_or_else(|e| panic!("apply failed: {e}"))
    .sequence
}

pub fn lead(email: &str, company: &str, tz: Option<&str>) -> LeadInput {
    LeadInput {
        email: email.into(),
        first_name: Some(email.split('@').next().unwrap().to_string()),
        company: Some(company.into()),
        timezone: tz.map(String::from),
        ..LeadInput::default()
    }
}

pub fn enroll(
    store: &Store,
    seq: &str,
    leads: &[LeadInput],
    start: DateTime<Utc>,
) -> Vec<Enrollment> {
    let report = sequences::enroll_leads(store, seq, leads, start, false, start).unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    report.enrolled
}

pub fn scheduler(store: &Store) -> Scheduler {
    Scheduler::new(store.clone(), SchedulerConfig::new(chrono_tz::UTC))
}

pub fn items(store: &Store) -> Vec<OutboxItem> {
    let mut all: Vec<OutboxItem> = store.iter::<OutboxItem>().map(Result::unwrap).collect();
    all.sort_by_key(|i| (i.not_before, i.email.to[0].clone(), i.step));
    all
}

pub fn pending(store: &Store) -> Vec<OutboxItem> {
    items(store)
        .into_iter()
        .filter(|i| i.state == OutboxState::Pending)
        .collect()
}

pub fn enrollment(store: &Store, id: &str) -> Enrollment {
    store.get::<Enrollment>(id).unwrap().unwrap()
}

/// The worker: marks an item sent (Gmail thread = `thread-{enrollment}`) at `at`.
pub fn send(store: &Store, item: &OutboxItem, at: DateTime<Utc>) -> OutboxItem {
    let mut item = item.clone();
    item.state = OutboxState::Sent;
    item.attempts = 1;
    item.provider_id = Some(format!("gm-{}", item.id));
    item.updated_at = at;
    if let Delivery::GmailSend { thread_id: None } = item.delivery {
        item.delivery = Delivery::GmailSend {
            thread_id: Some(format!("thread-{}", item.enrollment_id.clone().unwrap())),
        };
    }
    store.put(&item).unwrap();
    sequences::on_outbox_sent(store, &item, &FakeClock::new(at)).unwrap();
    item
}

/// Drives the scheduler and a punctual worker from `from` to `until`, waking
/// at each due time and each `not_before` (what `Scheduler::run` and the
/// outbox worker do). Returns every item sent, in order.
pub fn drive(
    store: &Store,
    sched: &Scheduler,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<OutboxItem> {
    let mut sent = Vec::new();
    let mut now = from;
    for _ in 0..100_000 {
        let next_item = pending(store).first().map(|i| i.not_before);
        let next_due = sched.next_due_at().unwrap();
        let Some(t) = [next_item, next_due].into_iter().flatten().min() else {
            break;
        };
        now = t.max(now);
        if now > until {
            break;
        }
        for item in pending(store).into_iter().filter(|i| i.not_before <= now) {
            sent.push(send(store, &item, item.not_before.max(from)));
        }
        sched.tick(now).unwrap();
    }
    sent
}

pub fn event(kind: EventType, email: &str, at: DateTime<Utc>, detail: Option<&str>) -> EmailEvent {
    let dedupe = format!("{kind}|{email}|{at}");
    EmailEvent {
        id: EmailEvent::id_for("acme", &dedupe),
        account: "acme".into(),
        kind,
        lead_email: email.into(),
        campaign_id: None,
        sequence_number: None,
        at,
        source: EventSource::Sync,
        dedupe_key: dedupe,
        message_id: None,
        detail: detail.map(String::from),
    }
}

pub fn suppressed(store: &Store, email: &str) -> Vec<Suppression> {
    let prefix = KeyBuf::new().text(email).into_prefix();
    store
        .by_index::<Suppression>(Index::SuppressionsByEmail, &prefix, false)
        .map(Result::unwrap)
        .collect()
}

/// A Gmail sequence: email, wait, email in thread. `settings` is TOML lines.
pub fn two_step(name: &str, settings: &str, wait: &str) -> String {
    format!(
        r#"
name = "{name}"
account = "acme"
category = "cold_outreach"

[settings]
{settings}

[send_via]
provider = "gmail"
mailboxes = ["rep@acme.example"]

[[steps]]
type = "email"
subject = "Hello {{{{first_name}}}}"
body = "Hi {{{{ first_name | default(\"there\") }}}}, about {{{{company}}}}."

[[steps]]
type = "wait"
{wait}

[[steps]]
type = "email"
body = "Following up, {{{{first_name}}}}."
"#
    )
}
