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
    /// A conversation's attachments: (number, open it) per item.
    Attachment {
        key: String,
        choices: Vec<(usize, bool)>,
    },
    /// A sequence for the leads table's selection, in `items` order.
    BulkEnroll {
        sequences: Vec<String>,
    },
    /// The same times, for the inbox's selection.
    BulkSnooze {
        times: Vec<chrono::DateTime<chrono::Utc>>,
    },
    /// A category for the inbox's selection.
    BulkCategory {
        categories: Vec<Category>,
    },
    /// Filters: one value per item, `None` (the first item) clearing it.
    FilterCampaign {
        /// Leads filter by name (the filter box's text), the inbox by id.
        values: Vec<Option<CampaignChoice>>,
    },
    FilterCategory {
        values: Vec<Option<String>>,
    },
    /// One entry per email step (and variant) of a sequence, in `items` order.
    EditStep {
        sequence: String,
        account: String,
        steps: Vec<StepText>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignChoice {
    pub id: Option<i64>,
    pub name: String,
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
    /// Typed to narrow a filter's list (fuzzy, like the palette).
    pub query: String,
    pub cursor: Cursor,
    pub purpose: PickerPurpose,
}

impl Picker {
    /// Whether typing narrows the list: a filter's values can run long, so
    /// the rep types a few letters of a campaign instead of pressing a key
    /// ten times. The other pickers keep j/k for moving.
    pub fn typeahead(&self) -> bool {
        matches!(
            self.purpose,
            PickerPurpose::FilterCampaign { .. }
                | PickerPurpose::FilterCategory { .. }
                // A number or a file name picks an attachment.
                | PickerPurpose::Attachment { .. }
        )
    }

    /// The positions in `items` shown for the query, best match first.
    pub fn shown(&self) -> Vec<usize> {
        if self.query.trim().is_empty() {
            return (0..self.items.len()).collect();
        }
        let mut scored: Vec<(i64, usize)> = self
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| fuzzy::score(&self.query, item).map(|s| (s, i)))
            .collect();
        scored.sort_by_key(|(score, i)| (std::cmp::Reverse(*score), *i));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    /// The item under the cursor, as a position in `items`.
    pub fn chosen(&self) -> Option<usize> {
        self.shown().get(self.cursor.selected).copied()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Palette {
    pub input: String,
    pub cursor: Cursor,
}

impl Palette {
    /// Actions matching the input, best first: this screen's own, then the
    /// ones that work everywhere (go to a tab, sync now, quit).
    pub fn matches(&self, screen: Screen) -> Vec<Action> {
        let mut scored: Vec<(i64, bool, Action)> = ACTIONS
            .iter()
            .filter(|a| a.scope.applies(screen) || a.scope == Scope::Global)
            .filter_map(|a| {
                let text = format!("{} {} {}", a.label, a.name, a.description);
                fuzzy::score(&self.input, &text).map(|s| (s, !a.scope.is_specific(), a.action))
            })
            .collect();
        scored.sort_by_key(|(score, global, _)| (std::cmp::Reverse(*score), *global));
        scored.into_iter().map(|(_, _, a)| a).collect()
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
        format!(
            "Keys on {} (then everywhere) — j/k scroll · Esc, q or ? closes",
            screen.title()
        ),
        theme.muted(),
    )];
    let mut here: Vec<_> = ACTIONS.iter().filter(|a| a.scope.applies(screen)).collect();
    here.sort_by_key(|a| !a.scope.is_specific());
    let mut sections = vec![("Here".to_string(), here)];
    // Elsewhere, one section per set of screens: a key means one thing on
    // a screen, so `p` under "On Lead" and under "On Sequences" is no repeat.
    for info in ACTIONS.iter().filter(|a| !a.scope.applies(screen)) {
        let Scope::Only(screens) = info.scope else {
            continue;
        };
        let heading = format!(
            "On {}",
            screens
                .iter()
                .map(|s| s.title())
                .collect::<Vec<_>>()
                .join(", ")
        );
        match sections.iter_mut().find(|(h, _)| *h == heading) {
            Some((_, list)) => list.push(info),
            None => sections.push((heading, vec![info])),
        }
    }
    for (heading, list) in sections {
        lines.push(Line::styled(heading, theme.accent()));
        for info in list {
            let keys: Vec<String> = keymap
                .keys_of(info.action)
                .iter()
                .map(|k| k.label())
                .collect();
            let keys = if keys.is_empty() {
                "— (palette)".to_string()
            } else {
                keys.join(" ")
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<14}"), theme.accent()),
                Span::raw(format!("{:<17}", info.label)),
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
            Span::styled(format!("{:<17}", info.label), style),
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
    let shown = picker.shown();
    let typeahead = picker.typeahead();
    let extra = if typeahead { 4 } else { 3 };
    let height = (picker.items.len() as u16 + extra).min(area.height.saturating_sub(2));
    let popup = centered(area, 50, height);
    let range = picker
        .cursor
        .visible(shown.len(), popup.height.saturating_sub(extra) as usize);
    let mut lines: Vec<Line> = Vec::new();
    if typeahead {
        lines.push(Line::from(vec![
            Span::styled(" /", theme.accent()),
            Span::raw(picker.query.clone()),
            Span::styled("▏", theme.accent()),
        ]));
    }
    lines.extend(shown[range.clone()].iter().enumerate().map(|(i, at)| {
        let item = &picker.items[*at];
        if range.start + i == picker.cursor.selected {
            Line::styled(format!(" {item}"), theme.selected())
        } else {
            Line::raw(format!(" {item}"))
        }
    }));
    if picker.items.is_empty() {
        lines.push(Line::styled(" nothing to choose from", theme.muted()));
    } else if shown.is_empty() {
        lines.push(Line::styled(" nothing matches", theme.muted()));
    }
    let keys = if typeahead {
        " type to narrow · Enter choose · Esc cancel"
    } else {
        " Enter choose · Esc cancel"
    };
    lines.push(Line::styled(keys, theme.muted()));
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
