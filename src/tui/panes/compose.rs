//! The composer: header fields (To for a forward, Cc, Bcc), attachments,
//! a send time, and a text area for a reply, a forward's note or a new email
//! to a lead. For a new email the first line is `Subject: …`. A reply opens
//! with the message it answers quoted below the cursor; a forward shows the
//! original below the note (the engine puts it there when it sends).

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use crate::engine::ReplyRoute;
use crate::model::{Message, OutgoingAttachment};
use crate::triage::RepZone;
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
    /// A conversation passed on to someone new: the rep's note above the
    /// original.
    Forward {
        thread_key: String,
        account: String,
        subject: String,
        lead_key: Option<String>,
    },
}

impl ComposeTarget {
    pub fn account(&self) -> &str {
        match self {
            ComposeTarget::Reply { account, .. }
            | ComposeTarget::NewEmail { account, .. }
            | ComposeTarget::SequenceStep { account, .. }
            | ComposeTarget::Forward { account, .. } => account,
        }
    }

    /// The conversation answered or forwarded.
    pub fn thread_key(&self) -> Option<&str> {
        match self {
            ComposeTarget::Reply { thread_key, .. } | ComposeTarget::Forward { thread_key, .. } => {
                Some(thread_key)
            }
            ComposeTarget::NewEmail { .. } | ComposeTarget::SequenceStep { .. } => None,
        }
    }

    /// The conversation whose kept reply draft this is: drafts are replies
    /// (a forward's note is no reply to restore on `r`).
    pub fn draft_thread_key(&self) -> Option<&str> {
        match self {
            ComposeTarget::Reply { thread_key, .. } => Some(thread_key),
            _ => None,
        }
    }

    pub fn lead_key(&self) -> Option<&str> {
        match self {
            ComposeTarget::Reply { lead_key, .. } | ComposeTarget::Forward { lead_key, .. } => {
                lead_key.as_deref()
            }
            ComposeTarget::NewEmail { lead_key, .. } => Some(lead_key),
            ComposeTarget::SequenceStep { .. } => None,
        }
    }

    /// The header fields the rep can edit: a reply's Cc and Bcc (its To is
    /// the person answered), a forward's To, Cc and Bcc, a new email's
    /// subject.
    pub fn fields(&self) -> &'static [Field] {
        match self {
            ComposeTarget::Reply { .. } => &[Field::Cc, Field::Bcc],
            ComposeTarget::Forward { .. } => &[Field::To, Field::Cc, Field::Bcc],
            ComposeTarget::NewEmail { .. } => &[Field::Subject],
            ComposeTarget::SequenceStep { .. } => &[],
        }
    }

    /// Whether the email can carry Cc, Bcc, attachments and a send time.
    pub fn is_mail_to_thread(&self) -> bool {
        matches!(
            self,
            ComposeTarget::Reply { .. } | ComposeTarget::Forward { .. }
        )
    }
}

/// What the composer holds besides its text, kept with a send in its undo
/// window so an undo puts all of it back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers {
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    pub reply_all: bool,
    pub others: Vec<String>,
    pub attachments: Vec<OutgoingAttachment>,
    pub send_at: Option<DateTime<Utc>>,
    pub forwarded: Vec<String>,
}

/// Where typing goes in the composer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    To,
    Cc,
    Bcc,
    Subject,
    Body,
}

