//! The real Smartlead client against the real sandbox: every client method,
//! the client's rate limiter against the sandbox's limit, and retries under
//! injected faults. Both sides were written from the same reference, so any
//! disagreement here is a bug on one of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use outpost::clock::FakeClock;
use outpost::providers::http::RateLimit as ClientRateLimit;
use outpost::providers::smartlead::{
    CampaignId, CampaignLead, Client, EmailAccountId, EmailStatusFilter, HistoryKind, LeadId,
    LeadStatus, LeadUploadSettings, NewLead, ReplyRequest, SmartleadConfig, SmartleadError,
    StatisticsQuery, WebhookUpsert,
};
use outpost::sandbox::{
    self, CampaignTruth, Faults, InjectReply, RateLimit, SandboxHandle, SandboxOptions,
};
use secrecy::SecretString;
use url::Url;

async fn start(leads: usize, api_key: &str) -> SandboxHandle {
    let clock = FakeClock::new(Utc.with_ymd_and_hms(2025, 6, 10, 12, 0, 0).unwrap());
    sandbox::start(SandboxOptions {
        leads,
        seed: 11,
        clock: Arc::new(clock),
        smartlead_api_key: Some(api_key.to_string()),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

fn config(sandbox: &SandboxHandle) -> SmartleadConfig {
    let info = sandbox.info();
    let mut config = SmartleadConfig::new(
        Url::parse(&info.smartlead_base_url).expect("base url"),
        SecretString::from(info.smartlead_api_key.clone()),
    );
    config.retry_base_delay = Duration::from_millis(5);
    config
}

/// A client that does not pace itself, against a sandbox without a limit, so
/// the functional tests run at full speed.
fn unthrottled_client(sandbox: &SandboxHandle) -> Client {
    sandbox.set_rate_limit(RateLimit::unlimited());
    let mut config = config(sandbox);
    config.rate_limit = ClientRateLimit {
        max: 10_000,
        per: Duration::from_secs(1),
    };
    Client::new(config).expect("client")
}

fn truth_of(sandbox: &SandboxHandle, id: CampaignId) -> CampaignTruth {
    sandbox
        .ground_truth()
        .into_iter()
        .find(|truth| truth.campaign_id == id.0)
        .expect("campaign in ground truth")
}

/// Every campaign's leads, keyed by campaign id.
async fn read_all_leads(client: &Client) -> BTreeMap<i64, Vec<CampaignLead>> {
    let mut all = BTreeMap::new();
    for campaign in client.list_campaigns(None).await.expect("campaigns") {
        let leads = client
            .all_campaign_leads(campaign.id)
            .await
            .expect("all leads");
        all.insert(campaign.id.0, leads);
    }
    all
}

/// Makes a lead of `campaign` reply, returning its email and lead id.
fn inject_a_reply(
    sandbox: &SandboxHandle,
    campaign: CampaignId,
    leads: &[CampaignLead],
) -> (String, LeadId) {
    for lead in leads {
        let request = InjectReply {
            campaign_id: campaign.0,
            lead_email: lead.lead.email.clone(),
            body: "<div>Sounds interesting, send times.</div>".to_string(),
            category: None,
        };
        if let Ok(injected) = sandbox.inject_reply(&request) {
            assert_eq!(injected.lead_id, lead.lead.id.0);
            return (lead.lead.email.clone(), lead.lead.id);
        }
    }
    panic!("no lead of campaign {campaign} has been emailed yet");
}

#[tokio::test]
async fn campaigns_analytics_and_sequences_match_the_ground_truth() {
    let sandbox = start(250, "sl-key-campaigns").await;
    let client = unthrottled_client(&sandbox);

    let campaigns = client.list_campaigns(None).await.expect("campaigns");
    let truth = sandbox.ground_truth();
    assert_eq!(campaigns.len(), truth.len());
    for campaign in &campaigns {
        let expected = truth_of(&sandbox, campaign.id);
        assert_eq!(campaign.name, expected.name);
        assert_eq!(campaign.status.as_str(), expected.status);
        let single = client.get_campaign(campaign.id).await.expect("campaign");
        assert_eq!(&single, campaign);
    }

    // The client filter keeps exactly that client's campaigns.
    let clients = client.clients().await.expect("clients");
    assert!(!clients.is_empty());
    for agency_client in &clients {
        let filtered = client
            .list_campaigns(Some(agency_client.id))
            .await
            .expect("filtered campaigns");
        let expected: Vec<_> = campaigns
            .iter()
            .filter(|c| c.client_id == Some(agency_client.id))
            .map(|c| c.id)
            .collect();
        assert_eq!(filtered.iter().map(|c| c.id).collect::<Vec<_>>(), expected);
    }

    for campaign in &campaigns {
        let expected = truth_of(&sandbox, campaign.id);
        let totals = &expected.totals;
        let analytics = client
            .campaign_analytics(campaign.id)
            .await
            .expect("analytics");
        assert_eq!(analytics.id, campaign.id);
        assert_eq!(analytics.name, campaign.name);
        assert_eq!(
            (
                analytics.sent_count,
                analytics.unique_sent_count,
                analytics.open_count,
                analytics.unique_open_count,
                analytics.click_count,
                analytics.unique_click_count,
                analytics.reply_count,
                analytics.bounce_count,
                analytics.unsubscribed_count,
                analytics.block_count,
            ),
            (
                totals.sent_count,
                totals.unique_sent_count,
                totals.open_count,
                totals.unique_open_count,
                totals.click_count,
                totals.unique_click_count,
                totals.reply_count,
                totals.bounce_count,
                totals.unsubscribed_count,
                totals.block_count,
            ),
            "analytics of campaign {}",
            campaign.id
        );
        let lead_stats = analytics.campaign_lead_stats.expect("campaign_lead_stats");
        assert_eq!(lead_stats.total, expected.lead_count);

        // A range covering the whole life of the data gives the lifetime totals.
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        let end = NaiveDate::from_ymd_opt(2030, 12, 31).expect("date");
        let by_date = client
            .campaign_analytics_by_date(campaign.id, start, end)
            .await
            .expect("analytics by date");
        assert_eq!(by_date.sent_count, totals.sent_count);
        assert_eq!(by_date.reply_count, totals.reply_count);
        assert_eq!(by_date.start_date.as_deref(), Some("2020-01-01"));
        assert_eq!(by_date.end_date.as_deref(), Some("2030-12-31"));

        // One statistics row per sent email, paged.
        let mut rows = Vec::new();
        loop {
            let page = client
                .campaign_statistics(
                    campaign.id,
                    &StatisticsQuery {
                        offset: rows.len() as u64,
                        limit: 100,
                        ..StatisticsQuery::default()
                    },
                )
                .await
                .expect("statistics");
            assert_eq!(page.total_stats, totals.sent_count);
            let received = page.data.len();
            rows.extend(page.data);
            if received < 100 {
                break;
            }
        }
        assert_eq!(rows.len() as u64, totals.sent_count);
        assert!(rows.iter().all(|row| !row.stats_id.is_empty()));
        let replied = client
            .campaign_statistics(
                campaign.id,
                &StatisticsQuery {
                    limit: 1000,
                    email_status: Some(EmailStatusFilter::Replied),
                    ..StatisticsQuery::default()
                },
            )
            .await
            .expect("replied statistics");
        assert!(replied.data.iter().all(|row| row.reply_time.is_some()));

        let steps = client
            .campaign_sequences(campaign.id)
            .await
            .expect("sequences");
        assert!(!steps.is_empty());
        assert_eq!(analytics.sequence_count, steps.len() as u64);
        let numbers: Vec<i64> = steps.iter().map(|s| s.seq_number).collect();
        assert_eq!(numbers, (1..=steps.len() as i64).collect::<Vec<_>>());

        let wide_start = start.and_hms_opt(0, 0, 0).expect("time");
        let wide_end = end.and_hms_opt(23, 59, 59).expect("time");
        let per_step = client
            .sequence_analytics(campaign.id, wide_start, wide_end, Some("America/New_York"))
            .await
            .expect("sequence analytics");
        assert_eq!(per_step.len(), steps.len());
        for row in &per_step {
            assert!(steps.iter().any(|s| s.id == row.email_campaign_seq_id));
        }
        let sent: u64 = per_step.iter().map(|row| row.sent_count).sum();
        assert_eq!(sent, totals.sent_count);
    }
}

#[tokio::test]
async fn all_leads_page_by_100_and_lookups_agree() {
    let sandbox = start(250, "sl-key-leads").await;
    let client = unthrottled_client(&sandbox);

    let all = read_all_leads(&client).await;
    let mut paged_past_100 = false;
    for truth in sandbox.ground_truth() {
        let leads = &all[&truth.campaign_id];
        assert_eq!(leads.len() as u64, truth.lead_count, "{}", truth.name);
        paged_past_100 |= leads.len() > 100;
        let mut map_ids: Vec<i64> = leads.iter().map(|l| l.campaign_lead_map_id.0).collect();
        map_ids.sort_unstable();
        map_ids.dedup();
        assert_eq!(map_ids.len(), leads.len(), "a lead appeared twice");
    }
    assert!(paged_past_100, "no campaign needed a second page");
    let page = client
        .campaign_leads_page(CampaignId(*all.keys().next().expect("a campaign")), 0, 100)
        .await
        .expect("page");
    assert!(page.data.len() <= 100);

    // Lead by email, known and unknown.
    let (&campaign_id, leads) = all.iter().next().expect("a campaign");
    let some = &leads[0];
    let found = client
        .lead_by_email(&some.lead.email)
        .await
        .expect("lookup")
        .expect("known lead");
    assert_eq!(found.lead.id, some.lead.id);
    assert!(
        found
            .lead_campaign_data
            .iter()
            .any(|d| d.campaign_id.0 == campaign_id
                && d.campaign_lead_map_id == some.campaign_lead_map_id)
    );
    let in_campaigns = client
        .lead_campaigns(some.lead.id)
        .await
        .expect("lead campaigns");
    assert!(in_campaigns.iter().any(|c| c.id.0 == campaign_id));
    assert!(
        client
            .lead_by_email("nobody-at-all@unknown.example")
            .await
            .expect("unknown lookup")
            .is_none()
    );
}

#[tokio::test]
async fn history_reply_categories_and_lead_actions() {
    let sandbox = start(250, "sl-key-history").await;
    let client = unthrottled_client(&sandbox);
    let campaign = client.list_campaigns(None).await.expect("campaigns")[0].id;
    let leads = client.all_campaign_leads(campaign).await.expect("leads");
    let (email, lead_id) = inject_a_reply(&sandbox, campaign, &leads);

    let history = client
        .message_history(campaign, lead_id)
        .await
        .expect("history");
    assert_eq!(history.to.as_deref(), Some(email.as_str()));
    assert!(history.history.iter().any(|i| i.kind == HistoryKind::Sent));
    let answered = history
        .history
        .iter()
        .rev()
        .find(|item| item.kind == HistoryKind::Reply)
        .expect("the injected reply is in the history");
    assert_eq!(
        answered.email_body,
        "<div>Sounds interesting, send times.</div>"
    );

    let reply = ReplyRequest::answering(answered, "<p>Does Tuesday 10:00 ET work?</p>")
        .expect("reply request");
    client
        .reply_email_thread(campaign, &reply)
        .await
        .expect("reply accepted");
    let posts = sandbox.reply_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].campaign_id, campaign.0);
    let body = &posts[0].body;
    assert_eq!(
        body["email_stats_id"],
        answered.stats_id.clone().expect("stats id").as_str()
    );
    assert_eq!(body["email_body"], "<p>Does Tuesday 10:00 ET work?</p>");
    assert_eq!(
        body["reply_message_id"],
        answered.message_id.clone().expect("message id").as_str()
    );
    assert_eq!(body["reply_email_body"], answered.email_body.as_str());
    let time = body["reply_email_time"].as_str().expect("reply_email_time");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(time).expect("ISO time"),
        answered.time.expect("time")
    );
    // Our reply shows up in the thread as a manual SENT item.
    let after = client
        .message_history(campaign, lead_id)
        .await
        .expect("history after reply");
    assert_eq!(after.history.len(), history.history.len() + 1);

    // Categories, and setting one on the lead.
    let categories = client.categories().await.expect("categories");
    let interested = categories
        .iter()
        .find(|c| c.name == "Interested")
        .expect("Interested");
    assert_eq!(interested.id, 1);
    assert_eq!(interested.sentiment_type.as_deref(), Some("positive"));
    let meeting = categories
        .iter()
        .find(|c| c.name == "Meeting Request")
        .expect("Meeting Request");
    client
        .set_lead_category(campaign, lead_id, Some(meeting.id), false)
        .await
        .expect("set category");
    let category_of = |found: outpost::providers::smartlead::LeadWithCampaigns| {
        found
            .lead_campaign_data
            .into_iter()
            .find(|d| d.campaign_id == campaign)
            .and_then(|d| d.lead_category_id)
    };
    let found = client
        .lead_by_email(&email)
        .await
        .expect("lookup")
        .expect("lead");
    assert_eq!(category_of(found), Some(meeting.id));
    client
        .set_lead_category(campaign, lead_id, None, false)
        .await
        .expect("clear category");
    let found = client
        .lead_by_email(&email)
        .await
        .expect("lookup")
        .expect("lead");
    assert_eq!(category_of(found), None);

    // Pause, resume and unsubscribe, seen through the leads list.
    let status_of = |leads: &[CampaignLead]| {
        leads
            .iter()
            .find(|l| l.lead.id == lead_id)
            .map(|l| l.status.clone())
            .expect("lead still listed")
    };
    client.pause_lead(campaign, lead_id).await.expect("pause");
    let leads = client.all_campaign_leads(campaign).await.expect("leads");
    assert_eq!(status_of(&leads), LeadStatus::Paused);
    let resumed = match client.resume_lead(campaign, lead_id, Some(2)).await {
        Ok(()) => true,
        // Resuming a lead at its last step is a documented business-rule 500.
        Err(SmartleadError::Server(500, text)) if text.contains("last sequence") => false,
        Err(other) => panic!("resume failed: {other:?}"),
    };
    if resumed {
        let leads = client.all_campaign_leads(campaign).await.expect("leads");
        assert_ne!(status_of(&leads), LeadStatus::Paused);
    }
    client
        .unsubscribe_lead_from_campaign(campaign, lead_id)
        .await
        .expect("unsubscribe from campaign");
    assert!(
        client
            .unsubscribe_lead_globally(lead_id)
            .await
            .expect("global unsubscribe")
    );
    let found = client
        .lead_by_email(&email)
        .await
        .expect("lookup")
        .expect("lead");
    assert!(found.lead.is_unsubscribed);
    assert!(
        !client
            .unsubscribe_lead_globally(lead_id)
            .await
            .expect("second global unsubscribe"),
        "a second global unsubscribe changes nothing"
    );
}

