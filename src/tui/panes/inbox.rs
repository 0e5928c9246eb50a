//! The unified inbox: replies from every account, newest first, loaded a page
//! at a time.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use crate::engine::InboxQuery;
use crate::model::{Provider, Thread};
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, cursor::Cursor};

/// Rows fetched per page; the next page is asked for near the end.
pub const PAGE: usize = 200;

#[derive(Debug, Default)]
pub struct InboxPane {
    pub rows: Vec<Thread>,
    pub cursor: Cursor,
    pub query: InboxQuery,
    pub generation: u64,
    pub inflight: bool,
    pub again: bool,
    pub loaded: bool,
    pub exhausted: bool,
    /// Exact counts for the current filters, once known.
    pub counts: Option<crate::engine::InboxCounts>,
    /// Which filters the counts are for: bumped when the filters change, so
    /// counts for the same filters are taken even while rows keep arriving.
    pub counts_generation: u64,
    pub counts_inflight: bool,
    pub counts_again: bool,
    /// The rep moved the selection: rows arriving above keep their row
    /// selected. Until then the newest row (the top) stays selected.
    pub rep_moved: bool,
    /// Campaign names seen in rows and stats, for the filter summary.
    pub campaign_names: std::collections::BTreeMap<i64, String>,
    /// The newest reply seen, to tell when a new one arrives.
    pub newest_inbound: Option<DateTime<Utc>>,
    /// Conversations back from a snooze (listed first, marked ⏎ until opened).
    pub woke: std::collections::HashSet<String>,
    /// The rows the rep picked for a bulk change.
    pub selection: Selection,
    /// Gmail labels and the rep's tags, by conversation key.
    pub marks: std::collections::HashMap<String, RowMarks>,
}

/// Rows picked for a bulk change: by key (space, a `v` range), or every
/// conversation the current filters match, loaded or not.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Selection {
    pub keys: std::collections::BTreeSet<String>,
    /// A range being picked: the row it started on and what was picked
    /// before it, so moving back shrinks it as in a visual mode.
    pub range: Option<(usize, std::collections::BTreeSet<String>)>,
    /// Every conversation the query matches (the bulk change runs the query).
    pub all_matching: bool,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && !self.all_matching
    }

    pub fn contains(&self, key: &str) -> bool {
        self.all_matching || self.keys.contains(key)
    }
}

/// What a row shows before its subject: `@sam [Prospects] #hot`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowMarks {
    pub labels: Vec<String>,
    pub tags: Vec<String>,
    /// The user the conversation is assigned to.
    pub assigned_to: Option<String>,
}