impl Field {
    pub fn label(self) -> &'static str {
        match self {
            Field::To => "To",
            Field::Cc => "Cc",
            Field::Bcc => "Bcc",
            Field::Subject => "Subject",
            Field::Body => "Body",
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
    /// A forward's recipients, and Cc and Bcc, as typed (commas between).
    pub to: String,
    pub cc: String,
    pub bcc: String,
    /// A new email's subject (template variables allowed).
    pub subject: String,
    pub focus: Field,
    /// Also answer everyone else on the message answered.
    pub reply_all: bool,
    /// Those others (the message's To and Cc), once the original is known.
    pub others: Vec<String>,
    pub attachments: Vec<OutgoingAttachment>,
    /// Not sent before this time; None sends after the undo window.
    pub send_at: Option<DateTime<Utc>>,
    /// A forward's original, as it goes below the note: shown, not edited.
    pub forwarded: Vec<String>,
    /// The text the composer opened with (the quote): left as it was, the
    /// composer keeps no draft and a kept draft may replace it.
    pub opened_with: String,
    /// The original was put in (quoted or shown), so it is not put in twice.
    pub has_original: bool,
    /// The message answered or forwarded, once known.
    pub original: Option<Message>,
    /// Esc was pressed once on a forward with a note: the next Esc
    /// discards it.
    pub discard_armed: bool,
}

impl ComposePane {
    pub fn new(target: ComposeTarget, draft_id: String, text: &str) -> ComposePane {
        let initial = if text.is_empty() {
            match &target {
                ComposeTarget::NewEmail { .. } => "Hi {{first_name}},\n\n".to_string(),
                ComposeTarget::Reply { .. }
                | ComposeTarget::SequenceStep { .. }
                | ComposeTarget::Forward { .. } => String::new(),
            }
        } else {
            text.to_string()
        };
        let focus = match &target {
            // A forward goes nowhere until it has a recipient; a new email
            // starts with its subject.
            ComposeTarget::Forward { .. } => Field::To,
            ComposeTarget::NewEmail { .. } => Field::Subject,
            _ => Field::Body,
        };
        ComposePane {
            target,
            draft_id,
            textarea: textarea_with(&initial),
            routes: Vec::new(),
            route: 0,
            to: String::new(),
            cc: String::new(),
            bcc: String::new(),
            subject: String::new(),
            focus,
            reply_all: false,
            others: Vec::new(),
            attachments: Vec::new(),
            send_at: None,
            forwarded: Vec::new(),
            opened_with: initial,
            has_original: false,
            original: None,
            discard_armed: false,
        }
    }

    /// Puts in the message answered or forwarded: a reply quotes it below
    /// the cursor; a forward shows it below the note. Once only, and not
    /// over what the rep already typed (or a restored draft).
    pub fn set_original(&mut self, original: &Message, zone: &RepZone) {
        if self.has_original {
            return;
        }
        self.has_original = true;
        self.others = others_on(original, self.answered(), &self.own_addresses());
        self.original = Some(original.clone());
        match &self.target {
            ComposeTarget::Reply { .. } if self.untouched() => {
                let text = format!("\n\n{}", quoted_reply(original, zone));
                self.textarea = textarea_with(&text);
                self.textarea.move_cursor(ratatui_textarea::CursorMove::Top);
                self.textarea
                    .move_cursor(ratatui_textarea::CursorMove::Head);
                self.opened_with = text;
            }
            ComposeTarget::Forward { .. } => self.forwarded = forwarded_lines(original, zone),
            _ => {}
        }
    }

    pub fn headers(&self) -> Headers {
        Headers {
            to: self.to.clone(),
            cc: self.cc.clone(),
            bcc: self.bcc.clone(),
            subject: self.subject.clone(),
            reply_all: self.reply_all,
            others: self.others.clone(),
            attachments: self.attachments.clone(),
            send_at: self.send_at,
            forwarded: self.forwarded.clone(),
        }
    }

    /// Back as it was when sent (an undo): the original is already in.
    pub fn restore(&mut self, headers: Headers) {
        self.to = headers.to;
        self.cc = headers.cc;
        self.bcc = headers.bcc;
        self.subject = headers.subject;
        self.reply_all = headers.reply_all;
        self.others = headers.others;
        self.attachments = headers.attachments;
        self.send_at = headers.send_at;
        self.forwarded = headers.forwarded;
        self.has_original = true;
        // What comes back was written by the rep: kept as a draft on Esc.
        self.opened_with.clear();
    }

    /// Nothing typed since it opened.
    pub fn untouched(&self) -> bool {
        self.text() == self.opened_with
    }

    /// The text a draft keeps: nothing when the rep typed nothing.
    pub fn typed_text(&self) -> Option<String> {
        let text = self.text();
        (!text.trim().is_empty() && !self.untouched()).then_some(text)
    }

    /// Moves to the next (or previous) header field, or the body.
    pub fn cycle_focus(&mut self, forward: bool) {
        let mut order: Vec<Field> = self.target.fields().to_vec();
        order.push(Field::Body);
        let at = order.iter().position(|f| *f == self.focus).unwrap_or(0);
        let len = order.len();
        let next = if forward {
            (at + 1) % len
        } else {
            (at + len - 1) % len
        };
        self.focus = order[next];
    }

