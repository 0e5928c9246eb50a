//! Id newtypes. Smartlead has two lead ids that are easy to mix up (and
//! mixing them gives 404s): the account-wide lead id and the per-campaign
//! membership ("map") id. Distinct types make the mix-up a compile error.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::providers::smartlead::de;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                de::i64(deserializer).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(formatter)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                $name(id)
            }
        }
    };
}

id_newtype!(
    /// The account-wide lead id (`lead.id`, `lead_id`, webhook `sl_email_lead_id`).
    LeadId
);
id_newtype!(
    /// A lead's membership in one campaign (`campaign_lead_map_id`,
    /// `email_lead_map_id`, webhook `sl_email_lead_map_id`).
    MapId
);
id_newtype!(
    /// A campaign id.
    CampaignId
);
id_newtype!(
    /// An email (sending mailbox) account id.
    EmailAccountId
);

/// Optional id fields: `null`, `""` or absent mean none.
pub(crate) fn opt_campaign_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<CampaignId>, D::Error> {
    de::opt_i64(deserializer).map(|id| id.map(CampaignId))
}
