//! The sequence file format (examples, errors at file:line), CSV enrollment,
//! and `plan` predicting exactly what the ticks then do.

mod sequences_support;

use std::collections::BTreeSet;

use chrono::Duration;
use outpost::config::SendingConfig;
use outpost::model::*;
use outpost::sequences::{self, PlanQuery, SchedulerConfig, SequenceError};
use outpost::store::Store;
use sequences_support::*;

fn apply_err(store: &Store, text: &str) -> String {
    match sequences::apply_sequence(
        store,
        "seq.toml",
        text,
        &SendingConfig::default(),
        utc("2026-01-01T00:00:00Z"),
    ) {
        Err(SequenceError::Format(e)) => e.to_string(),
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn the_examples_apply() {
    let store = Store::temporary().unwrap();
    for file in [
        "cold-outreach-gmail",
        "smartlead-campaign",
        "conditional-task-webhook",
    ] {
        let path = format!(
            "{}/assets/sequences/{file}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        sequences::apply_sequence(
            &store,
            &path,
            &text,
            &SendingConfig::default(),
            utc("2026-01-01T00:00:00Z"),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    assert_eq!(sequences::list(&store).unwrap().len(), 3);
}

#[test]
fn an_unknown_variable_behind_filters_is_refused_before_anything_is_stored() {
    let store = Store::temporary().unwrap();
    let bad = two_step("e", "", "days = 1").replace(
        "Following up, {{first_name}}.",
        "Following up, {{ seniority | default(\\\"lead\\\") | title }}.",
    );
    assert!(bad.contains("seniority | default"), "{bad}");
    let err = apply_err(&store, &bad);
    assert!(
        err.contains("{{seniority}}") && err.contains("step 3"),
        "{err}"
    );
    assert!(sequences::list(&store).unwrap().is_empty());
}

#[test]
fn errors_point_at_file_and_line() {
    let store = Store::temporary().unwrap();
    let base = two_step("e", "", "days = 1");
    // Unknown variable, on the body's line (line 20 of the generated file).
    let bad = base.replace("about {{company}}", "about {{favourite_colour}}");
    let err = apply_err(&store, &bad);
    let line = bad
        .lines()
        .position(|l| l.contains("favourite_colour"))
        .unwrap()
        + 1;
    assert!(err.starts_with(&format!("seq.toml:{line}:")), "{err}");
    assert!(err.contains("{{favourite_colour}}"), "{err}");
    // A variable inside a multi-line body: the line of that variable.
    let multi = base.replace(
        "body = \"Following up, {{first_name}}.\"",
        "body = \"\"\"\nFollowing up,\nabout {{ budget }}.\n\"\"\"",
    );
    let err = apply_err(&store, &multi);
    let line = multi.lines().position(|l| l.contains("budget")).unwrap() + 1;
    assert!(err.starts_with(&format!("seq.toml:{line}:")), "{err}");
    // Declared custom fields are accepted.
    sequences::apply_sequence(
        &store,
        "seq.toml",
        &format!("custom_fields = [\"budget\"]\n{multi}"),
        &SendingConfig::default(),
        utc("2026-01-01T00:00:00Z"),
    )
    .unwrap();
    // A misspelt key, a field in the wrong step kind, a bad timezone, bad TOML.
    let err = apply_err(
        &store,
        &base.replace("[settings]", "[settings]\npause_on_replyy = true"),
    );
    assert!(
        err.contains("pause_on_replyy") && err.starts_with("seq.toml:"),
        "{err}"
    );
    let err = apply_err(
        &store,
        &base.replace("type = \"wait\"", "type = \"wait\"\nsubject = \"x\""),
    );
    let line = base
        .lines()
        .position(|l| l.contains("type = \"wait\""))
        .unwrap();
    assert!(
        err.starts_with(&format!("seq.toml:{line}:")) && err.contains("`subject`"),
        "{err}"
    );
    let err = apply_err(
        &store,
        &base.replace("[settings]", "[settings]\ntimezone = \"Mars/Base\""),
    );
    assert!(err.contains("Mars/Base"), "{err}");
    let err = apply_err(
        &store,
        &base.replace("[settings]", "[settings]\nwindow = {"),
    );
    assert!(err.starts_with("seq.toml:"), "{err}");
    assert!(
        sequences::list(&store)
            .unwrap()
            .iter()
            .all(|s| s.name == "e"),
        "nothing bad was stored"
    );
}

#[test]
fn csv_enrollment_dedupes_checks_suppression_and_other_sequences() {
    let store = Store::temporary().unwrap();
    apply(&store, &two_step("main", "", "days = 1"));
    apply(&store, &two_step("other", "", "days = 1"));
    let at = utc("2026-03-02T09:00:00Z");
    enroll(
        &store,
        "other",
        &[lead("tom@ledgerly.example", "Ledgerly", None)],
        at,
    );
    store
        .put(&Suppression {
            account: "acme".into(),
            email: "marta@nordbank.example".into(),
            reason: SuppressionReason::Unsubscribed,
            at,
            note: None,
        })
        .unwrap();
    let path = format!("{}/assets/leads.csv", env!("CARGO_MANIFEST_DIR"));
    let inputs = sequences::read_leads_csv(std::fs::File::open(&path).unwrap(), &path).unwrap();
    assert_eq!(inputs.len(), 6);
    assert_eq!(
        inputs[0].custom_fields.get("role").map(String::as_str),
        Some("CFO")
    );
    let report = sequences::enroll_leads(&store, "main", &inputs, at, false, at).unwrap();
    let enrolled: BTreeSet<&str> = report
        .enrolled
        .iter()
        .map(|e| e.lead_email.as_str())
        .collect();
    assert_eq!(
        enrolled,
        BTreeSet::from([
            "dana@ledgerly.example",
            "li.wei@fintrack.example",
            "priya@quantly.example"
        ])
    );
    let why = |email: &str| {
        report
            .skipped
            .iter()
            .find(|s| s.email == email)
            .unwrap()
            .reason
            .clone()
    };
    assert!(why("marta@nordbank.example").contains("suppressed"));
    assert!(why("tom@ledgerly.example").contains("--force"));
    assert!(why("dana@ledgerly.example").contains("duplicate"));
    let lead = store
        .get::<Lead>(&Lead::key_for("acme", "li.wei@fintrack.example"))
        .unwrap()
        .unwrap();
    assert_eq!(lead.timezone.as_deref(), Some("Asia/Singapore"));
    // Forced, Tom joins; enrolling again is refused as already enrolled.
    let forced = sequences::enroll_leads(&store, "main", &inputs, at, true, at).unwrap();
    let forced: Vec<&str> = forced
        .enrolled
        .iter()
        .map(|e| e.lead_email.as_str())
        .collect();
    assert_eq!(forced, vec!["tom@ledgerly.example"]);
    // A CSV without an email column is refused with its line.
    let err = sequences::read_leads_csv("name\nx\n".as_bytes(), "bad.csv").unwrap_err();
    assert!(err.to_string().starts_with("bad.csv:1:"), "{err}");
}

/// What a send is, for comparing the plan with what happened.
type Key = (
    String,
    usize,
    chrono::DateTime<chrono::Utc>,
    Option<String>,
    Option<String>,
);

#[test]
fn plan_predicts_exactly_what_the_ticks_do() {
    let store = Store::temporary().unwrap();
    let settings = "daily_limit_per_mailbox = 7\nrandom_gap_secs = { min = 30, max = 600 }";
    let text = two_step("p", settings, "days = 3\nbusiness_days = true")
        .replace("[send_via]\nprovider = \"gmail\"\nmailboxes = [\"rep@acme.example\"]", "[send_via]\nprovider = \"gmail\"\nmailboxes = [\"rep@acme.example\", \"sam@acme.example\"]");
    apply(&store, &text);
    let zones = [
        None,
        Some("America/Los_Angeles"),
        Some("Europe/Berlin"),
        Some("Asia/Tokyo"),
    ];
    let leads: Vec<_> = (0..40)
        .map(|i| lead(&format!("lead{i}@co{}.example", i % 13), "Co", zones[i % 4]))
        .collect();
    let start = utc("2026-03-05T15:00:00Z");
    enroll(&store, "p", &leads, start);
    let mut no_name = lead("anon@x.example", "X", None);
    no_name.company = None;
    enroll(&store, "p", &[no_name], start);

    let config = SchedulerConfig::new(chrono_tz::UTC);
    let plan = sequences::plan(
        &store,
        &config,
        &PlanQuery {
            days: 20,
            ..PlanQuery::default()
        },
        start,
    )
    .unwrap();
    let predicted: Vec<Key> = plan
        .entries
        .iter()
        .map(|e| {
            (
                e.enrollment_id.clone(),
                e.step - 1,
                e.at,
                e.mailbox.clone(),
                e.variant.clone(),
            )
        })
        .collect();
    assert_eq!(predicted.len(), 80, "two emails for each of 40 leads");
    let stall = plan
        .stalls
        .iter()
        .find(|s| s.lead_email == "anon@x.example")
        .unwrap();
    assert!(stall.reason.contains("{{company}}"), "{stall:?}");
    // The plan changed nothing.
    assert!(items(&store).is_empty());

    let sched = outpost::sequences::Scheduler::new(store.clone(), config);
    let sent = drive(&store, &sched, start, start + Duration::days(20));
    let mut actual: Vec<Key> = sent
        .iter()
        .map(|i| {
            let e = enrollment(&store, i.enrollment_id.as_deref().unwrap());
            let step = i.step.unwrap();
            (
                e.id.clone(),
                step,
                i.not_before,
                e.mailbox.clone(),
                e.variants.get(&step).cloned(),
            )
        })
        .collect();
    let mut predicted = predicted;
    predicted.sort();
    actual.sort();
    assert_eq!(predicted, actual);
    // Caps per mailbox and day hold, windows hold in each lead's zone.
    let mut per_day = std::collections::BTreeMap::new();
    for i in &sent {
        *per_day
            .entry((i.email.from.clone(), i.not_before.date_naive()))
            .or_insert(0) += 1;
    }
    assert!(per_day.values().all(|n| *n <= 7), "{per_day:?}");
}
