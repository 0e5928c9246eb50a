//! Sync against the sandbox: the cache equals the sandbox's own truth, a
//! second sync writes nothing, new replies arrive incrementally, faults and
//! rate limits converge, and Gmail's token and history edge cases behave.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use outpost::clock::FakeClock;

use outpost::engine::{InboxQuery, LeadQuery, StatsQuery};
use outpost::model::{Campaign, Provider, Thread};
use outpost::sandbox::{Contact, Faults, InjectReply, RateLimit, SandboxOptions};
use outpost::sync::SyncEngine;
use support::{ClientLimit, fast_rig, rig};

fn thread_keys(engine: &outpost::engine::Engine) -> BTreeSet<String> {
    engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .map(|t| t.key)
        .collect()
}

/// Smartlead requests per route made while `during` runs.
async fn requests_during<F: std::future::Future>(
    sandbox: &outpost::sandbox::SandboxHandle,
    during: F,
) -> (F::Output, BTreeMap<String, u64>) {
    let before = sandbox.counters().requests_by_route;
    let output = during.await;
    let mut made = sandbox.counters().requests_by_route;
    for (route, count) in made.iter_mut() {
        *count -= before.get(route).copied().unwrap_or(0);
    }
    made.retain(|_, count| *count > 0);
    (output, made)
}

