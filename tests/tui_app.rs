//! The TUI on ratatui's TestBackend over a realistic cache: every pane is
//! checked by an insta snapshot, and scripted keys drive the app through
//! opening a thread, replying, sending, undoing, setting a category,
//! filtering leads, opening a lead's timeline, stats and sequences.

// Fixture builders take every field positionally so the data reads as a table.
#![allow(clippy::too_many_arguments)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use outpost::clock::FakeClock;
use outpost::config::Notify;
use outpost::engine::{Engine, InboxQuery};
use outpost::model::*;
use outpost::store::{Change, Store, SyncProgress};
use outpost::tui::action::Screen;
use outpost::tui::{App, Effect, Keymap, Theme, jobs, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::broadcast;

#[allow(dead_code)]
#[path = "support/dns.rs"]
mod dns;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

const NOW: &str = "2026-03-10T15:00:00Z";

fn account(name: &str, provider: Provider, email: &str) -> Account {
    Account {
        name: name.into(),
        provider,
        email: Some(email.into()),
        needs_login: false,
        last_sync_ok: Some(at("2026-03-10T14:56:00Z")),
        last_error: None,
        categories: Vec::new(),
    }
}

fn lead(
    email: &str,
    first: &str,
    last: &str,
    company: &str,
    campaign: (i64, &str),
    last_event: (EventType, &str),
) -> Lead {
    let mut l = Lead::new("acme-smartlead", email);
    l.first_name = Some(first.into());
    l.last_name = Some(last.into());
    l.company = Some(company.into());
    l.linkedin_url = Some(format!(
        "https://linkedin.com/in/{}-{}",
        first.to_lowercase(),
        last.to_lowercase()
    ));
    l.timezone = Some("America/New_York".into());
    l.custom_fields = BTreeMap::from([("role".to_string(), "VP Finance".to_string())]);
    l.memberships = vec![Membership {
        campaign_id: campaign.0,
        campaign_name: Some(campaign.1.into()),
        map_id: Some(2_400_000 + campaign.0),
        status: Some("INPROGRESS".into()),
        category_id: None,
    }];
    l.last_event = Some(last_event.0);
    l.last_event_at = Some(at(last_event.1));
    l
}

fn counts(sent: u64, opened: u64, clicked: u64, replied: u64, bounced: u64) -> Counts {
    Counts {
        sent,
        unique_sent: sent * 9 / 10,
        opened: opened + opened / 3,
        unique_opened: opened,
        clicked: clicked + 2,
        unique_clicked: clicked,
        replied,
        bounced,
        unsubscribed: replied / 4,
        spam_reported: 0,
        blocked: 0,
    }
}

fn message(
    account: &str,
    id: &str,
    thread: &str,
    dir: Direction,
    from: (&str, &str),
    to: &str,
    subject: &str,
    date: &str,
    body: &str,
) -> Message {
    Message {
        account: account.into(),
        provider_id: id.into(),
        thread_key: thread.into(),
        direction: dir,
        message_id: Some(format!("<{id}@mail.example>")),
        in_reply_to: None,
        references: Vec::new(),
        from: Address {
            name: Some(from.0.into()),
            email: from.1.into(),
        },
        to: vec![Address::new(to)],
        cc: Vec::new(),
        subject: subject.into(),
        date: at(date),
        text_body: body.into(),
        html_body: None,
        attachments: Vec::new(),
        read: dir == Direction::Outbound,
        labels: Vec::new(),
        smartlead: None,
    }
}

fn thread(
    account: &str,
    provider: Provider,
    id: &str,
    subject: &str,
    lead: &str,
    campaign: Option<(i64, &str)>,
    last: &str,
    unread: bool,
    snippet: &str,
) -> Thread {
    Thread {
        account: account.into(),
        provider,
        provider_thread_id: id.into(),
        subject: subject.into(),
        lead_email: Some(lead.into()),
        campaign_id: campaign.map(|c| c.0),
        campaign_name: campaign.map(|c| c.1.to_string()),
        last_message_at: at(last),
        last_inbound_at: Some(at(last)),
        message_count: 2,
        unread,
        has_reply: true,
        category: None,
        snippet: snippet.into(),
        participants: vec![lead.into()],
        lead_name: None,
        preview: String::new(),
        answered_last: false,
        merged_into: None,
        sources: Vec::new(),
    }
}

/// A small but realistic cache: both providers, leads with events, two
/// campaigns with daily stats, mailboxes, a sequence with enrollments.
fn fixture(store: &Store) {
    store
        .put(&account(
            "acme-smartlead",
            Provider::Smartlead,
            "sam@acme.io",
        ))
        .unwrap();
    store
        .put(&account("me-gmail", Provider::Gmail, "sam@acme.io"))
        .unwrap();

    let cfo = (3101, "Q1 CFO outreach");
    let cto = (3102, "Fintech CTOs");
    // The CFO campaign sends from one mailbox, so its bounces are that
    // mailbox's; the CTO campaign rotates both.
    for (c, sent, o, cl, r, b, senders) in [
        (cfo, 812, 231, 40, 26, 9, vec![11]),
        (cto, 430, 150, 12, 7, 21, vec![11, 12]),
    ] {
        store
            .put(&Campaign {
                account: "acme-smartlead".into(),
                id: c.0,
                name: c.1.into(),
                status: "ACTIVE".into(),
                client_id: None,
                parent_campaign_id: None,
                created_at: Some(at("2026-02-01T09:00:00Z")),
                sequence_count: 3,
                counts: counts(sent, o, cl, r, b),
                lead_stats: LeadStats {
                    total: sent / 2,
                    ..LeadStats::default()
                },
                email_account_ids: senders,
                timezone: Some("America/New_York".into()),
                synced_at: Some(at("2026-03-10T14:56:00Z")),
            })
            .unwrap();
        for day in 0..10u64 {
            let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + Duration::days(day as i64);
            store
                .put(&CampaignDay {
                    account: "acme-smartlead".into(),
                    campaign_id: c.0,
                    date,
                    counts: counts(
                        sent / 10,
                        o / 10 + day * 2,
                        cl / 10 + day % 3,
                        r / 10 + day % 2,
                        b / 10,
                    ),
                })
                .unwrap();
        }
    }
    for (id, email, sent, limit, spam) in [
        (11, "sam@acme.io", 38, 50, 1),
        (12, "sam@acme-mail.io", 12, 40, 0),
    ] {
        store
            .put(&Mailbox {
                account: "acme-smartlead".into(),
                id,
                from_email: email.into(),
                from_name: Some("Sam Rivera".into()),
                kind: Some("GMAIL".into()),
                daily_limit: Some(limit),
                sent_today: Some(sent),
                warmup_status: Some("ACTIVE".into()),
                warmup_reputation: Some("98%".into()),
                warmup_sent: Some(120),
                warmup_spam: Some(spam),
                client_id: None,
            })
            .unwrap();
    }

    let leads = vec![
        lead(
            "dana@northwind.example",
            "Dana",
            "Whitfield",
            "Northwind Traders",
            cfo,
            (EventType::EmailReplied, "2026-03-10T13:40:00Z"),
        ),
        lead(
            "lee@contoso.example",
            "Lee",
            "Park",
            "Contoso",
            cto,
            (EventType::EmailReplied, "2026-03-10T11:05:00Z"),
        ),
        lead(
            "ana@fabrikam.example",
            "Ana",
            "Souza",
            "Fabrikam",
            cfo,
            (EventType::EmailOpened, "2026-03-09T16:20:00Z"),
        ),
        lead(
            "raj@northwind.example",
            "Raj",
            "Iyer",
            "Northwind Traders",
            cto,
            (EventType::EmailClicked, "2026-03-08T10:00:00Z"),
        ),
        lead(
            "mia@tailspin.example",
            "Mia",
            "Chen",
            "Tailspin Toys",
            cfo,
            (EventType::EmailSent, "2026-03-07T09:30:00Z"),
        ),
        lead(
            "omar@litware.example",
            "Omar",
            "Haddad",
            "Litware",
            cto,
            (EventType::EmailBounced, "2026-03-06T09:30:00Z"),
        ),
    ];
    store.put_all(&leads).unwrap();

    let events: Vec<EmailEvent> = [
        (EventType::EmailSent, "2026-03-02T14:00:00Z", 1),
        (EventType::EmailOpened, "2026-03-02T15:10:00Z", 1),
        (EventType::EmailSent, "2026-03-05T14:00:00Z", 2),
        (EventType::EmailFollowUpOpened, "2026-03-06T08:45:00Z", 2),
        (EventType::EmailClicked, "2026-03-06T08:46:00Z", 2),
        (EventType::EmailFollowUpReplied, "2026-03-10T13:40:00Z", 2),
    ]
    .iter()
    .map(|(kind, when, step)| {
        let dedupe = format!("{kind}|dana|{when}");
        EmailEvent {
            id: EmailEvent::id_for("acme-smartlead", &dedupe),
            account: "acme-smartlead".into(),
            kind: *kind,
            lead_email: "dana@northwind.example".into(),
            campaign_id: Some(cfo.0),
            sequence_number: Some(*step),
            at: at(when),
            source: EventSource::Sync,
            dedupe_key: dedupe,
            message_id: None,
            detail: (*kind == EventType::EmailClicked)
                .then(|| "https://acme.io/pricing".to_string()),
        }
    })
    .collect();
    let mut activity = Activity::new("acme-smartlead", "dana@northwind.example");
    for event in events {
        activity.insert(event);
    }
    store.put(&activity).unwrap();

    let sl_key = Thread::key_for("acme-smartlead", "3101:9001");
    let mut sl_thread = thread(
        "acme-smartlead",
        Provider::Smartlead,
        "3101:9001",
        "Quick question about Q2 close",
        "dana@northwind.example",
        Some(cfo),
        "2026-03-10T13:40:00Z",
        true,
        "Thanks Sam, happy to chat. Does Thursday at 2pm work?",
    );
    sl_thread.category = Some(Category {
        id: 1,
        name: "Interested".into(),
        sentiment: Some("positive".into()),
    });
    let gm_key = Thread::key_for("me-gmail", "18e0a1b2c3d4");
    let gm_thread = thread(
        "me-gmail",
        Provider::Gmail,
        "18e0a1b2c3d4",
        "Re: Intro from Priya",
        "lee@contoso.example",
        None,
        "2026-03-10T11:05:00Z",
        true,
        "Sure, send over the deck and a couple of times next week.",
    );
    let ooo_key = Thread::key_for("acme-smartlead", "3102:9002");
    let mut ooo = thread(
        "acme-smartlead",
        Provider::Smartlead,
        "3102:9002",
        "Fintech CTOs: a 10-minute idea",
        "raj@northwind.example",
        Some(cto),
        "2026-03-08T10:00:00Z",
        false,
        "I am out of the office until March 16 with limited access to email.",
    );
    ooo.category = Some(Category {
        id: 6,
        name: "Out Of Office".into(),
        sentiment: None,
    });
    store.put_all(&[sl_thread, gm_thread, ooo]).unwrap();

    let mut sl_in = message(
        "acme-smartlead",
        "sl-9001-2",
        &sl_key,
        Direction::Inbound,
        ("Dana Whitfield", "dana@northwind.example"),
        "sam@acme.io",
        "Re: Quick question about Q2 close",
        "2026-03-10T13:40:00Z",
        "Thanks Sam, happy to chat. Does Thursday at 2pm work?\n\nDana\n\nOn Thu, Mar 5, 2026 Sam Rivera wrote:\n> Hi Dana, following up on my note about closing Q2 faster.\n> Worth a 15-minute call?",
    );
    sl_in.smartlead = Some(SmartleadRef {
        campaign_id: cfo.0,
        lead_id: 9001,
        stats_id: Some("a1b2c3".into()),
        sequence_number: Some(2),
    });
    let sl_out = message(
        "acme-smartlead",
        "sl-9001-1",
        &sl_key,
        Direction::Outbound,
        ("Sam Rivera", "sam@acme.io"),
        "dana@northwind.example",
        "Quick question about Q2 close",
        "2026-03-05T14:00:00Z",
        "Hi Dana, following up on my note about closing Q2 faster.\nWorth a 15-minute call?",
    );
    let gm_out = message(
        "me-gmail",
        "18e0a1b2c3d4-1",
        &gm_key,
        Direction::Outbound,
        ("Sam Rivera", "sam@acme.io"),
        "lee@contoso.example",
        "Intro from Priya",
        "2026-03-09T17:00:00Z",
        "Hi Lee, Priya suggested we talk about payment reconciliation.",
    );
    let mut gm_in = message(
        "me-gmail",
        "18e0a1b2c3d4-2",
        &gm_key,
        Direction::Inbound,
        ("Lee Park", "lee@contoso.example"),
        "sam@acme.io",
        "Re: Intro from Priya",
        "2026-03-10T11:05:00Z",
        "",
    );
    gm_in.html_body = Some("<p>Sure, send over the <b>deck</b> and a couple of times next week.</p><blockquote>Hi Lee, Priya suggested we talk</blockquote>".into());
    let ooo_in = message(
        "acme-smartlead",
        "sl-9002-1",
        &ooo_key,
        Direction::Inbound,
        ("Raj Iyer", "raj@northwind.example"),
        "sam@acme.io",
        "Automatic reply",
        "2026-03-08T10:00:00Z",
        "I am out of the office until March 16 with limited access to email.",
    );
    store
        .put_all(&[sl_out, sl_in, gm_out, gm_in, ooo_in])
        .unwrap();

    let window = SendingWindow {
        start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
    };
    let email_step = |name: &str, subject: &str| Step {
        name: name.into(),
        kind: StepKind::Email {
            variants: vec![Variant {
                label: "A".into(),
                weight: 1,
                subject: subject.into(),
                body: "Hi {{first_name}}".into(),
            }],
            same_thread: subject.is_empty(),
        },
        source_line: None,
    };
    store
        .put(&Sequence {
            name: "cfo-q2".into(),
            account: "me-gmail".into(),
            description: "CFOs at Series B fintechs".into(),
            category: SequenceCategory::ColdOutreach,
            status: SequenceStatus::Active,
            settings: SequenceSettings {
                pause_on_reply: true,
                pause_on_meeting_booked: true,
                pause_on_bounce: true,
                pause_on_unsubscribe: true,
                stop_company_on_reply: false,
                skip_weekends: true,
                holidays: Vec::new(),
                daily_limit_per_mailbox: 50,
                window,
                timezone: "America/New_York".into(),
                random_gap_secs: (60, 300),
                ooo_resume_days: 7,
                track_opens: true,
                track_clicks: true,
                plain_text: false,
            },
            send_via: SendVia {
                provider: Provider::Gmail,
                account: "me-gmail".into(),
                mailboxes: vec!["sam@acme.io".into()],
                campaign_id: None,
            },
            steps: vec![
                email_step("intro", "Closing Q2 faster"),
                Step {
                    name: "wait 3 days".into(),
                    kind: StepKind::Wait {
                        days: 3,
                        hours: 0,
                        business_days: true,
                    },
                    source_line: None,
                },
                email_step("bump", ""),
            ],
            source_file: None,
            created_at: at("2026-03-01T09:00:00Z"),
            updated_at: at("2026-03-01T09:00:00Z"),
        })
        .unwrap();
    let enrollment = |id: &str,
                      email: &str,
                      state: EnrollmentState,
                      step: usize,
                      due: Option<&str>| Enrollment {
        id: id.into(),
        account: "me-gmail".into(),
        sequence: "cfo-q2".into(),
        lead_email: email.into(),
        state,
        reason: (state == EnrollmentState::Paused).then(|| "replied on 2026-03-10".to_string()),
        current_step: step,
        next_due_at: due.map(at),
        enrolled_at: at("2026-03-02T09:00:00Z"),
        started_at: at("2026-03-02T09:00:00Z"),
        updated_at: at("2026-03-02T09:00:00Z"),
        mailbox: Some("sam@acme.io".into()),
        thread_id: None,
        last_message_id: None,
        references: Vec::new(),
        last_subject: None,
        variants: BTreeMap::new(),
        resume_at: None,
    };
    store
        .put_all(&[
            enrollment(
                "enr-1",
                "ana@fabrikam.example",
                EnrollmentState::Active,
                1,
                Some("2026-03-11T14:00:00Z"),
            ),
            enrollment(
                "enr-2",
                "mia@tailspin.example",
                EnrollmentState::Active,
                0,
                Some("2026-03-10T16:30:00Z"),
            ),
            enrollment(
                "enr-3",
                "dana@northwind.example",
                EnrollmentState::Paused,
                2,
                None,
            ),
        ])
        .unwrap();
    let exec = |enr: &str, step: usize| StepExecution {
        enrollment_id: enr.into(),
        account: "me-gmail".into(),
        sequence: "cfo-q2".into(),
        step,
        variant: Some("A".into()),
        outcome: ExecutionOutcome::Sent,
        provider_id: None,
        message_id: None,
        error: None,
        attempts: 1,
        at: at("2026-03-03T14:00:00Z"),
    };
    store
        .put_all(&[exec("enr-1", 0), exec("enr-3", 0), exec("enr-3", 1)])
        .unwrap();
}

struct Harness {
    app: App,
    engine: Engine,
    clock: FakeClock,
    feed: broadcast::Receiver<Change>,
    terminal: Terminal<TestBackend>,
}

impl Harness {
    fn new() -> Harness {
        Self::with_theme(Theme::new(&BTreeMap::new(), false).unwrap())
    }

    fn with_theme(theme: Theme) -> Harness {
        let store = Store::temporary().unwrap();
        fixture(&store);
        let clock = FakeClock::new(at(NOW));
        // The sequence detail's preflight asks a DNS server on loopback.
        let engine = Engine::new(store, Arc::new(clock.clone())).with_settings(
            outpost::engine::EngineSettings {
                sending: outpost::config::SendingConfig {
                    dns_server: Some(dns::shared()),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        let feed = engine.subscribe();
        let mut app = App::new(
            Keymap::defaults(),
            theme,
            Arc::new(clock.clone()),
            10,
            Notify::Bell,
        );
        // Times the rep reads, in a named zone whatever the machine's.
        app.zone = outpost::triage::RepZone::Named(chrono_tz::UTC);
        Harness {
            app,
            engine,
            clock,
            feed,
            terminal: Terminal::new(TestBackend::new(120, 32)).unwrap(),
        }
    }

    /// Runs queued jobs and feeds store changes back until nothing is left.
    async fn settle(&mut self) {
        loop {
            let mut busy = false;
            for job in self.app.take_jobs() {
                busy = true;
                let result = jobs::run(self.engine.clone(), job).await;
                self.app.apply(result);
            }
            while let Ok(change) = self.feed.try_recv() {
                busy = true;
                self.app.on_change(change);
            }
            if !busy {
                break;
            }
        }
    }

    async fn keys(&mut self, keys: &str) {
        for token in keys.split_whitespace() {
            let event = match token {
                "enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
                "esc" => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
                "bksp" => KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
                "space" => KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE),
                "down" => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
                t if t.starts_with("C-") => KeyEvent::new(
                    KeyCode::Char(t.chars().nth(2).unwrap()),
                    KeyModifiers::CONTROL,
                ),
                t => {
                    let c = t.chars().next().unwrap();
                    let mods = if c.is_ascii_uppercase() {
                        KeyModifiers::SHIFT
                    } else {
                        KeyModifiers::NONE
                    };
                    KeyEvent::new(KeyCode::Char(c), mods)
                }
            };
            self.app.handle_key(event);
            self.settle().await;
        }
    }

    async fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.app
                .handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        self.settle().await;
    }

    fn screen(&mut self) -> String {
        self.terminal
            .draw(|f| view::draw(f, &mut self.app))
            .unwrap();
        buffer_text(self.terminal.backend().buffer())
    }
}

fn buffer_text(buffer: &ratatui::buffer::Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn inbox_thread_reply_send_undo_and_category() {
    let mut h = Harness::new();
    h.settle().await;
    insta::assert_snapshot!("inbox", h.screen());

    // The Gmail conversation is second (newest first); open it.
    h.keys("j enter").await;
    assert_eq!(h.app.screen(), Screen::Thread);
    insta::assert_snapshot!("thread", h.screen());
    let gm_key = Thread::key_for("me-gmail", "18e0a1b2c3d4");
    let stored = h.engine.thread(&gm_key).unwrap().unwrap();
    assert!(!stored.thread.unread, "opening marks the thread read");
    h.keys("h z").await;
    insta::assert_snapshot!("thread_headers_unfolded", h.screen());

    // Reply, send, undo: the outbox item is cancelled and the text comes back.
    h.keys("r").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    h.type_text("Thanks Lee, Tuesday at 10 works.").await;
    insta::assert_snapshot!("compose", h.screen());
    h.keys("C-s").await;
    let pending = h
        .app
        .pending_send
        .clone()
        .expect("a send in its undo window");
    let item = h.engine.outbox_item(&pending.id).unwrap().unwrap();
    assert_eq!(item.state, OutboxState::Pending);
    assert_eq!(item.email.to, ["lee@contoso.example"]);
    assert_eq!(item.not_before, at(NOW) + Duration::seconds(10));
    h.clock.advance(Duration::seconds(3));
    insta::assert_snapshot!("undo_countdown", h.screen());
    h.keys("u").await;
    let item = h.engine.outbox_item(&pending.id).unwrap().unwrap();
    assert_eq!(item.state, OutboxState::Cancelled);
    assert_eq!(h.app.screen(), Screen::Compose);
    assert_eq!(typed(&h.app), "Thanks Lee, Tuesday at 10 works.");

    // Send again; the outbox worker (simulated) cannot confirm it at first,
    // and the bar says what it is waiting for; then it is delivered.
    h.keys("C-s").await;
    let pending = h.app.pending_send.clone().unwrap();
    let mut item = h.engine.outbox_item(&pending.id).unwrap().unwrap();
    item.state = OutboxState::Sending;
    item.last_error = Some("not in the lead's Smartlead history yet".into());
    outpost::testing::store(&h.engine).put(&item).unwrap();
    h.settle().await;
    assert!(
        h.screen()
            .contains("Sending to lee@contoso.example… not in the lead's Smartlead history yet"),
        "{}",
        h.screen()
    );
    item.state = OutboxState::Sent;
    item.last_error = None;
    outpost::testing::store(&h.engine).put(&item).unwrap();
    h.settle().await;
    assert!(h.app.pending_send.is_none());
    assert!(h.screen().contains("Sent to lee@contoso.example"));

    // Esc in the composer keeps a draft.
    h.keys("r").await;
    h.type_text("A second thought").await;
    h.keys("esc").await;
    let draft = h
        .engine
        .draft_for_thread(&gm_key)
        .unwrap()
        .expect("draft kept");
    assert!(
        draft.body.starts_with("A second thought\n\nOn "),
        "{}",
        draft.body
    );

    // Set a category on the Gmail thread (no remote call for Gmail).
    h.keys("c").await;
    insta::assert_snapshot!("category_picker", h.screen());
    h.keys("j enter").await;
    let stored = h.engine.thread(&gm_key).unwrap().unwrap();
    assert_eq!(stored.thread.category.unwrap().name, "Meeting Request");
    assert!(h.screen().contains("[Meeting Request]"));
}

#[tokio::test]
async fn leads_filter_lead_timeline_stats_and_sequences() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("2").await;
    insta::assert_snapshot!("leads", h.screen());
    h.keys("/").await;
    h.type_text("north").await;
    assert_eq!(h.app.leads.ids.len(), 2);
    h.type_text(" event:replied").await;
    assert_eq!(h.app.leads.ids.len(), 1);
    insta::assert_snapshot!("leads_filtered", h.screen());
    h.keys("enter enter").await;
    assert_eq!(h.app.screen(), Screen::Lead);
    insta::assert_snapshot!("lead_timeline", h.screen());

    // Sort by another column, reverse, clear.
    h.keys("esc x s").await;
    assert_eq!(h.app.leads.order.column, outpost::engine::LeadColumn::Name);
    let first = h.app.leads.selected_row().map(|r| r.name().to_string());
    h.keys("g").await;
    assert_eq!(h.app.leads.selected_row().unwrap().name(), "Ana Souza");
    assert!(first.is_some());

    h.keys("3").await;
    insta::assert_snapshot!("stats", h.screen());
    h.keys("d").await;
    insta::assert_snapshot!("stats_definitions", h.screen());
    // The bounce column as `outpost stats --json` carries it: exact for the
    // mailbox that sends the CFO campaign alone, unknown (with why) for the
    // one that only shares a campaign.
    let report = h.engine.stats(&Default::default()).unwrap();
    let bounce = |id: i64| {
        let m = report
            .mailboxes
            .iter()
            .find(|m| m.mailbox.id == id)
            .unwrap();
        m.bounce_rate.clone()
    };
    assert_eq!(bounce(11).count, 9);
    assert_eq!(bounce(11).denominator, "emails sent in them (812)");
    assert_eq!(bounce(12).percent, None);
    assert!(
        bounce(12)
            .denominator
            .contains("does not say which mailbox")
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["mailboxes"][0]["bounce_rate"]["count"], 9);

    h.keys("4").await;
    insta::assert_snapshot!("sequences", h.screen());
    h.keys("enter").await;
    insta::assert_snapshot!("sequence_detail", h.screen());
    h.keys("p").await;
    let seq = h.engine.sequences().unwrap();
    assert_eq!(seq[0].sequence.status, SequenceStatus::Paused);
    assert!(h.screen().contains("paused"));
}

#[tokio::test]
async fn lead_actions_enroll_pause_suppress_and_new_email() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("2 / r a j enter enter").await;
    assert_eq!(h.app.lead.email, "raj@northwind.example");
    // Raj is held back by the enrollment guard, with the reason; picking
    // the same sequence again enrolls him anyway.
    h.keys("E").await;
    h.keys("enter").await;
    let view = h.engine.lead("raj@northwind.example").unwrap().unwrap();
    assert!(view.enrollments.is_empty());
    let screen = h.screen();
    assert!(
        screen.contains("Held back (E, ") && screen.contains("again enrolls anyway"),
        "{screen}"
    );
    h.keys("E").await;
    h.keys("enter").await;
    let view = h.engine.lead("raj@northwind.example").unwrap().unwrap();
    assert_eq!(view.enrollments.len(), 1);
    h.keys("p").await;
    let view = h.engine.lead("raj@northwind.example").unwrap().unwrap();
    assert_eq!(view.enrollments[0].state, EnrollmentState::Paused);

    // A new email with a template variable, through the Gmail account.
    h.keys("m").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    h.keys("C-t").await;
    insta::assert_snapshot!("variable_menu", h.screen());
    h.keys("esc").await;
    // The subject is the first field, where typing starts; Tab leads on.
    let screen = h.screen();
    assert!(screen.contains("Subject: ▏"), "{screen}");
    assert!(screen.contains("Tab next field"), "{screen}");
    h.type_text("For ").await;
    // A variable goes where typing goes: here, the subject.
    h.keys("C-t").await;
    let company = h
        .app
        .variables
        .iter()
        .position(|(name, _)| name == "company")
        .expect("company is offered");
    for _ in 0..company {
        h.keys("j").await;
    }
    h.keys("enter").await;
    assert_eq!(h.app.compose.as_ref().unwrap().subject, "For {{company}}");
    h.app
        .compose
        .as_mut()
        .unwrap()
        .set_text("Hi {{first_name}}, one idea.");
    h.keys("C-s").await;
    let pending = h.app.pending_send.clone().expect("queued");
    let item = h.engine.outbox_item(&pending.id).unwrap().unwrap();
    assert_eq!(item.email.subject, "For Northwind Traders");
    assert_eq!(item.email.text_body, "Hi Raj, one idea.");
    assert_eq!(item.account, "me-gmail");

    h.keys("X").await;
    let view = h.engine.lead("raj@northwind.example").unwrap().unwrap();
    assert_eq!(view.suppressed.len(), 1);
    assert_eq!(view.enrollments[0].state, EnrollmentState::Stopped);
}

#[tokio::test]
async fn new_replies_appear_live_keep_the_selection_and_ring() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("j").await;
    let selected = h.app.inbox.selected().unwrap().key();
    let mut fresh = h
        .engine
        .thread(&Thread::key_for("me-gmail", "18e0a1b2c3d4"))
        .unwrap()
        .unwrap()
        .thread;
    fresh.provider_thread_id = "19f0ffee".into();
    fresh.subject = "Pricing for 40 seats".into();
    fresh.lead_email = Some("ana@fabrikam.example".into());
    fresh.last_message_at = at("2026-03-10T14:59:00Z");
    fresh.last_inbound_at = Some(at("2026-03-10T14:59:00Z"));
    outpost::testing::store(&h.engine).put(&fresh).unwrap();
    h.settle().await;
    assert_eq!(h.app.inbox.rows.len(), 4);
    assert_eq!(
        h.app.inbox.selected().unwrap().key(),
        selected,
        "selection follows the row"
    );
    let effects = h.app.take_effects();
    assert!(
        matches!(&effects[..], [Effect::Notify(text)] if text.contains("ana@fabrikam.example"))
    );
    assert!(h.screen().contains("Pricing for 40 seats"));

    // Sync progress shows in the status bar.
    outpost::testing::store(&h.engine).publish(Change::Progress(outpost::store::SyncProgress {
        account: "acme-smartlead".into(),
        running: true,
        phase: "leads".into(),
        done: 1200,
        total: Some(5000),
        ..Default::default()
    }));
    outpost::testing::store(&h.engine).publish(Change::Progress(outpost::store::SyncProgress {
        account: "me-gmail".into(),
        last_error: Some("token refresh refused (401)".into()),
        ..Default::default()
    }));
    h.settle().await;
    let screen = h.screen();
    assert!(
        screen.contains("acme-smartlead ⠋ leads 1200/5000"),
        "{screen}"
    );
    assert!(
        screen.contains("me-gmail ✗ token refresh refused"),
        "{screen}"
    );
}

