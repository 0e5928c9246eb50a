//! An in-memory index over every lead for the leads table: compact rows with
//! their display text, one precomputed order per sortable column, and
//! filtering that narrows the previous result when the rep keeps typing.
//!
//! It is built once off the UI task (`LeadIndex::build`) and kept fresh with
//! `upsert`/`remove` from the change feed, so filtering 100k leads as the rep
//! types never touches the disk.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::Engine;
use crate::model::{Campaign, EventType, Lead};
use crate::store::StoreResult;

/// The columns of the leads table, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadColumn {
    Name,
    Email,
    LinkedIn,
    Company,
    Campaign,
    LastInteraction,
    Timestamp,
}

impl LeadColumn {
    pub const ALL: [LeadColumn; 7] = [
        LeadColumn::Name,
        LeadColumn::Email,
        LeadColumn::LinkedIn,
        LeadColumn::Company,
        LeadColumn::Campaign,
        LeadColumn::LastInteraction,
        LeadColumn::Timestamp,
    ];

    pub fn title(self) -> &'static str {
        match self {
            LeadColumn::Name => "Name",
            LeadColumn::Email => "Email",
            LeadColumn::LinkedIn => "LinkedIn URL",
            LeadColumn::Company => "Company",
            LeadColumn::Campaign => "Campaign",
            LeadColumn::LastInteraction => "Last interaction",
            LeadColumn::Timestamp => "Timestamp",
        }
    }

    pub fn next(self) -> LeadColumn {
        let at = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(at + 1) % Self::ALL.len()]
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// One lead as the table shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadRow {
    /// The lead's record key (`account/email`).
    pub key: String,
    pub account: String,
    pub name: String,
    pub email: String,
    pub linkedin: String,
    pub company: String,
    /// Every campaign the lead is in, joined for display.
    pub campaign: String,
    pub campaign_ids: Vec<i64>,
    pub last_event: Option<EventType>,
    pub last_event_at: Option<DateTime<Utc>>,
    /// Lower-cased name, email and company: what free-text search looks in.
    haystack: String,
    company_lower: String,
    campaign_lower: String,
}

