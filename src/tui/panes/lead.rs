//! One lead: fields, custom fields, category, enrollments, suppressions and
//! the activity timeline from both providers.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::engine::{LeadView, TimelineItem};
use crate::model::Direction;
use crate::tui::theme::Theme;

#[derive(Debug, Default)]
pub struct LeadPane {
    pub email: String,
    pub view: Option<LeadView>,
    pub scroll: u16,
    pub inflight: bool,
    pub again: bool,
}

impl LeadPane {
    fn details(&self, theme: &Theme) -> Vec<Line<'static>> {
        let Some(view) = &self.view else {
            return vec![Line::styled("Loading…", theme.muted())];
        };
        let mut out = Vec::new();
        let field = |name: &str, value: Option<&String>| {
            Line::from(vec![
                Span::styled(format!("{name:<10} "), theme.muted()),
                Span::raw(value.cloned().unwrap_or_else(|| "—".into())),
            ])
        };
        for lead in &view.records {
            out.push(Line::styled(
                format!("{} <{}>", lead.full_name(), lead.email),
                theme.accent(),
            ));
            out.push(field("Account", Some(&lead.account)));
            out.push(field("Company", lead.company.as_ref()));
            let linkedin = lead
                .linkedin_url
                .as_deref()
                .map(super::leads::linkedin_handle);
            out.push(field("LinkedIn", linkedin.as_ref()));
            out.push(field("Phone", lead.phone.as_ref()));
            out.push(field("Location", lead.location.as_ref()));
            out.push(field("Timezone", lead.timezone.as_ref()));
            out.push(field("Category", lead.category.as_ref().map(|c| &c.name)));
            for m in &lead.memberships {
                out.push(Line::raw(format!(
                    "Campaign   {} ({})",
                    view.campaign_label(m.campaign_id),
                    m.status.clone().unwrap_or_else(|| "—".into())
                )));
            }
            for (k, v) in &lead.custom_fields {
                out.push(Line::from(vec![
                    Span::styled(format!("{k:<10} "), theme.muted()),
                    Span::raw(v.clone()),
                ]));
            }
            out.push(Line::raw(""));
        }
        if view.records.is_empty() {
            out.push(Line::styled(self.email.clone(), theme.accent()));
            out.push(Line::styled("Not a lead in any campaign", theme.muted()));
            out.push(Line::raw(""));
        }
        out.push(Line::styled("Enrollments", theme.accent()));
        if view.enrollments.is_empty() {
            out.push(Line::styled("  none (E enrolls)", theme.muted()));
        }
        for e in &view.enrollments {
            out.push(Line::raw(format!(
                "  {} · {} · step {}{}",
                e.sequence,
                e.state.as_str(),
                e.current_step + 1,
                e.next_due_at
                    .map(|t| format!(" · next {}", super::full_time(t)))
                    .unwrap_or_default()
            )));
        }
        for s in &view.suppressed {
            out.push(Line::styled(
                format!("  Suppressed in {}: {:?}", s.account, s.reason),
                theme.error(),
            ));
        }
        out
    }

    fn timeline(&self, theme: &Theme) -> Vec<Line<'static>> {
        let Some(view) = &self.view else {
            return Vec::new();
        };
        if view.timeline.is_empty() {
            return vec![Line::styled("No activity yet", theme.muted())];
        }
        view.timeline
            .iter()
            .map(|item| match item {
                TimelineItem::Event(e) => Line::from(vec![
                    Span::styled(super::full_time(e.at), theme.muted()),
                    Span::raw(format!("  {:<20}", e.kind.label())),
                    Span::styled(
                        format!(
                            "{}{}",
                            e.campaign_id
                                .map(|c| format!("{} ", view.campaign_label(c)))
                                .unwrap_or_default(),
                            e.detail.clone().unwrap_or_default()
                        ),
                        theme.muted(),
                    ),
                ]),
                TimelineItem::Message {
                    direction,
                    subject,
                    date,
                    snippet,
                    account,
                    ..
                } => Line::from(vec![
                    Span::styled(super::full_time(*date), theme.muted()),
                    Span::styled(
                        format!(
                            "  {:<20}",
                            match direction {
                                Direction::Inbound => "◀ message from lead",
                                Direction::Outbound => "▶ message to lead",
                            }
                        ),
                        theme.accent(),
                    ),
                    Span::raw(format!("{subject} — {snippet} ")),
                    Span::styled(format!("({account})"), theme.muted()),
                ]),
            })
            .collect()
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, theme: &Theme) {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                .areas(area);
        let details = Paragraph::new(self.details(theme))
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .title(Span::styled(" Lead ", theme.accent())),
            );
        f.render_widget(details, left);
        let lines = self.timeline(theme);
        let max = (lines.len() as u16).saturating_sub(right.height.saturating_sub(2));
        self.scroll = self.scroll.min(max);
        let count = self.view.as_ref().map_or(0, |v| v.timeline.len());
        let timeline = Paragraph::new(lines).scroll((self.scroll, 0)).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border())
                .title(Span::styled(
                    format!(" Activity ({count}) "),
                    theme.accent(),
                )),
        );
        f.render_widget(timeline, right);
    }
}