/// Asserts a poll with nothing new asked one question per campaign (its
/// leads with events since the cursor) plus the account-wide lists, and
/// wrote nothing.
fn assert_quiet_poll(
    summary: &outpost::sync::SyncSummary,
    made: &BTreeMap<String, u64>,
    campaigns: u64,
) {
    assert!(!summary.failed(), "{summary:?}");
    let per_campaign: u64 = made
        .iter()
        .filter(|(route, _)| route.contains("/campaigns/{id}"))
        .map(|(_, count)| count)
        .sum();
    assert_eq!(
        made.get("GET /api/v1/campaigns/{id}/leads"),
        Some(&campaigns),
        "{made:?}"
    );
    assert_eq!(per_campaign, campaigns, "{made:?}");
    // The fixed calls: categories, the campaign list, the mailboxes.
    let fixed: Vec<&String> = made
        .keys()
        .filter(|route| !route.contains("/campaigns/{id}"))
        .collect();
    assert!(fixed.len() <= 3, "{made:?}");
    let smartlead = summary
        .accounts
        .iter()
        .find(|a| a.provider == "smartlead")
        .expect("smartlead account");
    assert!(smartlead.requests <= campaigns + 3, "{smartlead:?}");
    assert!(
        summary.accounts.iter().all(|a| a.writes == 0),
        "{summary:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_matches_the_sandbox_and_a_second_sync_writes_nothing() {
    // One clock for the sandbox and outpost, so polls can happen later.
    let clock = FakeClock::new(chrono::Utc::now());
    let rig = rig(
        SandboxOptions {
            leads: 1000,
            seed: 7,
            rate_limit: RateLimit::unlimited(),
            clock: Arc::new(clock.clone()),
            ..SandboxOptions::default()
        },
        ClientLimit(100_000, 1),
    )
    .await;
    let sync = SyncEngine::new(rig.engine.clone());
    let summary = sync.sync_all().await;
    assert!(!summary.failed(), "{summary:?}");

    let truth = rig.sandbox.ground_truth();
    let store = outpost::testing::store(&rig.engine);
    // Per campaign: lead counts through the index, and analytics totals.
    for campaign in &truth {
        let key = Campaign::key_for("sl", campaign.campaign_id);
        let cached: Campaign = store.get(&key).unwrap().expect("campaign cached");
        assert_eq!(cached.counts.sent, campaign.totals.sent_count);
        assert_eq!(cached.counts.unique_sent, campaign.totals.unique_sent_count);
        assert_eq!(cached.counts.opened, campaign.totals.open_count);
        assert_eq!(
            cached.counts.unique_opened,
            campaign.totals.unique_open_count
        );
        assert_eq!(cached.counts.clicked, campaign.totals.click_count);
        assert_eq!(cached.counts.replied, campaign.totals.reply_count);
        assert_eq!(cached.counts.bounced, campaign.totals.bounce_count);
        assert_eq!(
            cached.counts.unsubscribed,
            campaign.totals.unsubscribed_count
        );
        let members = rig
            .engine
            .leads(&LeadQuery {
                account: Some("sl".into()),
                campaign_id: Some(campaign.campaign_id),
                ..LeadQuery::default()
            })
            .unwrap();
        assert_eq!(
            members.len() as u64,
            campaign.lead_count,
            "{}",
            campaign.name
        );
        let threads = store
            .iter::<Thread>()
            .map(|t| t.unwrap())
            .filter(|t| {
                t.provider == Provider::Smartlead && t.campaign_id == Some(campaign.campaign_id)
            })
            .count();
        assert_eq!(
            threads as u64, campaign.replied_leads,
            "reply threads of {}",
            campaign.name
        );
    }
    let all_leads = rig.engine.leads(&LeadQuery::default()).unwrap();
    assert!(
        all_leads.len() <= 1000 && all_leads.len() >= 900,
        "{}",
        all_leads.len()
    );
    let report = rig.engine.stats(&StatsQuery::default()).unwrap();
    let sent: u64 = truth.iter().map(|c| c.totals.sent_count).sum();
    assert_eq!(report.totals.sent, sent);
    assert!(store.verify_indexes().unwrap().is_empty());

    // Nothing new → nothing written.
    let before = store.write_count();
    let mut feed = store.subscribe();
    let again = sync.sync_all().await;
    let mut changed = Vec::new();
    while let Ok(change) = feed.try_recv() {
        if let outpost::store::Change::Record { key, .. } = change {
            changed.push(key);
        }
    }
    assert!(
        changed.is_empty(),
        "records rewritten by a sync with nothing new: {changed:?}"
    );
    assert!(!again.failed(), "{again:?}");
    assert_eq!(store.write_count(), before, "{again:?}");
    assert!(again.accounts.iter().all(|a| a.writes == 0));

    // An hour on, the first incremental poll re-reads what happened in the
    // overlap before the first sync and moves the cursors; after that a
    // poll with nothing new is one request per campaign and writes nothing.
    let campaigns = truth.len() as u64;
    clock.advance(chrono::Duration::hours(1));
    let mut feed = store.subscribe();
    let (settled, made) = requests_during(&rig.sandbox, sync.sync_all()).await;
    assert!(!settled.failed(), "{settled:?}");
    // What it re-read was stored already: only the cursors of the
    // campaigns it read move.
    let mut rewritten = Vec::new();
    while let Ok(change) = feed.try_recv() {
        if let outpost::store::Change::Record { key, .. } = change {
            rewritten.push(key);
        }
    }
    let reread = made
        .get("GET /api/v1/campaigns/{id}/analytics")
        .copied()
        .unwrap_or(0);
    assert_eq!(rewritten.len() as u64, reread, "{rewritten:?}");
    let (quiet, made) = requests_during(&rig.sandbox, sync.sync_all()).await;
    assert_quiet_poll(&quiet, &made, campaigns);

    // A restart keeps the cursors: still no full read.
    let support::Rig {
        sandbox,
        dir: _dir,
        config_path,
        engine,
    } = rig;
    drop(sync);
    drop(engine);
    let engine = support::engine_with_clock(&config_path, Arc::new(clock.clone()));
    let sync = SyncEngine::new(engine.clone());
    let (restarted, made) = requests_during(&sandbox, sync.sync_all()).await;
    assert_quiet_poll(&restarted, &made, campaigns);

    // A reply injected into the sandbox shows up after the next sync.
    let thread_before = thread_keys(&engine);
    let target = all_leads
        .iter()
        .find(|l| {
            l.memberships.len() == 1
                && !thread_before
                    .iter()
                    .any(|k| k.ends_with(&format!(":{}", l.smartlead_lead_id.unwrap())))
        })
        .expect("a lead without a reply yet");
    let campaign_id = target.memberships[0].campaign_id;
    sandbox
        .inject_reply(&InjectReply {
            campaign_id,
            lead_email: target.email.clone(),
            body: "<p>Can we talk Thursday?</p>".into(),
            category: Some("Interested".into()),
        })
        .unwrap();
    let (third, made) = requests_during(&sandbox, sync.sync_all()).await;
    assert!(!third.failed(), "{third:?}");
    // Only the campaign with the reply is read again, and the statistics
    // of no other.
    assert_eq!(
        made.get("GET /api/v1/campaigns/{id}/analytics"),
        Some(&1),
        "{made:?}"
    );
    let key = Thread::key_for(
        "sl",
        &format!("{campaign_id}:{}", target.smartlead_lead_id.unwrap()),
    );
    let view = engine.thread(&key).unwrap().expect("new reply thread");
    assert!(view.thread.unread && view.thread.has_reply);
    assert!(
        view.messages
            .iter()
            .any(|m| m.text_body.contains("Can we talk Thursday?"))
    );
    let lead = engine.lead(&target.email).unwrap().unwrap();
    assert_eq!(
        lead.records[0]
            .last_event
            .map(outpost::model::EventType::base),
        Some(outpost::model::EventType::EmailReplied)
    );
    assert_eq!(
        lead.records[0].category.as_ref().map(|c| c.name.as_str()),
        Some("Interested")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_a_tight_rate_limit_converge_without_exceeding_the_limit() {
    let clean = fast_rig(200, 11).await;
    assert!(
        !SyncEngine::new(clean.engine.clone())
            .sync_all()
            .await
            .failed()
    );

    let faulty = rig(
        SandboxOptions {
            leads: 200,
            seed: 11,
            rate_limit: RateLimit {
                max_requests: 20,
                window: std::time::Duration::from_secs(1),
            },
            faults: Faults {
                error_rate: 0.2,
                latency_ms: 5,
            },
            ..SandboxOptions::default()
        },
        ClientLimit(20, 1),
    )
    .await;
    let sync = SyncEngine::new(faulty.engine.clone());
    // Each pass resumes what the last one could not finish.
    let mut converged = false;
    for _ in 0..4 {
        if !sync.sync_all().await.failed() {
            converged = true;
            break;
        }
    }
    assert!(converged, "sync never succeeded under faults");
    let api_key = faulty.sandbox.info().smartlead_api_key.clone();
    assert_eq!(
        faulty.sandbox.throttled_count(&api_key),
        0,
        "the client exceeded the limit"
    );
    assert!(faulty.sandbox.counters().faults_injected > 0);

    let key_set = |rig: &support::Rig| -> (BTreeSet<String>, BTreeSet<String>, Vec<(i64, u64)>) {
        let leads = rig.engine.leads(&LeadQuery::default()).unwrap();
        let campaigns = rig
            .engine
            .stats(&StatsQuery::default())
            .unwrap()
            .campaigns
            .into_iter()
            .map(|c| (c.campaign_id, c.counts.sent))
            .collect();
        (
            leads
                .into_iter()
                .map(|l| format!("{}|{:?}", l.email, l.last_event))
                .collect(),
            // Gmail ids are minted from the sandbox's start time; compare Smartlead's.
            thread_keys(&rig.engine)
                .into_iter()
                .filter(|k| k.starts_with("sl/"))
                .collect(),
            campaigns,
        )
    };
    let (clean_leads, clean_threads, clean_campaigns) = key_set(&clean);
    let (faulty_leads, faulty_threads, faulty_campaigns) = key_set(&faulty);
    let only_clean: Vec<_> = clean_leads.difference(&faulty_leads).collect();
    let only_faulty: Vec<_> = faulty_leads.difference(&clean_leads).collect();
    assert!(
        only_clean.is_empty() && only_faulty.is_empty(),
        "clean {only_clean:?} vs faulty {only_faulty:?}"
    );
    assert_eq!(clean_threads, faulty_threads);
    assert_eq!(clean_campaigns, faulty_campaigns);
    assert!(
        outpost::testing::store(&faulty.engine)
            .verify_indexes()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_refreshes_expired_tokens_and_resyncs_a_stale_history() {
    let rig = fast_rig(100, 3).await;
    let sync = SyncEngine::new(rig.engine.clone());
    let first = sync.sync_account("gm").await;
    assert!(first.error.is_none(), "{first:?}");
    assert!(first.messages > 0);

    // An expired access token is refreshed without the rep noticing.
    rig.sandbox.google().expire_all_access_tokens();
    let google = rig.sandbox.google().clone();
    let thread_id = google.thread_ids()[0].clone();
    let contact = Contact {
        email: "someone.new@prospect.example".into(),
        first_name: "Someone".into(),
        last_name: "New".into(),
        company: "Prospect".into(),
    };
    google
        .inject_inbound(outpost::sandbox::google::InboundMessage {
            from: contact.clone(),
            thread_id: Some(thread_id.clone()),
            subject: None,
            text: "Following up on this".into(),
            html: None,
        })
        .unwrap();
    let second = sync.sync_account("gm").await;
    assert!(second.error.is_none(), "{second:?}");
    assert!(!second.full_resync);
    assert_eq!(second.messages, 1, "only the new message is fetched");

    // A stale history cursor triggers a full resync that still sees new mail:
    // mail arrives, the retained history is dropped, more mail arrives.
    google
        .inject_inbound(outpost::sandbox::google::InboundMessage {
            from: contact.clone(),
            thread_id: Some(thread_id),
            subject: None,
            text: "One more thing".into(),
            html: None,
        })
        .unwrap();
    google.forget_history_before_now();
    let injected = google
        .inject_inbound(outpost::sandbox::google::InboundMessage {
            from: contact,
            thread_id: None,
            subject: Some("A new question".into()),
            text: "Do you integrate with our CRM?".into(),
            html: None,
        })
        .unwrap();
    let third = sync.sync_account("gm").await;
    assert!(third.error.is_none(), "{third:?}");
    assert!(third.full_resync);
    let key = Thread::key_for("gm", &injected.thread_id);
    assert!(rig.engine.thread(&key).unwrap().is_some());

    // A revoked refresh token: a clear message naming the command, no retry loop.
    google.revoke_all_refresh_tokens();
    google.expire_all_access_tokens();
    let fourth = sync.sync_account("gm").await;
    assert!(fourth.needs_login);
    let error = fourth.error.unwrap();
    assert!(error.contains("outpost auth gmail --account gm"), "{error}");
    let progress = sync.progress();
    let gm = progress.iter().find(|p| p.account == "gm").unwrap();
    assert!(gm.needs_login && gm.last_error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_conversation_refreshes_it_from_the_provider() {
    let rig = fast_rig(300, 9).await;
    let sync = SyncEngine::new(rig.engine.clone());
    assert!(!sync.sync_all().await.failed());
    let view = rig
        .engine
        .inbox(&InboxQuery {
            account: Some("sl".into()),
            ..InboxQuery::default()
        })
        .unwrap()
        .into_iter()
        .next()
        .expect("a Smartlead reply thread");
    let thread = view.thread;
    let before = rig
        .engine
        .thread(&view.key)
        .unwrap()
        .unwrap()
        .messages
        .len();
    rig.sandbox
        .inject_reply(&InjectReply {
            campaign_id: thread.campaign_id.unwrap(),
            lead_email: thread.lead_email.clone().unwrap(),
            body: "<p>One more question about onboarding.</p>".into(),
            category: None,
        })
        .unwrap();
    assert!(sync.refresh_thread(&view.key).await.unwrap());
    let after = rig.engine.thread(&view.key).unwrap().unwrap();
    assert_eq!(after.messages.len(), before + 1);
    assert!(after.thread.unread);
    assert!(
        after
            .messages
            .iter()
            .any(|m| m.text_body.contains("onboarding"))
    );
    // Refreshing again changes nothing.
    assert!(!sync.refresh_thread(&view.key).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agency_account_syncs_only_its_clients_campaigns() {
    let rig = fast_rig(600, 4).await;
    let client = &outpost::testing::providers(&rig.engine).smartlead["sl"].client;
    let agency_client = client.clients().await.unwrap()[0].id;
    let expected: BTreeSet<i64> = client
        .list_campaigns(Some(agency_client))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.0)
        .collect();
    let all = client.list_campaigns(None).await.unwrap().len();
    assert!(!expected.is_empty() && expected.len() < all);

    // A second account entry narrowed to that client, in its own data dir.
    let dir = tempfile::tempdir().unwrap();
    let info = rig.sandbox.info();
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {}\n[accounts.customer]\nprovider = \"smartlead\"\napi_key = {}\nbase_url = {}\nclient_id = {agency_client}\nrate_limit = {{ max = 1000, per_secs = 1 }}\n",
            q(&dir.path().join("data").to_string_lossy()),
            q(&info.smartlead_api_key),
            q(&info.smartlead_base_url),
        ),
    )
    .unwrap();
    let engine = support::engine_for(&path);
    let summary = SyncEngine::new(engine.clone()).sync_all().await;
    assert!(!summary.failed(), "{summary:?}");
    let synced: BTreeSet<i64> = outpost::testing::store(&engine)
        .iter::<Campaign>()
        .map(|c| c.unwrap())
        .inspect(|c| assert_eq!(c.client_id, Some(agency_client)))
        .map(|c| c.id)
        .collect();
    assert_eq!(synced, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_leaves_leads_as_a_full_read_of_the_same_data_would() {
    let clock = FakeClock::new(chrono::Utc::now());
    let rig = rig(
        SandboxOptions {
            leads: 600,
            seed: 4,
            rate_limit: RateLimit::unlimited(),
            clock: Arc::new(clock.clone()),
            ..SandboxOptions::default()
        },
        ClientLimit(100_000, 1),
    )
    .await;
    let sync = SyncEngine::new(rig.engine.clone());
    assert!(!sync.sync_all().await.failed());

    // Replies (with a category) from leads of several campaigns, in each
    // campaign but their last: the poll reads only that campaign.
    let truth = rig.sandbox.ground_truth();
    let order: Vec<i64> = truth.iter().map(|c| c.campaign_id).collect();
    let mut replied = 0;
    for lead in rig.engine.leads(&LeadQuery::default()).unwrap() {
        let mut campaigns: Vec<i64> = lead.memberships.iter().map(|m| m.campaign_id).collect();
        campaigns.sort_by_key(|id| order.iter().position(|o| o == id));
        for campaign_id in campaigns.iter().take(campaigns.len().saturating_sub(1)) {
            let injected = rig.sandbox.inject_reply(&InjectReply {
                campaign_id: *campaign_id,
                lead_email: lead.email.clone(),
                body: "<p>Send more.</p>".into(),
                category: Some("Information Request".into()),
            });
            replied += usize::from(injected.is_ok());
        }
        if replied >= 5 {
            break;
        }
    }
    assert!(
        replied > 0,
        "no lead in several campaigns with a send to answer"
    );
    clock.advance(chrono::Duration::minutes(1));
    let (polled, made) = requests_during(&rig.sandbox, sync.sync_all()).await;
    assert!(!polled.failed(), "{polled:?}");
    assert!(
        made.get("GET /api/v1/campaigns/{id}/analytics").copied() < Some(order.len() as u64),
        "a poll, not a full read: {made:?}"
    );

    // A full read of the same data into a fresh cache.
    let fresh_dir = tempfile::tempdir().unwrap();
    let config = support::write_config(
        fresh_dir.path(),
        rig.sandbox.info(),
        &ClientLimit(100_000, 1),
    );
    let fresh = support::engine_with_clock(&config, Arc::new(clock.clone()));
    let full = SyncEngine::new(fresh.clone()).sync_all().await;
    assert!(
        full.accounts
            .iter()
            .any(|a| a.provider == "smartlead" && a.error.is_none())
    );

    let view = |lead: &outpost::model::Lead| {
        (
            lead.email.clone(),
            lead.status.clone(),
            lead.category.clone(),
            lead.created_at,
            lead.memberships.clone(),
            lead.unsubscribed,
        )
    };
    let leads_of = |engine: &outpost::engine::Engine| -> Vec<_> {
        outpost::testing::store(engine)
            .iter::<outpost::model::Lead>()
            .map(|l| l.unwrap())
            .filter(|l| l.account == "sl")
            .map(|l| view(&l))
            .collect()
    };
    assert_eq!(leads_of(&rig.engine), leads_of(&fresh));
}
