//! Sequences as the store holds them: status and a per-step funnel; one
//! sequence's steps and its enrollments with progress and next due time.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use crate::engine::{SequenceDetail, SequenceSummary};
use crate::model::{Sequence, SequenceStatus, StepKind};
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, cursor::Cursor};

#[derive(Debug, Default)]
pub struct SequencesPane {
    pub list: Vec<SequenceSummary>,
    pub loaded: bool,
    pub cursor: Cursor,
    pub detail: Option<SequenceDetail>,
    pub detail_cursor: Cursor,
    /// The open sequence's deliverability warnings, once looked up (by name).
    pub preflight: Option<(String, Vec<String>)>,
    pub inflight: bool,
    pub stale: bool,
}

fn status_span(status: SequenceStatus, theme: &Theme) -> Span<'static> {
    match status {
        SequenceStatus::Active => Span::styled("active", theme.ok()),
        SequenceStatus::Paused => Span::styled("paused", theme.warn()),
    }
}

fn funnel_lines(summary: &SequenceSummary, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let top = summary.enrolled.max(1) as f64;
    summary
        .funnel
        .iter()
        .map(|s| {
            let bar = ((s.done as f64 / top) * width as f64).round() as usize;
            let title = summary
                .sequence
                .steps
                .get(s.step)
                .map_or_else(|| s.name.clone(), |step| step.title(s.step));
            Line::from(vec![
                Span::raw(format!("{:>2}. {:<18} ", s.step + 1, clip(&title, 18))),
                Span::styled("█".repeat(bar.min(width)), theme.accent()),
                Span::raw(format!(" {} done", s.done)),
                Span::styled(
                    if s.waiting > 0 {
                        format!(", {} waiting", s.waiting)
                    } else {
                        String::new()
                    },
                    theme.muted(),
                ),
            ])
        })
        .collect()
}

impl SequencesPane {
    pub fn selected(&self) -> Option<&SequenceSummary> {
        self.list.get(self.cursor.selected)
    }

