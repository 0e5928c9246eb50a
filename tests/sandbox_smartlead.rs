//! End-to-end tests of the Smartlead emulator over real HTTP on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use outpost::clock::FakeClock;
use outpost::sandbox::{Faults, InjectReply, RateLimit, SandboxHandle, SandboxOptions, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-08T12:00:00Z")
        .expect("valid timestamp")
        .with_timezone(&Utc)
}

struct Env {
    handle: SandboxHandle,
    http: reqwest::Client,
    /// The sandbox's clock: it decides which events have happened yet.
    clock: FakeClock,
}

async fn env_with(leads: usize, seed: u64, rate_limit: RateLimit) -> Env {
    let clock = FakeClock::new(fixed_now());
    let opts = SandboxOptions {
        leads,
        seed,
        rate_limit,
        clock: Arc::new(clock.clone()),
        ..SandboxOptions::default()
    };
    let handle = start(opts).await.expect("sandbox starts");
    let http = reqwest::Client::builder()
        .user_agent("outpost-tests")
        .build()
        .expect("client");
    Env {
        handle,
        http,
        clock,
    }
}

async fn env(leads: usize) -> Env {
    env_with(leads, 7, RateLimit::unlimited()).await
}

impl Env {
    fn key(&self) -> &str {
        &self.handle.info().smartlead_api_key
    }

    /// `path` under /api/v1 with the API key appended to `query`.
    fn url(&self, path: &str, query: &str) -> String {
        let sep = if query.is_empty() { "" } else { "&" };
        format!(
            "{}{path}?api_key={}{sep}{query}",
            self.handle.info().smartlead_base_url,
            self.key()
        )
    }

    fn raw(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.addr())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str, query: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path, query))).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path, "")).json(&body))
            .await
    }

    async fn get_ok(&self, path: &str, query: &str) -> Value {
        let (status, body) = self.get(path, query).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn first_campaign_id(&self) -> i64 {
        let campaigns = self.get_ok("/campaigns/", "").await;
        campaigns[0]["id"].as_i64().expect("campaign id")
    }

    /// Every lead of a campaign, paging 100 at a time as a client must.
    async fn all_leads(&self, campaign: i64) -> Vec<Value> {
        let mut leads = Vec::new();
        loop {
            let page = self
                .get_ok(
                    &format!("/campaigns/{campaign}/leads"),
                    &format!("offset={}&limit=100", leads.len()),
                )
                .await;
            let total: usize = page["total_leads"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("string total");
            let data = page["data"].as_array().cloned().unwrap_or_default();
            if data.is_empty() {
                assert_eq!(leads.len(), total);
                return leads;
            }
            leads.extend(data);
        }
    }

    /// A lead of `campaign` whose history contains a SENT item, with that history.
    async fn lead_with_history(&self, campaign: i64) -> (Value, Value) {
        for item in self.all_leads(campaign).await {
            let lead_id = item["lead"]["id"].as_i64().expect("lead id");
            let history = self
                .get_ok(
                    &format!("/campaigns/{campaign}/leads/{lead_id}/message-history"),
                    "",
                )
                .await;
            if history["history"].as_array().is_some_and(|h| !h.is_empty()) {
                return (item, history);
            }
        }
        panic!("no lead with history in campaign {campaign}");
    }
}

fn count(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("expected a count as a string, got {value}"))
}

#[tokio::test]
async fn auth_errors_and_unknown_routes() {
    let env = env(300).await;
    let base = &env.handle.info().smartlead_base_url;
    let (status, body) = env.send(env.http.get(format!("{base}/campaigns/"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"message": "API key is required."}));
    let (status, body) = env
        .send(env.http.get(format!("{base}/campaigns/?api_key=nope")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"message": "Invalid API Key"}));
    let (status, body) = env.get("/no/such/route", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.is_object());
    // Trailing slash or not, the same answer.
    assert_eq!(
        env.get_ok("/campaigns", "").await,
        env.get_ok("/campaigns/", "").await
    );
}