#[tokio::test]
async fn help_palette_mouse_resize_and_no_color() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("?").await;
    insta::assert_snapshot!("help", h.screen());
    h.keys("esc :").await;
    h.type_text("seque").await;
    insta::assert_snapshot!("palette", h.screen());
    h.keys("enter").await;
    assert_eq!(h.app.screen(), Screen::Sequences);

    // Click on the Inbox tab, then on the third row; scroll moves the selection.
    let click = |col, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: col,
        row,
        modifiers: KeyModifiers::NONE,
    };
    h.screen();
    h.app.handle_mouse(click(11, 0));
    h.settle().await;
    assert_eq!(h.app.screen(), Screen::Inbox);
    h.screen();
    h.app.handle_mouse(click(20, 4));
    assert_eq!(h.app.inbox.cursor.selected, 2);
    h.app.handle_mouse(MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: 5,
        row: 5,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(h.app.inbox.cursor.selected, 0);

    // Resizing redraws cleanly at any size.
    for (w, hgt) in [(80, 24), (200, 60), (40, 10), (120, 32)] {
        h.terminal.backend_mut().resize(w, hgt);
        h.terminal
            .resize(ratatui::layout::Rect::new(0, 0, w, hgt))
            .unwrap();
        let text = h.screen();
        assert_eq!(text.lines().count(), hgt as usize);
    }

    let mut plain = Harness::with_theme(Theme::new(&BTreeMap::new(), true).unwrap());
    plain.settle().await;
    plain.screen();
    let buffer = plain.terminal.backend().buffer();
    assert!(
        buffer
            .content()
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset)
    );
}