    fn field_mut(&mut self, field: Field) -> Option<&mut String> {
        match field {
            Field::To => Some(&mut self.to),
            Field::Cc => Some(&mut self.cc),
            Field::Bcc => Some(&mut self.bcc),
            Field::Subject => Some(&mut self.subject),
            Field::Body => None,
        }
    }

    /// A key typed in the composer: into the focused header field, or the
    /// body. Enter in a header field moves on, as in a form.
    pub fn input(&mut self, key: KeyEvent) {
        self.discard_armed = false;
        let focus = self.focus;
        let Some(field) = self.field_mut(focus) else {
            self.textarea.input(key);
            return;
        };
        match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => field.push(c),
            KeyCode::Backspace => {
                field.pop();
            }
            KeyCode::Enter => self.cycle_focus(true),
            _ => {}
        }
    }

    /// Inserts text where typing goes (a template variable): the focused
    /// header field, or the body's cursor.
    pub fn insert_at_focus(&mut self, text: &str) {
        let focus = self.focus;
        match self.field_mut(focus) {
            Some(field) => field.push_str(text),
            None => {
                self.textarea.insert_str(text);
            }
        }
    }

    /// Inserts text at the body's cursor (a snippet).
    pub fn insert(&mut self, text: &str) {
        self.focus = Field::Body;
        self.textarea.insert_str(text);
    }

    /// A field's addresses, or what is wrong with one of them.
    pub fn addresses(&self, field: Field) -> Result<Vec<String>, String> {
        let text = match field {
            Field::To => &self.to,
            Field::Cc => &self.cc,
            Field::Bcc => &self.bcc,
            Field::Subject | Field::Body => return Ok(Vec::new()),
        };
        parse_addresses(text).map_err(|bad| {
            format!(
                "{}: {bad:?} is not an email address; fix it ({} moves between fields)",
                field.label(),
                "Tab"
            )
        })
    }

    /// The route the reply takes, once the routes are known.
    pub fn selected_route(&self) -> Option<&ReplyRoute> {
        self.routes.get(self.route)
    }

    /// Takes the conversation's routes, starting from its default.
    pub fn set_routes(&mut self, routes: Vec<ReplyRoute>) {
        self.routes = routes;
        self.route = 0;
        // The rep's own addresses are known now: not among the others.
        if let Some(original) = &self.original {
            self.others = others_on(original, self.answered(), &self.own_addresses());
        }
    }

    /// The person a reply answers.
    fn answered(&self) -> Option<&str> {
        match &self.target {
            ComposeTarget::Reply { to, .. } => Some(to.as_str()),
            _ => None,
        }
    }