#[tokio::test]
async fn campaigns_read_create_and_status() {
    let env = env(1000).await;
    let campaigns = env.get_ok("/campaigns/", "").await;
    let list = campaigns.as_array().expect("bare array");
    assert!(list.len() >= 3);
    assert!(list.iter().any(|c| c["parent_campaign_id"].is_i64()));
    let statuses: std::collections::HashSet<_> =
        list.iter().map(|c| c["status"].as_str()).collect();
    assert!(statuses.len() >= 2, "mixed statuses");

    let id = list[0]["id"].as_i64().expect("id");
    let one = env.get_ok(&format!("/campaigns/{id}"), "").await;
    assert_eq!(one, list[0]);
    assert!(one["scheduler_cron_value"]["tz"].is_string());

    let (status, body) = env.get("/campaigns/999", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": "Campaign not found - Invalid campaign_id."})
    );

    // Client filter.
    let clients = env.get_ok("/client/", "").await;
    let client_id = clients[0]["id"].as_i64().expect("client id");
    let filtered = env
        .get_ok("/campaigns/", &format!("client_id={client_id}"))
        .await;
    let filtered = filtered.as_array().expect("array");
    assert!(!filtered.is_empty());
    assert!(filtered.iter().all(|c| c["client_id"] == json!(client_id)));

    // Sequences: 2-4 steps, variants on step 1, read-side delay name.
    let steps = env.get_ok(&format!("/campaigns/{id}/sequences"), "").await;
    let steps = steps.as_array().expect("array");
    assert!((2..=4).contains(&steps.len()));
    assert!(
        steps[0]["sequence_variants"]
            .as_array()
            .is_some_and(|v| v.len() >= 2)
    );
    assert!(steps[1]["seq_delay_details"]["delayInDays"].is_u64());

    // Create starts DRAFTED; unknown keys are rejected.
    let (status, created) = env
        .post(
            "/campaigns/create",
            json!({"name": "Q3", "client_id": client_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(created["ok"], json!(true));
    let new_id = created["id"].as_i64().expect("new id");
    let fetched = env.get_ok(&format!("/campaigns/{new_id}"), "").await;
    assert_eq!(fetched["status"], "DRAFTED");
    let (status, body) = env
        .post("/campaigns/create", json!({"name": "x", "colour": "red"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "\"colour\" is not allowed");

    let (status, body) = env
        .post(
            &format!("/campaigns/{new_id}/status"),
            json!({"status": "START"}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"ok": true})));
    assert_eq!(
        env.get_ok(&format!("/campaigns/{new_id}"), "").await["status"],
        "ACTIVE"
    );
    let (status, _) = env
        .post(
            &format!("/campaigns/{new_id}/status"),
            json!({"status": "ACTIVE"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn campaign_leads_paging_and_limits() {
    let env = env(1000).await;
    let id = env.first_campaign_id().await;
    let (status, body) = env
        .get(&format!("/campaigns/{id}/leads"), "limit=101")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit"))
    );
    let (status, _) = env.get(&format!("/campaigns/{id}/leads"), "limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let leads = env.all_leads(id).await;
    assert!(leads.len() > 100, "needs several pages");
    let truth = env.handle.ground_truth();
    let expected = truth
        .iter()
        .find(|t| t.campaign_id == id)
        .expect("truth")
        .lead_count;
    assert_eq!(leads.len() as u64, expected);
    for item in &leads {
        let map_id: i64 = item["campaign_lead_map_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("map id string");
        assert!(map_id > i64::from(i32::MAX));
        assert!(
            item["lead"]["id"]
                .as_i64()
                .is_some_and(|v| v > i64::from(i32::MAX))
        );
        let custom = item["lead"]["custom_fields"]
            .as_object()
            .expect("custom fields");
        assert!(custom.contains_key("timezone") && (2..=4).contains(&custom.len()));
    }
}

#[tokio::test]
async fn add_leads_validation_and_summary() {
    let env = env(300).await;
    let id = env.first_campaign_id().await;
    let path = format!("/campaigns/{id}/leads");

    let (status, body) = env
        .post(
            &path,
            json!({"lead_list": [{"email": "a@b.example", "shoe_size": "9"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "\"lead_list[0].shoe_size\" is not allowed");
    let (status, _) = env
        .post(&path, json!({"lead_list": [{"first_name": "No email"}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"email": format!("p{i}@bulk.example")}))
        .collect();
    let (status, _) = env.post(&path, json!({"lead_list": too_many})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = env
        .post(
            &path,
            json!({"lead_list": [{"email": "a@b.example"}], "settings": {"nope": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        env.handle.added_leads().is_empty(),
        "rejected batches add nothing"
    );

    let existing = env.all_leads(id).await[0]["lead"]["email"]
        .as_str()
        .expect("email")
        .to_string();
    let batch = json!({
        "lead_list": [
            {"email": "new.person@fresh.example", "first_name": "New", "last_name": "Person",
             "company_name": "Fresh", "custom_fields": {"timezone": "Europe/Berlin", "title": "CFO"}},
            {"email": "new.person@fresh.example"},
            {"email": "not-an-email"},
            {"email": existing},
        ],
        "settings": {"ignore_global_block_list": false}
    });
    let (status, summary) = env.post(&path, batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        summary,
        json!({"ok": true, "upload_count": 4, "total_leads": 1, "already_added_to_campaign": 1,
               "duplicate_count": 1, "invalid_email_count": 1, "invalid_emails": ["not-an-email"],
               "unsubscribed_leads": [], "block_count": 0, "bounce_count": 0,
               "is_lead_limit_exhausted": false, "lead_import_stopped_count": 0})
    );
    let added = env.handle.added_leads();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].email, "new.person@fresh.example");

    let found = env
        .get_ok("/leads/", "email=new.person@fresh.example")
        .await;
    assert_eq!(found["id"], json!(added[0].lead_id));
    assert_eq!(found["custom_fields"]["title"], "CFO");
    assert_eq!(found["lead_campaign_data"][0]["campaign_id"], json!(id));
    let leads = env.all_leads(id).await;
    assert!(
        leads
            .iter()
            .any(|l| l["lead"]["email"] == "new.person@fresh.example" && l["status"] == "STARTED")
    );

    let (status, body) = env.get("/leads/", "email=nobody@nowhere.example").await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
}

#[tokio::test]
async fn per_lead_actions_and_categories() {
    let env = env(300).await;
    let id = env.first_campaign_id().await;
    let leads = env.all_leads(id).await;
    let lead_id = leads[0]["lead"]["id"].as_i64().expect("lead id");
    let lead_path = format!("/campaigns/{id}/leads/{lead_id}");

    let campaigns_of = env.get_ok(&format!("/leads/{lead_id}/campaigns"), "").await;
    assert_eq!(campaigns_of[0]["id"], json!(id));
    assert!(campaigns_of[0]["status"].is_string() && campaigns_of[0]["name"].is_string());

    let categories = env.get_ok("/leads/fetch-categories", "").await;
    let categories = categories.as_array().expect("array");
    assert_eq!(categories.len(), 10);
    assert_eq!(categories[8]["name"], "Sender Originated Bounce");
    assert_eq!(categories[0]["sentiment_type"], "positive");
    assert!(
        categories
            .iter()
            .any(|c| c["id"].as_i64().is_some_and(|v| v > 9))
    );

    let (status, body) = env
        .post(
            &format!("{lead_path}/category"),
            json!({"category_id": 2, "pause_lead": true}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"ok": true, "data": "success"}))
    );
    let after = env.all_leads(id).await;
    let row = after
        .iter()
        .find(|l| l["lead"]["id"] == json!(lead_id))
        .expect("row");
    assert_eq!(
        (row["lead_category_id"].clone(), row["status"].clone()),
        (json!(2), json!("PAUSED"))
    );
    let (status, _) = env
        .post(
            &format!("{lead_path}/category"),
            json!({"category_id": 424242}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = env.post(&format!("{lead_path}/pause"), json!({})).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"ok": true, "data": "success"}))
    );
    let (status, _) = env
        .post(
            &format!("{lead_path}/resume"),
            json!({"resume_lead_with_delay_days": 2}),
        )
        .await;
    assert!(status == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR);

    let (status, body) = env
        .post(&format!("{lead_path}/unsubscribe"), json!({}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"ok": true})));
    let (status, body) = env.post(&format!("{lead_path}/resume"), json!({})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": "This is the last sequence. You cannot resume this lead."})
    );

    let other = leads[1]["lead"]["id"].as_i64().expect("lead id");
    let (_, first) = env
        .post(&format!("/leads/{other}/unsubscribe"), json!({}))
        .await;
    let (_, second) = env
        .post(&format!("/leads/{other}/unsubscribe"), json!({}))
        .await;
    assert_eq!((first, second), (json!({"ok": true}), json!({"ok": false})));
    let email = leads[1]["lead"]["email"].as_str().expect("email");
    assert_eq!(
        env.get_ok("/leads/", &format!("email={email}")).await["is_unsubscribed"],
        json!(true)
    );

    let response = env
        .http
        .delete(env.url(&lead_path, ""))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("text"), "success");
    let (status, body) = env.get(&format!("{lead_path}/message-history"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "Lead not found - Invalid lead_id."}));
    assert_eq!(env.all_leads(id).await.len(), leads.len() - 1);
}

#[tokio::test]
async fn message_history_by_lead_id_and_manual_replies() {
    let env = env(300).await;
    let id = env.first_campaign_id().await;
    let (item, history) = env.lead_with_history(id).await;
    let lead_id = item["lead"]["id"].as_i64().expect("lead id");
    let map_id = item["campaign_lead_map_id"]
        .as_str()
        .expect("map id")
        .to_string();
    let first = &history["history"][0];
    assert_eq!(first["type"], "SENT");
    assert_eq!(first["email_seq_number"], "1");
    assert!(
        first["message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with('<') && m.ends_with('>'))
    );
    assert!(uuid::Uuid::parse_str(first["stats_id"].as_str().expect("stats id")).is_ok());
    assert_eq!(history["to"], item["lead"]["email"]);
    let first_name = item["lead"]["first_name"].as_str().expect("name");
    assert!(
        first["email_body"]
            .as_str()
            .is_some_and(|b| b.contains(first_name)),
        "template filled"
    );

    // The map id is not a lead id.
    let (status, _) = env
        .get(
            &format!("/campaigns/{id}/leads/{map_id}/message-history"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let path = format!("/campaigns/{id}/reply-email-thread");
    let full = json!({
        "email_stats_id": first["stats_id"], "email_body": "<p>Does Tuesday work?</p>",
        "reply_message_id": first["message_id"], "reply_email_time": first["time"],
        "reply_email_body": first["email_body"], "cc": "a@x.example, b@x.example", "add_signature": true
    });
    for field in [
        "email_stats_id",
        "email_body",
        "reply_message_id",
        "reply_email_time",
        "reply_email_body",
    ] {
        let mut partial = full.clone();
        partial.as_object_mut().expect("object").remove(field);
        let (status, body) = env.post(&path, partial).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(body["message"], format!("\"{field}\" is required"));
    }
    assert!(env.handle.reply_posts().is_empty());
    let (status, body) = env.post(&path, full.clone()).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"ok": true, "data": "success"}))
    );
    let posts = env.handle.reply_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!((posts[0].campaign_id, &posts[0].body), (id, &full));

    let after = env
        .get_ok(
            &format!("/campaigns/{id}/leads/{lead_id}/message-history"),
            "",
        )
        .await;
    let items = after["history"].as_array().expect("history");
    let last = items.last().expect("item");
    assert_eq!(
        items.len(),
        history["history"].as_array().map_or(0, Vec::len) + 1
    );
    assert_eq!(
        (last["type"].clone(), last["email_seq_number"].clone()),
        (json!("SENT"), Value::Null)
    );
    assert_eq!(last["email_body"], "<p>Does Tuesday work?</p>");

    let over_http: Value = env
        .http
        .get(env.raw("/_sandbox/smartlead/reply-posts"))
        .send()
        .await
        .expect("control")
        .json()
        .await
        .expect("json");
    assert_eq!(over_http[0]["body"], full);
}

/// Recomputes a campaign's totals from what a client can sync: every lead, every history.
async fn totals_from_histories(env: &Env, campaign: i64) -> [u64; 5] {
    let mut totals = [0u64; 5]; // sent, opens, clicks, replies, unique_sent
    for item in env.all_leads(campaign).await {
        let lead_id = item["lead"]["id"].as_i64().expect("lead id");
        let history = env
            .get_ok(
                &format!("/campaigns/{campaign}/leads/{lead_id}/message-history"),
                "",
            )
            .await;
        let mut any_sent = false;
        for msg in history["history"].as_array().expect("history") {
            match msg["type"].as_str() {
                Some("SENT") if !msg["email_seq_number"].is_null() => {
                    any_sent = true;
                    totals[0] += 1;
                    totals[1] += msg["open_count"].as_u64().expect("opens");
                    totals[2] += msg["click_count"].as_u64().expect("clicks");
                }
                Some("REPLY") => totals[3] += 1,
                _ => {}
            }
        }
        totals[4] += u64::from(any_sent);
    }
    totals
}

#[tokio::test]
async fn analytics_agree_with_histories() {
    let env = env(600).await;
    let id = env.first_campaign_id().await;
    let analytics = env.get_ok(&format!("/campaigns/{id}/analytics"), "").await;
    let [sent, opens, clicks, replies, unique_sent] = totals_from_histories(&env, id).await;
    assert!(sent > 0 && replies > 0);
    assert_eq!(count(&analytics["sent_count"]), sent);
    assert_eq!(count(&analytics["open_count"]), opens);
    assert_eq!(count(&analytics["click_count"]), clicks);
    assert_eq!(count(&analytics["reply_count"]), replies);
    assert_eq!(count(&analytics["unique_sent_count"]), unique_sent);
    assert_eq!(
        count(&analytics["total_count"]),
        env.all_leads(id).await.len() as u64
    );
    assert!(analytics["campaign_lead_stats"]["total"].is_u64());

    // By date: required dates, and the full range equals all time.
    let by_date = format!("/campaigns/{id}/analytics-by-date");
    let (status, body) = env.get(&by_date, "start_date=2020-01-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "\"end_date\" is required");
    let (status, _) = env
        .get(&by_date, "start_date=yesterday&end_date=2026-01-01")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let all = env
        .get_ok(&by_date, "start_date=2020-01-01&end_date=2030-12-31")
        .await;
    assert_eq!(all["sent_count"], analytics["sent_count"]);
    assert_eq!(all["reply_count"], analytics["reply_count"]);
    assert_eq!(all["start_date"], "2020-01-01");
    let none = env
        .get_ok(&by_date, "start_date=2000-01-01&end_date=2000-01-02")
        .await;
    assert_eq!(none["sent_count"], "0");

    // Statistics: one row per sequence email.
    let stats_path = format!("/campaigns/{id}/statistics");
    let stats = env.get_ok(&stats_path, "limit=1000").await;
    assert_eq!(count(&stats["total_stats"]), sent);
    let (status, _) = env.get(&stats_path, "limit=1001").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = env.get(&stats_path, "email_status=sleepy").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let replied = env
        .get_ok(&stats_path, "email_status=replied&limit=1000")
        .await;
    let rows = replied["data"].as_array().expect("rows");
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["reply_time"].is_string() && r["stats_id"].is_string())
    );
    let paged = env.get_ok(&stats_path, "offset=5&limit=3").await;
    assert_eq!(paged["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(paged["data"][0]["stats_id"], stats["data"][5]["stats_id"]);

    // Sequence analytics: numbers, one row per step, summing to the totals.
    let seq = env
        .get_ok(&format!("/campaigns/{id}/sequence-analytics"), "")
        .await;
    assert_eq!(seq["ok"], json!(true));
    let rows = seq["data"].as_array().expect("rows");
    let steps = env.get_ok(&format!("/campaigns/{id}/sequences"), "").await;
    assert_eq!(rows.len(), steps.as_array().map_or(0, Vec::len));
    let seq_sent: u64 = rows
        .iter()
        .map(|r| r["sent_count"].as_u64().expect("number"))
        .sum();
    let seq_replies: u64 = rows
        .iter()
        .map(|r| r["reply_count"].as_u64().expect("number"))
        .sum();
    assert_eq!((seq_sent, seq_replies), (sent, replies));

    // The control ground truth says the same.
    let truth = env.handle.ground_truth();
    let mine = truth.iter().find(|t| t.campaign_id == id).expect("truth");
    assert_eq!(
        (mine.totals.sent_count, mine.totals.reply_count),
        (sent, replies)
    );
}

#[tokio::test]
async fn injected_reply_shows_everywhere() {
    let env = env(300).await;
    let id = env.first_campaign_id().await;
    let before = env.get_ok(&format!("/campaigns/{id}/analytics"), "").await;
    let mut target = None;
    for item in env.all_leads(id).await {
        let lead_id = item["lead"]["id"].as_i64().expect("lead id");
        let history = env
            .get_ok(
                &format!("/campaigns/{id}/leads/{lead_id}/message-history"),
                "",
            )
            .await;
        let items = history["history"].as_array().cloned().unwrap_or_default();
        if !items.is_empty() && items.iter().all(|m| m["type"] == "SENT") {
            target = Some(item);
            break;
        }
    }
    let target = target.expect("a lead that has not replied");
    let email = target["lead"]["email"].as_str().expect("email");
    let lead_id = target["lead"]["id"].as_i64().expect("lead id");

    let response = env
        .http
        .post(env.raw("/_sandbox/smartlead/replies"))
        .json(&json!({"campaign_id": id, "lead_email": email, "body": "<div>Yes, call me.</div>", "category": "Interested"}))
        .send()
        .await
        .expect("inject");
    assert_eq!(response.status(), StatusCode::OK);
    let injected: Value = response.json().await.expect("json");
    assert_eq!(injected["lead_id"], json!(lead_id));
    assert_eq!(injected["category_id"], json!(1));

    let history = env
        .get_ok(
            &format!("/campaigns/{id}/leads/{lead_id}/message-history"),
            "",
        )
        .await;
    let last = history["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .expect("item");
    assert_eq!(last["type"], "REPLY");
    assert_eq!(last["email_body"], "<div>Yes, call me.</div>");
    assert_eq!(last["stats_id"], injected["stats_id"]);

    let after = env.get_ok(&format!("/campaigns/{id}/analytics"), "").await;
    assert_eq!(
        count(&after["reply_count"]),
        count(&before["reply_count"]) + 1
    );
    let replied = env
        .get_ok(
            &format!("/campaigns/{id}/statistics"),
            "email_status=replied&limit=1000",
        )
        .await;
    assert!(
        replied["data"]
            .as_array()
            .is_some_and(|rows| rows.iter().any(|r| r["stats_id"] == injected["stats_id"]))
    );

    // Unknown lead and unknown category are refused, in process and over HTTP.
    let bad = InjectReply {
        campaign_id: id,
        lead_email: "ghost@none.example".into(),
        body: "hi".into(),
        category: None,
    };
    assert!(env.handle.inject_reply(&bad).is_err());
    let response = env
        .http
        .post(env.raw("/_sandbox/smartlead/replies"))
        .json(&json!({"campaign_id": id, "lead_email": email, "body": "x", "category": "Bored"}))
        .send()
        .await
        .expect("inject");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn email_accounts_clients_and_webhooks() {
    let env = env(300).await;
    let accounts = env.get_ok("/email-accounts/", "offset=0&limit=100").await;
    let accounts = accounts.as_array().expect("bare array");
    assert!(accounts.len() >= 3);
    let account = &accounts[0];
    assert!(account["message_per_day"].is_u64());
    assert!(
        account["warmup_details"]["warmup_reputation"]
            .as_str()
            .is_some_and(|r| r.ends_with('%'))
    );
    let account_id = account["id"].as_i64().expect("id");
    let one = env
        .get_ok(
            &format!("/email-accounts/{account_id}/"),
            "fetch_campaigns=true",
        )
        .await;
    assert_eq!(one["from_email"], account["from_email"]);
    assert!(one["campaign_ids"].is_array());
    let (status, _) = env.get("/email-accounts/1/", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env.get("/email-accounts/", "limit=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let paged = env.get_ok("/email-accounts/", "offset=1&limit=1").await;
    assert_eq!(paged.as_array().map(Vec::len), Some(1));
    assert_eq!(paged[0]["id"], accounts[1]["id"]);

    let warmup = env
        .get_ok(&format!("/email-accounts/{account_id}/warmup-stats"), "")
        .await;
    assert!(count(&warmup["sent_count"]) >= count(&warmup["inbox_count"]));
    assert_eq!(warmup["stats_by_date"].as_array().map(Vec::len), Some(7));

    let id = env.first_campaign_id().await;
    let campaign_accounts = env
        .get_ok(&format!("/campaigns/{id}/email-accounts"), "")
        .await;
    assert!(campaign_accounts.as_array().is_some_and(|a| !a.is_empty()));

    let clients = env.get_ok("/client/", "").await;
    assert!(
        clients
            .as_array()
            .is_some_and(|c| (2..=3).contains(&c.len()))
    );

    let hooks = format!("/campaigns/{id}/webhooks");
    assert_eq!(env.get_ok(&hooks, "").await, json!([]));
    let hook = json!({"id": null, "name": "outpost", "webhook_url": "https://track.acme.example/webhooks/smartlead?t=org_42",
                      "event_types": ["EMAIL_REPLY", "EMAIL_SENT"], "categories": ["Interested"]});
    let (status, saved) = env.post(&hooks, hook.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let hook_id = saved["id"].as_i64().expect("hook id");
    let mut empty_categories = hook.clone();
    empty_categories["categories"] = json!([]);
    let (status, _) = env.post(&hooks, empty_categories).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let listed = env.get_ok(&hooks, "").await;
    assert_eq!(listed[0]["id"], json!(hook_id));
    assert_eq!(
        listed[0]["event_types"],
        json!(["EMAIL_REPLY", "EMAIL_SENT"])
    );
    let (status, _) = env
        .send(
            env.http
                .delete(env.url(&hooks, ""))
                .json(&json!({"id": hook_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env.get_ok(&hooks, "").await, json!([]));
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    // Default count, a window wide enough that a slow machine cannot slide past it.
    let limit = RateLimit {
        window: Duration::from_secs(20),
        ..RateLimit::default()
    };
    let env = env_with(300, 7, limit).await;
    let mut throttled = None;
    for i in 0..11 {
        let response = env
            .http
            .get(env.url("/campaigns/", ""))
            .send()
            .await
            .expect("request");
        if i < 10 {
            assert_eq!(response.status(), StatusCode::OK, "request {i}");
            let remaining = response.headers()["x-ratelimit-remaining"]
                .to_str()
                .expect("header");
            assert_eq!(remaining, (9 - i).to_string());
            assert_eq!(response.headers()["x-ratelimit-limit"], "10");
        } else {
            throttled = Some(response);
        }
    }
    let response = throttled.expect("11th response");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=20).contains(&retry_after));
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"message": "Too Many Requests"})
    );
    assert_eq!(env.handle.throttled_count(env.key()), 1);
    assert_eq!(env.handle.throttled_count("someone-else"), 0);
    let counters = env.handle.counters();
    assert_eq!(counters.throttled_total, 1);
    assert_eq!(
        counters.requests_by_route.get("GET /api/v1/campaigns"),
        Some(&11)
    );

    // Raising the limit over HTTP lets traffic through again at once.
    let response = env
        .http
        .put(env.raw("/_sandbox/rate-limit"))
        .json(&json!({"max_requests": 100, "window_ms": 2000}))
        .send()
        .await
        .expect("control");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(env.handle.rate_limit().max_requests, 100);
    let (status, _) = env.get("/campaigns/", "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn faults_fire_before_handlers_at_the_configured_rate() {
    let env = env(300).await;
    let before = env.get_ok("/campaigns/", "").await;

    env.handle
        .set_faults(Faults {
            error_rate: 1.0,
            latency_ms: 0,
        })
        .expect("faults");
    let (status, body) = env
        .post("/campaigns/create", json!({"name": "Should not exist"}))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, json!({"error": "Internal Server Error"}));
    let (status, body) = env
        .send(env.http.get(env.raw("/gmail/v1/users/me/profile")))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["status"], "UNAVAILABLE");
    assert_eq!(body["error"]["errors"][0]["reason"], "backendError");
    // Control routes keep working while everything else fails.
    let response = env
        .http
        .get(env.raw("/_sandbox/faults"))
        .send()
        .await
        .expect("control");
    assert_eq!(response.status(), StatusCode::OK);

    let response = env
        .http
        .put(env.raw("/_sandbox/faults"))
        .json(&json!({"error_rate": 0.3, "latency_ms": 0}))
        .send()
        .await
        .expect("control");
    assert_eq!(response.status(), StatusCode::OK);
    let mut failures = 0;
    for _ in 0..300 {
        let (status, _) = env.get("/client/", "").await;
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            failures += 1;
        } else {
            assert_eq!(status, StatusCode::OK);
        }
    }
    assert!(
        (50..=130).contains(&failures),
        "{failures} of 300 failed at rate 0.3"
    );

    env.handle.set_faults(Faults::default()).expect("faults");
    assert_eq!(
        env.get_ok("/campaigns/", "").await,
        before,
        "faulted create changed nothing"
    );
    assert!(env.handle.counters().faults_injected >= 52);

    let (status, _) = env
        .send(
            env.http
                .put(env.raw("/_sandbox/faults"))
                .json(&json!({"error_rate": 2.0})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Latency is applied.
    env.handle
        .set_faults(Faults {
            error_rate: 0.0,
            latency_ms: 150,
        })
        .expect("faults");
    let started = std::time::Instant::now();
    env.get_ok("/client/", "").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn same_seed_same_json() {
    let a = env(400).await;
    let b = env(400).await;
    let c = env_with(400, 8, RateLimit::unlimited()).await;
    assert_eq!(a.key(), b.key());
    let id = a.first_campaign_id().await;
    for (path, query) in [
        ("/campaigns/".to_string(), ""),
        (format!("/campaigns/{id}/leads"), "limit=100"),
        (format!("/campaigns/{id}/analytics"), ""),
        (format!("/campaigns/{id}/statistics"), "limit=200"),
        ("/email-accounts/".to_string(), ""),
    ] {
        assert_eq!(
            a.get_ok(&path, query).await,
            b.get_ok(&path, query).await,
            "{path}"
        );
    }
    let (_, history_a) = a.lead_with_history(id).await;
    let (_, history_b) = b.lead_with_history(id).await;
    assert_eq!(history_a, history_b);
    assert_ne!(
        a.get_ok("/campaigns/", "").await,
        c.get_ok("/campaigns/", "").await
    );
    assert_eq!(a.handle.gmail_contacts(20), b.handle.gmail_contacts(20));
    assert_eq!(a.handle.gmail_contacts(20).len(), 20);
}

#[tokio::test]
async fn control_api_reads_counters_and_truth() {
    let env = env(300).await;
    env.get_ok("/campaigns/", "").await;
    let id = env.first_campaign_id().await;
    env.get_ok(&format!("/campaigns/{id}"), "").await;
    let counters: Value = env
        .http
        .get(env.raw("/_sandbox/counters"))
        .send()
        .await
        .expect("c")
        .json()
        .await
        .expect("json");
    assert_eq!(
        counters["requests_by_route"]["GET /api/v1/campaigns"],
        json!(2)
    );
    assert_eq!(
        counters["requests_by_route"]["GET /api/v1/campaigns/{id}"],
        json!(1)
    );
    let truth: Value = env
        .http
        .get(env.raw("/_sandbox/smartlead/ground-truth"))
        .send()
        .await
        .expect("t")
        .json()
        .await
        .expect("json");
    let truth = truth.as_array().expect("array");
    let campaigns = env.get_ok("/campaigns/", "").await;
    assert_eq!(truth.len(), campaigns.as_array().map_or(0, Vec::len));
    let total: u64 = truth
        .iter()
        .map(|t| t["lead_count"].as_u64().expect("count"))
        .sum();
    assert!(total >= 300);
    let added: Value = env
        .http
        .get(env.raw("/_sandbox/smartlead/added-leads"))
        .send()
        .await
        .expect("a")
        .json()
        .await
        .expect("json");
    assert_eq!(added, json!([]));
    let printed = format!("{:?} {:?}", env.handle, env.handle.info());
    assert!(
        !printed.contains(env.key()),
        "the API key is never Debug-printed"
    );
    env.handle.shutdown().await.expect("clean shutdown");
}

/// `event_time_gt` on the three routes that take it, in the spellings clients
/// send; `q` is the query after it.
fn since_query(at: &str) -> String {
    format!("event_time_gt={}", url_escape(at))
}

fn url_escape(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

fn ids(rows: &Value, field: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r[field]
                .as_i64()
                .or_else(|| r[field].as_str().and_then(|s| s.parse().ok()))
                .expect("id")
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn event_time_gt_lists_only_what_changed_since() {
    let env = env(300).await;
    let id = env.first_campaign_id().await;
    let leads_path = format!("/campaigns/{id}/leads");
    let stats_path = format!("/campaigns/{id}/leads-statistics");

    // Nothing has happened after now (opens placed later have not happened yet).
    let now = "2026-03-08T12:00:00.000Z";
    let page = env.get_ok(&leads_path, &since_query(now)).await;
    assert_eq!(page["total_leads"], "0", "{page}");
    let stats = env.get_ok(&stats_path, &since_query(now)).await;
    assert_eq!(stats["data"], json!([]));
    assert_eq!(stats["hasMore"], false);

    // A reply and a category change a minute later.
    env.clock.advance(chrono::Duration::minutes(1));
    let members = env.all_leads(id).await;
    let mut replied = None;
    for item in &members {
        let email = item["lead"]["email"].as_str().expect("email");
        let injected = env.handle.inject_reply(&InjectReply {
            campaign_id: id,
            lead_email: email.to_string(),
            body: "<p>Tuesday works.</p>".into(),
            category: None,
        });
        if let Ok(reply) = injected {
            replied = Some(reply);
            break;
        }
    }
    let replied = replied.expect("a lead with a send to answer");
    let recategorized = members
        .iter()
        .map(|m| m["lead"]["id"].as_i64().expect("lead id"))
        .find(|&lead| lead != replied.lead_id)
        .expect("a second lead");
    let (status, body) = env
        .post(
            &format!("/campaigns/{id}/leads/{recategorized}/category"),
            json!({ "category_id": 7 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut changed = vec![replied.lead_id, recategorized];
    changed.sort_unstable();

    // The same instant in each spelling clients send, including a `+`
    // that was not percent-encoded.
    for query in [
        since_query(now),
        since_query("2026-03-08T12:00:00+00:00"),
        since_query("2026-03-08T13:00:00+01:00"),
        "event_time_gt=2026-03-08T12:00:00+00:00".to_string(),
        since_query("2026-03-08T12:00:00"),
    ] {
        let page = env.get_ok(&leads_path, &query).await;
        let leads: Vec<Value> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|m| m["lead"].clone())
            .collect();
        assert_eq!(ids(&json!(leads), "id"), changed, "{query}");
        assert_eq!(page["total_leads"], "2", "{query}");
    }

    // leads-statistics: the two leads, each with only what happened since.
    let stats = env.get_ok(&stats_path, &since_query(now)).await;
    assert_eq!(ids(&stats["data"], "lead_id"), changed);
    assert_eq!(stats["hasMore"], false);
    for row in stats["data"].as_array().expect("rows") {
        for field in ["email_lead_map_id", "from", "to", "status", "created_at"] {
            assert!(!row[field].is_null(), "{field} in {row}");
        }
        let history = row["history"].as_array().expect("history");
        if row["lead_id"] == replied.lead_id {
            assert_eq!(history.len(), 1, "{row}");
            assert_eq!(history[0]["type"], "REPLY");
            assert_eq!(history[0]["message_id"], replied.message_id.as_str());
        } else {
            assert!(
                history.is_empty(),
                "a category change carries no item: {row}"
            );
        }
    }
    let history = env
        .get_ok(
            &format!("/campaigns/{id}/leads/{}/message-history", replied.lead_id),
            &since_query(now),
        )
        .await;
    let items = history["history"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{history}");
    assert_eq!(items[0]["type"], "REPLY");

    // After the change, nothing again.
    let later = "2026-03-08T12:01:00.000Z";
    let page = env.get_ok(&leads_path, &since_query(later)).await;
    assert_eq!(page["total_leads"], "0");
    let stats = env.get_ok(&stats_path, &since_query(later)).await;
    assert_eq!(stats["data"], json!([]));

    // Without the filter every lead is listed, 100 at most per page.
    let first = env.get_ok(&stats_path, "offset=0&limit=100").await;
    assert_eq!(
        first["data"].as_array().map(Vec::len),
        Some(100.min(members.len()))
    );
    assert_eq!(first["hasMore"], members.len() > 100);
    assert_eq!(first["skip"], 0);
    let (status, _) = env.get(&stats_path, "limit=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A time that is not one is a clear 400 on every route.
    for path in [
        leads_path.clone(),
        stats_path.clone(),
        format!("/campaigns/{id}/leads/{}/message-history", replied.lead_id),
    ] {
        let (status, body) = env.get(&path, "event_time_gt=yesterday").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("event_time_gt")),
            "{path}: {body}"
        );
    }
}
