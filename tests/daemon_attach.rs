//! A client attached through `/api` sees a reply posted to the webhook
//! within a second, through the live change stream; every TUI job runs
//! through the API; and the real daemon starts, advertises its API, refuses
//! a second process and stops cleanly.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::*;
use outpost::engine::InboxQuery;
use outpost::engine::door::{ErrorKind, Request, Response};
use outpost::engine::remote::{RemoteChange, RemoteEngine, RemoteError};
use outpost::store::{Change, Kind};
use secrecy::SecretString;

#[tokio::test]
async fn an_attached_client_sees_a_webhook_reply_within_a_second() {
    let server = TestServer::start().await;
    let remote = RemoteEngine::new(&server.base, SecretString::from(API_TOKEN)).unwrap();
    let inbox = || async {
        match remote
            .execute(&Request::Inbox {
                query: InboxQuery::default(),
            })
            .await
        {
            Ok(Response::Threads(threads)) => threads,
            other => panic!("{other:?}"),
        }
    };
    assert!(inbox().await.is_empty());
    let mut stream = remote.changes().await.unwrap();

    let started = Instant::now();
    let payload = reply_payload(
        "dana@ledgerly.example",
        2995276770,
        "2025-06-04T08:02:31Z",
        "Send times please",
    );
    let poster = {
        let http = server.http.clone();
        let url = format!("{}/webhooks/smartlead", server.base);
        tokio::spawn(async move {
            http.post(url)
                .json(&payload)
                .send()
                .await
                .map(|r| r.status())
        })
    };
    let thread_key = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match stream.next().await {
                Some(Ok(RemoteChange::Change(Change::Record {
                    kind: Kind::Thread,
                    key,
                    ..
                }))) => break key,
                Some(Ok(_)) => continue,
                other => panic!("stream ended: {other:?}"),
            }
        }
    })
    .await
    .expect("the thread change arrives within 1 s");
    let inbox = inbox().await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].key, thread_key);
    assert!(inbox[0].thread.unread);
    assert_eq!(poster.await.unwrap().unwrap(), 200);

    // The same commands work remotely.
    let run = |request: Request| {
        let remote = remote.clone();
        async move { remote.execute(&request).await.unwrap() }
    };
    assert_eq!(
        run(Request::MarkRead {
            key: thread_key.clone(),
            read: true,
        })
        .await,
        Response::Flag(true)
    );
    let Response::Thread(Some(view)) = run(Request::Thread {
        key: thread_key.clone(),
    })
    .await
    else {
        panic!("the thread")
    };
    assert!(!view.thread.unread);
    assert_eq!(
        run(Request::Thread {
            key: "acme-smartlead/none".into()
        })
        .await,
        Response::Thread(None)
    );
    let Response::Lead(Some(lead)) = run(Request::Lead {
        email: "dana@ledgerly.example".into(),
    })
    .await
    else {
        panic!("the lead")
    };
    assert!(!lead.timeline.is_empty());

    let wrong = RemoteEngine::new(&server.base, SecretString::from("nope")).unwrap();
    let refused = wrong.execute(&Request::Accounts).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert!(refused.message.contains("api.token"), "{refused}");
    assert!(matches!(
        wrong.changes().await,
        Err(RemoteError::Unauthorized)
    ));
}

#[tokio::test]
async fn the_daemon_advertises_its_api_refuses_a_second_process_and_stops_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "[accounts.acme-smartlead]\nprovider = \"smartlead\"\napi_key = \"k\"\n\
             base_url = \"http://127.0.0.1:9/api/v1\"\npoll_interval_secs = 3600\n\
             [daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let data_dir = dir.path().join("data");
    let config = outpost::config::load(&outpost::config::ConfigSources {
        config_path: Some(config_path),
        data_dir: Some(data_dir.clone()),
    })
    .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let daemon = tokio::spawn(outpost::daemon::run(
        config,
        None,
        shutdown.clone(),
        Some(ready_tx),
    ));
    let started = ready.await.unwrap();

    let holder = outpost::store::current_holder(&data_dir).expect("the lock is held");
    assert_eq!(holder.mode, "daemon");
    assert_eq!(holder.api_url.as_deref(), Some(started.api_url.as_str()));
    let refused = outpost::store::Store::open(&data_dir, "tui")
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("daemon") && refused.contains(&started.api_url),
        "{refused}"
    );

    let token = std::fs::read_to_string(data_dir.join(outpost::daemon::TOKEN_FILE)).unwrap();
    let remote = RemoteEngine::new(&started.api_url, SecretString::from(token)).unwrap();
    let http = reqwest::Client::new();
    let payload = event_payload("EMAIL_OPEN", "a@b.example", "2025-06-04T08:00:00Z");
    let status = http
        .post(format!("{}/webhooks/smartlead", started.api_url))
        .json(&payload)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // An open change stream must not hold up shutdown.
    let _stream = remote.changes().await.unwrap();

    let stopping = Instant::now();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("stops within 10 s")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(10));
    let store = outpost::store::Store::open(&data_dir, "cli").expect("the lock is released");
    assert_eq!(
        store
            .iter::<outpost::model::Activity>()
            .map(|a| a.unwrap().events.len())
            .sum::<usize>(),
        1,
        "the acknowledged event is on disk"
    );
}

