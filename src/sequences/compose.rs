//! Turning a rendered step into an outbox item: threading for follow-ups,
//! unsubscribe headers and link, open pixel and click rewriting.

use chrono::{DateTime, Utc};
use url::Url;

use super::idempotency_key;
use super::tokens::{TokenClaims, TokenKind, TrackingKey};
use crate::engine::{new_message_id, reply_subject};
use crate::model::*;

/// What the compose step needs beyond the sequence and enrollment.
pub struct ComposeInput<'a> {
    pub sequence: &'a Sequence,
    pub enrollment: &'a Enrollment,
    pub step: usize,
    pub same_thread: bool,
    pub from: String,
    pub mailbox: String,
    pub subject: String,
    pub text: String,
    pub not_before: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// Links need a public base and a key; without them emails carry none.
pub struct Links<'a> {
    pub public_url: Option<&'a Url>,
    pub key: Option<&'a TrackingKey>,
}

impl Links<'_> {
    fn link(&self, path: &str, claims: &TokenClaims) -> Option<String> {
        let base = self.public_url?;
        let token = self.key?.sign(claims);
        Some(format!(
            "{}/{path}/{token}",
            base.as_str().trim_end_matches('/')
        ))
    }

    /// The unsubscribe URL for an item, when links are configured.
    pub fn unsubscribe(&self, item_id: &str) -> Option<String> {
        self.link(
            "u",
            &TokenClaims {
                kind: TokenKind::Unsubscribe,
                id: item_id.to_string(),
                email: None,
                url: None,
            },
        )
    }
}

pub fn build_item(
    input: ComposeInput<'_>,
    links: &Links<'_>,
    unsubscribe_url: Option<String>,
    item_id: String,
) -> OutboxItem {
    let seq = input.sequence;
    let enr = input.enrollment;
    let settings = &seq.settings;
    let threaded = input.same_thread && enr.last_message_id.is_some();
    let subject = match (&enr.last_subject, threaded) {
        (Some(previous), true) => reply_subject(previous),
        _ => input.subject.clone(),
    };
    let mut references = Vec::new();
    let mut in_reply_to = None;
    if threaded {
        references = enr.references.clone();
        if let Some(last) = &enr.last_message_id {
            if !references.contains(last) {
                references.push(last.clone());
            }
            in_reply_to = Some(last.clone());
        }
    }
    let mut text = input.text.clone();
    // Every step can be unsubscribed from: one-click with a public link,
    // else a mailto the rep honours (the preflight reports which).
    let headers =
        crate::deliverability::unsubscribe_headers(unsubscribe_url.as_deref(), &input.from);
    if let Some(url) = &unsubscribe_url
        && !text.contains(url.as_str())
    {
        text.push_str(&format!(
            "\n\n--\nIf you'd rather not hear from me again, unsubscribe here: {url}\n"
        ));
    }
    let click = |target: &str| -> String {
        let skip = unsubscribe_url.as_deref().is_some_and(|u| target == u);
        if !settings.track_clicks || skip {
            return target.to_string();
        }
        links
            .link(
                "t/c",
                &TokenClaims {
                    kind: TokenKind::Click,
                    id: item_id.clone(),
                    email: None,
                    url: Some(target.to_string()),
                },
            )
            .unwrap_or_else(|| target.to_string())
    };
    let html_body = if settings.plain_text {
        None
    } else {
        let mut html = text_to_html(&text, &click);
        if settings.track_opens
            && let Some(pixel) = links.link(
                "t/o",
                &TokenClaims {
                    kind: TokenKind::Open,
                    id: item_id.clone(),
                    email: None,
                    url: None,
                },
            )
        {
            html.push_str(&format!(
                "<img src=\"{pixel}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">"
            ));
        }
        Some(html)
    };
    if settings.plain_text && settings.track_clicks {
        text = rewrite_text_links(&text, &click);
    }
    let delivery = match seq.send_via.provider {
        Provider::Gmail => Delivery::GmailSend {
            thread_id: if threaded {
                enr.thread_id.clone()
            } else {
                None
            },
        },
        Provider::Smartlead => Delivery::SmartleadAddLead(SmartleadEnroll {
            campaign_id: seq.send_via.campaign_id.unwrap_or_default(),
            email_account_id: input.mailbox.parse().ok(),
        }),
    };
    let thread_key = match (&enr.thread_id, threaded) {
        (Some(thread), true) => Some(scoped_key(&seq.account, thread)),
        _ => None,
    };
    OutboxItem {
        id: item_id,
        account: seq.account.clone(),
        provider: seq.send_via.provider,
        idempotency_key: idempotency_key(&enr.id, input.step),
        state: OutboxState::Pending,
        not_before: input.not_before,
        message_id: new_message_id(&input.from),
        email: OutgoingEmail {
            from: input.from.clone(),
            to: vec![enr.lead_email.clone()],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject,
            text_body: text,
            html_body,
            in_reply_to,
            references,
            headers,
            attachments: Vec::new(),
        },
        delivery,
        thread_key,
        enrollment_id: Some(enr.id.clone()),
        step: Some(input.step),
        attempts: 0,
        last_error: None,
        provider_id: None,
        created_at: input.now,
        updated_at: input.now,
        send_at: None,
        attachments_left_out: Vec::new(),
        lease: None,
    }
}

/// Splits text into (is_url, piece) runs.
fn pieces(text: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = find_url_start(rest) {
        if start > 0 {
            out.push((false, &rest[..start]));
        }
        let tail = &rest[start..];
        let mut end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(tail.len());
        while end > 0 && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')']) {
            end -= 1;
        }
        out.push((true, &tail[..end]));
        rest = &tail[end..];
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    out
}

fn find_url_start(text: &str) -> Option<usize> {
    match (text.find("https://"), text.find("http://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Plain text to simple HTML: paragraphs, line breaks, links (through `href`).
pub fn text_to_html(text: &str, href: &dyn Fn(&str) -> String) -> String {
    let mut html = String::new();
    for para in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        html.push_str("<p>");
        for (is_url, piece) in pieces(para.trim_matches('\n')) {
            if is_url {
                html.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape(&href(piece)),
                    escape(piece)
                ));
            } else {
                html.push_str(&escape(piece).replace('\n', "<br>\n"));
            }
        }
        html.push_str("</p>\n");
    }
    html
}

fn rewrite_text_links(text: &str, href: &dyn Fn(&str) -> String) -> String {
    pieces(text)
        .into_iter()
        .map(|(is_url, piece)| {
            if is_url {
                href(piece)
            } else {
                piece.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_and_links() {
        let html = text_to_html("Hi <Dana>,\nsee https://x.example/a.\n\nBye", &|u| {
            format!("T({u})")
        });
        assert!(html.contains("Hi &lt;Dana&gt;,<br>"), "{html}");
        assert!(
            html.contains("<a href=\"T(https://x.example/a)\">https://x.example/a</a>."),
            "{html}"
        );
        assert!(html.ends_with("<p>Bye</p>\n"));
    }
}
