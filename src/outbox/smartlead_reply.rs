//! Settling a Smartlead reply whose outcome is unknown (a 5xx, a dropped
//! connection, a crash while it was `sending`). Smartlead lists the replies
//! sent from its inbox in the lead's message history as `SENT` items with no
//! sequence number, so the reply is looked for there: found means sent. Not
//! found does not prove much at once (Smartlead may record the reply a moment
//! after answering), so the item waits in `sending` for
//! [`SMARTLEAD_REPLY_GRACE`] from the start of the attempt; only a reply still
//! missing after that is sent again. Meanwhile the history is asked every
//! [`LOOKUP_EVERY`], not on every pass, so a waiting reply does not eat the
//! account's Smartlead rate limit.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::{OutboxWorker, Outcome};
use crate::model::*;
use crate::providers::smartlead::{CampaignId, HistoryItem, HistoryKind, LeadId, MessageHistory};
use crate::store::StoreError;

/// How long after an attempt began a reply missing from the lead's history
/// may still show up there. After this it certainly did not go out.
pub const SMARTLEAD_REPLY_GRACE: Duration = Duration::minutes(10);

/// How far Smartlead's clock may be behind ours when it stamps the reply.
const CLOCK_SKEW: Duration = Duration::minutes(2);

/// How often a reply waiting to be settled is looked up again.
const LOOKUP_EVERY: Duration = Duration::seconds(30);

/// Why an item cannot be settled through the history (it predates what is needed).
const CANNOT_CHECK: &str = "Smartlead may or may not have sent it, and outpost cannot look it up \
    (the conversation's lead is unknown), so it will not resend it: check the thread in Smartlead";

/// When the worker next asks Smartlead about a reply waiting in `sending`:
/// [`LOOKUP_EVERY`] after the last look (its `updated_at`), and no later than
/// the end of the grace period (the attempt's start, kept in `not_before`
/// while an item is `sending`, plus [`SMARTLEAD_REPLY_GRACE`]), when a reply
/// still missing is sent again. `None` for anything else.
pub fn next_lookup_at(item: &OutboxItem) -> Option<DateTime<Utc>> {
    let waiting =
        item.state == OutboxState::Sending && matches!(item.delivery, Delivery::SmartleadReply(_));
    if !waiting {
        return None;
    }
    let grace_over = item.not_before + SMARTLEAD_REPLY_GRACE;
    let next = item.updated_at + LOOKUP_EVERY;
    Some(if item.updated_at < grace_over {
        next.min(grace_over)
    } else {
        next
    })
}

impl OutboxWorker {
    /// Looks the reply up in the lead's Smartlead history (see the module docs).
    pub(super) async fn settle_smartlead_reply(
        &self,
        item: &OutboxItem,
        reply: &SmartleadReply,
    ) -> Outcome {
        let providers = self.engine.providers();
        let Some(account) = providers.smartlead.get(&item.account) else {
            return Outcome::Unknown(format!(
                "Smartlead account {} is not configured; cannot check whether it was sent",
                item.account
            ));
        };
        let lead_id = match self.smartlead_lead_id(item) {
            Ok(Some(id)) => id,
            Ok(None) => return Outcome::Unknown(CANNOT_CHECK.into()),
            Err(err) => return Outcome::Unsettled(format!("{LOOKUP_FAILED}: {err}")),
        };
        let history = match account
            .client
            .message_history(CampaignId(reply.campaign_id), LeadId(lead_id))
            .await
        {
            Ok(history) => history,
            Err(err) => return Outcome::Unsettled(format!("{LOOKUP_FAILED}: {err}")),
        };
        let claimed = match self.other_replies_sent(item) {
            Ok(others) => claimed_entries(&history, others),
            Err(err) => return Outcome::Unsettled(format!("{LOOKUP_FAILED}: {err}")),
        };
        let began = item.not_before;
        if let Some(found) = find_reply(&history, &reply_body(item), began, &claimed) {
            return Outcome::Sent {
                provider_id: found.message_id.clone(),
                thread_id: None,
            };
        }
        let give_up_at = began + SMARTLEAD_REPLY_GRACE;
        if self.engine.clock().now() < give_up_at {
            Outcome::Unsettled(format!(
                "not in the lead's Smartlead history yet; checking again until {}",
                give_up_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            ))
        } else {
            Outcome::Retry(format!(
                "not in the lead's Smartlead history {} minutes after sending; sending again",
                SMARTLEAD_REPLY_GRACE.num_minutes()
            ))
        }
    }

