//! The app's state and what each key does. It holds no engine: reading and
//! writing happen in jobs (see `jobs.rs`), so everything here is instant and
//! the whole app can be driven in tests on a TestBackend.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::action::{Action, Screen};
use super::jobs::Job;
use super::keymap::{KeyChord, Keymap};
use super::panes::compose::{ComposePane, ComposeTarget, Field};
use super::panes::{
    inbox, inbox::InboxPane, lead::LeadPane, leads::LeadsPane, sequences::SequencesPane,
    stats::StatsPane, tasks::TasksPane, thread::ThreadPane,
};
use super::theme::Theme;
use super::widgets::overlays::{
    CampaignChoice, Palette, Picker, PickerPurpose, Prompt, PromptPurpose, WhenFor,
};
use crate::clock::SharedClock;
use crate::config::Notify;
use crate::engine::{BulkTarget, ForwardDraft, LeadColumn, ReplyDraft};
use crate::model::{BulkOp, Draft, EventType, OutboxState, SequenceStatus};
use crate::store::SyncProgress;

/// Something only the terminal loop can do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Ring the bell or send an OSC 9 notification with this text.
    Notify(String),
    /// Suspend, run `$EDITOR` on this text, and hand the result to `editor_done`.
    Editor(String),
    /// Clear the terminal and paint every cell of the next frame.
    Redraw,
}

#[derive(Debug)]
pub enum Overlay {
    None,
    Help { scroll: u16 },
    Palette(Palette),
    Picker(Picker),
    Prompt(Prompt),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastLevel {
    Info,
    Error,
}

/// How long a message stays on the message line: long enough to read, short
/// enough that it is not taken for news on the next screen. An error also
/// goes at the next key (the rep has seen it).
pub const INFO_SHOWN_FOR: chrono::Duration = chrono::Duration::seconds(4);
pub const ERROR_SHOWN_FOR: chrono::Duration = chrono::Duration::seconds(10);

/// A send in its undo window (or on its way).
#[derive(Debug, Clone)]
pub struct PendingSend {
    pub id: String,
    pub to: String,
    pub not_before: DateTime<Utc>,
    pub state: OutboxState,
    /// Why a send still `sending` is not settled yet (the provider did not
    /// confirm it and outpost is checking), shown in the bar.
    pub detail: Option<String>,
    /// What was sent, so an undo can put it back in the composer.
    pub target: ComposeTarget,
    pub text: String,
    pub headers: super::panes::compose::Headers,
    pub draft_id: String,
}

/// Where the last frame drew clickable things.
#[derive(Debug, Default, Clone)]
pub struct HitMap {
    pub tabs: Vec<(Rect, Screen)>,
    /// The current list's rows and the index of its first visible row.
    pub list: Option<(Rect, usize)>,
}

pub struct App {
    pub keymap: Keymap,
    pub theme: Theme,
    pub clock: SharedClock,
    pub undo_send_secs: u64,
    pub notify: Notify,
    /// The tab (Inbox, Leads, Stats, Sequences) and the views opened on top.
    pub tab: Screen,
    pub stack: Vec<Screen>,
    pub inbox: InboxPane,
    pub thread: ThreadPane,
    pub compose: Option<ComposePane>,
    pub leads: LeadsPane,
    pub lead: LeadPane,
    pub stats: StatsPane,
    pub sequences: SequencesPane,
    pub tasks: TasksPane,
    pub overlay: Overlay,
    /// The `/` line while the rep types a search or filter.
    pub search: Option<String>,
    /// The `t` line while the rep types tag changes.
    pub tag_prompt: Option<TagPrompt>,
    /// Tags in use, for the tag prompt's Tab completion.
    pub known_tags: Vec<String>,
    pub toast: Option<(String, ToastLevel)>,
    /// When the message was set, to let it expire (by the injected clock).
    pub toast_at: DateTime<Utc>,
    pub sync: BTreeMap<String, SyncProgress>,
    /// Set when the data is a daemon's (`--remote` or auto-attach).
    pub attached: Option<super::feed::Attachment>,
    pub pending_send: Option<PendingSend>,
    /// (sequence, lead) the enrollment guard just refused: picking the same
    /// again enrolls anyway.
    pub enroll_refused: Option<(String, String)>,
    pub variables: Vec<(String, Option<String>)>,
    pub jobs: Vec<Job>,
    pub effects: Vec<Effect>,
    pub dirty: bool,
    pub quit: bool,
    /// `q` was pressed once while a send waited out its undo window; the
    /// next `q` sends it now and quits.
    pub quit_armed: bool,
    /// The send is being tried before quitting; its answer ends the run.
    pub quitting_after_send: bool,
    /// Printed once the terminal is restored: what the rep leaves behind.
    pub farewell: Vec<String>,
    pub tick: usize,
    pub hits: HitMap,
    /// The rep's time zone, for the snooze picker's times.
    pub zone: crate::triage::RepZone,
    /// `<config dir>/snippets`, where the composer's canned replies are.
    pub snippets_dir: Option<std::path::PathBuf>,
    /// The lead the composer writes to, when cached: snippets are filled
    /// from it.
    pub compose_lead: Option<crate::model::Lead>,
    /// The last bulk change this TUI made, for `u`.
    pub last_bulk: Option<String>,
    /// Where attachments are saved.
    pub downloads: std::path::PathBuf,
}

impl App {
    pub fn new(
        keymap: Keymap,
        theme: Theme,
        clock: SharedClock,
        undo_send_secs: u64,
        notify: Notify,
    ) -> App {
        let mut app = App {
            keymap,
            theme,
            clock,
            undo_send_secs,
            notify,
            tab: Screen::Inbox,
            stack: Vec::new(),
            inbox: InboxPane::default(),
            thread: ThreadPane::default(),
            compose: None,
            leads: LeadsPane::default(),
            lead: LeadPane::default(),
            stats: StatsPane::default(),
            sequences: SequencesPane::default(),
            tasks: TasksPane::default(),
            overlay: Overlay::None,
            search: None,
            tag_prompt: None,
            known_tags: Vec::new(),
            toast: None,
            toast_at: DateTime::<Utc>::MIN_UTC,
            sync: BTreeMap::new(),
            attached: None,
            pending_send: None,
            enroll_refused: None,
            variables: Vec::new(),
            jobs: Vec::new(),
            effects: Vec::new(),
            dirty: true,
            quit: false,
            quit_armed: false,
            quitting_after_send: false,
            farewell: Vec::new(),
            tick: 0,
            hits: HitMap::default(),
            zone: crate::triage::RepZone::System,
            snippets_dir: None,
            compose_lead: None,
            last_bulk: None,
            downloads: super::files::downloads_dir(),
        };
        app.jobs.push(Job::Accounts);
        app.request_inbox(true);
        app.leads.loading = true;
        app.jobs.push(Job::LeadIndex);
        app
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The screen keys go to: the top of the stack, else the tab.
    pub fn screen(&self) -> Screen {
        self.stack.last().copied().unwrap_or(self.tab)
    }

    pub fn take_jobs(&mut self) -> Vec<Job> {
        std::mem::take(&mut self.jobs)
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.set_toast(text.into(), ToastLevel::Info);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.set_toast(text.into(), ToastLevel::Error);
    }

    fn set_toast(&mut self, text: String, level: ToastLevel) {
        self.toast = Some((text, level));
        self.toast_at = self.now();
    }

    /// The message to show now: none once it has been up its time.
    pub fn current_toast(&self) -> Option<(&str, ToastLevel)> {
        let (text, level) = self.toast.as_ref()?;
        let shown_for = match level {
            ToastLevel::Info => INFO_SHOWN_FOR,
            ToastLevel::Error => ERROR_SHOWN_FOR,
        };
        (self.now() < self.toast_at + shown_for).then_some((text.as_str(), *level))
    }

    // ------------------------------------------------------------ requests

    /// Asks for the inbox again; coalesced while one is in flight.
    pub fn request_inbox(&mut self, from_start: bool) {
        if self.inbox.inflight {
            self.inbox.again = true;
            return;
        }
        self.inbox.inflight = true;
        self.inbox.generation += 1;
        let mut query = self.inbox.query.clone();
        if from_start {
            // Reload at least what is shown so the selection survives.
            query.offset = 0;
            query.limit = Some(self.inbox.rows.len().max(inbox::PAGE));
        } else {
            query.offset = self.inbox.rows.len();
            query.limit = Some(inbox::PAGE);
        }
        self.jobs.push(Job::Inbox {
            generation: self.inbox.generation,
            query,
        });
        if from_start {
            // Asked with the rows, so the title is exact as soon as they show.
            self.request_inbox_counts();
        }
    }

    /// Asks for exact inbox counts; coalesced while one count is in flight.
    pub fn request_inbox_counts(&mut self) {
        if self.inbox.counts_inflight {
            self.inbox.counts_again = true;
            return;
        }
        self.inbox.counts_inflight = true;
        self.jobs.push(Job::InboxCounts {
            generation: self.inbox.counts_generation,
            query: self.inbox.query.clone(),
        });
    }

    pub fn request_stats(&mut self) {
        if self.stats.inflight {
            self.stats.stale = true;
        } else {
            self.stats.inflight = true;
            self.stats.stale = false;
            self.jobs.push(Job::Stats);
        }
    }

    pub fn request_sequences(&mut self) {
        if self.sequences.inflight {
            self.sequences.stale = true;
            return;
        }
        self.sequences.inflight = true;
        self.sequences.stale = false;
        self.jobs.push(Job::Sequences);
        if let Some(detail) = &self.sequences.detail {
            self.jobs.push(Job::SequenceDetail {
                name: detail.summary.sequence.name.clone(),
            });
        }
    }

    pub fn request_tasks(&mut self) {
        if self.tasks.inflight {
            self.tasks.stale = true;
        } else {
            self.tasks.inflight = true;
            self.tasks.stale = false;
            self.jobs.push(Job::Tasks);
        }
    }

    /// Done or skipped: the task leaves the list once the store says so.
    fn close_task(&mut self, outcome: crate::model::TaskOutcome) {
        if let Some(task) = self.tasks.selected() {
            self.jobs.push(Job::CloseTask {
                id: task.id.clone(),
                outcome,
            });
        }
    }

    pub fn request_lead(&mut self) {
        if self.lead.inflight {
            self.lead.again = true;
        } else if !self.lead.email.is_empty() {
            self.lead.inflight = true;
            self.jobs.push(Job::Lead {
                email: self.lead.email.clone(),
            });
        }
    }

    pub fn request_lead_rows(&mut self) {
        let nothing = self.leads.pending.is_empty() && self.leads.tagged.is_empty();
        if self.leads.rows_inflight || nothing || self.leads.index.is_none() {
            return;
        }
        self.leads.rows_inflight = true;
        let keys = std::mem::take(&mut self.leads.pending)
            .into_iter()
            .collect();
        let tag_emails = std::mem::take(&mut self.leads.tagged).into_iter().collect();
        self.jobs.push(Job::LeadRows { keys, tag_emails });
    }

    // ------------------------------------------------------------ input

    pub fn handle_key(&mut self, key: KeyEvent) {
        self.dirty = true;
        // The rep has seen the error; what this key does may say something new.
        if matches!(self.toast, Some((_, ToastLevel::Error))) {
            self.toast = None;
        }
        let chord = KeyChord::from_event(&key);
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::Help { scroll } => {
                // As in less: Esc, q (or ? again) close; the movement keys
                // scroll; anything else is ignored rather than closing help
                // and being lost.
                let page = 10;
                match self
                    .keymap
                    .lookup(self.stack.last().copied().unwrap_or(self.tab), chord)
                {
                    _ if key.code == KeyCode::Esc => self.overlay = Overlay::None,
                    Some(Action::Quit | Action::Help) => self.overlay = Overlay::None,
                    Some(Action::Down) => *scroll = scroll.saturating_add(1),
                    Some(Action::Up) => *scroll = scroll.saturating_sub(1),
                    Some(Action::PageDown) => *scroll = scroll.saturating_add(page),
                    Some(Action::PageUp) => *scroll = scroll.saturating_sub(page),
                    Some(Action::Top) => *scroll = 0,
                    _ if key.code == KeyCode::Char(' ') => *scroll = scroll.saturating_add(page),
                    _ => {}
                }
                return;
            }
            Overlay::Palette(_) => return self.palette_key(key),
            Overlay::Picker(_) => return self.picker_key(key),
            Overlay::Prompt(_) => return self.prompt_key(key),
        }
        if self.search.is_some() {
            return self.search_key(key);
        }
        if self.tag_prompt.is_some() {
            return self.tag_key(key);
        }
        let screen = self.screen();
        if screen == Screen::Compose {
            match self.keymap.lookup(screen, chord) {
                Some(action) => self.perform(action),
                None if chord.ctrl && chord.code == KeyCode::Char('c') => self.quit_or_confirm(),
                None => {
                    if let Some(compose) = &mut self.compose {
                        compose.input(key);
                    }
                }
            }
            return;
        }
        if let Some(action) = self.keymap.lookup(screen, chord) {
            self.perform(action);
        }
    }

