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
    /// The newest reply seen, to tell when a new one arrives.
    pub newest_inbound: Option<DateTime<Utc>>,
    /// Conversations back from a snooze (listed first, marked ⏎ until opened).
    pub woke: std::collections::HashSet<String>,
}

impl InboxPane {
    pub fn selected(&self) -> Option<&Thread> {
        self.rows.get(self.cursor.selected)
    }

    pub fn filter_summary(&self) -> String {
        let q = &self.query;
        let mut parts = Vec::new();
        if let Some(a) = &q.account {
            parts.push(format!("account:{a}"));
        }
        if let Some(c) = q.campaign_id {
            parts.push(format!("campaign:#{c}"));
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
        // Exact once counted; until then what is loaded ("+": more below).
        let count = match self.counts {
            Some(c) if c.unread > 0 => format!("{} · {} unread", c.total, c.unread),
            Some(c) => c.total.to_string(),
            None if self.exhausted => self.rows.len().to_string(),
            None => format!("{}+", self.rows.len()),
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
        let rows: Vec<Row> = self.rows[range.clone()]
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let who = t.person().to_string();
                // "SL+GM" when the conversation also reached us through the
                // rep's Gmail (Smartlead sent through their mailbox).
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
                let preview = if self.woke.contains(&t.key()) {
                    format!("⏎ back from snooze · {preview}")
                } else {
                    preview
                };
                let badge = t
                    .category
                    .as_ref()
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                let style = if offset + i == selected {
                    theme.selected()
                } else if t.unread {
                    theme.unread()
                } else {
                    ratatui::style::Style::default()
                };
                Row::new(vec![
                    Cell::from(if t.unread { "●" } else { " " }),
                    Cell::from(super::short_time(t.last_message_at, now)),
                    Cell::from(clip(&who, 28)),
                    Cell::from(Line::from(vec![
                        Span::raw(clip(&t.subject, 40)),
                        Span::styled(format!("  {}", clip(&preview, 60)), theme.muted()),
                    ])),
                    Cell::from(Span::styled(clip(&badge, 16), theme.badge())),
                    Cell::from(Span::styled(clip(&source, 22), theme.muted())),
                ])
                .style(style)
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Length(1),
                Constraint::Length(7),
                Constraint::Length(28),
                Constraint::Fill(1),
                Constraint::Length(16),
                Constraint::Length(22),
            ],
        )
        .column_spacing(1);
        f.render_widget(table, inner);
        (inner, offset)
    }
}