    /// The other Smartlead replies of this conversation already sent.
    fn other_replies_sent(&self, item: &OutboxItem) -> Result<Vec<OutboxItem>, StoreError> {
        let sent = self
            .engine
            .outbox_in_state(OutboxState::Sent)
            .map_err(super::command_to_store)?;
        Ok(sent
            .into_iter()
            .filter(|other| {
                other.id != item.id
                    && other.account == item.account
                    && other.thread_key == item.thread_key
                    && matches!(other.delivery, Delivery::SmartleadReply(_))
            })
            .collect())
    }

    /// The Smartlead lead id (not the campaign map id) of the conversation
    /// the item answers: from the thread's `"{campaign}:{lead id}"`, or for a
    /// thread keyed by email (a webhook before the lead's id was known) from
    /// the lead record.
    fn smartlead_lead_id(&self, item: &OutboxItem) -> Result<Option<i64>, StoreError> {
        let store = self.engine.store();
        let thread = match &item.thread_key {
            Some(key) => store.get::<Thread>(key)?,
            None => None,
        };
        if let Some(id) = thread
            .as_ref()
            .and_then(|t| t.provider_thread_id.split_once(':'))
            .and_then(|(_, lead)| lead.parse::<i64>().ok())
        {
            return Ok(Some(id));
        }
        let email = thread
            .and_then(|t| t.lead_email)
            .or_else(|| item.email.to.first().cloned());
        let Some(email) = email else {
            return Ok(None);
        };
        Ok(store
            .get::<Lead>(&Lead::key_for(&item.account, &email))?
            .and_then(|lead| lead.smartlead_lead_id))
    }
}

/// Replaces the local copies of replies outpost sent in a Smartlead thread
/// with the copies Smartlead's history brings back (`synced`, just stored),
/// or the copies in the rep's Gmail when Smartlead sent through it, so a
/// sent reply shows once. A copy is matched by the Message-ID its send
/// was settled with, else like a lookup matches: a manual send stamped at or
/// after the attempt began whose text contains ours, each history entry
/// taken by one reply at most, oldest attempt first. The outbox item keeps
/// the Message-ID it was matched with.
pub fn adopt_synced_copies(
    store: &crate::store::Store,
    thread_key: &str,
    synced: &[Message],
) -> Result<usize, StoreError> {
    let prefix = crate::store::keys::KeyBuf::new()
        .text(thread_key)
        .into_prefix();
    let mut locals: Vec<(Message, OutboxItem)> = Vec::new();
    for message in store.by_index::<Message>(crate::store::Index::MessagesByThread, &prefix, false)
    {
        let message = message?;
        let Some(outbox_id) = message.provider_id.strip_prefix(super::LOCAL_COPY_PREFIX) else {
            continue;
        };
        if let Some(item) = store.get::<OutboxItem>(outbox_id)? {
            locals.push((message, item));
        }
    }
    if locals.is_empty() {
        return Ok(0);
    }
    locals.sort_by_key(|(_, item)| item.not_before);
    // Smartlead's history marks a reply by its missing step number; the
    // copy in the rep's Gmail (Smartlead sent through it) carries no
    // Smartlead fields, and is told by its text and time like the rest.
    let manual_sends: Vec<&Message> = synced
        .iter()
        .filter(|m| {
            m.direction == Direction::Outbound
                && m.smartlead
                    .as_ref()
                    .is_none_or(|r| r.sequence_number.is_none())
                && m.message_id.is_some()
        })
        .collect();
    let mut claimed: HashSet<String> = HashSet::new();
    let mut adopted = 0;
    for (local, item) in locals {
        let found = manual_sends.iter().find(|m| {
            let id = m.message_id.as_deref().unwrap_or_default();
            if claimed.contains(id) {
                return false;
            }
            match &item.provider_id {
                Some(settled) if settled.starts_with('<') => settled == id,
                _ => {
                    m.date >= item.not_before - CLOCK_SKEW
                        && normalized_text(&synced_body(m))
                            .contains(&normalized_text(&reply_body(&item)))
                }
            }
        });
        let Some(found) = found else {
            continue;
        };
        let id = found.message_id.clone().unwrap_or_default();
        claimed.insert(id.clone());
        store.delete::<Message>(&local.key())?;
        store.modify::<OutboxItem, ()>(std::slice::from_ref(&item.id), |_, current| {
            let mut current = current?;
            if current.provider_id.is_some() {
                return None;
            }
            current.provider_id = Some(id.clone());
            Some((current, ()))
        })?;
        adopted += 1;
    }
    Ok(adopted)
}

/// A synced message's body as Smartlead recorded it.
fn synced_body(m: &Message) -> String {
    m.html_body.clone().unwrap_or_else(|| m.text_body.clone())
}

/// How a lookup says it could not ask Smartlead (so: ask again next pass).
const LOOKUP_FAILED: &str = "could not check the Smartlead history yet";

