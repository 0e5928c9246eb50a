//! Applying what comes back: job results and the store's change feed.

use super::app::{App, Overlay, PendingSend};
use super::jobs::{Job, JobResult};
use super::panes::compose::{ComposePane, ComposeTarget};
use super::widgets::overlays::{Picker, PickerPurpose};
use crate::model::OutboxState;
use crate::store::{Change, Kind};

impl App {
    pub fn apply(&mut self, result: JobResult) {
        self.dirty = true;
        match result {
            JobResult::Accounts(accounts) => {
                for a in accounts {
                    let entry = self.sync.entry(a.name.clone()).or_default();
                    entry.account = a.name.clone();
                    entry.needs_login = a.needs_login;
                    if entry.last_success.is_none() {
                        entry.last_success = a.last_sync_ok;
                    }
                    if entry.last_error.is_none() {
                        entry.last_error = a.last_error.clone();
                    }
                }
            }
            JobResult::Inbox {
                generation,
                offset,
                rows,
                woke,
                marks,
            } => {
                if generation == self.inbox.generation {
                    if offset == 0 {
                        self.inbox.woke.clear();
                        self.inbox.marks.clear();
                    }
                    self.inbox.woke.extend(woke);
                    self.inbox.marks.extend(marks);
                }
                self.apply_inbox(generation, offset, rows)
            }
            JobResult::InboxCounts { generation, counts } => {
                // Counts for the filters shown are taken even when newer rows
                // were asked for meanwhile (a sync streaming in asks all the
                // time); the coalesced next count catches up.
                if generation == self.inbox.counts_generation {
                    self.inbox.counts_inflight = false;
                    self.inbox.counts = Some(counts);
                    if self.inbox.counts_again {
                        self.inbox.counts_again = false;
                        self.request_inbox_counts();
                    }
                }
            }
            JobResult::Thread(view) => {
                self.thread.inflight = false;
                match *view {
                    Some(v) if v.key == self.thread.key => self.thread.view = Some(v),
                    // A provider copy's key opens the conversation it is part of.
                    Some(v) if v.thread.sources.contains(&self.thread.key) => {
                        self.thread.key = v.key.clone();
                        self.thread.view = Some(v);
                    }
                    Some(_) => {}
                    None => self.error("That conversation is no longer in the cache"),
                }
            }
            JobResult::LeadIndex(index) => {
                self.leads.index = Some(*index);
                self.leads.loading = false;
                self.leads.refilter();
                self.request_lead_rows();
            }
            JobResult::LeadRows {
                found,
                missing,
                tags,
            } => {
                self.leads.rows_inflight = false;
                if let Some(index) = &mut self.leads.index {
                    for lead in &found {
                        index.upsert(lead);
                    }
                    for key in &missing {
                        index.remove(key);
                    }
                    for (email, tags) in tags {
                        index.set_tags(&email, tags);
                    }
                }
                // Rows arrived or changed: recompute in full (narrowing the
                // previous result would hide the new ones).
                self.leads.refilter();
                self.request_lead_rows();
            }
            JobResult::Lead { email, view } => {
                self.lead.inflight = false;
                if email == self.lead.email {
                    self.lead.view = *view;
                }
                if self.lead.again {
                    self.lead.again = false;
                    self.request_lead();
                }
            }
            JobResult::Stats(report) => {
                self.stats.inflight = false;
                let keep = self
                    .stats
                    .selected()
                    .map(|c| (c.account.clone(), c.campaign_id));
                self.stats.report = Some(*report);
                self.stats.resort();
                self.refresh_campaign_picker();
                if let (Some(keep), Some(report)) = (keep, &self.stats.report) {
                    let at = self.stats.order.iter().position(|i| {
                        let c = &report.campaigns[*i];
                        (c.account.clone(), c.campaign_id) == keep
                    });
                    if let Some(at) = at {
                        self.stats.cursor.selected = at;
                    }
                }
                if self.stats.stale {
                    self.request_stats();
                }
            }
            JobResult::Sequences(list) => {
                self.sequences.inflight = false;
                let keep = self.sequences.selected().map(|s| s.sequence.name.clone());
                self.sequences.list = list;
                self.sequences.loaded = true;
                if let Some(at) = keep.and_then(|k| {
                    self.sequences
                        .list
                        .iter()
                        .position(|s| s.sequence.name == k)
                }) {
                    self.sequences.cursor.selected = at;
                }
                self.sequences.cursor.clamp(self.sequences.list.len());
                if self.sequences.stale {
                    self.request_sequences();
                }
            }
            JobResult::SequenceDetail(detail) => {
                self.sequences.detail = *detail;
            }
            JobResult::Tasks(tasks) => {
                self.tasks.inflight = false;
                let now = self.now();
                self.tasks.set(tasks, now);
                if self.tasks.stale {
                    self.request_tasks();
                }
            }
            JobResult::TaskClosed(task) => {
                let outcome = task.outcome.map_or("closed", |o| o.as_str());
                let next = if task.enrollment_id.is_some() {
                    "; the sequence moves on"
                } else {
                    ""
                };
                self.info(format!("Task {outcome}: {}{next}", task.title));
                self.request_tasks();
            }
            JobResult::Preflight { sequence, warnings } => {
                self.sequences.preflight = Some((sequence, warnings));
            }
            JobResult::Assignees {
                thread_key,
                name,
                users,
            } => {
                if users.is_empty() {
                    self.error("No users are configured: declare them as [users.NAME] sections");
                    return;
                }
                let mut values = vec![None];
                values.extend(users.into_iter().map(Some));
                let items = values
                    .iter()
                    .map(|v| v.clone().unwrap_or_else(|| "nobody".into()))
                    .collect();
                self.overlay = Overlay::Picker(Picker {
                    title: format!("Assign {name} to"),
                    items,
                    query: String::new(),
                    cursor: Default::default(),
                    purpose: PickerPurpose::Assign {
                        thread_key,
                        name,
                        values,
                    },
                });
            }
            JobResult::Categories {
                thread_key,
                categories,
                for_selection,
            } => {
                let current = self
                    .thread
                    .view
                    .as_ref()
                    .filter(|v| v.key == thread_key)
                    .and_then(|v| v.thread.category.clone());
                let items = categories
                    .iter()
                    .map(|c| {
                        let mark = if current.as_ref().is_some_and(|cur| cur.id == c.id) {
                            " ✓"
                        } else {
                            ""
                        };
                        format!("{}{mark}", c.name)
                    })
                    .collect();
                let (title, purpose) = if for_selection {
                    (
                        format!("Reply category of {}", self.inbox.selection_count()),
                        PickerPurpose::BulkCategory { categories },
                    )
                } else {
                    (
                        "Reply category".to_string(),
                        PickerPurpose::Category {
                            thread_key,
                            categories,
                        },
                    )
                };
                self.overlay = Overlay::Picker(Picker {
                    title,
                    items,
                    query: String::new(),
                    cursor: Default::default(),
                    purpose,
                });
            }
            JobResult::CategorySet {
                thread_key,
                category,
            } => {
                self.info(format!("Category set to {}", category.name));
                if let Some(view) = &mut self.thread.view
                    && view.key == thread_key
                {
                    view.thread.category = Some(category.clone());
                }
                for row in self.inbox.rows.iter_mut().filter(|t| t.key() == thread_key) {
                    row.category = Some(category.clone());
                }
            }
            JobResult::Variables { variables, lead } => {
                self.variables = variables;
                self.compose_lead = lead.map(|l| *l);
            }
            JobResult::Original { thread_key, view } => {
                let original = view
                    .as_ref()
                    .as_ref()
                    .and_then(|v| crate::engine::Engine::message_to_answer(&v.messages));
                if let (Some(original), Some(compose)) = (original, &mut self.compose)
                    && compose.target.thread_key() == Some(thread_key.as_str())
                {
                    compose.set_original(original, &self.zone);
                }
            }
            JobResult::Attached {
                draft_id,
                attachment,
            } => {
                if let Some(compose) = &mut self.compose
                    && compose.draft_id == draft_id
                {
                    let text = format!(
                        "Attached {} ({})",
                        attachment.filename,
                        super::panes::compose::human_size(attachment.data.len())
                    );
                    compose.attachments.push(attachment);
                    self.info(text);
                }
            }
            JobResult::PathCompleted { typed, completion } => {
                // Only if the rep has not typed on meanwhile.
                if let Overlay::Prompt(prompt) = &mut self.overlay
                    && prompt.input == typed
                {
                    prompt.input = completion.path;
                    prompt.error = None;
                    if !completion.choices.is_empty() {
                        prompt.hint = super::widgets::clip(&completion.choices.join("  "), 64);
                    }
                }
            }
            JobResult::Snippets(snippets) => {
                if self.compose.is_some() {
                    let previews = snippets
                        .iter()
                        .map(|s| match self.fill_snippet(s) {
                            Ok(text) => text,
                            Err(e) => format!("✗ cannot be filled {e}"),
                        })
                        .collect();
                    self.overlay = Overlay::Picker(Picker {
                        title: "Insert snippet".into(),
                        items: snippets.iter().map(|s| s.name.clone()).collect(),
                        query: String::new(),
                        cursor: Default::default(),
                        purpose: PickerPurpose::Snippet { snippets, previews },
                    });
                }
            }
            JobResult::Draft { thread_key, draft } => {
                // A kept draft replaces the opening quote, not the rep's typing.
                if let (Some(draft), Some(compose)) = (draft, &mut self.compose)
                    && compose.target.draft_thread_key() == Some(thread_key.as_str())
                    && (compose.untouched() || compose.text().trim().is_empty())
                {
                    compose.draft_id = draft.id.clone();
                    compose.set_text(&draft.body);
                    compose.cc = draft.cc.join(", ");
                    self.info("Draft restored");
                }
            }
            JobResult::ReplyRoutes { thread_key, routes } => {
                if let Some(compose) = &mut self.compose
                    && compose.target.thread_key() == Some(thread_key.as_str())
                {
                    compose.set_routes(routes);
                }
            }
            JobResult::Queued {
                item,
                draft_id,
                scheduled,
            } => {
                let Some(compose) = self.compose.take() else {
                    return;
                };
                self.jobs.push(Job::DeleteDraft {
                    id: draft_id.clone(),
                });
                if self.screen() == super::action::Screen::Compose {
                    self.stack.pop();
                }
                if let Some(at) = scheduled {
                    // Not in an undo window: it waits for its time in the
                    // outbox, where `outpost outbox cancel` takes it back.
                    self.info(format!(
                        "Scheduled for {}: to {} (outbox item {}; `outpost outbox list` shows it)",
                        self.zone.show(at),
                        item.email.to.join(", "),
                        item.id
                    ));
                    return;
                }
                self.pending_send = Some(PendingSend {
                    id: item.id.clone(),
                    to: item.email.to.join(", "),
                    not_before: item.not_before,
                    state: item.state,
                    detail: None,
                    text: compose.text(),
                    headers: compose.headers(),
                    target: compose.target,
                    draft_id,
                });
                self.toast = None;
            }
            JobResult::Cancelled { id, cancelled } => {
                let Some(pending) = self.pending_send.take_if(|p| p.id == id) else {
                    return;
                };
                if cancelled {
                    // Back into the composer, exactly as it was.
                    let mut compose = ComposePane::new(
                        pending.target.clone(),
                        pending.draft_id.clone(),
                        &pending.text,
                    );
                    compose.restore(pending.headers.clone());
                    self.compose = Some(compose);
                    self.stack.push(super::action::Screen::Compose);
                    self.info("Send cancelled; the message is back in the composer");
                } else {
                    self.error("Too late to undo: the email already left");
                    self.pending_send = Some(PendingSend {
                        state: OutboxState::Sending,
                        ..pending
                    });
                }
            }
            // Quitting goes on either way: the item is durable in the
            // outbox, and the next outpost to run sends what is left.
            JobResult::SentNow(answer) => {
                let later = "it stays in the outbox and goes out when outpost next runs (the TUI, the daemon or `outpost send`)";
                let left = match answer {
                    Ok(item) => {
                        let to = item.email.to.join(", ");
                        let why = item.last_error.clone().unwrap_or_default();
                        let left = match item.state {
                            OutboxState::Sent | OutboxState::Cancelled => None,
                            OutboxState::Failed => Some(format!(
                                "the email to {to} was not sent: {why} (see `outpost outbox list`)"
                            )),
                            OutboxState::Pending | OutboxState::Sending => Some(format!(
                                "the email to {to} did not go out yet ({why}); {later}"
                            )),
                        };
                        self.apply(JobResult::OutboxItem(Box::new(Some(*item))));
                        left
                    }
                    Err(e) => {
                        self.error(format!("not sent yet: {e}"));
                        Some(format!("an email did not go out yet ({e}); {later}"))
                    }
                };
                if self.quitting_after_send {
                    self.farewell.extend(left);
                    self.quit = true;
                }
            }
            JobResult::OutboxItem(item) => {
                let Some(item) = *item else { return };
                let Some(pending) = &mut self.pending_send else {
                    return;
                };
                if pending.id != item.id {
                    return;
                }
                pending.state = item.state;
                pending.detail = item
                    .last_error
                    .clone()
                    .filter(|_| item.state == OutboxState::Sending);
                match item.state {
                    OutboxState::Sent => {
                        let to = pending.to.clone();
                        self.pending_send = None;
                        self.info(format!("Sent to {to}"));
                    }
                    OutboxState::Failed => {
                        let why = item.last_error.unwrap_or_else(|| "unknown error".into());
                        self.error(format!("Send failed: {why}"));
                        self.pending_send = None;
                    }
                    OutboxState::Cancelled => self.pending_send = None,
                    OutboxState::Pending | OutboxState::Sending => {}
                }
            }
            JobResult::SequenceNames {
                email,
                names,
                for_selection,
            } => {
                let (title, purpose) = if for_selection {
                    (
                        format!("Enroll {} leads in", self.leads.picked.len()),
                        PickerPurpose::BulkEnroll {
                            sequences: names.clone(),
                        },
                    )
                } else {
                    (
                        format!("Enroll {email} in"),
                        PickerPurpose::Enroll { email },
                    )
                };
                self.overlay = Overlay::Picker(Picker {
                    title,
                    items: names,
                    query: String::new(),
                    cursor: Default::default(),
                    purpose,
                });
            }
            JobResult::StepSaved { sequence, step } => {
                if matches!(
                    self.compose.as_ref().map(|c| &c.target),
                    Some(ComposeTarget::SequenceStep { sequence: s, step: n, .. })
                        if *s == sequence && *n == step
                ) {
                    self.compose = None;
                    if self.screen() == super::action::Screen::Compose {
                        self.stack.pop();
                    }
                }
                self.info(format!("Saved step {} of {sequence}", step + 1));
                // Also reloads the open sequence's detail.
                self.request_sequences();
            }
            JobResult::Bulk(report) => self.bulk_done(report),
            JobResult::Undone(report) => self.undone(report),
            JobResult::Done(text) => {
                self.info(text);
                self.request_lead();
                if self.sequences.loaded {
                    self.request_sequences();
                }
            }
            JobResult::Failed(text) => self.error(text),
            JobResult::SendRefused { draft_id, reason } => {
                // Only a refusal about the attachments is one Gmail avoids.
                let about_attachments = reason.to_lowercase().contains("attach");
                let hint = self
                    .compose
                    .as_ref()
                    .filter(|c| c.draft_id == draft_id && about_attachments)
                    .and_then(|c| self.other_route_hint(c));
                match hint {
                    Some(hint) => self.error(format!("{reason} — {hint}")),
                    None => self.error(reason),
                }
            }
            JobResult::EnrollRefused {
                sequence,
                email,
                reason,
            } => {
                // The CLI's way past the guard means nothing here.
                let reason = reason.trim_end_matches("; pass --force to enroll anyway");
                self.error(format!(
                    "Held back (E, {sequence} again enrolls anyway): {reason}"
                ));
                self.enroll_refused = Some((sequence, email));
            }
            JobResult::Quiet => {}
            JobResult::KnownTags(names) => self.known_tags = names,
        }
    }

