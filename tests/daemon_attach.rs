//! A client attached through `/api` sees a reply posted to the webhook
//! within a second, through the live change stream; and the real daemon
//! starts, advertises its API, refuses a second process and stops cleanly.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::*;
use outpost::engine::InboxQuery;
use outpost::engine::remote::{RemoteChange, RemoteEngine, RemoteError};
use outpost::store::{Change, Kind};
use secrecy::SecretString;

#[tokio::test]
async fn an_attached_client_sees_a_webhook_reply_within_a_second() {
    let server = TestServer::start().await;
    let remote = RemoteEngine::new(&server.base, SecretString::from(API_TOKEN)).unwrap();
    assert!(
        remote
            .inbox(&InboxQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
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
    let inbox = remote.inbox(&InboxQuery::default()).await.unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].key, thread_key);
    assert!(inbox[0].thread.unread);
    assert_eq!(poster.await.unwrap().unwrap(), 200);

    // The same commands work remotely.
    assert!(remote.mark_thread_read(&thread_key).await.unwrap());
    let view = remote.thread(&thread_key).await.unwrap().unwrap();
    assert!(!view.thread.unread);
    assert!(
        remote
            .thread("acme-smartlead/none")
            .await
            .unwrap()
            .is_none()
    );
    let lead = remote.lead("dana@ledgerly.example").await.unwrap().unwrap();
    assert!(!lead.timeline.is_empty());

    let wrong = RemoteEngine::new(&server.base, SecretString::from("nope")).unwrap();
    assert!(matches!(
        wrong.accounts().await,
        Err(RemoteError::Unauthorized)
    ));
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