/// Every job the TUI runs works through the daemon's API, with the same
/// results (and failure texts) a local run gives.
#[tokio::test]
async fn every_tui_job_runs_through_the_daemon() {
    use outpost::model::{Account, Lead, Provider, SequenceStatus};
    use outpost::tui::jobs::{Job, JobResult, run};

    let server = TestServer::start().await;
    let store = outpost::testing::store(&server.engine);
    let now = server.engine.clock().now();
    store
        .put(&Account {
            name: "me-gmail".into(),
            provider: Provider::Gmail,
            email: Some("rep@acme.example".into()),
            needs_login: false,
            last_sync_ok: None,
            last_error: None,
            categories: Vec::new(),
        })
        .unwrap();
    let mut lead = Lead::new(ACCOUNT, "dana@ledgerly.example");
    lead.first_name = Some("Dana".into());
    lead.company = Some("Ledgerly".into());
    store.put(&lead).unwrap();
    let sequence = "name = \"cfo\"\naccount = \"me-gmail\"\n\n[send_via]\nprovider = \"gmail\"\n\
         mailboxes = [\"rep@acme.example\"]\n\n[[steps]]\ntype = \"email\"\n\
         subject = \"Hello {{first_name}}\"\nbody = \"Hi {{first_name}}.\"\n";
    outpost::sequences::apply_sequence(
        store,
        "cfo.toml",
        sequence,
        &outpost::config::SendingConfig::default(),
        now,
    )
    .unwrap();
    let remote = RemoteEngine::new(&server.base, SecretString::from(API_TOKEN)).unwrap();
    let job = |job: Job| run(remote.clone(), job);

    match job(Job::LeadIndex).await {
        JobResult::LeadIndex(index) => assert_eq!(index.len(), 1),
        other => panic!("{other:?}"),
    }
    match job(Job::LeadRows {
        keys: vec![lead.key(), format!("{ACCOUNT}/gone@x.example")],
        tag_emails: Vec::new(),
    })
    .await
    {
        JobResult::LeadRows { found, missing, .. } => {
            assert_eq!(found, vec![lead.clone()]);
            assert_eq!(missing, vec![format!("{ACCOUNT}/gone@x.example")]);
        }
        other => panic!("{other:?}"),
    }
    let want = lead.clone();
    match job(Job::Variables {
        lead_key: lead.key(),
    })
    .await
    {
        JobResult::Variables { variables, lead } => {
            assert!(
                variables
                    .iter()
                    .any(|(n, v)| n == "first_name" && v.as_deref() == Some("Dana"))
            );
            assert_eq!(lead.expect("the lead, to fill snippets").key(), want.key());
        }
        other => panic!("{other:?}"),
    }
    match job(Job::Sequences).await {
        JobResult::Sequences(list) => assert_eq!(list[0].sequence.name, "cfo"),
        other => panic!("{other:?}"),
    }
    match job(Job::SequenceDetail { name: "cfo".into() }).await {
        JobResult::SequenceDetail(detail) => assert!(detail.is_some()),
        other => panic!("{other:?}"),
    }
    let done = |result: JobResult| match result {
        JobResult::Done(text) => text,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        done(
            job(Job::SetSequenceStatus {
                name: "cfo".into(),
                status: SequenceStatus::Paused,
            })
            .await
        ),
        "Sequence cfo paused"
    );
    assert!(matches!(
        job(Job::UpdateStepText {
            sequence: "cfo".into(),
            step: 0,
            variant: None,
            subject: None,
            body: "Hello again {{first_name}}.".into(),
        })
        .await,
        JobResult::StepSaved { step: 0, .. }
    ));
    match job(Job::UpdateStepText {
        sequence: "cfo".into(),
        step: 0,
        variant: None,
        subject: None,
        body: "Hi {{no_such_field}}".into(),
    })
    .await
    {
        JobResult::Failed(text) => assert!(text.starts_with("step not saved: "), "{text}"),
        other => panic!("{other:?}"),
    }
    // The text may go on to flag the lead's domain (the test's DNS knows
    // no mail server for it); what matters here is that it went through.
    let enrolled = done(
        job(Job::Enroll {
            sequence: "cfo".into(),
            email: lead.email.clone(),
            // What goes over the wire is tested here, not the guard.
            force: true,
        })
        .await,
    );
    assert!(
        enrolled.starts_with("Enrolled dana@ledgerly.example in cfo"),
        "{enrolled}"
    );
    assert_eq!(
        done(
            job(Job::PauseLead {
                email: lead.email.clone(),
            })
            .await
        ),
        "Paused 1 enrollment(s) of dana@ledgerly.example"
    );
    match job(Job::QueueNew {
        lead_key: lead.key(),
        draft_id: "d1".into(),
        subject: "Hi {{first_name}}".into(),
        body: "About {{company}}.".into(),
        delay_secs: 10,
    })
    .await
    {
        JobResult::Queued {
            item,
            draft_id,
            scheduled,
        } => {
            assert_eq!(draft_id, "d1");
            assert_eq!(scheduled, None);
            assert_eq!(item.email.subject, "Hi Dana");
            assert_eq!(item.email.text_body, "About Ledgerly.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        done(
            job(Job::Suppress {
                account: ACCOUNT.into(),
                email: lead.email.clone(),
            })
            .await
        ),
        "dana@ledgerly.example suppressed; enrollments stopped"
    );
    assert!(matches!(
        job(Job::RefreshThread {
            key: format!("{ACCOUNT}/none"),
        })
        .await,
        JobResult::Quiet
    ));
    assert!(matches!(job(Job::Stats).await, JobResult::Stats(_)));
    match job(Job::Enroll {
        sequence: "missing".into(),
        email: lead.email.clone(),
        force: false,
    })
    .await
    {
        JobResult::Failed(text) => {
            assert!(
                text.starts_with("not enrolled: no sequence named \"missing\";"),
                "{text}"
            )
        }
        other => panic!("{other:?}"),
    }
}
