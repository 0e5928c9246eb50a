//! Every command the rep can give, as data: a name (used in the config's
//! `[ui.keymap]` and the `:` palette), a description (help), where it applies,
//! and its default keys. Help, palette and hint bar are all generated from it.

/// Where the rep is; decides which actions a key can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    Inbox,
    Thread,
    Compose,
    Leads,
    Lead,
    Stats,
    Sequences,
    Sequence,
    Tasks,
}

impl Screen {
    pub const ALL: [Screen; 8] = [
        Screen::Inbox,
        Screen::Thread,
        Screen::Compose,
        Screen::Leads,
        Screen::Lead,
        Screen::Stats,
        Screen::Sequences,
        Screen::Sequence,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Inbox => "Inbox",
            Screen::Thread => "Thread",
            Screen::Compose => "Compose",
            Screen::Leads => "Leads",
            Screen::Lead => "Lead",
            Screen::Stats => "Campaign stats",
            Screen::Sequences => "Sequences",
            Screen::Sequence => "Sequence",
            Screen::Tasks => "Tasks",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    Palette,
    GoInbox,
    GoLeads,
    GoStats,
    GoSequences,
    GoTasks,
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    Open,
    Back,
    Search,
    Reply,
    SetCategory,
    UndoSend,
    ToggleUnread,
    MarkUnread,
    Archive,
    NextConversation,
    PreviousConversation,
    NextUnread,
    Snooze,
    CycleAccount,
    CycleCampaign,
    CycleCategory,
    ClearFilters,
    ToggleHeaders,
    ToggleQuoted,
    SortNext,
    SortReverse,
    CycleEvent,
    ComposeNew,
    Enroll,
    PauseLead,
    ResumeLead,
    Suppress,
    ToggleDefinitions,
    PauseResume,
    EditStep,
    Refresh,
    SyncNow,
    Send,
    ExternalEditor,
    Redraw,
    InsertVariable,
    SwitchRoute,
    KeepDraft,
    TaskDone,
    TaskSkip,
    // The composer a rep needs: reply-all, forward, header fields, send
    // later, attachments and snippets.
    ReplyAll,
    Forward,
    NextField,
    PreviousField,
    SendLater,
    Attach,
    RemoveAttachment,
    InsertSnippet,
    ToggleSelect,
    SelectRange,
    SelectAll,
    ClearSelection,
    MarkRead,
    Attachments,
    EnrollSelected,
    PauseSelected,
    Tag,
    Assign,
}

/// Where an action can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Anywhere except while typing in the composer.
    Global,
    Only(&'static [Screen]),
}

pub struct ActionInfo {
    pub action: Action,
    /// The config's and the palette's name (`set_category`): stable, typed.
    pub name: &'static str,
    /// What the rep reads next to the key in the bar, help and palette.
    pub label: &'static str,
    pub description: &'static str,
    pub scope: Scope,
    pub keys: &'static [&'static str],
    /// Shown in the hint bar when it applies.
    pub hint: bool,
}

use Screen::*;

const LISTS: &[Screen] = &[
    Inbox, Leads, Stats, Sequences, Sequence, Tasks, Thread, Lead,
];
const EVERY_SCREEN: &[Screen] = &[
    Inbox, Leads, Stats, Sequences, Sequence, Tasks, Thread, Lead, Compose,
];

macro_rules! actions {
    ($( $action:ident, $name:literal, $label:literal, $desc:literal, $scope:expr, [$($key:literal),*], $hint:literal; )*) => {
        pub const ACTIONS: &[ActionInfo] = &[
            $( ActionInfo { action: Action::$action, name: $name, label: $label, description: $desc,
                scope: $scope, keys: &[$($key),*], hint: $hint }, )*
        ];
    };
}

