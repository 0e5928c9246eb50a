//! Lead, category, message-history and reply endpoints.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, check_limit, decode};
use super::error::SmartleadError;
use super::types::{
    CampaignId, CampaignLead, Category, LeadCampaign, LeadId, LeadUploadSettings,
    LeadWithCampaigns, LeadsPage, MessageHistory, NewLead, ReplyRequest, UploadSummary,
};
use crate::providers::http::Idempotency;

/// Smartlead's largest page of campaign leads, and largest upload batch.
pub const MAX_LEADS_PER_CALL: u64 = 100;

impl Client {
    /// `GET /campaigns/{id}/leads`: one page (`limit` 1–100).
    pub async fn campaign_leads_page(
        &self,
        campaign: CampaignId,
        offset: u64,
        limit: u64,
    ) -> Result<LeadsPage, SmartleadError> {
        self.leads_page(campaign, offset, limit, None).await
    }

    async fn leads_page(
        &self,
        campaign: CampaignId,
        offset: u64,
        limit: u64,
        event_time_gt: Option<DateTime<Utc>>,
    ) -> Result<LeadsPage, SmartleadError> {
        check_limit(limit, MAX_LEADS_PER_CALL)?;
        let mut query = vec![("offset", offset.to_string()), ("limit", limit.to_string())];
        if let Some(since) = event_time_gt {
            query.push((
                "event_time_gt",
                since.to_rfc3339_opts(SecondsFormat::Millis, true),
            ));
        }
        self.get(
            &["campaigns", &campaign.to_string(), "leads"],
            &query,
            "a page of campaign leads",
        )
        .await
    }

    /// Every lead of a campaign, paging 100 at a time.
    pub async fn all_campaign_leads(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<CampaignLead>, SmartleadError> {
        self.paged_campaign_leads(campaign, None).await
    }

    /// The campaign's leads with an event (a send, open, click, reply,
    /// bounce, unsubscribe or category change) after `since`.
    pub async fn campaign_leads_with_events_after(
        &self,
        campaign: CampaignId,
        since: DateTime<Utc>,
    ) -> Result<Vec<CampaignLead>, SmartleadError> {
        self.paged_campaign_leads(campaign, Some(since)).await
    }

    async fn paged_campaign_leads(
        &self,
        campaign: CampaignId,
        event_time_gt: Option<DateTime<Utc>>,
    ) -> Result<Vec<CampaignLead>, SmartleadError> {
        let mut leads = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .leads_page(campaign, offset, MAX_LEADS_PER_CALL, event_time_gt)
                .await?;
            let received = page.data.len() as u64;
            leads.extend(page.data);
            offset += received;
            // The total decides when it is given; a server that omits it
            // (or sends 0) ends with a short page.
            let done = received == 0
                || if page.total_leads > 0 {
                    offset >= page.total_leads
                } else {
                    received < MAX_LEADS_PER_CALL
                };
            if done {
                return Ok(leads);
            }
        }
    }

    /// `GET /leads/?email=`: `None` when Smartlead answers `200 {}`.
    pub async fn lead_by_email(
        &self,
        email: &str,
    ) -> Result<Option<LeadWithCampaigns>, SmartleadError> {
        let query = [("email", email.trim().to_owned())];
        let value = self.get_payload(&["leads", ""], &query).await?;
        let known = match &value {
            Value::Object(fields) => fields.get("id").is_some_and(|id| !id.is_null()),
            _ => false,
        };
        if known {
            decode(value, "the lead").map(Some)
        } else {
            Ok(None)
        }
    }

    /// `GET /leads/{lead_id}/campaigns`.
    pub async fn lead_campaigns(&self, lead: LeadId) -> Result<Vec<LeadCampaign>, SmartleadError> {
        self.get_list(
            &["leads", &lead.to_string(), "campaigns"],
            &[],
            "the lead's campaigns",
        )
        .await
    }

    /// `GET /campaigns/{cid}/leads/{lead_id}/message-history` (the lead id,
    /// not the map id).
    pub async fn message_history(
        &self,
        campaign: CampaignId,
        lead: LeadId,
    ) -> Result<MessageHistory, SmartleadError> {
        self.get(
            &[
                "campaigns",
                &campaign.to_string(),
                "leads",
                &lead.to_string(),
                "message-history",
            ],
            &[],
            "the message history",
        )
        .await
    }

