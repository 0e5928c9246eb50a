//! The real Gmail client (login, token store, API calls, MIME) against the
//! real sandbox. Time is a FakeClock shared by the client and the sandbox.

use std::io::Write;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use outpost::clock::FakeClock;
use outpost::providers::gmail::mime::{self, Mailbox, ParsedEmail, ReplyDraft};
use outpost::providers::gmail::types::{Message, MessagePart};
use outpost::providers::gmail::{
    GMAIL_MODIFY_SCOPE, GmailClient, GmailClientConfig, GmailError, HistoryType, ListMessagesQuery,
    MessageFormat, OAuthParams, RetryPolicy, ThreadFormat, TokenSet, TokenStore, login_with_clock,
};
use outpost::sandbox::google::{InboundMessage, QuotaErrorStyle, QuotaSettings};
use outpost::sandbox::{self, Faults, SandboxHandle, SandboxOptions};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use url::Url;

const ACCOUNT: &str = "work-gmail";
/// Generous on both sides, so the tests never wait on quota pacing.
const QUOTA: u32 = 1_000_000;

struct Harness {
    sandbox: SandboxHandle,
    clock: FakeClock,
    data_dir: tempfile::TempDir,
    client: GmailClient,
}

/// Forwards what `login` prints, line by line, to the test.
struct LineSender {
    pending: Vec<u8>,
    lines: mpsc::UnboundedSender<String>,
}

impl Write for LineSender {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line).trim().to_string();
            // The test may have stopped listening; that is not an error here.
            let _ = self.lines.send(text);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn oauth_params(sandbox: &SandboxHandle) -> OAuthParams {
    let info = sandbox.info();
    OAuthParams {
        client_id: info.oauth_client_id.clone(),
        client_secret: SecretString::from(info.oauth_client_secret.clone()),
        auth_url: Url::parse(&info.oauth_auth_url).expect("auth url"),
        token_url: Url::parse(&info.oauth_token_url).expect("token url"),
        scopes: vec![GMAIL_MODIFY_SCOPE.to_string()],
    }
}

