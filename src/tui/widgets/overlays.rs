//! Pop-ups: help (from the keymap), the `:` palette, and pickers.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::cursor::Cursor;
use super::{centered, fuzzy};
use crate::model::Category;
use crate::tui::action::{ACTIONS, Action, Scope, Screen};
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;

#[derive(Debug, Clone)]
pub enum PickerPurpose {
    Category {
        thread_key: String,
        categories: Vec<Category>,
    },
    Enroll {
        email: String,
    },
    Variable,
    /// Quick snooze times, in `items` order.
    Snooze {
        thread_key: String,
        name: String,
        times: Vec<chrono::DateTime<chrono::Utc>>,
    },
    /// One entry per email step (and variant) of a sequence, in `items` order.
    EditStep {
        sequence: String,
        account: String,
        steps: Vec<StepText>,
    },
}

/// An email step's text as it stands, for the composer.
#[derive(Debug, Clone, PartialEq)]
pub struct StepText {
    pub step: usize,
    /// None when the step has a single variant.
    pub variant: Option<String>,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Picker {
    pub title: String,
    pub items: Vec<String>,
    pub cursor: Cursor,
    pub purpose: PickerPurpose,
}

#[derive(Debug, Clone, Default)]
pub struct Palette {
    pub input: String,
    pub cursor: Cursor,
}

impl Palette {
    /// Actions matching the input, best first (only those usable on `screen`).
    pub fn matches(&self, screen: Screen) -> Vec<Action> {
        let mut scored: Vec<(i64, Action)> = ACTIONS
            .iter()
            .filter(|a| a.scope.applies(screen) || a.scope == Scope::Global)
            .filter_map(|a| {
                fuzzy::score(&self.input, &format!("{} {}", a.name, a.description))
                    .map(|s| (s, a.action))
            })
            .collect();
        scored.sort_by_key(|s| std::cmp::Reverse(s.0));
        scored.into_iter().map(|(_, a)| a).collect()
    }
}

pub fn render_help(
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
    keymap: &Keymap,
    screen: Screen,
    scroll: u16,
) {
    let popup = centered(area, 78, area.height.saturating_sub(2));
    let mut lines = vec![Line::styled(
        format!("Keys on {} (then everywhere) — Esc closes", screen.title()),
        theme.muted(),
    )];
    let mut here: Vec<_> = ACTIONS.iter().filter(|a| a.scope.applies(screen)).collect();
    here.sort_by_key(|a| !a.scope.is_specific());
    let rest: Vec<_> = ACTIONS
        .iter()
        .filter(|a| !a.scope.applies(screen))
        .collect();
    for (heading, list) in [("Here", here), ("Elsewhere", rest)] {
        lines.push(Line::styled(heading, theme.accent()));
        for info in list {
            let keys: Vec<String> = keymap
                .keys_of(info.action)
                .iter()
                .map(|k| k.label())
                .collect();
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<14}", keys.join(" ")), theme.accent()),
                Span::raw(format!("{:<17}", info.name)),
                Span::styled(info.description, theme.muted()),
            ]));
        }
    }
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).scroll((scroll, 0)).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border())
                .title(Span::styled(" Help ", theme.accent())),
        ),
        popup,
    );
}

pub fn render_palette(
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
    keymap: &Keymap,
    screen: Screen,
    palette: &mut Palette,
) {
    let popup = centered(area, 70, 16);
    let matches = palette.matches(screen);
    let height = popup.height.saturating_sub(3) as usize;
    let range = palette.cursor.visible(matches.len(), height);
    let mut lines = vec![Line::from(vec![
        Span::styled(":", theme.accent()),
        Span::raw(palette.input.clone()),
        Span::styled("▏", theme.accent()),
    ])];
    for (i, action) in matches[range.clone()].iter().enumerate() {
        let info = action.info();
        let style = if range.start + i == palette.cursor.selected {
            theme.selected()
        } else {
            ratatui::style::Style::default()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<17}", info.name), style),
            Span::styled(format!("{:<8}", keymap.label(*action)), theme.accent()),
            Span::styled(info.description, theme.muted()),
        ]));
    }
    if matches.is_empty() {
        lines.push(Line::styled("no action matches", theme.muted()));
    }
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border())
                .title(Span::styled(" Command palette ", theme.accent())),
        ),
        popup,
    );
}

pub fn render_picker(f: &mut Frame, area: Rect, theme: &Theme, picker: &mut Picker) {
    let height = (picker.items.len() as u16 + 3).min(area.height.saturating_sub(2));
    let popup = centered(area, 50, height);
    let range = picker
        .cursor
        .visible(picker.items.len(), popup.height.saturating_sub(3) as usize);
    let mut lines: Vec<Line> = picker.items[range.clone()]
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if range.start + i == picker.cursor.selected {
                Line::styled(format!(" {item}"), theme.selected())
            } else {
                Line::raw(format!(" {item}"))
            }
        })
        .collect();
    if picker.items.is_empty() {
        lines.push(Line::styled(" nothing to choose from", theme.muted()));
    }
    lines.push(Line::styled(" Enter choose · Esc cancel", theme.muted()));
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border())
                .title(Span::styled(format!(" {} ", picker.title), theme.accent())),
        ),
        popup,
    );
}
