//! A Smartlead-sent sequence end to end against the sandbox, on one fake
//! clock shared by the sandbox and the engine: 20 leads from a CSV, two email
//! steps, each adding the lead to the sandbox campaign. Every lead lands in
//! the campaign exactly once with its fields, a second pass adds nothing, and
//! every enrollment records what each step did.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use outpost::clock::{Clock, FakeClock, SharedClock};
use outpost::config::{self, Config, ConfigSources};
use outpost::engine::Engine;
use outpost::model::*;
use outpost::outbox::OutboxWorker;
use outpost::providers::registry::Providers;
use outpost::sandbox::{self, SandboxHandle, SandboxOptions};
use outpost::sequences::{self, Scheduler, SchedulerConfig};
use outpost::store::{Index, Store, keys};
use support::{ClientLimit, write_config};

const LEADS: usize = 20;

struct FakeRig {
    sandbox: SandboxHandle,
    _dir: tempfile::TempDir,
    clock: Arc<FakeClock>,
    config: Config,
    engine: Engine,
}

async fn fake_rig(start: DateTime<Utc>) -> FakeRig {
    let clock = Arc::new(FakeClock::new(start));
    let shared: SharedClock = clock.clone();
    let sandbox = sandbox::start(SandboxOptions {
        leads: 50,
        seed: 7,
        rate_limit: sandbox::RateLimit::unlimited(),
        clock: shared.clone(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), sandbox.info(), &ClientLimit(100_000, 1));
    let config = config::load(&ConfigSources {
        config_path: Some(path),
        data_dir: None,
    })
    .expect("config loads");
    let providers = Providers::from_config(&config, config.data_dir(), shared.clone()).unwrap();
    let engine = Engine::with_providers(Store::temporary().unwrap(), shared, Arc::new(providers));
    FakeRig {
        sandbox,
        _dir: dir,
        clock,
        config,
        engine,
    }
}

fn smartlead_sequence(campaign_id: i64) -> String {
    format!(
        r#"
name = "e2e-smartlead"
account = "sl"
custom_fields = ["role"]

[settings]
daily_limit_per_mailbox = 30
window = {{ start = "08:30", end = "16:30" }}
timezone = "Europe/London"
skip_weekends = true

[send_via]
provider = "smartlead"
campaign_id = {campaign_id}

[[steps]]
type = "email"
subject = "Notes for {{{{ company | default(\"your team\") }}}}"
body = "Hi {{{{ first_name | default(\"there\") }}}}, as {{{{ role | default(\"lead\") }}}} you may like this."

[[steps]]
type = "wait"
days = 2

[[steps]]
type = "email"
body = "{{{{ first_name | default(\"Hi\") }}}}, did the notes help?"
"#
    )
}

/// The next moment anything is due: a pending outbox item or an enrollment.
fn next_event(store: &Store, scheduler: &Scheduler) -> Option<DateTime<Utc>> {
    let pending = keys::KeyBuf::new()
        .byte(OutboxState::Pending.as_byte())
        .into_prefix();
    let item = store
        .index_keys(Index::OutboxByState, &pending, false)
        .next()
        .map(|e| e.unwrap())
        .and_then(|(k, _)| keys::time_from(&k[1..]));
    let due = scheduler.next_due_at().unwrap();
    [item, due].into_iter().flatten().min()
}

/// Moves the clock from event to event up to `until`, sending what is due
/// and ticking the scheduler at each one; returns the items the worker handled.
async fn drive(
    rig: &FakeRig,
    scheduler: &Scheduler,
    worker: &OutboxWorker,
    until: DateTime<Utc>,
) -> Vec<OutboxItem> {
    let store = rig.engine.store();
    let mut handled = Vec::new();
    while let Some(t) = next_event(store, scheduler) {
        let t = t.max(rig.clock.now());
        if t > until {
            break;
        }
        rig.clock.set(t);
        let sent = worker.send_due().await.unwrap();
        for item in &sent {
            assert_eq!(item.state, OutboxState::Sent, "{:?}", item.last_error);
        }
        handled.extend(sent);
        scheduler.tick(t).unwrap();
    }
    handled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_leads_land_in_the_campaign_once_with_their_fields() {
    // Monday 07:00 London: the window opens at 08:30.
    let start: DateTime<Utc> = "2026-03-02T07:00:00Z".parse().unwrap();
    let rig = fake_rig(start).await;
    let store = rig.engine.store().clone();
    let campaign_id = rig
        .sandbox
        .ground_truth()
        .first()
        .expect("the sandbox has a campaign")
        .campaign_id;

    sequences::apply_sequence(
        &store,
        "e2e-smartlead.toml",
        &smartlead_sequence(campaign_id),
        &rig.config.sending,
        start,
    )
    .unwrap();

    // Addresses the sandbox has never seen, so each one is a new lead there.
    let mut csv = String::from("email,first_name,last_name,company,role,city\n");
    for i in 0..LEADS {
        csv.push_str(&format!(
            "prospect{i}@northwind-{i}.example.com,First{i},Last{i},\"Northwind {i}, Inc\",VP Finance {i},Lisbon\n"
        ));
    }
    let inputs = sequences::read_leads_csv(csv.as_bytes(), "leads.csv").unwrap();
    let report = sequences::enroll_leads(&store, "e2e-smartlead", &inputs, start, false, start)
        .expect("enrolls");
    assert_eq!(report.enrolled.len(), LEADS, "{:?}", report.skipped);

    let scheduler = Scheduler::new(
        store.clone(),
        SchedulerConfig::from_config(&rig.config).unwrap(),
    );
    let worker = OutboxWorker::new(rig.engine.clone());
    let horizon = start + Duration::days(14);
    let handled = drive(&rig, &scheduler, &worker, horizon).await;
    assert_eq!(handled.len(), 2 * LEADS, "two email steps for each lead");
    assert!(handled.iter().all(|i| matches!(
        &i.delivery,
        Delivery::SmartleadAddLead(SmartleadEnroll { campaign_id: c, .. }) if *c == campaign_id
    )));

    // Each lead was added to the campaign exactly once, the follow-up step
    // finding it already there.
    let added = rig.sandbox.added_leads();
    let mut per_email: BTreeMap<String, usize> = BTreeMap::new();
    for lead in &added {
        assert_eq!(lead.campaign_id, campaign_id);
        *per_email.entry(lead.email.to_lowercase()).or_default() += 1;
    }
    assert_eq!(per_email.len(), LEADS, "{per_email:?}");
    assert!(per_email.values().all(|&n| n == 1), "{per_email:?}");

    // With the fields from the CSV, as Smartlead itself now reports them.
    let client = &rig.engine.providers().smartlead["sl"].client;
    for i in 0..LEADS {
        let email = format!("prospect{i}@northwind-{i}.example.com");
        let lead = client
            .lead_by_email(&email)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{email} is not in Smartlead"));
        let lead = &lead.lead;
        assert_eq!(
            lead.first_name.as_deref(),
            Some(format!("First{i}").as_str())
        );
        assert_eq!(lead.last_name.as_deref(), Some(format!("Last{i}").as_str()));
        assert_eq!(
            lead.company_name.as_deref(),
            Some(format!("Northwind {i}, Inc").as_str())
        );
        assert_eq!(
            lead.custom_fields.get("role").map(String::as_str),
            Some(format!("VP Finance {i}").as_str())
        );
        assert_eq!(
            lead.custom_fields.get("city").map(String::as_str),
            Some("Lisbon")
        );
    }

    // Every enrollment finished, having recorded a sent execution per email step.
    let enrollments: Vec<Enrollment> = store.iter::<Enrollment>().map(|e| e.unwrap()).collect();
    assert_eq!(enrollments.len(), LEADS);
    let executions: Vec<StepExecution> =
        store.iter::<StepExecution>().map(|e| e.unwrap()).collect();
    for enr in &enrollments {
        assert_eq!(enr.state, EnrollmentState::Completed, "{:?}", enr.reason);
        let mut steps: Vec<(usize, ExecutionOutcome)> = executions
            .iter()
            .filter(|x| x.enrollment_id == enr.id && x.step != 1)
            .map(|x| (x.step, x.outcome))
            .collect();
        steps.sort_by_key(|s| s.0);
        assert_eq!(
            steps,
            vec![(0, ExecutionOutcome::Sent), (2, ExecutionOutcome::Sent)],
            "{}",
            enr.lead_email
        );
    }

    // Running the worker and the scheduler again changes nothing.
    let later = horizon + Duration::days(7);
    rig.clock.set(later);
    assert!(worker.send_due().await.unwrap().is_empty());
    let tick = scheduler.tick(later).unwrap();
    assert!(drive(&rig, &scheduler, &worker, later).await.is_empty());
    assert_eq!(rig.sandbox.added_leads(), added, "{tick:?}");
    let outbox = store.iter::<OutboxItem>().count();
    assert_eq!(outbox, 2 * LEADS);
}