    fn own_addresses(&self) -> Vec<String> {
        self.routes
            .iter()
            .filter_map(|r| r.mailbox.clone())
            .collect()
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

    /// A sequence step's leading `Subject:` line and the body after it.
    fn subject_and_body(&self) -> (String, String) {
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

    pub fn render(
        &mut self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        hints: &str,
        zone: &RepZone,
    ) {
        let (title, detail) = match &self.target {
            ComposeTarget::Reply { to, subject, .. } => {
                let everyone = if self.reply_all && !self.others.is_empty() {
                    format!(", {}", self.others.join(", "))
                } else if self.reply_all && self.has_original {
                    "   (no one else is on the message answered)".to_string()
                } else if self.reply_all {
                    " and everyone on the message answered".to_string()
                } else {
                    String::new()
                };
                (
                    if self.reply_all {
                        " Reply all "
                    } else {
                        " Reply "
                    },
                    Some(format!(
                        "To: {to}{everyone}   Subject: {}",
                        crate::engine::reply_subject(subject)
                    )),
                )
            }
            ComposeTarget::Forward { subject, .. } => (
                " Forward ",
                Some(format!(
                    "Subject: {}",
                    crate::engine::forward_subject(subject)
                )),
            ),
            ComposeTarget::NewEmail { email, account, .. } => (
                " New email ",
                Some(format!("To: {email}   From account: {account}")),
            ),
            ComposeTarget::SequenceStep {
                sequence,
                step,
                variant,
                ..
            } => (
                " Edit step ",
                Some(format!(
                    "Sequence {sequence} · step {}{}   (an empty subject follows up in the thread)",
                    step + 1,
                    variant
                        .as_ref()
                        .map(|v| format!(" · variant {v}"))
                        .unwrap_or_default()
                )),
            ),
        };
        let mut lines = Vec::new();
        // A reply's To and subject come first, as in a mail header; a
        // forward's To is a field, its subject after the fields.
        let forward = matches!(self.target, ComposeTarget::Forward { .. });
        let mut detail = detail;
        if !forward && let Some(detail) = detail.take() {
            lines.push(Line::raw(detail));
        }
        for field in self.target.fields() {
            let value = match field {
                Field::To => &self.to,
                Field::Cc => &self.cc,
                Field::Bcc => &self.bcc,
                Field::Subject => &self.subject,
                Field::Body => continue,
            };
            let focused = self.focus == *field;
            let label = format!("{}:", field.label());
            let mut spans = vec![
                Span::styled(
                    if label.len() < 5 {
                        format!("{label:<5}")
                    } else {
                        format!("{label} ")
                    },
                    if focused {
                        theme.accent()
                    } else {
                        theme.muted()
                    },
                ),
                Span::raw(value.clone()),
            ];
            if focused {
                spans.push(Span::styled("▏", theme.accent()));
            }
            if *field != Field::Subject && parse_addresses(value).is_err() {
                spans.push(Span::styled("  ✗ not an address", theme.error()));
            }
            lines.push(Line::from(spans));
        }
        if let Some(detail) = detail {
            lines.push(Line::raw(detail));
        }
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
        if !self.attachments.is_empty() {
            let list: Vec<String> = self
                .attachments
                .iter()
                .map(|a| format!("{} ({})", a.filename, human_size(a.data.len())))
                .collect();
            lines.push(Line::from(vec![
                Span::styled("Attached: ", theme.muted()),
                Span::raw(list.join(" · ")),
            ]));
        }
        if let Some(at) = self.send_at {
            lines.push(Line::from(vec![
                Span::styled("Send at: ", theme.muted()),
                Span::styled(zone.show(at), theme.warn()),
            ]));
        }
        for line in wrap_hints(hints, area.width.saturating_sub(2) as usize) {
            lines.push(Line::styled(line, theme.muted()));
        }
        let header_height = lines.len() as u16 + 1;
        let forwarded_height = if self.forwarded.is_empty() {
            0
        } else {
            (self.forwarded.len() as u16 + 1).min(area.height.saturating_sub(header_height) / 2)
        };
        let [head, body, below] = Layout::vertical([
            Constraint::Length(header_height),
            Constraint::Fill(1),
            Constraint::Length(forwarded_height),
        ])
        .areas(area);
        let header = Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP | Borders::LEFT | Borders::RIGHT)
                .border_style(theme.border())
                .title(Span::styled(title, theme.accent())),
        );
        f.render_widget(header, head);
        let borders = if self.forwarded.is_empty() {
            Borders::ALL
        } else {
            Borders::TOP | Borders::LEFT | Borders::RIGHT
        };
        self.textarea.set_block(
            Block::default()
                .borders(borders)
                .border_style(theme.border()),
        );
        self.textarea
            .set_cursor_line_style(ratatui::style::Style::default());
        // The cursor shows where typing goes: hidden while a header field has it.
        self.textarea
            .set_cursor_style(if self.focus == Field::Body {
                ratatui::style::Style::default().add_modifier(ratatui::style::Modifier::REVERSED)
            } else {
                ratatui::style::Style::default()
            });
        f.render_widget(&self.textarea, body);
        if !self.forwarded.is_empty() {
            let original = Paragraph::new(
                self.forwarded
                    .iter()
                    .map(|l| Line::styled(l.clone(), theme.muted()))
                    .collect::<Vec<_>>(),
            )
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border()),
            );
            f.render_widget(original, below);
        }
    }
}

