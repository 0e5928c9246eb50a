//! Drawing a frame: tab bar, the current screen, the message/search line,
//! the status bar, and any overlay on top.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::action::Screen;
use super::app::{App, HitMap, Overlay, ToastLevel};
use super::panes;
use super::widgets::{overlays, status};
use crate::model::OutboxState;

const TABS: [(Screen, &str); 4] = [
    (Screen::Inbox, "1 Inbox"),
    (Screen::Leads, "2 Leads"),
    (Screen::Stats, "3 Stats"),
    (Screen::Sequences, "4 Sequences"),
];

pub fn draw(f: &mut Frame, app: &mut App) {
    let area = f.area();
    let [tabs, main, message, bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut hits = HitMap::default();
    draw_tabs(f, app, tabs, &mut hits);
    let now = app.now();
    let theme = app.theme.clone();
    let screen = app.screen();
    hits.list = match screen {
        Screen::Inbox => Some(app.inbox.render(f, main, &theme, now)),
        Screen::Thread => {
            app.thread.render(f, main, &theme);
            None
        }
        Screen::Compose => {
            let hints = status::hint_text(&app.keymap, Screen::Compose, |a| app.offers(a));
            let zone = app.zone;
            if let Some(compose) = &mut app.compose {
                compose.render(f, main, &theme, &hints, &zone);
            }
            None
        }
        Screen::Leads => {
            // Any account still on its first sync may yet bring leads.
            let first_sync = app
                .sync
                .values()
                .any(|p| p.running && p.last_success.is_none());
            Some(app.leads.render(f, main, &theme, now, first_sync))
        }
        Screen::Lead => {
            app.lead.render(f, main, &theme);
            None
        }
        Screen::Stats => Some(app.stats.render(f, main, &theme)),
        Screen::Sequences => Some(app.sequences.render_list(f, main, &theme)),
        Screen::Sequence => Some(app.sequences.render_detail(f, main, &theme, app.zone)),
        Screen::Tasks => Some(app.tasks.render(f, main, &theme, now)),
    };
    draw_message(f, app, message);
    draw_status(f, app, bar);
    match &mut app.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => {
            overlays::render_help(f, main, &theme, &app.keymap, screen, *scroll)
        }
        Overlay::Palette(palette) => {
            overlays::render_palette(f, main, &theme, &app.keymap, screen, palette)
        }
        Overlay::Picker(picker) => overlays::render_picker(f, main, &theme, picker),
        Overlay::Prompt(prompt) => overlays::render_prompt(f, main, &theme, prompt),
    }
    app.hits = hits;
    app.dirty = false;
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect, hits: &mut HitMap) {
    let mut spans = vec![Span::styled(" outpost ", app.theme.accent())];
    let mut x = area.x + 9;
    for (screen, label) in TABS {
        let text = format!(" {label} ");
        let width = text.chars().count() as u16;
        let style = if app.tab == screen {
            app.theme.selected()
        } else {
            app.theme.muted()
        };
        hits.tabs.push((
            Rect {
                x,
                y: area.y,
                width,
                height: 1,
            },
            screen,
        ));
        x += width + 1;
        spans.push(Span::styled(text, style));
        spans.push(Span::raw(" "));
    }
    // Tasks (`5`) has no tab of its own; the bar names it while open.
    if app.screen() != app.tab || app.tab == Screen::Tasks {
        spans.push(Span::styled(
            format!("› {}", app.screen().title()),
            app.theme.accent(),
        ));
    }
    f.render_widget(Line::from(spans), area);
}

