//! Keys as data: the defaults from `ACTIONS`, overridden per action by the
//! config's `[ui.keymap]` (an override replaces that action's keys only).

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{ACTIONS, Action, Scope, Screen};

/// One key press, normalized so that `G` and `shift-g` are the same chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl KeyChord {
    pub fn from_event(event: &KeyEvent) -> KeyChord {
        let mut code = event.code;
        // Terminals report shift-tab as BackTab and shift-letter as the capital.
        if let KeyCode::Char(c) = code
            && event.modifiers.contains(KeyModifiers::SHIFT)
        {
            code = KeyCode::Char(c.to_ascii_uppercase());
        }
        KeyChord {
            code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// Parses `j`, `G`, `ctrl-s`, `alt-x`, `enter`, `esc`, `pagedown`, `f5`...
    pub fn parse(text: &str) -> Result<KeyChord, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = text.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                ctrl = true;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(format!("unknown key {text:?}")),
                }
            }
        };
        Ok(KeyChord { code, ctrl, alt })
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "S-Tab".to_string(),
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Backspace => "Bksp".to_string(),
            KeyCode::Delete => "Del".to_string(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("C-{base}"),
            (_, true) => format!("M-{base}"),
            _ => base,
        }
    }
}

/// A `[ui.keymap]` entry outpost cannot use, by the action it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeymapError {
    /// The `[ui.keymap]` entry to change.
    pub action: String,
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl std::fmt::Display for KeymapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ui.keymap.{}: {}; {}",
            self.action, self.message, self.hint
        )
    }
}

/// A screen on which both scopes apply, if there is one.
fn shared_screen(first: Scope, second: Scope) -> Option<Screen> {
    Screen::ALL
        .iter()
        .copied()
        .find(|&screen| first.applies(screen) && second.applies(screen))
}

#[derive(Debug, Clone)]
pub struct Keymap {
    /// Per action, its keys (in the order given).
    keys: BTreeMap<&'static str, Vec<KeyChord>>,
}

impl Keymap {
    pub fn defaults() -> Keymap {
        let keys = ACTIONS
            .iter()
            .map(|info| {
                let chords = info
                    .keys
                    .iter()
                    .map(|k| KeyChord::parse(k).expect("built-in keys parse"))
                    .collect();
                (info.name, chords)
            })
            .collect();
        Keymap { keys }
    }

