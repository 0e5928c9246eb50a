//! Bounce notices as Gmail files them: a `multipart/report` (RFC 3464) from
//! `mailer-daemon@googlemail.com` with `X-Failed-Recipients`, a human part
//! ("Address not found"), a `message/delivery-status` part and the returned
//! message's headers, in the thread of the mail that bounced.
//!
//! Which addresses bounce is a rule anyone can use from a CSV: a local part
//! starting `bounce` does not exist (5.1.1, hard); one starting `full` has a
//! full mailbox (4.2.2, soft).

use chrono::{DateTime, Utc};

/// How a recipient's server refuses mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKind {
    /// 5.1.1: the address does not exist.
    Hard,
    /// 4.2.2: the mailbox is full; Gmail keeps trying.
    Soft,
}

impl BounceKind {
    fn status(self) -> &'static str {
        match self {
            BounceKind::Hard => "5.1.1",
            BounceKind::Soft => "4.2.2",
        }
    }

    fn diagnostic(self) -> &'static str {
        match self {
            BounceKind::Hard => {
                "550-5.1.1 The email account that you tried to reach does not exist. 550 5.1.1 Please try double-checking the recipient's email address for typos."
            }
            BounceKind::Soft => {
                "452-4.2.2 The recipient's inbox is out of storage space. 452 4.2.2 Please direct the recipient to try again later."
            }
        }
    }
}

/// How mail to `email` fares in the sandbox.
pub fn bounce_kind_for(email: &str) -> Option<BounceKind> {
    let local = email.split('@').next()?.to_ascii_lowercase();
    if local.starts_with("bounce") {
        Some(BounceKind::Hard)
    } else if local.starts_with("full") {
        Some(BounceKind::Soft)
    } else {
        None
    }
}

/// The notice for `recipient` about the message whose top-level headers are
/// `original` (name, value), as Gmail writes it.
pub fn notice_raw(
    mailbox: &str,
    recipient: &str,
    kind: BounceKind,
    original: &[(String, String)],
    at: DateTime<Utc>,
) -> Vec<u8> {
    let boundary = format!("00000000000bounce{:x}", at.timestamp_millis());
    let header = |name: &str| {
        original
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let original_id = header("Message-ID");
    let domain = recipient.rsplit_once('@').map_or("", |(_, d)| d);
    let (headline, explanation) = match kind {
        BounceKind::Hard => (
            "Address not found",
            format!(
                "Your message wasn't delivered to {recipient} because the address couldn't be found, or is unable to receive mail."
            ),
        ),
        BounceKind::Soft => (
            "Message not delivered",
            format!(
                "There was a temporary problem delivering your message to {recipient}. Gmail will retry for 46 more hours. You'll be notified if the delivery fails permanently."
            ),
        ),
    };
    let returned: String = original
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let mut raw = String::new();
    raw.push_str(&format!(
        "Delivered-To: {mailbox}\r\n\
         Return-Path: <>\r\n\
         From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\n\
         To: {mailbox}\r\n\
         X-Failed-Recipients: {recipient}\r\n\
         Subject: Delivery Status Notification ({})\r\n\
         Message-ID: <bounce-{:x}.{}@mx.google.com>\r\n\
         Date: {}\r\n",
        if kind == BounceKind::Hard {
            "Failure"
        } else {
            "Delay"
        },
        at.timestamp_millis(),
        recipient.replace('@', "="),
        at.to_rfc2822(),
    ));
    if let Some(id) = &original_id {
        raw.push_str(&format!("References: {id}\r\nIn-Reply-To: {id}\r\n"));
    }
    raw.push_str(&format!(
        "MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; boundary=\"{boundary}\"; report-type=delivery-status\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=\"UTF-8\"\r\n\
         \r\n\
         ** {headline} **\r\n\
         \r\n\
         {explanation}\r\n\
         \r\n\
         The response from the remote server was:\r\n\
         {}\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; googlemail.com\r\n\
         Arrival-Date: {}\r\n\
         \r\n\
         Final-Recipient: rfc822; {recipient}\r\n\
         Action: {}\r\n\
         Status: {}\r\n\
         Remote-MTA: dns; mx.{domain}\r\n\
         Diagnostic-Code: smtp; {}\r\n\
         Last-Attempt-Date: {}\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         {returned}\
         \r\n\
         --{boundary}--\r\n",
        kind.diagnostic(),
        at.to_rfc2822(),
        if kind == BounceKind::Hard {
            "failed"
        } else {
            "delayed"
        },
        kind.status(),
        kind.diagnostic(),
        at.to_rfc2822(),
    ));
    raw.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_read_from_the_local_part() {
        assert_eq!(
            bounce_kind_for("bounce.ann@acme.example"),
            Some(BounceKind::Hard)
        );
        assert_eq!(
            bounce_kind_for("Full-bob@acme.example"),
            Some(BounceKind::Soft)
        );
        assert_eq!(bounce_kind_for("ann@bounce.example"), None);
    }

    #[test]
    fn a_notice_parses_as_a_report_with_the_original_headers() {
        let original = vec![
            ("Subject".to_string(), "Hello".to_string()),
            ("Message-ID".to_string(), "<step1@acme.example>".to_string()),
        ];
        let at = DateTime::from_timestamp(1_770_000_000, 0).unwrap();
        let raw = notice_raw(
            "rep@acme.example",
            "bounce@x.example",
            BounceKind::Hard,
            &original,
            at,
        );
        let parsed = super::super::mime::parse_message(&raw, "t").unwrap();
        assert_eq!(parsed.payload["mimeType"], "multipart/report");
        let parts = parsed.payload["parts"].as_array().unwrap();
        let kinds: Vec<&str> = parts
            .iter()
            .map(|p| p["mimeType"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "text/plain",
                "message/delivery-status",
                "text/rfc822-headers"
            ]
        );
        assert_eq!(
            parsed.header("X-Failed-Recipients"),
            Some("bounce@x.example")
        );
    }
}
