//! Small building blocks shared by the panes.

pub mod cursor;
pub mod fuzzy;
pub mod overlays;
pub mod status;

use ratatui::layout::{Constraint, Flex, Layout, Rect};

/// A centred rectangle of at most `width` x `height` inside `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// Cuts text to `max` characters with an ellipsis.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cuts text to `max` characters in the middle, keeping its end: campaign
/// names that share a long prefix ("… Invite #1", "… Invite #2") stay
/// distinguishable.
pub fn clip_middle(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    if max < 2 {
        return clip(text, max);
    }
    let tail = (max - 1) / 2;
    let head = max - 1 - tail;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(count - tail));
    out
}

/// A count in at most `width` columns: whole when it fits ("1067"), else
/// abbreviated ("1.1k", "12k", "3.4M") — never cut to wrong digits.
pub fn fit_count(n: u64, width: usize) -> String {
    let whole = n.to_string();
    if whole.len() <= width {
        return whole;
    }
    let (value, unit) = match n {
        0..1_000_000 => (n as f64 / 1_000.0, "k"),
        1_000_000..1_000_000_000 => (n as f64 / 1_000_000.0, "M"),
        _ => (n as f64 / 1_000_000_000.0, "G"),
    };
    let one_decimal = format!("{value:.1}{unit}");
    if value < 10.0 && one_decimal.len() <= width && !one_decimal.starts_with("10.") {
        one_decimal
    } else {
        format!("{value:.0}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_clipping_keeps_the_distinguishing_end() {
        let a = clip_middle("Healthcare Ops Leads Webinar Invite #1", 20);
        let b = clip_middle("Healthcare Ops Leads Webinar Invite #2", 20);
        assert_eq!(a.chars().count(), 20);
        assert_ne!(a, b);
        assert!(a.ends_with("Invite #1"), "{a}");
        assert_eq!(clip_middle("short", 20), "short");
    }

    #[test]
    fn counts_abbreviate_instead_of_losing_digits() {
        assert_eq!(fit_count(1067, 4), "1067");
        assert_eq!(fit_count(1067, 3), "1k");
        assert_eq!(fit_count(1067, 5), "1067");
        assert_eq!(fit_count(12_345, 4), "12k");
        assert_eq!(fit_count(1_240_000, 5), "1.2M");
        assert_eq!(fit_count(9_990, 3), "10k");
    }
}
