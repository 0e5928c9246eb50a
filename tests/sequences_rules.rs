//! Fake-clock tests for the sending rules: window in the lead's timezone across
//! DST, weekends, holidays, a daily cap shared by two sequences, random gaps,
//! plus blocked sends, crash recovery and the unsubscribe/tracking links.

mod sequences_support;

use outpost::model::*;
use outpost::sequences::{Scheduler, SchedulerConfig, TokenKind, TrackingKey};
use outpost::store::Store;
use sequences_support::*;

#[test]
fn window_is_in_the_leads_timezone_across_a_dst_change() {
    let store = Store::temporary().unwrap();
    let settings = "skip_weekends = false\nrandom_gap_secs = { min = 0, max = 0 }";
    apply(&store, &two_step("dst", settings, "hours = 12"));
    let [e] = enroll(
        &store,
        "dst",
        &[lead(
            "dana@ledgerly.example",
            "Ledgerly",
            Some("America/New_York"),
        )],
        utc("2026-03-07T06:00:00Z"),
    )
    .try_into()
    .unwrap();
    let sched = scheduler(&store);
    sched.tick(utc("2026-03-07T06:00:00Z")).unwrap();
    let first = pending(&store).remove(0);
    // Saturday 7 March, 09:00 EST = 14:00 UTC.
    assert_eq!(first.not_before, utc("2026-03-07T14:00:00Z"));
    send(&store, &first, first.not_before);
    // Twelve hours later is 21:00 EST; the next window opens Sunday 09:00 EDT = 13:00 UTC.
    let sent = drive(
        &store,
        &sched,
        first.not_before,
        utc("2026-03-10T00:00:00Z"),
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].not_before, utc("2026-03-08T13:00:00Z"));
    assert_eq!(enrollment(&store, &e.id).state, EnrollmentState::Completed);
}

#[test]
fn weekends_and_holidays_are_skipped() {
    let store = Store::temporary().unwrap();
    let settings =
        "skip_weekends = true\nholidays = [\"2026-03-09\"]\nrandom_gap_secs = { min = 0, max = 0 }";
    apply(&store, &two_step("hol", settings, "days = 1"));
    enroll(
        &store,
        "hol",
        &[lead("a@x.example", "X", None)],
        utc("2026-03-06T18:00:00Z"),
    );
    scheduler(&store).tick(utc("2026-03-06T18:00:00Z")).unwrap();
    // Friday evening → Saturday, Sunday skipped, Monday a holiday → Tuesday 09:00.
    assert_eq!(pending(&store)[0].not_before, utc("2026-03-10T09:00:00Z"));
}

#[test]
fn daily_cap_is_shared_by_two_sequences_on_one_mailbox() {
    let store = Store::temporary().unwrap();
    let settings = "daily_limit_per_mailbox = 3\nrandom_gap_secs = { min = 0, max = 0 }";
    apply(&store, &two_step("one", settings, "days = 1"));
    apply(&store, &two_step("two", settings, "days = 1"));
    let start = utc("2026-03-02T08:00:00Z"); // Monday
    let a: Vec<_> = (0..4)
        .map(|i| lead(&format!("a{i}@a.example"), "A", None))
        .collect();
    let b: Vec<_> = (0..4)
        .map(|i| lead(&format!("b{i}@b.example"), "B", None))
        .collect();
    enroll(&store, "one", &a, start);
    enroll(&store, "two", &b, start);
    scheduler(&store).tick(start).unwrap();
    let items = pending(&store);
    assert_eq!(items.len(), 8);
    let mut per_day = std::collections::BTreeMap::new();
    for item in &items {
        assert_eq!(item.email.from, "rep@acme.example");
        *per_day.entry(item.not_before.date_naive()).or_insert(0) += 1;
    }
    let counts: Vec<i32> = per_day.values().copied().collect();
    assert_eq!(counts, vec![3, 3, 2], "{per_day:?}");
}