#[test]
fn first_run_screen_says_what_to_configure() {
    let mut terminal = Terminal::new(TestBackend::new(100, 32)).unwrap();
    let theme = Theme::new(&BTreeMap::new(), true).unwrap();
    terminal
        .draw(|f| {
            view::draw_first_run(
                f,
                std::path::Path::new("/home/sam/.config/outpost/config.toml"),
                &theme,
            )
        })
        .unwrap();
    insta::assert_snapshot!("first_run", buffer_text(terminal.backend().buffer()));
}

#[tokio::test]
async fn the_leads_table_shows_each_persons_tags_and_follows_their_changes() {
    let mut h = Harness::new();
    h.settle().await;
    // Tagged before the table's index is built, and while it is open.
    h.engine
        .tag("lee@contoso.example", &["hot".into(), "q3".into()], &[])
        .unwrap();
    h.keys("2").await;
    insta::assert_snapshot!("leads_with_tags", h.screen());
    let row = |screen: &str, name: &str| -> String {
        screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} in {screen}"))
            .to_string()
    };
    h.engine
        .tag("MIA@tailspin.example", &["vip".into()], &[])
        .unwrap();
    h.engine
        .tag("lee@contoso.example", &[], &["q3".into()])
        .unwrap();
    h.settle().await;
    let screen = h.screen();
    assert!(
        row(&screen, "Mia Chen").contains("Mia Chen #vip"),
        "{screen}"
    );
    let lee = row(&screen, "Lee Park");
    assert!(
        lee.contains("Lee Park #hot") && !lee.contains("#q3"),
        "{screen}"
    );
    assert!(!row(&screen, "Ana Souza").contains('#'), "{screen}");
}

#[tokio::test]
async fn leads_synced_after_the_index_was_built_appear_in_the_table() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("2").await;
    let before = h.app.leads.ids.len();
    assert!(before > 0);
    let newcomers: Vec<Lead> = (0..3)
        .map(|n| {
            lead(
                &format!("new{n}@contoso.example"),
                "New",
                &format!("Lead{n}"),
                "Contoso",
                (7, "Q3 Fintech CFOs"),
                (EventType::EmailSent, "2026-03-10T09:00:00Z"),
            )
        })
        .collect();
    outpost::testing::store(&h.engine)
        .put_all(&newcomers)
        .unwrap();
    h.settle().await;
    assert_eq!(h.app.leads.ids.len(), before + 3);
    let index = h.app.leads.index.as_ref().unwrap();
    let shown: Vec<String> = h
        .app
        .leads
        .ids
        .iter()
        .filter_map(|id| index.row(*id).map(|r| r.email().to_string()))
        .collect();
    for n in 0..3 {
        assert!(
            shown.contains(&format!("new{n}@contoso.example")),
            "{shown:?}"
        );
    }
}

#[tokio::test]
async fn a_sequence_step_is_edited_in_the_composer_and_saved() {
    let mut h = Harness::new();
    h.settle().await;
    let variant = |h: &Harness, step: usize| -> Variant {
        let seq = outpost::testing::store(&h.engine)
            .get::<Sequence>("cfo-q2")
            .unwrap()
            .unwrap();
        match &seq.steps[step].kind {
            StepKind::Email { variants, .. } => variants[0].clone(),
            other => panic!("step {step} is {other:?}"),
        }
    };

    // The open sequence's email steps are offered; the wait step is not.
    h.keys("4 enter e").await;
    let screen = h.screen();
    assert!(screen.contains("Edit a step of cfo-q2"), "{screen}");
    assert!(screen.contains("1. intro · Closing Q2 faster"), "{screen}");
    assert!(
        screen.contains("3. bump · (follow-up in thread)"),
        "{screen}"
    );
    assert!(!screen.contains("wait 3 days ·"), "{screen}");

    // The follow-up: its text comes up in the composer, a line is added, saved.
    h.keys("j enter").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    let compose = h.app.compose.as_ref().unwrap();
    assert_eq!(compose.text(), "Subject: \n\nHi {{first_name}}");
    assert!(h.screen().contains("Sequence cfo-q2 · step 3"));
    // Variables can be inserted; a step has no one lead's values to show.
    h.keys("C-t").await;
    let menu = h.screen();
    assert!(menu.contains("{{first_name}}"), "{menu}");
    assert!(!menu.contains("empty for this lead"), "{menu}");
    h.keys("esc").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    h.keys("enter").await;
    h.type_text("Any news from {{company}}?").await;
    h.keys("C-s").await;
    assert_eq!(h.app.screen(), Screen::Sequence);
    assert!(h.app.compose.is_none());
    let bump = variant(&h, 2);
    assert_eq!(bump.body, "Hi {{first_name}}\nAny news from {{company}}?");
    assert_eq!(bump.subject, "", "still a follow-up in the thread");
    assert!(h.screen().contains("Saved step 3 of cfo-q2"));

    // The first email's subject line is edited too.
    h.keys("e enter").await;
    for code in [KeyCode::Up, KeyCode::Up, KeyCode::End] {
        h.app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
    }
    h.type_text(" this month").await;
    h.keys("C-s").await;
    let intro = variant(&h, 0);
    assert_eq!(intro.subject, "Closing Q2 faster this month");
    assert_eq!(intro.body, "Hi {{first_name}}");

    // An unknown variable is refused: the composer stays open, nothing changes.
    h.keys("e enter").await;
    h.type_text(" {{favourite_colour}}").await;
    h.keys("C-s").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    assert!(h.screen().contains("favourite_colour"));
    assert_eq!(variant(&h, 0), intro);

    // Leaving discards the edit and keeps no draft.
    h.keys("esc").await;
    assert_eq!(h.app.screen(), Screen::Sequence);
    assert_eq!(variant(&h, 0), intro);
    assert_eq!(
        outpost::testing::store(&h.engine).iter::<Draft>().count(),
        0
    );
}

#[tokio::test]
async fn opening_a_conversation_also_refreshes_it_from_its_provider() {
    let mut h = Harness::new();
    h.settle().await;
    h.app
        .handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let jobs = h.app.take_jobs();
    let opened = jobs.iter().find_map(|j| match j {
        jobs::Job::Thread { key } => Some(key.clone()),
        _ => None,
    });
    let refreshed = jobs.iter().find_map(|j| match j {
        jobs::Job::RefreshThread { key } => Some(key.clone()),
        _ => None,
    });
    assert!(opened.is_some());
    assert_eq!(
        opened, refreshed,
        "the opened thread is re-read from its provider"
    );
    // Without a reachable provider the refresh is quiet and the thread still shows.
    for job in jobs {
        let result = jobs::run(h.engine.clone(), job).await;
        assert!(!matches!(result, jobs::JobResult::Failed(_)));
        h.app.apply(result);
    }
}

