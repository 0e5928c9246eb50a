//! Colours by slot. The config's `[ui.theme]` overrides slots by name;
//! `NO_COLOR` drops every colour and keeps only bold/reverse/underline.

use std::collections::BTreeMap;

use ratatui::style::{Color, Modifier, Style};

pub const SLOTS: &[&str] = &[
    "accent", "unread", "muted", "error", "ok", "warn", "selected", "border", "badge",
];

#[derive(Debug, Clone)]
pub struct Theme {
    colors: BTreeMap<&'static str, Color>,
    no_color: bool,
}

impl Theme {
    pub fn new(overrides: &BTreeMap<String, Color>, no_color: bool) -> Result<Theme, String> {
        let mut colors: BTreeMap<&'static str, Color> = BTreeMap::from([
            ("accent", Color::Cyan),
            ("unread", Color::Yellow),
            ("muted", Color::DarkGray),
            ("error", Color::Red),
            ("ok", Color::Green),
            ("warn", Color::Magenta),
            ("selected", Color::Blue),
            ("border", Color::Gray),
            ("badge", Color::LightBlue),
        ]);
        for (name, color) in overrides {
            let Some(slot) = SLOTS.iter().find(|s| **s == name.as_str()) else {
                return Err(format!(
                    "ui.theme: unknown slot `{name}` (slots: {})",
                    SLOTS.join(", ")
                ));
            };
            colors.insert(slot, *color);
        }
        Ok(Theme { colors, no_color })
    }

    /// True when the environment asks for no colour (any non-empty NO_COLOR).
    pub fn no_color_from_env() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }

    fn fg(&self, slot: &str) -> Style {
        match (self.no_color, self.colors.get(slot)) {
            (false, Some(c)) => Style::default().fg(*c),
            _ => Style::default(),
        }
    }

    pub fn accent(&self) -> Style {
        self.fg("accent").add_modifier(Modifier::BOLD)
    }
    pub fn unread(&self) -> Style {
        self.fg("unread").add_modifier(Modifier::BOLD)
    }
    pub fn muted(&self) -> Style {
        self.fg("muted")
    }
    pub fn error(&self) -> Style {
        self.fg("error").add_modifier(Modifier::BOLD)
    }
    pub fn ok(&self) -> Style {
        self.fg("ok")
    }
    pub fn warn(&self) -> Style {
        self.fg("warn")
    }
    pub fn border(&self) -> Style {
        self.fg("border")
    }
    pub fn badge(&self) -> Style {
        self.fg("badge")
    }
    /// The selected row: reversed, which reads without colour too.
    pub fn selected(&self) -> Style {
        match (self.no_color, self.colors.get("selected")) {
            (false, Some(c)) => Style::default()
                .bg(*c)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            _ => Style::default().add_modifier(Modifier::REVERSED),
        }
    }
    pub fn color(&self, slot: &str) -> Option<Color> {
        (!self.no_color)
            .then(|| self.colors.get(slot).copied())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_strips_colours_but_keeps_selection_visible() {
        let theme = Theme::new(&BTreeMap::new(), true).unwrap();
        assert_eq!(theme.accent().fg, None);
        assert!(theme.selected().add_modifier.contains(Modifier::REVERSED));
        let bad = BTreeMap::from([("nope".to_string(), Color::Red)]);
        assert!(Theme::new(&bad, false).is_err());
    }
}