/// The hints (`key label` pairs two spaces apart) on as many lines as the
/// width needs, never cut inside a pair.
fn wrap_hints(hints: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for pair in hints.split("  ").filter(|p| !p.is_empty()) {
        let needed = if current.is_empty() {
            pair.chars().count()
        } else {
            current.chars().count() + 2 + pair.chars().count()
        };
        if !current.is_empty() && needed > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("  ");
        }
        current.push_str(pair);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// The addresses typed in a header field (commas or semicolons between;
/// `Name <addr>` taken as its address), or the first piece that is no
/// address.
pub fn parse_addresses(text: &str) -> Result<Vec<String>, String> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let address = match (piece.rfind('<'), piece.rfind('>')) {
                (Some(open), Some(close)) if open < close => piece[open + 1..close].trim(),
                _ => piece,
            };
            if crate::model::is_valid_email(address) {
                Ok(address.to_string())
            } else {
                Err(piece.to_string())
            }
        })
        .collect()
}

/// The quoted original a reply opens with: `On <date>, <name> <addr> wrote:`
/// then each line of its text (or its HTML as text, as the thread shows it)
/// after `> `.
pub fn quoted_reply(original: &Message, zone: &RepZone) -> String {
    let body = crate::conversation::readable_text(original);
    let mut out = format!("On {}, {} wrote:", zone.show(original.date), original.from);
    for line in body.trim_end().lines() {
        out.push('\n');
        let line = line.trim_end();
        if line.is_empty() {
            out.push('>');
        } else if line.starts_with('>') {
            // Already quoted: one more level, as mail readers nest it.
            out.push('>');
            out.push_str(line);
        } else {
            out.push_str("> ");
            out.push_str(line);
        }
    }
    out
}