#[tokio::test]
async fn adding_leads_reports_the_documented_summary() {
    let sandbox = start(250, "sl-key-add").await;
    let client = unthrottled_client(&sandbox);
    let campaign = client.list_campaigns(None).await.expect("campaigns")[0].id;
    let existing = client
        .campaign_leads_page(campaign, 0, 1)
        .await
        .expect("page")
        .data[0]
        .lead
        .email
        .clone();
    let mut fresh = NewLead::with_email("new.one@fresh-leads.example");
    fresh.first_name = Some("Nova".into());
    fresh.custom_fields.insert("role".into(), "CFO".into());
    let leads = vec![
        fresh,
        NewLead::with_email("new.two@fresh-leads.example"),
        NewLead::with_email(existing),
        NewLead::with_email("new.two@fresh-leads.example"),
        NewLead::with_email("not-an-email"),
    ];
    let summary = client
        .add_leads(campaign, &leads, LeadUploadSettings::default())
        .await
        .expect("upload");
    assert_eq!(summary.added_count, 2);
    assert_eq!(summary.already_added_to_campaign, 1);
    assert_eq!(summary.duplicate_count, 1);
    assert_eq!(summary.invalid_email_count, 1);
    assert_eq!(summary.invalid_emails, vec!["not-an-email".to_string()]);
    assert_eq!(summary.upload_count, 5);
    let added: Vec<String> = sandbox.added_leads().into_iter().map(|a| a.email).collect();
    assert_eq!(
        added,
        ["new.one@fresh-leads.example", "new.two@fresh-leads.example"]
    );
    let found = client
        .lead_by_email("new.one@fresh-leads.example")
        .await
        .expect("lookup")
        .expect("added lead");
    assert_eq!(found.lead.first_name.as_deref(), Some("Nova"));
    assert_eq!(
        found.lead.custom_fields.get("role").map(String::as_str),
        Some("CFO")
    );
    let expected = truth_of(&sandbox, campaign).lead_count;
    let leads = client.all_campaign_leads(campaign).await.expect("leads");
    assert_eq!(leads.len() as u64, expected);
}