#[test]
fn random_gaps_stay_within_bounds() {
    let store = Store::temporary().unwrap();
    let settings = "daily_limit_per_mailbox = 500\nrandom_gap_secs = { min = 60, max = 300 }";
    apply(&store, &two_step("gap", settings, "days = 1"));
    let leads: Vec<_> = (0..30)
        .map(|i| lead(&format!("l{i}@g.example"), "G", None))
        .collect();
    enroll(&store, "gap", &leads, utc("2026-03-02T09:00:00Z"));
    scheduler(&store).tick(utc("2026-03-02T09:00:00Z")).unwrap();
    let times: Vec<_> = pending(&store).iter().map(|i| i.not_before).collect();
    assert_eq!(times.len(), 30);
    let gaps: Vec<i64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds())
        .collect();
    assert!(gaps.iter().all(|g| (60..=300).contains(g)), "{gaps:?}");
    let distinct: std::collections::BTreeSet<_> = gaps.iter().collect();
    assert!(distinct.len() > 5, "gaps should vary: {gaps:?}");
}

#[test]
fn a_missing_value_blocks_the_send_with_a_reason() {
    let store = Store::temporary().unwrap();
    apply(&store, &two_step("blk", "", "days = 1"));
    let mut no_company = lead("x@y.example", "", None);
    no_company.company = None;
    let [e] = enroll(&store, "blk", &[no_company], utc("2026-03-02T10:00:00Z"))
        .try_into()
        .unwrap();
    let report = scheduler(&store).tick(utc("2026-03-02T10:00:00Z")).unwrap();
    assert_eq!(report.blocked, 1);
    assert!(items(&store).is_empty(), "nothing may be queued");
    let e = enrollment(&store, &e.id);
    assert_eq!(e.state, EnrollmentState::Paused);
    let reason = e.reason.unwrap();
    assert!(
        reason.contains("{{company}}") && reason.contains("step 1"),
        "{reason}"
    );
    let exec = store
        .get::<StepExecution>(&format!("{}/00000", e.id))
        .unwrap()
        .unwrap();
    assert_eq!(exec.outcome, ExecutionOutcome::Blocked);
}

#[test]
fn rendered_emails_never_carry_raw_braces_and_spintax_is_stable() {
    let store = Store::temporary().unwrap();
    let text = two_step("spin", "", "days = 1")
        .replace("Hello {{first_name}}", "{Hi|Hello|Hey} {{first_name}}");
    apply(&store, &text);
    let leads: Vec<_> = (0..12)
        .map(|i| lead(&format!("s{i}@s.example"), "S", None))
        .collect();
    enroll(&store, "spin", &leads, utc("2026-03-02T10:00:00Z"));
    scheduler(&store).tick(utc("2026-03-02T10:00:00Z")).unwrap();
    let subjects: std::collections::BTreeSet<String> = pending(&store)
        .iter()
        .map(|i| {
            assert!(!i.email.text_body.contains("{{") && !i.email.subject.contains('{'));
            i.email.subject.split(' ').next().unwrap().to_string()
        })
        .collect();
    assert!(
        subjects.len() > 1,
        "spintax should vary across leads: {subjects:?}"
    );
}

#[test]
fn a_crash_between_outbox_and_enrollment_writes_never_duplicates() {
    let store = Store::temporary().unwrap();
    apply(&store, &two_step("crash", "", "days = 1"));
    let [e] = enroll(
        &store,
        "crash",
        &[lead("c@c.example", "C", None)],
        utc("2026-03-02T10:00:00Z"),
    )
    .try_into()
    .unwrap();
    let before = enrollment(&store, &e.id);
    let sched = scheduler(&store);
    sched.tick(utc("2026-03-02T10:00:00Z")).unwrap();
    let first = items(&store);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].idempotency_key, format!("seq:{}:0", e.id));
    // The enrollment's write is lost: it is due again, as before the tick.
    store.put(&before).unwrap();
    sched.tick(utc("2026-03-02T10:00:05Z")).unwrap();
    assert_eq!(items(&store), first, "the existing item is reused");
    // Sent, but the worker died before reporting: the recheck applies it.
    send_without_report(&store, &first[0]);
    store.put(&before).unwrap();
    sched.tick(utc("2026-03-02T10:00:10Z")).unwrap();
    let after = enrollment(&store, &e.id);
    assert_eq!(
        after.current_step, 2,
        "moved past the sent step and the wait"
    );
    assert_eq!(items(&store).len(), 1);
}

