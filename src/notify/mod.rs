//! The notify hook: once per new inbound reply, a shell command gets the
//! reply as one JSON document on stdin and/or a URL gets it posted (with a
//! Slack-style `text`). Run by whichever outpost process syncs (the daemon,
//! `outpost sync`, a TUI) and never twice for one reply: each reply is
//! claimed by compare-and-swap on its RFC Message-ID before the hook runs,
//! so a reply that reached outpost through Smartlead and the rep's Gmail
//! counts once. Replies dated before the hook was first seen are history,
//! not news.

use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::config::NotifyHook;
use crate::engine::{Engine, ReminderView, snippet};
use crate::model::{Cursor, Direction, Notified, Thread};
use crate::store::{Index, StoreResult};

/// How far back a pass looks for replies it has not announced (a sync that
/// catches up after a day offline still announces them).
const WINDOW: chrono::Duration = chrono::Duration::days(7);
/// How long the command or the post may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the background pass runs.
const EVERY: Duration = Duration::from_secs(10);
const PREVIEW_CHARS: usize = 280;

/// One new reply, as the hook receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewReply {
    /// `"reply"`: what the document announces (a reminder says `"reminder"`).
    pub event: &'static str,
    /// A one-line summary (Slack shows it).
    pub text: String,
    /// The conversation's key (`outpost thread KEY`).
    pub conversation: String,
    pub account: String,
    pub lead: Option<String>,
    pub name: String,
    pub subject: String,
    pub snippet: String,
    pub category: Option<String>,
    pub campaign: Option<String>,
    pub campaign_id: Option<i64>,
    pub message_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// Claims every reply not yet announced (and in the hook's categories) and
/// returns them, oldest first. Nothing when no hook is set.
pub fn claim_new_replies(engine: &Engine, hook: &NotifyHook) -> StoreResult<Vec<NewReply>> {
    if !hook.is_set() {
        return Ok(Vec::new());
    }
    let store = engine.store();
    let now = engine.clock().now();
    let since = hook_enabled_at(engine, now)?;
    let window_start = since.max(now - WINDOW);
    let mut found = Vec::new();
    for thread in store.by_index::<Thread>(Index::ThreadsByTime, b"", true) {
        let thread = thread?;
        if thread.last_message_at <= window_start {
            break;
        }
        if thread.last_inbound_at.is_none_or(|at| at <= window_start) {
            continue;
        }
        let category = thread.category.as_ref().map(|c| c.name.clone());
        let wanted = hook.categories.is_empty()
            || category
                .as_deref()
                .is_some_and(|c| hook.categories.iter().any(|w| w.eq_ignore_ascii_case(c)));
        if !wanted {
            // Not claimed: a category set later still announces it.
            continue;
        }
        let Some(view) = engine.thread(&thread.key())? else {
            continue;
        };
        for message in &view.messages {
            if message.direction != Direction::Inbound || message.date <= window_start {
                continue;
            }
            let id = message.message_id.clone().unwrap_or_else(|| message.key());
            // Announced before (the common case on every pass): a plain read,
            // no transaction.
            if store.contains::<Notified>(&id)? {
                continue;
            }
            let claim = Notified {
                id: id.clone(),
                conversation: view.key.clone(),
                at: now,
            };
            let claimed = store.modify::<Notified, ()>(
                std::slice::from_ref(&id),
                |_, current| match current {
                    Some(_) => None,
                    None => Some((claim.clone(), ())),
                },
            )?;
            if claimed.is_empty() {
                continue;
            }
            let text_snippet = snippet(&message.text_body, PREVIEW_CHARS);
            let campaign = view.thread.campaign_name.clone();
            found.push(NewReply {
                event: "reply",
                text: format!(
                    "New reply from {}{}: {}",
                    view.name,
                    category
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    snippet(&text_snippet, 140)
                ),
                conversation: view.key.clone(),
                account: view.thread.account.clone(),
                lead: view.thread.lead_email.clone(),
                name: view.name.clone(),
                subject: message.subject.clone(),
                snippet: text_snippet,
                category: category.clone(),
                campaign,
                campaign_id: view.thread.campaign_id,
                message_id: message.message_id.clone(),
                at: message.date,
            });
        }
    }
    found.sort_by_key(|r| r.at);
    Ok(found)
}

