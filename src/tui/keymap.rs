//! Keys as data: the defaults from `ACTIONS`, overridden per action by the
//! config's `[ui.keymap]` (an override replaces that action's keys only).

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{ACTIONS, Action, Screen};

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

    /// The defaults with the config's overrides applied; names the first bad entry.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Keymap, String> {
        let mut map = Keymap::defaults();
        for (name, keys) in overrides {
            let Some(action) = Action::by_name(name) else {
                let known: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
                return Err(format!(
                    "ui.keymap: unknown action `{name}` (actions: {})",
                    known.join(", ")
                ));
            };
            let chords = keys
                .iter()
                .map(|k| KeyChord::parse(k).map_err(|e| format!("ui.keymap.{name}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            map.keys.insert(action.info().name, chords);
        }
        Ok(map)
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
        assert!(Keymap::with_overrides(&bad).unwrap_err().contains("nope"));
    }
}