fn send_without_report(store: &Store, item: &OutboxItem) {
    let mut item = item.clone();
    item.state = OutboxState::Sent;
    item.updated_at = item.not_before;
    store.put(&item).unwrap();
}

#[test]
fn unsubscribe_headers_pixel_and_click_links_are_signed() {
    let store = Store::temporary().unwrap();
    let text = two_step(
        "links",
        "track_opens = true\ntrack_clicks = true",
        "days = 1",
    )
    .replace(
        "about {{company}}.",
        "about {{company}}. See https://acme.example/case-study.",
    );
    apply(&store, &text);
    enroll(
        &store,
        "links",
        &[lead("t@t.example", "T", None)],
        utc("2026-03-02T10:00:00Z"),
    );
    let key = TrackingKey::from_bytes([9; 32]);
    let mut config = SchedulerConfig::new(chrono_tz::UTC);
    config.public_url = Some("https://track.acme.example".parse().unwrap());
    config.tracking_key = Some(key.clone());
    Scheduler::new(store.clone(), config)
        .tick(utc("2026-03-02T10:00:00Z"))
        .unwrap();
    let item = pending(&store).remove(0);
    let header = |name: &str| {
        item.email
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let unsub = header("List-Unsubscribe").unwrap();
    assert!(
        unsub.starts_with("<https://track.acme.example/u/")
            && unsub.contains("mailto:rep@acme.example"),
        "{unsub}"
    );
    let token = unsub
        .trim_start_matches("<https://track.acme.example/u/")
        .split('>')
        .next()
        .unwrap();
    let claims = key.verify(token).unwrap();
    assert_eq!(
        (claims.kind, claims.id.as_str(), claims.email),
        (TokenKind::Unsubscribe, item.id.as_str(), None)
    );
    // The link names the email it came from, never the person.
    use base64::Engine as _;
    for link in [
        unsub.as_str(),
        item.email.html_body.as_deref().unwrap_or_default(),
    ] {
        for token in link.split(['/', '"', '>']).filter(|t| t.contains('.')) {
            let body = token.split('.').next().unwrap_or_default();
            if let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body) {
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("t@t.example"),
                    "{token}"
                );
            }
        }
    }
    assert!(
        item.email
            .text_body
            .contains("https://track.acme.example/u/"),
        "unsubscribe link in the body"
    );
    let html = item.email.html_body.clone().unwrap();
    assert!(
        html.contains("https://track.acme.example/t/o/"),
        "open pixel"
    );
    let click = html
        .split("href=\"https://track.acme.example/t/c/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let claims = key.verify(click).unwrap();
    assert_eq!(
        claims.url.as_deref(),
        Some("https://acme.example/case-study")
    );
    assert!(
        !html.contains("href=\"https://acme.example"),
        "links are rewritten"
    );
    // Without a public URL: no links, and a mailto List-Unsubscribe only
    // (no one-click: RFC 8058 needs an HTTPS link).
    let plain = Store::temporary().unwrap();
    apply(&plain, &text);
    enroll(
        &plain,
        "links",
        &[lead("t@t.example", "T", None)],
        utc("2026-03-02T10:00:00Z"),
    );
    scheduler(&plain).tick(utc("2026-03-02T10:00:00Z")).unwrap();
    let email = &pending(&plain)[0].email;
    assert_eq!(
        email.headers,
        [(
            "List-Unsubscribe".to_string(),
            format!("<mailto:{}?subject=unsubscribe>", email.from)
        )]
    );
}