#[tokio::test]
async fn n_marks_the_conversation_unread_again() {
    let mut h = Harness::new();
    h.settle().await;
    // Open the first conversation (it becomes read), go back, press N.
    h.keys("enter").await;
    h.keys("esc").await;
    let key = h.app.inbox.selected().expect("a row is selected").key();
    let read_first = h.engine.thread(&key).unwrap().unwrap();
    assert!(!read_first.thread.unread);
    let unread_before = h.engine.inbox_counts(&Default::default()).unwrap().unread;
    h.keys("N").await;
    let view = h.engine.thread(&key).unwrap().unwrap();
    assert!(view.thread.unread, "N left the conversation read");
    // The inbox title counts it again, exactly.
    assert!(
        h.screen()
            .contains(&format!("· {} unread)", unread_before + 1)),
        "{}",
        h.screen()
    );
    assert!(h.screen().contains("Marked unread"));
    assert!(h.screen().contains('●'), "the row shows no unread mark");
}

#[tokio::test]
async fn the_composer_shows_the_reply_route_and_ctrl_o_switches_it() {
    let mut h = Harness::new();
    give_dana_a_gmail_copy(&h);
    let gm_copy_key = Thread::key_for("me-gmail", "19a0dana");
    h.settle().await;

    // Dana's conversation is the newest row; reply: Smartlead by default.
    h.keys("r").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    let screen = h.screen();
    assert!(
        screen.contains("via Smartlead · acme-smartlead · sam@acme.io   (route 1 of 2)"),
        "{screen}"
    );
    // ctrl-o: from the rep's Gmail instead; again: back to Smartlead.
    h.keys("C-o").await;
    let screen = h.screen();
    assert!(
        screen.contains("via Gmail · sam@acme.io   (route 2 of 2)"),
        "{screen}"
    );
    assert!(!screen.contains("via Smartlead"), "{screen}");
    assert!(
        screen.contains("C-o switch route"),
        "the hint bar lists the key: {screen}"
    );
    h.keys("C-o C-o").await;
    assert!(h.screen().contains("via Gmail · sam@acme.io"));

    // Sent from Gmail, into the Gmail copy's thread.
    h.type_text("Thursday at 2pm works.").await;
    h.keys("C-s").await;
    let pending = h
        .app
        .pending_send
        .clone()
        .expect("a send in its undo window");
    let item = h.engine.outbox_item(&pending.id).unwrap().unwrap();
    assert_eq!(item.provider, Provider::Gmail);
    assert_eq!(item.account, "me-gmail");
    assert_eq!(
        item.delivery,
        Delivery::GmailSend {
            thread_id: Some("19a0dana".into())
        }
    );
    assert_eq!(item.thread_key.as_deref(), Some(gm_copy_key.as_str()));
    assert_eq!(
        item.email.in_reply_to.as_deref(),
        Some("<sl-9001-2@mail.example>")
    );

    // A Gmail-only conversation has one route; ctrl-o says so.
    h.keys("esc").await;
    h.app.pending_send = None;
    h.keys("1 j r").await;
    let screen = h.screen();
    assert!(screen.contains("via Gmail · sam@acme.io"), "{screen}");
    assert!(!screen.contains("route 1 of"), "{screen}");
    assert!(
        !screen.contains("switch_route"),
        "nothing to switch: {screen}"
    );
    h.keys("C-o").await;
    assert!(h.screen().contains("no other route"), "{}", h.screen());
}

#[tokio::test]
async fn r_pressed_while_the_conversation_loads_still_answers_it() {
    let mut h = Harness::new();
    h.settle().await;
    let row = h.app.inbox.selected().cloned().expect("a row is selected");
    // Enter queues the load; `r` comes before its answer.
    h.app
        .handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(
        h.app.thread.view.is_none(),
        "the conversation is still loading"
    );
    h.app
        .handle_key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE));
    assert_eq!(h.app.screen(), Screen::Compose, "{}", h.screen());
    h.settle().await;
    let compose = h.app.compose.as_ref().expect("the composer is open");
    assert!(
        matches!(&compose.target, outpost::tui::panes::compose::ComposeTarget::Reply { thread_key, .. } if *thread_key == row.key()),
        "the reply answers the row the conversation was opened from"
    );
}

#[tokio::test]
async fn e_marks_done_and_s_snoozes_from_a_picker_in_the_reps_zone() {
    let mut h = Harness::new();
    h.app.zone = outpost::triage::RepZone::Named(chrono_tz::America::New_York);
    h.settle().await;
    let first = h.app.inbox.selected().cloned().expect("a row");
    let total = h.app.inbox.rows.len();
    h.keys("e").await;
    assert!(
        !h.app.inbox.rows.iter().any(|r| r.key() == first.key()),
        "the archived row left the list"
    );
    assert_eq!(h.app.inbox.rows.len(), total - 1);
    let archived = InboxQuery {
        archived: true,
        ..InboxQuery::default()
    };
    let listed = h.engine.inbox(&archived).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, first.key());
    assert!(h.screen().contains("Done: "), "{}", h.screen());

    // `s` offers quick times in the rep's zone; the second is tomorrow 9:00.
    let second = h.app.inbox.selected().cloned().expect("a row");
    h.keys("s").await;
    let screen = h.screen();
    assert!(screen.contains("Tomorrow morning"), "{screen}");
    h.keys("j enter").await;
    let snoozed = InboxQuery {
        snoozed: true,
        ..InboxQuery::default()
    };
    let listed = h.engine.inbox(&snoozed).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, second.key());
    let until = listed[0].snoozed_until.expect("an end");
    let local = until.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(local.format("%H:%M").to_string(), "09:00");
    assert!(until > at(NOW) && until - at(NOW) <= Duration::hours(33));
    assert!(h.screen().contains("Snoozed "), "{}", h.screen());
}

#[tokio::test]
async fn space_and_v_select_rows_e_archives_them_and_u_undoes_it_in_one_step() {
    let mut h = Harness::new();
    let names = ["Avery Quinn", "Blake Moreno", "Casey Lund", "Devon Park"];
    for (n, who) in names.iter().enumerate() {
        let reply = newer_reply(n, who, "Pricing for the team plan");
        outpost::testing::store(&h.engine).put(&reply).unwrap();
    }
    h.settle().await;
    let rows: Vec<String> = h.app.inbox.rows.iter().map(|r| r.key()).collect();
    assert!(rows.len() >= 6, "{} rows", rows.len());
    // Space picks a row and moves down; v picks the rows the cursor goes over.
    h.keys("space space j v j").await;
    let picked: Vec<String> = [0, 1, 3, 4].iter().map(|&i| rows[i].clone()).collect();
    let selection: Vec<String> = h.app.inbox.selection.keys.iter().cloned().collect();
    let mut expected = picked.clone();
    expected.sort();
    assert_eq!(selection, expected);
    insta::assert_snapshot!("inbox_multi_select", h.screen());
    // Moving back shrinks the range, as in a visual mode; v ends it.
    h.keys("k").await;
    assert_eq!(h.app.inbox.selection_count(), 3);
    h.keys("j v").await;
    assert_eq!(h.app.inbox.selection_count(), 4);

    h.keys("e").await;
    assert!(h.app.inbox.selection.is_empty(), "the selection is spent");
    let left: Vec<String> = h.app.inbox.rows.iter().map(|r| r.key()).collect();
    assert_eq!(left.len(), rows.len() - 4);
    assert!(picked.iter().all(|k| !left.contains(k)));
    let archived = InboxQuery {
        archived: true,
        ..InboxQuery::default()
    };
    assert_eq!(h.engine.inbox(&archived).unwrap().len(), 4);
    let screen = h.screen();
    assert!(screen.contains("Archive: 4 changed — u undoes"), "{screen}");

    // u: no send is waiting, so it undoes the bulk change.
    h.keys("u").await;
    assert!(h.engine.inbox(&archived).unwrap().is_empty());
    let back: Vec<String> = h.app.inbox.rows.iter().map(|r| r.key()).collect();
    assert_eq!(back, rows, "the inbox as before");
    assert!(
        h.screen().contains("Undone archive: 4 restored"),
        "{}",
        h.screen()
    );

    // * picks every matching conversation, loaded or not; Esc clears.
    h.keys("*").await;
    assert!(h.app.inbox.selection.all_matching);
    assert!(
        h.screen()
            .contains(&format!("{} selected (all matching)", rows.len()))
    );
    h.keys("esc").await;
    assert!(h.app.inbox.selection.is_empty());
    assert!(!h.screen().contains("selected"));
}

#[tokio::test]
async fn leads_selected_with_space_are_enrolled_together_and_refusals_are_named() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("2").await;
    let first: Vec<String> = (0..2)
        .map(|i| {
            let id = h.app.leads.ids[i];
            let index = h.app.leads.index.as_ref().unwrap();
            index.row(id).unwrap().email().to_string()
        })
        .collect();
    h.keys("space space").await;
    let screen = h.screen();
    assert!(screen.contains("2 leads selected"), "{screen}");
    assert!(screen.contains("✓ "), "{screen}");
    h.keys("E").await;
    assert!(h.screen().contains("Enroll 2 leads in"), "{}", h.screen());
    h.keys("enter").await;
    assert!(h.app.leads.picked.is_empty(), "the selection is spent");
    // Both are held back (one is enrolled already): the change says so,
    // and there is nothing to undo.
    let message = h.app.current_toast().map(|(t, _)| t.to_string()).unwrap();
    assert!(
        message.starts_with("Enroll in cfo-q2: 0 changed, 2 not changed"),
        "{message}"
    );
    assert!(message.contains("already enrolled"), "{message}");
    assert!(!message.contains("undoes"), "{message}");
    assert!(h.app.last_bulk.is_none());
    let dana = h.engine.lead(&first[0]).unwrap().unwrap();
    assert_eq!(dana.enrollments.len(), 1, "no second enrollment");
    // Esc clears a selection in the table.
    h.keys("space esc").await;
    assert!(h.app.leads.picked.is_empty());
}

// ------------------------------------------------------------ the first screen

/// A reply newer than everything in the fixture, from `who`, as a sync
/// writes it. `minute` orders them: later minutes are newer.
fn newer_reply(n: usize, who: &str, subject: &str) -> Thread {
    let mut t = thread(
        "me-gmail",
        Provider::Gmail,
        &format!("1a{n:06}"),
        subject,
        &format!("{}@streamed.example", who.to_lowercase().replace(' ', ".")),
        None,
        "2026-03-10T14:00:00Z",
        true,
        "Happy to talk, send a time",
    );
    t.last_message_at = at("2026-03-10T14:00:00Z") + Duration::seconds(n as i64);
    t.last_inbound_at = Some(t.last_message_at);
    t.lead_name = Some(who.to_string());
    t
}

fn draw_at(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    buffer_text(terminal.backend().buffer())
}

#[tokio::test]
async fn the_first_screen_stays_on_the_newest_rows_while_a_sync_streams_them_in() {
    let mut h = Harness::new();
    h.settle().await;
    // Sync writes replies newer than every row shown, one after another.
    for n in 0..30 {
        outpost::testing::store(&h.engine)
            .put(&newer_reply(n, &format!("Streamed {n}"), "Streamed in"))
            .unwrap();
        h.settle().await;
    }
    assert_eq!(h.app.inbox.cursor.selected, 0, "the top stays selected");
    let screen = h.screen();
    let first_row = screen.lines().nth(2).unwrap();
    assert!(first_row.contains("Streamed 29"), "{screen}");

    // Once the rep moves, their row stays selected as more arrive above it.
    h.keys("j j").await;
    let chosen = h.app.inbox.selected().unwrap().key();
    for n in 30..35 {
        outpost::testing::store(&h.engine)
            .put(&newer_reply(n, &format!("Streamed {n}"), "Streamed in"))
            .unwrap();
        h.settle().await;
    }
    assert_eq!(h.app.inbox.selected().unwrap().key(), chosen);
    assert_eq!(h.app.inbox.cursor.selected, 7);
    // Back to the top follows the newest again.
    h.keys("g").await;
    outpost::testing::store(&h.engine)
        .put(&newer_reply(35, "Streamed 35", "Streamed in"))
        .unwrap();
    h.settle().await;
    assert_eq!(h.app.inbox.cursor.selected, 0);
    assert!(h.app.inbox.selected().unwrap().lead_name.as_deref() == Some("Streamed 35"));
}

