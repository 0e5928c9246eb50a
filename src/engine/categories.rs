//! Reply categories: list them, and set one on a conversation. For a Smartlead
//! lead the change goes to Smartlead first, so a refusal changes nothing here.

use super::{CommandError, CommandResult, Engine};
use crate::model::*;
use crate::providers::smartlead::{CampaignId, LeadId};

/// Smartlead's default lead categories, used until an account's own list is synced.
pub fn default_categories() -> Vec<Category> {
    let positive = Some("positive".to_string());
    let negative = Some("negative".to_string());
    [
        (1, "Interested", positive.clone()),
        (2, "Meeting Request", positive.clone()),
        (3, "Not Interested", negative.clone()),
        (4, "Do Not Contact", negative),
        (5, "Information Request", positive),
        (6, "Out Of Office", None),
        (7, "Wrong Person", None),
        (8, "Uncategorizable by AI", None),
        (9, "Sender Originated Bounce", None),
    ]
    .into_iter()
    .map(|(id, name, sentiment)| Category {
        id,
        name: name.to_string(),
        sentiment,
    })
    .collect()
}

impl Engine {
    /// The categories offered for a thread's account.
    pub fn categories(&self, account: &str) -> CommandResult<Vec<Category>> {
        let synced = self
            .store
            .get::<Account>(account)?
            .map(|a| a.categories)
            .unwrap_or_default();
        Ok(if synced.is_empty() {
            default_categories()
        } else {
            synced
        })
    }

    /// Sets the reply category of a thread (and its lead). Smartlead threads
    /// are updated at Smartlead first.
    pub async fn set_thread_category(
        &self,
        thread_key: &str,
        category: Category,
    ) -> CommandResult<()> {
        let view = self
            .thread(thread_key)?
            .ok_or_else(|| CommandError::NotFound(format!("no thread {thread_key:?}")))?;
        let thread = view.thread;
        let smartlead_ref = view.messages.iter().rev().find_map(|m| m.smartlead.clone());
        if thread.provider == Provider::Smartlead {
            let sl = smartlead_ref.as_ref().ok_or_else(|| {
                CommandError::Invalid(
                    "this thread has no Smartlead lead id; run `outpost sync`".into(),
                )
            })?;
            let providers = self.providers();
            let account = providers.smartlead.get(&thread.account).ok_or_else(|| {
                CommandError::Invalid(format!(
                    "account {} is not configured here, so its category cannot be changed",
                    thread.account
                ))
            })?;
            account
                .client
                .set_lead_category(
                    CampaignId(sl.campaign_id),
                    LeadId(sl.lead_id),
                    Some(category.id),
                    false,
                )
                .await
                .map_err(|e| {
                    CommandError::Invalid(format!("Smartlead refused the category: {e}"))
                })?;
        }
        let now = self.clock.now();
        let mut updated = thread.clone();
        updated.category = Some(category.clone());
        self.store.put(&updated)?;
        if let Some(email) = &thread.lead_email {
            let key = Lead::key_for(&thread.account, email);
            if let Some(mut lead) = self.store.get::<Lead>(&key)? {
                lead.category = Some(category.clone());
                if let Some(campaign) = thread.campaign_id {
                    for m in lead
                        .memberships
                        .iter_mut()
                        .filter(|m| m.campaign_id == campaign)
                    {
                        m.category_id = Some(category.id);
                    }
                }
                self.store.put(&lead)?;
            }
            let dedupe_key = format!(
                "manual-category|{thread_key}|{}|{}",
                category.id,
                now.timestamp_millis()
            );
            let event = EmailEvent {
                id: EmailEvent::id_for(&thread.account, &dedupe_key),
                account: thread.account.clone(),
                kind: EventType::CategoryChanged,
                lead_email: email.clone(),
                campaign_id: thread.campaign_id,
                sequence_number: None,
                at: now,
                source: EventSource::Manual,
                dedupe_key,
                message_id: None,
                detail: Some(category.name.clone()),
            };
            self.store_events(&[event])?;
        }
        Ok(())
    }
}
