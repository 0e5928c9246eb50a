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
    /// Quick times, in `items` order, then "type a date" (the last item,
    /// with no time of its own): shared by snooze and send later.
    When {
        purpose: WhenFor,
        times: Vec<chrono::DateTime<chrono::Utc>>,
    },
    /// Canned replies, in `items` order (typed to narrow), each previewed
    /// as it would be inserted (filled from the lead, or why it cannot be).
    Snippet {
        snippets: Vec<crate::snippets::Snippet>,
        previews: Vec<String>,
    },
    /// The composer's attachments, in `items` order.
    RemoveAttachment,
    /// A conversation's attachments: (number, open it) per item.
    Attachment {
        key: String,
        choices: Vec<(usize, bool)>,
    },
    /// A sequence for the leads table's selection, in `items` order.
    BulkEnroll {
        sequences: Vec<String>,
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
    /// Who to assign a conversation to: one per item, `None` for nobody.
    Assign {
        thread_key: String,
        name: String,
        values: Vec<Option<String>>,
    },
    /// One entry per email step (and variant) of a sequence, in `items` order.
    EditStep {
        sequence: String,
        account: String,
        steps: Vec<StepText>,
    },
}

/// What a picked time is for.
#[derive(Debug, Clone, PartialEq)]
pub enum WhenFor {
    Snooze {
        thread_key: String,
        name: String,
    },
    /// The composer's send time.
    SendLater,
    /// The inbox's selection, as one bulk change.
    BulkSnooze,
}

/// A line of text the rep types: a date, a file path.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub title: String,
    pub input: String,
    /// What may be typed, under the line.
    pub hint: String,
    /// Why the last Enter was refused; the prompt stays open to fix it.
    pub error: Option<String>,
    pub purpose: PromptPurpose,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptPurpose {
    When(WhenFor),
    AttachPath,
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
                | PickerPurpose::Snippet { .. }
                // A number or a file name picks an attachment.
                | PickerPurpose::Attachment { .. }
        )
    }

    /// The text shown beside the list for the item under the cursor.
    pub fn preview(&self) -> Option<&str> {
        match &self.purpose {
            PickerPurpose::Snippet { previews, .. } => self
                .chosen()
                .and_then(|at| previews.get(at))
                .map(String::as_str),
            _ => None,
        }
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
    let previewed = matches!(picker.purpose, PickerPurpose::Snippet { .. });
    let wanted = if previewed {
        // Room for a few lines of the snippet, however short the list.
        (picker.items.len() as u16).max(10) + extra
    } else {
        picker.items.len() as u16 + extra
    };
    let height = wanted.min(area.height.saturating_sub(2));
    let whole = centered(area, if previewed { 110 } else { 50 }, height);
    let (popup, preview_area) = if previewed {
        let [list, preview] = ratatui::layout::Layout::horizontal([
            ratatui::layout::Constraint::Length(46),
            ratatui::layout::Constraint::Fill(1),
        ])
        .areas(whole);
        (list, Some(preview))
    } else {
        (whole, None)
    };
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
    if picker.items.is_empty() && previewed {
        lines.push(Line::styled(" no snippets yet", theme.muted()));
    } else if picker.items.is_empty() {
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
    if let Some(preview_area) = preview_area {
        let text = match picker.preview() {
            Some(text) => text
                .lines()
                .map(|l| Line::raw(l.to_string()))
                .collect::<Vec<_>>(),
            None => vec![Line::styled(picker.title_hint(), theme.muted())],
        };
        f.render_widget(Clear, preview_area);
        f.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(theme.border())
                        .title(Span::styled(" Preview ", theme.accent())),
                ),
            preview_area,
        );
    }
}

impl Picker {
    /// What the preview says when there is nothing to preview.
    fn title_hint(&self) -> String {
        match &self.purpose {
            PickerPurpose::Snippet { .. } if self.items.is_empty() => {
                "Snippets are files NAME.md in the snippets folder beside your config.toml"
                    .to_string()
            }
            _ => String::new(),
        }
    }
}

pub fn render_prompt(f: &mut Frame, area: Rect, theme: &Theme, prompt: &Prompt) {
    let popup = centered(area, 70, 6);
    let mut lines = vec![Line::from(vec![
        Span::styled(" > ", theme.accent()),
        Span::raw(prompt.input.clone()),
        Span::styled("▏", theme.accent()),
    ])];
    match &prompt.error {
        Some(error) => lines.push(Line::styled(format!(" {error}"), theme.error())),
        None => lines.push(Line::styled(format!(" {}", prompt.hint), theme.muted())),
    }
    lines.push(Line::styled(" Enter choose · Esc cancel", theme.muted()));
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .title(Span::styled(format!(" {} ", prompt.title), theme.accent())),
            ),
        popup,
    );
}
