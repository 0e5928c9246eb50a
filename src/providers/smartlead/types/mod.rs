//! Smartlead's response and request bodies, parsed leniently (see `de`).

mod account;
mod analytics;
mod campaign;
mod ids;
mod lead;
mod message;

pub use account::{
    AgencyClient, DailyWarmup, EmailAccount, WarmupDetails, WarmupStats, Webhook, WebhookUpsert,
};
pub use analytics::{
    CampaignAnalytics, CampaignLeadStats, EmailStatusFilter, SequenceAnalyticsRow, StatisticsPage,
    StatisticsQuery, StatisticsRow,
};
pub use campaign::{
    Campaign, CampaignStatus, CampaignTag, LeadCampaign, Schedule, SequenceDelay, SequenceStep,
    SequenceVariant,
};
pub use ids::{CampaignId, EmailAccountId, LeadId, MapId};
pub use lead::{
    CampaignLead, Category, Lead, LeadCampaignData, LeadStatus, LeadUploadSettings,
    LeadWithCampaigns, LeadsPage, NewLead, UploadSummary,
};
pub use message::{HistoryItem, HistoryKind, MessageHistory, ReplyRequest};

/// Declares a string enum with known wire names and an `Other` fallback, so a
/// new status from Smartlead never fails a whole page.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this version of outpost does not know.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(text) => text,
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let trimmed = text.trim();
                $(if trimmed.eq_ignore_ascii_case($wire) {
                    return Ok($name::$variant);
                })+
                Ok($name::Other(trimmed.to_owned()))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = crate::providers::smartlead::de::string(deserializer)?;
                let Ok(parsed) = text.parse::<$name>();
                Ok(parsed)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;
