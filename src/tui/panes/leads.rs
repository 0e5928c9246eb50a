//! The leads table over the in-memory index: filter as you type, sort by any
//! column; only the visible rows are turned into widgets.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use crate::engine::{LeadColumn, LeadFilter, LeadIndex, LeadOrder};
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, cursor::Cursor};

#[derive(Debug, Default)]
pub struct LeadsPane {
    pub index: Option<LeadIndex>,
    pub filter_text: String,
    pub filter: LeadFilter,
    pub order: LeadOrder,
    pub ids: Vec<u32>,
    pub cursor: Cursor,
    pub problems: Vec<String>,
    /// Leads changed in the store, waiting to be re-read into the index.
    pub pending: BTreeSet<String>,
    pub rows_inflight: bool,
    pub loading: bool,
}

impl LeadsPane {
    /// Re-applies the filter; narrows the previous result when it can.
    pub fn set_filter_text(&mut self, text: &str) {
        let (filter, problems) = LeadFilter::parse(text);
        let Some(index) = &self.index else {
            self.filter_text = text.to_string();
            self.filter = filter;
            self.problems = problems;
            return;
        };
        let keep = self.selected_key();
        self.ids = if filter.narrows(&self.filter) && !self.ids.is_empty() {
            index.refine(&self.ids, &filter, self.order)
        } else {
            index.filter(&filter, self.order)
        };
        self.filter_text = text.to_string();
        self.filter = filter;
        self.problems = problems;
        self.reselect(keep);
    }

    /// Full recompute (after the index or the order changed).
    pub fn refilter(&mut self) {
        let keep = self.selected_key();
        if let Some(index) = &self.index {
            self.ids = index.filter(&self.filter, self.order);
        }
        self.reselect(keep);
    }

    fn reselect(&mut self, key: Option<String>) {
        let found = key.and_then(|k| {
            let index = self.index.as_ref()?;
            let id = index.id_of(&k)?;
            self.ids.iter().position(|i| *i == id)
        });
        match found {
            Some(at) => self.cursor.selected = at,
            None => self.cursor.clamp(self.ids.len()),
        }
    }

    pub fn selected_key(&self) -> Option<String> {
        let id = self.ids.get(self.cursor.selected)?;
        Some(self.index.as_ref()?.row(*id)?.key().to_string())
    }

    pub fn selected_row(&self) -> Option<&crate::engine::LeadRow> {
        let id = self.ids.get(self.cursor.selected)?;
        self.index.as_ref()?.row(*id)
    }

    pub fn render(
        &mut self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        now: DateTime<Utc>,
    ) -> (Rect, usize) {
        let total = self.index.as_ref().map_or(0, LeadIndex::len);
        let arrow = if self.order.descending { "↓" } else { "↑" };
        let mut title = format!(
            " Leads {} of {total} · sort {} {arrow} ",
            self.ids.len(),
            self.order.column.title()
        );
        if !self.filter_text.is_empty() {
            title.push_str(&format!("· /{} ", self.filter_text));
        }
        if let Some(problem) = self.problems.first() {
            title.push_str(&format!("· {problem} "));
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(title, theme.accent()));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let Some(index) = &self.index else {
            f.render_widget(Span::styled("Indexing leads…", theme.muted()), inner);
            return (inner, 0);
        };
        let height = inner.height.saturating_sub(1) as usize;
        let range = self.cursor.visible(self.ids.len(), height);
        let offset = range.start;
        let header = Row::new(LeadColumn::ALL.iter().map(|c| {
            let mark = if *c == self.order.column { arrow } else { "" };
            Cell::from(format!("{}{mark}", c.title()))
        }))
        .style(theme.accent());
        let rows: Vec<Row> = self.ids[range]
            .iter()
            .enumerate()
            .filter_map(|(i, id)| {
                let r = index.row(*id)?;
                let style = if offset + i == self.cursor.selected {
                    theme.selected()
                } else {
                    ratatui::style::Style::default()
                };
                Some(
                    Row::new(vec![
                        Cell::from(clip(r.name(), 22)),
                        Cell::from(clip(r.email(), 30)),
                        Cell::from(clip(r.linkedin(), 30)),
                        Cell::from(clip(r.company(), 20)),
                        Cell::from(clip(r.campaign(), 20)),
                        Cell::from(r.last_event.map(|e| e.as_str()).unwrap_or("—")),
                        Cell::from(
                            r.last_event_at
                                .map(|t| super::short_time(t, now))
                                .unwrap_or_default(),
                        ),
                    ])
                    .style(style),
                )
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Fill(3),
                Constraint::Fill(4),
                Constraint::Fill(4),
                Constraint::Fill(3),
                Constraint::Fill(3),
                Constraint::Length(22),
                Constraint::Length(10),
            ],
        )
        .header(header)
        .column_spacing(1);
        f.render_widget(table, inner);
        let list_area = Rect {
            y: inner.y + 1,
            height: inner.height.saturating_sub(1),
            ..inner
        };
        (list_area, offset)
    }
}
