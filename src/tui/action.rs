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
    Suppress,
    ToggleDefinitions,
    PauseResume,
    EditStep,
    Refresh,
    Send,
    ExternalEditor,
    InsertVariable,
    SwitchRoute,
    KeepDraft,
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
    pub name: &'static str,
    pub description: &'static str,
    pub scope: Scope,
    pub keys: &'static [&'static str],
    /// Shown in the hint bar when it applies.
    pub hint: bool,
}

use Screen::*;

const LISTS: &[Screen] = &[Inbox, Leads, Stats, Sequences, Sequence, Thread, Lead];

macro_rules! actions {
    ($( $action:ident, $name:literal, $desc:literal, $scope:expr, [$($key:literal),*], $hint:literal; )*) => {
        pub const ACTIONS: &[ActionInfo] = &[
            $( ActionInfo { action: Action::$action, name: $name, description: $desc,
                scope: $scope, keys: &[$($key),*], hint: $hint }, )*
        ];
    };
}

actions! {
    Quit, "quit", "Quit outpost", Scope::Global, ["q", "ctrl-c"], true;
    Help, "help", "Show every key", Scope::Global, ["?"], true;
    Palette, "palette", "Command palette (fuzzy search over every action)", Scope::Global, [":"], true;
    GoInbox, "inbox", "Go to the inbox", Scope::Global, ["1"], false;
    GoLeads, "leads", "Go to the leads table", Scope::Global, ["2"], false;
    GoStats, "stats", "Go to campaign stats", Scope::Global, ["3"], false;
    GoSequences, "sequences", "Go to sequences", Scope::Global, ["4"], false;
    Down, "down", "Move down", Scope::Only(LISTS), ["j", "down"], false;
    Up, "up", "Move up", Scope::Only(LISTS), ["k", "up"], false;
    Top, "top", "Go to the top", Scope::Only(LISTS), ["g", "home"], false;
    Bottom, "bottom", "Go to the bottom", Scope::Only(LISTS), ["G", "end"], false;
    PageDown, "page_down", "Page down", Scope::Only(LISTS), ["ctrl-d", "pagedown"], false;
    PageUp, "page_up", "Page up", Scope::Only(LISTS), ["ctrl-u", "pageup"], false;
    Open, "open", "Open the selected item", Scope::Only(&[Inbox, Leads, Sequences, Stats]), ["enter"], true;
    Back, "back", "Go back", Scope::Only(&[Thread, Lead, Sequence]), ["esc"], true;
    Search, "search", "Search or filter as you type", Scope::Only(&[Inbox, Leads]), ["/"], true;
    Reply, "reply", "Reply to the conversation", Scope::Only(&[Inbox, Thread]), ["r"], true;
    SetCategory, "set_category", "Set the reply category (synced to Smartlead)", Scope::Only(&[Inbox, Thread]), ["c"], true;
    UndoSend, "undo_send", "Take back the email being sent (during the undo window)", Scope::Global, ["u"], false;
    MarkUnread, "mark_unread", "Mark the conversation unread (here and in Gmail)", Scope::Only(&[Inbox, Thread]), ["N"], false;
    ToggleUnread, "toggle_unread", "Show only unread conversations", Scope::Only(&[Inbox]), ["U"], true;
    CycleAccount, "filter_account", "Filter by account (cycle)", Scope::Only(&[Inbox]), ["a"], false;
    CycleCampaign, "filter_campaign", "Filter by campaign (cycle)", Scope::Only(&[Inbox, Leads]), ["C"], false;
    CycleCategory, "filter_category", "Filter by category (cycle)", Scope::Only(&[Inbox]), ["f"], false;
    ClearFilters, "clear_filters", "Clear every filter", Scope::Only(&[Inbox, Leads]), ["x"], false;
    ToggleHeaders, "toggle_headers", "Show or hide message headers", Scope::Only(&[Thread]), ["h"], true;
    ToggleQuoted, "toggle_quoted", "Unfold or fold quoted text", Scope::Only(&[Thread]), ["z"], true;
    SortNext, "sort", "Sort by the next column", Scope::Only(&[Leads, Stats]), ["s"], true;
    SortReverse, "sort_reverse", "Reverse the sort", Scope::Only(&[Leads, Stats]), ["S"], false;
    CycleEvent, "filter_event", "Filter by last interaction type (cycle)", Scope::Only(&[Leads]), ["e"], false;
    ComposeNew, "compose", "Write a new email to the lead", Scope::Only(&[Leads, Lead]), ["m"], true;
    Enroll, "enroll", "Enroll the lead in a sequence", Scope::Only(&[Lead]), ["E"], true;
    PauseLead, "pause_lead", "Pause the lead's active enrollments", Scope::Only(&[Lead]), ["p"], true;
    Suppress, "suppress", "Suppress the lead (never email again)", Scope::Only(&[Lead]), ["X"], true;
    ToggleDefinitions, "definitions", "Show how each rate is computed", Scope::Only(&[Stats]), ["d"], true;
    PauseResume, "pause_resume", "Pause or resume the sequence", Scope::Only(&[Sequences, Sequence]), ["p"], true;
    EditStep, "edit_step", "Edit an email step's subject and body (Ctrl-S saves)", Scope::Only(&[Sequence]), ["e"], true;
    Refresh, "refresh", "Reload from the cache", Scope::Global, ["ctrl-r"], false;
    Send, "send", "Send (with an undo window)", Scope::Only(&[Compose]), ["ctrl-s"], true;
    ExternalEditor, "editor", "Edit in $EDITOR", Scope::Only(&[Compose]), ["ctrl-e"], true;
    InsertVariable, "insert_variable", "Insert a template variable", Scope::Only(&[Compose]), ["ctrl-t"], true;
    SwitchRoute, "switch_route", "Switch the reply's route (Smartlead or your Gmail)", Scope::Only(&[Compose]), ["ctrl-o"], true;
    KeepDraft, "keep_draft", "Close, keeping the draft", Scope::Only(&[Compose]), ["esc"], true;
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
