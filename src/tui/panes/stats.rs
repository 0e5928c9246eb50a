//! Campaign stats: the campaign list (sortable by any rate), summary cards
//! with rate definitions on demand, a daily chart, and sending mailboxes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table,
};

use crate::engine::{CampaignStats, Rate, StatsReport};
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, clip_middle, cursor::Cursor, fit_count};

/// Fewer rows than this and the daily chart is left out.
const MIN_CHART_HEIGHT: u16 = 5;

/// From this width the campaign list and the detail sit side by side.
const WIDE: u16 = 140;

/// A card's title in the room it has: the rate's name, or its short form
/// on a narrow terminal ("unsub" for "unsubscribed").
fn card_label(name: &str, room: usize) -> String {
    if name.chars().count() <= room {
        return name.to_string();
    }
    let short = match name {
        "delivered" => "deliv",
        "opened" => "open",
        "clicked" => "click",
        "replied" => "reply",
        "bounced" => "bnc",
        "unsubscribed" => "unsub",
        other => other,
    };
    clip(short, room)
}

/// What the campaign list is sorted by: the name, or one of the rates.
pub const SORTS: [&str; 8] = [
    "name",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "unsubscribed",
];

/// How the mailbox table's bounce column is computed (the per-mailbox
/// detail is in `outpost stats --json`).
const MAILBOX_DEFINITION: [(&str, &str); 2] = [
    (
        "mailbox Bnc",
        "bounces / emails sent, in campaigns it sends alone",
    ),
    (
        "",
        "— if its campaigns share mailboxes: Smartlead names no sender",
    ),
];

#[derive(Debug, Default)]
pub struct StatsPane {
    pub report: Option<StatsReport>,
    pub cursor: Cursor,
    pub sort: usize,
    pub descending: bool,
    pub show_definitions: bool,
    pub inflight: bool,
    pub stale: bool,
    /// Campaign positions in display order.
    pub order: Vec<usize>,
}

fn rate_of<'a>(c: &'a CampaignStats, name: &str) -> Option<&'a Rate> {
    c.rates.iter().find(|r| r.name == name)
}

fn percent(rate: Option<&Rate>) -> String {
    match rate.and_then(|r| r.percent) {
        Some(p) => format!("{p:.1}%"),
        None => "—".to_string(),
    }
}

impl StatsPane {
    pub fn resort(&mut self) {
        let Some(report) = &self.report else {
            self.order.clear();
            return;
        };
        let key = SORTS[self.sort % SORTS.len()];
        let mut order: Vec<usize> = (0..report.campaigns.len()).collect();
        order.sort_by(|a, b| {
            let (ca, cb) = (&report.campaigns[*a], &report.campaigns[*b]);
            let ord = if key == "name" {
                ca.name.to_lowercase().cmp(&cb.name.to_lowercase())
            } else if key == "sent" {
                ca.counts.sent.cmp(&cb.counts.sent)
            } else {
                let pa = rate_of(ca, key).and_then(|r| r.percent).unwrap_or(-1.0);
                let pb = rate_of(cb, key).and_then(|r| r.percent).unwrap_or(-1.0);
                pa.total_cmp(&pb)
            };
            ord.then_with(|| ca.campaign_id.cmp(&cb.campaign_id))
        });
        if self.descending {
            order.reverse();
        }
        self.order = order;
    }

