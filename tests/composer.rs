//! The composer a rep needs, driven as a user's script drives it (the
//! binary, or the door with an injected clock) against the sandbox: Cc and
//! Bcc reaching each provider as it expects them, reply-all, forwarding,
//! sending later, attachments through Gmail (and Smartlead's refusal, which
//! names the Gmail route), the account's signature, and all of it through a
//! daemon holding the data dir.

mod support;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use outpost::clock::{Clock, FakeClock};
use outpost::engine::door::{Request, Response};
use outpost::engine::{InboxQuery, ReplyDraft, ThreadView};
use outpost::model::{OutboxState, Provider};
use outpost::outbox::OutboxWorker;
use outpost::sandbox::google::SentMessage;
use outpost::sandbox::{self, SandboxOptions};
use outpost::sync::SyncEngine;
use serde_json::Value;
use support::{Cli, ClientLimit, rig};

/// The sandbox and a config pointed at it, the data dir free for the
/// binary.
struct CliRig {
    sandbox: outpost::sandbox::SandboxHandle,
    dir: tempfile::TempDir,
}

/// The rig with the rep's signature and display name set on the Gmail account.
async fn cli_rig(seed: u64) -> (CliRig, Cli) {
    let support::Rig {
        sandbox,
        dir,
        config_path,
        engine,
    } = support::fast_rig(200, seed).await;
    drop(engine);
    let text = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace(
            "[accounts.gm]\n",
            "[accounts.gm]\nsignature = \"Sam Carter\\nAcme\"\nfrom_name = \"Sam Carter\"\n",
        )
        .replace(
            "[accounts.sl]\n",
            "[accounts.sl]\nsignature = \"Sam at Acme\"\n",
        );
    std::fs::write(&config_path, text).unwrap();
    let cli = Cli {
        config: config_path,
    };
    (CliRig { sandbox, dir }, cli)
}

/// A campaign conversation that is in the rep's Gmail too, and one that is
/// only in Smartlead (its key).
struct Conversations {
    both: Value,
    smartlead_only: String,
}

impl Conversations {
    fn key(&self) -> &str {
        self.both["key"].as_str().unwrap()
    }

    fn gmail_thread_id(&self) -> String {
        let copy = self.both["thread"]["sources"][0].as_str().unwrap();
        copy.strip_prefix("gm/").unwrap().to_string()
    }