/// The HTML body outpost sends for a Smartlead reply.
pub(super) fn reply_body(item: &OutboxItem) -> String {
    item.email
        .html_body
        .clone()
        .unwrap_or_else(|| super::text_to_html(&item.email.text_body))
}

/// History entries that belong to other replies already sent in the
/// conversation, so two replies with the same text sent close together are
/// settled by two entries, not both by the first. A reply settled through the
/// history knows its entry; one Smartlead accepted outright does not, and
/// takes the first entry that fits it, oldest attempt first.
fn claimed_entries(history: &MessageHistory, mut others: Vec<OutboxItem>) -> HashSet<String> {
    let mut claimed: HashSet<String> = others
        .iter()
        .filter_map(|other| other.provider_id.clone())
        .collect();
    others.retain(|other| other.provider_id.is_none());
    // While `sending` and after, `not_before` holds when the attempt began.
    others.sort_by_key(|other| other.not_before);
    for other in others {
        let entry = find_reply(history, &reply_body(&other), other.not_before, &claimed)
            .and_then(|found| found.message_id.clone());
        claimed.extend(entry);
    }
    claimed
}

/// Our reply in a lead's history: a manual send (`SENT` with no sequence
/// number) stamped at or after the attempt began (less some clock skew),
/// whose text contains ours (Smartlead may append the mailbox's signature).
/// Entries in `claimed` are other replies' and are skipped.
fn find_reply<'a>(
    history: &'a MessageHistory,
    body: &str,
    began: DateTime<Utc>,
    claimed: &HashSet<String>,
) -> Option<&'a HistoryItem> {
    let ours = normalized_text(body);
    let earliest = began - CLOCK_SKEW;
    history.history.iter().find(|item| {
        item.kind == HistoryKind::Sent
            && item.email_seq_number.is_none()
            && !item
                .message_id
                .as_ref()
                .is_some_and(|id| claimed.contains(id))
            && item.time.is_some_and(|t| t >= earliest)
            && normalized_text(&item.email_body).contains(&ours)
    })
}

