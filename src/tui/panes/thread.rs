//! One conversation: every message, quoted text folded, HTML shown as text,
//! headers on demand.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::engine::ThreadView;
use crate::model::Direction;
use crate::tui::theme::Theme;

#[derive(Debug, Default)]
pub struct ThreadPane {
    pub key: String,
    pub view: Option<ThreadView>,
    pub scroll: u16,
    pub show_headers: bool,
    pub show_quoted: bool,
    pub inflight: bool,
    /// Set when a conversation opens: the first frame scrolls to its newest
    /// message.
    pub to_newest: bool,
}

pub use crate::conversation::{readable_text as body_text, split_quoted};

impl ThreadPane {
    pub fn lines(&self, theme: &Theme) -> Vec<Line<'static>> {
        self.lines_with_newest(theme).0
    }

    /// The lines, and where the newest message's header is among them.
    fn lines_with_newest(&self, theme: &Theme) -> (Vec<Line<'static>>, usize) {
        let Some(view) = &self.view else {
            return (vec![Line::styled("Loading…", theme.muted())], 0);
        };
        let mut newest = 0;
        // Numbered as `outpost attachment` and the A key number them.
        let mut attachment_number = 0;
        let t = &view.thread;
        let marks = super::inbox::RowMarks {
            labels: view.labels.clone(),
            tags: view.tags.clone(),
            assigned_to: view.assigned_to.clone(),
        }
        .text();
        let mut out = vec![
            Line::from(vec![
                Span::styled(t.subject.clone(), theme.accent()),
                Span::styled(
                    if marks.is_empty() {
                        marks
                    } else {
                        format!("  {marks}")
                    },
                    theme.badge(),
                ),
            ]),
            Line::from(vec![
                Span::styled(format!("with {} · ", view.name), theme.accent()),
                // Every account the conversation reached us through.
                Span::styled(
                    format!("{} · {}", t.provider, view.accounts.join(" + ")),
                    theme.muted(),
                ),
                Span::styled(
                    t.campaign_name
                        .as_ref()
                        .map(|c| format!(" · campaign {c}"))
                        .unwrap_or_default(),
                    theme.muted(),
                ),
                Span::styled(
                    t.category
                        .as_ref()
                        .map(|c| format!("  [{}]", c.name))
                        .unwrap_or_default(),
                    theme.badge(),
                ),
            ]),
            Line::raw(""),
        ];
        for (i, m) in view.messages.iter().enumerate() {
            let arrow = match m.direction {
                Direction::Inbound => "◀",
                Direction::Outbound => "▶",
            };
            let via = match view.message_sources.get(i) {
                Some(accounts) if accounts.len() > 1 => format!("  · via {}", accounts.join(" + ")),
                _ => String::new(),
            };
            newest = out.len();
            out.push(Line::from(vec![
                Span::styled(format!("{arrow} {}", m.from), theme.accent()),
                Span::styled(format!("  {}", super::full_time(m.date)), theme.muted()),
                Span::styled(via, theme.muted()),
            ]));
            if self.show_headers {
                let list = |a: &[crate::model::Address]| {
                    a.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                out.push(Line::styled(
                    format!("  To: {}", list(&m.to)),
                    theme.muted(),
                ));
                if !m.cc.is_empty() {
                    out.push(Line::styled(
                        format!("  Cc: {}", list(&m.cc)),
                        theme.muted(),
                    ));
                }
                out.push(Line::styled(
                    format!("  Subject: {}", m.subject),
                    theme.muted(),
                ));
                if let Some(id) = &m.message_id {
                    out.push(Line::styled(format!("  Message-ID: {id}"), theme.muted()));
                }
                if let Some(id) = &m.in_reply_to {
                    out.push(Line::styled(format!("  In-Reply-To: {id}"), theme.muted()));
                }
            }
            let body = body_text(m);
            let (own, quoted) = split_quoted(&body);
            for line in own {
                out.push(Line::raw(format!("  {line}")));
            }
            if !quoted.is_empty() {
                if self.show_quoted {
                    for line in quoted {
                        out.push(Line::styled(format!("  {line}"), theme.muted()));
                    }
                } else {
                    out.push(Line::styled(
                        format!("  [… {} quoted lines folded]", quoted.len()),
                        theme.muted().add_modifier(Modifier::ITALIC),
                    ));
                }
            }
            for a in &m.attachments {
                attachment_number += 1;
                out.push(Line::styled(
                    format!(
                        "  📎 {attachment_number} {} ({}, {} bytes)",
                        a.filename, a.mime_type, a.size
                    ),
                    theme.muted(),
                ));
            }
            out.push(Line::raw(""));
        }
        (out, newest)
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, theme: &Theme) {
        let (lines, newest) = self.lines_with_newest(theme);
        let width = area.width.saturating_sub(2).max(1) as usize;
        // Rows after wrapping: the paragraph scrolls by rows, not lines.
        let rows = |lines: &[Line]| -> usize {
            lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum()
        };
        let total = rows(&lines) as u16;
        let max_scroll = total.saturating_sub(area.height.saturating_sub(2));
        if self.to_newest && self.view.is_some() {
            // Opens at the newest message, with one line of what came before.
            self.scroll = rows(&lines[..newest]).saturating_sub(1) as u16;
            self.to_newest = false;
        }
        self.scroll = self.scroll.min(max_scroll);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(" Conversation ", theme.accent()));
        let paragraph = Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((self.scroll, 0));
        f.render_widget(paragraph, area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_tail_is_split_off() {
        let body =
            "Sounds good, Tuesday works.\n\nOn Mon, Mar 2, 2026 Sam wrote:\n> Would Tuesday work?";
        let (own, quoted) = split_quoted(body);
        assert_eq!(own, ["Sounds good, Tuesday works.", ""]);
        assert_eq!(quoted.len(), 2);
    }
}
