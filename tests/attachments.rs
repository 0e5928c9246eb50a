//! Attachments received, against the sandbox as a rep's script uses them:
//! `outpost attachment list` numbers a conversation's files and `outpost
//! attachment save` writes the bytes Gmail holds (messages.get, then
//! messages.attachments.get, unpadded base64url), refusing to overwrite.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use outpost::engine::InboxQuery;
use outpost::sync::SyncEngine;
use serde_json::Value;
use support::fast_rig;

/// The PDF the sandbox's generated replies attach.
const SANDBOX_PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";

fn outpost(config: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("outpost")
        .unwrap()
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_received_in_gmail_is_saved_with_its_bytes() {
    let rig = fast_rig(300, 9).await;
    assert!(
        !SyncEngine::new(rig.engine.clone())
            .sync_all()
            .await
            .failed()
    );
    let key = rig
        .engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .find(|row| {
            let view = rig.engine.thread(&row.key).unwrap().unwrap();
            view.messages
                .iter()
                .any(|m| m.attachments.iter().any(|a| a.filename == "overview.pdf"))
        })
        .expect("a received message with a PDF in the rep's mailbox")
        .key;
    let support::Rig {
        sandbox: _sandbox,
        dir,
        config_path,
        engine,
    } = rig;
    drop(engine);

    let out = outpost(&config_path, &["attachment", "list", &key, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pdf = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "overview.pdf")
        .expect("the PDF is listed");
    assert_eq!(pdf["mime_type"], "application/pdf");
    let number = pdf["number"].as_u64().unwrap().to_string();

    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let to = downloads.to_str().unwrap();
    let out = outpost(
        &config_path,
        &["attachment", "save", &key, &number, "--to", to],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let saved = downloads.join("overview.pdf");
    assert_eq!(std::fs::read(&saved).unwrap(), SANDBOX_PDF);
    assert!(String::from_utf8_lossy(&out.stdout).contains("overview.pdf"));

    // Saved once: a second save refuses and leaves the file alone.
    std::fs::write(&saved, b"the rep's own edits").unwrap();
    let out = outpost(
        &config_path,
        &["attachment", "save", &key, &number, "--to", to],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&saved).unwrap(), b"the rep's own edits");
    let out = outpost(
        &config_path,
        &["attachment", "save", &key, &number, "--to", to, "--force"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&saved).unwrap(), SANDBOX_PDF);

    // Without N: every attachment of the conversation.
    let all = dir.path().join("all");
    std::fs::create_dir(&all).unwrap();
    let out = outpost(
        &config_path,
        &[
            "attachment",
            "save",
            &key,
            "--to",
            all.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let saved: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        saved.as_array().unwrap().len(),
        list.as_array().unwrap().len()
    );
    assert_eq!(
        std::fs::read(all.join("overview.pdf")).unwrap(),
        SANDBOX_PDF
    );
    let csv = std::fs::read_to_string(all.join("requirements.csv")).unwrap();
    assert!(csv.starts_with("seat,price\n"), "{csv}");

    // A number past the list is bad input.
    let out = outpost(
        &config_path,
        &["attachment", "save", &key, "99", "--to", to],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not 99"), "{}", stderr(&out));
}

/// Runs the app's queued jobs against the engine until none are left.
async fn settle(app: &mut outpost::tui::App, engine: &outpost::engine::Engine) {
    loop {
        let jobs = app.take_jobs();
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            let result = outpost::tui::jobs::run(engine.clone(), job).await;
            app.apply(result);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_in_the_thread_saves_an_attachment_to_the_downloads_dir() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let rig = fast_rig(300, 9).await;
    assert!(
        !SyncEngine::new(rig.engine.clone())
            .sync_all()
            .await
            .failed()
    );
    let engine = rig.engine.clone();
    let key = engine
        .inbox(&InboxQuery::default())
        .unwrap()
        .into_iter()
        .find(|row| {
            let view = engine.thread(&row.key).unwrap().unwrap();
            view.messages
                .iter()
                .any(|m| m.attachments.iter().any(|a| a.filename == "overview.pdf"))
        })
        .expect("a received message with a PDF")
        .key;
    let mut app = outpost::tui::App::new(
        outpost::tui::Keymap::defaults(),
        outpost::tui::Theme::new(&Default::default(), false).unwrap(),
        engine.clock().clone(),
        10,
        outpost::config::Notify::Bell,
    );
    let downloads = tempfile::tempdir().unwrap();
    app.downloads = downloads.path().to_path_buf();
    settle(&mut app, &engine).await;
    app.open_thread(&key);
    settle(&mut app, &engine).await;

    let press = |app: &mut outpost::tui::App, c: char| {
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        app.handle_key(KeyEvent::new(KeyCode::Char(c), mods));
    };
    press(&mut app, 'o');
    // The picker filters as the rep types: the PDF's "Save" line.
    for c in "save overview".chars() {
        press(&mut app, c);
    }
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    settle(&mut app, &engine).await;
    let saved = downloads.path().join("overview.pdf");
    assert_eq!(std::fs::read(&saved).unwrap(), SANDBOX_PDF);
    let (message, _) = app.current_toast().expect("a message");
    assert!(message.contains("Saved "), "{message}");

    // Saved again: a new name beside it, the first file kept.
    press(&mut app, 'o');
    for c in "save overview".chars() {
        press(&mut app, c);
    }
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    settle(&mut app, &engine).await;
    let again = downloads.path().join("overview (1).pdf");
    assert_eq!(std::fs::read(&again).unwrap(), SANDBOX_PDF);
}
