//! Delivery status notifications in a Gmail mailbox: RFC 3464
//! `multipart/report` with a `message/delivery-status` part, the
//! `X-Failed-Recipients` header, and the plain-text notices mailer daemons
//! write (Gmail's "Address not found", Postfix and Exim "550 5.1.1").
//!
//! What is read here is only what the notice says; matching it to a lead and
//! a sent message is the sync's job.

use super::encoding::decode_base64_lenient;
use super::types::{Message, MessagePart};
use crate::model::{BounceClass, smtp_status};

/// One address a notice says could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecipient {
    /// Lower-cased address.
    pub email: String,
    pub class: BounceClass,
    /// The SMTP status (`5.1.1`, `550`), when the notice gives one.
    pub status: Option<String>,
    /// The remote server's words, or the notice's headline.
    pub reason: String,
}

/// What a delivery status notification says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// May be empty when the notice names nobody; the original message's
    /// recipients are then the ones that failed.
    pub recipients: Vec<FailedRecipient>,
    /// The Message-ID of the mail that bounced (from the returned headers),
    /// with angle brackets.
    pub original_message_id: Option<String>,
    /// The recipients were read from the notice's prose (no delivery-status
    /// part, no X-Failed-Recipients): to be trusted only for a message we
    /// know we sent them.
    pub read_from_prose: bool,
}

/// Reads a message as a bounce notice; None when it is not one.
pub fn read_delivery_failure(message: &Message) -> Option<DeliveryFailure> {
    let root = message.payload.as_ref()?;
    let is_report = root
        .mime_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("multipart/report"));
    let failed_header = root.header("X-Failed-Recipients");
    let from_daemon = root.header("From").is_some_and(is_daemon_address);
    if !is_report && failed_header.is_none() && !from_daemon {
        return None;
    }
    let mut parts = Parts::default();
    collect(root, &mut parts, 0);

    let mut failure = DeliveryFailure {
        original_message_id: parts.original_message_id.clone(),
        ..DeliveryFailure::default()
    };
    let text = parts.text.join("\n");
    let headline = headline(&text);
    for status in &parts.statuses {
        failure
            .recipients
            .extend(read_delivery_status(status, &headline));
    }
    if failure.recipients.is_empty() {
        failure.read_from_prose = failed_header.is_none();
        // No machine-readable part: the header, else the addresses the text names.
        let named: Vec<String> = match failed_header {
            Some(list) => addresses_in(list),
            None => addresses_in(&text)
                .into_iter()
                .filter(|a| !is_daemon_address(a))
                .collect(),
        };
        let status = smtp_status(&text);
        let class = match &status {
            Some(s) => BounceClass::of_status(s),
            None if says_try_again(&text) => BounceClass::Soft,
            None => BounceClass::Hard,
        };
        let reason = diagnostic_line(&text).unwrap_or(headline);
        for email in named {
            if failure.recipients.iter().all(|r| r.email != email) {
                failure.recipients.push(FailedRecipient {
                    email,
                    class,
                    status: status.clone(),
                    reason: reason.clone(),
                });
            }
        }
    }
    // A daemon's note with nothing failed in it (a delivery receipt, a
    // "still trying" note about nobody we know) is not a bounce.
    if failure.recipients.is_empty() && failure.original_message_id.is_none() {
        return None;
    }
    Some(failure)
}

#[derive(Default)]
struct Parts {
    statuses: Vec<String>,
    text: Vec<String>,
    original_message_id: Option<String>,
}

const MAX_DEPTH: usize = 8;