#[tokio::test]
async fn the_inbox_title_counts_exactly_even_while_a_sync_streams_rows_in() {
    let mut h = Harness::new();
    // More conversations than one page, so a loaded-so-far count would read
    // "200+".
    let many: Vec<Thread> = (0..250)
        .map(|n| newer_reply(n, &format!("Lead {n}"), "Earlier reply"))
        .collect();
    outpost::testing::store(&h.engine).put_all(&many).unwrap();
    while h.feed.try_recv().is_ok() {}
    let mut next = 250;
    let mut counted_while_streaming = false;
    let mut titles = Vec::new();
    // Every job the app asks for runs only after one more reply was
    // written: the sync never pauses while the first screen loads.
    for _ in 0..40 {
        let jobs = h.app.take_jobs();
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            outpost::testing::store(&h.engine)
                .put(&newer_reply(next, &format!("Lead {next}"), "Streamed in"))
                .unwrap();
            next += 1;
            while let Ok(change) = h.feed.try_recv() {
                h.app.on_change(change);
            }
            let result = jobs::run(h.engine.clone(), job).await;
            h.app.apply(result);
            let screen = h.screen();
            let title = screen.lines().nth(1).unwrap().to_string();
            assert!(!title.contains("+)"), "a guessed count: {title}");
            counted_while_streaming |= h.app.inbox.counts.is_some();
            titles.push(title);
        }
        if next > 280 {
            break;
        }
    }
    assert!(
        counted_while_streaming,
        "no count was shown while rows streamed in: {titles:#?}"
    );
    h.settle().await;
    let exact = h.engine.inbox_counts(&Default::default()).unwrap();
    let title = h.screen().lines().nth(1).unwrap().to_string();
    assert!(
        title.contains(&format!(
            "Inbox ({} · {} unread)",
            exact.total, exact.unread
        )),
        "{title}"
    );
}

#[tokio::test]
async fn messages_expire_by_the_clock_and_errors_go_at_the_next_key() {
    let mut h = Harness::new();
    h.settle().await;
    h.app.info("Category set to Interested");
    assert!(h.screen().contains("Category set to Interested"));
    h.clock.advance(Duration::seconds(5));
    h.app.on_tick();
    assert!(
        h.app.toast.is_none(),
        "an info message is gone after a few seconds"
    );
    assert!(!h.screen().contains("Category set to Interested"));

    // An error stays longer than an info message...
    h.app.error("category not set: Smartlead said 500");
    h.clock.advance(Duration::seconds(5));
    assert!(h.screen().contains("category not set"));
    h.clock.advance(Duration::seconds(6));
    assert!(!h.screen().contains("category not set"));
    // ...and goes at the next key, so it is not carried to another pane.
    h.app.error("category not set: Smartlead said 500");
    h.keys("2").await;
    assert_eq!(h.app.screen(), Screen::Leads);
    assert!(!h.screen().contains("category not set"), "{}", h.screen());
    // A key that fails still says so: the clearing comes before it acts.
    h.keys("1 N").await;
    assert!(h.screen().contains("Marked unread"), "{}", h.screen());
}

#[tokio::test]
async fn a_failed_sync_keeps_its_reason_while_the_next_attempt_runs() {
    let mut h = Harness::new();
    h.settle().await;
    let reason = "could not reach Gmail: could not connect";
    // The failed pass, then the poller's next attempt starting.
    for running in [false, true] {
        outpost::testing::store(&h.engine).publish(Change::Progress(
            outpost::store::SyncProgress {
                account: "me-gmail".into(),
                running,
                phase: if running { "history" } else { "failed" }.into(),
                last_error: Some(reason.into()),
                ..Default::default()
            },
        ));
        h.settle().await;
        let screen = h.screen();
        let bar = screen.lines().last().unwrap();
        assert!(
            bar.contains("me-gmail ✗ could not reach Gmail"),
            "running={running}: {bar}"
        );
        assert!(!bar.contains("history"), "{bar}");
    }
    // Smartlead goes through the same rule.
    outpost::testing::store(&h.engine).publish(Change::Progress(outpost::store::SyncProgress {
        account: "acme-smartlead".into(),
        running: true,
        phase: "categories".into(),
        last_error: Some("could not reach Smartlead: could not connect".into()),
        ..Default::default()
    }));
    h.settle().await;
    let screen = h.screen();
    assert!(
        screen.contains("acme-smartlead ✗ could not reach Smartlead"),
        "{screen}"
    );
}

#[tokio::test]
async fn the_inbox_fits_names_and_subjects_at_60_100_and_160_columns() {
    let mut h = Harness::new();
    let mut named = newer_reply(1, "Aaliyah Ferreira", "Idea for Atlas Group");
    named.provider = Provider::Smartlead;
    named.account = "acme-smartlead".into();
    named.provider_thread_id = "3101:77".into();
    named.campaign_id = Some(3101);
    named.campaign_name = Some("Healthcare Ops Leaders Q2".into());
    named.sources = vec![Thread::key_for("me-gmail", "1b000001")];
    named.category = Some(Category {
        id: 1,
        name: "Interested".into(),
        sentiment: None,
    });
    named.preview = "Yes, we are looking at this now. Can you share pricing?".into();
    let mut answered = newer_reply(2, "Kofi Holm", "Outbound at Northly");
    answered.preview = "Sounds good. Who else from your side would join?".into();
    answered.answered_last = true;
    answered.unread = false;
    outpost::testing::store(&h.engine)
        .put_all(&[named, answered])
        .unwrap();
    h.settle().await;
    let exact = h.engine.inbox_counts(&Default::default()).unwrap();
    assert_eq!((exact.total, exact.unread), (5, 3));
    for (width, height, name) in [
        (60, 12, "inbox_60_columns"),
        (100, 12, "inbox_100_columns"),
        (160, 12, "inbox_160_columns"),
    ] {
        let screen = draw_at(&mut h.app, width, height);
        assert!(screen.contains("Inbox (5 · 3 unread)"), "{screen}");
        for line in screen.lines().skip(2).take(5) {
            // Every row keeps its subject's start, at every width.
            assert!(
                [
                    "Idea for",
                    "Outbound at",
                    "Quick ques",
                    "Re: Intro",
                    "Fintech CT"
                ]
                .iter()
                .any(|s| line.contains(s)),
                "{width} columns lost a subject: {line}"
            );
        }
        insta::assert_snapshot!(name, screen);
    }
}

#[tokio::test]
async fn a_campaign_filter_and_the_timeline_name_the_campaign() {
    let mut h = Harness::new();
    h.settle().await;
    // The first campaign in the picker (after "every campaign").
    h.keys("C down enter").await;
    let screen = h.screen();
    let title = screen.lines().nth(1).unwrap();
    assert!(title.contains("campaign:"), "{title}");
    assert!(!title.contains("campaign:#"), "{title}");
}

#[tokio::test]
async fn j_k_and_n_move_through_conversations_and_a_long_one_opens_at_its_newest() {
    let mut h = Harness::new();
    // A long conversation, newest of all: twelve messages of five lines.
    let store = outpost::testing::store(&h.engine);
    let long_key = Thread::key_for("me-gmail", "long0001");
    let mut long = thread(
        "me-gmail",
        Provider::Gmail,
        "long0001",
        "A long back and forth",
        "ines@longform.example",
        None,
        "2026-03-10T14:55:00Z",
        false,
        "Latest words",
    );
    long.message_count = 12;
    store.put(&long).unwrap();
    let messages: Vec<Message> = (0..12)
        .map(|i| {
            let body = if i == 11 {
                "THE NEWEST WORDS".to_string()
            } else {
                format!("Message {i}\nsecond line\nthird line\nfourth line\nfifth line")
            };
            message(
                "me-gmail",
                &format!("long-{i:02}"),
                &long_key,
                if i % 2 == 0 {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                },
                ("Ines Long", "ines@longform.example"),
                "me@acme.example",
                "A long back and forth",
                &format!("2026-03-10T14:{:02}:00Z", 30 + i),
                &body,
            )
        })
        .collect();
    store.put_all(&messages).unwrap();
    h.settle().await;
    assert_eq!(h.app.inbox.rows[0].key(), long_key);
    let second = h.app.inbox.rows[1].key();
    // J opens the second (and so reads it); the third stays unread.
    let third = h.app.inbox.rows[2].key();
    assert!(h.app.inbox.rows[2].unread);

    h.keys("enter").await;
    let screen = h.screen();
    assert!(screen.contains("THE NEWEST WORDS"), "{screen}");
    assert!(!screen.contains("Message 0"), "opened at the top: {screen}");
    assert!(h.app.thread.scroll > 0);

    // J and K open the next and previous conversation in place.
    h.keys("J").await;
    assert_eq!(h.app.screen(), Screen::Thread);
    assert_eq!(h.app.thread.key, second);
    h.keys("K").await;
    assert_eq!(h.app.thread.key, long_key);
    h.keys("K").await;
    assert!(h.screen().contains("That was the first conversation"));
    assert_eq!(h.app.stack.len(), 1, "one thread screen, not a pile");

    // n opens the next unread one; then there is none.
    h.keys("n").await;
    assert_eq!(h.app.thread.key, third);
    h.keys("esc n").await;
    assert_eq!(h.app.screen(), Screen::Inbox);
    assert!(h.screen().contains("No more unread conversations"));
}

#[tokio::test]
async fn ctrl_l_asks_for_a_full_redraw_on_every_screen_even_in_the_composer() {
    let mut h = Harness::new();
    h.settle().await;
    h.app.take_effects();
    h.keys("C-l").await;
    assert_eq!(h.app.take_effects(), [Effect::Redraw]);
    h.keys("r").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    h.type_text("Hello").await;
    h.keys("C-l").await;
    assert_eq!(h.app.take_effects(), [Effect::Redraw]);
    assert_eq!(typed(&h.app), "Hello", "not typed");
}

#[test]
fn the_editor_command_is_split_as_a_shell_would() {
    use outpost::tui::terminal::editor_command;
    let appending = "sh -c 'echo appended >> \"$1\"' sh";
    assert_eq!(
        editor_command(None, Some(appending)).unwrap(),
        ["sh", "-c", "echo appended >> \"$1\"", "sh"]
    );
    assert_eq!(
        editor_command(Some("code --wait"), Some("vim")).unwrap(),
        ["code", "--wait"]
    );
    assert_eq!(
        editor_command(Some(""), Some("'/opt/my editor/ed'")).unwrap(),
        ["/opt/my editor/ed"]
    );
    assert_eq!(editor_command(None, None).unwrap(), ["vi"]);
    let err = editor_command(None, Some("sh -c 'unclosed")).unwrap_err();
    assert!(err.contains("$EDITOR"), "{err}");
}

#[tokio::test]
async fn esc_on_an_emptied_composer_discards_the_draft() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("j enter").await;
    let gm_key = Thread::key_for("me-gmail", "18e0a1b2c3d4");
    h.keys("r").await;
    h.type_text("A second thought").await;
    h.keys("esc").await;
    assert!(h.engine.draft_for_thread(&gm_key).unwrap().is_some());

    // Back in the composer the draft (quote and all) is restored; emptied,
    // Esc drops it.
    h.keys("r").await;
    assert_eq!(typed(&h.app), "A second thought");
    h.app.compose.as_mut().unwrap().set_text("");
    h.keys("esc").await;
    assert_eq!(h.engine.draft_for_thread(&gm_key).unwrap(), None);
    assert!(h.screen().contains("Draft discarded"), "{}", h.screen());
    // A fresh reply opens on the quote alone; left as it is, no draft is kept.
    h.keys("r").await;
    assert_eq!(typed(&h.app), "");
    assert!(
        h.app
            .compose
            .as_ref()
            .unwrap()
            .text()
            .starts_with("\n\nOn "),
        "{}",
        h.app.compose.as_ref().unwrap().text()
    );
    h.keys("esc").await;
    assert_eq!(h.engine.draft_for_thread(&gm_key).unwrap(), None);
}

