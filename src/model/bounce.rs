//! Hard and soft bounces. A bounce event keeps its SMTP status in its
//! `detail` ("hard bounce 5.1.1: …"); every reader (the sequences, the
//! mailbox bounce rate, the timeline) classifies it with [`BounceClass::of`],
//! so a Gmail delivery status notification and a Smartlead EMAIL_BOUNCE are
//! judged the same way.

use serde::{Deserialize, Serialize};

/// Whether a bounce is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceClass {
    /// 5.x.x: the address does not take mail; it is suppressed everywhere.
    Hard,
    /// 4.x.x: a passing failure the provider retries; recorded, not suppressed.
    Soft,
}

const HARD_PREFIX: &str = "hard bounce";
const SOFT_PREFIX: &str = "soft bounce";

impl BounceClass {
    pub fn as_str(self) -> &'static str {
        match self {
            BounceClass::Hard => "hard",
            BounceClass::Soft => "soft",
        }
    }

    /// The class of a bounce event from its detail. A detail outpost wrote
    /// says so first; any other text (a provider's bounce message) is judged
    /// by the first SMTP status in it. Without a status the bounce is hard:
    /// providers report a bounce once they gave up.
    pub fn of(detail: Option<&str>) -> BounceClass {
        let Some(text) = detail else {
            return BounceClass::Hard;
        };
        let lower = text.trim_start().to_ascii_lowercase();
        if lower.starts_with(SOFT_PREFIX) {
            return BounceClass::Soft;
        }
        if lower.starts_with(HARD_PREFIX) {
            return BounceClass::Hard;
        }
        match smtp_status(text) {
            Some(status) if status.starts_with('4') => BounceClass::Soft,
            _ => BounceClass::Hard,
        }
    }

    /// The class an SMTP status (`5.1.1`, `550`) stands for.
    pub fn of_status(status: &str) -> BounceClass {
        if status.trim_start().starts_with('4') {
            BounceClass::Soft
        } else {
            BounceClass::Hard
        }
    }
}

/// The detail a bounce event carries: class, status and the reason given.
pub fn bounce_detail(class: BounceClass, status: Option<&str>, reason: &str) -> String {
    let prefix = match class {
        BounceClass::Hard => HARD_PREFIX,
        BounceClass::Soft => SOFT_PREFIX,
    };
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    match (status, reason.is_empty()) {
        (Some(s), true) => format!("{prefix} {s}"),
        (Some(s), false) => format!("{prefix} {s}: {reason}"),
        (None, true) => prefix.to_string(),
        (None, false) => format!("{prefix}: {reason}"),
    }
}

/// The first SMTP status in a text: an enhanced status code (`5.1.1`, RFC
/// 3463) when there is one, else a reply code (`550`, `452`).
pub fn smtp_status(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| !w.is_empty())
        .collect();
    let enhanced = words.iter().find_map(|w| {
        let w = w.trim_end_matches('.');
        let parts: Vec<&str> = w.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "4" | "5")
            && (1..=3).contains(&parts[1].len())
            && (1..=3).contains(&parts[2].len());
        ok.then(|| w.to_string())
    });
    enhanced.or_else(|| {
        words.iter().find_map(|w| {
            let ok = w.len() == 3
                && matches!(w.as_bytes()[0], b'4' | b'5')
                && w.bytes().all(|b| b.is_ascii_digit());
            ok.then(|| w.to_string())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_found_in_mailer_daemon_text() {
        assert_eq!(
            smtp_status("550 5.1.1 <ann@x.example>: Recipient address rejected").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            smtp_status("452 mailbox full, try later").as_deref(),
            Some("452")
        );
        assert_eq!(smtp_status("Address not found"), None);
        // Dates and versions are not statuses.
        assert_eq!(smtp_status("on 2026-03-02 at 10.30.45"), None);
    }

    #[test]
    fn classes_follow_the_status_and_outposts_own_prefix() {
        let hard = bounce_detail(BounceClass::Hard, Some("5.1.1"), "Address  not found");
        assert_eq!(hard, "hard bounce 5.1.1: Address not found");
        assert_eq!(BounceClass::of(Some(&hard)), BounceClass::Hard);
        let soft = bounce_detail(BounceClass::Soft, Some("4.2.2"), "Mailbox full");
        assert_eq!(BounceClass::of(Some(&soft)), BounceClass::Soft);
        assert_eq!(
            BounceClass::of(Some("421 4.7.0 Try again later")),
            BounceClass::Soft
        );
        assert_eq!(
            BounceClass::of(Some("550 5.1.1 user unknown")),
            BounceClass::Hard
        );
        assert_eq!(BounceClass::of(Some("Undeliverable")), BounceClass::Hard);
        assert_eq!(BounceClass::of(None), BounceClass::Hard);
    }
}
