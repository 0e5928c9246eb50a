//! The deliverability preflight against a real DNS server on loopback:
//! `doctor` reports a sending domain without DMARC with the record to add
//! and passes one with SPF, DKIM and DMARC; `sequence apply` and `enroll`
//! warn about the sequence's domain and a lead whose domain has no MX; and
//! without a public_url the steps carry a mailto List-Unsubscribe.

mod support;

use std::path::Path;
use std::sync::Arc;

use assert_cmd::cargo::CommandCargoExt;
use outpost::clock::{Clock, FakeClock};
use outpost::config::SendingConfig;
use outpost::engine::door::{Request, Response};
use outpost::engine::{Engine, EngineSettings};
use outpost::model::OutboxItem;
use outpost::sequences::{LeadInput, Scheduler, SchedulerConfig};
use outpost::store::Store;
use support::dns::DnsServer;

const SEQUENCE: &str = "cold-outreach-gmail";

/// acme.io: SPF for Google and a DKIM key, no DMARC. good.example: all
/// three, its DKIM under a selector only the config names. Leads:
/// ledgerly.example takes mail, nomx.example exists without an MX.
fn dns() -> DnsServer {
    let dns = DnsServer::start();
    dns.txt("acme.io", "v=spf1 include:_spf.google.com ~all")
        .txt(
            "google._domainkey.acme.io",
            "v=DKIM1; k=rsa; p=MIIBIjANBgkqh",
        )
        .txt("good.example", "v=spf1 include:_spf.good.example -all")
        .txt("_spf.good.example", "v=spf1 include:_spf.google.com ~all")
        .txt(
            "s2024._domainkey.good.example",
            "v=DKIM1; k=rsa; p=MIIBIjANBgkqh",
        )
        .txt("_dmarc.good.example", "v=DMARC1; p=quarantine")
        .mx("ledgerly.example", "mx.ledgerly.example")
        .exists("nomx.example");
    dns
}