fn collect(part: &MessagePart, out: &mut Parts, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let mime = part
        .mime_type
        .as_deref()
        .unwrap_or("text/plain")
        .to_ascii_lowercase();
    let data = || {
        part.body
            .as_ref()
            .and_then(|b| b.data.as_deref())
            .and_then(|d| decode_base64_lenient(d).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    };
    match mime.as_str() {
        "message/delivery-status" | "message/global-delivery-status" => {
            out.statuses.extend(data());
        }
        "message/rfc822" | "text/rfc822-headers" | "message/global-headers" => {
            // Gmail gives the returned message either as children (whose
            // first part carries its headers) or as one leaf of bytes.
            let from_children = part
                .parts
                .first()
                .and_then(|p| p.header("Message-ID"))
                .map(str::to_string);
            let id = from_children.or_else(|| data().and_then(|d| header_in(&d, "Message-ID")));
            if out.original_message_id.is_none() {
                out.original_message_id = id.map(|i| bracketed(&i));
            }
        }
        "text/plain" if depth <= 2 => out.text.extend(data()),
        _ => {}
    }
    if !mime.starts_with("message/rfc822") {
        for child in &part.parts {
            collect(child, out, depth + 1);
        }
    }
}

/// The per-recipient blocks of a `message/delivery-status` body.
fn read_delivery_status(body: &str, headline: &str) -> Vec<FailedRecipient> {
    let unfolded = unfold(body);
    let mut out = Vec::new();
    for block in unfolded.split("\n\n") {
        let field = |name: &str| header_in(block, name);
        let Some(recipient) = field("Final-Recipient").or_else(|| field("Original-Recipient"))
        else {
            continue;
        };
        let email = recipient
            .split_once(';')
            .map_or(recipient.as_str(), |(_, a)| a)
            .trim()
            .trim_matches(['<', '>'])
            .to_ascii_lowercase();
        if !email.contains('@') {
            continue;
        }
        let action = field("Action").unwrap_or_default().to_ascii_lowercase();
        if !matches!(action.as_str(), "failed" | "delayed" | "") {
            continue;
        }
        let status = field("Status").and_then(|s| smtp_status(&s));
        let diagnostic = field("Diagnostic-Code").map(|d| {
            d.split_once(';')
                .map_or(d.as_str(), |(_, t)| t)
                .trim()
                .to_string()
        });
        let class = match (&status, action.as_str()) {
            (_, "delayed") => BounceClass::Soft,
            (Some(s), _) => BounceClass::of_status(s),
            (None, _) => BounceClass::Hard,
        };
        out.push(FailedRecipient {
            email,
            class,
            status,
            reason: diagnostic.unwrap_or_else(|| headline.to_string()),
        });
    }
    out
}

fn unfold(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        if line.starts_with([' ', '\t']) && !line.trim().is_empty() && !out.is_empty() {
            out.push(' ');
            out.push_str(line.trim());
        } else {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line.trim_end());
        }
    }
    out
}

/// The value of the first `name:` field in a header block (up to its first blank line).
fn header_in(block: &str, name: &str) -> Option<String> {
    unfold(block.trim_start_matches(['\r', '\n']))
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
}

fn bracketed(id: &str) -> String {
    format!("<{}>", super::mime::bare_message_id(id))
}

fn is_daemon_address(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "mailer-daemon@",
        "postmaster@",
        "<mailer-daemon",
        "mail delivery",
    ]
    .iter()
    .any(|p| lower.contains(p))
        || lower.trim() == "mailer-daemon"
}

/// Every address in a text, lower-cased, in order, once each.
fn addresses_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "<>,;:()\"'[]".contains(c)) {
        let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let Some((local, domain)) = word.split_once('@') else {
            continue;
        };
        if local.is_empty() || !domain.contains('.') || domain.contains('@') {
            continue;
        }
        let email = word.to_ascii_lowercase();
        if !out.contains(&email) {
            out.push(email);
        }
    }
    out
}

/// The notice's first meaningful line ("Address not found").
fn headline(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("**") && !l.starts_with("--"))
        .unwrap_or("delivery failed")
        .to_string()
}

/// The line of a plain-text notice that quotes the remote server.
fn diagnostic_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| smtp_status(l).is_some())
        .map(str::to_string)
}

