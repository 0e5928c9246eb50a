//! Task steps wait for the rep: listed through the door, closed done or
//! skipped (or by themselves after `auto_skip_after_days`), and only then
//! does the next step go out. Everything on the injected clock.

mod sequences_support;

use std::sync::Arc;

use chrono::Duration;
use outpost::clock::{Clock, FakeClock};
use outpost::engine::Engine;
use outpost::engine::door::{ErrorKind, Request, Response};
use outpost::model::*;
use outpost::sequences::{EnrollmentAction, set_enrollment_state};
use outpost::store::Store;
use sequences_support::*;

fn call_then_email(auto_skip: &str) -> String {
    format!(
        r#"
name = "calls"
account = "acme"
category = "cold_outreach"

[settings]
skip_weekends = false
random_gap_secs = {{ min = 0, max = 0 }}

[send_via]
provider = "gmail"
mailboxes = ["rep@acme.example"]

[[steps]]
type = "email"
subject = "Hello {{{{first_name}}}}"
body = "Hi {{{{first_name}}}}."

[[steps]]
type = "task"
title = "Call {{{{first_name}}}}"
body = "Ask about {{{{company}}}}"
{auto_skip}

[[steps]]
type = "email"
body = "Following up on our call, {{{{first_name}}}}."
"#
    )
}

struct Desk {
    store: Store,
    clock: Arc<FakeClock>,
    engine: Engine,
    runtime: tokio::runtime::Runtime,
}

impl Desk {
    fn new(auto_skip: &str, start: chrono::DateTime<chrono::Utc>) -> (Desk, Enrollment) {
        let store = Store::temporary().unwrap();
        apply(&store, &call_then_email(auto_skip));
        let [enr] = enroll(
            &store,
            "calls",
            &[lead("dana@ledgerly.example", "Ledgerly", None)],
            start,
        )
        .try_into()
        .unwrap();
        let clock = Arc::new(FakeClock::new(start));
        let engine = Engine::new(store.clone(), clock.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (
            Desk {
                store,
                clock,
                engine,
                runtime,
            },
            enr,
        )
    }

    fn call(&self, request: Request) -> Result<Response, outpost::engine::door::DoorError> {
        self.runtime.block_on(self.engine.execute(request))
    }

    fn tasks(&self, all: bool) -> Vec<Task> {
        match self.call(Request::Tasks { all }).unwrap() {
            Response::Tasks(tasks) => tasks,
            other => panic!("{other:?}"),
        }
    }

    fn close(&self, id: &str, outcome: TaskOutcome, note: Option<&str>) -> Task {
        let request = Request::TaskClose {
            id: id.into(),
            outcome,
            note: note.map(String::from),
        };
        match self.call(request).unwrap() {
            Response::Task(task) => task,
            other => panic!("{other:?}"),
        }
    }

    /// Runs the scheduler and a punctual worker up to `until`; the clock ends there.
    fn drive(&self, until: chrono::DateTime<chrono::Utc>) -> Vec<OutboxItem> {
        let sent = drive(
            &self.store,
            &scheduler(&self.store),
            self.clock.now(),
            until,
        );
        self.clock.set(until);
        sent
    }
}

#[test]
fn a_task_step_holds_the_next_step_until_the_rep_marks_it_done() {
    let start = utc("2026-03-02T10:00:00Z");
    let (desk, enr) = Desk::new("", start);
    let sent = desk.drive(start + Duration::days(10));
    assert_eq!(
        sent.len(),
        1,
        "only the first email: the task waits for the rep"
    );
    let tasks = desk.tasks(false);
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task.title, "Call dana");
    assert_eq!(task.body, "Ask about Ledgerly");
    assert_eq!(task.enrollment_id.as_deref(), Some(enr.id.as_str()));
    assert_eq!(task.step, Some(1));
    assert!(task.due_at <= desk.clock.now(), "overdue by now");
    assert_eq!(
        enrollment(&desk.store, &enr.id).state,
        EnrollmentState::Active
    );

    // Done, by a unique prefix of its id, with a note.
    let done_at = desk.clock.now();
    let closed = desk.close(
        &task.id[..task.id.len() - 2],
        TaskOutcome::Done,
        Some("left a voicemail"),
    );
    assert_eq!(
        (closed.outcome, closed.note.as_deref(), closed.done_at),
        (
            Some(TaskOutcome::Done),
            Some("left a voicemail"),
            Some(done_at)
        )
    );
    assert!(
        desk.tasks(false).is_empty(),
        "a closed task is no longer due"
    );
    assert_eq!(desk.tasks(true).len(), 1, "--all still lists it");

    let sent = desk.drive(done_at + Duration::days(1));
    assert_eq!(
        sent.len(),
        1,
        "the follow-up goes out once the task is done"
    );
    assert!(sent[0].not_before >= done_at);
    assert_eq!(
        enrollment(&desk.store, &enr.id).state,
        EnrollmentState::Completed
    );