fn draw_message(f: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let line = if let Some(prompt) = &app.tag_prompt {
        Line::from(vec![
            Span::styled(format!("tags for {}: ", prompt.name), theme.accent()),
            Span::raw(prompt.text.clone()),
            Span::styled("▏", theme.accent()),
            Span::styled(
                "  (+add -remove · Tab completes · Enter apply · Esc cancel)",
                theme.muted(),
            ),
        ])
    } else if let Some(text) = &app.search {
        let hint = if app.screen() == Screen::Leads {
            "  (campaign: company: event: since: until: · Enter keep · Esc clear)"
        } else {
            "  (from: to: tag: label: is: has: before: after: -not · Enter keep · Esc clear)"
        };
        Line::from(vec![
            Span::styled("/", theme.accent()),
            Span::raw(text.clone()),
            Span::styled("▏", theme.accent()),
            Span::styled(hint, theme.muted()),
        ])
    } else if let Some((text, level)) = app.toast.as_ref().filter(|_| app.quit_armed) {
        // The quit question outranks the countdown it is about.
        let style = match level {
            ToastLevel::Info => theme.ok(),
            ToastLevel::Error => theme.error(),
        };
        Line::styled(text.clone(), style)
    } else if let Some(p) = &app.pending_send {
        let left = (p.not_before - app.now()).num_seconds();
        let undo = app.keymap.label(super::action::Action::UndoSend);
        match p.state {
            OutboxState::Pending if left > 0 => Line::from(vec![
                Span::styled(format!("Sending to {} in {left}s", p.to), theme.warn()),
                Span::styled(format!(" — {undo} to undo"), theme.accent()),
            ]),
            OutboxState::Pending => Line::from(vec![
                Span::styled(
                    format!("Queued for {}; the outbox sends it next", p.to),
                    theme.warn(),
                ),
                Span::styled(format!(" — {undo} to undo"), theme.accent()),
            ]),
            _ => match &p.detail {
                // Not confirmed yet: say what outpost is waiting for.
                Some(detail) => Line::from(vec![
                    Span::styled(format!("Sending to {}… ", p.to), theme.warn()),
                    Span::styled(detail.clone(), theme.muted()),
                ]),
                None => Line::styled(format!("Sending to {}…", p.to), theme.warn()),
            },
        }
    } else if let Some((text, level)) = app.current_toast() {
        let style = match level {
            ToastLevel::Info => theme.ok(),
            ToastLevel::Error => theme.error(),
        };
        Line::styled(text.to_string(), style)
    } else {
        Line::raw("")
    };
    f.render_widget(line, area);
}

fn draw_status(f: &mut Frame, app: &App, area: Rect) {
    let sync: Vec<_> = app.sync.values().cloned().collect();
    let now = app.now();
    let mut spans = status::sync_spans(&sync, &app.theme, app.tick, |at| panes::age(now, at));
    if app.leads.loading {
        spans.push(Span::styled("  indexing leads…", app.theme.muted()));
    }
    if !app.leads.picked.is_empty() {
        spans.push(Span::styled(
            format!("  {} leads selected", app.leads.picked.len()),
            app.theme.accent(),
        ));
    }
    if !app.inbox.selection.is_empty() {
        let all = if app.inbox.selection.all_matching {
            " (all matching)"
        } else {
            ""
        };
        spans.push(Span::styled(
            format!("  {} selected{all}", app.inbox.selection_count()),
            app.theme.accent(),
        ));
    }
    if let Some((note, problem)) = app.attachment_note() {
        let style = if problem {
            app.theme.error()
        } else {
            app.theme.muted()
        };
        spans.push(Span::styled(format!("  {note}"), style));
    }
    let left = Line::from(spans);
    let width = left.width() as u16;
    let [l, r] =
        Layout::horizontal([Constraint::Length(width + 2), Constraint::Fill(1)]).areas(area);
    f.render_widget(left, l);
    let hints = status::hints(&app.keymap, app.screen(), &app.theme, |a| app.offers(a));
    f.render_widget(hints, r);
}

/// The screen shown when no account is configured yet.
pub fn draw_first_run(f: &mut Frame, config_path: &std::path::Path, theme: &super::theme::Theme) {
    let area = super::widgets::centered(f.area(), 86, 30);
    let path = config_path.display().to_string();
    let text = vec![
        Line::styled("Welcome to outpost", theme.accent()),
        Line::raw(""),
        Line::raw("No account is configured yet. Add one to your config file:"),
        Line::styled(format!("  {path}"), theme.accent()),
        Line::raw(""),
        Line::styled("  [accounts.acme-smartlead]", theme.ok()),
        Line::styled("  provider = \"smartlead\"", theme.ok()),
        Line::styled("  api_key_env = \"SMARTLEAD_API_KEY\"", theme.ok()),
        Line::raw(""),
        Line::styled("  [accounts.me-gmail]", theme.ok()),
        Line::styled("  provider = \"gmail\"", theme.ok()),
        Line::styled("  email = \"rep@acme.io\"", theme.ok()),
        Line::styled("  client_id = \"…apps.googleusercontent.com\"", theme.ok()),
        Line::styled("  client_secret_env = \"GMAIL_CLIENT_SECRET\"", theme.ok()),
        Line::raw(""),
        Line::raw("Then run `outpost auth gmail` for a Gmail account, and `outpost` again."),
        Line::raw(
            "Every key is documented in config.example.toml; `outpost doctor` checks the setup.",
        ),
        Line::raw("To look around first: `outpost demo` opens outpost on a built-in sandbox."),
        Line::raw(""),
        Line::styled("Press q to quit.", theme.muted()),
    ];
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border())
                .title(Span::styled(" First run ", theme.accent())),
        ),
        area,
    );
}
