//! The rep's tasks due today and overdue: sequence task steps (which hold
//! their sequence until closed) and tasks added by hand. Overdue first, then
//! today, each grouped by lead.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use crate::model::Task;
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, cursor::Cursor};

#[derive(Debug, Default)]
pub struct TasksPane {
    /// In display order (see [`TasksPane::set`]).
    pub tasks: Vec<Task>,
    pub loaded: bool,
    pub inflight: bool,
    pub stale: bool,
    pub cursor: Cursor,
}

/// Overdue when it fell due before today began (UTC, as the pane's times are).
fn is_overdue(task: &Task, now: DateTime<Utc>) -> bool {
    task.due_at.date_naive() < now.date_naive()
}

impl TasksPane {
    /// Takes a fresh list: overdue first, then today's, each by lead, then
    /// due time; the selection stays on the same task when it is still there.
    pub fn set(&mut self, mut tasks: Vec<Task>, now: DateTime<Utc>) {
        let keep = self.selected().map(|t| t.id.clone());
        tasks.sort_by(|a, b| {
            (!is_overdue(a, now), &a.lead_email, a.due_at, &a.id).cmp(&(
                !is_overdue(b, now),
                &b.lead_email,
                b.due_at,
                &b.id,
            ))
        });
        self.tasks = tasks;
        self.loaded = true;
        if let Some(at) = keep.and_then(|id| self.tasks.iter().position(|t| t.id == id)) {
            self.cursor.selected = at;
        }
        self.cursor.clamp(self.tasks.len());
    }

    pub fn selected(&self) -> Option<&Task> {
        self.tasks.get(self.cursor.selected)
    }

    pub fn render(
        &mut self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        now: DateTime<Utc>,
    ) -> (Rect, usize) {
        let overdue = self.tasks.iter().filter(|t| is_overdue(t, now)).count();
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(
                format!(
                    " Tasks ({} due today, {overdue} overdue) · d done · s skip · Enter lead ",
                    self.tasks.len() - overdue
                ),
                theme.accent(),
            ));
        let inner = block.inner(area);
        f.render_widget(block, area);
        if self.tasks.is_empty() {
            let text = if self.loaded {
                "Nothing due today. Sequence task steps and `outpost task add` land here."
            } else {
                "Loading…"
            };
            f.render_widget(Span::styled(text, theme.muted()), inner);
            return (inner, 0);
        }
        let range = self
            .cursor
            .visible(self.tasks.len(), inner.height.saturating_sub(1) as usize);
        let offset = range.start;
        let rows: Vec<Row> = self.tasks[range]
            .iter()
            .enumerate()
            .map(|(i, task)| {
                let style = if offset + i == self.cursor.selected {
                    theme.selected()
                } else {
                    ratatui::style::Style::default()
                };
                let (when, when_style) = if is_overdue(task, now) {
                    ("overdue", theme.warn())
                } else {
                    ("today", theme.ok())
                };
                let from = match (&task.enrollment_id, task.step) {
                    (Some(_), Some(step)) => format!("sequence step {}", step + 1),
                    _ => "yours".to_string(),
                };
                Row::new(vec![
                    Cell::from(Span::styled(when, when_style)),
                    Cell::from(super::short_time_of_day(task.due_at, now)),
                    Cell::from(clip(&task.lead_email, 32)),
                    Cell::from(clip(&task.title, 60)),
                    Cell::from(from),
                ])
                .style(style)
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(13),
                Constraint::Length(32),
                Constraint::Fill(1),
                Constraint::Length(16),
            ],
        )
        .header(Row::new(["", "Due", "Lead", "Task", "From"]).style(theme.accent()));
        f.render_widget(table, inner);
        (
            Rect {
                y: inner.y + 1,
                height: inner.height.saturating_sub(1),
                ..inner
            },
            offset,
        )
    }
}