/// What the rep typed above the quoted original.
fn typed(app: &App) -> String {
    let text = app.compose.as_ref().expect("the composer is open").text();
    match text.find("\n\nOn ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[tokio::test]
async fn the_composer_keeps_the_start_of_the_line_in_view_across_resizes() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("r").await;
    let line = "Start here, then a sentence long enough to need some room on a narrow screen";
    h.type_text(line).await;
    for (w, hgt) in [(120, 32), (40, 20), (120, 32)] {
        h.terminal.backend_mut().resize(w, hgt);
        h.terminal
            .resize(ratatui::layout::Rect::new(0, 0, w, hgt))
            .unwrap();
        let screen = h.screen();
        assert!(
            screen.contains("Start here,"),
            "at {w}x{hgt} the line's start is hidden:\n{screen}"
        );
    }
    assert_eq!(typed(&h.app), line);
}

#[tokio::test]
async fn quitting_during_an_undo_window_asks_then_sends_it_at_once() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("j enter r").await;
    h.type_text("Tuesday works.").await;
    h.keys("C-s").await;
    let id = h.app.pending_send.clone().expect("in its undo window").id;

    // The first q says what would happen; u then undoes as usual.
    h.keys("q").await;
    assert!(!h.app.quit);
    let screen = h.screen();
    assert!(
        screen.contains("1 send in its undo window — q again sends it now and quits, u undoes"),
        "{screen}"
    );
    h.keys("u").await;
    assert_eq!(
        h.engine.outbox_item(&id).unwrap().unwrap().state,
        OutboxState::Cancelled
    );
    assert!(!h.app.quit && !h.app.quit_armed);

    // Sent again; q twice tries it now (this cache has no provider, so the
    // try fails at once) and only then quits.
    h.keys("C-s").await;
    let id = h.app.pending_send.clone().unwrap().id;
    h.keys("q").await;
    assert!(!h.app.quit);
    h.keys("q").await;
    assert!(h.app.quit, "quits once the try is answered");
    let item = h.engine.outbox_item(&id).unwrap().unwrap();
    assert_eq!(item.attempts, 1, "tried before its undo window ended");
    assert_ne!(item.state, OutboxState::Pending);
    // Not silent: what did not go out is said once the terminal is back.
    assert_eq!(h.app.farewell.len(), 1, "{:?}", h.app.farewell);
    assert!(
        h.app.farewell[0].contains("lee@contoso.example") && h.app.farewell[0].contains("not sent"),
        "{:?}",
        h.app.farewell
    );
}

impl Harness {
    /// The current screen drawn on a terminal `width` columns wide.
    fn screen_at(&mut self, width: u16, height: u16) -> String {
        self.terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        self.screen()
    }

    async fn press(&mut self, code: KeyCode) {
        self.app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
        self.settle().await;
    }
}

#[tokio::test]
async fn the_leads_table_says_it_is_loading_until_its_index_is_built() {
    let mut h = Harness::new();
    // Before any job ran: the index is still being built.
    h.app
        .handle_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE));
    let screen = h.screen();
    assert!(screen.contains("Leads · loading…"), "{screen}");
    assert!(!screen.contains("0 of 0"), "{screen}");
    h.settle().await;
    assert!(h.screen().contains("Leads 6 of 6"), "{}", h.screen());
}

#[tokio::test]
async fn leads_and_stats_show_names_and_exact_counts_at_every_width() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("2").await;
    for width in [60, 100, 160] {
        let screen = h.screen_at(width, 20);
        insta::assert_snapshot!(format!("leads_{width}"), screen);
        assert!(screen.contains("Leads 6 of 6"), "{screen}");
        assert!(screen.contains("Dana Whitfield"), "{screen}");
        // Events read as words, whole, never as `email_…` cut short.
        assert!(!screen.contains("email_"), "{screen}");
    }
    let wide = h.screen_at(160, 20);
    assert!(wide.contains("in/raj-iyer"), "{wide}");
    assert!(!wide.contains("https://"), "{wide}");
    h.keys("3").await;
    for width in [60, 100, 160] {
        let screen = h.screen_at(width, 30);
        insta::assert_snapshot!(format!("stats_{width}"), screen);
        // The same TOTAL `outpost stats` prints: 812 + 430 emails sent.
        assert!(screen.contains("TOTAL"), "{screen}");
        assert!(screen.contains("1242"), "{screen}");
        assert!(screen.contains("812"), "{screen}");
        assert!(screen.contains("active"), "{screen}");
        assert!(screen.contains("Fintech CTOs"), "{screen}");
    }
}

#[tokio::test]
async fn stats_keep_big_counts_and_tell_apart_campaigns_sharing_a_prefix() {
    let mut h = Harness::new();
    for (id, name, sent, status) in [
        (
            3201,
            "Healthcare Ops Leads Webinar Invite #1",
            12_345_678,
            "PAUSED",
        ),
        (
            3202,
            "Healthcare Ops Leads Webinar Invite #2",
            20,
            "COMPLETED",
        ),
    ] {
        outpost::testing::store(&h.engine)
            .put(&Campaign {
                account: "acme-smartlead".into(),
                id,
                name: name.into(),
                status: status.into(),
                client_id: None,
                parent_campaign_id: None,
                created_at: Some(at("2026-02-01T09:00:00Z")),
                sequence_count: 1,
                counts: counts(sent, 5, 1, 1, 0),
                lead_stats: LeadStats::default(),
                email_account_ids: vec![11],
                timezone: None,
                synced_at: Some(at("2026-03-10T14:56:00Z")),
            })
            .unwrap();
    }
    for (email, campaign) in [
        (
            "ines@adatum.example",
            (3201, "Healthcare Ops Leads Webinar Invite #1"),
        ),
        (
            "jo@adatum.example",
            (3203, "Healthcare Ops Leads Webinar Invite #1 - Follow-up"),
        ),
    ] {
        let l = lead(
            email,
            "Ines",
            "Berg",
            "Adatum",
            campaign,
            (EventType::EmailSent, "2026-03-04T10:00:00Z"),
        );
        outpost::testing::store(&h.engine).put(&l).unwrap();
    }
    h.settle().await;
    // Sorted by emails sent, the 12,345,678 campaign first.
    h.keys("3 s").await;
    assert_eq!(h.app.stats.selected().unwrap().campaign_id, 3201);
    let screen = h.screen_at(60, 30);
    assert!(screen.contains("Invite #1"), "{screen}");
    assert!(screen.contains("Invite #2"), "{screen}");
    assert!(screen.contains("paused"), "{screen}");
    assert!(screen.contains("completed"), "{screen}");
    // The sent card is too narrow for eight digits: abbreviated, not cut
    // to a wrong number; the list's wider column holds the whole count.
    assert!(screen.contains("│12M"), "{screen}");
    assert!(!screen.contains("│123456"), "{screen}");
    // Its leads, and only its: not those of the campaign whose name merely
    // starts the same.
    h.keys("enter").await;
    assert_eq!(h.app.screen(), Screen::Leads);
    let emails: Vec<String> = h
        .app
        .leads
        .ids
        .iter()
        .map(|id| {
            let index = h.app.leads.index.as_ref().unwrap();
            index.row(*id).unwrap().email().to_string()
        })
        .collect();
    assert_eq!(emails, ["ines@adatum.example"]);
}

#[tokio::test]
async fn enter_on_a_campaign_opens_its_leads() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("3").await;
    let campaign = h.app.stats.selected().unwrap().name.clone();
    h.keys("enter").await;
    assert_eq!(h.app.screen(), Screen::Leads);
    assert!(h.app.leads.filter_text.contains("campaign:"));
    let index = h.app.leads.index.as_ref().unwrap();
    assert!(!h.app.leads.ids.is_empty());
    for id in &h.app.leads.ids {
        assert!(index.row(*id).unwrap().campaign().contains(&campaign));
    }
    assert!(h.app.leads.ids.len() < 6);
}

#[tokio::test]
async fn a_paused_lead_is_resumed_from_its_page() {
    let mut h = Harness::new();
    h.settle().await;
    // Raj replied: the guard refuses first; the same pick again enrolls.
    h.keys("2 / r a j enter enter E enter E enter p").await;
    let view = h.engine.lead("raj@northwind.example").unwrap().unwrap();
    assert_eq!(view.enrollments[0].state, EnrollmentState::Paused);
    let screen = h.screen_at(200, 32);
    assert!(screen.contains("R resume lead"), "{screen}");
    h.keys("R").await;
    let view = h.engine.lead("raj@northwind.example").unwrap().unwrap();
    assert_eq!(view.enrollments[0].state, EnrollmentState::Active);
    let screen = h.screen();
    assert!(screen.contains("Resumed 1 enrollment"), "{screen}");
}

#[tokio::test]
async fn help_closes_on_esc_q_or_question_mark_and_keeps_other_keys() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("?").await;
    let help = h.screen_at(120, 80);
    // Each action elsewhere is listed under the screens it works on, so a
    // key used on two screens is no longer a puzzling repeat.
    assert!(help.contains("On Lead"), "{help}");
    assert!(help.contains("On Sequences, Sequence"), "{help}");
    assert!(help.contains("pause lead"), "{help}");
    assert!(!help.contains("pause_lead"), "{help}");
    // A key help does not use leaves help open and does nothing behind it.
    h.keys("2").await;
    assert!(matches!(
        h.app.overlay,
        outpost::tui::app::Overlay::Help { .. }
    ));
    assert_eq!(h.app.screen(), Screen::Inbox);
    h.keys("j").await;
    assert!(matches!(
        h.app.overlay,
        outpost::tui::app::Overlay::Help { scroll: 1 }
    ));
    // q closes help, as in less, and does not quit.
    h.keys("q").await;
    assert!(matches!(h.app.overlay, outpost::tui::app::Overlay::None));
    assert!(!h.app.quit);
    h.keys("? ?").await;
    assert!(matches!(h.app.overlay, outpost::tui::app::Overlay::None));
    h.keys("?").await;
    h.press(KeyCode::Esc).await;
    assert!(matches!(h.app.overlay, outpost::tui::app::Overlay::None));
}

#[tokio::test]
async fn the_palette_offers_global_actions_and_every_label_reads_as_words() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("3 :").await;
    let palette = h.screen();
    assert!(palette.contains("definitions"), "{palette}");
    h.type_text("sync now").await;
    let palette = h.screen();
    assert!(palette.contains("Sync every account now"), "{palette}");
    // Chosen, it asks for a sync (not run here: it would reach providers).
    h.app
        .handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(
        h.app
            .take_jobs()
            .iter()
            .any(|j| matches!(j, jobs::Job::SyncNow))
    );
    h.keys(": l e a d s enter").await;
    assert_eq!(h.app.screen(), Screen::Leads);
    // The bar and help show labels, never internal names.
    h.keys("1").await;
    let inbox = h.screen_at(200, 32);
    assert!(inbox.contains("c category"), "{inbox}");
    assert!(!inbox.contains("set_category"), "{inbox}");
    h.keys("r").await;
    let compose = h.screen_at(200, 32);
    assert!(compose.contains("keep draft"), "{compose}");
    assert!(!compose.contains("keep_draft"), "{compose}");
    // The composer's own keys are in its bar, by their labels (typing
    // there is text, so the bar is where they are found).
    for label in [
        "Tab next field",
        "M-l send later",
        "M-a attach file",
        "M-s insert snippet",
    ] {
        assert!(compose.contains(label), "{label}: {compose}");
    }
    h.keys("esc").await;
    for (typed, label) in [
        ("reply all", "Reply to everyone"),
        ("forward", "Forward the conversation"),
    ] {
        h.keys(":").await;
        h.type_text(typed).await;
        let palette = h.screen_at(200, 32);
        assert!(palette.contains(label), "{typed}: {palette}");
        h.keys("esc").await;
    }
}

#[tokio::test]
async fn campaign_and_category_filters_are_picked_from_a_list() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("2 C").await;
    let picker = h.screen();
    assert!(picker.contains("Filter by campaign"), "{picker}");
    assert!(picker.contains("Fintech CTOs"), "{picker}");
    // A few typed letters narrow the list; Enter picks the best match.
    h.type_text("fin").await;
    h.press(KeyCode::Enter).await;
    assert_eq!(h.app.leads.filter_text, "campaign:#3102");
    // The title names the campaign, not its id.
    let screen = h.screen_at(160, 20);
    assert!(screen.contains("/campaign:Fintech CTOs"), "{screen}");
    let index = h.app.leads.index.as_ref().unwrap();
    assert!(!h.app.leads.ids.is_empty());
    for id in &h.app.leads.ids {
        assert!(index.row(*id).unwrap().campaign().contains("Fintech CTOs"));
    }
    // The first entry clears the filter.
    h.keys("C").await;
    h.press(KeyCode::Enter).await;
    assert_eq!(h.app.leads.filter_text, "");

    h.keys("1 f").await;
    h.type_text("meeting").await;
    h.press(KeyCode::Enter).await;
    assert_eq!(
        h.app.inbox.query.category.as_deref(),
        Some("Meeting Request")
    );
    h.keys("C").await;
    h.type_text("q1 cfo").await;
    h.press(KeyCode::Enter).await;
    assert_eq!(h.app.inbox.query.campaign_id, Some(3101));
}