#[tokio::test]
async fn accounts_webhooks_and_clients() {
    let sandbox = start(250, "sl-key-accounts").await;
    let client = unthrottled_client(&sandbox);

    let accounts = client.all_email_accounts().await.expect("accounts");
    assert!(!accounts.is_empty());
    let first_page = client.email_accounts(0, 1).await.expect("one account");
    assert_eq!(first_page.len(), 1);
    assert_eq!(first_page[0].id, accounts[0].id);
    for account in &accounts {
        let single = client.email_account(account.id).await.expect("account");
        assert_eq!(single.id, account.id);
        assert_eq!(single.from_email, account.from_email);
        assert!(account.from_email.contains('@'));
        let warmup = client.warmup_stats(account.id).await.expect("warmup stats");
        assert_eq!(warmup.stats_by_date.len(), 7);
        let daily_sent: u64 = warmup.stats_by_date.iter().map(|d| d.sent_count).sum();
        assert_eq!(daily_sent, warmup.sent_count);
        assert_eq!(warmup.inbox_count + warmup.spam_count, warmup.sent_count);
    }
    let missing = client.email_account(EmailAccountId(1)).await;
    assert!(
        matches!(missing, Err(ref e) if e.is_not_found()),
        "{missing:?}"
    );

    let campaign = client.list_campaigns(None).await.expect("campaigns")[0].id;
    let senders = client
        .campaign_email_accounts(campaign)
        .await
        .expect("campaign accounts");
    assert!(!senders.is_empty());
    assert!(
        senders
            .iter()
            .all(|s| accounts.iter().any(|a| a.id == s.id))
    );

    // Webhooks: create, update, list, delete.
    let before = client.webhooks(campaign).await.expect("webhooks");
    let mut upsert = WebhookUpsert {
        id: None,
        name: "outpost".into(),
        webhook_url: "https://track.acme.example/webhooks/smartlead?t=org_42".into(),
        event_types: vec!["EMAIL_REPLY".into(), "EMAIL_SENT".into()],
        categories: vec!["Interested".into()],
    };
    client
        .upsert_webhook(campaign, &upsert)
        .await
        .expect("create");
    let listed = client.webhooks(campaign).await.expect("webhooks");
    assert_eq!(listed.len(), before.len() + 1);
    let created = listed
        .iter()
        .find(|w| w.name == "outpost")
        .expect("created webhook");
    assert_eq!(created.webhook_url, upsert.webhook_url);
    assert_eq!(created.event_types, upsert.event_types);
    assert_eq!(created.categories, upsert.categories);
    upsert.id = Some(created.id);
    upsert.event_types.push("LEAD_CATEGORY_UPDATED".into());
    client
        .upsert_webhook(campaign, &upsert)
        .await
        .expect("update");
    let listed = client.webhooks(campaign).await.expect("webhooks");
    assert_eq!(listed.len(), before.len() + 1);
    let updated = listed.iter().find(|w| w.id == created.id).expect("updated");
    assert_eq!(updated.event_types.len(), 3);
    client
        .delete_webhook(campaign, created.id)
        .await
        .expect("delete");
    let listed = client.webhooks(campaign).await.expect("webhooks");
    assert_eq!(listed.len(), before.len());
    assert!(listed.iter().all(|w| w.id != created.id));

    let clients = client.clients().await.expect("clients");
    assert!(clients.iter().all(|c| !c.name.is_empty()));
    let campaigns = client.list_campaigns(None).await.expect("campaigns");
    assert!(
        campaigns
            .iter()
            .filter_map(|c| c.client_id)
            .all(|id| clients.iter().any(|c| c.id == id))
    );
}