    pub fn handle_mouse(&mut self, mouse: MouseEvent) {
        match mouse.kind {
            MouseEventKind::ScrollDown => {
                for _ in 0..3 {
                    self.perform(Action::Down);
                }
            }
            MouseEventKind::ScrollUp => {
                for _ in 0..3 {
                    self.perform(Action::Up);
                }
            }
            MouseEventKind::Down(MouseButton::Left) => {
                let at = (mouse.column, mouse.row);
                let inside = |r: &Rect| {
                    at.0 >= r.x && at.0 < r.x + r.width && at.1 >= r.y && at.1 < r.y + r.height
                };
                if let Some((_, screen)) = self.hits.tabs.iter().find(|(r, _)| inside(r)).copied() {
                    self.switch_tab(screen);
                } else if let Some((area, offset)) = self.hits.list
                    && inside(&area)
                {
                    let row = offset + (at.1 - area.y) as usize;
                    self.select(row);
                }
            }
            _ => return,
        }
        self.dirty = true;
    }

    fn select(&mut self, row: usize) {
        match self.screen() {
            Screen::Inbox => {
                self.inbox.cursor.selected = row.min(self.inbox.rows.len().saturating_sub(1));
                self.inbox.rep_moved = true;
            }
            Screen::Leads => {
                self.leads.cursor.selected = row.min(self.leads.ids.len().saturating_sub(1))
            }
            Screen::Stats => {
                self.stats.cursor.selected = row.min(self.stats.order.len().saturating_sub(1))
            }
            Screen::Sequences => {
                self.sequences.cursor.selected =
                    row.min(self.sequences.list.len().saturating_sub(1))
            }
            Screen::Tasks => {
                self.tasks.cursor.selected = row.min(self.tasks.tasks.len().saturating_sub(1))
            }
            Screen::Sequence => {
                let len = self
                    .sequences
                    .detail
                    .as_ref()
                    .map_or(0, |d| d.enrollments.len());
                self.sequences.detail_cursor.selected = row.min(len.saturating_sub(1));
            }
            _ => {}
        }
    }

    /// `t`: the tag line for the selected conversation or lead.
    fn open_tag_prompt(&mut self) {
        // A selection is tagged as one bulk change.
        let selected = match self.screen() {
            Screen::Inbox => self
                .bulk_target()
                .map(|target| (target, self.inbox.selection_count())),
            Screen::Leads if !self.leads.picked.is_empty() => Some((
                BulkTarget::Keys {
                    keys: self.leads.picked.iter().cloned().collect(),
                },
                self.leads.picked.len(),
            )),
            _ => None,
        };
        if let Some((target, count)) = selected {
            self.jobs.push(Job::Tags);
            self.tag_prompt = Some(TagPrompt {
                key: String::new(),
                bulk: Some(target),
                name: format!("{count} selected"),
                text: String::new(),
            });
            return;
        }
        let target = match self.screen() {
            Screen::Inbox | Screen::Thread => self
                .current_thread()
                .map(|t| (t.key(), t.person().to_string())),
            Screen::Leads | Screen::Lead => self.lead_email().map(|e| (e.clone(), e)),
            _ => None,
        };
        let Some((key, name)) = target else {
            self.error("Select a conversation or a lead first");
            return;
        };
        self.jobs.push(Job::Tags);
        self.tag_prompt = Some(TagPrompt {
            key,
            bulk: None,
            name,
            text: String::new(),
        });
    }

    fn tag_key(&mut self, key: KeyEvent) {
        let Some(prompt) = &mut self.tag_prompt else {
            return;
        };
        match key.code {
            KeyCode::Esc => self.tag_prompt = None,
            KeyCode::Backspace => {
                prompt.text.pop();
            }
            KeyCode::Tab => prompt.complete(&self.known_tags),
            KeyCode::Enter => {
                let Some(prompt) = self.tag_prompt.take() else {
                    return;
                };
                let words: Vec<String> =
                    prompt.text.split_whitespace().map(str::to_string).collect();
                match crate::engine::parse_tag_changes(&words) {
                    Ok((add, remove)) if prompt.bulk.is_some() => {
                        let target = prompt.bulk.expect("checked");
                        let operation = BulkOp::Tag { add, remove };
                        if self.screen() == Screen::Leads {
                            self.run_leads_bulk(operation);
                        } else {
                            self.run_bulk(operation, target);
                        }
                    }
                    Ok((add, remove)) => self.jobs.push(Job::Tag {
                        key: prompt.key,
                        add,
                        remove,
                        name: prompt.name,
                    }),
                    Err(e) => {
                        self.error(e);
                        // Kept open to fix the typo.
                        self.tag_prompt = Some(prompt);
                    }
                }
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                prompt.text.push(c)
            }
            _ => {}
        }
    }

    fn search_key(&mut self, key: KeyEvent) {
        let Some(text) = &mut self.search else { return };
        match key.code {
            KeyCode::Esc => {
                self.search = None;
                self.apply_search(String::new());
            }
            KeyCode::Enter => self.search = None,
            KeyCode::Backspace => {
                text.pop();
                let text = text.clone();
                self.apply_search(text);
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                text.push(c);
                let text = text.clone();
                self.apply_search(text);
            }
            _ => {}
        }
    }

