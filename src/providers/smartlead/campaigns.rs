//! Campaign, analytics and sequence endpoints.

use chrono::{NaiveDate, NaiveDateTime};

use super::client::Client;
use super::error::SmartleadError;
use super::types::{
    Campaign, CampaignAnalytics, CampaignId, SequenceAnalyticsRow, SequenceStep, StatisticsPage,
    StatisticsQuery,
};

impl Client {
    /// `GET /campaigns/` (unpaged), optionally one agency client's only.
    pub async fn list_campaigns(
        &self,
        client_id: Option<i64>,
    ) -> Result<Vec<Campaign>, SmartleadError> {
        let query: Vec<(&str, String)> = client_id
            .map(|id| ("client_id", id.to_string()))
            .into_iter()
            .collect();
        self.get_list(&["campaigns", ""], &query, "the campaign list")
            .await
    }

    /// `GET /campaigns/{id}`.
    pub async fn get_campaign(&self, id: CampaignId) -> Result<Campaign, SmartleadError> {
        self.get(&["campaigns", &id.to_string()], &[], "the campaign")
            .await
    }

    /// `GET /campaigns/{id}/analytics`: lifetime totals.
    pub async fn campaign_analytics(
        &self,
        id: CampaignId,
    ) -> Result<CampaignAnalytics, SmartleadError> {
        self.get(
            &["campaigns", &id.to_string(), "analytics"],
            &[],
            "campaign analytics",
        )
        .await
    }

    /// `GET /campaigns/{id}/analytics-by-date` for `start..=end`.
    pub async fn campaign_analytics_by_date(
        &self,
        id: CampaignId,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<CampaignAnalytics, SmartleadError> {
        if end < start {
            return Err(SmartleadError::InvalidInput(format!(
                "the end date {end} is before the start date {start}"
            )));
        }
        let query = [
            ("start_date", start.format("%Y-%m-%d").to_string()),
            ("end_date", end.format("%Y-%m-%d").to_string()),
        ];
        self.get(
            &["campaigns", &id.to_string(), "analytics-by-date"],
            &query,
            "campaign analytics by date",
        )
        .await
    }

    /// `GET /campaigns/{id}/statistics`: one page of per-email rows.
    pub async fn campaign_statistics(
        &self,
        id: CampaignId,
        page: &StatisticsQuery,
    ) -> Result<StatisticsPage, SmartleadError> {
        super::client::check_limit(page.limit, 1000)?;
        let mut query = vec![
            ("offset", page.offset.to_string()),
            ("limit", page.limit.to_string()),
        ];
        if let Some(status) = page.email_status {
            query.push(("email_status", status.as_str().to_owned()));
        }
        if let Some(number) = page.email_sequence_number {
            query.push(("email_sequence_number", number.to_string()));
        }
        if let Some(date) = page.sent_time_start_date {
            query.push(("sent_time_start_date", date.format("%Y-%m-%d").to_string()));
        }
        if let Some(date) = page.sent_time_end_date {
            query.push(("sent_time_end_date", date.format("%Y-%m-%d").to_string()));
        }
        self.get(
            &["campaigns", &id.to_string(), "statistics"],
            &query,
            "campaign statistics",
        )
        .await
    }

    /// `GET /campaigns/{id}/sequence-analytics`: one row per step.
    pub async fn sequence_analytics(
        &self,
        id: CampaignId,
        start: NaiveDateTime,
        end: NaiveDateTime,
        time_zone: Option<&str>,
    ) -> Result<Vec<SequenceAnalyticsRow>, SmartleadError> {
        let mut query = vec![
            ("start_date", start.format("%Y-%m-%d %H:%M:%S").to_string()),
            ("end_date", end.format("%Y-%m-%d %H:%M:%S").to_string()),
        ];
        if let Some(zone) = time_zone {
            query.push(("time_zone", zone.to_owned()));
        }
        self.get_list(
            &["campaigns", &id.to_string(), "sequence-analytics"],
            &query,
            "sequence analytics",
        )
        .await
    }

    /// `GET /campaigns/{id}/sequences`.
    pub async fn campaign_sequences(
        &self,
        id: CampaignId,
    ) -> Result<Vec<SequenceStep>, SmartleadError> {
        self.get_list(
            &["campaigns", &id.to_string(), "sequences"],
            &[],
            "campaign sequences",
        )
        .await
    }
}
