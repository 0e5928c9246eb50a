//! Smartlead sends go out from the mailboxes attached to the campaign, so
//! before a lead is added the mailboxes its sequence names (or the rep's own
//! `email_account_id` from the account config) are attached to the campaign
//! with the rep's key. Only missing ones are attached, and what a campaign
//! holds is remembered for a while so a run of leads costs one check, not
//! one per lead.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use super::{OutboxWorker, Outcome};
use crate::model::*;
use crate::providers::registry::SmartleadAccount;
use crate::providers::smartlead::{CampaignId, EmailAccountId, SmartleadError};

/// How long a campaign's checked mailboxes are trusted before asking again
/// (someone may detach one in Smartlead meanwhile).
const RECHECK_AFTER: Duration = Duration::hours(1);

/// The mailbox ids seen attached to a campaign, and when that was checked.
type CheckedSenders = (BTreeSet<i64>, DateTime<Utc>);

/// What this worker learnt about campaigns' mailboxes during its run.
#[derive(Default)]
pub(super) struct SenderMemory {
    /// (account, campaign id) → what was checked.
    attached: Mutex<HashMap<(String, i64), CheckedSenders>>,
    /// (account, address) → the email account id sending as that address.
    addresses: Mutex<HashMap<(String, String), i64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Rate limits and outages mean "not yet"; anything else fails the send.
fn outcome_for(err: SmartleadError, doing: &str) -> Outcome {
    match err {
        SmartleadError::RateLimited { .. }
        | SmartleadError::Server(..)
        | SmartleadError::Transport(_)
        | SmartleadError::Unreachable(_) => Outcome::Retry(format!("{doing}: {err}")),
        other => Outcome::Failed(format!("{doing}: {other}")),
    }
}

fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl OutboxWorker {
    /// Attaches the senders this send must go out from to its campaign, if
    /// any are named and not attached yet. `Err` is the send's outcome.
    pub(super) async fn ensure_smartlead_senders(
        &self,
        item: &OutboxItem,
        enroll: &SmartleadEnroll,
        account: &SmartleadAccount,
    ) -> Result<(), Outcome> {
        let named = self.named_senders(item, enroll, account)?;
        if named.is_empty() {
            // Nothing named: the campaign sends from whatever it has.
            return Ok(());
        }
        let wanted = self.resolve_senders(account, &named).await?;
        let key = (account.name.clone(), enroll.campaign_id);
        let now = self.engine.clock().now();
        if let Some((known, at)) = lock(&self.senders.attached).get(&key)
            && now - *at < RECHECK_AFTER
            && wanted.iter().all(|id| known.contains(id))
        {
            return Ok(());
        }
        let campaign = CampaignId(enroll.campaign_id);
        let mut attached: BTreeSet<i64> = account
            .client
            .campaign_email_accounts(campaign)
            .await
            .map_err(|err| {
                outcome_for(
                    err,
                    &format!("cannot read the email accounts of Smartlead campaign {campaign}"),
                )
            })?
            .iter()
            .map(|a| a.id.0)
            .collect();
        let missing: Vec<i64> = wanted
            .iter()
            .copied()
            .filter(|id| !attached.contains(id))
            .collect();
        if !missing.is_empty() {
            let ids: Vec<EmailAccountId> = missing.iter().copied().map(EmailAccountId).collect();
            account
                .client
                .attach_campaign_email_accounts(campaign, &ids)
                .await
                .map_err(|err| {
                    outcome_for(
                        err,
                        &format!(
                            "cannot attach Smartlead email account {} to campaign {campaign}",
                            id_list(&missing)
                        ),
                    )
                })?;
            tracing::info!(campaign = %campaign, accounts = %id_list(&missing), "attached sending mailboxes to the campaign");
            attached.extend(missing);
        }
        lock(&self.senders.attached).insert(key, (attached, now));
        Ok(())
    }

    /// The senders named for this send: the sequence's `email_accounts`,
    /// else the one picked for the item, else the account's own mailbox.
    fn named_senders(
        &self,
        item: &OutboxItem,
        enroll: &SmartleadEnroll,
        account: &SmartleadAccount,
    ) -> Result<Vec<String>, Outcome> {
        let store = self.engine.store();
        let retry = |err: crate::store::StoreError| {
            Outcome::Retry(format!("cannot read the sequence's senders: {err}"))
        };
        let enrollment = match &item.enrollment_id {
            Some(id) => store.get::<Enrollment>(id).map_err(retry)?,
            None => None,
        };
        let sequence = match enrollment {
            Some(enr) => store.get::<Sequence>(&enr.sequence).map_err(retry)?,
            None => None,
        };
        let from_sequence = sequence
            .filter(|seq| {
                seq.send_via.provider == Provider::Smartlead
                    && seq.send_via.campaign_id == Some(enroll.campaign_id)
            })
            .map(|seq| seq.send_via.mailboxes)
            .unwrap_or_default();
        if !from_sequence.is_empty() {
            return Ok(from_sequence);
        }
        Ok(enroll
            .email_account_id
            .or(account.email_account_id)
            .map(|id| vec![id.to_string()])
            .unwrap_or_default())
    }

    /// Email account ids for senders named by id or address. Addresses are
    /// looked up in the synced mailboxes, then in Smartlead's account list.
    async fn resolve_senders(
        &self,
        account: &SmartleadAccount,
        named: &[String],
    ) -> Result<Vec<i64>, Outcome> {
        let mut ids = Vec::new();
        let mut unknown = Vec::new();
        for sender in named {
            if let Ok(id) = sender.parse::<i64>() {
                ids.push(id);
            } else if let Some(id) = self.known_address(account, sender)? {
                ids.push(id);
            } else {
                unknown.push(normalize_email(sender));
            }
        }
        if unknown.is_empty() {
            return Ok(ids);
        }
        let listed = account.client.all_email_accounts().await.map_err(|err| {
            outcome_for(
                err,
                "cannot list the Smartlead email accounts to find a sender",
            )
        })?;
        let mut remembered = lock(&self.senders.addresses);
        for listed in &listed {
            for address in [Some(&listed.from_email), listed.username.as_ref()]
                .into_iter()
                .flatten()
            {
                remembered.insert(
                    (account.name.clone(), normalize_email(address)),
                    listed.id.0,
                );
            }
        }
        for address in unknown {
            match remembered.get(&(account.name.clone(), address.clone())) {
                Some(id) => ids.push(*id),
                None => {
                    return Err(Outcome::Failed(format!(
                        "no Smartlead email account of account {} sends as {address}; fix email_accounts in the sequence",
                        account.name
                    )));
                }
            }
        }
        Ok(ids)
    }

    /// An address already resolved this run, or a synced mailbox with it.
    fn known_address(
        &self,
        account: &SmartleadAccount,
        address: &str,
    ) -> Result<Option<i64>, Outcome> {
        let address = normalize_email(address);
        let key = (account.name.clone(), address.clone());
        if let Some(id) = lock(&self.senders.addresses).get(&key) {
            return Ok(Some(*id));
        }
        let prefix = scoped_key(&account.name, "");
        for mailbox in self.engine.store().scan_prefix::<Mailbox>(&prefix) {
            let mailbox = mailbox.map_err(|err| {
                Outcome::Retry(format!("cannot read the synced mailboxes: {err}"))
            })?;
            if normalize_email(&mailbox.from_email) == address {
                lock(&self.senders.addresses).insert(key, mailbox.id);
                return Ok(Some(mailbox.id));
            }
        }
        Ok(None)
    }
}