    /// Filters as the rep types: the leads table in memory, the inbox by query.
    fn apply_search(&mut self, text: String) {
        match self.screen() {
            Screen::Leads => self.leads.set_filter_text(&text),
            _ => {
                let search = Some(text).filter(|t| !t.trim().is_empty());
                if self.inbox.query.search != search {
                    self.inbox.query.search = search;
                    self.reload_inbox_filtered();
                }
            }
        }
    }

    fn reload_inbox_filtered(&mut self) {
        // What was picked was picked among other rows.
        self.inbox.clear_selection();
        self.inbox.rows.clear();
        self.inbox.cursor = Default::default();
        self.inbox.rep_moved = false;
        self.inbox.exhausted = false;
        self.inbox.loaded = false;
        // A newer query supersedes the one in flight; counts for the old
        // filters are no answer for the new ones.
        self.inbox.inflight = false;
        self.inbox.counts = None;
        self.inbox.counts_generation += 1;
        self.inbox.counts_inflight = false;
        self.inbox.counts_again = false;
        self.request_inbox(true);
    }

    fn palette_key(&mut self, key: KeyEvent) {
        let screen = self.screen();
        let Overlay::Palette(palette) = &mut self.overlay else {
            return;
        };
        match key.code {
            KeyCode::Esc => self.overlay = Overlay::None,
            KeyCode::Down | KeyCode::Tab => {
                let len = palette.matches(screen).len();
                palette.cursor.down(len, 1);
            }
            KeyCode::Up | KeyCode::BackTab => palette.cursor.up(1),
            KeyCode::Backspace => {
                palette.input.pop();
                palette.cursor = Default::default();
            }
            KeyCode::Enter => {
                let chosen = palette
                    .matches(screen)
                    .get(palette.cursor.selected)
                    .copied();
                self.overlay = Overlay::None;
                if let Some(action) = chosen {
                    self.perform(action);
                }
            }
            KeyCode::Char(c) => {
                palette.input.push(c);
                palette.cursor = Default::default();
            }
            _ => {}
        }
    }

    fn picker_key(&mut self, key: KeyEvent) {
        let Overlay::Picker(picker) = &mut self.overlay else {
            return;
        };
        let typeahead = picker.typeahead();
        match key.code {
            KeyCode::Esc => self.overlay = Overlay::None,
            KeyCode::Char('q') if !typeahead => self.overlay = Overlay::None,
            KeyCode::Down => picker.cursor.down(picker.shown().len(), 1),
            KeyCode::Char('j') if !typeahead => picker.cursor.down(picker.shown().len(), 1),
            KeyCode::Up => picker.cursor.up(1),
            KeyCode::Char('k') if !typeahead => picker.cursor.up(1),
            KeyCode::Backspace if typeahead => {
                picker.query.pop();
                picker.cursor = Default::default();
            }
            KeyCode::Char(c) if typeahead && !key.modifiers.contains(KeyModifiers::CONTROL) => {
                picker.query.push(c);
                picker.cursor = Default::default();
            }
            KeyCode::Enter => {
                let chosen = picker.chosen();
                let Overlay::Picker(picker) = std::mem::replace(&mut self.overlay, Overlay::None)
                else {
                    return;
                };
                if let Some(chosen) = chosen {
                    self.picked(picker, chosen);
                }
            }
            _ => {}
        }
    }

