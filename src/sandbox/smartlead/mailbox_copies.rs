//! The rep's own mailbox as one of Smartlead's senders. This is the usual
//! set-up: Smartlead sends a campaign through the rep's Gmail, so every step
//! it sends and every answer the lead writes is also in that mailbox, with
//! the same Message-ID. The Gmail emulator is filled from these copies.

use chrono::{DateTime, Utc};

use super::model::{Data, MessageKind};
use super::render::Renderer;

/// One message of a campaign conversation as the sending mailbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxCopy {
    /// With angle brackets, as Smartlead's history shows it.
    pub message_id: String,
    pub inbound: bool,
    pub from_name: String,
    pub from_email: String,
    pub to_name: String,
    pub to_email: String,
    pub subject: String,
    pub html: String,
    pub at: DateTime<Utc>,
    /// A step the lead's server refused: the mailbox also holds the
    /// mailer-daemon's notice.
    pub bounced: bool,
}

/// Makes `email` (the rep's mailbox) the sender account that carries the
/// most lead replies, as when the rep connected their own Gmail to
/// Smartlead. Returns how many conversations now go through it.
pub(crate) fn adopt_mailbox(data: &mut Data, email: &str, name: &str) -> usize {
    let mut replies = vec![0usize; data.accounts.len()];
    for membership in &data.memberships {
        if membership
            .history
            .iter()
            .any(|m| m.kind == MessageKind::Reply)
            && let Some(count) = replies.get_mut(membership.account as usize)
        {
            *count += 1;
        }
    }
    let Some((chosen, _)) = replies
        .iter()
        .enumerate()
        .max_by_key(|(i, count)| (**count, std::cmp::Reverse(*i)))
    else {
        return 0;
    };
    let account = &mut data.accounts[chosen];
    account.from_email = email.to_string();
    account.from_name = name.to_string();
    data.memberships
        .iter()
        .filter(|m| m.account as usize == chosen && !m.history.is_empty())
        .count()
}

/// Every campaign conversation sent through `email`, oldest message first.
pub(crate) fn copies(data: &Data, email: &str) -> Vec<Vec<MailboxCopy>> {
    (0..data.memberships.len())
        .filter(|&m| sent_through(data, m, email) && !data.memberships[m].history.is_empty())
        .map(|m| conversation(data, m))
        .collect()
}

/// The copy of one message of a conversation sent through `email`, with
/// the Message-IDs before it (oldest first) that thread it; `None` when the
/// conversation goes through another sender or has no such message.
pub(crate) fn copy_of(
    data: &Data,
    membership: usize,
    message_id: &str,
    email: &str,
) -> Option<(MailboxCopy, Vec<String>)> {
    if !sent_through(data, membership, email) {
        return None;
    }
    let mut conversation = conversation(data, membership);
    let at = conversation
        .iter()
        .position(|c| c.message_id == message_id)?;
    let earlier = conversation[..at]
        .iter()
        .map(|c| c.message_id.clone())
        .collect();
    Some((conversation.swap_remove(at), earlier))
}

fn sent_through(data: &Data, membership: usize, email: &str) -> bool {
    let sender = &data.accounts[data.memberships[membership].account as usize];
    sender.from_email.eq_ignore_ascii_case(email)
}

/// One campaign conversation as its sending mailbox holds it, oldest first.
fn conversation(data: &Data, membership: usize) -> Vec<MailboxCopy> {
    let membership = &data.memberships[membership];
    let sender = &data.accounts[membership.account as usize];
    let render = Renderer::new(data, membership);
    let lead = render.lead();
    let mut conversation: Vec<MailboxCopy> = membership
        .history
        .iter()
        .map(|msg| {
            let inbound = msg.kind == MessageKind::Reply;
            let (from, to) = (
                (sender.from_name.clone(), sender.from_email.clone()),
                (lead.full_name(), lead.email.clone()),
            );
            let ((from_name, from_email), (to_name, to_email)) =
                if inbound { (to, from) } else { (from, to) };
            MailboxCopy {
                message_id: render.message_id(msg),
                inbound,
                from_name,
                from_email,
                to_name,
                to_email,
                subject: render.subject(msg),
                html: render.body(msg),
                at: msg.time,
                bounced: !inbound && msg.bounced,
            }
        })
        .collect();
    conversation.sort_by_key(|c| c.at);
    conversation
}