    // Closing it again is refused and changes nothing.
    let again = desk
        .call(Request::TaskClose {
            id: task.id.clone(),
            outcome: TaskOutcome::Skipped,
            note: None,
        })
        .unwrap_err();
    assert_eq!(again.kind, ErrorKind::Invalid);
    assert!(again.message.contains("already done"), "{}", again.message);
    let stored = desk.store.get::<Task>(&task.id).unwrap().unwrap();
    assert_eq!(stored.outcome, Some(TaskOutcome::Done));
}

#[test]
fn a_skipped_task_moves_the_sequence_on_too() {
    let start = utc("2026-03-02T10:00:00Z");
    let (desk, enr) = Desk::new("", start);
    desk.drive(start + Duration::days(2));
    let [task] = desk.tasks(false).try_into().unwrap();
    desk.close(&task.id, TaskOutcome::Skipped, None);
    let sent = desk.drive(desk.clock.now() + Duration::days(1));
    assert_eq!(sent.len(), 1);
    assert_eq!(
        enrollment(&desk.store, &enr.id).state,
        EnrollmentState::Completed
    );
    let [closed] = desk.tasks(true).try_into().unwrap();
    assert_eq!(closed.outcome, Some(TaskOutcome::Skipped));
}

#[test]
fn a_task_skips_itself_after_auto_skip_after_days() {
    let start = utc("2026-03-02T10:00:00Z");
    let (desk, enr) = Desk::new("auto_skip_after_days = 3", start);
    let sent = desk.drive(start + Duration::days(2));
    assert_eq!(sent.len(), 1);
    let [task] = desk.tasks(false).try_into().unwrap();
    assert_eq!(task.auto_skip_at, Some(task.due_at + Duration::days(3)));
    let sent = desk.drive(start + Duration::days(5));
    assert_eq!(sent.len(), 1, "the follow-up goes out after the auto-skip");
    assert!(sent[0].not_before >= task.due_at + Duration::days(3));
    let stored = desk.store.get::<Task>(&task.id).unwrap().unwrap();
    assert_eq!(stored.outcome, Some(TaskOutcome::Skipped));
    assert_eq!(
        enrollment(&desk.store, &enr.id).state,
        EnrollmentState::Completed
    );
}

#[test]
fn a_task_survives_a_pause_and_the_sequence_moves_on_after_resume() {
    let start = utc("2026-03-02T10:00:00Z");
    let (desk, enr) = Desk::new("", start);
    desk.drive(start + Duration::days(1));
    let now = desk.clock.now();
    set_enrollment_state(&desk.store, &enr.id, EnrollmentAction::Pause, None, now).unwrap();
    let [task] = desk.tasks(false).try_into().unwrap();
    desk.close(&task.id, TaskOutcome::Done, None);
    let sent = desk.drive(now + Duration::days(3));
    assert!(sent.is_empty(), "a paused enrollment sends nothing");
    assert_eq!(
        enrollment(&desk.store, &enr.id).state,
        EnrollmentState::Paused
    );
    let resumed_at = desk.clock.now();
    set_enrollment_state(
        &desk.store,
        &enr.id,
        EnrollmentAction::Resume,
        None,
        resumed_at,
    )
    .unwrap();
    let sent = desk.drive(resumed_at + Duration::days(1));
    assert_eq!(sent.len(), 1);
    assert_eq!(
        enrollment(&desk.store, &enr.id).state,
        EnrollmentState::Completed
    );
}

#[test]
fn the_rep_adds_tasks_for_known_leads_and_today_ends_at_midnight() {
    let start = utc("2026-03-02T10:00:00Z");
    let (desk, _) = Desk::new("", start);
    let add = |title: &str, due: Option<chrono::DateTime<chrono::Utc>>, lead: &str| {
        desk.call(Request::TaskAdd {
            lead: lead.into(),
            title: title.into(),
            due,
        })
    };
    let unknown = add("Call", None, "nobody@nowhere.example").unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::NotFound);
    let blank = add("  ", None, "dana@ledgerly.example").unwrap_err();
    assert_eq!(blank.kind, ErrorKind::Invalid);
    assert!(desk.tasks(true).is_empty(), "refusals write nothing");

    let Response::Task(today) = add(
        "Send the deck",
        Some(utc("2026-03-02T23:30:00Z")),
        "Dana@Ledgerly.example",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (today.account.as_str(), today.lead_email.as_str()),
        ("acme", "dana@ledgerly.example")
    );
    add(
        "Check in",
        Some(utc("2026-03-03T00:30:00Z")),
        "dana@ledgerly.example",
    )
    .unwrap();
    let due: Vec<String> = desk.tasks(false).into_iter().map(|t| t.title).collect();
    assert_eq!(due, vec!["Send the deck"], "due today (UTC) only");
    assert_eq!(desk.tasks(true).len(), 2);
    desk.close(&today.id, TaskOutcome::Done, None);
    assert!(desk.tasks(false).is_empty());
}
