//! The status bar: per-account sync state, and key hints that are true for
//! the current screen (generated from the keymap).

use chrono::{DateTime, Utc};
use ratatui::text::{Line, Span};

use crate::store::SyncProgress;
use crate::tui::action::{ACTIONS, Action, Screen};
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;

const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

pub fn sync_spans(
    sync: &[SyncProgress],
    theme: &Theme,
    tick: usize,
    format_time: impl Fn(DateTime<Utc>) -> String,
) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for p in sync {
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        if let Some(fix) = &p.needs_attention {
            // Never clipped: the fix is the point.
            spans.push(Span::styled(
                format!("{} ✗ needs attention: {fix}", p.account),
                theme.error(),
            ));
        } else if p.needs_login {
            spans.push(Span::styled(
                format!("{} ✗ needs login", p.account),
                theme.error(),
            ));
        } else if let Some(err) = &p.last_error {
            // One rule for every provider: a failed sync keeps saying why,
            // also while the next attempt runs (a provider whose client
            // retries longer must not look busy instead of broken).
            let retrying = if p.running {
                format!(" · {} retrying", SPINNER[tick % SPINNER.len()])
            } else {
                String::new()
            };
            spans.push(Span::styled(
                format!("{} ✗ {}{retrying}", p.account, super::clip(err, 40)),
                theme.error(),
            ));
        } else if p.running {
            let progress = match p.total {
                Some(total) => format!(" {}/{total}", p.done),
                None if p.done > 0 => format!(" {}", p.done),
                None => String::new(),
            };
            spans.push(Span::styled(
                format!(
                    "{} {} {}{progress}",
                    p.account,
                    SPINNER[tick % SPINNER.len()],
                    p.phase
                ),
                theme.accent(),
            ));
        } else if let Some(at) = p.last_success {
            spans.push(Span::styled(
                format!("{} ✓ {}", p.account, format_time(at)),
                theme.ok(),
            ));
        } else {
            spans.push(Span::styled(
                format!("{} · not synced yet", p.account),
                theme.muted(),
            ));
        }
    }
    spans
}

/// `offered`: whether an action means something right now (switching a
/// reply's route means nothing in a new email).
pub fn hints(
    keymap: &Keymap,
    screen: Screen,
    theme: &Theme,
    offered: impl Fn(Action) -> bool,
) -> Line<'static> {
    let mut spans = Vec::new();
    for info in ACTIONS
        .iter()
        .filter(|a| a.hint && a.scope.applies(screen) && offered(a.action))
    {
        let Some(key) = keymap.keys_of(info.action).first() else {
            continue;
        };
        spans.push(Span::styled(key.label(), theme.accent()));
        spans.push(Span::styled(format!(" {}  ", info.label), theme.muted()));
    }
    Line::from(spans)
}

pub fn hint_text(keymap: &Keymap, screen: Screen, offered: impl Fn(Action) -> bool) -> String {
    ACTIONS
        .iter()
        .filter(|a| a.hint && a.scope.applies(screen) && offered(a.action))
        .filter_map(|a| {
            keymap
                .keys_of(a.action)
                .first()
                .map(|k| format!("{} {}", k.label(), a.label))
        })
        .collect::<Vec<_>>()
        .join("  ")
}
