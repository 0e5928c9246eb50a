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
            out.push(field("LinkedIn", lead.linkedin_url.as_ref()));
            out.push(field("Phone", lead.phone.as_ref()));
            out.push(field("Location", lead.location.as_ref()));
            out.push(field("Timezone", lead.timezone.as_ref()));
            out.push(field("Category", lead.category.as_ref().map(|c| &c.name)));
            for m in &lead.memberships {
                out.push(Line::raw(format!(
                    "Campaign   {} ({})",
                    m.campaign_name
                        .clone()
                        .unwrap_or_else(|| format!("#{}", m.campaign_id)),
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
        // Events carry the campaign's id; the rep knows it by name.
        let campaign_names: std::collections::BTreeMap<i64, &str> = view
            .records
            .iter()
            .flat_map(|l| &l.memberships)
            .filter_map(|m| Some((m.campaign_id, m.campaign_name.as_deref()?)))
            .collect();
        view.timeline
            .iter()
            .map(|item| match item {
                TimelineItem::Event(e) => Line::from(vec![
                    Span::styled(super::full_time(e.at), theme.muted()),
                    Span::raw(format!("  {:<24}", e.kind.as_str())),
                    Span::styled(
                        e.campaign_id
                            .map(|c| match campaign_names.get(&c) {
                                Some(name) => name.to_string(),
                                None => format!("campaign #{c}"),
                            })
                            .into_iter()
                            .chain(e.detail.clone())
                            .collect::<Vec<_>>()
                            .join(" · "),
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
                            "  {:<24}",
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
