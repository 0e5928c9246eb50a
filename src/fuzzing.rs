//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay in
//! `tests/fuzz_corpora.rs`: each takes arbitrary bytes, runs them through the
//! same parsing code outpost runs on hostile input, and must never panic.
//! Errors are expected and ignored; only panics (and hangs) are failures.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};

use crate::config::{ConfigSources, FixedEnv, PlatformDirs, ResolveSecrets};
use crate::ingest::apply;
use crate::providers::gmail::mime::{self, Mailbox, ReplyDraft};
use crate::providers::gmail::types::Message;
use crate::sequences::template::{Template, unknown_variables};
use crate::server::routes::webhooks::parse;

/// A fixed "now", so a replayed input always takes the same path.
fn fixed_now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// A Smartlead webhook body as the route reads it: JSON, one object or an
/// array of them, each parsed and turned into the event it would record.
pub fn webhook_payload(data: &[u8]) {
    let items = match parse::read_body(data) {
        Ok(parse::Body::One(payload)) => vec![Some(*payload)],
        Ok(parse::Body::Many(items)) => items,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    for item in items.iter().flatten() {
        let _ = item.secret_key.text();
        match parse::read(item) {
            Ok(payload) => {
                let _ = apply::event_type(&payload);
                let _ = apply::event_for("fuzz", &payload, || "delivery-1".into(), fixed_now());
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }
    let _ = crate::server::routes::webhooks::sign_body(b"secret", data);
}

/// A sequence-step template: parse, the apply-time unknown-variable check,
/// then render against a lead with a few fields (and with none, so defaults
/// and missing values are both exercised).
pub fn template_render(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let template = match Template::parse(&text) {
        Ok(template) => template,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let custom: BTreeSet<String> = ["role".to_string(), "pain_point".to_string()].into();
    let _ = unknown_variables(&template, &custom);
    let lead = |name: &str| match name {
        "first_name" => Some("Dana".to_string()),
        "company" => Some("Ledgerly".to_string()),
        "role" => Some("CFO".to_string()),
        "email" => Some("dana@ledgerly.example".to_string()),
        _ => None,
    };
    for seed in [0, 1, u64::MAX] {
        if let Err(missing) = template.render(&lead, seed) {
            let _ = missing.to_string();
        }
    }
    let _ = template.render(&|_| None, 7);
}

/// Inbound mail: bytes that look like a Gmail API message (JSON) go through
/// `parse_gmail_message`; anything else is read as raw RFC 822. A reply to
/// whatever was parsed is then built, as the inbox does when the rep answers.
pub fn mime_inbound(data: &[u8]) {
    let parsed = match serde_json::from_slice::<Message>(data) {
        Ok(message) => match mime::parse_gmail_message(&message) {
            Ok(parsed) => parsed,
            Err(error) => {
                let _ = error.to_string();
                return;
            }
        },
        Err(_) => mime::parse(data),
    };
    let _ = mime::reply_subject(parsed.subject.as_deref());
    let draft = ReplyDraft {
        from: Mailbox::new(Some("Sam"), "sam@outpost.example"),
        message_id: "reply-1@outpost.example".to_string(),
        text_body: Some("Thanks!".to_string()),
        date: Some(fixed_now()),
        ..ReplyDraft::default()
    };
    if let Err(error) = mime::build_reply(&parsed, draft) {
        let _ = error.to_string();
    }
}

/// A config file's text, loaded the way `outpost` loads it, without resolving
/// secrets (a hostile file must never get to run a `command` secret).
pub fn config_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    CONFIG_DIR.with(|dir| {
        if let Some(dir) = dir {
            load_config_text(dir.path(), text);
        }
    });
}

thread_local! {
    /// One scratch directory per thread: the loader reads a real file, and
    /// creating a directory per input would dominate a fuzzing run.
    static CONFIG_DIR: Option<tempfile::TempDir> = tempfile::tempdir().ok();
}

fn load_config_text(dir: &Path, text: &str) {
    let path = dir.join("config.toml");
    if std::fs::write(&path, text).is_err() {
        return;
    }
    let env = FixedEnv::new(Some(PlatformDirs {
        config_dir: dir.to_path_buf(),
        data_dir: dir.join("data"),
        home_dir: Some(PathBuf::from("/home/fuzz")),
    }));
    let sources = ConfigSources {
        config_path: Some(path),
        data_dir: None,
    };
    match crate::config::load_with(&sources, &env, ResolveSecrets::Later) {
        Ok(config) => {
            let _ = config.warnings();
            let _ = config.secrets().len();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}
