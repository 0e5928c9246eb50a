//! Suppression across providers: an address that unsubscribed through
//! outpost's link is unsubscribed in Smartlead too, so no campaign keeps
//! writing to someone who asked us to stop. The pass-on is durable: a
//! `PendingUnsubscribe` is written before the page answers and kept, with
//! its failures, until Smartlead took it; `retry_pending_unsubscribes`
//! tries the due ones again.

use chrono::{DateTime, Duration, Utc};

use super::Engine;
use crate::model::*;
use crate::providers::smartlead::{CampaignId, LeadId};
use crate::store::StoreResult;

/// Wait before the first retry; it doubles per failure up to the cap.
const RETRY_FIRST_WAIT_MINUTES: i64 = 5;
const RETRY_MAX_WAIT_MINUTES: i64 = 60;

/// When a pass-on that failed `attempts` times is tried next.
fn next_attempt_after(now: DateTime<Utc>, attempts: u32) -> DateTime<Utc> {
    let doublings = attempts.saturating_sub(1).min(16);
    let minutes = (RETRY_FIRST_WAIT_MINUTES << doublings).min(RETRY_MAX_WAIT_MINUTES);
    now + Duration::minutes(minutes)
}

/// One Smartlead campaign an unsubscribe was passed on to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedOn {
    pub account: String,
    pub campaign_id: i64,
    /// None when Smartlead took it; else why not.
    pub error: Option<String>,
}

impl Engine {
    /// Records that `email`'s unsubscribe must reach Smartlead, before the
    /// unsubscribe is answered. One waiting already is left as it is.
    pub fn record_pending_unsubscribe(&self, email: &str) -> StoreResult<()> {
        let now = self.clock().now();
        let key = PendingUnsubscribe::key_for(email);
        self.store().modify::<PendingUnsubscribe, ()>(
            std::slice::from_ref(&key),
            |key, current| {
                if current.is_some() {
                    return None;
                }
                let pending = PendingUnsubscribe {
                    email: key.to_string(),
                    recorded_at: now,
                    attempts: 0,
                    last_error: None,
                    next_attempt_at: now,
                };
                Some((pending, ()))
            },
        )?;
        Ok(())
    }

    /// Passes `email`'s waiting unsubscribe on to Smartlead. When every
    /// campaign took it the record goes (unless it changed meanwhile);
    /// otherwise it keeps the failure and its next due time. True when
    /// nothing is left waiting for the address.
    pub async fn pass_on_unsubscribe(&self, email: &str) -> StoreResult<bool> {
        let key = PendingUnsubscribe::key_for(email);
        let Some(pending) = self.store().get::<PendingUnsubscribe>(&key)? else {
            return Ok(true);
        };
        let results = self.unsubscribe_in_smartlead(&pending.email).await;
        let failures: Vec<String> = results
            .iter()
            .filter_map(|r| {
                let error = r.error.as_ref()?;
                Some(format!("{} campaign {}: {error}", r.account, r.campaign_id))
            })
            .collect();
        if failures.is_empty() {
            self.store().delete_if_unchanged(&pending)?;
            return Ok(true);
        }
        let now = self.clock().now();
        let last_error = failures.join("; ");
        self.store()
            .modify::<PendingUnsubscribe, ()>(&[key], |_, current| {
                // Gone: another pass got it through meanwhile.
                let mut pending = current?;
                pending.attempts += 1;
                pending.last_error = Some(last_error.clone());
                pending.next_attempt_at = next_attempt_after(now, pending.attempts);
                Some((pending, ()))
            })?;
        Ok(false)
    }

    /// Tries every waiting unsubscribe that is due; returns how many reached
    /// Smartlead. One that cannot be stored is logged and left for later.
    pub async fn retry_pending_unsubscribes(&self) -> usize {
        let now = self.clock().now();
        let due: Vec<String> = self
            .store()
            .iter::<PendingUnsubscribe>()
            .filter_map(|pending| match pending {
                Ok(p) if p.next_attempt_at <= now => Some(p.email),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a waiting unsubscribe");
                    None
                }
            })
            .collect();
        let mut passed_on = 0;
        for email in due {
            match self.pass_on_unsubscribe(&email).await {
                Ok(true) => passed_on += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot record an unsubscribe's pass-on"),
            }
        }
        passed_on
    }

    /// Unsubscribes `email` in every Smartlead campaign it belongs to (in
    /// each configured Smartlead account whose cache knows the lead), with
    /// `POST /campaigns/{id}/leads/{lead_id}/unsubscribe`. A lead known
    /// without its campaigns is unsubscribed account-wide instead. Failures
    /// are logged and returned; nothing here changes outpost's own
    /// suppression, which is already recorded.
    pub async fn unsubscribe_in_smartlead(&self, email: &str) -> Vec<PassedOn> {
        let email = normalize_email(email);
        let mut done = Vec::new();
        for (name, account) in &self.providers().smartlead {
            let lead = match self.store().get::<Lead>(&Lead::key_for(name, &email)) {
                Ok(Some(lead)) => lead,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(account = %name, error = %e, "cannot read a lead to unsubscribe");
                    continue;
                }
            };
            let Some(lead_id) = lead.smartlead_lead_id else {
                continue;
            };
            if lead.memberships.is_empty() {
                let result = account
                    .client
                    .unsubscribe_lead_globally(LeadId(lead_id))
                    .await;
                if let Err(e) = &result {
                    tracing::warn!(account = %name, error = %e, "Smartlead did not take an unsubscribe");
                }
                done.push(PassedOn {
                    account: name.clone(),
                    campaign_id: 0,
                    error: result.err().map(|e| e.to_string()),
                });
                continue;
            }
            for membership in &lead.memberships {
                let result = account
                    .client
                    .unsubscribe_lead_from_campaign(
                        CampaignId(membership.campaign_id),
                        LeadId(lead_id),
                    )
                    .await;
                if let Err(e) = &result {
                    tracing::warn!(
                        account = %name,
                        campaign = membership.campaign_id,
                        error = %e,
                        "Smartlead did not take an unsubscribe"
                    );
                }
                done.push(PassedOn {
                    account: name.clone(),
                    campaign_id: membership.campaign_id,
                    error: result.err().map(|e| e.to_string()),
                });
            }
        }
        done
    }

    /// The accounts an unsubscribe link applies to: the account that sent
    /// `item`, else every account that knows the address (the email may
    /// predate a data reset), else every account.
    pub fn unsubscribe_accounts(
        &self,
        item: Option<&OutboxItem>,
        email: &str,
    ) -> StoreResult<Vec<String>> {
        if let Some(item) = item {
            return Ok(vec![item.account.clone()]);
        }
        let prefix = crate::store::keys::KeyBuf::new()
            .text(&normalize_email(email))
            .into_prefix();
        let mut accounts: Vec<String> = self
            .store
            .by_index::<Lead>(crate::store::Index::LeadsByEmail, &prefix, false)
            .map(|lead| lead.map(|l| l.account))
            .collect::<StoreResult<_>>()?;
        if accounts.is_empty() {
            accounts = self
                .store
                .iter::<Account>()
                .map(|a| a.map(|a| a.name))
                .collect::<StoreResult<_>>()?;
        }
        accounts.sort();
        accounts.dedup();
        Ok(accounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_five_minutes_then_double_up_to_an_hour() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let waits: Vec<i64> = [1, 2, 3, 4, 5, 40]
            .into_iter()
            .map(|n| (next_attempt_after(now, n) - now).num_minutes())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
    }
}