/// A forward's original as it goes below the note.
pub fn forwarded_lines(original: &Message, zone: &RepZone) -> Vec<String> {
    let list = |all: &[crate::model::Address]| {
        all.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![
        "---------- Forwarded message ---------".to_string(),
        format!("From: {}", original.from),
        format!("Date: {}", zone.show(original.date)),
        format!("Subject: {}", original.subject),
        format!("To: {}", list(&original.to)),
    ];
    if !original.cc.is_empty() {
        lines.push(format!("Cc: {}", list(&original.cc)));
    }
    lines.push(String::new());
    lines.extend(
        crate::conversation::readable_text(original)
            .trim_end()
            .lines()
            .map(str::to_string),
    );
    lines
}

/// Who else a reply-all reaches: the message's sender, To and Cc, without
/// the person answered and the rep's own addresses.
fn others_on(original: &Message, answered: Option<&str>, own: &[String]) -> Vec<String> {
    let skip = |email: &str| {
        let email = crate::model::normalize_email(email);
        answered.is_some_and(|a| crate::model::normalize_email(a) == email)
            || own
                .iter()
                .any(|o| crate::model::normalize_email(o) == email)
    };
    let mut others: Vec<String> = Vec::new();
    for address in std::iter::once(&original.from)
        .chain(&original.to)
        .chain(&original.cc)
    {
        let email = address.email.trim();
        if email.is_empty() || skip(email) || others.iter().any(|o| o.eq_ignore_ascii_case(email)) {
            continue;
        }
        others.push(email.to_string());
    }
    // The rep's own address on an inbound message is its To: not someone else.
    if original.direction == crate::model::Direction::Inbound
        && let Some(first) = original.to.first()
    {
        others.retain(|o| !o.eq_ignore_ascii_case(first.email.trim()));
    }
    others
}

/// `12 KB`, `3.4 MB`.
pub fn human_size(bytes: usize) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{} KB", bytes / 1024),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, Direction};

    fn message(from: Address, text: &str, html: Option<&str>) -> Message {
        Message {
            account: "me-gmail".into(),
            provider_id: "m1".into(),
            thread_key: "me-gmail/t1".into(),
            direction: Direction::Inbound,
            message_id: Some("<m1@x>".into()),
            in_reply_to: None,
            references: Vec::new(),
            from,
            to: vec![Address::new("sam@acme.io")],
            cc: vec![Address::new("priya@partner.example")],
            subject: "Re: Pricing".into(),
            date: "2026-03-10T13:40:00Z".parse().unwrap(),
            text_body: text.into(),
            html_body: html.map(str::to_string),
            attachments: Vec::new(),
            read: true,
            labels: Vec::new(),
            smartlead: None,
        }
    }

    fn lee() -> Address {
        Address {
            name: Some("Lee Park".into()),
            email: "lee@contoso.example".into(),
        }
    }

    const UTC: RepZone = RepZone::Named(chrono_tz::UTC);

    #[test]
    fn a_quote_names_the_sender_and_the_time_in_the_reps_zone_and_marks_every_line() {
        let original = message(lee(), "Sounds good.\r\n\r\nLee\n> earlier words\n\n", None);
        assert_eq!(
            quoted_reply(&original, &UTC),
            "On Tue 10 Mar 13:40 UTC, Lee Park <lee@contoso.example> wrote:\n\
             > Sounds good.\n\
             >\n\
             > Lee\n\
             >> earlier words"
        );
        let new_york = RepZone::Named(chrono_tz::America::New_York);
        assert!(
            quoted_reply(&original, &new_york).starts_with("On Tue 10 Mar 09:40 EDT, "),
            "{}",
            quoted_reply(&original, &new_york)
        );
        // No display name: the address alone.
        let bare = message(Address::new("lee@contoso.example"), "Hi", None);
        assert_eq!(
            quoted_reply(&bare, &UTC),
            "On Tue 10 Mar 13:40 UTC, lee@contoso.example wrote:\n> Hi"
        );
    }

    #[test]
    fn an_html_only_message_is_quoted_as_the_thread_shows_it() {
        let original = message(lee(), "", Some("<p>Send the <b>deck</b>.</p>"));
        let quote = quoted_reply(&original, &UTC);
        assert!(quote.ends_with("\n> Send the **deck**."), "{quote}");
        assert!(!quote.contains("<p>"), "{quote}");
    }

    #[test]
    fn a_reply_opens_with_the_cursor_above_the_quote_and_keeps_no_draft_untouched() {
        let target = ComposeTarget::Reply {
            thread_key: "me-gmail/t1".into(),
            account: "me-gmail".into(),
            to: "lee@contoso.example".into(),
            subject: "Pricing".into(),
            lead_key: None,
        };
        let mut pane = ComposePane::new(target, "d1".into(), "");
        pane.set_original(&message(lee(), "Sounds good.", None), &UTC);
        assert!(pane.text().starts_with("\n\nOn Tue 10 Mar"));
        assert_eq!(pane.textarea.cursor(), (0, 0));
        assert_eq!(pane.typed_text(), None, "an untouched reply keeps no draft");
        assert_eq!(pane.others, ["priya@partner.example"]);
        pane.input(KeyEvent::new(KeyCode::Char('Y'), KeyModifiers::NONE));
        assert!(pane.typed_text().unwrap().starts_with("Y\n\nOn "));
        // A second answer (a refresh) never quotes twice.
        pane.set_original(&message(lee(), "Other", None), &UTC);
        assert_eq!(pane.text().matches("wrote:").count(), 1);
    }

    #[test]
    fn header_fields_take_typing_and_tab_cycles_through_them_and_the_body() {
        let target = ComposeTarget::Forward {
            thread_key: "me-gmail/t1".into(),
            account: "me-gmail".into(),
            subject: "Pricing".into(),
            lead_key: None,
        };
        let mut pane = ComposePane::new(target, "d1".into(), "");
        assert_eq!(pane.focus, Field::To);
        for c in "ae@acme.io".chars() {
            pane.input(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        pane.input(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(pane.focus, Field::Cc, "Enter moves on");
        pane.cycle_focus(true);
        pane.cycle_focus(true);
        assert_eq!(pane.focus, Field::Body);
        pane.cycle_focus(true);
        assert_eq!(pane.focus, Field::To, "wraps round");
        pane.cycle_focus(false);
        assert_eq!(pane.focus, Field::Body);
        assert_eq!(pane.to, "ae@acme.io");
        assert_eq!(pane.text(), "", "nothing typed reached the body");
    }

    #[test]
    fn addresses_are_split_on_commas_and_a_bad_one_is_named() {
        assert_eq!(
            parse_addresses(" ae@acme.io, Priya <priya@partner.example>; ").unwrap(),
            ["ae@acme.io", "priya@partner.example"]
        );
        assert_eq!(parse_addresses("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_addresses("ae@acme.io, bob@").unwrap_err(), "bob@");
        assert_eq!(
            parse_addresses("bob smith@x.io").unwrap_err(),
            "bob smith@x.io"
        );
    }

    #[test]
    fn hints_wrap_between_pairs() {
        assert_eq!(
            wrap_hints("C-s send  C-e editor  Tab next field", 20),
            ["C-s send  C-e editor", "Tab next field"]
        );
    }
}