    fn lead(&self) -> String {
        self.both["thread"]["lead_email"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn subject(&self) -> String {
        self.both["thread"]["subject"].as_str().unwrap().to_string()
    }
}

async fn synced_conversations(cli: &Cli) -> Conversations {
    cli.ok(&["sync", "--once"]).await;
    let inbox = cli.json(&["inbox", "--json"]).await;
    let accounts = |row: &Value| -> Vec<String> {
        row["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    let rows = inbox.as_array().unwrap();
    let both = rows
        .iter()
        .find(|r| accounts(r) == ["sl", "gm"] && !r["thread"]["lead_email"].is_null())
        .expect("a campaign conversation sent through the rep's Gmail")
        .clone();
    let smartlead_only = rows
        .iter()
        .find(|r| accounts(r) == ["sl"])
        .expect("a campaign conversation sent through another mailbox")["key"]
        .as_str()
        .unwrap()
        .to_string();
    Conversations {
        both,
        smartlead_only,
    }
}

fn header<'a>(sent: &'a SentMessage, name: &str) -> Option<&'a str> {
    sent.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The lead writes again in the Gmail thread, to the rep and a colleague,
/// copying one more; with `attachment` (name, bytes) as a PDF.
fn lead_writes_to_several(
    rig: &CliRig,
    conversations: &Conversations,
    text: &str,
    attachment: Option<(&str, &[u8])>,
) {
    use base64::Engine as _;
    let mailbox = rig.sandbox.info().gmail_email.clone();
    let lead = conversations.lead();
    let subject = conversations.subject();
    let mut raw = format!(
        "From: Dana Lee <{lead}>\r\nTo: {mailbox}, cfo@ledgerly.example\r\n\
         Cc: ops@ledgerly.example\r\nSubject: Re: {subject}\r\n\
         Message-ID: <several.{}@ledgerly.example>\r\nDate: {}\r\nMIME-Version: 1.0\r\n",
        uuid::Uuid::new_v4().simple(),
        Utc::now().to_rfc2822(),
    );
    match attachment {
        None => raw.push_str(&format!(
            "Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        )),
        Some((name, bytes)) => raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
             --b1\r\nContent-Type: application/pdf; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )),
    }
    rig.sandbox
        .google()
        .inject_inbound_raw(raw.into_bytes(), Some(&conversations.gmail_thread_id()))
        .expect("the sandbox takes the message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cc_reaches_smartlead_as_its_string_and_gmail_as_a_header_and_bcc_stays_unseen() {
    let (rig, cli) = cli_rig(31).await;
    let conversations = synced_conversations(&cli).await;
    let key = conversations.key();
    let google = rig.sandbox.google().clone();

    // Smartlead's reply-email-thread: comma-separated strings.
    let item = cli
        .json(&[
            "reply",
            key,
            "--body",
            "Adding our AE.",
            "--cc",
            "ae@acme.example, cfo@ledgerly.example",
            "--bcc",
            "crm@acme.example",
            "--json",
        ])
        .await;
    assert_eq!(item["state"], "sent", "{item}");
    assert_eq!(item["route"], "smartlead");
    let posts = rig.sandbox.reply_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body["cc"], "ae@acme.example,cfo@ledgerly.example");
    assert_eq!(posts[0].body["bcc"], "crm@acme.example");
    // The account's own signature, and so none of Smartlead's besides.
    assert!(
        posts[0].body["email_body"]
            .as_str()
            .unwrap()
            .contains("Sam at Acme"),
        "{}",
        posts[0].body
    );
    assert_eq!(posts[0].body["add_signature"], false);

    // Gmail: a Cc header; the Bcc given to Gmail in the raw message only,
    // gone from the copy the others receive.
    let sends = google.sent_messages().len();
    cli.ok(&[
        "reply",
        key,
        "--via",
        "gmail",
        "--body",
        "Adding our AE here too.",
        "--cc",
        "ae@acme.example",
        "--bcc",
        "crm@acme.example",
    ])
    .await;
    let sent = google.sent_messages();
    assert_eq!(sent.len(), sends + 1);
    let ours = sent.last().unwrap();
    assert!(
        header(ours, "Cc").is_some_and(|cc| cc.contains("ae@acme.example")),
        "{:?}",
        ours.headers
    );
    assert!(String::from_utf8_lossy(&ours.raw).contains("crm@acme.example"));
    let delivered = String::from_utf8_lossy(&ours.delivered);
    assert!(!delivered.contains("crm@acme.example"), "{delivered}");
    assert!(delivered.contains("ae@acme.example"));

    // A bad address: exit 2, said clearly, nothing queued or sent.
    let queued = cli.outbox().await.len();
    let (code, out, err) = cli
        .run(&["reply", key, "--body", "Hi", "--cc", "ae at acme"])
        .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--cc") && err.contains("ae at acme"), "{err}");
    assert_eq!(cli.outbox().await.len(), queued);
    assert_eq!(rig.sandbox.reply_posts().len(), 1);
    assert_eq!(google.sent_messages().len(), sends + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_all_copies_everyone_else_on_the_message_but_the_rep() {
    let (rig, cli) = cli_rig(32).await;
    let conversations = synced_conversations(&cli).await;
    lead_writes_to_several(&rig, &conversations, "Looping in our CFO and ops.", None);
    cli.ok(&["sync", "--once"]).await;
    let key = conversations.key();
    let mailbox = rig.sandbox.info().gmail_email.clone();
    let google = rig.sandbox.google().clone();

    cli.ok(&[
        "reply",
        key,
        "--all",
        "--via",
        "gmail",
        "--body",
        "Thanks all.",
    ])
    .await;
    let ours = google.sent_messages().last().unwrap().clone();
    let to = header(&ours, "To").unwrap();
    assert!(to.contains(&conversations.lead()), "{to}");
    let cc = header(&ours, "Cc").unwrap();
    assert!(
        cc.contains("cfo@ledgerly.example") && cc.contains("ops@ledgerly.example"),
        "{cc}"
    );
    assert!(!cc.contains(&mailbox), "the rep copied themself: {cc}");
    assert!(!cc.contains(&conversations.lead()), "the lead twice: {cc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_goes_from_the_reps_gmail_with_fwd_the_original_and_its_attachment() {
    let (rig, cli) = cli_rig(33).await;
    let conversations = synced_conversations(&cli).await;
    lead_writes_to_several(
        &rig,
        &conversations,
        "Our redlines are attached.",
        Some(("terms.pdf", b"%PDF-1.4 redlines")),
    );
    cli.ok(&["sync", "--once"]).await;
    let key = conversations.key();
    let google = rig.sandbox.google().clone();
    let sends = google.sent_messages().len();

    let item = cli
        .json(&[
            "forward",
            key,
            "--to",
            "ae@acme.example",
            "--body",
            "Worth a look before Tuesday.",
            "--json",
        ])
        .await;
    assert_eq!(item["state"], "sent", "{item}");
    assert_eq!(item["attachments_left_out"], serde_json::json!([]));
    let sent = google.sent_messages();
    assert_eq!(sent.len(), sends + 1);
    let ours = sent.last().unwrap();
    let subject = header(ours, "Subject").unwrap();
    assert_eq!(subject, format!("Fwd: {}", conversations.subject()));
    assert!(header(ours, "From").unwrap().contains("Sam Carter"));
    assert!(header(ours, "In-Reply-To").is_none());
    assert_ne!(
        ours.thread_id,
        conversations.gmail_thread_id(),
        "a new thread"
    );
    let parsed = outpost::providers::gmail::mime::parse(&ours.raw);
    let text = parsed.text_body.unwrap().replace("\r\n", "\n");
    let note = text.find("Worth a look before Tuesday.").expect("the note");
    let signature = text.find("-- \nSam Carter\nAcme").expect("the signature");
    let block = text
        .find("---------- Forwarded message ---------")
        .expect("the forwarded block");
    let original = text
        .find("Our redlines are attached.")
        .expect("the original");
    assert!(
        note < signature && signature < block && block < original,
        "{text}"
    );
    assert!(text.contains(&format!("From: Dana Lee <{}>", conversations.lead())));
    assert!(text.contains("Subject: Re: "));
    assert_eq!(parsed.attachments.len(), 1, "{text}");
    assert_eq!(parsed.attachments[0].filename.as_deref(), Some("terms.pdf"));

    // Where Gmail cannot be asked for the bytes, the forward goes without
    // them and names what was left out.
    let store = outpost::store::Store::open(&rig.dir.path().join("data"), "test").unwrap();
    let offline = outpost::engine::Engine::new(store, Arc::new(outpost::clock::SystemClock));
    let request = Request::Forward {
        key: key.to_string(),
        forward: outpost::engine::ForwardDraft {
            to: vec!["ae@acme.example".into()],
            ..Default::default()
        },
        delay_secs: 10,
    };
    let Response::OutboxItem(queued) = offline.execute(request).await.unwrap() else {
        panic!("an outbox item");
    };
    assert_eq!(queued.attachments_left_out, vec!["terms.pdf".to_string()]);
    assert!(queued.email.attachments.is_empty());
    assert_eq!(queued.state, OutboxState::Pending);
    offline.flush().await.unwrap();
    drop(offline);

    // Smartlead cannot forward: said clearly, nothing queued or sent.
    let queued = cli.outbox().await.len();
    let (code, out, err) = cli
        .run(&[
            "forward",
            &conversations.smartlead_only,
            "--to",
            "ae@acme.example",
        ])
        .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("Smartlead") && err.contains("Gmail"), "{err}");
    assert_eq!(cli.outbox().await.len(), queued);
    assert_eq!(google.sent_messages().len(), sends + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_goes_through_gmail_and_smartlead_refuses_it_naming_the_gmail_route() {
    let (rig, cli) = cli_rig(34).await;
    let conversations = synced_conversations(&cli).await;
    let key = conversations.key();
    let google = rig.sandbox.google().clone();
    let deck = rig.dir.path().join("deck.pdf");
    std::fs::write(&deck, b"%PDF-1.4 the deck").unwrap();
    let deck = deck.to_str().unwrap();
    let sends = google.sent_messages().len();

    // Smartlead's reply endpoint cannot carry it: refused before queuing.
    let (code, out, err) = cli
        .run(&["reply", key, "--body", "The deck.", "--attach", deck])
        .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--via gmail"), "{err}");
    let (code, _, err) = cli
        .run(&[
            "reply",
            key,
            "--via",
            "gmail",
            "--body",
            "x",
            "--attach",
            "/nonexistent/a.pdf",
        ])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/a.pdf"), "{err}");
    // Over Gmail's 25 MB (a sparse file: the size is read before the bytes).
    let big = rig.dir.path().join("big.zip");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(26 * 1024 * 1024)
        .unwrap();
    let (code, _, err) = cli
        .run(&[
            "reply",
            key,
            "--via",
            "gmail",
            "--body",
            "x",
            "--attach",
            big.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("25 MB"), "{err}");
    assert!(cli.outbox().await.is_empty());
    assert!(rig.sandbox.reply_posts().is_empty());
    assert_eq!(google.sent_messages().len(), sends);

    // Through Gmail it goes, and the synced message shows it. The body
    // already ends with the signature: it is not added twice.
    cli.ok(&[
        "reply",
        key,
        "--via",
        "gmail",
        "--body",
        "The deck, as promised.\n-- \nSam Carter\nAcme",
        "--attach",
        deck,
    ])
    .await;
    let ours = google.sent_messages().last().unwrap().clone();
    let parsed = outpost::providers::gmail::mime::parse(&ours.raw);
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(parsed.attachments[0].mime_type, "application/pdf");
    assert_eq!(
        parsed.text_body.unwrap().matches("Sam Carter").count(),
        1,
        "the signature once"
    );
    cli.ok(&["sync", "--once"]).await;
    let thread = cli.json(&["thread", key, "--json"]).await;
    let with_deck: Vec<&Value> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["attachments"][0]["filename"] == "deck.pdf")
        .collect();
    assert_eq!(with_deck.len(), 1, "{thread}");
    assert_eq!(
        with_deck[0]["attachments"][0]["mime_type"],
        "application/pdf"
    );

    // Without the signature in the body it is appended; --no-signature leaves it off.
    cli.ok(&["reply", key, "--via", "gmail", "--body", "One more thing."])
        .await;
    let signed = google.sent_messages().last().unwrap().clone();
    let text = outpost::providers::gmail::mime::parse(&signed.raw)
        .text_body
        .unwrap()
        .replace("\r\n", "\n");
    assert!(
        text.contains("One more thing.\n-- \nSam Carter\nAcme"),
        "{text}"
    );
    cli.ok(&[
        "reply",
        key,
        "--via",
        "gmail",
        "--no-signature",
        "--body",
        "Unsigned.",
    ])
    .await;
    let unsigned = google.sent_messages().last().unwrap().clone();
    let text = outpost::providers::gmail::mime::parse(&unsigned.raw)
        .text_body
        .unwrap();
    assert!(!text.contains("Sam Carter"), "{text}");
}

fn start() -> DateTime<Utc> {
    "2026-03-02T15:00:00Z".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_for_later_leaves_once_at_its_time_and_never_before() {
    let clock = FakeClock::new(start());
    let rig = rig(
        SandboxOptions {
            leads: 200,
            seed: 35,
            rate_limit: sandbox::RateLimit::unlimited(),
            clock: Arc::new(clock.clone()),
            ..SandboxOptions::default()
        },
        ClientLimit(100_000, 1),
    )
    .await;
    let engine = rig.engine.clone();
    assert!(!SyncEngine::new(engine.clone()).sync_all().await.failed());
    let rows: Vec<ThreadView> = engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .filter(|r| r.thread.campaign_id.is_some() && r.thread.lead_email.is_some())
        .collect();
    let key = rows[0].key.clone();
    let reply = |send_at| Request::Reply {
        thread_key: key.clone(),
        reply: ReplyDraft {
            text: "Talk Tuesday.".into(),
            send_at: Some(send_at),
            ..ReplyDraft::default()
        },
    };

    // A time already passed is refused, and nothing is queued.
    let refused = engine
        .execute(reply(clock.now() - Duration::minutes(1)))
        .await
        .unwrap_err();
    assert!(refused.message.contains("already passed"), "{refused:?}");
    assert!(
        engine
            .outbox_in_state(OutboxState::Pending)
            .unwrap()
            .is_empty()
    );

    let at = clock.now() + Duration::hours(2);
    let item = match engine.execute(reply(at)).await.unwrap() {
        Response::OutboxItem(item) => item,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(item.state, OutboxState::Pending);
    assert_eq!(item.not_before, at);
    assert!(item.is_scheduled(clock.now()));
    let worker = OutboxWorker::new(engine.clone());
    worker.send_due().await.unwrap();
    clock.advance(Duration::minutes(119));
    worker.send_due().await.unwrap();
    assert!(rig.sandbox.reply_posts().is_empty(), "sent before its time");

    clock.advance(Duration::minutes(1));
    let handled = worker.send_due().await.unwrap();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].state, OutboxState::Sent);
    clock.advance(Duration::hours(1));
    worker.send_due().await.unwrap();
    let posts = rig.sandbox.reply_posts();
    assert_eq!(posts.len(), 1, "sent once");
    assert!(
        posts[0].body["email_body"]
            .as_str()
            .unwrap()
            .contains("Talk Tuesday.")
    );
    let stored = engine.outbox_item(&item.id).unwrap().unwrap();
    assert_eq!(stored.state, OutboxState::Sent);
    assert_eq!(stored.provider, Provider::Smartlead);

    // A new email from an account with a signature ends with it.
    let signed = engine
        .clone()
        .with_settings(outpost::engine::EngineSettings {
            signatures: [("gm".to_string(), "Sam Carter".to_string())].into(),
            ..Default::default()
        });
    let lead = rows[0].thread.lead_email.clone().unwrap();
    let request = Request::QueueNew {
        lead_key: outpost::model::Lead::key_for("sl", &lead),
        subject: "Quick question".into(),
        body: "Hi there".into(),
        delay_secs: 60,
    };
    let Response::OutboxItem(new) = signed.execute(request).await.unwrap() else {
        panic!("an outbox item");
    };
    assert_eq!(new.email.text_body, "Hi there\n-- \nSam Carter");
}

/// Waits (up to `secs`) until the data dir is held by a process of `mode`.
async fn wait_for_holder(data_dir: &Path, mode: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while outpost::store::current_holder(data_dir).is_none_or(|h| h.mode != mode) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {mode} holds the data dir"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_daemon_holds_the_data_dir_a_reply_for_later_and_a_forward_go_through_it() {
    let (rig, cli) = cli_rig(36).await;
    let conversations = synced_conversations(&cli).await;
    let key = conversations.key().to_string();
    let data_dir = rig.dir.path().join("data");
    let mut text = std::fs::read_to_string(&cli.config).unwrap();
    text.push_str("\n[daemon]\nlisten = \"127.0.0.1:0\"\nwebhook_secret = \"8d1f0c8e-3c55-4b0e-9f6a-2a7d1c9b4e11\"\n");
    std::fs::write(&cli.config, text).unwrap();
    let config = support::load_config(&cli.config);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let daemon = tokio::spawn(outpost::daemon::run(
        config,
        None,
        shutdown.clone(),
        Some(ready_tx),
    ));
    ready.await.expect("the daemon starts");
    wait_for_holder(&data_dir, "daemon").await;

    // A reply for later: scheduled at once, listed, then cancelled.
    let item = cli
        .json(&[
            "reply",
            &key,
            "--body",
            "Talk Tuesday.",
            "--cc",
            "ae@acme.example",
            "--at",
            "2h",
            "--json",
        ])
        .await;
    assert_eq!(item["state"], "scheduled", "{item}");
    let not_before: DateTime<Utc> = item["not_before"].as_str().unwrap().parse().unwrap();
    let ahead = not_before - Utc::now();
    assert!(
        ahead > Duration::minutes(115) && ahead <= Duration::hours(2),
        "{not_before}"
    );
    let id = item["id"].as_str().unwrap().to_string();
    let listed = cli.ok(&["outbox", "list"]).await;
    assert!(
        listed.contains("scheduled") && listed.contains(&id[..8]),
        "{listed}"
    );
    let (code, _, err) = cli
        .run(&["reply", &key, "--body", "x", "--at", "2020-01-01T00:00:00Z"])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already passed"), "{err}");
    cli.ok(&["outbox", "cancel", &id]).await;
    let cancelled: Vec<Value> = cli
        .outbox()
        .await
        .into_iter()
        .filter(|i| i["id"] == id.as_str())
        .collect();
    assert_eq!(cancelled[0]["state"], "cancelled");
    assert!(rig.sandbox.reply_posts().is_empty());

    // An attachment larger than a plain request travels through the door whole.
    let deck = rig.dir.path().join("deck.pdf");
    let bytes: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(&deck, &bytes).unwrap();
    let sends = rig.sandbox.google().sent_messages().len();
    let item = cli
        .json(&[
            "reply",
            &key,
            "--via",
            "gmail",
            "--body",
            "The deck.",
            "--attach",
            deck.to_str().unwrap(),
            "--json",
        ])
        .await;
    assert_eq!(item["state"], "sent", "{item}");
    assert_eq!(item["email"]["attachments"][0]["size"], bytes.len());
    let ours = rig.sandbox.google().sent_messages()[sends].clone();
    let parsed = outpost::providers::gmail::mime::parse(&ours.raw);
    assert_eq!(parsed.attachments[0].size, bytes.len() as u64);

    // A forward leaves through the daemon's Gmail client.
    let sends = rig.sandbox.google().sent_messages().len();
    let item = cli
        .json(&["forward", &key, "--to", "ae@acme.example", "--json"])
        .await;
    assert_eq!(item["state"], "sent", "{item}");
    assert_eq!(rig.sandbox.google().sent_messages().len(), sends + 1);

    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), daemon)
        .await
        .expect("the daemon stops")
        .unwrap()
        .unwrap();
}
