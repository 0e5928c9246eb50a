//! Deterministic data generator: the same seed, lead count and `now` always produce the
//! same clients, campaigns, mailboxes, leads and histories. Analytics are never stored;
//! they are computed from these histories, so totals always agree with what a full sync sees.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::model::{
    Campaign, CampaignStatus, Category, Client, Content, Data, EmailAccount, Lead, LeadStatus,
    Membership, Message, MessageKind, ReplyKind, Step, Variant,
};
use crate::sandbox::names;

/// Roughly one primary campaign per this many leads.
const LEADS_PER_CAMPAIGN: usize = 400;
const BOUNCE_RATE: f64 = 0.03;
const REPLY_RATE_PER_STEP: f64 = 0.09;
const UNSUBSCRIBE_RATE_PER_STEP: f64 = 0.012;
const OPEN_RATE: f64 = 0.45;
const CLICK_RATE_OF_OPENED: f64 = 0.15;

/// A generated data set, opaque outside the sandbox; `generate` is public for benchmarks.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub(crate) data: Data,
}

impl Dataset {
    pub fn lead_count(&self) -> usize {
        self.data.leads.len()
    }

    pub fn campaign_count(&self) -> usize {
        self.data.campaigns.len()
    }

    /// Every history item (sent and reply) across all campaigns.
    pub fn message_count(&self) -> usize {
        self.data.memberships.iter().map(|m| m.history.len()).sum()
    }
}

/// Builds the data set for `seed` with `lead_count` leads, all history at or before `now`.
pub fn generate(seed: u64, lead_count: usize, now: DateTime<Utc>) -> Dataset {
    let mut generator = Generator {
        rng: ChaCha8Rng::seed_from_u64(seed),
        now,
        data: empty_data(now),
        next_step_id: 480_000,
    };
    generator.data.user_id = 190_000 + generator.rng.random_range(0..9_000);
    generator.clients();
    generator.accounts(lead_count);
    generator.campaigns(lead_count);
    generator.leads(lead_count);
    generator.subsequence_members();
    generator.daily_sent_counts();
    Dataset {
        data: generator.data,
    }
}

fn empty_data(now: DateTime<Utc>) -> Data {
    Data {
        user_id: 0,
        clients: Vec::new(),
        campaigns: Vec::new(),
        accounts: Vec::new(),
        leads: Vec::new(),
        memberships: Vec::new(),
        categories: default_categories(now),
        lead_by_id: HashMap::new(),
        lead_by_email: HashMap::new(),
        next_campaign_id: 0,
        next_lead_id: 0,
        next_map_id: 0,
        next_webhook_id: 700,
        next_token: 0,
    }
}