    /// `POST /campaigns/{id}/reply-email-thread`: sends mail, so it is never
    /// retried once the request may have reached Smartlead (see
    /// `providers::http::retry`). Any 2xx is success.
    pub async fn reply_email_thread(
        &self,
        campaign: CampaignId,
        reply: &ReplyRequest,
    ) -> Result<(), SmartleadError> {
        if reply.email_stats_id.trim().is_empty() || reply.email_body.trim().is_empty() {
            return Err(SmartleadError::InvalidInput(
                "a reply needs the email_stats_id of the message answered and a body".into(),
            ));
        }
        let body = serde_json::to_value(reply)
            .map_err(|error| SmartleadError::InvalidInput(error.to_string()))?;
        self.write(
            Method::POST,
            &["campaigns", &campaign.to_string(), "reply-email-thread"],
            &body,
            Idempotency::NonIdempotent,
        )
        .await
        .map(drop)
    }

    /// `GET /leads/fetch-categories`.
    pub async fn categories(&self) -> Result<Vec<Category>, SmartleadError> {
        self.get_list(&["leads", "fetch-categories"], &[], "lead categories")
            .await
    }

    /// `POST /campaigns/{id}/leads/{lead_id}/category`; `None` clears it.
    pub async fn set_lead_category(
        &self,
        campaign: CampaignId,
        lead: LeadId,
        category_id: Option<i64>,
        pause_lead: bool,
    ) -> Result<(), SmartleadError> {
        let body = json!({ "category_id": category_id, "pause_lead": pause_lead });
        self.lead_action(campaign, lead, "category", &body).await
    }

    /// `POST /campaigns/{id}/leads/{lead_id}/pause`.
    pub async fn pause_lead(
        &self,
        campaign: CampaignId,
        lead: LeadId,
    ) -> Result<(), SmartleadError> {
        self.lead_action(campaign, lead, "pause", &json!({})).await
    }

    /// `POST /campaigns/{id}/leads/{lead_id}/resume`, optionally after a delay.
    pub async fn resume_lead(
        &self,
        campaign: CampaignId,
        lead: LeadId,
        delay_days: Option<u32>,
    ) -> Result<(), SmartleadError> {
        let body = match delay_days {
            Some(days) => json!({ "resume_lead_with_delay_days": days }),
            None => json!({}),
        };
        self.lead_action(campaign, lead, "resume", &body).await
    }

    /// `POST /campaigns/{id}/leads/{lead_id}/unsubscribe`: this campaign only.
    pub async fn unsubscribe_lead_from_campaign(
        &self,
        campaign: CampaignId,
        lead: LeadId,
    ) -> Result<(), SmartleadError> {
        self.lead_action(campaign, lead, "unsubscribe", &json!({}))
            .await
    }

    /// `POST /leads/{lead_id}/unsubscribe`: every campaign. `Ok(false)` when
    /// Smartlead reports nothing changed (`{"ok":false}`).
    pub async fn unsubscribe_lead_globally(&self, lead: LeadId) -> Result<bool, SmartleadError> {
        let result = self
            .write(
                Method::POST,
                &["leads", &lead.to_string(), "unsubscribe"],
                &json!({}),
                Idempotency::Idempotent,
            )
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SmartleadError::Rejected(_)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// `POST /campaigns/{id}/leads` in batches of 100, summaries summed.
    /// Re-adding a lead updates it, so a retried batch adds nothing twice.
    /// If a batch fails, the batches before it stay added.
    pub async fn add_leads(
        &self,
        campaign: CampaignId,
        leads: &[NewLead],
        settings: LeadUploadSettings,
    ) -> Result<UploadSummary, SmartleadError> {
        if let Some(position) = leads.iter().position(|lead| lead.email.trim().is_empty()) {
            return Err(SmartleadError::InvalidInput(format!(
                "lead {} of the upload has no email; every lead needs one",
                position + 1
            )));
        }
        let mut summary = UploadSummary::default();
        for batch in leads.chunks(MAX_LEADS_PER_CALL as usize) {
            let body = json!({ "lead_list": batch, "settings": settings });
            let answer = self
                .write(
                    Method::POST,
                    &["campaigns", &campaign.to_string(), "leads"],
                    &body,
                    Idempotency::Idempotent,
                )
                .await?;
            summary.absorb(decode(answer, "the upload summary")?);
        }
        Ok(summary)
    }

    async fn lead_action(
        &self,
        campaign: CampaignId,
        lead: LeadId,
        action: &str,
        body: &Value,
    ) -> Result<(), SmartleadError> {
        self.write(
            Method::POST,
            &[
                "campaigns",
                &campaign.to_string(),
                "leads",
                &lead.to_string(),
                action,
            ],
            body,
            Idempotency::Idempotent,
        )
        .await
        .map(drop)
    }
}