    fn apply_inbox(&mut self, generation: u64, offset: usize, rows: Vec<crate::model::Thread>) {
        if generation != self.inbox.generation {
            return;
        }
        self.inbox.inflight = false;
        let got = rows.len();
        // Only a row the rep chose is followed; otherwise the top stays
        // selected, so the first screen opens on the newest replies while a
        // sync streams rows in above.
        let keep = self
            .inbox
            .selected()
            .filter(|_| self.inbox.rep_moved)
            .map(|t| t.key());
        for t in &rows {
            if let (Some(id), Some(name)) = (t.campaign_id, &t.campaign_name) {
                self.inbox.campaign_names.insert(id, name.clone());
            }
        }
        if offset == 0 {
            self.notice_new_replies(&rows);
            self.inbox.exhausted = got < self.inbox.rows.len().max(super::panes::inbox::PAGE);
            self.inbox.rows = rows;
        } else {
            self.inbox.exhausted = got < super::panes::inbox::PAGE;
            self.inbox.rows.truncate(offset);
            self.inbox.rows.extend(rows);
        }
        self.inbox.loaded = true;
        // New rows above keep the same conversation selected.
        if let Some(at) = keep.and_then(|k| self.inbox.rows.iter().position(|t| t.key() == k)) {
            self.inbox.cursor.selected = at;
        } else if !self.inbox.rep_moved {
            self.inbox.cursor.selected = 0;
        }
        self.inbox.cursor.clamp(self.inbox.rows.len());
        if self.inbox.again {
            self.inbox.again = false;
            self.request_inbox(true);
        }
    }

