//! Fake-clock tests for reactions: pause on reply, out-of-office resume, bounce
//! stop, unsubscribe stop, company-wide stop, meeting booked.

mod sequences_support;

use chrono::Duration;
use outpost::clock::FakeClock;
use outpost::model::*;
use outpost::sequences;
use outpost::store::Store;
use sequences_support::*;

fn setup(settings: &str) -> (Store, Vec<Enrollment>) {
    let store = Store::temporary().unwrap();
    apply(&store, &two_step("seq", settings, "days = 2"));
    let leads = [
        lead("ana@acme.example", "Acme", None),
        lead("ben@acme.example", "Acme", None),
        lead("cy@other.example", "Other", None),
    ];
    let enrolled = enroll(&store, "seq", &leads, utc("2026-03-02T10:00:00Z"));
    scheduler(&store).tick(utc("2026-03-02T10:00:00Z")).unwrap();
    (store, enrolled)
}

fn by_email<'a>(enrolled: &'a [Enrollment], email: &str) -> &'a Enrollment {
    enrolled.iter().find(|e| e.lead_email == email).unwrap()
}

#[test]
fn a_reply_pauses_and_cancels_the_queued_email() {
    let (store, enrolled) = setup("");
    let ana = by_email(&enrolled, "ana@acme.example");
    let now = utc("2026-03-02T10:00:30Z");
    let reply = event(
        EventType::EmailReplied,
        "ana@acme.example",
        now,
        Some("Sounds good, call me"),
    );
    sequences::react_to_event(&store, &reply, &FakeClock::new(now)).unwrap();
    let e = enrollment(&store, &ana.id);
    assert_eq!(e.state, EnrollmentState::Paused);
    assert_eq!(e.reason.as_deref(), Some("replied on 2026-03-02"));
    let item = items(&store)
        .into_iter()
        .find(|i| i.email.to[0] == "ana@acme.example")
        .unwrap();
    assert_eq!(item.state, OutboxState::Cancelled);
    // Nothing more for her, however long we wait; the others go on.
    let sent = drive(&store, &scheduler(&store), now, now + Duration::days(10));
    assert!(sent.iter().all(|i| i.email.to[0] != "ana@acme.example"));
    assert_eq!(sent.len(), 4);
}

#[test]
fn out_of_office_pauses_then_resumes_after_the_configured_days() {
    let (store, enrolled) = setup("ooo_resume_days = 5");
    let ben = by_email(&enrolled, "ben@acme.example");
    let at = utc("2026-03-02T10:00:30Z");
    let clock = FakeClock::new(at);
    let reply = event(
        EventType::EmailReplied,
        "ben@acme.example",
        at,
        Some("Automatic reply: I am out of office"),
    );
    sequences::react_to_event(&store, &reply, &clock).unwrap();
    let e = enrollment(&store, &ben.id);
    assert_eq!(e.state, EnrollmentState::Paused);
    assert_eq!(e.resume_at, Some(at + Duration::days(5)));
    let sched = scheduler(&store);
    sched.tick(at + Duration::days(4)).unwrap();
    assert_eq!(enrollment(&store, &ben.id).state, EnrollmentState::Paused);
    sched.tick(at + Duration::days(5)).unwrap();
    let e = enrollment(&store, &ben.id);
    assert_eq!(e.state, EnrollmentState::Active);
    let fresh: Vec<_> = pending(&store)
        .into_iter()
        .filter(|i| i.email.to[0] == "ben@acme.example")
        .collect();
    assert_eq!(
        fresh.len(),
        1,
        "step 1 queued again after the cancelled one"
    );
    assert_eq!(fresh[0].step, Some(0));

    // The same through Smartlead's category: a paused-by-reply lead gets a resume date.
    let cy = by_email(&enrolled, "cy@other.example");
    let reply = event(
        EventType::EmailReplied,
        "cy@other.example",
        at,
        Some("thanks"),
    );
    sequences::react_to_event(&store, &reply, &clock).unwrap();
    assert_eq!(enrollment(&store, &cy.id).resume_at, None);
    let category = event(
        EventType::CategoryChanged,
        "cy@other.example",
        at,
        Some("Out Of Office"),
    );
    sequences::react_to_event(&store, &category, &clock).unwrap();
    assert_eq!(
        enrollment(&store, &cy.id).resume_at,
        Some(at + Duration::days(5))
    );
}

#[test]
fn a_bounce_stops_and_suppresses() {
    let (store, enrolled) = setup("");
    let cy = by_email(&enrolled, "cy@other.example");
    let at = utc("2026-03-02T11:00:00Z");
    sequences::react_to_event(
        &store,
        &event(
            EventType::EmailBounced,
            "cy@other.example",
            at,
            Some("550 no such user"),
        ),
        &FakeClock::new(at),
    )
    .unwrap();
    let e = enrollment(&store, &cy.id);
    assert_eq!(
        (e.state, e.reason.as_deref()),
        (
            EnrollmentState::Stopped,
            Some("bounced on 2026-03-02 (550 no such user)")
        )
    );
    assert_eq!(
        suppressed(&store, "cy@other.example")[0].reason,
        SuppressionReason::Bounced
    );
}