#[tokio::test]
async fn a_concurrent_burst_stays_under_the_sandbox_rate_limit() {
    let key = "sl-key-burst";
    let sandbox = start(250, key).await;
    assert_eq!(sandbox.rate_limit(), RateLimit::default());
    // Default client configuration: Smartlead's documented 10 requests / 2 s.
    let client = Client::new(config(&sandbox)).expect("client");
    let campaign = client.list_campaigns(None).await.expect("campaigns")[0].id;
    let calls = (0..14).map(|i| {
        let client = client.clone();
        async move {
            if i % 2 == 0 {
                client.campaign_analytics(campaign).await.map(drop)
            } else {
                client.campaign_leads_page(campaign, 0, 10).await.map(drop)
            }
        }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sandbox.throttled_count(key), 0);
    let metrics = client.metrics();
    assert_eq!(metrics.rate_limited, 0);
    assert!(metrics.rate_limit_waits > 0, "the burst had to be paced");
}

#[tokio::test]
async fn faults_are_retried_for_reads_but_never_for_a_reply() {
    let sandbox = start(1000, "sl-key-faults").await;
    let client = unthrottled_client(&sandbox);
    let clean = read_all_leads(&client).await;

    sandbox
        .set_faults(Faults {
            error_rate: 0.2,
            latency_ms: 0,
        })
        .expect("faults");
    let faulted = read_all_leads(&client).await;
    assert!(
        sandbox.counters().faults_injected > 0,
        "no fault was injected"
    );
    assert!(client.metrics().retries > 0);
    let ids = |all: &BTreeMap<i64, Vec<CampaignLead>>| -> BTreeMap<i64, Vec<i64>> {
        all.iter()
            .map(|(c, leads)| (*c, leads.iter().map(|l| l.campaign_lead_map_id.0).collect()))
            .collect()
    };
    assert_eq!(ids(&faulted), ids(&clean));

    // A reply that meets a 5xx is reported, not sent again.
    let campaign = CampaignId(*clean.keys().next().expect("a campaign"));
    let (_, lead_id) = inject_a_reply(&sandbox, campaign, &clean[&campaign.0]);
    sandbox.set_faults(Faults::default()).expect("no faults");
    let history = client
        .message_history(campaign, lead_id)
        .await
        .expect("history");
    let answered = history
        .history
        .iter()
        .rev()
        .find(|item| item.kind == HistoryKind::Reply)
        .expect("reply");
    let reply = ReplyRequest::answering(answered, "<p>Thanks!</p>").expect("reply");
    sandbox
        .set_faults(Faults {
            error_rate: 1.0,
            latency_ms: 0,
        })
        .expect("faults");
    let faults_before = sandbox.counters().faults_injected;
    let retries_before = client.metrics().retries;
    let outcome = client.reply_email_thread(campaign, &reply).await;
    assert!(
        matches!(outcome, Err(SmartleadError::Server(500, _))),
        "{outcome:?}"
    );
    assert_eq!(sandbox.counters().faults_injected, faults_before + 1);
    assert_eq!(client.metrics().retries, retries_before);
    assert!(sandbox.reply_posts().is_empty());
}

#[tokio::test]
async fn a_client_that_overruns_the_limit_waits_out_the_429s() {
    let key = "sl-key-overrun";
    let sandbox = start(250, key).await;
    sandbox.set_rate_limit(RateLimit {
        max_requests: 3,
        window: Duration::from_millis(600),
    });
    let mut config = config(&sandbox);
    // Deliberately looser than the server, so the server has to push back.
    config.rate_limit = ClientRateLimit {
        max: 1000,
        per: Duration::from_secs(1),
    };
    config.min_rate_limited_wait = Duration::from_millis(50);
    let client = Client::new(config).expect("client");
    let campaign = client.list_campaigns(None).await.expect("campaigns")[0].id;
    let calls = (0..6).map(|_| {
        let client = client.clone();
        async move { client.campaign_analytics(campaign).await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(sandbox.throttled_count(key) > 0);
    assert_eq!(client.metrics().rate_limited, sandbox.throttled_count(key));
}

#[tokio::test]
async fn errors_carry_the_server_text_and_never_the_key() {
    let key = "sl-key-errors-0123456789";
    let sandbox = start(250, key).await;
    let client = unthrottled_client(&sandbox);

    let missing = client.get_campaign(CampaignId(1)).await;
    match &missing {
        Err(SmartleadError::NotFound(text)) => {
            assert_eq!(text, "Campaign not found - Invalid campaign_id.");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let too_big = client.campaign_leads_page(CampaignId(1), 0, 101).await;
    assert!(matches!(too_big, Err(SmartleadError::InvalidInput(_))));

    let mut wrong = config(&sandbox);
    wrong.api_key = SecretString::from("sl-key-wrong-0123456789");
    let wrong = Client::new(wrong).expect("client");
    let refused = wrong.list_campaigns(None).await;
    match &refused {
        Err(error @ SmartleadError::Unauthorized(text)) => {
            assert_eq!(text, "Invalid API Key");
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("sl-key-wrong") && !shown.contains(key));
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}
