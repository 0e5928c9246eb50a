//! Sequences end to end against the sandbox, on one fake clock shared by the
//! sandbox and the engine: 200 leads from a CSV through a three-step Gmail
//! sequence (window, weekends, daily cap, random gap), checked against what
//! the sandbox actually received and against `plan`'s forecast; a reply
//! mid-way pauses its lead; a Smartlead-sent sequence adds each lead once.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use outpost::clock::{Clock, FakeClock, SharedClock};
use outpost::config::Config;
use outpost::engine::Engine;
use outpost::model::*;
use outpost::outbox::OutboxWorker;
use outpost::providers::gmail::{GMAIL_MODIFY_SCOPE, TokenSet, TokenStore};
use outpost::providers::registry::{GmailAccount, Providers};
use outpost::sandbox::google::InboundMessage;
use outpost::sandbox::google::QuotaSettings;
use outpost::sandbox::{self, SandboxHandle, SandboxOptions};
use outpost::sequences::{self, PlanEntry, PlanQuery, Scheduler, SchedulerConfig};
use outpost::store::{Index, Store, keys};
use outpost::sync::SyncEngine;
use secrecy::SecretString;
use support::{ClientLimit, write_config};

const ZONES: [&str; 4] = [
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "America/Los_Angeles",
];
const WINDOW: (u32, u32) = (9, 17);
const DAILY_CAP: usize = 45;

/// A sandbox and an engine that share one fake clock.
struct FakeRig {
    sandbox: SandboxHandle,
    _dir: tempfile::TempDir,
    clock: Arc<FakeClock>,
    config: Config,
    engine: Engine,
}

