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
use outpost::config::Config;
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
    let config = support::load_config(&path);
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
    smartlead_sequence_from(campaign_id, "")
}

/// The sequence, with `senders` (e.g. `email_accounts = [..]`) in `[send_via]`.
fn smartlead_sequence_from(campaign_id: i64, senders: &str) -> String {
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
{senders}

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
    let store = outpost::testing::store(&rig.engine);
    let mut handled = Vec::new();
    while let Some(t) = next_event(store, scheduler) {
        let t = t.max(rig.clock.now());
        if t > until {
            break;
        }
        rig.clock.set(t);
        handled.extend(worker.send_due().await.unwrap());
        scheduler.tick(t).unwrap();
    }
    handled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_leads_land_in_the_campaign_once_with_their_fields() {
    // Monday 07:00 London: the window opens at 08:30.
    let start: DateTime<Utc> = "2026-03-02T07:00:00Z".parse().unwrap();
    let rig = fake_rig(start).await;
    let store = outpost::testing::store(&rig.engine).clone();
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
    for item in &handled {
        assert_eq!(item.state, OutboxState::Sent, "{:?}", item.last_error);
    }
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
    let client = &outpost::testing::providers(&rig.engine).smartlead["sl"].client;
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

    // The lead's timeline says which campaign step Smartlead sends, not
    // the sequence's own subject as if it had gone out.
    let events = rig
        .engine
        .lead_events("sl/prospect0@northwind-0.example.com")
        .unwrap();
    let sent: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventType::EmailSent)
        .filter_map(|e| e.detail.as_deref())
        .collect();
    assert_eq!(
        sent,
        vec![
            format!("sent by Smartlead campaign {campaign_id}, step 1"),
            format!("sent by Smartlead campaign {campaign_id}, step 2"),
        ]
    );

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

/// Applies the sequence with `senders`, enrolls `count` new leads and runs
/// the scheduler and the worker over a week; returns what the worker handled.
async fn run_with_senders(
    rig: &FakeRig,
    campaign_id: i64,
    senders: &str,
    count: usize,
) -> Vec<OutboxItem> {
    let start = rig.clock.now();
    let store = outpost::testing::store(&rig.engine).clone();
    sequences::apply_sequence(
        &store,
        "e2e-smartlead.toml",
        &smartlead_sequence_from(campaign_id, senders),
        &rig.config.sending,
        start,
    )
    .unwrap();
    let mut csv = String::from("email,first_name\n");
    for i in 0..count {
        csv.push_str(&format!("sender{i}@contoso-{i}.example.com,Pat{i}\n"));
    }
    let inputs = sequences::read_leads_csv(csv.as_bytes(), "leads.csv").unwrap();
    let report = sequences::enroll_leads(&store, "e2e-smartlead", &inputs, start, false, start)
        .expect("enrolls");
    assert_eq!(report.enrolled.len(), count, "{:?}", report.skipped);
    let scheduler = Scheduler::new(
        store.clone(),
        SchedulerConfig::from_config(&rig.config).unwrap(),
    );
    let worker = OutboxWorker::new(rig.engine.clone());
    drive(rig, &scheduler, &worker, start + Duration::days(7)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_senders_are_attached_to_the_campaign_once_per_run() {
    let start: DateTime<Utc> = "2026-03-02T07:00:00Z".parse().unwrap();
    let rig = fake_rig(start).await;
    let campaign_id = rig.sandbox.ground_truth()[0].campaign_id;
    let client = &outpost::testing::providers(&rig.engine).smartlead["sl"].client;
    let campaign = outpost::providers::smartlead::CampaignId(campaign_id);
    let attached_ids = |accounts: Vec<outpost::providers::smartlead::EmailAccount>| {
        accounts.iter().map(|a| a.id.0).collect::<Vec<i64>>()
    };
    let before = attached_ids(client.campaign_email_accounts(campaign).await.unwrap());
    // One mailbox the campaign already sends from, by id, and one it does
    // not, by address (nothing is synced, so it is found in Smartlead's list).
    let outsider = client
        .all_email_accounts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| !before.contains(&a.id.0))
        .expect("the sandbox has a spare mailbox");
    let senders = format!(
        "email_accounts = [{}, \"{}\"]",
        before[0],
        outsider.from_email.to_uppercase()
    );

    let handled = run_with_senders(&rig, campaign_id, &senders, 3).await;
    assert_eq!(handled.len(), 6, "two email steps for each of three leads");
    for item in &handled {
        assert_eq!(item.state, OutboxState::Sent, "{:?}", item.last_error);
    }

    let after = attached_ids(client.campaign_email_accounts(campaign).await.unwrap());
    for id in before.iter().chain([&outsider.id.0]) {
        assert!(after.contains(id), "{id} attached: {after:?}");
    }
    assert_eq!(after.len(), before.len() + 1, "nothing attached twice");

    // Six sends cost one attach and one check per sending day (a check is
    // trusted for an hour), not one per lead; the test itself read the
    // campaign's mailboxes twice and the account list once.
    let routes = rig.sandbox.counters().requests_by_route;
    let count = |route: &str| routes.get(route).copied().unwrap_or_default();
    assert_eq!(
        count("POST /api/v1/campaigns/{id}/email-accounts"),
        1,
        "{routes:?}"
    );
    assert_eq!(
        count("GET /api/v1/campaigns/{id}/email-accounts"),
        2 + 2,
        "{routes:?}"
    );
    assert_eq!(count("GET /api/v1/email-accounts"), 1 + 1, "{routes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sender_fails_the_send_with_the_reason() {
    let start: DateTime<Utc> = "2026-03-02T07:00:00Z".parse().unwrap();
    let rig = fake_rig(start).await;
    let campaign_id = rig.sandbox.ground_truth()[0].campaign_id;

    let handled = run_with_senders(&rig, campaign_id, "email_accounts = [999999]", 2).await;
    assert_eq!(handled.len(), 2, "only the first step is tried");
    for item in &handled {
        assert_eq!(item.state, OutboxState::Failed);
        let error = item.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("cannot attach Smartlead email account 999999")
                && error.contains("Email account not found"),
            "{error}"
        );
    }
    assert!(rig.sandbox.added_leads().is_empty(), "no lead was added");

    // The plan and lead views read the reason from the enrollment and its step.
    let store = outpost::testing::store(&rig.engine);
    for enr in store.iter::<Enrollment>().map(|e| e.unwrap()) {
        assert_eq!(enr.state, EnrollmentState::Failed);
        let reason = enr.reason.unwrap_or_default();
        assert!(reason.contains("step 1 could not be sent"), "{reason}");
        assert!(reason.contains("999999"), "{reason}");
    }
    let failed: Vec<StepExecution> = store
        .iter::<StepExecution>()
        .map(|e| e.unwrap())
        .filter(|x| x.outcome == ExecutionOutcome::Failed)
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .all(|x| x.error.as_deref().is_some_and(|e| e.contains("999999")))
    );

    // An address no mailbox sends as fails the same way, naming it.
    let rig = fake_rig(start).await;
    let handled = run_with_senders(
        &rig,
        campaign_id,
        "email_accounts = [\"nobody@nowhere.example\"]",
        1,
    )
    .await;
    assert_eq!(handled.len(), 1);
    let error = handled[0].last_error.as_deref().unwrap_or_default();
    assert_eq!(handled[0].state, OutboxState::Failed);
    assert!(error.contains("sends as nobody@nowhere.example"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_attaches_and_detaches_campaign_mailboxes_like_smartlead() {
    let rig = fake_rig("2026-03-02T07:00:00Z".parse().unwrap()).await;
    let info = rig.sandbox.info();
    let campaign_id = rig.sandbox.ground_truth()[0].campaign_id;
    let url = format!(
        "{}/campaigns/{campaign_id}/email-accounts",
        info.smartlead_base_url
    );
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, body: serde_json::Value| {
        http.request(method, &url)
            .query(&[("api_key", info.smartlead_api_key.as_str())])
            .json(&body)
            .send()
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    let listed = |value: &serde_json::Value| -> Vec<i64> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect()
    };
    let list = http
        .get(&url)
        .query(&[("api_key", info.smartlead_api_key.as_str())])
        .send();
    let (_, before) = answer(list.await.unwrap()).await;
    let before = listed(&before);

    // Validation and lookups, in Smartlead's shapes; nothing changes.
    let post = reqwest::Method::POST;
    let (status, body) = answer(call(post.clone(), serde_json::json!({})).await.unwrap()).await;
    assert_eq!(
        (status, &body["message"]),
        (400, &"\"email_account_ids\" is required".into())
    );
    let (status, body) = answer(
        call(
            post.clone(),
            serde_json::json!({"email_account_ids": [1], "x": 1}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["message"]),
        (400, &"\"x\" is not allowed".into())
    );
    let (status, body) = answer(
        call(
            post.clone(),
            serde_json::json!({"email_account_ids": [999999]}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "Email account not found - Invalid email_account_id."
    );

    // Detach one (as a string id, which Smartlead accepts), attach it twice.
    let one = before[0].to_string();
    let (status, body) = answer(
        call(
            reqwest::Method::DELETE,
            serde_json::json!({"email_account_ids": [one]}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, body), (200, serde_json::json!({"ok": true})));
    let client = &outpost::testing::providers(&rig.engine).smartlead["sl"].client;
    let campaign = outpost::providers::smartlead::CampaignId(campaign_id);
    let now: Vec<i64> = client
        .campaign_email_accounts(campaign)
        .await
        .unwrap()
        .iter()
        .map(|a| a.id.0)
        .collect();
    assert!(!now.contains(&before[0]), "{now:?}");
    let ids = [outpost::providers::smartlead::EmailAccountId(before[0])];
    client
        .attach_campaign_email_accounts(campaign, &ids)
        .await
        .unwrap();
    client
        .attach_campaign_email_accounts(campaign, &ids)
        .await
        .unwrap();
    let mut after: Vec<i64> = client
        .campaign_email_accounts(campaign)
        .await
        .unwrap()
        .iter()
        .map(|a| a.id.0)
        .collect();
    after.sort_unstable();
    let mut expected = before.clone();
    expected.sort_unstable();
    assert_eq!(after, expected);
}

#[test]
fn email_accounts_take_ids_and_addresses_and_refuse_anything_else() {
    let sending = outpost::config::SendingConfig::default();
    let now: DateTime<Utc> = "2026-03-02T07:00:00Z".parse().unwrap();
    let parse = |senders: &str| {
        sequences::parse_sequence(
            "s.toml",
            &smartlead_sequence_from(2011, senders),
            &sending,
            now,
        )
    };
    let parsed =
        parse("email_account_ids = [4412]\nemail_accounts = [\"4413\", \" Sam@Acme.io \", 4412]")
            .unwrap();
    assert_eq!(
        parsed.sequence.send_via.mailboxes,
        vec!["4412", "4413", "sam@acme.io"],
        "ids as text, addresses lower-cased, no repeats"
    );
    for bad in ["email_accounts = [\"sam\"]", "email_accounts = [0]"] {
        let err = parse(bad).unwrap_err();
        assert!(
            err.to_string()
                .contains("email_accounts takes Smartlead email account ids"),
            "{bad}: {err}"
        );
    }
}

/// `plan` for a Smartlead-sent sequence shows the campaign's own steps (read
/// from its API), never outpost's step text; without the provider it says
/// plainly which campaign step sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_what_the_smartlead_campaign_sends() {
    use outpost::engine::door::{Request, Response};
    let start: DateTime<Utc> = "2026-03-02T07:00:00Z".parse().unwrap();
    let rig = fake_rig(start).await;
    let store = outpost::testing::store(&rig.engine).clone();
    let campaign_id = rig.sandbox.ground_truth()[0].campaign_id;
    sequences::apply_sequence(
        &store,
        "e2e-smartlead.toml",
        &smartlead_sequence(campaign_id),
        &rig.config.sending,
        start,
    )
    .unwrap();
    let lead = sequences::LeadInput {
        email: "prospect@northwind.example.com".into(),
        company: Some("Northwind".into()),
        ..sequences::LeadInput::default()
    };
    sequences::enroll_leads(&store, "e2e-smartlead", &[lead], start, false, start).unwrap();
    let client = &outpost::testing::providers(&rig.engine).smartlead["sl"].client;
    let campaign = client
        .campaign_sequences(outpost::providers::smartlead::CampaignId(campaign_id))
        .await
        .unwrap();
    let campaign_subject = |k: i64| {
        campaign
            .iter()
            .find(|s| s.seq_number == k)
            .map(|s| s.subject.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    assert!(
        campaign_subject(1).is_some(),
        "the sandbox campaign has a first subject"
    );

    let plan_request = Request::Plan {
        query: sequences::PlanQuery {
            days: 14,
            ..sequences::PlanQuery::default()
        },
    };
    let emails = |response: Response| match response {
        Response::Plan(plan) => plan
            .entries
            .into_iter()
            .filter(|e| e.action == "email")
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let planned = emails(rig.engine.execute(plan_request.clone()).await.unwrap());
    assert_eq!(planned.len(), 2, "{planned:?}");
    for (entry, k) in planned.iter().zip([1u32, 2]) {
        let by = entry.smartlead.as_ref().expect("marked as Smartlead's");
        assert_eq!((by.campaign_id, by.step), (campaign_id, k));
        assert_eq!(
            by.sent_by,
            format!("sent by Smartlead campaign {campaign_id}, step {k}")
        );
        assert_eq!(entry.subject, campaign_subject(i64::from(k)), "step {k}");
        assert!(
            !entry.subject.as_deref().unwrap_or("").contains("Notes for"),
            "outpost's own step text is not what Smartlead sends"
        );
    }
    // As JSON (`plan --json`), the campaign's subjects and the marker.
    let json = serde_json::to_value(&planned[0]).unwrap();
    assert_eq!(
        json["subject"].as_str().map(String::from),
        campaign_subject(1)
    );
    assert_eq!(json["smartlead"]["step"], 1);

    // An engine without the Smartlead key: no subject, only the marker.
    let offline = Engine::new(store.clone(), rig.clock.clone() as SharedClock);
    let planned = emails(offline.execute(plan_request).await.unwrap());
    assert_eq!(planned.len(), 2);
    assert!(
        planned
            .iter()
            .all(|e| e.subject.is_none() && e.smartlead.is_some())
    );
}