/// The words of an HTML or plain-text body, single-spaced, for comparing
/// what we sent with what Smartlead recorded (which may re-wrap it).
fn normalized_text(body: &str) -> String {
    let looks_html = body.contains('<') && body.contains('>');
    let text = if looks_html {
        // Only the words: wide lines and no link markup or footnotes, so a
        // signature appended by Smartlead does not move any of our text.
        html2text::config::with_decorator(html2text::render::TrivialDecorator::new())
            .string_from_read(body.as_bytes(), 10_000)
            .unwrap_or_else(|_| body.to_string())
    } else {
        body.to_string()
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("a test time")
    }

    fn sent(body: &str, time: &str, seq: Option<u64>) -> HistoryItem {
        HistoryItem {
            kind: HistoryKind::Sent,
            stats_id: Some("6d6ef88a-d0c9-4b7c-9522-922c05b37a35".into()),
            message_id: Some(format!("<{time}@mail.example>")),
            time: Some(at(time)),
            subject: None,
            email_body: body.into(),
            email_seq_number: seq,
            open_count: 0,
            click_count: 0,
            click_details: Default::default(),
            cc: Vec::new(),
            from: None,
            to: None,
        }
    }

    fn history(items: Vec<HistoryItem>) -> MessageHistory {
        MessageHistory {
            history: items,
            from: None,
            to: None,
        }
    }

    const OURS: &str = "<p>Does <a href=\"https://cal.example/x\">Tuesday</a> 10:00 ET work?</p><p>Best,<br>Sam</p>";
    const BEGAN: &str = "2026-03-02T08:00:00Z";

    #[test]
    fn finds_our_reply_with_a_signature_appended() {
        let theirs = format!("<div>{OURS}</div><br><br>--<br>Sam Reed<br>Acme");
        let h = history(vec![sent(&theirs, "2026-03-02T08:00:05Z", None)]);
        let found = find_reply(&h, OURS, at(BEGAN), &HashSet::new()).map(|i| i.message_id.clone());
        assert_eq!(
            found,
            Some(Some("<2026-03-02T08:00:05Z@mail.example>".into()))
        );
    }

    #[test]
    fn finds_a_plain_text_rendering_of_our_reply() {
        let theirs = "Does Tuesday 10:00 ET work?\n\nBest,\nSam\n\n--\nSam Reed";
        let h = history(vec![sent(theirs, "2026-03-02T07:59:00Z", None)]);
        assert!(find_reply(&h, OURS, at(BEGAN), &HashSet::new()).is_some());
    }

    #[test]
    fn ignores_sequence_steps_older_sends_and_other_text() {
        let h = history(vec![
            // A sequence step, even with the same words.
            sent(OURS, "2026-03-02T08:00:05Z", Some(2)),
            // The same words, sent by hand well before this attempt.
            sent(OURS, "2026-03-02T07:50:00Z", None),
            // A manual reply after the attempt, but another one.
            sent("<p>Does Wednesday work?</p>", "2026-03-02T08:00:06Z", None),
        ]);
        assert_eq!(find_reply(&h, OURS, at(BEGAN), &HashSet::new()), None);
    }

    #[test]
    fn an_entry_another_reply_was_settled_with_is_skipped() {
        let first = sent(OURS, "2026-03-02T08:00:05Z", None);
        let second = sent(OURS, "2026-03-02T08:00:09Z", None);
        let claimed: HashSet<String> = first.message_id.clone().into_iter().collect();
        let h = history(vec![first, second.clone()]);
        let found = find_reply(&h, OURS, at(BEGAN), &claimed);
        assert_eq!(found.map(|i| i.message_id.clone()), Some(second.message_id));
        let only_first = history(vec![sent(OURS, "2026-03-02T08:00:05Z", None)]);
        assert_eq!(find_reply(&only_first, OURS, at(BEGAN), &claimed), None);
    }

    #[test]
    fn a_reply_smartlead_accepted_outright_keeps_its_entry() {
        let mut accepted = reply_item("Does Tuesday 10:00 ET work?\n\nBest,\nSam");
        accepted.state = OutboxState::Sent;
        let first = sent(OURS, "2026-03-02T08:00:05Z", None);
        let second = sent(OURS, "2026-03-02T08:00:09Z", None);
        let h = history(vec![first.clone(), second.clone()]);
        let claimed = claimed_entries(&h, vec![accepted.clone()]);
        assert_eq!(claimed, first.message_id.into_iter().collect());
        let found = find_reply(&h, OURS, at(BEGAN), &claimed);
        assert_eq!(found.map(|i| i.message_id.clone()), Some(second.message_id));
        // Only the accepted reply's own entry there: ours is not in it.
        let only_first = history(vec![sent(OURS, "2026-03-02T08:00:05Z", None)]);
        let claimed = claimed_entries(&only_first, vec![accepted]);
        assert_eq!(find_reply(&only_first, OURS, at(BEGAN), &claimed), None);
    }

    #[test]
    fn a_reply_is_not_found_in_its_own_lead_reply() {
        let mut theirs = sent(OURS, "2026-03-02T08:00:05Z", None);
        theirs.kind = HistoryKind::Reply;
        assert_eq!(
            find_reply(&history(vec![theirs]), OURS, at(BEGAN), &HashSet::new()),
            None
        );
    }

    fn reply_item(text: &str) -> OutboxItem {
        OutboxItem {
            id: "1".into(),
            account: "sl".into(),
            provider: Provider::Smartlead,
            idempotency_key: "reply:1".into(),
            state: OutboxState::Sending,
            not_before: at(BEGAN),
            message_id: "<1@acme.example>".into(),
            email: OutgoingEmail {
                from: "sam@acme.example".into(),
                to: vec!["dana@ledgerly.example".into()],
                cc: Vec::new(),
                bcc: Vec::new(),
                subject: "Re: hi".into(),
                text_body: text.into(),
                html_body: None,
                in_reply_to: None,
                references: Vec::new(),
                headers: Vec::new(),
                attachments: Vec::new(),
            },
            delivery: Delivery::SmartleadReply(SmartleadReply {
                campaign_id: 1,
                email_stats_id: "s".into(),
                reply_message_id: "<m>".into(),
                reply_email_time: at(BEGAN),
                reply_email_body: "hi".into(),
            }),
            thread_key: None,
            enrollment_id: None,
            step: None,
            attempts: 1,
            last_error: None,
            provider_id: None,
            created_at: at(BEGAN),
            updated_at: at(BEGAN),
            send_at: None,
            attachments_left_out: Vec::new(),
            lease: None,
        }
    }

    #[test]
    fn lookups_are_spaced_and_the_grace_period_is_not_overshot() {
        let mut item = reply_item("Tuesday?");
        assert_eq!(next_lookup_at(&item), Some(at("2026-03-02T08:00:30Z")));
        item.updated_at = at("2026-03-02T08:09:50Z");
        assert_eq!(next_lookup_at(&item), Some(at("2026-03-02T08:10:00Z")));
        // Past the grace period only a failed lookup keeps it waiting.
        item.updated_at = at("2026-03-02T08:12:00Z");
        assert_eq!(next_lookup_at(&item), Some(at("2026-03-02T08:12:30Z")));
        item.state = OutboxState::Pending;
        assert_eq!(next_lookup_at(&item), None);
        item.state = OutboxState::Sending;
        item.delivery = Delivery::GmailSend { thread_id: None };
        assert_eq!(next_lookup_at(&item), None);
    }
}
