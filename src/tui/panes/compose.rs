//! The composer: a text area for a reply or a new email to a lead.
//! For a new email the first line is `Subject: …`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};
use ratatui_textarea::TextArea;

use crate::engine::ReplyRoute;
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub enum ComposeTarget {
    Reply {
        thread_key: String,
        account: String,
        to: String,
        subject: String,
        lead_key: Option<String>,
    },
    NewEmail {
        lead_key: String,
        account: String,
        email: String,
    },
    /// A sequence's email step (or one of its variants), saved in place.
    SequenceStep {
        sequence: String,
        account: String,
        step: usize,
        variant: Option<String>,
    },
}

impl ComposeTarget {
    pub fn account(&self) -> &str {
        match self {
            ComposeTarget::Reply { account, .. }
            | ComposeTarget::NewEmail { account, .. }
            | ComposeTarget::SequenceStep { account, .. } => account,
        }
    }

    pub fn thread_key(&self) -> Option<&str> {
        match self {
            ComposeTarget::Reply { thread_key, .. } => Some(thread_key),
            ComposeTarget::NewEmail { .. } | ComposeTarget::SequenceStep { .. } => None,
        }
    }

    pub fn lead_key(&self) -> Option<&str> {
        match self {
            ComposeTarget::Reply { lead_key, .. } => lead_key.as_deref(),
            ComposeTarget::NewEmail { lead_key, .. } => Some(lead_key),
            ComposeTarget::SequenceStep { .. } => None,
        }
    }
}

pub struct ComposePane {
    pub target: ComposeTarget,
    pub draft_id: String,
    pub textarea: TextArea<'static>,
    /// A reply's routes once loaded, the conversation's default first.
    pub routes: Vec<ReplyRoute>,
    /// Which of `routes` the reply takes.
    pub route: usize,
}

impl ComposePane {
    pub fn new(target: ComposeTarget, draft_id: String, text: &str) -> ComposePane {
        let initial = if text.is_empty() {
            match &target {
                ComposeTarget::NewEmail { .. } => "Subject: \n\nHi {{first_name}},\n\n".to_string(),
                ComposeTarget::Reply { .. } | ComposeTarget::SequenceStep { .. } => String::new(),
            }
        } else {
            text.to_string()
        };
        ComposePane {
            target,
            draft_id,
            textarea: textarea_with(&initial),
            routes: Vec::new(),
            route: 0,
        }
    }

    /// The route the reply takes, once the routes are known.
    pub fn selected_route(&self) -> Option<&ReplyRoute> {
        self.routes.get(self.route)
    }

    /// Takes the conversation's routes, starting from its default.
    pub fn set_routes(&mut self, routes: Vec<ReplyRoute>) {
        self.routes = routes;
        self.route = 0;
    }

    /// Moves to the next route; false when there is no other.
    pub fn next_route(&mut self) -> bool {
        if self.routes.len() < 2 {
            return false;
        }
        self.route = (self.route + 1) % self.routes.len();
        true
    }

    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    pub fn set_text(&mut self, text: &str) {
        self.textarea = textarea_with(text);
    }

    /// For a new email: the subject line and the body after it.
    pub fn subject_and_body(&self) -> (String, String) {
        let text = self.text();
        let mut lines = text.lines();
        match lines.next() {
            Some(first) if first.to_ascii_lowercase().starts_with("subject:") => (
                first["subject:".len()..].trim().to_string(),
                lines
                    .collect::<Vec<_>>()
                    .join("\n")
                    .trim_start_matches('\n')
                    .to_string(),
            ),
            _ => (String::new(), text),
        }
    }

    /// For a sequence step: the subject when a `Subject:` line leads (None
    /// keeps the step's subject as it is) and the body.
    pub fn step_text(&self) -> (Option<String>, String) {
        let text = self.text();
        let has_subject = text
            .lines()
            .next()
            .is_some_and(|first| first.to_ascii_lowercase().starts_with("subject:"));
        let (subject, body) = self.subject_and_body();
        (has_subject.then_some(subject), body)
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, theme: &Theme, hints: &str) {
        let (title, detail) = match &self.target {
            ComposeTarget::Reply { to, subject, .. } => (
                " Reply ",
                format!(
                    "To: {to}   Subject: {}",
                    crate::engine::reply_subject(subject)
                ),
            ),
            ComposeTarget::NewEmail { email, account, .. } => (
                " New email ",
                format!("To: {email}   From account: {account}"),
            ),
            ComposeTarget::SequenceStep {
                sequence,
                step,
                variant,
                ..
            } => (
                " Edit step ",
                format!(
                    "Sequence {sequence} · step {}{}   (an empty subject follows up in the thread)",
                    step + 1,
                    variant
                        .as_ref()
                        .map(|v| format!(" · variant {v}"))
                        .unwrap_or_default()
                ),
            ),
        };
        let mut lines = vec![Line::raw(detail)];
        if matches!(self.target, ComposeTarget::Reply { .. }) {
            let route = match self.selected_route() {
                Some(route) if self.routes.len() > 1 => {
                    format!(
                        "{}   (route {} of {})",
                        route.label(),
                        self.route + 1,
                        self.routes.len()
                    )
                }
                Some(route) => route.label(),
                None => "via …".to_string(),
            };
            lines.push(Line::styled(route, theme.accent()));
        }
        lines.push(Line::styled(hints.to_string(), theme.muted()));
        let header_height = lines.len() as u16 + 1;
        let [head, body] =
            Layout::vertical([Constraint::Length(header_height), Constraint::Fill(1)]).areas(area);
        let header = ratatui::widgets::Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP | Borders::LEFT | Borders::RIGHT)
                .border_style(theme.border())
                .title(Span::styled(title, theme.accent())),
        );
        f.render_widget(header, head);
        self.textarea.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border()),
        );
        self.textarea
            .set_cursor_line_style(ratatui::style::Style::default());
        f.render_widget(&self.textarea, body);
    }
}

/// A text area holding `text`, the cursor at its end. Long lines wrap at
/// words on screen (the text keeps its lines): scrolled sideways, a line's
/// start hid after a resize, since the scroll did not come back when the
/// pane grew.
fn textarea_with(text: &str) -> TextArea<'static> {
    let mut textarea = TextArea::new(text.split('\n').map(str::to_string).collect());
    textarea.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
    textarea.move_cursor(ratatui_textarea::CursorMove::Bottom);
    textarea.move_cursor(ratatui_textarea::CursorMove::End);
    textarea
}