/// The nine default categories plus one custom one, as `fetch-categories` lists them.
fn default_categories(now: DateTime<Utc>) -> Vec<Category> {
    let created_at = now - Duration::days(400);
    let defaults: [(i64, &str, Option<&'static str>); 10] = [
        (1, "Interested", Some("positive")),
        (2, "Meeting Request", Some("positive")),
        (3, "Not Interested", Some("negative")),
        (4, "Do Not Contact", Some("negative")),
        (5, "Information Request", Some("positive")),
        (6, "Out Of Office", None),
        (7, "Wrong Person", None),
        (8, "Uncategorizable by AI", None),
        (9, "Sender Originated Bounce", None),
        (101822, "Meeting Booked", Some("positive")),
    ];
    defaults
        .into_iter()
        .map(|(id, name, sentiment_type)| Category {
            id,
            name: name.to_string(),
            sentiment_type,
            created_at,
        })
        .collect()
}

struct Generator {
    rng: ChaCha8Rng,
    now: DateTime<Utc>,
    data: Data,
    next_step_id: i64,
}

impl Generator {
    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items.choose(&mut self.rng).copied().unwrap_or_default()
    }

    fn clients(&mut self) {
        let count = 2 + usize::from(self.rng.random_bool(0.5));
        let mut id = 34_000 + self.rng.random_range(0..900);
        for (name, email) in names::AGENCY_CLIENTS.iter().take(count) {
            self.data.clients.push(Client {
                id,
                name: (*name).to_string(),
                email: (*email).to_string(),
                created_at: self.now - Duration::days(self.rng.random_range(200..600)),
            });
            id += self.rng.random_range(1..400);
        }
    }

    fn accounts(&mut self, lead_count: usize) {
        let count = (lead_count / LEADS_PER_CAMPAIGN + 2).clamp(3, 40);
        let mut id = 5_100 + self.rng.random_range(0..800);
        for i in 0..count {
            let first = self.pick(names::FIRST_NAMES);
            let last = self.pick(names::LAST_NAMES);
            let domain = names::SENDER_DOMAINS[i % names::SENDER_DOMAINS.len()];
            let kind = ["GMAIL", "OUTLOOK", "SMTP"][i % 3];
            let client_id = self.data.clients.get(i % 4).map(|c| c.id);
            let warmup_sent = self.rng.random_range(300..3_000);
            self.data.accounts.push(EmailAccount {
                id,
                from_name: format!("{first} {last}"),
                from_email: format!(
                    "{}.{}{}@{domain}",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    i
                ),
                kind,
                message_per_day: self.rng.random_range(30..=60),
                daily_sent_count: 0,
                client_id,
                warmup_reputation: self.rng.random_range(88..=100),
                warmup_sent,
                warmup_spam: warmup_sent / self.rng.random_range(40..200),
                created_at: self.now - Duration::days(self.rng.random_range(120..400)),
            });
            id += self.rng.random_range(1..30);
        }
    }

    fn campaigns(&mut self, lead_count: usize) {
        let primaries = lead_count.div_ceil(LEADS_PER_CAMPAIGN).max(2);
        let statuses = [
            CampaignStatus::Active,
            CampaignStatus::Completed,
            CampaignStatus::Paused,
            CampaignStatus::Active,
            CampaignStatus::Stopped,
        ];
        let mut id = 1_764_000 + self.rng.random_range(0..800);
        for i in 0..=primaries {
            let is_subsequence = i == primaries;
            let status = if is_subsequence {
                CampaignStatus::Active
            } else {
                statuses[i % statuses.len()]
            };
            let audience = self.pick(names::CAMPAIGN_AUDIENCES);
            let angle = self.pick(names::CAMPAIGN_ANGLES);
            let name = if is_subsequence {
                format!("{} - Warm Follow-up", self.data.campaigns[0].name)
            } else {
                format!("{audience} {angle} #{}", i + 1)
            };
            let created_at = self.now - Duration::days(self.rng.random_range(30..110))
                + Duration::seconds(self.rng.random_range(0..86_400));
            let client_id = if i % 4 == 3 {
                None
            } else {
                self.data
                    .clients
                    .get(i % self.data.clients.len())
                    .map(|c| c.id)
            };
            let steps = self.steps(is_subsequence);
            let account_count = self.data.accounts.len();
            let accounts = vec![
                ((2 * i) % account_count) as u32,
                ((2 * i + 1) % account_count) as u32,
            ];
            let timezone = ["America/New_York", "Europe/London", "America/Los_Angeles"][i % 3];
            self.data.campaigns.push(Campaign {
                id,
                user_id: self.data.user_id,
                name,
                status,
                created_at,
                updated_at: created_at + Duration::hours(self.rng.random_range(1..72)),
                client_id,
                parent_campaign_id: is_subsequence.then(|| self.data.campaigns[0].id),
                timezone: timezone.to_string(),
                max_leads_per_day: self.rng.random_range(20..=80),
                min_time_btwn_emails: self.rng.random_range(5..=15),
                follow_up_percentage: 40,
                track_settings: if i % 3 == 2 {
                    vec!["DONT_LINK_CLICK"]
                } else {
                    Vec::new()
                },
                steps,
                accounts,
                members: Vec::new(),
                webhooks: Vec::new(),
            });
            id += self.rng.random_range(3..60);
        }
        self.data.next_campaign_id = id + 1;
    }

    fn steps(&mut self, is_subsequence: bool) -> Vec<Step> {
        const OPENERS: [(&str, &str); 3] = [
            (
                "{{first_name}}, quick question",
                "<p>Hi {{first_name}},</p><p>Teams like {{company_name}} usually lose a few hours a week to manual reporting. Worth a 15-minute look?</p><p>{{sender}}</p>",
            ),
            (
                "Idea for {{company_name}}",
                "<p>Hello {{first_name}},</p><p>I had an idea for how {{company_name}} could cut month-end close by two days. Open to hearing it?</p><p>{{sender}}</p>",
            ),
            (
                "{{company_name}} and a 2-day close",
                "<p>{{first_name}},</p><p>We helped a team your size close the books two days faster. Happy to share how.</p><p>{{sender}}</p>",
            ),
        ];
        const FOLLOW_UPS: [&str; 3] = [
            "<p>Hi {{first_name}}, bumping this to the top of your inbox. Any thoughts?</p>",
            "<p>{{first_name}}, here is a two-minute case study in case it helps: https://outpost-demo.example/case</p>",
            "<p>Last note from me, {{first_name}}. If timing is off, I'll close the loop.</p>",
        ];
        let step_count = if is_subsequence {
            2
        } else {
            self.rng.random_range(2..=4)
        };
        let variant_count = self.rng.random_range(2..=3);
        let mut steps = Vec::with_capacity(step_count);
        for n in 0..step_count {
            self.next_step_id += 1;
            let step_id = self.next_step_id;
            let delay_days = if n == 0 {
                0
            } else {
                self.rng.random_range(2..=5)
            };
            let mut step = Step {
                id: step_id,
                seq_number: (n + 1) as u8,
                delay_days,
                subject: String::new(),
                body: FOLLOW_UPS[(n + 2) % 3].to_string(),
                variants: Vec::new(),
            };
            if n == 0 {
                step.subject = OPENERS[0].0.to_string();
                step.body = OPENERS[0].1.to_string();
                for (v, label) in ["A", "B", "C"].iter().take(variant_count).enumerate() {
                    self.next_step_id += 1;
                    step.variants.push(Variant {
                        id: self.next_step_id,
                        label: (*label).to_string(),
                        subject: OPENERS[v].0.to_string(),
                        body: OPENERS[v].1.to_string(),
                    });
                }
            }
            steps.push(step);
        }
        steps
    }

    fn companies(&mut self, count: usize) -> Vec<(String, String)> {
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut companies = Vec::with_capacity(count);
        while companies.len() < count {
            let stem = self.pick(names::COMPANY_STEMS);
            let (suffix, slug_suffix) = *names::COMPANY_SUFFIXES
                .choose(&mut self.rng)
                .unwrap_or(&("", ""));
            let tld = self.pick(names::TLDS);
            let mut name = format!("{stem}{suffix}");
            let base_slug = format!("{}{}", stem.to_lowercase(), slug_suffix);
            let mut slug = if suffix.starts_with(' ') || suffix.is_empty() {
                base_slug.clone()
            } else {
                format!("{}{}", stem.to_lowercase(), suffix)
            };
            let mut n = 1;
            while !seen.insert(format!("{slug}.{tld}")) {
                n += 1;
                slug = format!("{base_slug}{n}");
                name = format!("{stem}{suffix} {n}");
            }
            companies.push((name, format!("{slug}.{tld}")));
        }
        companies
    }

    fn leads(&mut self, lead_count: usize) {
        let companies = self.companies((lead_count / 6).max(20));
        let primaries = self.data.campaigns.len() - 1;
        self.data.leads.reserve(lead_count);
        self.data.memberships.reserve(lead_count + lead_count / 20);
        self.data.lead_by_id.reserve(lead_count);
        self.data.lead_by_email.reserve(lead_count);
        let mut lead_id = 2_900_000_000_i64 + self.rng.random_range(0..50_000_000);
        let mut map_id = 2_400_000_000_i64 + self.rng.random_range(0..50_000_000);
        for i in 0..lead_count {
            lead_id += self.rng.random_range(1..=40);
            map_id += self.rng.random_range(1..=25);
            // Contiguous blocks keep each campaign's leads together, like a CSV upload.
            let campaign = (i * primaries / lead_count.max(1)).min(primaries - 1);
            let company = &companies[self.rng.random_range(0..companies.len())];
            let lead = self.lead(lead_id, company, campaign);
            let lead_index = self.data.leads.len() as u32;
            self.data.lead_by_id.insert(lead.id, lead_index);
            self.data
                .lead_by_email
                .insert(lead.email.to_lowercase(), lead_index);
            self.data.leads.push(lead);
            let start = self.lead_start(campaign);
            self.add_membership(lead_index, campaign, map_id, start);
        }
        self.data.next_lead_id = lead_id + 1;
        self.data.next_map_id = map_id + 1;
    }

    fn lead(&mut self, id: i64, company: &(String, String), campaign: usize) -> Lead {
        let first = self.pick(names::FIRST_NAMES);
        let last = self.pick(names::LAST_NAMES);
        let (company_name, domain) = company;
        let mut email = format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase());
        let mut n = 1;
        while self.data.lead_by_email.contains_key(&email) {
            n += 1;
            email = format!(
                "{}.{}{n}@{domain}",
                first.to_lowercase(),
                last.to_lowercase()
            );
        }
        let (location, timezone) = *names::LOCATIONS
            .choose(&mut self.rng)
            .unwrap_or(&("New York, NY, USA", "America/New_York"));
        let mut custom_fields = vec![("timezone".to_string(), timezone.to_string())];
        let extra = self.rng.random_range(1..=3);
        let offset = self.rng.random_range(0..4);
        for k in 0..extra {
            let (key, value) = match (offset + k) % 4 {
                0 => ("title", self.pick(names::TITLES)),
                1 => ("industry", self.pick(names::INDUSTRIES)),
                2 => ("employee_count", self.pick(names::EMPLOYEE_BANDS)),
                _ => ("lead_source", self.pick(names::LEAD_SOURCES)),
            };
            custom_fields.push((key.to_string(), value.to_string()));
        }
        let created_at = self.data.campaigns[campaign].created_at
            + Duration::minutes(self.rng.random_range(0..2_880));
        Lead {
            id,
            first_name: first.to_string(),
            last_name: last.to_string(),
            phone_number: format!(
                "+1 {} 555 {:04}",
                self.rng.random_range(201..990),
                self.rng.random_range(0..10_000)
            ),
            company_name: company_name.clone(),
            website: format!("https://{domain}"),
            company_url: format!("https://www.{domain}"),
            location: location.to_string(),
            linkedin_profile: format!(
                "https://www.linkedin.com/in/{}-{}-{:04x}",
                first.to_lowercase(),
                last.to_lowercase(),
                self.rng.random_range(0..0x10000)
            ),
            email,
            custom_fields,
            is_unsubscribed: false,
            created_at,
            memberships: Vec::new(),
        }
    }

    /// When the lead's first email is due: spread over the campaign's life, and for
    /// running campaigns partly in the future (those leads have not started yet).
    fn lead_start(&mut self, campaign: usize) -> DateTime<Utc> {
        let c = &self.data.campaigns[campaign];
        let life_hours = (self.now - c.created_at).num_hours().max(1);
        let span = match c.status {
            CampaignStatus::Completed => (life_hours - 24 * 20).max(1),
            CampaignStatus::Active => life_hours + 24 * 7,
            _ => life_hours,
        };
        c.created_at + Duration::hours(1 + self.rng.random_range(0..span))
    }

    /// Sending stops when a campaign is paused or stopped, a few days before `now`.
    fn send_cutoff(&self, campaign: usize) -> DateTime<Utc> {
        let c = &self.data.campaigns[campaign];
        match c.status {
            CampaignStatus::Paused | CampaignStatus::Stopped => {
                let days = 2 + (c.id % 7);
                (self.now - Duration::days(days)).max(c.created_at)
            }
            _ => self.now,
        }
    }

    fn add_membership(&mut self, lead: u32, campaign: usize, map_id: i64, start: DateTime<Utc>) {
        let cutoff = self.send_cutoff(campaign);
        let accounts = &self.data.campaigns[campaign].accounts;
        let account = accounts[self.rng.random_range(0..accounts.len())];
        let outcome = self.simulate(campaign, start, cutoff);
        if outcome.unsubscribed_at.is_some() {
            self.data.leads[lead as usize].is_unsubscribed = true;
        }
        let index = self.data.memberships.len() as u32;
        self.data.memberships.push(Membership {
            map_id,
            lead,
            campaign: campaign as u32,
            account,
            status: outcome.status,
            category_id: outcome.category_id,
            created_at: self.data.leads[lead as usize].created_at.min(start),
            unsubscribed_at: outcome.unsubscribed_at,
            category_changed_at: None,
            history: outcome.history,
        });
        self.data.campaigns[campaign].members.push(index);
        self.data.leads[lead as usize].memberships.push(index);
    }

    fn reply_kind(&mut self) -> ReplyKind {
        const WEIGHTS: [u32; 6] = [25, 15, 20, 20, 12, 8];
        let mut roll = self.rng.random_range(0..WEIGHTS.iter().sum::<u32>());
        for (kind, weight) in ReplyKind::ALL.into_iter().zip(WEIGHTS) {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        ReplyKind::Interested
    }

    fn simulate(
        &mut self,
        campaign: usize,
        start: DateTime<Utc>,
        cutoff: DateTime<Utc>,
    ) -> Outcome {
        let mut outcome = Outcome {
            history: Vec::new(),
            status: LeadStatus::Started,
            category_id: None,
            unsubscribed_at: None,
        };
        if self.rng.random_bool(0.005) {
            outcome.status = LeadStatus::Blocked;
            return outcome;
        }
        let steps: Vec<(u32, usize)> = self.data.campaigns[campaign]
            .steps
            .iter()
            .map(|s| (s.delay_days, s.variants.len()))
            .collect();
        let mut time = start;
        let mut finished = false;
        for (n, (delay_days, variant_count)) in steps.iter().enumerate() {
            time += Duration::days(i64::from(*delay_days))
                + Duration::minutes(self.rng.random_range(0..600));
            if time > cutoff {
                break;
            }
            let variant = if *variant_count > 0 {
                self.rng.random_range(0..*variant_count) as u8
            } else {
                0
            };
            let bounced = n == 0 && self.rng.random_bool(BOUNCE_RATE);
            let open_count = if !bounced && self.rng.random_bool(OPEN_RATE) {
                self.rng.random_range(1..=5)
            } else {
                0
            };
            let click_count = if open_count > 0 && self.rng.random_bool(CLICK_RATE_OF_OPENED) {
                self.rng.random_range(1..=2)
            } else {
                0
            };
            let stats_id = self.uuid();
            let token = self.data.take_token();
            outcome.history.push(Message {
                kind: MessageKind::Sent,
                stats_id,
                token,
                time,
                seq_number: Some((n + 1) as u8),
                variant,
                open_count,
                click_count,
                bounced,
                content: Content::Step,
            });
            if bounced {
                outcome.status = LeadStatus::Stopped;
                outcome.category_id = Some(9);
                finished = true;
                break;
            }
            if self.rng.random_bool(REPLY_RATE_PER_STEP) {
                let kind = self.reply_kind();
                let reply_time =
                    (time + Duration::minutes(self.rng.random_range(20..2_880))).min(self.now);
                let token = self.data.take_token();
                outcome.history.push(Message {
                    kind: MessageKind::Reply,
                    stats_id,
                    token,
                    time: reply_time,
                    seq_number: Some((n + 1) as u8),
                    variant,
                    open_count: 0,
                    click_count: 0,
                    bounced: false,
                    content: Content::Reply {
                        kind,
                        template: self.rng.random_range(0..3),
                    },
                });
                outcome.status = LeadStatus::Stopped;
                outcome.category_id = Some(kind.category_id());
                finished = true;
                break;
            }
            if self.rng.random_bool(UNSUBSCRIBE_RATE_PER_STEP) {
                let at = (time + Duration::hours(self.rng.random_range(1..24))).min(self.now);
                outcome.unsubscribed_at = Some(at);
                outcome.status = LeadStatus::Stopped;
                finished = true;
                break;
            }
        }
        if !finished && !outcome.history.is_empty() {
            outcome.status = if outcome.history.len() == steps.len() {
                LeadStatus::Completed
            } else if self.rng.random_bool(0.02) {
                LeadStatus::Paused
            } else {
                LeadStatus::InProgress
            };
        }
        outcome
    }

    /// Leads who answered the first campaign with interest move into its subsequence.
    fn subsequence_members(&mut self) {
        let Some(sub) = self.data.campaigns.len().checked_sub(1) else {
            return;
        };
        let parent_members = self.data.campaigns[0].members.clone();
        let mut map_id = self.data.next_map_id;
        for m in parent_members {
            let membership = &self.data.memberships[m as usize];
            let warm = matches!(membership.category_id, Some(1) | Some(5));
            let Some(reply_time) = membership
                .history
                .iter()
                .find(|msg| msg.kind == MessageKind::Reply)
                .map(|msg| msg.time)
            else {
                continue;
            };
            if !warm {
                continue;
            }
            let lead = membership.lead;
            map_id += self.rng.random_range(1..=25);
            self.add_membership(lead, sub, map_id, reply_time + Duration::days(1));
        }
        self.data.next_map_id = map_id + 1;
    }

    fn daily_sent_counts(&mut self) {
        let today = self.now.date_naive();
        for membership in &self.data.memberships {
            let sent_today = membership
                .history
                .iter()
                .filter(|m| m.kind == MessageKind::Sent && m.time.date_naive() == today)
                .count() as u32;
            self.data.accounts[membership.account as usize].daily_sent_count += sent_today;
        }
    }
}

struct Outcome {
    history: Vec<Message>,
    status: LeadStatus,
    category_id: Option<i64>,
    unsubscribed_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
#[path = "generate_tests.rs"]
mod tests;