impl RowMarks {
    /// `@sam [Prospects] [Follow up] #hot`, or empty.
    pub fn text(&self) -> String {
        self.assigned_to
            .iter()
            .map(|u| format!("@{u}"))
            .chain(self.labels.iter().map(|l| format!("[{l}]")))
            .chain(self.tags.iter().map(|t| format!("#{t}")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl InboxPane {
    pub fn selected(&self) -> Option<&Thread> {
        self.rows.get(self.cursor.selected)
    }

    /// How many conversations the selection holds (all that match, when
    /// every matching one is picked).
    pub fn selection_count(&self) -> usize {
        if self.selection.all_matching {
            self.counts.map_or(self.rows.len(), |c| c.total)
        } else {
            self.selection.keys.len()
        }
    }

    /// Space: the row in or out of the selection; the cursor moves down.
    pub fn toggle_selected_row(&mut self) {
        let Some(key) = self.selected().map(Thread::key) else {
            return;
        };
        let selection = &mut self.selection;
        if selection.all_matching {
            // Picking out of "all": the loaded rows but this one.
            selection.all_matching = false;
            selection.keys = self.rows.iter().map(Thread::key).collect();
            selection.keys.remove(&key);
        } else if !selection.keys.remove(&key) {
            selection.keys.insert(key);
        }
        selection.range = None;
        self.cursor.down(self.rows.len(), 1);
    }

    /// `v`: starts a range on this row, or ends the one being picked.
    pub fn toggle_range(&mut self) {
        if self.selection.range.take().is_some() {
            return;
        }
        self.selection.all_matching = false;
        let base = self.selection.keys.clone();
        self.selection.range = Some((self.cursor.selected, base));
        self.extend_range();
    }

    /// A range follows the cursor: the rows from its start to the cursor.
    pub fn extend_range(&mut self) {
        let Some((anchor, base)) = &self.selection.range else {
            return;
        };
        let (from, to) = if *anchor <= self.cursor.selected {
            (*anchor, self.cursor.selected)
        } else {
            (self.cursor.selected, *anchor)
        };
        let mut keys = base.clone();
        for row in self.rows.iter().take(to + 1).skip(from) {
            keys.insert(row.key());
        }
        self.selection.keys = keys;
    }

    /// Every conversation the current filters and search match.
    pub fn select_all_matching(&mut self) {
        self.selection = Selection {
            all_matching: true,
            ..Selection::default()
        };
    }

    pub fn clear_selection(&mut self) {
        self.selection = Selection::default();
    }

    pub fn filter_summary(&self) -> String {
        let q = &self.query;
        let mut parts = Vec::new();
        if let Some(a) = &q.account {
            parts.push(format!("account:{a}"));
        }
        if let Some(c) = q.campaign_id {
            match self.campaign_names.get(&c) {
                Some(name) => parts.push(format!("campaign:{name}")),
                None => parts.push(format!("campaign:#{c}")),
            }
        }
        if let Some(c) = &q.category {
            parts.push(format!("category:{c}"));
        }
        if q.unread_only {
            parts.push("unread".to_string());
        }
        if let Some(s) = &q.search {
            parts.push(format!("/{s}"));
        }
        parts.join(" ")
    }

    pub fn render(
        &mut self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        now: DateTime<Utc>,
    ) -> (Rect, usize) {
        let filters = self.filter_summary();
        // Exact, never a loaded-so-far guess: the counts come with the rows;
        // a list read to its end is its own count.
        let count = match self.counts {
            Some(c) if c.unread > 0 => format!("{} · {} unread", c.total, c.unread),
            Some(c) => c.total.to_string(),
            None if self.exhausted && self.loaded => self.rows.len().to_string(),
            None => "counting…".to_string(),
        };
        let title = if filters.is_empty() {
            format!(" Inbox ({count}) ")
        } else {
            format!(" Inbox ({count}) · {filters} ")
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(title, theme.accent()));
        let inner = block.inner(area);
        f.render_widget(block, area);
        if self.rows.is_empty() {
            let text = if !self.loaded {
                "Loading…"
            } else if filters.is_empty() {
                "No replies yet. New replies appear here as sync brings them in."
            } else {
                "No conversation matches the filters (x clears them)."
            };
            f.render_widget(Line::styled(text, theme.muted()), inner);
            return (inner, 0);
        }
        let range = self.cursor.visible(self.rows.len(), inner.height as usize);
        let offset = range.start;
        let selected = self.cursor.selected;
        let cells: Vec<RowCells> = self.rows[range]
            .iter()
            .map(|t| {
                let key = t.key();
                let marks = self.marks.get(&key).map(RowMarks::text).unwrap_or_default();
                RowCells::of(t, now, self.woke.contains(&key), marks)
            })
            .collect();
        let picking = !self.selection.is_empty();
        let picked: Vec<bool> = self.rows[range_of(offset, cells.len())]
            .iter()
            .map(|t| self.selection.contains(&t.key()))
            .collect();
        let mark_width = usize::from(picking) * 2;
        let layout = RowLayout::fit((inner.width as usize).saturating_sub(mark_width), &cells);
        let rows: Vec<Row> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let style = if offset + i == selected {
                    theme.selected()
                } else if picked[i] {
                    theme.accent()
                } else if c.unread {
                    theme.unread()
                } else {
                    ratatui::style::Style::default()
                };
                // Labels and tags, the subject whole if it fits, then as
                // much preview as fits.
                let mut text = Vec::new();
                let mut room = layout.text;
                if !c.marks.is_empty() {
                    let marks = clip(&c.marks, room);
                    room = room.saturating_sub(marks.chars().count() + 1);
                    text.push(Span::styled(marks, theme.accent()));
                    text.push(Span::raw(" "));
                }
                let subject = clip(&c.subject, room);
                let room = room.saturating_sub(subject.chars().count() + 2);
                text.push(Span::raw(subject));
                if room > 0 && !c.preview.is_empty() {
                    text.push(Span::styled(
                        format!("  {}", clip(&c.preview, room)),
                        theme.muted(),
                    ));
                }
                let mut row = Vec::new();
                if picking {
                    row.push(Cell::from(if picked[i] { "✓" } else { " " }));
                }
                row.extend([
                    Cell::from(if c.unread { "●" } else { " " }),
                    Cell::from(c.when.clone()),
                    Cell::from(clip(&c.who, layout.who)),
                    Cell::from(Line::from(text)),
                ]);
                if layout.badge > 0 {
                    row.push(Cell::from(Span::styled(
                        clip(&c.badge, layout.badge),
                        theme.badge(),
                    )));
                }
                if layout.source > 0 {
                    row.push(Cell::from(Span::styled(
                        clip(&c.source, layout.source),
                        theme.muted(),
                    )));
                }
                Row::new(row).style(style)
            })
            .collect();
        let mut constraints = layout.constraints();
        if picking {
            constraints.insert(0, Constraint::Length(1));
        }
        let table = Table::new(rows, constraints).column_spacing(1);
        f.render_widget(table, inner);
        (inner, offset)
    }
}

fn range_of(offset: usize, len: usize) -> std::ops::Range<usize> {
    offset..offset + len
}

/// One inbox row's texts, before they are fitted to the width.
struct RowCells {
    unread: bool,
    when: String,
    who: String,
    subject: String,
    preview: String,
    /// Gmail labels and tags: `[Prospects] #hot`.
    marks: String,
    /// The reply category ("Interested").
    badge: String,
    /// Where it came from: "SL Q1 CFO outreach", "SL+GM …", "GM me-gmail".
    source: String,
}

impl RowCells {
    fn of(t: &Thread, now: DateTime<Utc>, woke: bool, marks: String) -> RowCells {
        // "SL+GM" when the conversation also reached us through the rep's
        // Gmail (Smartlead sent through their mailbox).
        let copies = if t.sources.is_empty() { "" } else { "+GM" };
        let source = match t.provider {
            Provider::Smartlead => format!(
                "SL{copies} {}",
                t.campaign_name.clone().unwrap_or_else(|| t.account.clone())
            ),
            Provider::Gmail => format!("GM {}", t.account),
        };
        // The person's last words; ↩ when we answered after them.
        let preview = if t.preview.is_empty() {
            t.snippet.clone()
        } else if t.answered_last {
            format!("↩ {}", t.preview)
        } else {
            t.preview.clone()
        };
        // Back from a snooze: marked until the rep opens it.
        let preview = if woke {
            format!("⏎ back from snooze · {preview}")
        } else {
            preview
        };
        RowCells {
            unread: t.unread,
            when: super::short_time(t.last_message_at, now),
            who: t.person().to_string(),
            subject: t.subject.clone(),
            preview,
            marks,
            badge: t
                .category
                .as_ref()
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            source,
        }
    }
}

/// Column widths for the rows on screen, by priority: who and what was
/// said come first; the category and then the source shrink, and drop,
/// before the subject gets less than [`TEXT_KEEPS`] columns. Widths follow
/// the visible texts, so no column is padded past its longest entry.
#[derive(Debug, PartialEq, Eq)]
struct RowLayout {
    when: usize,
    who: usize,
    text: usize,
    /// 0: the column is dropped.
    badge: usize,
    source: usize,
}

/// The subject and preview column never shrinks below this for the badges.
const TEXT_KEEPS: usize = 40;
/// The narrowest a shrunk badge column is still worth showing.
const BADGE_MIN: usize = 8;
const SOURCE_MIN: usize = 14;

impl RowLayout {
    fn fit(width: usize, cells: &[RowCells]) -> RowLayout {
        let longest = |f: fn(&RowCells) -> &str| {
            cells
                .iter()
                .map(|c| f(c).chars().count())
                .max()
                .unwrap_or(0)
        };
        let when = longest(|c| &c.when);
        // A name needs a quarter of a narrow screen at most.
        let who = longest(|c| &c.who).min((width / 4).clamp(8, 26));
        // Dot, when, who, text: three gaps.
        let fixed = 1 + when + who + 3;
        let mut room = width.saturating_sub(fixed);
        let mut take = |wanted: usize, min: usize| -> usize {
            let spare = room.saturating_sub(TEXT_KEEPS + 1);
            let got = wanted.min(spare);
            if wanted == 0 || got < min.min(wanted) {
                return 0;
            }
            room -= got + 1;
            got
        };
        let badge = take(longest(|c| &c.badge).min(16), BADGE_MIN);
        let source = take(longest(|c| &c.source).min(24), SOURCE_MIN);
        RowLayout {
            when,
            who,
            text: room,
            badge,
            source,
        }
    }

    fn constraints(&self) -> Vec<Constraint> {
        let mut out = vec![
            Constraint::Length(1),
            Constraint::Length(self.when as u16),
            Constraint::Length(self.who as u16),
            Constraint::Length(self.text as u16),
        ];
        if self.badge > 0 {
            out.push(Constraint::Length(self.badge as u16));
        }
        if self.source > 0 {
            out.push(Constraint::Length(self.source as u16));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(who: &str, badge: &str, source: &str) -> RowCells {
        RowCells {
            unread: false,
            when: "Nov 25".into(),
            who: who.into(),
            subject: "Quick question about Q2 close".into(),
            preview: "Thanks, send over the deck".into(),
            marks: String::new(),
            badge: badge.into(),
            source: source.into(),
        }
    }

    #[test]
    fn narrow_rows_keep_name_and_subject_and_drop_the_badges_first() {
        let rows = [cells(
            "Dana Whitfield",
            "Interested",
            "SL+GM Healthcare Ops Leaders",
        )];
        let narrow = RowLayout::fit(58, &rows);
        assert_eq!((narrow.badge, narrow.source), (0, 0), "{narrow:?}");
        assert_eq!(narrow.who, 14);
        assert!(narrow.text >= 30, "{narrow:?}");

        let medium = RowLayout::fit(98, &rows);
        assert_eq!(medium.badge, 10, "the category comes back first");
        assert!(medium.text >= TEXT_KEEPS, "{medium:?}");

        let wide = RowLayout::fit(158, &rows);
        assert_eq!((wide.badge, wide.source), (10, 24), "{wide:?}");
        // Every column but the text is as wide as its longest entry.
        assert_eq!(wide.who, "Dana Whitfield".len());
        let used = 1 + wide.when + wide.who + wide.text + wide.badge + wide.source + 5;
        assert_eq!(used, 158, "the text takes what is left");
    }
}