    /// Rings (per config) when a reply newer than any seen before arrives.
    fn notice_new_replies(&mut self, rows: &[crate::model::Thread]) {
        let newest = rows.iter().filter_map(|t| t.last_inbound_at).max();
        let Some(newest) = newest else { return };
        if let Some(seen) = self.inbox.newest_inbound
            && newest > seen
            && self.inbox.query.search.is_none()
            && let Some(t) = rows
                .iter()
                .find(|t| t.last_inbound_at == Some(newest) && t.unread)
        {
            let who = t.lead_email.clone().unwrap_or_else(|| t.account.clone());
            self.effects.push(super::app::Effect::Notify(format!(
                "New reply from {who}: {}",
                t.subject
            )));
        }
        if self.inbox.newest_inbound.is_none_or(|seen| newest > seen) {
            self.inbox.newest_inbound = Some(newest);
        }
    }

    /// A bulk change came back: what it did, and that `u` undoes it.
    fn bulk_done(&mut self, report: crate::engine::BulkReport) {
        let done = report.changed.len();
        let mut text = format!("{}: {done} changed", capitalized(&report.op.label()));
        if !report.unchanged.is_empty() {
            text.push_str(&format!(", {} already so", report.unchanged.len()));
        }
        if let Some(first) = report.failed.first() {
            text.push_str(&format!(
                ", {} not changed ({})",
                report.failed.len(),
                first.reason
            ));
        }
        if report.id.is_some() {
            let undo = self.keymap.label(super::action::Action::UndoSend);
            text.push_str(&format!(" — {undo} undoes"));
        }
        self.last_bulk = report.id;
        if report.failed.is_empty() {
            self.info(text);
        } else {
            self.error(text);
        }
        self.request_inbox(true);
    }