    /// The defaults with the config's overrides applied; names the first bad
    /// entry. A key that would mean two actions on one screen is refused:
    /// only one of them could ever run, while help and the hint bar would
    /// still offer both.
    pub fn with_overrides(
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> Result<Keymap, KeymapError> {
        let mut map = Keymap::defaults();
        for (name, keys) in overrides {
            let Some(action) = Action::by_name(name) else {
                let known: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
                return Err(KeymapError {
                    action: name.clone(),
                    message: format!("unknown action `{name}`"),
                    hint: format!("use one of: {}", known.join(", ")),
                });
            };
            let chords = keys
                .iter()
                .map(|k| KeyChord::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|message| KeymapError {
                    action: name.clone(),
                    message,
                    hint: "write keys like `j`, `G`, `ctrl-s`, `alt-x`, `enter`, `esc`, `pagedown`, `f5`"
                        .to_string(),
                })?;
            map.keys.insert(action.info().name, chords);
        }
        map.refuse_clashes(overrides)?;
        Ok(map)
    }

    /// The first key bound to two actions that can both apply on one screen.
    /// The error names the overridden action, which is where the config
    /// needs changing.
    fn refuse_clashes(&self, overrides: &BTreeMap<String, Vec<String>>) -> Result<(), KeymapError> {
        for (i, first) in ACTIONS.iter().enumerate() {
            for second in &ACTIONS[i + 1..] {
                let Some(screen) = shared_screen(first.scope, second.scope) else {
                    continue;
                };
                let first_keys = self.keys_of(first.action);
                let Some(chord) = self
                    .keys_of(second.action)
                    .iter()
                    .find(|chord| first_keys.contains(chord))
                else {
                    continue;
                };
                let (changed, kept) = if overrides.contains_key(second.name) {
                    (second, first)
                } else {
                    (first, second)
                };
                let key = chord.label();
                return Err(KeymapError {
                    action: changed.name.to_string(),
                    message: format!(
                        "key `{key}` is bound to both `{}` and `{}` (both apply on the {} screen)",
                        first.name,
                        second.name,
                        screen.title()
                    ),
                    hint: format!(
                        "unbind it from one of them: give `{}` or `{}` other keys under [ui.keymap]",
                        changed.name, kept.name
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn keys_of(&self, action: Action) -> &[KeyChord] {
        self.keys
            .get(action.info().name)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The label of an action's first key, or "—" when unbound.
    pub fn label(&self, action: Action) -> String {
        self.keys_of(action)
            .first()
            .map(KeyChord::label)
            .unwrap_or_else(|| "—".to_string())
    }

    /// What a key means on a screen: a screen-specific action beats a global one.
    pub fn lookup(&self, screen: Screen, chord: KeyChord) -> Option<Action> {
        let mut global = None;
        for info in ACTIONS {
            if !info.scope.applies(screen) || !self.keys_of(info.action).contains(&chord) {
                continue;
            }
            if info.scope.is_specific() {
                return Some(info.action);
            }
            global.get_or_insert(info.action);
        }
        global
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_labels_keys() {
        let c = KeyChord::parse("ctrl-s").unwrap();
        assert!(c.ctrl && c.code == KeyCode::Char('s'));
        assert_eq!(c.label(), "C-s");
        assert_eq!(KeyChord::parse("G").unwrap().code, KeyCode::Char('G'));
        assert_eq!(KeyChord::parse("pagedown").unwrap().code, KeyCode::PageDown);
        assert!(KeyChord::parse("hyper-x").is_err());
    }

    #[test]
    fn shift_letters_match_capitals() {
        let event = KeyEvent::new(KeyCode::Char('g'), KeyModifiers::SHIFT);
        assert_eq!(KeyChord::from_event(&event), KeyChord::parse("G").unwrap());
    }

    #[test]
    fn overrides_replace_one_action_and_specific_beats_global() {
        let overrides = BTreeMap::from([("reply".to_string(), vec!["R".to_string()])]);
        let map = Keymap::with_overrides(&overrides).unwrap();
        let r = KeyChord::parse("r").unwrap();
        let cap = KeyChord::parse("R").unwrap();
        assert_eq!(map.lookup(Screen::Thread, r), None);
        assert_eq!(map.lookup(Screen::Thread, cap), Some(Action::Reply));
        assert_eq!(
            map.lookup(Screen::Inbox, KeyChord::parse("q").unwrap()),
            Some(Action::Quit)
        );
        // In the composer, typing `q` is text, not quit.
        assert_eq!(
            map.lookup(Screen::Compose, KeyChord::parse("q").unwrap()),
            None
        );
        let bad = BTreeMap::from([("nope".to_string(), vec!["x".to_string()])]);
        let err = Keymap::with_overrides(&bad).unwrap_err();
        assert_eq!(err.action, "nope");
        assert!(err.to_string().contains("unknown action `nope`"), "{err}");
    }

    fn keymap(entries: &[(&str, &[&str])]) -> Result<Keymap, KeymapError> {
        let overrides = entries
            .iter()
            .map(|(name, keys)| {
                (
                    name.to_string(),
                    keys.iter().map(|k| k.to_string()).collect(),
                )
            })
            .collect();
        Keymap::with_overrides(&overrides)
    }

    #[test]
    fn the_default_keys_never_mean_two_things_on_one_screen() {
        assert!(keymap(&[]).is_ok(), "{:?}", keymap(&[]).err());
    }

    #[test]
    fn a_key_bound_to_two_actions_on_one_screen_is_refused_by_name() {
        // `q` would filter the inbox while the bar still says "q quit".
        let err = keymap(&[("toggle_unread", &["q"])]).unwrap_err();
        assert_eq!(err.action, "toggle_unread", "the entry to change");
        let text = err.to_string();
        for part in ["`q`", "`quit`", "`toggle_unread`", "Inbox", "unbind"] {
            assert!(text.contains(part), "{part} in {text}");
        }
        // Two overrides that collide with each other (both screen-specific).
        let err = keymap(&[("reply", &["x"]), ("set_category", &["x"])]).unwrap_err();
        assert!(err.message.contains("`reply`") && err.message.contains("`set_category`"));
        // Giving quit another key frees `q`.
        assert!(keymap(&[("toggle_unread", &["q"]), ("quit", &["ctrl-c"])]).is_ok());
    }

    #[test]
    fn a_key_reused_on_screens_that_never_meet_is_allowed() {
        // `e` filters by event on Leads and edits a step on a Sequence; `p`
        // pauses a lead on Lead: none of them share a screen with the others.
        let map = keymap(&[("pause_lead", &["e"])]).unwrap();
        let e = KeyChord::parse("e").unwrap();
        assert_eq!(map.lookup(Screen::Lead, e), Some(Action::PauseLead));
        assert_eq!(map.lookup(Screen::Leads, e), Some(Action::CycleEvent));
        assert_eq!(map.lookup(Screen::Sequence, e), Some(Action::EditStep));
        // Compose takes typing, so a global key and a composer key never meet.
        assert!(keymap(&[("send", &["ctrl-r"])]).is_ok());
    }
}