    pub fn render_list(&mut self, f: &mut Frame, area: Rect, theme: &Theme) -> (Rect, usize) {
        let [list_area, funnel_area] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Fill(1)]).areas(area);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(
                format!(" Sequences ({}) ", self.list.len()),
                theme.accent(),
            ));
        let inner = block.inner(list_area);
        f.render_widget(block, list_area);
        if self.list.is_empty() {
            let text = if self.loaded {
                "No sequences yet: `outpost sequence apply FILE` adds one."
            } else {
                "Loading…"
            };
            f.render_widget(Span::styled(text, theme.muted()), inner);
            return (inner, 0);
        }
        let range = self
            .cursor
            .visible(self.list.len(), inner.height.saturating_sub(1) as usize);
        let offset = range.start;
        let rows: Vec<Row> = self.list[range]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let count = |state: &str| s.by_state.get(state).copied().unwrap_or(0).to_string();
                let style = if offset + i == self.cursor.selected {
                    theme.selected()
                } else {
                    ratatui::style::Style::default()
                };
                Row::new(vec![
                    Cell::from(clip(&s.sequence.name, 28)),
                    Cell::from(status_span(s.sequence.status, theme)),
                    Cell::from(s.sequence.steps.len().to_string()),
                    Cell::from(s.enrolled.to_string()),
                    Cell::from(count("active")),
                    Cell::from(count("paused")),
                    Cell::from(count("completed")),
                    Cell::from(count("stopped")),
                    Cell::from(s.sequence.send_via.account.clone()),
                ])
                .style(style)
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Length(7),
                Constraint::Length(5),
                Constraint::Length(8),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(9),
                Constraint::Length(8),
                Constraint::Length(16),
            ],
        )
        .header(
            Row::new([
                "Name",
                "Status",
                "Steps",
                "Enrolled",
                "Active",
                "Paused",
                "Completed",
                "Stopped",
                "Sends via",
            ])
            .style(theme.accent()),
        );
        f.render_widget(table, inner);
        if let Some(s) = self.selected() {
            let width = funnel_area.width.saturating_sub(40) as usize;
            let funnel = Paragraph::new(funnel_lines(s, theme, width)).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .title(Span::styled(
                        format!(" Funnel · {} ", s.sequence.name),
                        theme.accent(),
                    )),
            );
            f.render_widget(funnel, funnel_area);
        }
        (
            Rect {
                y: inner.y + 1,
                height: inner.height.saturating_sub(1),
                ..inner
            },
            offset,
        )
    }

    pub fn render_detail(
        &mut self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        zone: crate::triage::RepZone,
    ) -> (Rect, usize) {
        let Some(detail) = &self.detail else {
            f.render_widget(Span::styled("Loading…", theme.muted()), area);
            return (area, 0);
        };
        let s = &detail.summary;
        let warnings: &[String] = match &self.preflight {
            Some((name, warnings)) if *name == s.sequence.name => warnings,
            _ => &[],
        };
        let steps_height =
            ((s.sequence.steps.len() + warnings.len()) as u16 + 4).min(area.height / 2);
        let [steps_area, enrollments_area] =
            Layout::vertical([Constraint::Length(steps_height), Constraint::Fill(1)]).areas(area);
        let mut lines = vec![Line::from(vec![
            Span::raw(format!("{} · ", s.sequence.description)),
            status_span(s.sequence.status, theme),
            Span::styled(
                format!(
                    " · {} via {} · window {}-{} {}",
                    s.sequence.send_via.provider,
                    s.sequence.send_via.account,
                    s.sequence.settings.window.start.format("%H:%M"),
                    s.sequence.settings.window.end.format("%H:%M"),
                    s.sequence.settings.timezone
                ),
                theme.muted(),
            ),
        ])];
        for warning in warnings {
            lines.push(Line::from(Span::styled(
                format!("⚠ {}", clip(warning, area.width.saturating_sub(4) as usize)),
                theme.warn(),
            )));
        }
        for (i, (step, funnel)) in s.sequence.steps.iter().zip(s.funnel.iter()).enumerate() {
            // An unnamed step's title already says what it does.
            let title = step.title(i);
            let kind = step_kind(&s.sequence, i);
            lines.push(Line::raw(format!(
                "{:>2}. {:<20} {:<34} {} done, {} waiting",
                i + 1,
                clip(&title, 20),
                clip(&kind, 34),
                funnel.done,
                funnel.waiting
            )));
        }
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .title(Span::styled(
                        format!(" {} · steps ", s.sequence.name),
                        theme.accent(),
                    )),
            ),
            steps_area,
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(
                format!(" Enrollments ({}) ", detail.enrollments.len()),
                theme.accent(),
            ));
        let inner = block.inner(enrollments_area);
        f.render_widget(block, enrollments_area);
        let total_steps = s.sequence.steps.len().max(1);
        let range = self.detail_cursor.visible(
            detail.enrollments.len(),
            inner.height.saturating_sub(1) as usize,
        );
        let offset = range.start;
        let rows: Vec<Row> = detail.enrollments[range]
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let done = e.current_step.min(total_steps);
                let bar = format!("{}{}", "■".repeat(done), "□".repeat(total_steps - done));
                let style = if offset + i == self.detail_cursor.selected {
                    theme.selected()
                } else {
                    ratatui::style::Style::default()
                };
                Row::new(vec![
                    clip(&e.lead_email, 32),
                    e.state.as_str().to_string(),
                    format!("{bar} {}/{}", done, total_steps),
                    // The plan's time (window, gaps, caps), as `plan` and
                    // `enroll` print it.
                    detail
                        .next_sends
                        .get(&e.id)
                        .map(|t| zone.show(*t))
                        .unwrap_or_else(|| "—".into()),
                    e.reason.clone().unwrap_or_default(),
                ])
                .style(style)
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Fill(2),
                Constraint::Length(10),
                Constraint::Length(total_steps as u16 + 8),
                // "Mon 16 Mar 14:00 +05:30": a system zone shows as its offset.
                Constraint::Length(23),
                Constraint::Fill(2),
            ],
        )
        .header(Row::new(["Lead", "State", "Progress", "Next send", "Why"]).style(theme.accent()));
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

/// What a step does, beside its title. An email of a sequence sent through
/// a Smartlead campaign says so: the campaign's own copy is what goes out.
/// An unnamed step's title already says what it does.
fn step_kind(seq: &Sequence, index: usize) -> String {
    let step = &seq.steps[index];
    match crate::sequences::SmartleadStep::for_step(seq, index) {
        Some(by) if matches!(step.kind, StepKind::Email { .. }) => {
            format!("Smartlead campaign {}, step {}", by.campaign_id, by.step)
        }
        _ if step.title(index) == step.name => step.kind.summary(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::step_kind;

    #[test]
    fn a_smartlead_sent_email_step_names_the_campaign_step_not_outposts_text() {
        let store = crate::store::Store::temporary().unwrap();
        let text = include_str!("../../../assets/sequences/smartlead-campaign.toml");
        let seq = crate::sequences::apply_sequence(
            &store,
            "smartlead-campaign.toml",
            text,
            &crate::config::SendingConfig::default(),
            chrono::DateTime::UNIX_EPOCH,
        )
        .unwrap()
        .sequence;
        assert_eq!(step_kind(&seq, 0), "Smartlead campaign 2011, step 1");
        assert!(!step_kind(&seq, 1).contains("Smartlead"));
        assert_eq!(step_kind(&seq, 2), "Smartlead campaign 2011, step 2");
    }
}