/// When this data dir first ran with a hook: replies before it are history.
fn hook_enabled_at(engine: &Engine, now: DateTime<Utc>) -> StoreResult<DateTime<Utc>> {
    let cursor = Cursor {
        account: "outpost".into(),
        name: "notify-since".into(),
        value: now.to_rfc3339(),
    };
    let stored = engine
        .store()
        .modify::<Cursor, Cursor>(&[cursor.key()], |_, current| match current {
            Some(_) => None,
            None => Some((cursor.clone(), cursor.clone())),
        })?;
    let value = match stored.into_iter().next() {
        Some(new) => new.value,
        None => engine
            .store()
            .get::<Cursor>(&cursor.key())?
            .map_or(cursor.value.clone(), |c| c.value),
    };
    Ok(DateTime::parse_from_rfc3339(&value).map_or(now, |at| at.with_timezone(&Utc)))
}

/// A reminder come due, as the hook receives it. Every reminder goes out,
/// whatever the hook's categories: the rep asked for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DueReminder {
    /// `"reminder"`.
    pub event: &'static str,
    pub text: String,
    pub conversation: String,
    pub reminder: String,
    pub name: String,
    pub subject: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

impl DueReminder {
    pub fn new(due: &ReminderView) -> DueReminder {
        let note = due.reminder.note.clone();
        DueReminder {
            event: "reminder",
            text: format!(
                "Reminder: {} · {}{}",
                due.name,
                due.subject,
                note.as_deref()
                    .map(|n| format!(" — {n}"))
                    .unwrap_or_default()
            ),
            conversation: due.reminder.conversation.clone(),
            reminder: due.reminder.id.clone(),
            name: due.name.clone(),
            subject: due.subject.clone(),
            note,
            at: due.reminder.at,
        }
    }
}

/// Runs the hook for each reply: the command with the JSON on stdin, the
/// post with the same JSON. Failures are logged (without the URL) and do
/// not stop the others.
pub async fn deliver(hook: &NotifyHook, replies: &[NewReply]) {
    let documents: Vec<(&str, Vec<u8>)> = replies
        .iter()
        .filter_map(|r| Some((r.conversation.as_str(), serde_json::to_vec(r).ok()?)))
        .collect();
    deliver_documents(hook, &documents).await;
}

/// Runs the hook once for each reminder come due.
pub async fn deliver_reminders(hook: &NotifyHook, due: &[ReminderView]) {
    if !hook.is_set() {
        return;
    }
    let documents: Vec<(&str, Vec<u8>)> = due
        .iter()
        .filter_map(|d| {
            let json = serde_json::to_vec(&DueReminder::new(d)).ok()?;
            Some((d.reminder.conversation.as_str(), json))
        })
        .collect();
    deliver_documents(hook, &documents).await;
}

/// Each document, keyed by its conversation for the log, to the command
/// and the URL.
async fn deliver_documents(hook: &NotifyHook, documents: &[(&str, Vec<u8>)]) {
    let client = hook.webhook_url.as_ref().and_then(|_| {
        reqwest::Client::builder()
            .timeout(HOOK_TIMEOUT)
            .build()
            .map_err(|e| tracing::warn!(error = %e, "cannot build the notify webhook client"))
            .ok()
    });
    for (conversation, json) in documents {
        if let Some(command) = &hook.command
            && let Err(e) = run_command(command, json).await
        {
            tracing::warn!(error = %e, conversation = %conversation, "the notify command failed");
        }
        if let (Some(url), Some(client)) = (&hook.webhook_url, &client) {
            let posted = client
                .post(url.clone())
                .header("content-type", "application/json")
                .body(json.clone())
                .send()
                .await;
            match posted {
                Ok(answer) if answer.status().is_success() => {}
                Ok(answer) => {
                    tracing::warn!(status = %answer.status(), "the notify webhook refused the reply")
                }
                // The error's text may name the URL, which can hold a token.
                Err(e) if e.is_timeout() => tracing::warn!("the notify webhook timed out"),
                Err(_) => tracing::warn!("the notify webhook could not be reached"),
            }
        }
    }
}

async fn run_command(command: &str, stdin: &[u8]) -> std::io::Result<()> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).await?;
    }
    match tokio::time::timeout(HOOK_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(_)) => Err(std::io::Error::other("it exited with an error")),
        Err(_) => Err(std::io::Error::other("it took longer than 10 s")),
    }
}

/// One pass: claim and deliver. Returns how many replies were announced.
pub async fn pass(engine: &Engine, hook: &NotifyHook) -> usize {
    match claim_new_replies(engine, hook) {
        Ok(replies) => {
            deliver(hook, &replies).await;
            replies.len()
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not look for new replies to announce");
            0
        }
    }
}

/// Announces new replies until shut down.
pub async fn run(engine: Engine, hook: NotifyHook, shutdown: CancellationToken) {
    if !hook.is_set() {
        return;
    }
    loop {
        pass(&engine, &hook).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