/// An engine on a fresh store that asks `dns`, with the sample sequence
/// applied. Monday 15:00 UTC: 10:00 in New York, inside its window.
async fn engine_with_sequence(dns: &DnsServer) -> (Engine, Store, FakeClock) {
    let clock = FakeClock::new("2026-03-02T15:00:00Z".parse().unwrap());
    let store = Store::temporary().unwrap();
    let engine =
        Engine::new(store.clone(), Arc::new(clock.clone())).with_settings(EngineSettings {
            sending: SendingConfig {
                dns_server: Some(dns.addr),
                ..SendingConfig::default()
            },
            public_url: None,
            data_dir: None,
            ..EngineSettings::default()
        });
    let text = std::fs::read_to_string(format!(
        "{}/assets/sequences/{SEQUENCE}.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    engine
        .execute(Request::SequenceApply {
            file: "cold.toml".into(),
            text,
        })
        .await
        .unwrap();
    (engine, store, clock)
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::cargo_bin("outpost")
        .unwrap()
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn doctor_reports_a_domain_without_dmarc_with_the_record_and_passes_a_good_one() {
    let dns = dns();
    let dir = tempfile::tempdir().unwrap();
    // Two mailboxes (not signed in: doctor says so, and checks their domains anyway).
    let gmail = |name: &str, email: &str| {
        format!(
            "[accounts.{name}]\nprovider = \"gmail\"\nemail = \"{email}\"\nclient_id = \"cid\"\n\
             client_secret = \"cs\"\napi_base_url = \"http://127.0.0.1:9\"\n\
             auth_url = \"http://127.0.0.1:9/auth\"\ntoken_url = \"http://127.0.0.1:9/token\"\n\n"
        )
    };
    let config = format!(
        "{}{}[sending]\ndns_server = \"{}\"\ndkim_selectors = [\"s2024\"]\n",
        gmail("rep", "rep@acme.io"),
        gmail("sam", "sam@good.example"),
        dns.addr
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let (code, stdout, stderr) = run(dir.path(), &["doctor"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("  FAIL  acme.io: DMARC: acme.io has no DMARC record"),
        "{stdout}"
    );
    assert!(
        stdout.contains("→ _dmarc.acme.io TXT \"v=DMARC1; p=none; rua=mailto:dmarc@acme.io\""),
        "the record to add: {stdout}"
    );
    assert!(
        stdout.contains("  ok    acme.io: SPF: acme.io allows Google"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ok    acme.io: DKIM: acme.io has a DKIM key (selector google)"),
        "{stdout}"
    );
    // SPF through a nested include; DKIM under the configured selector.
    for line in [
        "  ok    good.example: SPF: good.example allows Google",
        "  ok    good.example: DKIM: good.example has a DKIM key (selector s2024)",
        "  ok    good.example: DMARC: _dmarc.good.example: v=DMARC1; p=quarantine",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    // No public_url: one-click unsubscribe is missing, which is said, not failed.
    assert!(
        stdout.contains("  warn  List-Unsubscribe: sequence emails carry only a mailto"),
        "{stdout}"
    );
    assert!(
        dns.queries.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the lookups went over the wire"
    );
}

#[test]
fn apply_and_enroll_warn_about_the_sending_domain_and_a_lead_domain_without_mx() {
    let dns = dns();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[sending]\ntimezone = \"America/New_York\"\ndns_server = \"{}\"\n",
            dns.addr
        ),
    )
    .unwrap();
    let example = format!(
        "{}/assets/sequences/{SEQUENCE}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let (code, stdout, stderr) = run(dir.path(), &["sequence", "apply", &example]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout
            .contains("warning: acme.io: DMARC: acme.io has no DMARC record → _dmarc.acme.io TXT"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "warning: List-Unsubscribe: sequence emails carry only a mailto List-Unsubscribe"
        ),
        "what every step carries: {stdout}"
    );

    let (code, stdout, stderr) = run(
        dir.path(),
        &[
            "enroll",
            "--sequence",
            SEQUENCE,
            "--lead",
            "ghost@nomx.example",
        ],
    );
    assert_eq!(code, 0, "a warning, not a refusal: {stdout}{stderr}");
    assert!(
        stdout.contains(
            "warning: ghost@nomx.example: nomx.example has no mail server (no MX record); mail to it will bounce"
        ),
        "{stdout}"
    );
    let (_, stdout, _) = run(
        dir.path(),
        &[
            "enroll",
            "--sequence",
            SEQUENCE,
            "--lead",
            "dana@ledgerly.example",
        ],
    );
    assert!(!stdout.contains("no mail server"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_door_preflight_and_the_steps_unsubscribe_header_without_a_public_url() {
    let dns = dns();
    let (engine, store, clock) = engine_with_sequence(&dns).await;

    let report = match engine
        .execute(Request::Preflight {
            sequence: SEQUENCE.into(),
            leads: vec!["dana@ledgerly.example".into(), "ghost@nomx.example".into()],
        })
        .await
        .unwrap()
    {
        Response::Preflight(report) => report,
        other => panic!("{other:?}"),
    };
    assert_eq!(report.no_mx, ["ghost@nomx.example"]);
    assert_eq!(report.domains.len(), 1);
    assert_eq!(report.domains[0].domain, "acme.io");
    let failed: Vec<&str> = report.domains[0]
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["DMARC"]);
    assert!(!report.unsubscribe.ok);
    assert!(report.notes.is_empty(), "{:?}", report.notes);

    // What a step will carry: a mailto List-Unsubscribe, no one-click header.
    engine
        .execute(Request::Enroll {
            sequence: SEQUENCE.into(),
            leads: vec![LeadInput::email("dana@ledgerly.example")],
            start: Some(clock.now()),
            force: true,
        })
        .await
        .unwrap();
    let scheduler = Scheduler::new(
        store.clone(),
        SchedulerConfig::new("America/New_York".parse().unwrap()),
    );
    let tick = scheduler.tick(clock.now()).unwrap();
    let id = tick.queued.first().expect("the first step is queued");
    let item = store.get::<OutboxItem>(id).unwrap().unwrap();
    let unsubscribe: Vec<&(String, String)> = item
        .email
        .headers
        .iter()
        .filter(|(name, _)| name.starts_with("List-Unsubscribe"))
        .collect();
    assert_eq!(
        unsubscribe,
        [&(
            "List-Unsubscribe".to_string(),
            "<mailto:rep@acme.io?subject=unsubscribe>".to_string()
        )]
    );
}

/// The TUI's sequence detail shows the preflight's warnings, looked up by a
/// job (the screen draws "Loading…" meanwhile, never waiting on DNS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_sequence_detail_shows_the_deliverability_warnings() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use outpost::tui::{App, Keymap, Theme, jobs, view};
    let dns = dns();
    let (engine, _, clock) = engine_with_sequence(&dns).await;
    let mut app = App::new(
        Keymap::defaults(),
        Theme::new(&Default::default(), true).unwrap(),
        Arc::new(clock.clone()),
        10,
        outpost::config::Notify::Bell,
    );
    let settle = async |app: &mut App| {
        loop {
            let pending = app.take_jobs();
            if pending.is_empty() {
                break;
            }
            for job in pending {
                let result = jobs::run(engine.clone(), job).await;
                app.apply(result);
            }
        }
    };
    settle(&mut app).await;
    app.handle_key(KeyEvent::new(KeyCode::Char('4'), KeyModifiers::NONE));
    settle(&mut app).await;
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    settle(&mut app).await;
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 40)).unwrap();
    terminal.draw(|f| view::draw(f, &mut app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut screen = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            screen.push_str(buffer[(x, y)].symbol());
        }
        screen.push('\n');
    }
    assert!(
        screen.contains("⚠ acme.io: DMARC: acme.io has no DMARC record"),
        "{screen}"
    );
    assert!(
        !screen.contains("List-Unsubscribe"),
        "a mailto List-Unsubscribe is not a warning here: {screen}"
    );

    // Enrolling from the TUI flags a lead whose domain takes no mail, as
    // `outpost enroll` does; one whose domain has a mail server is not.
    let enroll = |email: &str| jobs::Job::Enroll {
        sequence: SEQUENCE.into(),
        email: email.into(),
        force: true,
    };
    let flagged = jobs::run(engine.clone(), enroll("ops@nomx.example")).await;
    let jobs::JobResult::Done(text) = flagged else {
        panic!("enrolled: {flagged:?}")
    };
    assert!(text.starts_with("Enrolled ops@nomx.example"), "{text}");
    assert!(text.contains("nomx.example has no mail server"), "{text}");
    let fine = jobs::run(engine.clone(), enroll("ap@ledgerly.example")).await;
    let jobs::JobResult::Done(text) = fine else {
        panic!("enrolled: {fine:?}")
    };
    assert!(!text.contains("warning"), "{text}");
}