    fn prompt_key(&mut self, key: KeyEvent) {
        let now = self.now();
        let zone = self.zone;
        let Overlay::Prompt(prompt) = &mut self.overlay else {
            return;
        };
        match key.code {
            KeyCode::Esc => self.overlay = Overlay::None,
            KeyCode::Backspace => {
                prompt.input.pop();
                prompt.error = None;
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                prompt.input.push(c);
                prompt.error = None;
            }
            // Completed by a job: listing a folder is disk work.
            KeyCode::Tab if prompt.purpose == PromptPurpose::AttachPath => {
                self.jobs.push(Job::CompletePath {
                    typed: prompt.input.clone(),
                });
            }
            KeyCode::Enter => {
                let input = prompt.input.trim().to_string();
                match prompt.purpose.clone() {
                    PromptPurpose::When(purpose) => match zone.parse(&input, now) {
                        Ok(at) => {
                            self.overlay = Overlay::None;
                            self.when_chosen(purpose, at);
                        }
                        // Stays open with the reason, to fix the text.
                        Err(e) => prompt.error = Some(e),
                    },
                    PromptPurpose::AttachPath if input.is_empty() => {
                        prompt.error = Some("type the path of a file".into());
                    }
                    PromptPurpose::AttachPath => {
                        self.overlay = Overlay::None;
                        if let Some(draft_id) = self.compose.as_ref().map(|c| c.draft_id.clone()) {
                            self.info(format!("Attaching {input}…"));
                            self.jobs.push(Job::ReadAttachment {
                                draft_id,
                                path: input,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// A time picked (or typed) for a snooze or the composer's send.
    fn when_chosen(&mut self, purpose: WhenFor, at: DateTime<Utc>) {
        match purpose {
            WhenFor::Snooze { thread_key, name } => {
                self.hide_row(&thread_key);
                self.jobs.push(Job::Snooze {
                    key: thread_key,
                    until: Some(at),
                    label: format!("Snoozed {name} until {}", self.zone.show(at)),
                });
            }
            WhenFor::BulkSnooze => {
                if let Some(target) = self.bulk_target() {
                    self.run_bulk(BulkOp::Snooze { until: at }, target);
                }
            }
            WhenFor::SendLater => {
                if let Some(compose) = &mut self.compose {
                    compose.send_at = Some(at);
                    let send = self.keymap.label(Action::Send);
                    self.info(format!(
                        "Goes out {} once you send it ({send})",
                        self.zone.show(at)
                    ));
                }
            }
        }
    }

    /// A snippet at the composer's cursor, filled from the lead when it is
    /// cached (else its variables stay, and the send fills them).
    fn insert_snippet(&mut self, snippet: crate::snippets::Snippet) {
        let text = match self.fill_snippet(&snippet) {
            Ok(text) => text,
            Err(e) => {
                self.error(format!("Snippet {} not inserted: {e}", snippet.name));
                return;
            }
        };
        if let Some(compose) = &mut self.compose {
            compose.insert(&text);
            self.info(format!("Inserted snippet {}", snippet.name));
        }
    }

    /// A snippet's text as it would go in: filled by the engine's template
    /// renderer from the composer's lead when cached, else as written.
    pub(super) fn fill_snippet(
        &self,
        snippet: &crate::snippets::Snippet,
    ) -> Result<String, crate::engine::CommandError> {
        match &self.compose_lead {
            Some(lead) => crate::engine::render_template(&snippet.text, lead),
            None => Ok(snippet.text.clone()),
        }
    }

    fn picked(&mut self, picker: Picker, at: usize) {
        match picker.purpose {
            PickerPurpose::Category {
                thread_key,
                categories,
            } => {
                if let Some(category) = categories.get(at).cloned() {
                    self.info(format!("Setting category {}…", category.name));
                    self.jobs.push(Job::SetCategory {
                        thread_key,
                        category,
                    });
                }
            }
            PickerPurpose::When { purpose, times } => match times.get(at).copied() {
                Some(at) => self.when_chosen(purpose, at),
                // The last item: type a date.
                None => {
                    let title = match &purpose {
                        WhenFor::Snooze { .. } | WhenFor::BulkSnooze => "Snooze until",
                        WhenFor::SendLater => "Send at",
                    };
                    self.overlay = Overlay::Prompt(Prompt {
                        title: title.into(),
                        input: String::new(),
                        hint: "e.g. tomorrow 14:00, fri 8:30, 2026-03-20 09:00, 3h, 2d".into(),
                        error: None,
                        purpose: PromptPurpose::When(purpose),
                    });
                }
            },
            PickerPurpose::Snippet { snippets, .. } => {
                if let Some(snippet) = snippets.into_iter().nth(at) {
                    self.insert_snippet(snippet);
                }
            }
            PickerPurpose::RemoveAttachment => {
                if let Some(compose) = &mut self.compose
                    && at < compose.attachments.len()
                {
                    let removed = compose.attachments.remove(at);
                    self.info(format!("Removed {}", removed.filename));
                }
            }
            PickerPurpose::Attachment { key, choices } => {
                if let Some(&(number, open)) = choices.get(at) {
                    self.info(if open { "Opening…" } else { "Saving…" });
                    self.jobs.push(Job::Attachment {
                        key,
                        number,
                        open,
                        to: self.downloads.clone(),
                    });
                }
            }
            PickerPurpose::BulkEnroll { sequences } => {
                if let Some(sequence) = sequences.get(at).cloned() {
                    self.run_leads_bulk(BulkOp::Enroll { sequence });
                }
            }
            PickerPurpose::BulkCategory { categories } => {
                if let (Some(category), Some(target)) = (categories.get(at), self.bulk_target()) {
                    let name = category.name.clone();
                    self.run_bulk(BulkOp::Category { name }, target);
                }
            }
            PickerPurpose::Enroll { email } => {
                if let Some(sequence) = picker.items.get(at).cloned() {
                    // The same choice right after a refusal means "anyway".
                    let refused = self.enroll_refused.take();
                    let force = refused.is_some_and(|r| r == (sequence.clone(), email.clone()));
                    self.jobs.push(Job::Enroll {
                        sequence,
                        email,
                        force,
                    });
                }
            }
            PickerPurpose::EditStep {
                sequence,
                account,
                steps,
            } => {
                if let Some(chosen) = steps.into_iter().nth(at) {
                    self.edit_step_text(sequence, account, chosen);
                }
            }
            PickerPurpose::FilterCampaign { values } => {
                if let Some(choice) = values.into_iter().nth(at) {
                    self.filter_by_campaign(choice);
                }
            }
            PickerPurpose::Assign {
                thread_key,
                name,
                values,
            } => {
                if let Some(to) = values.into_iter().nth(at) {
                    self.jobs.push(Job::Assign {
                        key: thread_key,
                        to,
                        name,
                    });
                }
            }
            PickerPurpose::FilterCategory { values } => {
                if let Some(category) = values.into_iter().nth(at) {
                    self.inbox.query.category = category;
                    self.reload_inbox_filtered();
                }
            }
            PickerPurpose::Variable => {
                if let (Some((name, _)), Some(compose)) =
                    (self.variables.get(at), &mut self.compose)
                {
                    compose.insert_at_focus(&format!("{{{{{name}}}}}"));
                }
            }
        }
    }

    // ------------------------------------------------------------ actions

    pub fn perform(&mut self, action: Action) {
        self.dirty = true;
        let screen = self.screen();
        if action != Action::Quit {
            self.quit_armed = false;
        }
        if action != Action::KeepDraft
            && let Some(compose) = &mut self.compose
        {
            compose.discard_armed = false;
        }
        match action {
            Action::Quit => self.quit_or_confirm(),
            Action::Help => self.overlay = Overlay::Help { scroll: 0 },
            Action::Palette => self.overlay = Overlay::Palette(Palette::default()),
            Action::GoInbox => self.switch_tab(Screen::Inbox),
            Action::GoLeads => self.switch_tab(Screen::Leads),
            Action::GoStats => self.switch_tab(Screen::Stats),
            Action::GoSequences => self.switch_tab(Screen::Sequences),
            Action::GoTasks => self.switch_tab(Screen::Tasks),
            Action::TaskDone => self.close_task(crate::model::TaskOutcome::Done),
            Action::TaskSkip => self.close_task(crate::model::TaskOutcome::Skipped),
            Action::ToggleSelect => match screen {
                Screen::Leads => self.toggle_picked_lead(),
                _ => self.inbox.toggle_selected_row(),
            },
            Action::SelectRange => self.inbox.toggle_range(),
            Action::SelectAll => {
                self.inbox.select_all_matching();
                self.info(format!(
                    "Selected all {} matching conversations",
                    self.inbox.selection_count()
                ));
            }
            Action::ClearSelection => match screen {
                Screen::Leads => self.leads.picked.clear(),
                _ => self.inbox.clear_selection(),
            },
            Action::MarkRead => self.mark_read(),
            Action::Attachments => self.pick_attachment(),
            Action::Down
            | Action::Up
            | Action::Top
            | Action::Bottom
            | Action::PageDown
            | Action::PageUp => self.move_selection(action),
            Action::Open => self.open(),
            Action::Back => {
                self.stack.pop();
            }
            Action::Search => {
                let current = match screen {
                    Screen::Leads => self.leads.filter_text.clone(),
                    _ => self.inbox.query.search.clone().unwrap_or_default(),
                };
                self.search = Some(current);
            }
            Action::Reply => self.reply(false),
            Action::ReplyAll => self.reply(true),
            Action::Forward => self.forward(),
            Action::NextField | Action::PreviousField => {
                if let Some(compose) = &mut self.compose {
                    compose.cycle_focus(action == Action::NextField);
                }
            }
            Action::SendLater => self.pick_send_time(),
            Action::Attach => self.prompt_attachment(),
            Action::RemoveAttachment => self.pick_attachment_to_remove(),
            Action::InsertSnippet => match &self.snippets_dir {
                Some(dir) => self.jobs.push(Job::Snippets { dir: dir.clone() }),
                None => self.error("No config folder known, so no snippets folder"),
            },
            Action::Tag => self.open_tag_prompt(),
            Action::Assign => match self.current_thread() {
                Some(t) => self.jobs.push(Job::Assignees {
                    thread_key: t.key(),
                    name: t.person().to_string(),
                }),
                None => self.error("Open or select a conversation first"),
            },
            Action::SetCategory => self.pick_category(),
            Action::UndoSend => self.undo_send(),
            Action::MarkUnread => self.mark_unread(),
            Action::Archive => self.archive(),
            Action::NextConversation => self.step_conversation(true, false),
            Action::PreviousConversation => self.step_conversation(false, false),
            Action::NextUnread => self.step_conversation(true, true),
            Action::Snooze => self.pick_snooze(),
            Action::ToggleUnread => {
                self.inbox.query.unread_only = !self.inbox.query.unread_only;
                self.reload_inbox_filtered();
            }
            Action::CycleAccount => {
                let accounts: Vec<String> = self.sync.keys().cloned().collect();
                self.inbox.query.account = cycle(&accounts, self.inbox.query.account.as_ref());
                self.reload_inbox_filtered();
            }
            Action::CycleCategory => self.pick_category_filter(),
            Action::CycleCampaign => self.pick_campaign_filter(screen),
            Action::ClearFilters => match screen {
                Screen::Leads => self.leads.set_filter_text(""),
                _ => {
                    self.inbox.query = Default::default();
                    self.reload_inbox_filtered();
                }
            },
            Action::ToggleHeaders => self.thread.show_headers = !self.thread.show_headers,
            Action::ToggleQuoted => self.thread.show_quoted = !self.thread.show_quoted,
            Action::SortNext => match screen {
                Screen::Stats => {
                    self.stats.sort = (self.stats.sort + 1) % super::panes::stats::SORTS.len();
                    // Names read A→Z; figures read best first.
                    self.stats.descending = self.stats.sort != 0;
                    self.stats.resort();
                }
                _ => {
                    self.leads.order.column = self.leads.order.column.next();
                    self.leads.order.descending = self.leads.order.column == LeadColumn::Timestamp;
                    self.leads.refilter();
                }
            },
            Action::SortReverse => match screen {
                Screen::Stats => {
                    self.stats.descending = !self.stats.descending;
                    self.stats.resort();
                }
                _ => {
                    self.leads.order.descending = !self.leads.order.descending;
                    self.leads.refilter();
                }
            },
            Action::CycleEvent => {
                let kinds: Vec<String> = [
                    EventType::EmailSent,
                    EventType::EmailOpened,
                    EventType::EmailClicked,
                    EventType::EmailReplied,
                    EventType::EmailBounced,
                    EventType::EmailUnsubscribed,
                ]
                .iter()
                .map(|k| k.as_str().to_string())
                .collect();
                let current = self
                    .leads
                    .filter
                    .event
                    .map(|e| e.base().as_str().to_string());
                let next = cycle(&kinds, current.as_ref());
                let text = replace_token(&self.leads.filter_text, "event:", next.as_deref());
                self.leads.set_filter_text(&text);
            }
            Action::ComposeNew => self.compose_new(),
            Action::Enroll | Action::EnrollSelected => {
                if let Some(email) = self.lead_email() {
                    let for_selection = screen == Screen::Leads && !self.leads.picked.is_empty();
                    self.jobs.push(Job::SequenceNames {
                        email,
                        for_selection,
                    });
                }
            }
            Action::PauseSelected if !self.leads.picked.is_empty() => {
                self.run_leads_bulk(BulkOp::Pause);
            }
            Action::PauseLead | Action::PauseSelected => {
                if let Some(email) = self.lead_email() {
                    self.jobs.push(Job::PauseLead { email });
                }
            }
            Action::ResumeLead => {
                if let Some(email) = self.lead_email() {
                    self.jobs.push(Job::ResumeLead { email });
                }
            }
            Action::Suppress => {
                if let (Some(email), Some(account)) = (self.lead_email(), self.lead_account()) {
                    self.jobs.push(Job::Suppress { account, email });
                }
            }
            Action::ToggleDefinitions => self.stats.show_definitions = !self.stats.show_definitions,
            Action::PauseResume => self.pause_resume(),
            Action::EditStep => self.pick_step_to_edit(),
            Action::Refresh => {
                self.request_inbox(true);
                self.request_stats();
                self.request_sequences();
                self.request_lead();
                if self.tab == Screen::Tasks {
                    self.request_tasks();
                }
                self.jobs.push(Job::LeadIndex);
            }
            Action::SyncNow => {
                self.info("Syncing every account…");
                self.jobs.push(Job::SyncNow);
            }
            Action::Send => self.send(),
            Action::SwitchRoute => self.switch_route(),
            Action::ExternalEditor => {
                if let Some(compose) = &self.compose {
                    self.effects.push(Effect::Editor(compose.text()));
                }
            }
            Action::Redraw => self.effects.push(Effect::Redraw),
            Action::InsertVariable => {
                // A step is written for every lead, so there is no value to show.
                let for_step = matches!(
                    self.compose.as_ref().map(|c| &c.target),
                    Some(ComposeTarget::SequenceStep { .. })
                );
                let items = self
                    .variables
                    .iter()
                    .map(|(name, value)| match value {
                        _ if for_step => format!("{{{{{name}}}}}"),
                        Some(v) => format!("{{{{{name}}}}}  = {}", super::widgets::clip(v, 24)),
                        None => format!("{{{{{name}}}}}  (empty for this lead)"),
                    })
                    .collect();
                self.overlay = Overlay::Picker(Picker {
                    title: "Insert variable".into(),
                    items,
                    query: String::new(),
                    cursor: Default::default(),
                    purpose: PickerPurpose::Variable,
                });
            }
            Action::KeepDraft => {
                if self.forward_note_at_risk() {
                    let send = self.keymap.label(Action::Send);
                    let leave = self.keymap.label(Action::KeepDraft);
                    self.error(format!(
                        "A forward's note is not kept as a draft: {leave} again discards it, {send} sends it"
                    ));
                    return;
                }
                self.keep_draft();
                self.stack.pop();
            }
        }
    }

    fn switch_tab(&mut self, tab: Screen) {
        self.tab = tab;
        self.stack.clear();
        match tab {
            Screen::Stats if self.stats.report.is_none() || self.stats.stale => {
                self.request_stats()
            }
            Screen::Sequences if !self.sequences.loaded || self.sequences.stale => {
                self.request_sequences()
            }
            // Due-ness moves with the clock, so the list is read on each visit.
            Screen::Tasks => self.request_tasks(),
            _ => {}
        }
    }

    fn move_selection(&mut self, action: Action) {
        let page = 20;
        let screen = self.screen();
        if screen == Screen::Inbox {
            // Back to the top is back to following the newest row.
            self.inbox.rep_moved = action != Action::Top;
        }
        let (cursor, len) = match screen {
            Screen::Inbox => (&mut self.inbox.cursor, self.inbox.rows.len()),
            Screen::Leads => (&mut self.leads.cursor, self.leads.ids.len()),
            Screen::Stats => (&mut self.stats.cursor, self.stats.order.len()),
            Screen::Sequences => (&mut self.sequences.cursor, self.sequences.list.len()),
            Screen::Tasks => (&mut self.tasks.cursor, self.tasks.tasks.len()),
            Screen::Sequence => (
                &mut self.sequences.detail_cursor,
                self.sequences
                    .detail
                    .as_ref()
                    .map_or(0, |d| d.enrollments.len()),
            ),
            Screen::Thread | Screen::Lead => {
                let scroll = if screen == Screen::Thread {
                    &mut self.thread.scroll
                } else {
                    &mut self.lead.scroll
                };
                *scroll = match action {
                    Action::Down => scroll.saturating_add(1),
                    Action::Up => scroll.saturating_sub(1),
                    Action::PageDown => scroll.saturating_add(page as u16),
                    Action::PageUp => scroll.saturating_sub(page as u16),
                    Action::Top => 0,
                    _ => u16::MAX,
                };
                return;
            }
            Screen::Compose => return,
        };
        match action {
            Action::Down => cursor.down(len, 1),
            Action::Up => cursor.up(1),
            Action::PageDown => cursor.down(len, page),
            Action::PageUp => cursor.up(page),
            Action::Top => cursor.top(),
            _ => cursor.bottom(len),
        }
        if screen == Screen::Inbox {
            self.inbox.extend_range();
        }
        if screen == Screen::Inbox
            && !self.inbox.exhausted
            && self.inbox.cursor.selected + 50 >= self.inbox.rows.len()
            && self.inbox.loaded
        {
            self.request_inbox(false);
        }
    }

    fn open(&mut self) {
        match self.screen() {
            Screen::Inbox => self.open_inbox_row(),
            Screen::Leads => {
                if let Some(row) = self.leads.selected_row() {
                    let email = row.email().to_string();
                    self.open_lead(&email);
                }
            }
            Screen::Stats => {
                // A campaign's figures lead to its people: its leads table.
                if let Some(c) = self.stats.selected() {
                    let choice = CampaignChoice {
                        id: Some(c.campaign_id),
                        name: c.name.clone(),
                    };
                    self.switch_tab(Screen::Leads);
                    self.filter_by_campaign(Some(choice));
                }
            }
            Screen::Tasks => {
                if let Some(task) = self.tasks.selected() {
                    let email = task.lead_email.clone();
                    self.open_lead(&email);
                }
            }
            Screen::Sequences => {
                if let Some(s) = self.sequences.selected() {
                    let name = s.sequence.name.clone();
                    self.sequences.detail = None;
                    self.sequences.detail_cursor = Default::default();
                    // Looked up again each time it is opened: DNS changes.
                    self.sequences.preflight = None;
                    self.jobs.push(Job::Preflight {
                        sequence: name.clone(),
                    });
                    self.jobs.push(Job::SequenceDetail { name });
                    self.stack.push(Screen::Sequence);
                }
            }
            _ => {}
        }
    }

    /// Opens the selected inbox row: read, and no longer "back from snooze".
    fn open_inbox_row(&mut self) {
        let Some(t) = self.inbox.selected().cloned() else {
            return;
        };
        self.open_thread(&t.key());
        if self.inbox.woke.remove(&t.key()) {
            self.jobs.push(Job::ClearWokenSnooze { key: t.key() });
        }
        if t.unread {
            self.jobs.push(Job::MarkRead {
                key: t.key(),
                read: true,
            });
            if let Some(row) = self.inbox.rows.get_mut(self.inbox.cursor.selected) {
                row.unread = false;
            }
        }
    }

    /// The next or previous conversation of the inbox list, or the next
    /// unread one (after the current, then from the top), opened in place.
    fn step_conversation(&mut self, forward: bool, unread_only: bool) {
        let from = self.inbox.cursor.selected;
        let count = self.inbox.rows.len();
        let target = if unread_only {
            (from + 1..count)
                .chain(0..from.min(count))
                .find(|&i| self.inbox.rows[i].unread)
        } else if forward {
            Some(from + 1).filter(|&i| i < count)
        } else {
            from.checked_sub(1)
        };
        let Some(target) = target else {
            self.info(match (unread_only, forward) {
                (true, _) => "No more unread conversations",
                (false, true) => "That was the last conversation",
                (false, false) => "That was the first conversation",
            });
            return;
        };
        if self.screen() == Screen::Thread {
            self.stack.pop();
        }
        self.inbox.cursor.selected = target;
        self.inbox.rep_moved = true;
        self.open_inbox_row();
    }

    pub fn open_thread(&mut self, key: &str) {
        self.thread = ThreadPane {
            key: key.to_string(),
            to_newest: true,
            ..ThreadPane::default()
        };
        self.jobs.push(Job::Thread {
            key: key.to_string(),
        });
        self.jobs.push(Job::RefreshThread {
            key: key.to_string(),
        });
        self.stack.push(Screen::Thread);
    }

    pub fn open_lead(&mut self, email: &str) {
        self.lead = LeadPane {
            email: email.to_string(),
            ..LeadPane::default()
        };
        self.request_lead();
        self.stack.push(Screen::Lead);
    }

    /// The thread the rep is looking at: the open one, else the inbox selection.
    fn current_thread(&self) -> Option<crate::model::Thread> {
        match self.screen() {
            // While the conversation loads, the row it was opened from
            // stands in, so `r` pressed at once still answers it.
            Screen::Thread => match &self.thread.view {
                Some(v) => Some(v.thread.clone()),
                None => self
                    .inbox
                    .rows
                    .iter()
                    .find(|r| r.key() == self.thread.key)
                    .cloned(),
            },
            Screen::Inbox => self.inbox.selected().cloned(),
            _ => None,
        }
    }

    /// Done with the conversation: out of the inbox (and back to it from
    /// the thread) until the person writes again.
    fn archive(&mut self) {
        if let Some(target) = self.bulk_target() {
            return self.run_bulk(BulkOp::Archive, target);
        }
        let Some(t) = self.current_thread() else {
            self.error("Select a conversation first");
            return;
        };
        let key = t.key();
        self.hide_row(&key);
        self.jobs.push(Job::Archive {
            key,
            archived: true,
            name: t.person().to_string(),
        });
    }

    /// Takes a conversation out of the list at once (the store's change
    /// brings the list in line after) and leaves it if it is open.
    fn hide_row(&mut self, key: &str) {
        if let Some(at) = self.inbox.rows.iter().position(|r| r.key() == key) {
            self.inbox.rows.remove(at);
            self.inbox.cursor.clamp(self.inbox.rows.len());
        }
        if self.screen() == Screen::Thread && self.thread.key == key {
            self.stack.pop();
        }
    }

    /// The snooze picker: later today, tomorrow morning, the weekend, next
    /// Monday, next week, in the rep's zone.
    fn pick_snooze(&mut self) {
        let bulk = self.bulk_target().is_some();
        let single = self.current_thread().filter(|_| !bulk);
        if !bulk && single.is_none() {
            self.error("Select a conversation first");
            return;
        }
        let (title, purpose) = match single {
            None => (
                format!("Snooze {} until", self.inbox.selection_count()),
                WhenFor::BulkSnooze,
            ),
            Some(t) => (
                "Snooze until".to_string(),
                WhenFor::Snooze {
                    thread_key: t.key(),
                    name: t.person().to_string(),
                },
            ),
        };
        self.pick_when(&title, purpose);
    }

    /// The quick-time picker snooze and send later share: later today,
    /// tomorrow morning, the weekend, next Monday, next week, in the rep's
    /// zone, then a date typed as `outpost snooze --until` takes it.
    fn pick_when(&mut self, title: &str, purpose: WhenFor) {
        let now = self.clock.now();
        let choices = [
            ("Later today", "later"),
            ("Tomorrow morning", "tomorrow 9:00"),
            ("Tomorrow afternoon", "tomorrow 14:00"),
            ("This weekend", "sat 9:00"),
            ("Next Monday", "mon 9:00"),
            ("In a week", "1w"),
        ];
        let mut items = Vec::new();
        let mut times = Vec::new();
        for (label, when) in choices {
            if let Ok(at) = self.zone.parse(when, now) {
                items.push(format!("{label:<20} {}", self.zone.show(at)));
                times.push(at);
            }
        }
        items.push("Type a date…".to_string());
        self.overlay = Overlay::Picker(Picker {
            title: title.into(),
            items,
            query: String::new(),
            cursor: Default::default(),
            purpose: PickerPurpose::When { purpose, times },
        });
    }

    fn pick_send_time(&mut self) {
        match self.compose.as_ref().map(|c| &c.target) {
            Some(target) if target.is_mail_to_thread() => {
                self.pick_when("Send at", WhenFor::SendLater)
            }
            _ => self.error("Only a reply or a forward can be sent later"),
        }
    }

    fn prompt_attachment(&mut self) {
        match self.compose.as_ref().map(|c| &c.target) {
            Some(target) if target.is_mail_to_thread() => {
                self.overlay = Overlay::Prompt(Prompt {
                    title: "Attach a file".into(),
                    input: String::new(),
                    hint: "its path, e.g. ~/Documents/pricing.pdf (at most 25 MB)".into(),
                    error: None,
                    purpose: PromptPurpose::AttachPath,
                });
            }
            _ => self.error("Only a reply or a forward can carry attachments"),
        }
    }

    /// One attachment goes at once; of several, the rep picks which.
    fn pick_attachment_to_remove(&mut self) {
        let Some(compose) = &mut self.compose else {
            return;
        };
        match compose.attachments.len() {
            0 => self.error("Nothing is attached"),
            1 => {
                let removed = compose.attachments.remove(0);
                self.info(format!("Removed {}", removed.filename));
            }
            _ => {
                let items = compose
                    .attachments
                    .iter()
                    .map(|a| a.filename.clone())
                    .collect();
                self.overlay = Overlay::Picker(Picker {
                    title: "Remove attachment".into(),
                    items,
                    query: String::new(),
                    cursor: Default::default(),
                    purpose: PickerPurpose::RemoveAttachment,
                });
            }
        }
    }

    /// The rep's "come back to this": the conversation's replies unread
    /// again, here and in Gmail.
    fn mark_unread(&mut self) {
        self.set_read(false);
    }

    /// Read or unread, here and in Gmail: the selection as one bulk change,
    /// else the conversation under the cursor.
    fn set_read(&mut self, read: bool) {
        if let Some(target) = self.bulk_target() {
            let op = if read { BulkOp::Read } else { BulkOp::Unread };
            return self.run_bulk(op, target);
        }
        let Some(t) = self.current_thread() else {
            self.error("Select a conversation first");
            return;
        };
        let key = t.key();
        self.jobs.push(Job::MarkRead {
            key: key.clone(),
            read,
        });
        if let Some(row) = self.inbox.rows.iter_mut().find(|r| r.key() == key) {
            row.unread = !read;
        }
        if !read {
            self.info(format!("Marked unread: {}", t.person()));
        }
    }

    fn reply(&mut self, all: bool) {
        let Some(t) = self.current_thread() else {
            self.error("Nothing to reply to");
            return;
        };
        let thread_key = t.key();
        let target = ComposeTarget::Reply {
            thread_key: thread_key.clone(),
            account: t.account.clone(),
            to: t
                .lead_email
                .clone()
                .or_else(|| t.participants.first().cloned())
                .unwrap_or_default(),
            subject: t.subject.clone(),
            lead_key: t
                .lead_email
                .as_ref()
                .map(|e| crate::model::Lead::key_for(&t.account, e)),
        };
        self.start_compose(target);
        if let Some(compose) = &mut self.compose {
            compose.reply_all = all;
        }
        self.jobs.push(Job::ReplyRoutes {
            thread_key: thread_key.clone(),
        });
        self.jobs.push(Job::LoadDraft {
            thread_key: thread_key.clone(),
        });
        self.load_original(&thread_key);
    }

    /// The first Esc on a forward with a note warns (drafts are replies, so
    /// the note would be lost); the second leaves.
    fn forward_note_at_risk(&mut self) -> bool {
        let Some(compose) = &mut self.compose else {
            return false;
        };
        let at_risk = matches!(compose.target, ComposeTarget::Forward { .. })
            && compose.typed_text().is_some()
            && !compose.discard_armed;
        if at_risk {
            compose.discard_armed = true;
        }
        at_risk
    }

    /// Passes the conversation on: To empty, `Fwd:`, the original below.
    fn forward(&mut self) {
        let Some(t) = self.current_thread() else {
            self.error("Nothing to forward");
            return;
        };
        let thread_key = t.key();
        self.start_compose(ComposeTarget::Forward {
            thread_key: thread_key.clone(),
            account: t.account.clone(),
            subject: t.subject.clone(),
            lead_key: t
                .lead_email
                .as_ref()
                .map(|e| crate::model::Lead::key_for(&t.account, e)),
        });
        self.load_original(&thread_key);
    }

    /// The message answered or forwarded into the composer: from the open
    /// conversation when it is loaded, else read in a job.
    fn load_original(&mut self, thread_key: &str) {
        let loaded = self
            .thread
            .view
            .as_ref()
            .filter(|v| v.key == thread_key || v.thread.sources.iter().any(|s| s == thread_key))
            .and_then(|v| crate::engine::Engine::message_to_answer(&v.messages).cloned());
        match (loaded, &mut self.compose) {
            (Some(original), Some(compose)) => compose.set_original(&original, &self.zone),
            _ => self.jobs.push(Job::Original {
                thread_key: thread_key.to_string(),
            }),
        }
    }

    /// Whether an action means something in the current state, for the
    /// hints (a reply with one route has nothing to switch).
    pub fn offers(&self, action: Action) -> bool {
        let target = self.compose.as_ref().map(|c| &c.target);
        let mail_to_thread = target.is_some_and(ComposeTarget::is_mail_to_thread);
        match action {
            Action::SwitchRoute => self.compose.as_ref().is_some_and(|c| c.routes.len() > 1),
            Action::NextField | Action::PreviousField => {
                target.is_some_and(|t| !t.fields().is_empty())
            }
            Action::SendLater | Action::Attach => mail_to_thread,
            Action::RemoveAttachment => self
                .compose
                .as_ref()
                .is_some_and(|c| !c.attachments.is_empty()),
            // A step is written for every lead: no one lead fills a snippet.
            Action::InsertSnippet => !matches!(target, Some(ComposeTarget::SequenceStep { .. })),
            // In the leads table, once leads are selected.
            Action::EnrollSelected | Action::PauseSelected => !self.leads.picked.is_empty(),
            _ => true,
        }
    }

    /// Moves the reply to the conversation's next route.
    fn switch_route(&mut self) {
        let Some(compose) = &mut self.compose else {
            return;
        };
        if compose.next_route() {
            if let Some(route) = compose.selected_route() {
                let label = route.label();
                self.info(format!("Replying {label}"));
            }
        } else {
            let only = compose
                .selected_route()
                .map(|r| format!(": {}", r.label()))
                .unwrap_or_default();
            self.error(format!("This reply has no other route{only}"));
        }
    }

    fn compose_new(&mut self) {
        let (Some(email), Some(account)) = (self.lead_email(), self.lead_account()) else {
            self.error("Select a lead first");
            return;
        };
        let lead_key = crate::model::Lead::key_for(&account, &email);
        self.start_compose(ComposeTarget::NewEmail {
            lead_key,
            account,
            email,
        });
    }

    pub(super) fn start_compose(&mut self, target: ComposeTarget) {
        self.variables.clear();
        self.compose_lead = None;
        if let Some(lead_key) = target.lead_key() {
            self.jobs.push(Job::Variables {
                lead_key: lead_key.to_string(),
            });
        }
        let draft_id = uuid::Uuid::new_v4().to_string();
        self.compose = Some(ComposePane::new(target, draft_id, ""));
        self.stack.push(Screen::Compose);
    }

    fn lead_email(&self) -> Option<String> {
        match self.screen() {
            Screen::Lead => Some(self.lead.email.clone()).filter(|e| !e.is_empty()),
            Screen::Leads => self.leads.selected_row().map(|r| r.email().to_string()),
            _ => None,
        }
    }

    fn lead_account(&self) -> Option<String> {
        match self.screen() {
            Screen::Lead => self
                .lead
                .view
                .as_ref()
                .and_then(|v| v.records.first().map(|l| l.account.clone())),
            Screen::Leads => self.leads.selected_row().map(|r| r.account().to_string()),
            _ => None,
        }
    }

    fn pick_category(&mut self) {
        if self.bulk_target().is_some() {
            // The first picked row's account names the categories offered.
            let account = self
                .inbox
                .rows
                .iter()
                .find(|r| self.inbox.selection.contains(&r.key()))
                .map(|r| r.account.clone())
                .unwrap_or_default();
            self.jobs.push(Job::Categories {
                thread_key: String::new(),
                account,
                for_selection: true,
            });
            return;
        }
        match self.current_thread() {
            Some(t) => self.jobs.push(Job::Categories {
                thread_key: t.key(),
                account: t.account.clone(),
                for_selection: false,
            }),
            None => self.error("Open or select a conversation first"),
        }
    }

    /// Opens the campaign filter's list; asks for the stats report (every
    /// campaign, named) when it is missing or stale, and the open list
    /// fills in when it arrives.
    fn pick_campaign_filter(&mut self, screen: Screen) {
        if self.stats.report.is_none() || self.stats.stale {
            self.request_stats();
        }
        self.overlay = Overlay::Picker(self.campaign_picker(screen, String::new()));
    }

    /// Refreshes an open campaign list (the stats report just arrived).
    pub(super) fn refresh_campaign_picker(&mut self) {
        let screen = self.screen();
        if let Overlay::Picker(picker) = &self.overlay
            && matches!(picker.purpose, PickerPurpose::FilterCampaign { .. })
        {
            let query = picker.query.clone();
            let cursor = picker.cursor;
            let mut fresh = self.campaign_picker(screen, query);
            fresh.cursor = cursor;
            let len = fresh.shown().len();
            fresh.cursor.clamp(len);
            self.overlay = Overlay::Picker(fresh);
        }
    }

    /// The campaigns the rep can filter by, named: the stats report's, the
    /// leads index's and the inbox rows'. The Leads tab filters by name (its
    /// filter box's text), the inbox by id.
    fn campaign_picker(&self, screen: Screen, query: String) -> Picker {
        let mut named: BTreeMap<i64, String> = self
            .leads
            .index
            .as_ref()
            .map(|i| i.campaigns().into_iter().collect())
            .unwrap_or_default();
        if let Some(report) = &self.stats.report {
            for c in &report.campaigns {
                named.insert(c.campaign_id, c.name.clone());
            }
        }
        for t in &self.inbox.rows {
            if let (Some(id), Some(name)) = (t.campaign_id, &t.campaign_name) {
                named.entry(id).or_insert_with(|| name.clone());
            }
        }
        let mut by_name: Vec<(i64, String)> = named.into_iter().collect();
        by_name.sort_by_key(|(_, name)| name.to_lowercase());
        let mut choices: Vec<CampaignChoice> = by_name
            .into_iter()
            .map(|(id, name)| CampaignChoice { id: Some(id), name })
            .collect();
        if screen == Screen::Leads {
            let names = self
                .leads
                .index
                .as_ref()
                .map(|i| i.campaign_names())
                .unwrap_or_default();
            for name in names {
                if !choices.iter().any(|c| c.name == name) {
                    choices.push(CampaignChoice { id: None, name });
                }
            }
            choices.sort_by_key(|c| c.name.to_lowercase());
            choices.dedup_by(|a, b| a.name == b.name);
        }
        let mut values = vec![None];
        values.extend(choices.into_iter().map(Some));
        let items = values
            .iter()
            .map(|v| match v {
                None => "(every campaign)".to_string(),
                Some(c) => c.name.clone(),
            })
            .collect();
        Picker {
            title: "Filter by campaign".into(),
            items,
            query,
            cursor: Default::default(),
            purpose: PickerPurpose::FilterCampaign { values },
        }
    }

    fn pick_category_filter(&mut self) {
        let mut values = vec![None];
        values.extend(
            crate::engine::default_categories()
                .into_iter()
                .map(|c| Some(c.name)),
        );
        let items = values
            .iter()
            .map(|v| v.clone().unwrap_or_else(|| "(every category)".into()))
            .collect();
        self.overlay = Overlay::Picker(Picker {
            title: "Filter by category".into(),
            items,
            query: String::new(),
            cursor: Default::default(),
            purpose: PickerPurpose::FilterCategory { values },
        });
    }

    /// Narrows the current list to one campaign (None: every campaign).
    fn filter_by_campaign(&mut self, choice: Option<CampaignChoice>) {
        match self.screen() {
            Screen::Leads => {
                // By id when known: a name also matches every campaign whose
                // name contains it ("Invite #1" and "Invite #1 - Follow-up").
                // The title shows the name either way.
                let token = choice.map(|c| match c.id {
                    Some(id) => format!("#{id}"),
                    None => c.name.replace(' ', "_"),
                });
                let text = replace_token(&self.leads.filter_text, "campaign:", token.as_deref());
                self.leads.set_filter_text(&text);
                self.leads.cursor = Default::default();
            }
            _ => {
                // The title names the campaign (screens keep names by id).
                if let Some(CampaignChoice { id: Some(id), name }) = &choice {
                    self.inbox.campaign_names.insert(*id, name.clone());
                }
                self.inbox.query.campaign_id = choice.and_then(|c| c.id);
                self.reload_inbox_filtered();
            }
        }
    }

    fn pause_resume(&mut self) {
        let sequence = match self.screen() {
            Screen::Sequence => self
                .sequences
                .detail
                .as_ref()
                .map(|d| d.summary.sequence.clone()),
            _ => self.sequences.selected().map(|s| s.sequence.clone()),
        };
        if let Some(s) = sequence {
            let status = match s.status {
                SequenceStatus::Active => SequenceStatus::Paused,
                SequenceStatus::Paused => SequenceStatus::Active,
            };
            self.jobs.push(Job::SetSequenceStatus {
                name: s.name,
                status,
            });
        }
    }

    /// Quits, unless a send still waits out its undo window: quitting
    /// then would hold it back until outpost runs again, so the first `q`
    /// says so and the second sends it now, then quits.
    fn quit_or_confirm(&mut self) {
        if self.quitting_after_send {
            return;
        }
        let waiting = self
            .pending_send
            .as_ref()
            .filter(|p| p.state == OutboxState::Pending)
            .map(|p| p.id.clone());
        match waiting {
            Some(_) if !self.quit_armed => {
                self.quit_armed = true;
                let quit = self.keymap.label(Action::Quit);
                let undo = self.keymap.label(Action::UndoSend);
                self.error(format!(
                    "1 send in its undo window — {quit} again sends it now and quits, {undo} undoes"
                ));
            }
            Some(id) => {
                self.quit_armed = false;
                self.quitting_after_send = true;
                self.keep_draft();
                self.info("Sending now, then quitting…");
                self.jobs.push(Job::SendNow { id });
            }
            None => {
                self.keep_draft();
                self.quit = true;
            }
        }
    }

    /// Keeps what was typed in the composer as a draft; an emptied
    /// composer discards the draft it had.
    fn keep_draft(&mut self) {
        let Some(compose) = self.compose.take() else {
            return;
        };
        let Some(text) = compose.typed_text() else {
            if !matches!(compose.target, ComposeTarget::SequenceStep { .. }) {
                self.jobs.push(Job::DiscardDraft {
                    id: compose.draft_id.clone(),
                });
            }
            return;
        };
        if let ComposeTarget::Forward { .. } = &compose.target {
            // Drafts are replies, restored on `r`; a forward's note is not one.
            self.info("Forward discarded; nothing was sent");
            return;
        }
        if let ComposeTarget::SequenceStep { step, .. } = &compose.target {
            // A step is only ever changed by saving it; leaving discards the edit.
            self.info(format!("Step {} left unchanged", step + 1));
            return;
        }
        let (subject, to) = match &compose.target {
            ComposeTarget::Reply { subject, to, .. } => {
                (crate::engine::reply_subject(subject), to.clone())
            }
            ComposeTarget::NewEmail { email, .. } => (compose.subject.clone(), email.clone()),
            ComposeTarget::SequenceStep { .. } | ComposeTarget::Forward { .. } => return,
        };
        self.jobs.push(Job::SaveDraft(Draft {
            id: compose.draft_id.clone(),
            account: compose.target.account().to_string(),
            thread_id: compose.target.draft_thread_key().map(str::to_string),
            to: vec![to],
            cc: compose.addresses(Field::Cc).unwrap_or_default(),
            subject,
            body: text,
            updated_at: self.now(),
        }));
    }

    fn send(&mut self) {
        let Some(compose) = &self.compose else { return };
        let text = compose.text();
        // Every address is checked before anything is queued.
        let mut fields = BTreeMap::new();
        for field in compose.target.fields() {
            match compose.addresses(*field) {
                Ok(list) => {
                    fields.insert(field.label(), list);
                }
                Err(e) => {
                    let field = *field;
                    if let Some(compose) = &mut self.compose {
                        compose.focus = field;
                    }
                    self.error(format!("Not sent: {e}"));
                    return;
                }
            }
        }
        let mut take = |field: Field| fields.remove(field.label()).unwrap_or_default();
        let (to, cc, bcc) = (take(Field::To), take(Field::Cc), take(Field::Bcc));
        let job = match &compose.target {
            ComposeTarget::Reply { thread_key, .. } => Job::QueueReply {
                thread_key: thread_key.clone(),
                draft_id: compose.draft_id.clone(),
                reply: ReplyDraft {
                    text: text.clone(),
                    route: compose.selected_route().map(|r| r.provider),
                    cc,
                    bcc,
                    reply_all: compose.reply_all,
                    attachments: compose.attachments.clone(),
                    send_at: compose.send_at,
                    ..ReplyDraft::default()
                },
                delay_secs: self.undo_send_secs,
            },
            ComposeTarget::Forward { thread_key, .. } => {
                if to.is_empty() {
                    if let Some(compose) = &mut self.compose {
                        compose.focus = Field::To;
                    }
                    self.error("Not sent: a forward needs someone in To");
                    return;
                }
                Job::Forward {
                    thread_key: thread_key.clone(),
                    draft_id: compose.draft_id.clone(),
                    forward: ForwardDraft {
                        to,
                        cc,
                        bcc,
                        text: text.clone(),
                        attachments: compose.attachments.clone(),
                        send_at: compose.send_at,
                        without_signature: false,
                    },
                    delay_secs: self.undo_send_secs,
                }
            }
            ComposeTarget::NewEmail { lead_key, .. } => {
                let (subject, body) = (compose.subject.clone(), text.clone());
                Job::QueueNew {
                    lead_key: lead_key.clone(),
                    draft_id: compose.draft_id.clone(),
                    subject,
                    body,
                    delay_secs: self.undo_send_secs,
                }
            }
            ComposeTarget::SequenceStep {
                sequence,
                step,
                variant,
                ..
            } => {
                let (subject, body) = compose.step_text();
                let job = Job::UpdateStepText {
                    sequence: sequence.clone(),
                    step: *step,
                    variant: variant.clone(),
                    subject,
                    body,
                };
                self.info("Saving the step…");
                self.jobs.push(job);
                return;
            }
        };
        self.info("Queuing…");
        self.jobs.push(job);
    }

    /// `u`: the send in its undo window first, else the last bulk change.
    fn undo_send(&mut self) {
        match (&self.pending_send, self.last_bulk.clone()) {
            (Some(p), _) if p.state == OutboxState::Pending => {
                self.jobs.push(Job::CancelOutbox { id: p.id.clone() });
            }
            (_, Some(id)) => {
                self.info("Undoing the last bulk change…");
                self.jobs.push(Job::Undo { id });
            }
            (Some(_), None) => self.error("Too late to undo: the email already left"),
            (None, None) => self.error("Nothing to undo"),
        }
    }

    /// What a bulk change applies to: the inbox's selection, if there is one.
    fn bulk_target(&self) -> Option<BulkTarget> {
        let selection = &self.inbox.selection;
        if self.screen() != Screen::Inbox || selection.is_empty() {
            return None;
        }
        Some(if selection.all_matching {
            BulkTarget::Query {
                query: crate::engine::InboxQuery {
                    offset: 0,
                    limit: None,
                    ..self.inbox.query.clone()
                },
            }
        } else {
            BulkTarget::Keys {
                keys: selection.keys.iter().cloned().collect(),
            }
        })
    }

    /// Runs one change on the selection as a job; the rows that leave the
    /// inbox go at once, and the selection is cleared.
    fn run_bulk(&mut self, operation: BulkOp, target: BulkTarget) {
        let count = self.inbox.selection_count();
        if matches!(operation, BulkOp::Archive | BulkOp::Snooze { .. }) {
            let selection = self.inbox.selection.clone();
            self.inbox.rows.retain(|r| !selection.contains(&r.key()));
            self.inbox.cursor.clamp(self.inbox.rows.len());
        }
        self.inbox.clear_selection();
        self.info(format!("{} {count}…", operation.doing()));
        self.jobs.push(Job::Bulk { operation, target });
    }

    /// The open conversation's attachments, each to save or to open.
    fn pick_attachment(&mut self) {
        let Some(view) = &self.thread.view else {
            self.error("The conversation is still loading");
            return;
        };
        let mut items = Vec::new();
        let mut choices = Vec::new();
        let files = view.messages.iter().flat_map(|m| &m.attachments);
        for (at, a) in files.enumerate() {
            let number = at + 1;
            items.push(format!("{number}  Save {} to Downloads", a.filename));
            choices.push((number, false));
            items.push(format!("{number}  Open {}", a.filename));
            choices.push((number, true));
        }
        if items.is_empty() {
            self.error("No attachments in this conversation");
            return;
        }
        self.overlay = Overlay::Picker(Picker {
            title: "Attachments".into(),
            items,
            query: String::new(),
            cursor: Default::default(),
            purpose: PickerPurpose::Attachment {
                key: view.key.clone(),
                choices,
            },
        });
    }

    /// Space in the leads table: the lead in or out of the selection.
    fn toggle_picked_lead(&mut self) {
        let Some(email) = self.leads.selected_row().map(|r| r.email().to_string()) else {
            return;
        };
        if !self.leads.picked.remove(&email) {
            self.leads.picked.insert(email);
        }
        let len = self.leads.ids.len();
        self.leads.cursor.down(len, 1);
    }

    /// One change to the leads table's selection, as a job.
    fn run_leads_bulk(&mut self, operation: BulkOp) {
        let keys: Vec<String> = std::mem::take(&mut self.leads.picked).into_iter().collect();
        self.info(format!("{} {} leads…", operation.doing(), keys.len()));
        self.jobs.push(Job::Bulk {
            operation,
            target: BulkTarget::Keys { keys },
        });
    }

    /// Read, from the inbox: the selection, or the row.
    fn mark_read(&mut self) {
        self.set_read(true);
    }

    /// The text back from `$EDITOR`.
    pub fn editor_done(&mut self, result: Result<String, String>) {
        self.dirty = true;
        match (result, &mut self.compose) {
            (Ok(text), Some(compose)) => compose.set_text(text.trim_end_matches('\n')),
            (Err(e), _) => self.error(format!("editor: {e}")),
            _ => {}
        }
    }

    /// Called on a timer: moves spinners and the undo countdown.
    pub fn on_tick(&mut self) {
        if self.toast.is_some() && self.current_toast().is_none() {
            self.toast = None;
            self.dirty = true;
        }
        let syncing = self.sync.values().any(|p| p.running);
        if syncing || self.pending_send.is_some() || self.leads.loading {
            self.tick = self.tick.wrapping_add(1);
            self.dirty = true;
        }
    }
}

/// The next value after `current` in `values`, wrapping to None (no filter).
fn cycle(values: &[String], current: Option<&String>) -> Option<String> {
    match current.and_then(|c| values.iter().position(|v| v == c)) {
        None => values.first().cloned(),
        Some(at) => values.get(at + 1).cloned(),
    }
}

/// Replaces (or removes) a `key:value` token in the filter text.
fn replace_token(text: &str, prefix: &str, value: Option<&str>) -> String {
    let mut tokens: Vec<String> = text
        .split_whitespace()
        .filter(|t| !t.starts_with(prefix))
        .map(str::to_string)
        .collect();
    if let Some(v) = value {
        tokens.insert(0, format!("{prefix}{v}"));
    }
    tokens.join(" ")
}

/// The `t` line: tag changes typed for one conversation or lead.
#[derive(Debug, Clone)]
pub struct TagPrompt {
    /// A conversation key, or a lead's email.
    pub key: String,
    /// The selection instead, as one bulk change (one undo).
    pub bulk: Option<BulkTarget>,
    /// Who it is, for the line and the result.
    pub name: String,
    pub text: String,
}

impl TagPrompt {
    /// Completes the word being typed (after its + or -) to the first tag
    /// in use that starts with it.
    pub fn complete(&mut self, known: &[String]) {
        let start = self.text.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &self.text[start..];
        let sign = word.chars().next().filter(|c| *c == '+' || *c == '-');
        let typed = &word[sign.map_or(0, char::len_utf8)..];
        if typed.is_empty() {
            return;
        }
        let typed = typed.to_lowercase();
        if let Some(found) = known.iter().find(|t| t.starts_with(&typed) && **t != typed) {
            let mut completed = String::new();
            completed.extend(sign);
            completed.push_str(found);
            self.text.replace_range(start.., &completed);
        }
    }
}

#[cfg(test)]
mod tag_prompt_tests {
    use super::TagPrompt;

    #[test]
    fn tab_completes_the_word_being_typed() {
        let known = vec![
            "hot".to_string(),
            "later".to_string(),
            "q3-renewal".to_string(),
        ];
        let mut prompt = TagPrompt {
            key: "gm/1".into(),
            bulk: None,
            name: "Ann".into(),
            text: "+hot -la".into(),
        };
        prompt.complete(&known);
        assert_eq!(prompt.text, "+hot -later");
        prompt.text.push_str(" q");
        prompt.complete(&known);
        assert_eq!(prompt.text, "+hot -later q3-renewal");
        prompt.text.push_str(" +zz");
        prompt.complete(&known);
        assert_eq!(prompt.text, "+hot -later q3-renewal +zz");
    }
}
