//! Mailbox, webhook and agency-client endpoints.

use reqwest::Method;
use serde_json::json;

use super::client::{Client, check_limit};
use super::error::SmartleadError;
use super::types::{
    AgencyClient, CampaignId, EmailAccount, EmailAccountId, WarmupStats, Webhook, WebhookUpsert,
};
use crate::providers::http::Idempotency;

/// Largest page of `/email-accounts/`.
pub const MAX_ACCOUNTS_PER_PAGE: u64 = 100;

impl Client {
    /// `GET /email-accounts/?offset&limit` (`limit` 1–100).
    pub async fn email_accounts(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<EmailAccount>, SmartleadError> {
        check_limit(limit, MAX_ACCOUNTS_PER_PAGE)?;
        let query = [("offset", offset.to_string()), ("limit", limit.to_string())];
        self.get_list(&["email-accounts", ""], &query, "email accounts")
            .await
    }

    /// Every mailbox, paging 100 at a time.
    pub async fn all_email_accounts(&self) -> Result<Vec<EmailAccount>, SmartleadError> {
        let mut accounts = Vec::new();
        loop {
            let page = self
                .email_accounts(accounts.len() as u64, MAX_ACCOUNTS_PER_PAGE)
                .await?;
            let received = page.len() as u64;
            accounts.extend(page);
            if received < MAX_ACCOUNTS_PER_PAGE {
                return Ok(accounts);
            }
        }
    }

    /// `GET /email-accounts/{id}/`.
    pub async fn email_account(&self, id: EmailAccountId) -> Result<EmailAccount, SmartleadError> {
        self.get(
            &["email-accounts", &id.to_string(), ""],
            &[],
            "the email account",
        )
        .await
    }

    /// `GET /email-accounts/{id}/warmup-stats` (last 7 days).
    pub async fn warmup_stats(&self, id: EmailAccountId) -> Result<WarmupStats, SmartleadError> {
        self.get(
            &["email-accounts", &id.to_string(), "warmup-stats"],
            &[],
            "warmup stats",
        )
        .await
    }

    /// `GET /campaigns/{id}/email-accounts`: the mailboxes a campaign sends from.
    pub async fn campaign_email_accounts(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<EmailAccount>, SmartleadError> {
        self.get_list(
            &["campaigns", &campaign.to_string(), "email-accounts"],
            &[],
            "the campaign's email accounts",
        )
        .await
    }

    /// `POST /campaigns/{id}/email-accounts` with `{"email_account_ids":[..]}`:
    /// attaches sending mailboxes to a campaign. Attaching one that is
    /// already attached changes nothing, so the call is safe to retry.
    pub async fn attach_campaign_email_accounts(
        &self,
        campaign: CampaignId,
        accounts: &[EmailAccountId],
    ) -> Result<(), SmartleadError> {
        if accounts.is_empty() {
            return Err(SmartleadError::InvalidInput(
                "no email account to attach".into(),
            ));
        }
        let ids: Vec<i64> = accounts.iter().map(|id| id.0).collect();
        self.write(
            Method::POST,
            &["campaigns", &campaign.to_string(), "email-accounts"],
            &json!({ "email_account_ids": ids }),
            Idempotency::Idempotent,
        )
        .await
        .map(drop)
    }

    /// `GET /campaigns/{id}/webhooks`.
    pub async fn webhooks(&self, campaign: CampaignId) -> Result<Vec<Webhook>, SmartleadError> {
        self.get_list(
            &["campaigns", &campaign.to_string(), "webhooks"],
            &[],
            "the campaign's webhooks",
        )
        .await
    }

    /// `POST /campaigns/{id}/webhooks`: creates (`id: None`) or updates. A
    /// create is not retried after it may have arrived, so a flaky network
    /// cannot register the same webhook twice.
    pub async fn upsert_webhook(
        &self,
        campaign: CampaignId,
        webhook: &WebhookUpsert,
    ) -> Result<(), SmartleadError> {
        if webhook.categories.is_empty() {
            return Err(SmartleadError::InvalidInput(
                "a webhook needs at least one category name".into(),
            ));
        }
        let idempotency = if webhook.id.is_some() {
            Idempotency::Idempotent
        } else {
            Idempotency::NonIdempotent
        };
        let body = serde_json::to_value(webhook)
            .map_err(|error| SmartleadError::InvalidInput(error.to_string()))?;
        self.write(
            Method::POST,
            &["campaigns", &campaign.to_string(), "webhooks"],
            &body,
            idempotency,
        )
        .await
        .map(drop)
    }

    /// `DELETE /campaigns/{id}/webhooks` with body `{"id": webhook_id}`.
    pub async fn delete_webhook(
        &self,
        campaign: CampaignId,
        webhook_id: i64,
    ) -> Result<(), SmartleadError> {
        self.write(
            Method::DELETE,
            &["campaigns", &campaign.to_string(), "webhooks"],
            &json!({ "id": webhook_id }),
            Idempotency::Idempotent,
        )
        .await
        .map(drop)
    }

    /// `GET /client/`: the agency's clients.
    pub async fn clients(&self) -> Result<Vec<AgencyClient>, SmartleadError> {
        self.get_list(&["client", ""], &[], "agency clients").await
    }
}