    /// An undo came back: what it restored, and what it left alone.
    fn undone(&mut self, report: crate::engine::UndoReport) {
        self.last_bulk = None;
        let mut text = format!(
            "Undone {}: {} restored",
            report.op.label(),
            report.restored.len()
        );
        if !report.skipped.is_empty() {
            text.push_str(&format!(
                ", {} changed since and left as they are",
                report.skipped.len()
            ));
        }
        self.info(text);
        self.request_inbox(true);
    }

    /// One change from the store's feed: schedule (coalesced) refreshes.
    pub fn on_change(&mut self, change: Change) {
        match change {
            Change::Progress(p) => {
                self.dirty = true;
                let account = p.account.clone();
                let finished = !p.running && self.sync.get(&account).is_some_and(|old| old.running);
                self.sync.insert(account, p);
                if finished {
                    self.request_inbox(true);
                }
            }
            Change::Notice { level, text } => {
                if level == "error" {
                    self.error(text);
                } else {
                    self.info(text);
                }
                self.dirty = true;
            }
            Change::Record { kind, key, .. } => match kind {
                Kind::Thread
                | Kind::Message
                | Kind::Triage
                | Kind::Tags
                | Kind::GmailLabels
                | Kind::Assignment => {
                    // A person's tags show in the leads table too.
                    if let Some(email) = key.strip_prefix("lead:") {
                        self.leads.tagged.insert(email.to_string());
                        self.request_lead_rows();
                    }
                    self.request_inbox(true);
                    if self.screen() == super::action::Screen::Thread
                        && (kind == Kind::Message || key == self.thread.key)
                        && !self.thread.inflight
                    {
                        self.thread.inflight = true;
                        self.jobs.push(Job::Thread {
                            key: self.thread.key.clone(),
                        });
                    }
                }
                Kind::Lead => {
                    self.leads.pending.insert(key);
                    self.request_lead_rows();
                    if self.screen() == super::action::Screen::Lead {
                        self.request_lead();
                    }
                }
                Kind::Activity | Kind::Enrollment | Kind::Suppression
                    if self.stack.contains(&super::action::Screen::Lead) =>
                {
                    self.request_lead();
                    if kind == Kind::Enrollment {
                        self.mark_sequences_stale();
                    }
                }
                Kind::Campaign | Kind::CampaignDay | Kind::Mailbox => {
                    if self.tab == super::action::Screen::Stats {
                        self.request_stats();
                    } else {
                        self.stats.stale = true;
                    }
                }
                Kind::Sequence | Kind::Enrollment | Kind::Execution => self.mark_sequences_stale(),
                Kind::Task if self.tab == super::action::Screen::Tasks => self.request_tasks(),
                Kind::Outbox if self.pending_send.as_ref().is_some_and(|p| p.id == key) => {
                    self.jobs.push(Job::OutboxItem { id: key });
                }
                Kind::Account => self.jobs.push(Job::Accounts),
                _ => {}
            },
        }
    }

    /// When a reply with attachments was refused on Smartlead's route and the
    /// conversation has the rep's Gmail copy: the key that switches to it.
    fn other_route_hint(&self, compose: &ComposePane) -> Option<String> {
        let current = compose.selected_route()?;
        if compose.attachments.is_empty() || current.provider != crate::model::Provider::Smartlead {
            return None;
        }
        let gmail = compose
            .routes
            .iter()
            .find(|r| r.provider == crate::model::Provider::Gmail)?;
        let key = self.keymap.label(super::action::Action::SwitchRoute);
        Some(format!(
            "{key} sends it {} instead, attachments and all",
            gmail.label()
        ))
    }

    fn mark_sequences_stale(&mut self) {
        if self.tab == super::action::Screen::Sequences {
            self.request_sequences();
        } else {
            self.sequences.stale = true;
        }
    }

    /// After the feed lagged: everything may have changed.
    pub fn refresh_all(&mut self) {
        self.perform(super::action::Action::Refresh);
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