impl LeadRow {
    fn from_lead(lead: &Lead, campaign_names: &HashMap<(String, i64), String>) -> LeadRow {
        let name = lead.full_name();
        let company = lead.company.clone().unwrap_or_default();
        let campaign = lead
            .memberships
            .iter()
            .map(|m| {
                m.campaign_name
                    .clone()
                    .or_else(|| {
                        campaign_names
                            .get(&(lead.account.clone(), m.campaign_id))
                            .cloned()
                    })
                    .unwrap_or_else(|| format!("#{}", m.campaign_id))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let haystack = format!("{name}\u{1}{}\u{1}{company}", lead.email).to_lowercase();
        LeadRow {
            key: lead.key(),
            account: lead.account.clone(),
            email: lead.email.clone(),
            linkedin: lead.linkedin_url.clone().unwrap_or_default(),
            company_lower: company.to_lowercase(),
            campaign_lower: campaign.to_lowercase(),
            company,
            campaign,
            campaign_ids: lead.memberships.iter().map(|m| m.campaign_id).collect(),
            last_event: lead.last_event,
            last_event_at: lead.last_event_at,
            name,
            haystack,
        }
    }

    fn compare(&self, other: &LeadRow, column: LeadColumn) -> Ordering {
        let primary = match column {
            LeadColumn::Name => cmp_text(&self.name, &other.name),
            LeadColumn::Email => self.email.cmp(&other.email),
            LeadColumn::LinkedIn => self.linkedin.cmp(&other.linkedin),
            LeadColumn::Company => self.company_lower.cmp(&other.company_lower),
            LeadColumn::Campaign => self.campaign_lower.cmp(&other.campaign_lower),
            LeadColumn::LastInteraction => self
                .last_event
                .map(EventType::as_str)
                .cmp(&other.last_event.map(EventType::as_str)),
            LeadColumn::Timestamp => self.last_event_at.cmp(&other.last_event_at),
        };
        primary.then_with(|| self.key.cmp(&other.key))
    }

    fn matches(&self, filter: &PreparedFilter) -> bool {
        if let Some(campaign) = &filter.campaign
            && !self.campaign_lower.contains(campaign.as_str())
        {
            return false;
        }
        if let Some(id) = filter.campaign_id
            && !self.campaign_ids.contains(&id)
        {
            return false;
        }
        if let Some(company) = &filter.company
            && !self.company_lower.contains(company.as_str())
        {
            return false;
        }
        if let Some(kind) = filter.event
            && self.last_event.map(EventType::base) != Some(kind.base())
        {
            return false;
        }
        if filter.since.is_some() || filter.until.is_some() {
            let Some(at) = self.last_event_at else {
                return false;
            };
            if filter.since.is_some_and(|s| at < s) || filter.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        filter
            .words
            .iter()
            .all(|word| self.haystack.contains(word.as_str()))
    }
}

/// Case-insensitive without allocating for the common ASCII case.
fn cmp_text(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// What the rep asked for, as typed in the filter box:
/// `campaign:NAME company:TEXT event:replied since:2026-01-01 until:2026-02-01 words…`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadFilter {
    pub search: String,
    pub campaign: Option<String>,
    pub campaign_id: Option<i64>,
    pub company: Option<String>,
    pub event: Option<EventType>,
    pub since: Option<NaiveDate>,
    /// Inclusive: leads whose last interaction is on or before this day.
    pub until: Option<NaiveDate>,
}

impl LeadFilter {
    /// Parses the filter box. Unknown `key:` prefixes and bad values are
    /// returned as problems and otherwise treated as search words.
    pub fn parse(text: &str) -> (LeadFilter, Vec<String>) {
        let mut filter = LeadFilter::default();
        let mut words = Vec::new();
        let mut problems = Vec::new();
        for token in text.split_whitespace() {
            let Some((key, value)) = token.split_once(':') else {
                words.push(token);
                continue;
            };
            let date = |v: &str, problems: &mut Vec<String>| {
                let parsed = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok();
                if parsed.is_none() && !v.is_empty() {
                    problems.push(format!("{key}: wants a date like 2026-03-01"));
                }
                parsed
            };
            match key {
                "campaign" if !value.is_empty() => match value.strip_prefix('#') {
                    Some(id) if id.parse::<i64>().is_ok() => {
                        filter.campaign_id = id.parse().ok();
                    }
                    // `_` stands for a space, so names fit in one token.
                    _ => filter.campaign = Some(value.replace('_', " ")),
                },
                "company" if !value.is_empty() => filter.company = Some(value.to_string()),
                "event" if !value.is_empty() => match EventType::parse(value) {
                    Some(kind) => filter.event = Some(kind),
                    None => problems.push(format!("event: unknown type {value:?}")),
                },
                "since" => filter.since = date(value, &mut problems),
                "until" => filter.until = date(value, &mut problems),
                "campaign" | "company" | "event" => {}
                _ => words.push(token),
            }
        }
        filter.search = words.join(" ");
        (filter, problems)
    }

    pub fn is_empty(&self) -> bool {
        *self == LeadFilter::default()
    }

    /// True when every lead `self` keeps is also kept by `broader`, so the
    /// previous result can be narrowed instead of scanning everything.
    pub fn narrows(&self, broader: &LeadFilter) -> bool {
        let same_fields = self.campaign == broader.campaign
            && self.campaign_id == broader.campaign_id
            && self.company == broader.company
            && self.event == broader.event
            && self.since == broader.since
            && self.until == broader.until;
        same_fields
            && broader
                .search
                .to_lowercase()
                .split_whitespace()
                .all(|w| self.search.to_lowercase().contains(w))
    }

    fn prepare(&self) -> PreparedFilter {
        let day_start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        PreparedFilter {
            words: self
                .search
                .to_lowercase()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            campaign: self.campaign.as_ref().map(|c| c.to_lowercase()),
            campaign_id: self.campaign_id,
            company: self.company.as_ref().map(|c| c.to_lowercase()),
            event: self.event,
            since: self.since.and_then(day_start),
            until: self.until.and_then(|d| d.succ_opt()).and_then(day_start),
        }
    }
}

struct PreparedFilter {
    words: Vec<String>,
    campaign: Option<String>,
    campaign_id: Option<i64>,
    company: Option<String>,
    event: Option<EventType>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

/// A column and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadOrder {
    pub column: LeadColumn,
    pub descending: bool,
}

impl Default for LeadOrder {
    /// Most recent interaction first: what a rep looks at most.
    fn default() -> Self {
        LeadOrder {
            column: LeadColumn::Timestamp,
            descending: true,
        }
    }
}

/// The index itself. Row ids are positions in `rows`; removed rows leave a
/// tombstone (`None`) so ids stay stable.
#[derive(Debug, Default)]
pub struct LeadIndex {
    rows: Vec<Option<LeadRow>>,
    by_key: HashMap<String, u32>,
    /// Per column, the live row ids in ascending order.
    orders: Vec<Vec<u32>>,
    campaign_names: HashMap<(String, i64), String>,
    live: usize,
}

impl LeadIndex {
    /// Reads every lead (and campaign names) from the store. Slow on a big
    /// cache: call it off the UI task.
    pub fn build(engine: &Engine) -> StoreResult<LeadIndex> {
        let mut campaign_names = HashMap::new();
        for campaign in engine.store().iter::<Campaign>() {
            let campaign = campaign?;
            campaign_names.insert((campaign.account, campaign.id), campaign.name);
        }
        let mut leads = Vec::with_capacity(engine.store().count::<Lead>());
        for lead in engine.store().iter::<Lead>() {
            leads.push(lead?);
        }
        Ok(Self::from_leads(&leads, campaign_names))
    }

    pub fn from_leads(leads: &[Lead], campaign_names: HashMap<(String, i64), String>) -> LeadIndex {
        let rows: Vec<Option<LeadRow>> = leads
            .iter()
            .map(|l| Some(LeadRow::from_lead(l, &campaign_names)))
            .collect();
        let by_key = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (r.key.clone(), i as u32)))
            .collect();
        let mut index = LeadIndex {
            live: rows.len(),
            rows,
            by_key,
            orders: Vec::new(),
            campaign_names,
        };
        index.orders = LeadColumn::ALL
            .iter()
            .map(|column| {
                let mut ids: Vec<u32> = (0..index.rows.len() as u32).collect();
                ids.sort_unstable_by(|a, b| index.cmp_ids(*a, *b, *column));
                ids
            })
            .collect();
        index
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn row(&self, id: u32) -> Option<&LeadRow> {
        self.rows.get(id as usize).and_then(Option::as_ref)
    }

    pub fn id_of(&self, key: &str) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    fn cmp_ids(&self, a: u32, b: u32, column: LeadColumn) -> Ordering {
        match (self.row(a), self.row(b)) {
            (Some(ra), Some(rb)) => ra.compare(rb, column),
            _ => a.cmp(&b),
        }
    }

    /// Every lead the filter keeps, in the order asked for.
    pub fn filter(&self, filter: &LeadFilter, order: LeadOrder) -> Vec<u32> {
        let prepared = filter.prepare();
        let ids = &self.orders[order.column.slot()];
        let keep = |id: &&u32| self.row(**id).is_some_and(|r| r.matches(&prepared));
        if order.descending {
            ids.iter().rev().filter(keep).copied().collect()
        } else {
            ids.iter().filter(keep).copied().collect()
        }
    }

    /// Narrows a previous result (in its order) with a stricter filter.
    pub fn refine(&self, previous: &[u32], filter: &LeadFilter) -> Vec<u32> {
        let prepared = filter.prepare();
        previous
            .iter()
            .copied()
            .filter(|id| self.row(*id).is_some_and(|r| r.matches(&prepared)))
            .collect()
    }

    /// Adds or replaces a lead, keeping every column order sorted.
    pub fn upsert(&mut self, lead: &Lead) {
        let row = LeadRow::from_lead(lead, &self.campaign_names);
        let id = match self.by_key.get(&row.key).copied() {
            Some(id) => {
                if self.row(id) == Some(&row) {
                    return;
                }
                self.unlink(id);
                self.rows[id as usize] = Some(row);
                id
            }
            None => {
                let id = self.rows.len() as u32;
                self.by_key.insert(row.key.clone(), id);
                self.rows.push(Some(row));
                id
            }
        };
        self.live += 1;
        for column in LeadColumn::ALL {
            let at = self.orders[column.slot()]
                .partition_point(|other| self.cmp_ids(*other, id, column) == Ordering::Less);
            self.orders[column.slot()].insert(at, id);
        }
    }

    /// Forgets a lead (deleted from the store).
    pub fn remove(&mut self, key: &str) {
        if let Some(id) = self.by_key.remove(key) {
            self.unlink(id);
            self.rows[id as usize] = None;
        }
    }

    /// Takes a live row out of every order (its sort keys may change).
    fn unlink(&mut self, id: u32) {
        if self.row(id).is_none() {
            return;
        }
        for column in LeadColumn::ALL {
            let order = &self.orders[column.slot()];
            let start = order.partition_point(|other| {
                *other != id && self.cmp_ids(*other, id, column) == Ordering::Less
            });
            let found = order[start..].iter().position(|other| *other == id);
            if let Some(offset) = found {
                self.orders[column.slot()].remove(start + offset);
            }
        }
        self.live -= 1;
    }

    /// Learns a campaign's name (campaign records can arrive after leads).
    pub fn set_campaign_name(&mut self, account: &str, id: i64, name: &str) {
        self.campaign_names
            .insert((account.to_string(), id), name.to_string());
    }

    /// Distinct campaign names, for cycling the campaign filter.
    pub fn campaign_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.campaign_names.values().cloned().collect();
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Membership;
    use chrono::TimeZone;

    fn lead(n: i64, company: &str, kind: EventType) -> Lead {
        let mut l = Lead::new("acme", &format!("p{n}@{company}.example"));
        l.first_name = Some(format!("Person{n}"));
        l.company = Some(company.to_string());
        l.last_event = Some(kind);
        l.last_event_at = Some(Utc.timestamp_opt(1_770_000_000 + n * 86_400, 0).unwrap());
        l.memberships = vec![Membership {
            campaign_id: n % 2,
            campaign_name: None,
            map_id: None,
            status: None,
            category_id: None,
        }];
        l
    }

    fn index() -> LeadIndex {
        let leads = vec![
            lead(1, "northwind", EventType::EmailOpened),
            lead(2, "contoso", EventType::EmailReplied),
            lead(3, "northwind", EventType::EmailFollowUpReplied),
            lead(4, "fabrikam", EventType::EmailSent),
        ];
        let names = HashMap::from([
            (("acme".to_string(), 0), "Q1 CFOs".to_string()),
            (("acme".to_string(), 1), "Q1 CTOs".to_string()),
        ]);
        LeadIndex::from_leads(&leads, names)
    }

    fn emails(index: &LeadIndex, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|id| index.row(*id).unwrap().email.clone())
            .collect()
    }

    #[test]
    fn filters_by_every_field_and_sorts() {
        let index = index();
        let (f, problems) = LeadFilter::parse("company:north event:replied");
        assert!(problems.is_empty());
        assert_eq!(
            emails(&index, &index.filter(&f, LeadOrder::default())),
            ["p3@northwind.example"]
        );
        let (f, _) = LeadFilter::parse("campaign:cto");
        let ids = index.filter(
            &f,
            LeadOrder {
                column: LeadColumn::Email,
                descending: false,
            },
        );
        assert_eq!(
            emails(&index, &ids),
            ["p1@northwind.example", "p3@northwind.example"]
        );
        let (f, _) = LeadFilter::parse("since:2026-02-04 until:2026-02-04");
        assert_eq!(index.filter(&f, LeadOrder::default()).len(), 1);
        let (_, problems) = LeadFilter::parse("event:nope since:yesterday");
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn typing_more_narrows_the_previous_result() {
        let index = index();
        let (broad, _) = LeadFilter::parse("p");
        let (narrow, _) = LeadFilter::parse("p3");
        assert!(narrow.narrows(&broad));
        assert!(!broad.narrows(&narrow));
        let first = index.filter(&broad, LeadOrder::default());
        assert_eq!(
            index.refine(&first, &narrow),
            index.filter(&narrow, LeadOrder::default())
        );
    }

    #[test]
    fn upsert_and_remove_keep_orders_sorted() {
        let mut index = index();
        let mut moved = lead(1, "northwind", EventType::EmailClicked);
        moved.last_event_at = Some(Utc.timestamp_opt(1_790_000_000, 0).unwrap());
        index.upsert(&moved);
        index.upsert(&lead(9, "zeta", EventType::EmailSent));
        assert_eq!(index.len(), 5);
        let newest = index.filter(&LeadFilter::default(), LeadOrder::default());
        assert_eq!(index.row(newest[0]).unwrap().email, "p1@northwind.example");
        assert_eq!(index.row(newest[1]).unwrap().email, "p9@zeta.example");
        index.remove(&Lead::key_for("acme", "p2@contoso.example"));
        assert_eq!(index.len(), 4);
        for column in LeadColumn::ALL {
            let ids = index.filter(
                &LeadFilter::default(),
                LeadOrder {
                    column,
                    descending: false,
                },
            );
            assert_eq!(ids.len(), 4);
            assert!(
                ids.windows(2)
                    .all(|w| index.cmp_ids(w[0], w[1], column) == Ordering::Less)
            );
        }
    }
}
