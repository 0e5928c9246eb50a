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
use crate::tui::widgets::{clip, clip_middle, cursor::Cursor};

const COLUMN_SPACING: u16 = 1;

/// Columns in the order they give way on a narrow terminal: the LinkedIn
/// handle first, then the company, the email and the campaign. Name, last
/// interaction and its time always show.
const DROP_ORDER: [LeadColumn; 4] = [
    LeadColumn::LinkedIn,
    LeadColumn::Company,
    LeadColumn::Email,
    LeadColumn::Campaign,
];

/// The narrowest a column is worth showing at; the rest of the width is
/// shared out by `Fill` weight.
fn min_width(column: LeadColumn) -> u16 {
    match column {
        LeadColumn::Name => 14,
        LeadColumn::Email => 18,
        LeadColumn::LinkedIn => 14,
        LeadColumn::Company => 10,
        LeadColumn::Campaign => 12,
        // The longest event label ("follow-up clicked") and a date
        // ("Jan '25"), whole.
        LeadColumn::LastInteraction => 17,
        LeadColumn::Timestamp => 7,
    }
}

/// How much of the spare width a column takes (the event and its time
/// never need more than their minimum).
fn weight(column: LeadColumn) -> u16 {
    match column {
        LeadColumn::Name | LeadColumn::Company => 2,
        LeadColumn::LinkedIn => 3,
        LeadColumn::Email | LeadColumn::Campaign => 4,
        LeadColumn::LastInteraction | LeadColumn::Timestamp => 0,
    }
}

/// Each column's width: its minimum plus its share of what is left.
fn widths_for(columns: &[LeadColumn], width: u16) -> Vec<u16> {
    let used = columns.iter().map(|c| min_width(*c)).sum::<u16>()
        + COLUMN_SPACING * columns.len().saturating_sub(1) as u16;
    let spare = width.saturating_sub(used) as u32;
    let weights: u32 = columns
        .iter()
        .map(|c| weight(*c) as u32)
        .sum::<u32>()
        .max(1);
    let mut given = 0;
    let mut out: Vec<u16> = columns
        .iter()
        .map(|c| {
            let share = spare * weight(*c) as u32 / weights;
            given += share;
            min_width(*c) + share as u16
        })
        .collect();
    // Rounding leftovers go to the first column that takes a share.
    if let Some(at) = columns.iter().position(|c| weight(*c) > 0) {
        out[at] += (spare - given) as u16;
    }
    out
}

/// The columns that fit in `width`, in table order.
fn columns_for(width: u16) -> Vec<LeadColumn> {
    let mut columns = LeadColumn::ALL.to_vec();
    let needed = |columns: &[LeadColumn]| -> u16 {
        columns.iter().map(|c| min_width(*c)).sum::<u16>()
            + COLUMN_SPACING * columns.len().saturating_sub(1) as u16
    };
    for drop in DROP_ORDER {
        if needed(&columns) <= width {
            break;
        }
        columns.retain(|c| *c != drop);
    }
    columns
}

fn header_title(column: LeadColumn) -> &'static str {
    match column {
        LeadColumn::LinkedIn => "LinkedIn",
        LeadColumn::Timestamp => "When",
        other => other.title(),
    }
}