/// Runs `login` with `no_browser`, playing the browser: GET the printed
/// URL without following redirects, then GET the loopback `Location`.
async fn login_through_sandbox(sandbox: &SandboxHandle, clock: &FakeClock) -> TokenSet {
    let (sender, mut lines) = mpsc::unbounded_channel();
    let params = oauth_params(sandbox);
    let clock_for_login = clock.clone();
    let login = tokio::spawn(async move {
        let mut out = LineSender {
            pending: Vec::new(),
            lines: sender,
        };
        login_with_clock(params, true, &mut out, &clock_for_login).await
    });
    let auth_url = loop {
        let line = lines.recv().await.expect("login prints the URL");
        if line.starts_with("http://") || line.starts_with("https://") {
            break line;
        }
    };
    assert!(auth_url.starts_with(&sandbox.info().oauth_auth_url));
    assert!(
        !auth_url.contains(&sandbox.info().oauth_client_secret),
        "the client secret must never be in the authorization URL"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser");
    let approval = browser.get(&auth_url).send().await.expect("authorize");
    assert!(approval.status().is_redirection(), "{}", approval.status());
    let location = approval
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .expect("Location")
        .to_string();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    let landing = browser.get(&location).send().await.expect("loopback");
    assert!(landing.status().is_success());
    let tokens = login.await.expect("login task").expect("login");
    let printed: Vec<String> = std::iter::from_fn(|| lines.try_recv().ok()).collect();
    assert!(
        printed.iter().any(|line| line == "Signed in."),
        "{printed:?}"
    );
    tokens
}

async fn start() -> Harness {
    let clock = FakeClock::new(Utc.with_ymd_and_hms(2025, 6, 10, 12, 0, 0).unwrap());
    let sandbox = sandbox::start(SandboxOptions {
        leads: 200,
        seed: 5,
        clock: Arc::new(clock.clone()),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox");
    let mut quota = sandbox.google().quota();
    quota.units_per_minute = QUOTA;
    sandbox.google().set_quota(quota);

    let tokens = login_through_sandbox(&sandbox, &clock).await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let store = TokenStore::new(data_dir.path(), ACCOUNT).expect("store");
    store.save(&tokens).expect("save tokens");
    let client = GmailClient::new(GmailClientConfig {
        api_base_url: Url::parse(&sandbox.info().gmail_api_base_url).expect("api url"),
        user: "me".to_string(),
        account: ACCOUNT.to_string(),
        oauth: oauth_params(&sandbox),
        token_store: store,
        clock: Arc::new(clock.clone()),
        max_concurrency: 4,
    })
    .expect("client")
    .with_quota_units_per_minute(NonZeroU32::new(QUOTA).expect("non-zero"));
    Harness {
        sandbox,
        clock,
        data_dir,
        client,
    }
}

impl Harness {
    fn store(&self) -> TokenStore {
        TokenStore::new(self.data_dir.path(), ACCOUNT).expect("store")
    }

    fn stored_tokens(&self) -> TokenSet {
        self.store()
            .load()
            .expect("readable")
            .expect("tokens saved")
    }

    async fn all_ids(&self) -> Vec<String> {
        self.client
            .list_all_message_ids(
                &ListMessagesQuery {
                    max_results: Some(7),
                    ..ListMessagesQuery::default()
                },
                None,
            )
            .await
            .expect("list")
            .into_iter()
            .filter_map(|m| m.id)
            .collect()
    }
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .payload
        .as_ref()?
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Every part of a payload tree, depth first.
fn parts(root: Option<&MessagePart>) -> Vec<&MessagePart> {
    let mut found = Vec::new();
    let mut stack: Vec<&MessagePart> = root.into_iter().collect();
    while let Some(part) = stack.pop() {
        stack.extend(&part.parts);
        found.push(part);
    }
    found
}

#[tokio::test]
async fn login_saves_private_tokens_that_the_client_uses() {
    let h = start().await;
    let tokens = h.stored_tokens();
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.has_scope(GMAIL_MODIFY_SCOPE));
    assert!(tokens.expires_at.is_some_and(|at| at > h.clock_now()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(h.store().path().unwrap())
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let profile = h.client.profile().await.expect("profile");
    assert_eq!(
        profile.email_address.as_deref(),
        Some(h.sandbox.info().gmail_email.as_str())
    );
    assert_eq!(profile.history_id, Some(h.sandbox.google().history_id()));
    let labels = h.client.list_labels().await.expect("labels");
    assert!(labels.iter().any(|l| l.id.as_deref() == Some("INBOX")));
}

impl Harness {
    fn clock_now(&self) -> chrono::DateTime<Utc> {
        outpost::clock::Clock::now(&self.clock)
    }
}

#[tokio::test]
async fn every_message_in_every_format_and_every_thread() {
    let h = start().await;
    let ids = h.all_ids().await;
    let profile = h.client.profile().await.expect("profile");
    assert!(!ids.is_empty());
    assert!(ids.len() as u64 <= profile.messages_total.expect("messagesTotal"));
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "paging repeated a message");

    let full = h
        .client
        .get_messages(&ids, MessageFormat::Full)
        .await
        .expect("full");
    let raw = h
        .client
        .get_messages(&ids, MessageFormat::Raw)
        .await
        .expect("raw");
    let metadata = h
        .client
        .get_messages(&ids, MessageFormat::Metadata)
        .await
        .expect("metadata");
    let minimal = h
        .client
        .get_messages(&ids, MessageFormat::Minimal)
        .await
        .expect("minimal");
    assert_eq!(full.len(), ids.len());
    let (mut html_only, mut encoded_subject, mut attachments, mut fetched) = (false, false, 0, 0);
    for (((full, raw), metadata), minimal) in full.iter().zip(&raw).zip(&metadata).zip(&minimal) {
        for message in [full, raw, metadata, minimal] {
            assert_eq!(message.id, full.id);
            assert!(message.thread_id.is_some());
            assert!(message.history_id.is_some());
            assert!(message.internal_date.is_some());
        }
        assert!(full.payload.is_some() && full.raw.is_none());
        assert!(raw.raw.is_some() && raw.payload.is_none());
        assert!(minimal.payload.is_none() && minimal.raw.is_none());
        assert!(metadata.raw.is_none());
        assert!(header(metadata, "Message-ID").is_some());

        let from_full: ParsedEmail = mime::parse_gmail_message(full).expect("parse full");
        let from_raw: ParsedEmail = mime::parse_gmail_message(raw).expect("parse raw");
        assert!(from_raw.from.is_some(), "no From in {:?}", full.id);
        assert!(from_raw.message_id.is_some());
        assert_eq!(from_full.subject, from_raw.subject);
        assert_eq!(from_full.message_id, from_raw.message_id);
        assert_eq!(from_full.from, from_raw.from);
        assert!(
            from_raw
                .text_body
                .as_deref()
                .is_some_and(|t| !t.trim().is_empty()),
            "no readable text in {:?}",
            full.id
        );
        assert_eq!(
            from_full.text_body.as_deref().map(str::trim),
            from_raw.text_body.as_deref().map(str::trim)
        );
        // Wire form from the reference: `raw` padded, part data unpadded,
        // both URL-safe.
        let encoded = raw.raw.as_deref().unwrap_or_default();
        assert_eq!(encoded.len() % 4, 0, "raw is padded");
        assert!(!encoded.contains(['+', '/']), "raw is base64url");
        for part in parts(full.payload.as_ref()) {
            if let Some(data) = part.body.as_ref().and_then(|b| b.data.as_deref()) {
                assert!(
                    !data.contains(['=', '+', '/']),
                    "part data is unpadded base64url"
                );
            }
        }
        let bytes = outpost::providers::gmail::encoding::decode_base64_lenient(encoded)
            .expect("raw is base64url");
        let source = String::from_utf8_lossy(&bytes);
        if source.contains("Subject: =?") {
            encoded_subject = true;
            let subject = from_raw.subject.as_deref().unwrap_or_default();
            assert!(!subject.contains("=?"), "undecoded subject {subject}");
            assert!(!subject.is_ascii());
        }
        if from_raw.html_body.is_some() && !source.contains("text/plain") {
            html_only = true;
            assert_eq!(from_full.html_body, from_raw.html_body);
        }
        assert_eq!(from_full.attachments.len(), from_raw.attachments.len());
        for attachment in &from_full.attachments {
            attachments += 1;
            let Some(attachment_id) = &attachment.attachment_id else {
                continue;
            };
            let content = h
                .client
                .get_attachment(full.id.as_deref().unwrap_or_default(), attachment_id)
                .await
                .expect("attachment");
            assert_eq!(content.len() as u64, attachment.size);
            fetched += 1;
        }
    }
    assert!(html_only, "no HTML-only message was generated");
    assert!(encoded_subject, "no RFC 2047 subject was generated");
    assert!(attachments > 0, "no attachment was generated");
    assert!(fetched > 0, "no attachment was fetched by attachmentId");

    for thread_id in h.sandbox.google().thread_ids() {
        let thread = h
            .client
            .get_thread(&thread_id, ThreadFormat::Full)
            .await
            .expect("thread");
        assert_eq!(thread.id.as_deref(), Some(thread_id.as_str()));
        assert!(!thread.messages.is_empty());
        for message in &thread.messages {
            assert_eq!(message.thread_id.as_deref(), Some(thread_id.as_str()));
            mime::parse_gmail_message(message).expect("thread message parses");
        }
        let minimal = h
            .client
            .get_thread(&thread_id, ThreadFormat::Minimal)
            .await
            .expect("minimal thread");
        assert_eq!(minimal.messages.len(), thread.messages.len());
        assert!(minimal.messages.iter().all(|m| m.payload.is_none()));
        let metadata = h
            .client
            .get_thread(&thread_id, ThreadFormat::Metadata)
            .await
            .expect("metadata thread");
        assert_eq!(metadata.messages.len(), thread.messages.len());
    }
}

#[tokio::test]
async fn history_follows_inbound_mail_and_expires() {
    let h = start().await;
    let start_id = h
        .client
        .profile()
        .await
        .expect("profile")
        .history_id
        .expect("history id");
    let nothing = h
        .client
        .list_history_since(start_id, &[])
        .await
        .expect("empty history");
    assert!(nothing.records.is_empty());
    assert_eq!(nothing.history_id, Some(start_id));

    let contact = h.sandbox.gmail_contacts(1).remove(0);
    h.clock.advance(chrono::Duration::minutes(5));
    let injected = h
        .sandbox
        .google()
        .inject_inbound(InboundMessage {
            from: contact.clone(),
            thread_id: None,
            subject: Some("Quick question about pricing".into()),
            text: "Can you send the pricing sheet?".into(),
            html: Some("<p>Can you send the <b>pricing</b> sheet?</p>".into()),
        })
        .expect("inject");
    let delta = h
        .client
        .list_history_since(start_id, &[HistoryType::MessageAdded])
        .await
        .expect("history");
    let added: Vec<&str> = delta
        .records
        .iter()
        .flat_map(|r| &r.messages_added)
        .filter_map(|change| change.message.as_ref()?.id.as_deref())
        .collect();
    assert_eq!(added, [injected.id.as_str()]);
    let cursor = delta.history_id.expect("new cursor");
    assert!(
        cursor
            >= injected
                .history_id
                .parse::<u64>()
                .expect("numeric history id")
    );

    let message = h
        .client
        .get_message(&injected.id, MessageFormat::Full)
        .await
        .expect("get injected");
    assert!(message.label_ids.iter().any(|l| l == "INBOX"));
    assert!(message.label_ids.iter().any(|l| l == "UNREAD"));
    let parsed = mime::parse_gmail_message(&message).expect("parse");
    assert_eq!(
        parsed.subject.as_deref(),
        Some("Quick question about pricing")
    );
    assert_eq!(parsed.from.map(|m| m.address), Some(contact.email.clone()));
    assert_eq!(
        parsed.text_body.as_deref().map(str::trim),
        Some("Can you send the pricing sheet?")
    );
    assert_eq!(
        parsed.message_id.as_deref(),
        Some(mime::bare_message_id(&injected.message_id_header))
    );

    // Marking it read shows up as a label change after the cursor.
    h.client.mark_read(&injected.id).await.expect("mark read");
    let labels = h
        .client
        .list_history_since(cursor, &[HistoryType::LabelRemoved])
        .await
        .expect("label history");
    assert!(labels.records.iter().any(|r| {
        r.labels_removed
            .iter()
            .any(|c| c.label_ids.iter().any(|l| l == "UNREAD"))
    }));

    h.sandbox.google().forget_history_before_now();
    let stale = h.client.list_history_since(start_id, &[]).await;
    assert!(
        matches!(stale, Err(GmailError::HistoryExpired)),
        "{stale:?}"
    );
}

#[tokio::test]
async fn expired_access_tokens_refresh_and_revoked_grants_need_login() {
    let h = start().await;
    h.client.profile().await.expect("profile");
    let before = h.stored_tokens();

    // The server drops the token early: a 401, then a transparent refresh.
    h.sandbox.google().expire_all_access_tokens();
    h.client
        .profile()
        .await
        .expect("profile after server-side expiry");
    let refreshed = h.stored_tokens();
    assert_ne!(
        refreshed.access_token.expose_secret(),
        before.access_token.expose_secret()
    );
    assert_eq!(
        refreshed
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_string()),
        before
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_string()),
        "the refresh token is kept"
    );

    // Time passes beyond the token's life: refreshed before use.
    h.clock.advance(chrono::Duration::hours(2));
    h.client.profile().await.expect("profile after an hour");
    let later = h.stored_tokens();
    assert_ne!(
        later.access_token.expose_secret(),
        refreshed.access_token.expose_secret()
    );
    assert!(later.expires_at.is_some_and(|at| at > h.clock_now()));

    h.sandbox.google().revoke_all_refresh_tokens();
    h.sandbox.google().expire_all_access_tokens();
    let error = h.client.profile().await.expect_err("the grant is gone");
    assert!(matches!(error, GmailError::NeedsLogin { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "account work-gmail needs to log in again: run `outpost auth gmail --account work-gmail`"
    );
}

#[tokio::test]
async fn a_reply_lands_in_its_thread_with_threading_headers() {
    let h = start().await;
    let contact = h.sandbox.gmail_contacts(1).remove(0);
    let thread_id = h.sandbox.google().thread_ids().remove(0);
    let inbound = h
        .sandbox
        .google()
        .inject_inbound(InboundMessage {
            from: contact.clone(),
            thread_id: Some(thread_id.clone()),
            subject: None,
            text: "Tuesday works for me.".into(),
            html: None,
        })
        .expect("inject");
    let parent_message = h
        .client
        .get_message(&inbound.id, MessageFormat::Raw)
        .await
        .expect("parent");
    let parent = mime::parse_gmail_message(&parent_message).expect("parse parent");
    assert_eq!(
        parent_message.thread_id.as_deref(),
        Some(thread_id.as_str())
    );
    assert!(
        !parent.references.is_empty(),
        "an in-thread message has References"
    );

    let me = h.sandbox.info().gmail_email.clone();
    let message_id = format!("{}@outpost.example", uuid::Uuid::new_v4().simple());
    let raw = mime::build_reply(
        &parent,
        ReplyDraft {
            from: Mailbox::new(Some("Sales Rep"), &me),
            message_id: message_id.clone(),
            text_body: Some("Great, sending an invite for Tuesday 10:00 ET.".into()),
            ..ReplyDraft::default()
        },
    )
    .expect("build reply");
    let sent = h
        .client
        .send(&raw, parent_message.thread_id.as_deref())
        .await
        .expect("send");
    assert_eq!(sent.thread_id.as_deref(), Some(thread_id.as_str()));
    assert!(sent.label_ids.iter().any(|l| l == "SENT"));

    let log = h.sandbox.google().sent_messages();
    let last = log.last().expect("the sandbox kept the send");
    assert_eq!(Some(last.id.as_str()), sent.id.as_deref());
    assert_eq!(last.thread_id, thread_id);
    let logged = |name: &str| {
        last.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let parent_id = parent.message_id.clone().expect("parent Message-ID");
    assert_eq!(logged("In-Reply-To"), Some(format!("<{parent_id}>")));
    let references = logged("References").expect("References");
    let references: Vec<&str> = references.split_whitespace().collect();
    let mut expected: Vec<String> = parent.references.iter().map(|r| format!("<{r}>")).collect();
    expected.push(format!("<{parent_id}>"));
    assert_eq!(references, expected);
    let subject = logged("Subject").expect("Subject");
    assert_eq!(subject, mime::reply_subject(parent.subject.as_deref()));
    assert!(subject.starts_with("Re: ") && !subject.starts_with("Re: Re:"));

    // What was stored parses back to the same threading.
    let stored = mime::parse(&last.raw);
    assert_eq!(stored.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(stored.in_reply_to.as_deref(), Some(parent_id.as_str()));

    let found = h
        .client
        .find_by_message_id(&format!("<{message_id}>"))
        .await
        .expect("search")
        .expect("found by Message-ID");
    assert_eq!(found.id, sent.id);
    assert!(
        h.client
            .find_by_message_id("never-sent@outpost.example")
            .await
            .expect("search")
            .is_none()
    );
    let thread = h
        .client
        .get_thread(&thread_id, ThreadFormat::Metadata)
        .await
        .expect("thread");
    assert_eq!(thread.messages.last().and_then(|m| m.id.clone()), sent.id);
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 8,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
        min_rate_limited_wait: Duration::from_millis(2),
        // A quota hint a minute away is not waited for.
        max_total: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn faults_are_retried_for_reads_but_a_send_is_left_to_the_caller() {
    let mut h = start().await;
    h.client = h.client.with_retry_policy(quick_retries());
    let ids = h.all_ids().await;
    let clean = h
        .client
        .get_messages(&ids, MessageFormat::Metadata)
        .await
        .expect("clean read");

    h.sandbox
        .set_faults(Faults {
            error_rate: 0.2,
            latency_ms: 0,
        })
        .expect("faults");
    let faulted_ids = h.all_ids().await;
    let faulted = h
        .client
        .get_messages(&faulted_ids, MessageFormat::Metadata)
        .await
        .expect("read under faults");
    assert!(h.sandbox.counters().faults_injected > 0);
    assert_eq!(faulted_ids, ids);
    assert_eq!(faulted, clean);

    // A send that meets a 503 is not repeated: the caller must check first.
    let contact = h.sandbox.gmail_contacts(1).remove(0);
    let message_id = format!("{}@outpost.example", uuid::Uuid::new_v4().simple());
    let raw = mime::build_message(mime::OutgoingEmail {
        from: Mailbox::new(None, &h.sandbox.info().gmail_email),
        to: vec![Mailbox::new(Some(&contact.first_name), &contact.email)],
        subject: "Following up".into(),
        message_id: message_id.clone(),
        text_body: Some("Any thoughts on my last note?".into()),
        ..mime::OutgoingEmail::default()
    })
    .expect("build");
    h.sandbox
        .set_faults(Faults {
            error_rate: 1.0,
            latency_ms: 0,
        })
        .expect("faults");
    let injected_before = h.sandbox.counters().faults_injected;
    let outcome = h.client.send(&raw, None).await;
    assert!(
        matches!(outcome, Err(GmailError::SendOutcomeUnknown { .. })),
        "{outcome:?}"
    );
    assert_eq!(h.sandbox.counters().faults_injected, injected_before + 1);
    h.sandbox.set_faults(Faults::default()).expect("no faults");
    assert!(h.sandbox.google().sent_messages().is_empty());
    assert!(
        h.client
            .find_by_message_id(&message_id)
            .await
            .expect("search")
            .is_none(),
        "the failed send did not happen, so it is safe to send again"
    );
    let sent = h.client.send(&raw, None).await.expect("second send");
    let found = h
        .client
        .find_by_message_id(&message_id)
        .await
        .expect("search")
        .expect("found");
    assert_eq!(found.id, sent.id);
    assert_eq!(h.sandbox.google().sent_messages().len(), 1);
}

#[tokio::test]
async fn an_exhausted_quota_is_reported_by_reason_and_recovers() {
    for style in [
        QuotaErrorStyle::TooManyRequests,
        QuotaErrorStyle::UserRateLimitExceeded,
    ] {
        let mut h = start().await;
        h.client = h.client.with_retry_policy(quick_retries());
        let id = h.all_ids().await.remove(0);
        h.sandbox.google().set_quota(QuotaSettings {
            units_per_minute: 20,
            style,
        });
        h.clock.advance(chrono::Duration::minutes(2));
        for _ in 0..4 {
            h.client
                .get_message(&id, MessageFormat::Minimal)
                .await
                .expect("within quota");
        }
        // The next free unit is a minute away, longer than the client will
        // wait, so the error comes back with Google's reason.
        let error = h
            .client
            .get_message(&id, MessageFormat::Minimal)
            .await
            .expect_err("over quota");
        let expected = match style {
            QuotaErrorStyle::TooManyRequests => (429, "rateLimitExceeded"),
            QuotaErrorStyle::UserRateLimitExceeded => (403, "userRateLimitExceeded"),
        };
        assert!(
            matches!(&error, GmailError::Api { status, .. } if *status == expected.0),
            "{error:?}"
        );
        assert_eq!(error.reason(), Some(expected.1));
        h.clock.advance(chrono::Duration::seconds(61));
        h.client
            .get_message(&id, MessageFormat::Minimal)
            .await
            .expect("quota is back after a minute");
    }
}
