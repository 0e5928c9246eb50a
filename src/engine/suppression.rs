//! Suppression across providers: an address that unsubscribed through
//! outpost's link is unsubscribed in Smartlead too, so no campaign keeps
//! writing to someone who asked us to stop.

use super::Engine;
use crate::model::*;
use crate::providers::smartlead::{CampaignId, LeadId};

/// One Smartlead campaign an unsubscribe was passed on to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedOn {
    pub account: String,
    pub campaign_id: i64,
    /// None when Smartlead took it; else why not.
    pub error: Option<String>,
}

impl Engine {
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
}