/// A LinkedIn profile URL as its handle (`in/dana-reyes`): the scheme and
/// host take a third of the column and say nothing.
pub fn linkedin_handle(url: &str) -> String {
    let rest = url
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let Some((host, path)) = rest.split_once('/') else {
        return rest.to_string();
    };
    if host.ends_with("linkedin.com") && !path.is_empty() {
        path.trim_end_matches('/').to_string()
    } else {
        rest.trim_end_matches('/').to_string()
    }
}

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
    /// People whose tags changed, by email, waiting to be re-read.
    pub tagged: BTreeSet<String>,
    pub rows_inflight: bool,
    pub loading: bool,
    /// Leads picked for a bulk change (enroll, pause), by email.
    pub picked: BTreeSet<String>,
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

    /// The filter text with `campaign:#ID` shown as the campaign's name, so
    /// the title says what the rep picked, not an id.
    fn filter_for_display(&self) -> String {
        let campaigns = self
            .index
            .as_ref()
            .map(LeadIndex::campaigns)
            .unwrap_or_default();
        self.filter_text
            .split_whitespace()
            .map(|token| {
                let named = token
                    .strip_prefix("campaign:#")
                    .and_then(|id| id.parse::<i64>().ok())
                    .and_then(|id| campaigns.iter().find(|(c, _)| *c == id));
                match named {
                    Some((_, name)) => format!("campaign:{name}"),
                    None => token.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
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
        first_sync: bool,
    ) -> (Rect, usize) {
        let arrow = if self.order.descending { "↓" } else { "↑" };
        // Before the index is built, or while the first sync is still
        // bringing leads in, there is nothing to count yet: "0 of 0" would
        // read as "no leads".
        let waiting = self.index.as_ref().is_none_or(LeadIndex::is_empty)
            && (self.index.is_none() || first_sync || !self.pending.is_empty());
        let mut title = match &self.index {
            _ if waiting => " Leads · loading… ".to_string(),
            Some(index) => format!(
                " Leads {} of {} · sort {} {arrow} ",
                self.ids.len(),
                index.len(),
                self.order.column.title()
            ),
            None => " Leads · loading… ".to_string(),
        };
        if !self.filter_text.is_empty() {
            title.push_str(&format!("· /{} ", self.filter_for_display()));
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
        if waiting {
            f.render_widget(
                Span::styled(
                    "Leads appear here as the first sync brings them in…",
                    theme.muted(),
                ),
                inner,
            );
            return (inner, 0);
        }
        let height = inner.height.saturating_sub(1) as usize;
        let range = self.cursor.visible(self.ids.len(), height);
        let offset = range.start;
        let columns = columns_for(inner.width);
        let widths = widths_for(&columns, inner.width);
        let header = Row::new(columns.iter().map(|c| {
            let mark = if *c == self.order.column { arrow } else { "" };
            Cell::from(format!("{}{mark}", header_title(*c)))
        }))
        .style(theme.accent());
        let rows: Vec<Row> = self.ids[range]
            .iter()
            .enumerate()
            .filter_map(|(i, id)| {
                let r = index.row(*id)?;
                let picked = self.picked.contains(r.email());
                let style = if offset + i == self.cursor.selected {
                    theme.selected()
                } else if picked {
                    theme.accent()
                } else {
                    ratatui::style::Style::default()
                };
                let cells = columns.iter().zip(&widths).map(|(column, width)| {
                    let width = *width as usize;
                    Cell::from(match column {
                        // A selected lead is marked before its name, its
                        // tags follow it (`Dana Reyes #hot`).
                        LeadColumn::Name => {
                            let mark = if picked { "✓ " } else { "" };
                            let mut name = format!("{mark}{}", r.name());
                            for tag in index.tags_of(r.email()) {
                                name.push_str(&format!(" #{tag}"));
                            }
                            clip(&name, width)
                        }
                        LeadColumn::Email => clip(r.email(), width),
                        LeadColumn::LinkedIn => clip(&linkedin_handle(r.linkedin()), width),
                        LeadColumn::Company => clip(r.company(), width),
                        LeadColumn::Campaign => clip_middle(r.campaign(), width),
                        LeadColumn::LastInteraction => {
                            clip(r.last_event.map_or("—", |e| e.label()), width)
                        }
                        LeadColumn::Timestamp => r
                            .last_event_at
                            .map(|t| super::short_time(t, now))
                            .unwrap_or_default(),
                    })
                });
                Some(Row::new(cells).style(style))
            })
            .collect();
        let table = Table::new(rows, widths.iter().map(|w| Constraint::Length(*w)))
            .header(header)
            .column_spacing(COLUMN_SPACING);
        f.render_widget(table, inner);
        let list_area = Rect {
            y: inner.y + 1,
            height: inner.height.saturating_sub(1),
            ..inner
        };
        (list_area, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linkedin_url_reads_as_its_handle() {
        assert_eq!(
            linkedin_handle("https://www.linkedin.com/in/dana-reyes/"),
            "in/dana-reyes"
        );
        assert_eq!(
            linkedin_handle("http://linkedin.com/in/dana?trk=x"),
            "in/dana"
        );
        assert_eq!(linkedin_handle("example.com/dana"), "example.com/dana");
        assert_eq!(linkedin_handle(""), "");
    }

    #[test]
    fn narrow_tables_drop_columns_in_order_and_fill_the_width() {
        for width in [58, 98, 158] {
            let columns = columns_for(width);
            let widths = widths_for(&columns, width);
            let total: u16 = widths.iter().sum::<u16>() + (columns.len() as u16 - 1);
            assert_eq!(total, width, "{columns:?}");
            assert!(columns.contains(&LeadColumn::Name));
            assert!(columns.contains(&LeadColumn::LastInteraction));
        }
        assert_eq!(columns_for(158).len(), 7);
        assert!(!columns_for(58).contains(&LeadColumn::LinkedIn));
        assert!(columns_for(58).contains(&LeadColumn::Campaign));
    }
}