fn says_try_again(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["will retry", "will keep trying", "temporary", "delayed"]
        .iter()
        .any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::gmail::types::{Header, MessagePartBody};
    use base64::Engine;

    fn leaf(mime: &str, text: &str) -> MessagePart {
        MessagePart {
            mime_type: Some(mime.into()),
            body: Some(MessagePartBody {
                data: Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)),
                ..MessagePartBody::default()
            }),
            ..MessagePart::default()
        }
    }

    fn message(root: MessagePart, headers: &[(&str, &str)]) -> Message {
        let mut root = root;
        root.headers.extend(headers.iter().map(|(n, v)| Header {
            name: (*n).into(),
            value: (*v).into(),
        }));
        Message {
            id: Some("dsn1".into()),
            payload: Some(root),
            ..Message::default()
        }
    }

    #[test]
    fn a_multipart_report_names_each_recipient_with_its_status_and_the_original() {
        let status = "Reporting-MTA: dns; mx.google.com\r\n\r\n\
            Final-Recipient: rfc822; Ann@Gone.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
            Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach\r\n \
            does not exist.\r\n\r\n\
            Final-Recipient: rfc822; bob@full.example\r\nAction: delayed\r\nStatus: 4.2.2\r\n";
        let report = MessagePart {
            mime_type: Some("multipart/report".into()),
            parts: vec![
                leaf(
                    "text/plain",
                    "Address not found\n\nYour message wasn't delivered.",
                ),
                leaf("message/delivery-status", status),
                leaf(
                    "text/rfc822-headers",
                    "From: rep@acme.example\r\nMessage-ID: <step1@acme.example>\r\n",
                ),
            ],
            ..MessagePart::default()
        };
        let failure = read_delivery_failure(&message(
            report,
            &[(
                "From",
                "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            )],
        ))
        .expect("a bounce");
        assert_eq!(
            failure.original_message_id.as_deref(),
            Some("<step1@acme.example>")
        );
        let ann = &failure.recipients[0];
        assert_eq!(ann.email, "ann@gone.example");
        assert_eq!(ann.class, BounceClass::Hard);
        assert_eq!(ann.status.as_deref(), Some("5.1.1"));
        assert!(ann.reason.contains("does not exist"), "{}", ann.reason);
        assert_eq!(failure.recipients[1].class, BounceClass::Soft);
    }

    #[test]
    fn postfix_and_exim_plain_text_notices_are_read() {
        let postfix = "This is the mail system at host mx.acme.example.\n\n\
            <ann@gone.example>: host mx.gone.example[192.0.2.1] said: 550 5.1.1\n\
            <ann@gone.example>: Recipient address rejected: User unknown";
        let failure = read_delivery_failure(&message(
            leaf("text/plain", postfix),
            &[(
                "From",
                "MAILER-DAEMON@mx.acme.example (Mail Delivery System)",
            )],
        ))
        .expect("a bounce");
        assert_eq!(failure.recipients.len(), 1);
        assert_eq!(failure.recipients[0].email, "ann@gone.example");
        assert_eq!(failure.recipients[0].status.as_deref(), Some("5.1.1"));
        assert!(failure.read_from_prose);

        let exim = "This message was created automatically by mail delivery software.\n\n\
            A message that you sent could not be delivered to one or more of its\n\
            recipients. This is a temporary error. The following address(es) deferred:\n\n  \
            bob@full.example\n    host mx.full.example [192.0.2.2]\n    \
            452 4.2.2 Mailbox full";
        let failure = read_delivery_failure(&message(
            leaf("text/plain", exim),
            &[
                (
                    "From",
                    "Mail Delivery System <Mailer-Daemon@mx.acme.example>",
                ),
                ("X-Failed-Recipients", "bob@full.example"),
            ],
        ))
        .expect("a bounce");
        assert_eq!(failure.recipients[0].email, "bob@full.example");
        assert_eq!(failure.recipients[0].class, BounceClass::Soft);
        assert!(!failure.read_from_prose);
    }

    #[test]
    fn ordinary_mail_is_not_a_bounce() {
        let mail = message(
            leaf("text/plain", "Thanks, 550 units is fine: ann@gone.example"),
            &[("From", "Ann <ann@gone.example>")],
        );
        assert_eq!(read_delivery_failure(&mail), None);
    }
}