actions! {
    Quit, "quit", "quit", "Quit outpost", Scope::Global, ["q", "ctrl-c"], true;
    Help, "help", "help", "Show every key", Scope::Global, ["?"], true;
    Palette, "palette", "palette", "Command palette (fuzzy search over every action)", Scope::Global, [":"], true;
    GoInbox, "inbox", "go to inbox", "Go to the inbox", Scope::Global, ["1"], false;
    GoLeads, "leads", "go to leads", "Go to the leads table", Scope::Global, ["2"], false;
    GoStats, "stats", "go to stats", "Go to campaign stats", Scope::Global, ["3"], false;
    GoSequences, "sequences", "go to sequences", "Go to sequences", Scope::Global, ["4"], false;
    GoTasks, "tasks", "go to tasks", "Go to tasks due today and overdue", Scope::Global, ["5"], false;
    Down, "down", "down", "Move down", Scope::Only(LISTS), ["j", "down"], false;
    Up, "up", "up", "Move up", Scope::Only(LISTS), ["k", "up"], false;
    Top, "top", "top", "Go to the top", Scope::Only(LISTS), ["g", "home"], false;
    Bottom, "bottom", "bottom", "Go to the bottom", Scope::Only(LISTS), ["G", "end"], false;
    PageDown, "page_down", "page down", "Page down", Scope::Only(LISTS), ["ctrl-d", "pagedown"], false;
    PageUp, "page_up", "page up", "Page up", Scope::Only(LISTS), ["ctrl-u", "pageup"], false;
    Open, "open", "open", "Open the selected item", Scope::Only(&[Inbox, Leads, Sequences, Stats, Tasks]), ["enter"], true;
    Back, "back", "back", "Go back", Scope::Only(&[Thread, Lead, Sequence]), ["esc"], true;
    Search, "search", "search", "Search or filter as you type", Scope::Only(&[Inbox, Leads]), ["/"], true;
    Reply, "reply", "reply", "Reply to the conversation", Scope::Only(&[Inbox, Thread]), ["r"], true;
    SetCategory, "set_category", "category", "Set the reply category (synced to Smartlead)", Scope::Only(&[Inbox, Thread]), ["c"], true;
    UndoSend, "undo_send", "undo", "Undo: take back the email in its undo window, else the last bulk change", Scope::Global, ["u"], false;
    NextConversation, "next_conversation", "next conversation", "Open the next conversation", Scope::Only(&[Thread]), ["J"], false;
    PreviousConversation, "previous_conversation", "previous conversation", "Open the previous conversation", Scope::Only(&[Thread]), ["K"], false;
    NextUnread, "next_unread", "next unread", "Open the next unread conversation", Scope::Only(&[Inbox, Thread]), ["n"], true;
    Archive, "archive", "done", "Mark done: out of the inbox until they write again", Scope::Only(&[Inbox, Thread]), ["e"], true;
    Snooze, "snooze", "snooze", "Snooze until a time you pick (a reply wakes it early)", Scope::Only(&[Inbox, Thread]), ["s"], true;
    MarkUnread, "mark_unread", "mark unread", "Mark the conversation unread (here and in Gmail)", Scope::Only(&[Inbox, Thread]), ["N"], false;
    ToggleUnread, "toggle_unread", "unread only", "Show only unread conversations", Scope::Only(&[Inbox]), ["U"], true;
    CycleAccount, "filter_account", "account filter", "Filter by account (cycle)", Scope::Only(&[Inbox]), ["a"], false;
    CycleCampaign, "filter_campaign", "campaign filter", "Filter by campaign (pick from a list)", Scope::Only(&[Inbox, Leads]), ["C"], false;
    CycleCategory, "filter_category", "category filter", "Filter by category (pick from a list)", Scope::Only(&[Inbox]), ["f"], false;
    ClearFilters, "clear_filters", "clear filters", "Clear every filter", Scope::Only(&[Inbox, Leads]), ["x"], false;
    ToggleHeaders, "toggle_headers", "headers", "Show or hide message headers", Scope::Only(&[Thread]), ["h"], true;
    ToggleQuoted, "toggle_quoted", "quoted text", "Unfold or fold quoted text", Scope::Only(&[Thread]), ["z"], true;
    SortNext, "sort", "sort", "Sort by the next column", Scope::Only(&[Leads, Stats]), ["s"], true;
    SortReverse, "sort_reverse", "reverse sort", "Reverse the sort", Scope::Only(&[Leads, Stats]), ["S"], false;
    CycleEvent, "filter_event", "event filter", "Filter by last interaction type (cycle)", Scope::Only(&[Leads]), ["e"], false;
    ComposeNew, "compose", "new email", "Write a new email to the lead", Scope::Only(&[Leads, Lead]), ["m"], true;
    Enroll, "enroll", "enroll", "Enroll the lead in a sequence", Scope::Only(&[Lead]), ["E"], true;
    PauseLead, "pause_lead", "pause lead", "Pause the lead's active enrollments", Scope::Only(&[Lead]), ["p"], true;
    ResumeLead, "resume_lead", "resume lead", "Resume the lead's paused enrollments", Scope::Only(&[Lead]), ["R"], true;
    Suppress, "suppress", "suppress", "Suppress the lead (never email again)", Scope::Only(&[Lead]), ["X"], true;
    ToggleDefinitions, "definitions", "definitions", "Show how each rate is computed", Scope::Only(&[Stats]), ["d"], true;
    PauseResume, "pause_resume", "pause/resume", "Pause or resume the sequence", Scope::Only(&[Sequences, Sequence]), ["p"], true;
    EditStep, "edit_step", "edit step", "Edit an email step's subject and body (Ctrl-S saves)", Scope::Only(&[Sequence]), ["e"], true;
    Refresh, "refresh", "refresh", "Reload from the cache", Scope::Global, ["ctrl-r"], false;
    SyncNow, "sync", "sync now", "Sync every account now", Scope::Global, [], false;
    Send, "send", "send", "Send (with an undo window)", Scope::Only(&[Compose]), ["ctrl-s"], true;
    ExternalEditor, "editor", "editor", "Edit in $EDITOR", Scope::Only(&[Compose]), ["ctrl-e"], true;
    Redraw, "redraw", "redraw", "Redraw the whole screen", Scope::Only(EVERY_SCREEN), ["ctrl-l"], false;
    InsertVariable, "insert_variable", "insert variable", "Insert a template variable", Scope::Only(&[Compose]), ["ctrl-t"], true;
    SwitchRoute, "switch_route", "switch route", "Switch the reply's route (Smartlead or your Gmail)", Scope::Only(&[Compose]), ["ctrl-o"], true;
    KeepDraft, "keep_draft", "keep draft", "Close, keeping the draft", Scope::Only(&[Compose]), ["esc"], true;
    TaskDone, "task_done", "task done", "Mark the task done (its sequence's next step follows)", Scope::Only(&[Tasks]), ["d"], true;
    TaskSkip, "task_skip", "skip task", "Skip the task (its sequence's next step follows)", Scope::Only(&[Tasks]), ["s"], true;
    ReplyAll, "reply_all", "reply all", "Reply to everyone on the message answered", Scope::Only(&[Inbox, Thread]), ["A"], true;
    Forward, "forward", "forward", "Forward the conversation to someone new (Fwd:, the original below)", Scope::Only(&[Inbox, Thread]), ["F"], true;
    NextField, "next_field", "next field", "Move to the next header field (To, Cc, Bcc) or the body", Scope::Only(&[Compose]), ["tab"], true;
    PreviousField, "previous_field", "previous field", "Move to the previous header field or the body", Scope::Only(&[Compose]), ["backtab"], false;
    SendLater, "send_later", "send later", "Send at a time you pick (quick times or a typed date)", Scope::Only(&[Compose]), ["alt-l"], true;
    Attach, "attach", "attach file", "Attach a file (type its path; ~ works)", Scope::Only(&[Compose]), ["alt-a"], true;
    RemoveAttachment, "remove_attachment", "detach file", "Remove an attachment from the email", Scope::Only(&[Compose]), ["alt-d"], false;
    InsertSnippet, "insert_snippet", "insert snippet", "Insert a canned reply from the snippets folder (fuzzy picker)", Scope::Only(&[Compose]), ["alt-s"], true;
    ToggleSelect, "toggle_select", "select", "Select the row (or not) for a bulk change, and move down", Scope::Only(&[Inbox, Leads]), ["space"], false;
    SelectRange, "select_range", "select range", "Start (or end) selecting the rows the cursor moves over", Scope::Only(&[Inbox]), ["v"], false;
    SelectAll, "select_all", "select all", "Select every conversation the filters and search match", Scope::Only(&[Inbox]), ["*"], false;
    ClearSelection, "clear_selection", "clear selection", "Clear the selection", Scope::Only(&[Inbox, Leads]), ["esc"], false;
    Attachments, "attachments", "attachments", "Save an attachment to Downloads, or open it ($OPENER, else xdg-open/open)", Scope::Only(&[Thread]), ["o"], true;
    EnrollSelected, "enroll_selected", "enroll", "Enroll the selected leads (or the lead under the cursor) in a sequence", Scope::Only(&[Leads]), ["E"], true;
    PauseSelected, "pause_selected", "pause", "Pause the selected leads' (or the lead's) active enrollments", Scope::Only(&[Leads]), ["p"], true;
    MarkRead, "mark_read", "mark read", "Mark read (here and in Gmail)", Scope::Only(&[Inbox]), ["M"], false;
    Tag, "tag", "tag", "Add or remove tags (+hot -later; Tab completes)", Scope::Only(&[Inbox, Thread, Leads, Lead]), ["t"], true;
    Assign, "assign", "assign", "Assign the conversation to a user (pick from the configured users)", Scope::Only(&[Inbox, Thread]), ["@"], true;
}

impl Action {
    pub fn info(self) -> &'static ActionInfo {
        ACTIONS
            .iter()
            .find(|i| i.action == self)
            .expect("every action is listed in ACTIONS")
    }

    pub fn by_name(name: &str) -> Option<Action> {
        ACTIONS.iter().find(|i| i.name == name).map(|i| i.action)
    }
}

impl Scope {
    pub fn applies(self, screen: Screen) -> bool {
        match self {
            // The composer takes typing; only its own actions and quit apply.
            Scope::Global => screen != Screen::Compose,
            Scope::Only(screens) => screens.contains(&screen),
        }
    }

    /// Specific bindings win over global ones on the same key.
    pub fn is_specific(self) -> bool {
        matches!(self, Scope::Only(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_action_is_listed() {
        let mut names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        assert_eq!(Action::by_name("reply"), Some(Action::Reply));
        assert_eq!(Action::KeepDraft.info().name, "keep_draft");
    }
}