#[test]
fn an_unsubscribe_stops_suppresses_and_blocks_re_enrollment() {
    let (store, enrolled) = setup("");
    let ana = by_email(&enrolled, "ana@acme.example");
    let at = utc("2026-03-02T11:00:00Z");
    sequences::react_to_event(
        &store,
        &event(EventType::EmailUnsubscribed, "ana@acme.example", at, None),
        &FakeClock::new(at),
    )
    .unwrap();
    assert_eq!(enrollment(&store, &ana.id).state, EnrollmentState::Stopped);
    assert_eq!(
        suppressed(&store, "ana@acme.example")[0].reason,
        SuppressionReason::Unsubscribed
    );
    apply(&store, &two_step("other", "", "days = 1"));
    let report = sequences::enroll_leads(
        &store,
        "other",
        &[lead("ana@acme.example", "Acme", None)],
        at,
        true,
        at,
    )
    .unwrap();
    assert!(report.enrolled.is_empty());
    assert!(
        report.skipped[0].reason.contains("suppressed"),
        "{:?}",
        report.skipped
    );
}

#[test]
fn a_reply_stops_the_whole_company_when_set() {
    let (store, enrolled) = setup("stop_company_on_reply = true");
    let at = utc("2026-03-02T11:00:00Z");
    sequences::react_to_event(
        &store,
        &event(
            EventType::EmailReplied,
            "ana@acme.example",
            at,
            Some("Not now"),
        ),
        &FakeClock::new(at),
    )
    .unwrap();
    assert_eq!(
        enrollment(&store, &by_email(&enrolled, "ana@acme.example").id).state,
        EnrollmentState::Paused
    );
    let ben = enrollment(&store, &by_email(&enrolled, "ben@acme.example").id);
    assert_eq!(ben.state, EnrollmentState::Stopped);
    assert!(ben.reason.unwrap().contains("ana@acme.example"));
    assert_eq!(
        enrollment(&store, &by_email(&enrolled, "cy@other.example").id).state,
        EnrollmentState::Active
    );
    // Without the setting, colleagues carry on.
    let (store, enrolled) = setup("");
    sequences::react_to_event(
        &store,
        &event(EventType::EmailReplied, "ana@acme.example", at, None),
        &FakeClock::new(at),
    )
    .unwrap();
    assert_eq!(
        enrollment(&store, &by_email(&enrolled, "ben@acme.example").id).state,
        EnrollmentState::Active
    );
}

#[test]
fn a_booked_meeting_stops_when_set() {
    let (store, enrolled) = setup("pause_on_meeting_booked = true");
    let at = utc("2026-03-02T11:00:00Z");
    sequences::react_to_event(
        &store,
        &event(
            EventType::CategoryChanged,
            "cy@other.example",
            at,
            Some("Meeting Booked"),
        ),
        &FakeClock::new(at),
    )
    .unwrap();
    let e = enrollment(&store, &by_email(&enrolled, "cy@other.example").id);
    assert_eq!(
        (e.state, e.reason.as_deref()),
        (
            EnrollmentState::Stopped,
            Some("meeting booked on 2026-03-02")
        )
    );
}

#[test]
fn follow_ups_go_in_the_same_thread() {
    let (store, _) = setup("");
    let sent = drive(
        &store,
        &scheduler(&store),
        utc("2026-03-02T10:00:00Z"),
        utc("2026-03-12T00:00:00Z"),
    );
    assert_eq!(sent.len(), 6);
    for follow_up in sent.iter().filter(|i| i.step == Some(2)) {
        let first = sent
            .iter()
            .find(|i| i.step == Some(0) && i.enrollment_id == follow_up.enrollment_id)
            .unwrap();
        assert_eq!(
            follow_up.email.subject,
            format!("Re: {}", first.email.subject)
        );
        assert_eq!(
            follow_up.email.in_reply_to.as_deref(),
            Some(first.message_id.as_str())
        );
        assert_eq!(follow_up.email.references, vec![first.message_id.clone()]);
        let thread = format!("thread-{}", first.enrollment_id.clone().unwrap());
        assert_eq!(
            follow_up.delivery,
            Delivery::GmailSend {
                thread_id: Some(thread)
            }
        );
        assert!(follow_up.not_before >= first.not_before + Duration::days(2));
    }
    for e in store.iter::<Enrollment>() {
        let e = e.unwrap();
        assert_eq!(e.state, EnrollmentState::Completed, "{e:?}");
    }
    let detail = sequences::show(&store, "seq").unwrap().unwrap();
    assert_eq!(detail.summary.counts.sent, 6);
    assert_eq!(detail.summary.completion_rate, 1.0);
    assert_eq!(detail.step_stats[0].variants[0].counts.sent, 3);
}