/// Slots are not handed out in processing order: a lead in a far time zone
/// processed after four New York leads still gets its own first window.
#[test]
fn a_singapore_lead_enrolled_after_new_york_leads_sends_in_its_own_first_window() {
    let store = Store::temporary().unwrap();
    let settings = "skip_weekends = true\ndaily_limit_per_mailbox = 40\nrandom_gap_secs = { min = 120, max = 300 }";
    apply(&store, &two_step("fair", settings, "days = 2"));
    // Sunday night UTC: New York's Monday window opens 14:00 UTC, Singapore's
    // Monday window is 01:00-09:00 UTC. The New York leads are due first.
    let new_york: Vec<_> = (0..4)
        .map(|i| lead(&format!("ny{i}@ny.example"), "NY", Some("America/New_York")))
        .collect();
    enroll(&store, "fair", &new_york, utc("2026-03-01T23:00:00Z"));
    let [singapore] = enroll(
        &store,
        "fair",
        &[lead("sg@sg.example", "SG", Some("Asia/Singapore"))],
        utc("2026-03-01T23:30:00Z"),
    )
    .try_into()
    .unwrap();
    scheduler(&store).tick(utc("2026-03-02T00:00:00Z")).unwrap();
    let queued = pending(&store);
    assert_eq!(queued.len(), 5);
    let sg = queued
        .iter()
        .find(|i| i.enrollment_id.as_deref() == Some(singapore.id.as_str()))
        .unwrap();
    assert!(
        sg.not_before >= utc("2026-03-02T01:00:00Z") && sg.not_before < utc("2026-03-02T09:00:00Z"),
        "Singapore's first step at {}",
        sg.not_before
    );
    let mut ny: Vec<_> = queued
        .iter()
        .filter(|i| i.enrollment_id.as_deref() != Some(singapore.id.as_str()))
        .map(|i| i.not_before)
        .collect();
    ny.sort();
    assert!(
        ny.iter()
            .all(|t| *t >= utc("2026-03-02T14:00:00Z") && *t < utc("2026-03-02T22:00:00Z")),
        "{ny:?}"
    );
    // The mailbox gap still holds across all five sends.
    let mut all: Vec<_> = queued.iter().map(|i| i.not_before).collect();
    all.sort();
    assert!(
        all.windows(2).all(|w| (w[1] - w[0]).num_seconds() >= 120),
        "{all:?}"
    );
}

/// When the daily cap binds, the day's sends go to the leads whose windows
/// come first, not to whoever the scheduler happened to look at first.
#[test]
fn a_daily_cap_is_allocated_in_time_order_across_due_leads() {
    let store = Store::temporary().unwrap();
    let settings = "skip_weekends = true\ndaily_limit_per_mailbox = 2\nrandom_gap_secs = { min = 60, max = 60 }";
    apply(&store, &two_step("capfair", settings, "days = 2"));
    let new_york: Vec<_> = (0..2)
        .map(|i| lead(&format!("ny{i}@ny.example"), "NY", Some("America/New_York")))
        .collect();
    enroll(&store, "capfair", &new_york, utc("2026-03-01T23:00:00Z"));
    let [singapore] = enroll(
        &store,
        "capfair",
        &[lead("sg@sg.example", "SG", Some("Asia/Singapore"))],
        utc("2026-03-01T23:30:00Z"),
    )
    .try_into()
    .unwrap();
    scheduler(&store).tick(utc("2026-03-02T00:00:00Z")).unwrap();
    let queued = pending(&store);
    assert_eq!(queued.len(), 3);
    let sg = queued
        .iter()
        .find(|i| i.enrollment_id.as_deref() == Some(singapore.id.as_str()))
        .unwrap();
    assert_eq!(sg.not_before, utc("2026-03-02T01:00:00Z"));
    let monday = queued
        .iter()
        .filter(|i| i.not_before.date_naive() == sg.not_before.date_naive())
        .count();
    assert_eq!(monday, 2, "the cap still holds");
}