#[tokio::test]
async fn the_lead_timeline_names_campaigns_and_events_in_words() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("2 / d a n a enter enter").await;
    let screen = h.screen_at(160, 32);
    assert!(!screen.contains("campaign #"), "{screen}");
    assert!(!screen.contains("email_"), "{screen}");
    assert!(screen.contains("Q1 CFO outreach"), "{screen}");
}

#[tokio::test]
async fn a_lead_view_names_its_campaigns_even_when_its_records_do_not() {
    let h = Harness::new();
    // Synced before its campaign was: the membership carries only the id.
    let mut bare = lead(
        "kai@adatum.example",
        "Kai",
        "Berg",
        "Adatum",
        (3102, "unused"),
        (EventType::EmailSent, "2026-03-04T10:00:00Z"),
    );
    bare.memberships[0].campaign_name = None;
    outpost::testing::store(&h.engine).put(&bare).unwrap();
    let view = h.engine.lead("kai@adatum.example").unwrap().unwrap();
    assert_eq!(view.campaign_label(3102), "Fintech CTOs");
    // One the cache has never seen reads as its id, not as nothing.
    assert_eq!(view.campaign_label(77), "campaign #77");
}

#[tokio::test]
async fn an_empty_leads_table_during_the_first_sync_says_it_is_loading() {
    let mut h = Harness::new();
    h.settle().await;
    // A fresh data dir: the index was built empty and the first sync runs.
    h.app.leads.index = Some(outpost::engine::LeadIndex::from_leads(
        &[],
        Default::default(),
    ));
    h.app.leads.refilter();
    h.app.sync.insert(
        "acme-smartlead".into(),
        SyncProgress {
            account: "acme-smartlead".into(),
            running: true,
            phase: "leads".into(),
            ..SyncProgress::default()
        },
    );
    h.keys("2").await;
    let screen = h.screen();
    assert!(screen.contains("Leads · loading…"), "{screen}");
    assert!(!screen.contains("0 of 0"), "{screen}");
    // Once an account has synced, an empty table is an honest "0 of 0".
    h.app.sync.get_mut("acme-smartlead").unwrap().last_success = Some(at(NOW));
    h.app.sync.get_mut("acme-smartlead").unwrap().running = false;
    let screen = h.screen();
    assert!(screen.contains("Leads 0 of 0"), "{screen}");
}

#[tokio::test]
async fn the_campaign_list_names_every_campaign_before_stats_were_opened() {
    let mut h = Harness::new();
    h.settle().await;
    // As on a first run: the index knew no campaign yet, no inbox row
    // carries one, and the stats tab was never opened.
    h.app.leads.index = Some(outpost::engine::LeadIndex::from_leads(
        &[],
        Default::default(),
    ));
    h.app.inbox.rows.clear();
    assert!(h.app.stats.report.is_none());
    h.keys("C").await;
    let picker = h.screen();
    assert!(picker.contains("Fintech CTOs"), "{picker}");
    assert!(picker.contains("Q1 CFO outreach"), "{picker}");
    h.type_text("fintech").await;
    h.press(KeyCode::Enter).await;
    assert_eq!(h.app.inbox.query.campaign_id, Some(3102));
}

#[tokio::test]
async fn the_tasks_pane_lists_due_tasks_by_lead_and_closes_them() {
    use outpost::model::{Task, TaskOutcome};
    let mut h = Harness::new();
    let store = outpost::testing::store(&h.engine).clone();
    let now = at(NOW);
    let add = |lead: &str, title: &str, due| {
        outpost::sequences::add_task(&store, lead, title, Some(due), now).unwrap()
    };
    let overdue = add(
        "raj@northwind.example",
        "Call Raj",
        now - chrono::Duration::days(2),
    );
    let today = add("raj@northwind.example", "Send Raj the deck", now);
    add(
        "raj@northwind.example",
        "Next week",
        now + chrono::Duration::days(7),
    );
    h.settle().await;
    h.keys("5").await;
    assert_eq!(h.app.screen(), Screen::Tasks);
    let ids: Vec<&str> = h.app.tasks.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![overdue.id.as_str(), today.id.as_str()],
        "overdue first; later ones wait"
    );
    let screen = h.screen();
    assert!(
        screen.contains("overdue")
            && screen.contains("Call Raj")
            && screen.contains("Send Raj the deck"),
        "{screen}"
    );
    assert!(!screen.contains("Next week"), "{screen}");

    // d marks the selected task done, s skips the next; both leave the list.
    h.keys("d").await;
    let closed: Task = store.get(&overdue.id).unwrap().unwrap();
    assert_eq!(closed.outcome, Some(TaskOutcome::Done));
    assert_eq!(h.app.tasks.tasks.len(), 1);
    h.keys("enter").await;
    assert_eq!(h.app.screen(), Screen::Lead);
    assert_eq!(h.app.lead.email, "raj@northwind.example");
    h.keys("5 s").await;
    let skipped: Task = store.get(&today.id).unwrap().unwrap();
    assert_eq!(skipped.outcome, Some(TaskOutcome::Skipped));
    assert!(h.app.tasks.tasks.is_empty());
    assert!(h.screen().contains("Nothing due today"));

    // The palette reaches the pane too.
    h.keys("1 :").await;
    h.type_text("go to tasks").await;
    h.keys("enter").await;
    assert_eq!(h.app.screen(), Screen::Tasks);
}

// ------------------------------------------------------------ the composer a rep needs

fn alt(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn tab() -> KeyEvent {
    KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)
}

impl Harness {
    /// A key whose jobs are left queued, to read the request it makes.
    fn press_queued(&mut self, key: KeyEvent) -> Vec<jobs::Job> {
        self.app.handle_key(key);
        self.app.take_jobs()
    }

    async fn run(&mut self, queued: Vec<jobs::Job>) {
        for job in queued {
            let result = jobs::run(self.engine.clone(), job).await;
            self.app.apply(result);
        }
        self.settle().await;
    }

    async fn press_and_settle(&mut self, key: KeyEvent) {
        self.app.handle_key(key);
        self.settle().await;
    }

    fn outbox_len(&self) -> usize {
        outpost::testing::store(&self.engine)
            .iter::<OutboxItem>()
            .filter_map(Result::ok)
            .count()
    }
}