async fn fake_rig(start: DateTime<Utc>, leads: usize) -> FakeRig {
    let clock = Arc::new(FakeClock::new(start));
    let shared: SharedClock = clock.clone();
    let sandbox = sandbox::start(SandboxOptions {
        leads,
        seed: 11,
        rate_limit: sandbox::RateLimit::unlimited(),
        clock: shared.clone(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    sandbox.google().set_quota(QuotaSettings {
        units_per_minute: 10_000_000,
        ..QuotaSettings::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), sandbox.info(), &ClientLimit(100_000, 1));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[daemon]\npublic_url = \"https://track.acme.test\"\n");
    std::fs::write(&path, text).unwrap();
    let config = support::load_config(&path);

    // Tokens expire on the shared clock, so days of fake time force refreshes.
    let issued = sandbox.google().issue_tokens(GMAIL_MODIFY_SCOPE);
    TokenStore::new(config.data_dir(), "gm")
        .unwrap()
        .save(&TokenSet {
            access_token: SecretString::from(issued.access_token),
            refresh_token: issued.refresh_token.map(SecretString::from),
            expires_at: Some(start + Duration::seconds(issued.expires_in)),
            scopes: issued.scope.split(' ').map(str::to_string).collect(),
        })
        .unwrap();
    let mut providers = Providers::from_config(&config, config.data_dir(), shared.clone()).unwrap();
    // The client paces Gmail quota in real time; weeks of fake time pass in
    // seconds here, so the pacing is lifted (the sandbox still counts quota).
    let account =
        std::sync::Arc::into_inner(providers.gmail.remove("gm").expect("the gmail account"))
            .expect("not shared yet");
    let unpaced = GmailAccount {
        client: account
            .client
            .with_quota_units_per_minute(NonZeroU32::new(100_000_000).unwrap()),
        ..account
    };
    providers
        .gmail
        .insert("gm".into(), std::sync::Arc::new(unpaced));
    // In memory: every send flushes the store first, and crash safety on a
    // real disk is what tests/sequences_crash.rs is about.
    let store = Store::temporary().unwrap();
    let engine = Engine::with_providers(store, shared, Arc::new(providers));
    FakeRig {
        sandbox,
        _dir: dir,
        clock,
        config,
        engine,
    }
}

fn gmail_sequence(mailbox: &str) -> String {
    format!(
        r#"
name = "e2e-gmail"
account = "gm"

[settings]
pause_on_reply = true
stop_company_on_reply = false
skip_weekends = true
daily_limit_per_mailbox = {DAILY_CAP}
window = {{ start = "{:02}:00", end = "{:02}:00" }}
timezone = "America/New_York"
random_gap_secs = {{ min = 30, max = 150 }}
track_opens = true
track_clicks = true

[send_via]
provider = "gmail"
mailboxes = ["{mailbox}"]

[[steps]]
type = "email"
name = "intro"
subject = "{{{{ company | default(\"your team\") }}}} and month-end close"
body = """
Hi {{{{ first_name | default("there") }}}},

Is month-end close still a three-day affair at {{{{ company | default("your company") }}}}?

Sam
"""

[[steps]]
type = "wait"
days = 2
business_days = true

[[steps]]
type = "email"
name = "nudge"
body = "{{{{ first_name | default(\"Hi\") }}}}, bumping this in case it got buried."

[[steps]]
type = "wait"
days = 3

[[steps]]
type = "email"
name = "breakup"
body = "I'll stop here, {{{{ first_name | default(\"there\") }}}}. Reply any time."
"#,
        WINDOW.0, WINDOW.1
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

/// Moves the clock from event to event up to `until`, doing at each one what
/// the worker and the scheduler would (the same order `plan` simulates).
/// Stops early when `stop` says so; returns the time reached.
async fn drive(
    rig: &FakeRig,
    scheduler: &Scheduler,
    worker: &OutboxWorker,
    until: DateTime<Utc>,
    mut stop: impl FnMut(&Store, DateTime<Utc>) -> bool,
) -> DateTime<Utc> {
    let store = outpost::testing::store(&rig.engine);
    loop {
        let Some(t) = next_event(store, scheduler) else {
            return rig.clock.now();
        };
        let t = t.max(rig.clock.now());
        if t > until {
            return rig.clock.now();
        }
        rig.clock.set(t);
        let sent = worker.send_due().await.unwrap();
        for item in &sent {
            assert_eq!(item.state, OutboxState::Sent, "{:?}", item.last_error);
        }
        scheduler.tick(t).unwrap();
        let stopped = stop(store, t);
        if stopped {
            return t;
        }
    }
}

fn header<'a>(m: &'a sandbox::google::SentMessage, name: &str) -> Option<&'a str> {
    m.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// (lead, 1-based step, time, mailbox): what a forecast and a run are compared on.
type Send = (String, usize, DateTime<Utc>, String);

fn planned(entries: &[PlanEntry]) -> BTreeSet<Send> {
    entries
        .iter()
        .filter(|e| e.action == "email")
        .map(|e| {
            (
                e.lead_email.clone(),
                e.step,
                e.at,
                e.mailbox.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn sent_items(store: &Store) -> Vec<OutboxItem> {
    store
        .iter::<OutboxItem>()
        .map(|i| i.unwrap())
        .filter(|i| i.state == OutboxState::Sent)
        .collect()
}

fn as_sends(items: &[&OutboxItem]) -> BTreeSet<Send> {
    items
        .iter()
        .map(|i| {
            (
                i.email.to[0].clone(),
                i.step.unwrap() + 1,
                i.not_before,
                i.email.from.clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_leads_send_as_planned_inside_the_rules_and_a_reply_pauses() {
    // Sunday noon UTC: the first window opens on Monday.
    let start: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
    let rig = fake_rig(start, 400).await;
    let store = outpost::testing::store(&rig.engine).clone();
    let mailbox = rig.sandbox.info().gmail_email.clone();
    SyncEngine::new(rig.engine.clone()).sync_all().await;

    sequences::apply_sequence(
        &store,
        "e2e-gmail.toml",
        &gmail_sequence(&mailbox),
        &rig.config.sending,
        start,
    )
    .unwrap();

    // 200 contacts the sandbox knows, across four zones, plus two duplicates
    // (one in other case) and one suppressed address.
    // (Sync already brought the sandbox's own bounces and unsubscribes; those
    // contacts are left out so the count below is exact.)
    let already: BTreeSet<String> = store
        .iter::<Suppression>()
        .map(|s| s.unwrap().email.to_lowercase())
        .collect();
    let contacts = rig.sandbox.gmail_contacts(300);
    let mut unique = BTreeMap::new();
    for c in contacts {
        if !already.contains(&c.email.to_lowercase()) {
            unique.entry(c.email.to_lowercase()).or_insert(c);
        }
    }
    let contacts: Vec<_> = unique.into_values().take(201).collect();
    assert_eq!(contacts.len(), 201, "the sandbox knows enough contacts");
    let suppressed = contacts[200].email.to_lowercase();
    store
        .put(&Suppression {
            account: "gm".into(),
            email: suppressed.clone(),
            reason: SuppressionReason::Unsubscribed,
            at: start,
            note: None,
        })
        .unwrap();
    let mut csv = String::from("email,first_name,last_name,company,timezone\n");
    let mut zone_of = BTreeMap::new();
    for (i, c) in contacts.iter().enumerate() {
        let zone = ZONES[i % ZONES.len()];
        zone_of.insert(c.email.to_lowercase(), zone.parse::<Tz>().unwrap());
        csv.push_str(&format!(
            "{},{},{},\"{}\",{zone}\n",
            c.email, c.first_name, c.last_name, c.company
        ));
    }
    csv.push_str(&format!("{},Dup,,,\n", contacts[3].email.to_uppercase()));
    csv.push_str(&format!("{},Dup,,,\n", contacts[7].email));
    let inputs = sequences::read_leads_csv(csv.as_bytes(), "leads.csv").unwrap();
    // Forced: these contacts replied in the sandbox and sit in its Smartlead
    // campaigns, which the enrollment guard holds back (tests/bounces.rs);
    // here the sends are what is tested. A suppression still refuses.
    let report =
        sequences::enroll_leads(&store, "e2e-gmail", &inputs, start, true, start).expect("enrolls");
    assert_eq!(report.enrolled.len(), 200, "{:?}", report.skipped);
    let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(report.skipped.len(), 3, "{reasons:?}");
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.starts_with("duplicate"))
            .count(),
        2
    );
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.email == suppressed && s.reason.contains("suppressed")),
        "{reasons:?}"
    );

    let sched_config = SchedulerConfig::from_config(&rig.config).unwrap();
    let cap_tz = sched_config.cap_timezone;
    let horizon = start + Duration::days(60);
    let forecast = sequences::plan(
        &store,
        &sched_config,
        &PlanQuery {
            days: 60,
            ..PlanQuery::default()
        },
        start,
    )
    .unwrap();
    let forecast = planned(&forecast.entries);
    assert_eq!(forecast.len(), 600, "three emails for each of 200 leads");

    let scheduler = Scheduler::new(store.clone(), sched_config.clone());
    let worker = OutboxWorker::new(rig.engine.clone());

    // Run until a lead has its in-thread follow-up queued for later.
    let mut victim = None;
    let reply_at = drive(&rig, &scheduler, &worker, horizon, |store, now| {
        victim = store.iter::<OutboxItem>().map(|i| i.unwrap()).find(|i| {
            i.state == OutboxState::Pending
                && i.step == Some(2)
                && i.not_before > now + Duration::hours(1)
        });
        victim.is_some()
    })
    .await;
    let victim = victim.expect("a follow-up gets queued");
    let victim_email = victim.email.to[0].clone();

    // Every send so far is exactly what the first forecast said.
    let before = sent_items(&store);
    let before_sends = as_sends(&before.iter().collect::<Vec<_>>());
    assert!(before_sends.is_subset(&forecast));
    let earlier = |sends: &BTreeSet<Send>| -> BTreeSet<Send> {
        sends.iter().filter(|s| s.2 < reply_at).cloned().collect()
    };
    assert_eq!(earlier(&before_sends), earlier(&forecast));

    // The lead answers in the thread; sync sees it and the lead pauses.
    let thread_id = match &victim.delivery {
        Delivery::GmailSend { thread_id: Some(t) } => t.clone(),
        other => panic!("follow-up without a thread: {other:?}"),
    };
    let contact = contacts
        .iter()
        .find(|c| c.email.eq_ignore_ascii_case(&victim_email))
        .unwrap()
        .clone();
    rig.sandbox
        .google()
        .inject_inbound(InboundMessage {
            from: contact,
            thread_id: Some(thread_id),
            subject: None,
            text: "Interesting, can you send me more details?".into(),
            html: None,
        })
        .unwrap();
    let summary = SyncEngine::new(rig.engine.clone()).sync_all().await;
    assert!(!summary.failed(), "{summary:?}");
    let enr = store
        .get::<Enrollment>(victim.enrollment_id.as_ref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(enr.state, EnrollmentState::Paused, "{:?}", enr.reason);

    // A fresh forecast from here holds nothing for that lead, and the rest of
    // the run is exactly that forecast.
    let second = sequences::plan(
        &store,
        &sched_config,
        &PlanQuery {
            days: 60,
            ..PlanQuery::default()
        },
        reply_at,
    )
    .unwrap();
    let second = planned(&second.entries);
    assert!(second.iter().all(|s| s.0 != victim_email));
    drive(&rig, &scheduler, &worker, horizon, |_, _| false).await;
    let all = sent_items(&store);
    let before_ids: BTreeSet<&str> = before.iter().map(|i| i.id.as_str()).collect();
    let after: Vec<&OutboxItem> = all
        .iter()
        .filter(|i| !before_ids.contains(i.id.as_str()))
        .collect();
    assert_eq!(as_sends(&after), second);
    assert_eq!(all.len(), before.len() + after.len());

    // What the sandbox received: one message per (lead, step), none twice.
    let received = rig.sandbox.google().sent_messages();
    assert_eq!(
        received.len(),
        598,
        "600 planned minus the paused lead's last two"
    );
    let by_message_id: BTreeMap<String, &OutboxItem> =
        all.iter().map(|i| (i.message_id.clone(), i)).collect();
    let mut per_lead: BTreeMap<String, BTreeMap<usize, &sandbox::google::SentMessage>> =
        BTreeMap::new();
    let mut per_day: BTreeMap<chrono::NaiveDate, usize> = BTreeMap::new();
    for m in &received {
        let id = header(m, "Message-ID").expect("a Message-ID");
        let item = by_message_id
            .get(id)
            .unwrap_or_else(|| panic!("{id} is not one of ours"));
        let lead = item.email.to[0].clone();
        assert!(
            header(m, "To").unwrap().to_lowercase().contains(&lead),
            "{:?}",
            header(m, "To")
        );
        let step = item.step.unwrap();
        assert!(
            per_lead
                .entry(lead.clone())
                .or_default()
                .insert(step, m)
                .is_none(),
            "{lead} got step {} twice",
            step + 1
        );
        assert!(
            header(m, "List-Unsubscribe").is_some_and(|v| v.contains("https://track.acme.test/u/"))
        );
        assert_eq!(
            header(m, "List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click")
        );
        let at = DateTime::parse_from_rfc2822(header(m, "Date").unwrap())
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(at, item.not_before.with_timezone(&Utc).trunc_subsecs_utc());
        let local = at.with_timezone(&zone_of[&lead]);
        assert!(
            !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
            "{lead} got mail on a weekend: {local}"
        );
        let time = local.time();
        assert!(
            time >= NaiveTime::from_hms_opt(WINDOW.0, 0, 0).unwrap()
                && time < NaiveTime::from_hms_opt(WINDOW.1, 0, 0).unwrap(),
            "{lead} got mail at {local}, outside the window"
        );
        *per_day
            .entry(at.with_timezone(&cap_tz).date_naive())
            .or_default() += 1;
    }
    assert!(
        per_day.values().all(|&n| n <= DAILY_CAP),
        "daily cap exceeded: {per_day:?}"
    );
    assert!(!per_lead.contains_key(&suppressed));
    assert_eq!(per_lead.len(), 200);
    for (lead, steps) in &per_lead {
        let expected: Vec<usize> = if *lead == victim_email {
            vec![0]
        } else {
            vec![0, 2, 4]
        };
        assert_eq!(
            steps.keys().copied().collect::<Vec<_>>(),
            expected,
            "{lead}"
        );
        // Follow-ups stay in the first email's thread, answering the one before.
        let first = steps[&0];
        let subject = header(first, "Subject").unwrap();
        let mut chain = vec![header(first, "Message-ID").unwrap().to_string()];
        for step in expected.iter().skip(1) {
            let m = steps[step];
            assert_eq!(m.thread_id, first.thread_id, "{lead} step {}", step + 1);
            assert_eq!(
                header(m, "Subject"),
                Some(format!("Re: {subject}").as_str())
            );
            assert_eq!(header(m, "In-Reply-To"), chain.last().map(String::as_str));
            let references: Vec<&str> = header(m, "References")
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            assert_eq!(
                references,
                chain.iter().map(String::as_str).collect::<Vec<_>>()
            );
            chain.push(header(m, "Message-ID").unwrap().to_string());
        }
    }
    let cancelled = store.get::<OutboxItem>(&victim.id).unwrap().unwrap();
    assert_eq!(
        cancelled.state,
        OutboxState::Cancelled,
        "the queued follow-up was withdrawn"
    );
}

trait TruncSubsecs {
    fn trunc_subsecs_utc(self) -> DateTime<Utc>;
}

impl TruncSubsecs for DateTime<Utc> {
    fn trunc_subsecs_utc(self) -> DateTime<Utc> {
        chrono::DurationRound::duration_trunc(self, Duration::seconds(1)).unwrap()
    }
}