    pub fn selected(&self) -> Option<&CampaignStats> {
        let report = self.report.as_ref()?;
        report.campaigns.get(*self.order.get(self.cursor.selected)?)
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, theme: &Theme) -> (Rect, usize) {
        let campaigns = self.report.as_ref().map_or(0, |r| r.campaigns.len()) as u16;
        // Side by side when there is room for both; else the list on top,
        // so campaign names keep their width on a narrow terminal.
        let [list_area, detail] = if area.width >= WIDE {
            Layout::horizontal([Constraint::Percentage(45), Constraint::Fill(1)]).areas(area)
        } else {
            // Header, campaigns, TOTAL and the borders.
            let list_height = (campaigns + 4).min(area.height / 2).max(5);
            Layout::vertical([Constraint::Length(list_height), Constraint::Fill(1)]).areas(area)
        };
        let sort = SORTS[self.sort % SORTS.len()];
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(
                format!(
                    " Campaigns · sort {sort} {} ",
                    if self.descending { "↓" } else { "↑" }
                ),
                theme.accent(),
            ));
        let inner = block.inner(list_area);
        f.render_widget(block, list_area);
        let Some(report) = &self.report else {
            f.render_widget(Span::styled("Loading…", theme.muted()), inner);
            return (inner, 0);
        };
        if report.campaigns.is_empty() {
            f.render_widget(
                Span::styled(
                    "No campaigns yet; they appear once Smartlead syncs.",
                    theme.muted(),
                ),
                inner,
            );
            return (inner, 0);
        }
        // The header and the TOTAL row take a line each.
        let range = self
            .cursor
            .visible(self.order.len(), inner.height.saturating_sub(2) as usize);
        let offset = range.start;
        let figures: [u16; 5] = [9, 6, 6, 6, 6];
        let name_width = inner
            .width
            .saturating_sub(figures.iter().sum::<u16>() + figures.len() as u16)
            as usize;
        let figure_row = |name: String, status: &str, sent: u64, rates: &[Rate]| {
            vec![
                Cell::from(clip_middle(&name, name_width)),
                Cell::from(status.to_lowercase()),
                Cell::from(fit_count(sent, figures[1] as usize)),
                Cell::from(percent(rates.iter().find(|r| r.name == "opened"))),
                Cell::from(percent(rates.iter().find(|r| r.name == "replied"))),
                Cell::from(percent(rates.iter().find(|r| r.name == "bounced"))),
            ]
        };
        let mut rows: Vec<Row> = self.order[range]
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let c = &report.campaigns[*at];
                let style = if offset + i == self.cursor.selected {
                    theme.selected()
                } else {
                    ratatui::style::Style::default()
                };
                Row::new(figure_row(
                    c.name.clone(),
                    &c.status,
                    c.counts.sent,
                    &c.rates,
                ))
                .style(style)
            })
            .collect();
        // The same sums `outpost stats` prints as TOTAL.
        rows.push(
            Row::new(figure_row(
                "TOTAL".into(),
                "",
                report.totals.sent,
                &report.total_rates,
            ))
            .style(theme.accent()),
        );
        let mut widths = vec![Constraint::Length(name_width as u16)];
        widths.extend(figures.iter().map(|w| Constraint::Length(*w)));
        let table = Table::new(rows, widths).header(
            Row::new(["Campaign", "Status", "Sent", "Open", "Reply", "Bnc"]).style(theme.accent()),
        );
        f.render_widget(table, inner);
        let list = Rect {
            y: inner.y + 1,
            height: inner.height.saturating_sub(2),
            ..inner
        };
        if let Some(c) = self.selected() {
            self.render_detail(f, detail, theme, c, report);
        }
        (list, offset)
    }

    fn render_detail(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        c: &CampaignStats,
        report: &StatsReport,
    ) {
        let definitions_height = if self.show_definitions {
            (c.rates.len() + MAILBOX_DEFINITION.len()) as u16 + 2
        } else {
            0
        };
        let mailbox_rows = report.mailboxes.len() + report.gmail_mailboxes.len();
        let mailbox_height = (mailbox_rows as u16 + 3).min(8);
        // A chart squeezed under a few rows shows nothing: then the
        // mailboxes take the room instead.
        let chart_room = area
            .height
            .saturating_sub(4 + definitions_height + mailbox_height);
        let (chart_height, mailbox_height) = if chart_room < MIN_CHART_HEIGHT {
            (Constraint::Length(0), Constraint::Fill(1))
        } else {
            (Constraint::Fill(1), Constraint::Length(mailbox_height))
        };
        let [cards, definitions, chart, mailboxes] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Length(definitions_height),
            chart_height,
            mailbox_height,
        ])
        .areas(area);
        if self.show_definitions {
            let mut lines: Vec<Line> = c
                .rates
                .iter()
                .map(|r| {
                    Line::from(vec![
                        Span::styled(format!("{:<13}", r.name), theme.accent()),
                        Span::raw(format!("{} / {}", r.numerator, r.denominator)),
                    ])
                })
                .collect();
            lines.extend(MAILBOX_DEFINITION.iter().map(|(label, text)| {
                Line::from(vec![
                    Span::styled(format!("{label:<13}"), theme.accent()),
                    Span::raw(*text),
                ])
            }));
            f.render_widget(
                Paragraph::new(lines).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(theme.border())
                        .title(Span::styled(" How each rate is computed ", theme.accent())),
                ),
                definitions,
            );
        }
        let slots =
            Layout::horizontal(vec![Constraint::Fill(1); c.rates.len().max(1)]).split(cards);
        for (rate, slot) in c.rates.iter().zip(slots.iter()) {
            let room = slot.width.saturating_sub(2) as usize;
            let lines = vec![
                Line::styled(fit_count(rate.count, room), theme.accent()),
                Line::raw(percent(Some(rate))),
            ];
            let card = Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .title(Span::styled(card_label(&rate.name, room), theme.muted())),
            );
            f.render_widget(card, *slot);
        }
        if chart.height > 0 {
            self.render_chart(f, chart, theme, c);
        }
        // The figures' columns and spacing; the address gets the rest, cut
        // with an ellipsis rather than silently at the column's edge.
        let address_width = mailboxes.width.saturating_sub(2 + 48) as usize;
        // A Gmail mailbox paused for bounces comes first: nothing of its
        // sequences goes out until the rep resumes it.
        let mut gmail: Vec<&crate::engine::MailboxBounces> =
            report.gmail_mailboxes.iter().collect();
        gmail.sort_by_key(|m| !m.paused);
        let gmail_rows = gmail.into_iter().map(|m| {
            let state = if m.paused {
                Span::styled("PAUSED", theme.error())
            } else {
                Span::raw("sending")
            };
            Row::new(vec![
                Cell::from(clip(&m.mailbox, address_width)),
                Cell::from(format!("{} sent", m.sends)),
                Cell::from("—"),
                Cell::from(state),
                Cell::from("—"),
                Cell::from("—"),
                Cell::from(crate::engine::rate_text(m.bounce_rate)),
            ])
        });
        let rows: Vec<Row> = gmail_rows
            .chain(report.mailboxes.iter().map(|m| {
                let mb = &m.mailbox;
                Row::new(vec![
                    clip(&mb.from_email, address_width),
                    format!(
                        "{}/{}",
                        mb.sent_today.map_or("—".into(), |v| v.to_string()),
                        mb.daily_limit.map_or("—".into(), |v| v.to_string())
                    ),
                    m.daily_use_percent
                        .map_or("—".into(), |p| format!("{p:.0}%")),
                    mb.warmup_status.clone().unwrap_or_else(|| "—".into()),
                    mb.warmup_reputation.clone().unwrap_or_else(|| "—".into()),
                    m.warmup_spam_percent
                        .map_or("—".into(), |p| format!("{p:.1}%")),
                    percent(Some(&m.bounce_rate)),
                ])
            }))
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Length(6),
            ],
        )
        .header(
            Row::new(["Mailbox", "Today", "Use", "Warm-up", "Rep.", "Spam", "Bnc"])
                .style(theme.accent()),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border())
                .title(Span::styled(" Deliverability by mailbox ", theme.accent())),
        );
        f.render_widget(table, mailboxes);
    }

    fn render_chart(&self, f: &mut Frame, area: Rect, theme: &Theme, c: &CampaignStats) {
        let series = |pick: fn(&crate::engine::DayPoint) -> u64| -> Vec<(f64, f64)> {
            c.days
                .iter()
                .enumerate()
                .map(|(i, d)| (i as f64, pick(d) as f64))
                .collect()
        };
        let opens = series(|d| d.opened);
        let clicks = series(|d| d.clicked);
        let replies = series(|d| d.replied);
        let bounces = series(|d| d.bounced);
        let max = [&opens, &clicks, &replies, &bounces]
            .iter()
            .flat_map(|s| s.iter().map(|p| p.1))
            .fold(1.0, f64::max);
        let style = |slot: &str| match theme.color(slot) {
            Some(color) => ratatui::style::Style::default().fg(color),
            None => ratatui::style::Style::default(),
        };
        let datasets = vec![
            Dataset::default()
                .name("opens")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style("accent"))
                .data(&opens),
            Dataset::default()
                .name("clicks")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style("warn"))
                .data(&clicks),
            Dataset::default()
                .name("replies")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style("ok"))
                .data(&replies),
            Dataset::default()
                .name("bounces")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style("error"))
                .data(&bounces),
        ];
        let first = c
            .days
            .first()
            .map(|d| d.date.format("%b %d").to_string())
            .unwrap_or_default();
        let last = c
            .days
            .last()
            .map(|d| d.date.format("%b %d").to_string())
            .unwrap_or_default();
        let chart = Chart::new(datasets)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .title(Span::styled(
                        format!(
                            " {} · {} · by day ",
                            clip_middle(&c.name, 40),
                            c.status.to_lowercase()
                        ),
                        theme.accent(),
                    )),
            )
            .x_axis(
                Axis::default()
                    .bounds([0.0, (c.days.len().max(2) - 1) as f64])
                    .labels([first, last]),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, max])
                    .labels(["0".to_string(), format!("{max:.0}")]),
            );
        f.render_widget(chart, area);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::engine::MailboxBounces;

    fn gmail(mailbox: &str, paused: bool) -> MailboxBounces {
        MailboxBounces {
            account: "gm".into(),
            mailbox: mailbox.into(),
            sends: 60,
            hard_bounces: if paused { 4 } else { 1 },
            soft_bounces: 0,
            bounce_rate: Some(if paused { 4.0 / 60.0 } else { 1.0 / 60.0 }),
            paused,
            paused_at: None,
            resumed_at: None,
        }
    }

    #[test]
    fn a_gmail_mailbox_paused_for_bounces_shows_first_with_its_rate() {
        let campaign = CampaignStats {
            account: "sl".into(),
            campaign_id: 1,
            name: "Q3".into(),
            status: "ACTIVE".into(),
            client_id: None,
            leads: 0,
            counts: Default::default(),
            lead_stats: Default::default(),
            rates: Vec::new(),
            days: Vec::new(),
        };
        let mut pane = StatsPane {
            report: Some(StatsReport {
                campaigns: vec![campaign],
                totals: Default::default(),
                total_rates: Vec::new(),
                mailboxes: Vec::new(),
                gmail_mailboxes: vec![
                    gmail("ok@acme.example", false),
                    gmail("sam@acme.example", true),
                ],
            }),
            ..StatsPane::default()
        };
        pane.resort();
        let theme = Theme::new(&BTreeMap::new(), true).unwrap();
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        terminal
            .draw(|f| {
                pane.render(f, f.area(), &theme);
            })
            .unwrap();
        let screen: Vec<String> = (0..30)
            .map(|y| {
                (0..120)
                    .map(|x| terminal.backend().buffer()[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect();
        let paused = screen.iter().position(|l| l.contains("sam@acme.example"));
        let sending = screen.iter().position(|l| l.contains("ok@acme.example"));
        let (paused, sending) = (paused.expect("paused row"), sending.expect("sending row"));
        assert!(paused < sending, "{screen:#?}");
        assert!(screen[paused].contains("PAUSED") && screen[paused].contains("6.7%"));
        assert!(screen[sending].contains("sending") && screen[sending].contains("1.7%"));
    }
}