#[tokio::test]
async fn reply_all_with_cc_quotes_the_original_and_refuses_a_bad_address() {
    let mut h = Harness::new();
    // Lee copied Priya: reply-all answers her too.
    let store = outpost::testing::store(&h.engine);
    let mut lee = store
        .get::<Message>("me-gmail/18e0a1b2c3d4-2")
        .unwrap()
        .expect("fixture message");
    lee.cc = vec![Address {
        name: Some("Priya Shah".into()),
        email: "priya@partner.example".into(),
    }];
    store.put(&lee).unwrap();
    h.settle().await;
    // Lee's Gmail conversation, opened: `A` answers everyone on it.
    h.keys("j enter A").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    let compose = h.app.compose.as_ref().unwrap();
    assert!(compose.reply_all);
    assert_eq!(compose.others, ["priya@partner.example"]);
    let text = compose.text();
    assert!(
        text.starts_with(
            "\n\nOn Tue 10 Mar 11:05 UTC, Lee Park <lee@contoso.example> wrote:\n> Sure, send over the **deck**"
        ),
        "the newest message answered, quoted under the cursor: {text}"
    );

    // Tab to Cc; a bad address is flagged and nothing is queued.
    h.press_and_settle(tab()).await;
    h.type_text("ae@acme.io, bad@").await;
    assert!(h.screen().contains("✗ not an address"), "{}", h.screen());
    let before = h.outbox_len();
    h.press_and_settle(ctrl('s')).await;
    assert_eq!(h.outbox_len(), before, "nothing queued");
    assert!(h.app.pending_send.is_none());
    assert!(
        h.screen()
            .contains("Not sent: Cc: \"bad@\" is not an email address"),
        "{}",
        h.screen()
    );
    for _ in 0.."bad@".len() {
        h.keys("bksp").await;
    }
    h.type_text("priya@acme.io").await;
    // Bcc, then back to the body (Tab wraps round), where typing goes.
    h.press_and_settle(tab()).await;
    h.type_text("crm@acme.io").await;
    h.press_and_settle(tab()).await;
    h.type_text("Thanks Lee, the deck is attached.").await;
    insta::assert_snapshot!("compose_cc_quoted", h.screen());

    let queued = h.press_queued(ctrl('s'));
    let reply = queued
        .iter()
        .find_map(|job| match job {
            jobs::Job::QueueReply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .expect("a reply is queued");
    assert_eq!(reply.cc, ["ae@acme.io", "priya@acme.io"]);
    assert_eq!(reply.bcc, ["crm@acme.io"]);
    assert!(reply.reply_all);
    assert_eq!(reply.send_at, None);
    assert!(
        reply
            .text
            .starts_with("Thanks Lee, the deck is attached.\n\nOn Tue 10 Mar")
    );
    h.run(queued).await;
    let pending = h.app.pending_send.clone().expect("in its undo window");
    let item = h.engine.outbox_item(&pending.id).unwrap().unwrap();
    // The engine adds the others on the message answered (reply-all).
    assert_eq!(
        item.email.cc,
        ["ae@acme.io", "priya@acme.io", "priya@partner.example"]
    );
    assert_eq!(item.email.bcc, ["crm@acme.io"]);

    // Undo puts every field back, not only the text.
    h.keys("u").await;
    let compose = h.app.compose.as_ref().expect("back in the composer");
    assert_eq!(compose.cc, "ae@acme.io, priya@acme.io");
    assert_eq!(compose.bcc, "crm@acme.io");
    assert!(compose.reply_all);

    // Kept as a draft, the Cc comes back with it.
    h.keys("esc").await;
    let lee_key = Thread::key_for("me-gmail", "18e0a1b2c3d4");
    let draft = h.engine.draft_for_thread(&lee_key).unwrap().expect("kept");
    assert_eq!(draft.cc, ["ae@acme.io", "priya@acme.io"]);
    h.keys("r").await;
    assert_eq!(
        h.app.compose.as_ref().unwrap().cc,
        "ae@acme.io, priya@acme.io"
    );
    assert_eq!(typed(&h.app), "Thanks Lee, the deck is attached.");
}

#[tokio::test]
async fn send_later_picks_a_quick_time_or_a_typed_date_and_the_reply_is_scheduled() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("r").await;
    h.type_text("Talk Thursday?").await;
    h.press_and_settle(alt('l')).await;
    insta::assert_snapshot!("send_later_picker", h.screen());
    // The last choice: type a date. A bad one is refused in place.
    for _ in 0..6 {
        h.keys("j").await;
    }
    h.keys("enter").await;
    h.type_text("someday").await;
    h.keys("enter").await;
    assert!(
        h.screen().contains("cannot read 'someday'"),
        "{}",
        h.screen()
    );
    for _ in 0.."someday".len() {
        h.keys("bksp").await;
    }
    h.type_text("tomorrow 14:00").await;
    h.keys("enter").await;
    let at_two = at("2026-03-11T14:00:00Z");
    assert_eq!(h.app.compose.as_ref().unwrap().send_at, Some(at_two));
    assert!(
        h.screen().contains("Send at: Wed 11 Mar 14:00 UTC"),
        "{}",
        h.screen()
    );

    let queued = h.press_queued(ctrl('s'));
    let reply = queued
        .iter()
        .find_map(|job| match job {
            jobs::Job::QueueReply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .expect("a reply is queued");
    assert_eq!(reply.send_at, Some(at_two));
    h.run(queued).await;
    // Scheduled, not counting down an undo window.
    assert!(h.app.pending_send.is_none());
    assert_eq!(h.app.screen(), Screen::Inbox);
    assert!(
        h.screen().contains("Scheduled for Wed 11 Mar 14:00 UTC"),
        "{}",
        h.screen()
    );
}

#[tokio::test]
async fn the_snooze_picker_also_takes_a_typed_date() {
    let mut h = Harness::new();
    h.settle().await;
    let first = h.app.inbox.selected().cloned().expect("a row");
    h.keys("s").await;
    assert!(h.screen().contains("Type a date…"), "{}", h.screen());
    for _ in 0..6 {
        h.keys("j").await;
    }
    h.keys("enter").await;
    h.type_text("2026-03-20 09:30").await;
    h.keys("enter").await;
    let snoozed = InboxQuery {
        snoozed: true,
        ..InboxQuery::default()
    };
    let listed = h.engine.inbox(&snoozed).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, first.key());
    assert_eq!(listed[0].snoozed_until, Some(at("2026-03-20T09:30:00Z")));
}

#[tokio::test]
async fn a_snippet_is_picked_by_fuzzy_name_and_filled_from_the_lead() {
    let mut h = Harness::new();
    let config_dir = tempfile::tempdir().unwrap();
    let snippets = config_dir.path().join("snippets");
    std::fs::create_dir(&snippets).unwrap();
    std::fs::write(
        snippets.join("pricing.md"),
        "Hi {{first_name}}, our pricing for {{company}} is per seat.\nHappy to walk you through it.\n",
    )
    .unwrap();
    std::fs::write(
        snippets.join("intro-call.md"),
        "Does Tuesday at 10 work for a call?",
    )
    .unwrap();
    std::fs::write(
        snippets.join("not-now.md"),
        "Understood, {{first_name}}. I'll check back next quarter.",
    )
    .unwrap();
    h.app.snippets_dir = Some(snippets.clone());
    h.settle().await;
    // Dana's conversation (a cached lead) is the newest row.
    h.keys("r").await;
    h.press_and_settle(alt('s')).await;
    h.type_text("pri").await;
    insta::assert_snapshot!("snippet_picker", h.screen());
    h.keys("enter").await;
    let text = h.app.compose.as_ref().unwrap().text();
    assert!(
        text.starts_with(
            "Hi Dana, our pricing for Northwind Traders is per seat.\nHappy to walk you through it.\n\nOn "
        ),
        "inserted at the cursor, above the quote, filled: {text}"
    );

    // A snippet naming a variable the lead cannot answer changes nothing.
    std::fs::write(snippets.join("bad.md"), "Hi {{nickname}}").unwrap();
    h.press_and_settle(alt('s')).await;
    h.type_text("bad").await;
    h.keys("enter").await;
    assert_eq!(h.app.compose.as_ref().unwrap().text(), text);
    assert!(
        h.screen().contains("Snippet bad not inserted"),
        "{}",
        h.screen()
    );
}

#[tokio::test]
async fn t_on_a_selection_tags_every_row_as_one_bulk_change_and_u_undoes_it() {
    let mut h = Harness::new();
    h.settle().await;
    let rows: Vec<String> = h.app.inbox.rows.iter().map(|r| r.key()).collect();
    h.keys("space space").await;
    assert_eq!(h.app.inbox.selection_count(), 2);
    h.keys("t").await;
    assert!(h.screen().contains("2 selected"), "{}", h.screen());
    h.type_text("+hot").await;
    h.keys("enter").await;
    assert!(h.app.inbox.selection.is_empty(), "the selection is spent");
    let tagged = |h: &Harness, key: &str| {
        h.engine
            .inbox(&InboxQuery::default())
            .unwrap()
            .into_iter()
            .find(|r| r.key == key)
            .map(|r| r.tags)
            .unwrap()
    };
    assert_eq!(tagged(&h, &rows[0]), ["hot"]);
    assert_eq!(tagged(&h, &rows[1]), ["hot"]);
    assert!(tagged(&h, &rows[2]).is_empty());
    h.keys("u").await;
    assert!(tagged(&h, &rows[0]).is_empty());
    assert!(tagged(&h, &rows[1]).is_empty());
}

#[tokio::test]
async fn files_are_attached_off_the_ui_task_listed_and_removed() {
    let mut h = Harness::new();
    let dir = tempfile::tempdir().unwrap();
    let deck = dir.path().join("deck.pdf");
    std::fs::write(&deck, vec![7u8; 3 * 1024]).unwrap();
    h.settle().await;
    h.keys("j enter r").await;
    // The path is read by a job: nothing is attached until it answers.
    h.press_and_settle(alt('a')).await;
    // Tab completes the name from its folder (in a job too).
    h.type_text(&format!("{}/de", dir.path().display())).await;
    h.press_and_settle(tab()).await;
    assert!(
        h.screen().contains(&format!("> {}", deck.display())),
        "{}",
        h.screen()
    );
    let queued = h.press_queued(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(
        matches!(queued.as_slice(), [jobs::Job::ReadAttachment { path, .. }] if *path == deck.display().to_string()),
        "{queued:?}"
    );
    assert!(h.app.compose.as_ref().unwrap().attachments.is_empty());
    h.run(queued).await;
    let compose = h.app.compose.as_ref().unwrap();
    assert_eq!(compose.attachments.len(), 1);
    assert_eq!(compose.attachments[0].filename, "deck.pdf");
    assert_eq!(compose.attachments[0].mime_type, "application/pdf");
    assert!(
        h.screen().contains("Attached: deck.pdf (3 KB)"),
        "{}",
        h.screen()
    );

    // A path that is not there: the reason, and nothing attached.
    h.press_and_settle(alt('a')).await;
    h.type_text(&dir.path().join("missing.pdf").display().to_string())
        .await;
    h.keys("enter").await;
    assert!(h.screen().contains("not attached: "), "{}", h.screen());
    assert_eq!(h.app.compose.as_ref().unwrap().attachments.len(), 1);

    // The send carries it; alt-d takes it off first.
    h.type_text("See attached.").await;
    let queued = h.press_queued(ctrl('s'));
    let reply = queued
        .iter()
        .find_map(|job| match job {
            jobs::Job::QueueReply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .expect("a reply is queued");
    assert_eq!(reply.attachments.len(), 1);
    assert_eq!(reply.attachments[0].data.len(), 3 * 1024);
    h.press_and_settle(alt('d')).await;
    assert!(h.app.compose.as_ref().unwrap().attachments.is_empty());
    assert!(h.screen().contains("Removed deck.pdf"), "{}", h.screen());
}

#[tokio::test]
async fn forward_opens_with_to_empty_fwd_and_the_original_below() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("j enter F").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    let screen = h.screen();
    for part in [
        " Forward ",
        "Subject: Fwd: Re: Intro from Priya",
        "---------- Forwarded message ---------",
        "From: Lee Park <lee@contoso.example>",
        "Sure, send over the **deck**",
    ] {
        assert!(screen.contains(part), "{part} in\n{screen}");
    }
    // To comes first and must be filled.
    h.press_and_settle(ctrl('s')).await;
    assert!(
        h.screen()
            .contains("Not sent: a forward needs someone in To"),
        "{}",
        h.screen()
    );
    h.type_text("ae@acme.io").await;
    h.press_and_settle(tab()).await;
    h.press_and_settle(tab()).await;
    h.press_and_settle(tab()).await;
    h.type_text("Lee wants the deck; can you take this one?")
        .await;
    let queued = h.press_queued(ctrl('s'));
    let (thread_key, forward) = queued
        .iter()
        .find_map(|job| match job {
            jobs::Job::Forward {
                thread_key,
                forward,
                ..
            } => Some((thread_key.clone(), forward.clone())),
            _ => None,
        })
        .expect("a forward is queued");
    assert_eq!(thread_key, Thread::key_for("me-gmail", "18e0a1b2c3d4"));
    assert_eq!(forward.to, ["ae@acme.io"]);
    assert_eq!(forward.text, "Lee wants the deck; can you take this one?");

    // Esc on a forward with a note warns first (it is no reply draft); a
    // key typed in between disarms it; a second Esc in a row leaves.
    h.keys("esc").await;
    assert_eq!(h.app.screen(), Screen::Compose);
    assert!(
        h.screen().contains("Esc again discards it"),
        "{}",
        h.screen()
    );
    h.type_text(" Thanks!").await;
    h.keys("esc").await;
    assert_eq!(h.app.screen(), Screen::Compose, "typing disarmed it");
    h.keys("esc").await;
    assert_eq!(h.app.screen(), Screen::Thread);
    assert!(h.screen().contains("Forward discarded"), "{}", h.screen());
}

/// Dana's campaign went out through the rep's Gmail: the mailbox holds the
/// same two messages, so her conversation has a Gmail copy (two routes).
fn give_dana_a_gmail_copy(h: &Harness) {
    let store = outpost::testing::store(&h.engine);
    let sl_key = Thread::key_for("acme-smartlead", "3101:9001");
    let gm_copy_key = Thread::key_for("me-gmail", "19a0dana");
    let mut copy = thread(
        "me-gmail",
        Provider::Gmail,
        "19a0dana",
        "Quick question about Q2 close",
        "dana@northwind.example",
        None,
        "2026-03-10T13:40:00Z",
        true,
        "Thanks Sam, happy to chat.",
    );
    copy.has_reply = true;
    store.put(&copy).unwrap();
    let copies: Vec<Message> = [("sl-9001-1", "gm-dana-1"), ("sl-9001-2", "gm-dana-2")]
        .iter()
        .map(|(original, gmail_id)| {
            let mut m = store
                .get::<Message>(&format!("acme-smartlead/{original}"))
                .unwrap()
                .expect("fixture message");
            m.account = "me-gmail".into();
            m.provider_id = (*gmail_id).into();
            m.thread_key = gm_copy_key.clone();
            m.smartlead = None;
            m
        })
        .collect();
    store.put_all(&copies).unwrap();
    outpost::conversation::settle(store, &sl_key).unwrap();
    assert_eq!(
        h.engine.thread(&gm_copy_key).unwrap().unwrap().key,
        sl_key,
        "the copy is merged"
    );
}

#[tokio::test]
async fn an_attachment_refused_on_smartleads_route_names_the_gmail_route_instead() {
    let mut h = Harness::new();
    give_dana_a_gmail_copy(&h);
    h.settle().await;
    h.keys("r").await;
    let draft_id = {
        let compose = h.app.compose.as_mut().unwrap();
        compose.attachments.push(OutgoingAttachment {
            filename: "deck.pdf".into(),
            mime_type: "application/pdf".into(),
            data: vec![1, 2, 3],
        });
        compose.draft_id.clone()
    };
    // What the door answers when Smartlead's reply endpoint cannot carry it.
    h.app.apply(jobs::JobResult::SendRefused {
        draft_id,
        reason: "not sent: Smartlead's reply cannot carry attachments".into(),
    });
    let screen = h.screen();
    assert!(
        screen.contains("not sent: Smartlead's reply cannot carry attachments — C-o sends it via Gmail · sam@acme.io instead"),
        "{screen}"
    );
    assert_eq!(h.app.screen(), Screen::Compose, "the composer stays open");
    assert!(h.app.pending_send.is_none());
    // Another refusal is not one the Gmail route would avoid.
    let draft_id = h.app.compose.as_ref().unwrap().draft_id.clone();
    h.app.apply(jobs::JobResult::SendRefused {
        draft_id,
        reason: "not sent: the reply is empty; write something first".into(),
    });
    let screen = h.screen();
    assert!(screen.contains("write something first"), "{screen}");
    assert!(!screen.contains("instead"), "{screen}");
}

#[tokio::test]
async fn help_lists_every_composer_action_with_its_key_and_label() {
    let mut h = Harness::new();
    h.settle().await;
    h.keys("?").await;
    let mut seen = String::new();
    for _ in 0..12 {
        seen.push_str(&h.screen_at(200, 40));
        h.press_and_settle(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE))
            .await;
    }
    for (key, label) in [
        ("A", "reply all"),
        ("F", "forward"),
        ("Tab", "next field"),
        ("S-Tab", "previous field"),
        ("M-l", "send later"),
        ("M-a", "attach file"),
        ("M-d", "detach file"),
        ("M-s", "insert snippet"),
    ] {
        let line = seen
            .lines()
            .find(|l| l.contains(&format!(" {label} ")))
            .unwrap_or_else(|| panic!("{label} in help:\n{seen}"));
        assert!(line.contains(&format!(" {key} ")), "{key} on: {line}");
    }
}

#[tokio::test]
async fn at_assigns_the_conversation_to_a_picked_user_and_the_row_says_so() {
    let mut h = Harness::new();
    let user = |name: &str, admin: bool| {
        (
            name.to_string(),
            outpost::config::User {
                name: name.to_string(),
                accounts: ["acme-smartlead".to_string(), "me-gmail".to_string()].into(),
                admin,
            },
        )
    };
    h.engine = h
        .engine
        .clone()
        .with_settings(outpost::engine::EngineSettings {
            users: [user("lee", false), user("sam", true)].into(),
            ..Default::default()
        });
    h.settle().await;
    let key = h.app.inbox.selected().expect("a row is selected").key();
    h.keys("@").await;
    let screen = h.screen();
    assert!(screen.contains("Assign "), "{screen}");
    assert!(
        screen.contains("nobody") && screen.contains("lee"),
        "{screen}"
    );
    // nobody, lee, sam: the second is lee.
    h.keys("j enter").await;
    let view = h.engine.thread(&key).unwrap().unwrap();
    assert_eq!(view.assigned_to.as_deref(), Some("lee"));
    let screen = h.screen();
    assert!(screen.contains("is assigned to lee"), "{screen}");
    assert!(
        screen.contains("@lee"),
        "the row shows no assignee: {screen}"
    );
    // Back to nobody.
    h.keys("@ enter").await;
    assert_eq!(h.engine.thread(&key).unwrap().unwrap().assigned_to, None);
    assert!(!h.screen().contains("@lee"), "{}", h.screen());
}
