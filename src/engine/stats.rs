//! Campaign statistics: counts, rates with their definitions, daily series and
//! sending-mailbox deliverability.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Engine;
use crate::model::*;
use crate::store::StoreResult;

/// A rate and exactly what it divides, so the rep can check it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub name: String,
    pub count: u64,
    /// Percent, 0-100, None when the denominator is zero.
    pub percent: Option<f64>,
    pub numerator: String,
    pub denominator: String,
}

fn rate(name: &str, count: u64, num_label: &str, den: u64, den_label: &str) -> Rate {
    Rate {
        name: name.to_string(),
        count,
        percent: (den > 0).then(|| (count as f64) * 100.0 / den as f64),
        numerator: num_label.to_string(),
        denominator: format!("{den_label} ({den})"),
    }
}

/// The summary cards for a set of counts.
pub fn rates(c: &Counts) -> Vec<Rate> {
    let leads = c.unique_sent;
    vec![
        rate("sent", c.sent, "emails sent", c.sent, "emails sent"),
        rate(
            "delivered",
            c.delivered(),
            "emails sent minus bounces",
            c.sent,
            "emails sent",
        ),
        rate(
            "opened",
            c.unique_opened,
            "leads who opened",
            leads,
            "leads contacted",
        ),
        rate(
            "clicked",
            c.unique_clicked,
            "leads who clicked",
            leads,
            "leads contacted",
        ),
        rate(
            "replied",
            c.replied,
            "leads who replied",
            leads,
            "leads contacted",
        ),
        rate(
            "bounced",
            c.bounced,
            "emails bounced",
            c.sent,
            "emails sent",
        ),
        rate(
            "unsubscribed",
            c.unsubscribed,
            "leads who unsubscribed",
            leads,
            "leads contacted",
        ),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayPoint {
    pub date: NaiveDate,
    pub sent: u64,
    pub opened: u64,
    pub clicked: u64,
    pub replied: u64,
    pub bounced: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignStats {
    pub account: String,
    pub campaign_id: i64,
    pub name: String,
    pub status: String,
    pub client_id: Option<i64>,
    pub leads: u64,
    pub counts: Counts,
    pub lead_stats: LeadStats,
    pub rates: Vec<Rate>,
    pub days: Vec<DayPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    pub campaigns: Vec<CampaignStats>,
    /// Sums over the campaigns listed.
    pub totals: Counts,
    pub total_rates: Vec<Rate>,
    pub mailboxes: Vec<MailboxHealth>,
    /// Each Gmail mailbox's own bounce rate and bounce pause.
    #[serde(default)]
    pub gmail_mailboxes: Vec<super::MailboxBounces>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxHealth {
    pub mailbox: Mailbox,
    /// Percent of the daily limit used today.
    pub daily_use_percent: Option<f64>,
    pub warmup_spam_percent: Option<f64>,
    /// Bounces per email sent from this mailbox, where Smartlead's figures
    /// can be pinned on it; its definition says what was counted, or why
    /// nothing could be (then `percent` is None).
    pub bounce_rate: Rate,
}

/// Which of the campaigns in view a mailbox sends for.
#[derive(Debug, Default)]
struct MailboxCampaigns {
    /// Campaigns it is the only sender of: all their sends are its own.
    alone: u64,
    sent: u64,
    bounced: u64,
    /// Campaigns it shares with other mailboxes.
    shared: u64,
}

/// Smartlead counts sends and bounces per campaign, and its statistics rows
/// do not name the sending mailbox; so a mailbox's bounce rate is exact over
/// the campaigns it sends alone and unknown over campaigns that rotate
/// several mailboxes (never split by guesswork).
fn mailbox_bounce_rate(usage: Option<&MailboxCampaigns>) -> Rate {
    let none = MailboxCampaigns::default();
    let usage = usage.unwrap_or(&none);
    if usage.alone == 0 {
        let reason = if usage.shared == 0 {
            "no campaign in view sends from it".to_string()
        } else {
            format!(
                "unknown: its {} campaign(s) also send from other mailboxes, and Smartlead does not say which mailbox sent each email",
                usage.shared
            )
        };
        return Rate {
            name: "bounced".into(),
            count: 0,
            percent: None,
            numerator: "—".into(),
            denominator: reason,
        };
    }
    let mut numerator = format!(
        "emails bounced in the {} campaign(s) it sends alone",
        usage.alone
    );
    if usage.shared > 0 {
        numerator.push_str(&format!(
            " ({} shared with other mailboxes not counted)",
            usage.shared
        ));
    }
    rate(
        "bounced",
        usage.bounced,
        &numerator,
        usage.sent,
        "emails sent in them",
    )
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatsQuery {
    pub account: Option<String>,
    pub campaign_id: Option<i64>,
    /// Set by the door from who asks; never read from the wire.
    #[serde(skip)]
    pub scope: super::Scope,
}

impl Engine {
    pub fn stats(&self, q: &StatsQuery) -> StoreResult<StatsReport> {
        let mut campaigns = Vec::new();
        let mut totals = Counts::default();
        let mut senders: HashMap<(String, i64), MailboxCampaigns> = HashMap::new();
        for campaign in self.store.iter::<Campaign>() {
            let campaign = campaign?;
            if !q.scope.sees(&campaign.account)
                || q.account.as_deref().is_some_and(|a| a != campaign.account)
                || q.campaign_id.is_some_and(|id| id != campaign.id)
            {
                continue;
            }
            let days = self
                .store
                .scan_prefix::<CampaignDay>(&CampaignDay::prefix_for(
                    &campaign.account,
                    campaign.id,
                ))
                .map(|d| {
                    d.map(|d| DayPoint {
                        date: d.date,
                        sent: d.counts.sent,
                        opened: d.counts.opened,
                        clicked: d.counts.clicked,
                        replied: d.counts.replied,
                        bounced: d.counts.bounced,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            totals.add(&campaign.counts);
            let alone = campaign.email_account_ids.len() == 1;
            for id in &campaign.email_account_ids {
                let usage = senders.entry((campaign.account.clone(), *id)).or_default();
                if alone {
                    usage.alone += 1;
                    usage.sent += campaign.counts.sent;
                    usage.bounced += campaign.counts.bounced;
                } else {
                    usage.shared += 1;
                }
            }
            campaigns.push(CampaignStats {
                account: campaign.account.clone(),
                campaign_id: campaign.id,
                name: campaign.name.clone(),
                status: campaign.status.clone(),
                client_id: campaign.client_id,
                leads: campaign.lead_stats.total,
                rates: rates(&campaign.counts),
                counts: campaign.counts,
                lead_stats: campaign.lead_stats,
                days,
            });
        }
        let mut mailboxes = Vec::new();
        for mailbox in self.store.iter::<Mailbox>() {
            let mailbox = mailbox?;
            if !q.scope.sees(&mailbox.account)
                || q.account.as_deref().is_some_and(|a| a != mailbox.account)
            {
                continue;
            }
            let daily_use_percent = match (mailbox.sent_today, mailbox.daily_limit) {
                (Some(sent), Some(limit)) if limit > 0 => Some(sent as f64 * 100.0 / limit as f64),
                _ => None,
            };
            let warmup_spam_percent = match (mailbox.warmup_spam, mailbox.warmup_sent) {
                (Some(spam), Some(sent)) if sent > 0 => Some(spam as f64 * 100.0 / sent as f64),
                _ => None,
            };
            let bounce_rate =
                mailbox_bounce_rate(senders.get(&(mailbox.account.clone(), mailbox.id)));
            mailboxes.push(MailboxHealth {
                mailbox,
                daily_use_percent,
                warmup_spam_percent,
                bounce_rate,
            });
        }
        Ok(StatsReport {
            total_rates: rates(&totals),
            campaigns,
            totals,
            mailboxes,
            gmail_mailboxes: self
                .mailbox_bounces()?
                .into_iter()
                .filter(|m| q.scope.sees(&m.account))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_name_their_parts() {
        let counts = Counts {
            sent: 812,
            unique_sent: 377,
            unique_opened: 231,
            replied: 26,
            bounced: 9,
            ..Counts::default()
        };
        let all = rates(&counts);
        let replied = all.iter().find(|r| r.name == "replied").unwrap();
        assert_eq!(replied.count, 26);
        assert!((replied.percent.unwrap() - 6.896).abs() < 0.01);
        assert_eq!(replied.denominator, "leads contacted (377)");
        let delivered = all.iter().find(|r| r.name == "delivered").unwrap();
        assert_eq!(delivered.count, 803);
        let empty = rates(&Counts::default());
        assert!(empty.iter().all(|r| r.percent.is_none()));
    }

    #[test]
    fn a_mailbox_bounce_rate_counts_only_campaigns_it_sends_alone() {
        let usage = MailboxCampaigns {
            alone: 1,
            sent: 812,
            bounced: 9,
            shared: 2,
        };
        let rate = mailbox_bounce_rate(Some(&usage));
        assert_eq!(rate.count, 9);
        assert!((rate.percent.unwrap() - 1.108).abs() < 0.01);
        assert_eq!(rate.denominator, "emails sent in them (812)");
        assert!(rate.numerator.contains("2 shared"), "{}", rate.numerator);

        let shared = mailbox_bounce_rate(Some(&MailboxCampaigns {
            shared: 3,
            ..MailboxCampaigns::default()
        }));
        assert_eq!(shared.percent, None);
        assert!(
            shared.denominator.contains("does not say which mailbox"),
            "{}",
            shared.denominator
        );
        let idle = mailbox_bounce_rate(None);
        assert_eq!(idle.percent, None);
        assert_eq!(idle.denominator, "no campaign in view sends from it");
    }
}
