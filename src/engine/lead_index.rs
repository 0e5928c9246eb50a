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
use memchr::memmem::Finder;

use super::Engine;
use crate::model::{Campaign, EventType, Lead, normalize_email};
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

/// One lead as the table shows it. The texts live in two allocations (the
/// display text and its lower-cased search text) with offsets, so 100k rows
/// stay a few tens of megabytes.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadRow {
    /// `account/email` (the record key), then name, LinkedIn, company, and
    /// every campaign the lead is in, joined for display.
    text: Box<str>,
    /// Where the account, key, name, LinkedIn and company end in `text`.
    ends: [u32; 5],
    /// Lower-cased `name \u{1} email \u{1} company \u{1} campaign`.
    lower: Box<str>,
    /// Where the free-text part (name, email, company) ends and where the
    /// company starts, in `lower`.
    search_end: u32,
    company_start: u32,
    campaign_ids: Box<[i64]>,
    pub last_event: Option<EventType>,
    pub last_event_at: Option<DateTime<Utc>>,
}

impl LeadRow {
    fn from_lead(lead: &Lead, campaign_names: &HashMap<(String, i64), String>) -> LeadRow {
        let name = lead.full_name();
        let company = lead.company.as_deref().unwrap_or_default();
        let linkedin = lead.linkedin_url.as_deref().unwrap_or_default();
        let mut campaign = String::new();
        for (i, m) in lead.memberships.iter().enumerate() {
            if i > 0 {
                campaign.push_str(", ");
            }
            match m
                .campaign_name
                .as_ref()
                .or_else(|| campaign_names.get(&(lead.account.clone(), m.campaign_id)))
            {
                Some(name) => campaign.push_str(name),
                None => campaign.push_str(&format!("#{}", m.campaign_id)),
            }
        }
        let mut text = String::with_capacity(
            lead.account.len()
                + 1
                + lead.email.len()
                + name.len()
                + linkedin.len()
                + company.len()
                + campaign.len(),
        );
        let mut ends = [0u32; 5];
        for (slot, part) in [
            lead.account.as_str(),
            "/",
            lead.email.as_str(),
            name.as_str(),
            linkedin,
            company,
        ]
        .into_iter()
        .enumerate()
        {
            text.push_str(part);
            // The "/" between account and email closes no field of its own.
            match slot {
                0 => ends[0] = text.len() as u32,
                1 => {}
                n => ends[n - 1] = text.len() as u32,
            }
        }
        text.push_str(&campaign);
        let mut lower = format!("{name}\u{1}{}\u{1}", lead.email).to_lowercase();
        let company_start = lower.len() as u32;
        lower.push_str(&company.to_lowercase());
        let search_end = lower.len() as u32;
        lower.push('\u{1}');
        lower.push_str(&campaign.to_lowercase());
        LeadRow {
            text: text.into_boxed_str(),
            ends,
            lower: lower.into_boxed_str(),
            search_end,
            company_start,
            campaign_ids: lead.memberships.iter().map(|m| m.campaign_id).collect(),
            last_event: lead.last_event,
            last_event_at: lead.last_event_at,
        }
    }

    fn part(&self, from: u32, to: u32) -> &str {
        &self.text[from as usize..to as usize]
    }

    /// The lead's record key (`account/email`).
    pub fn key(&self) -> &str {
        self.part(0, self.ends[1])
    }

    pub fn account(&self) -> &str {
        self.part(0, self.ends[0])
    }

    pub fn email(&self) -> &str {
        self.part(self.ends[0] + 1, self.ends[1])
    }

    pub fn name(&self) -> &str {
        self.part(self.ends[1], self.ends[2])
    }

    pub fn linkedin(&self) -> &str {
        self.part(self.ends[2], self.ends[3])
    }

    pub fn company(&self) -> &str {
        self.part(self.ends[3], self.ends[4])
    }

    /// Every campaign the lead is in, joined for display.
    pub fn campaign(&self) -> &str {
        &self.text[self.ends[4] as usize..]
    }

    pub fn campaign_ids(&self) -> &[i64] {
        &self.campaign_ids
    }

    /// Lower-cased name, email and company: what free-text search looks in.
    fn haystack(&self) -> &str {
        &self.lower[..self.search_end as usize]
    }

    fn company_lower(&self) -> &str {
        &self.lower[self.company_start as usize..self.search_end as usize]
    }

    fn campaign_lower(&self) -> &str {
        &self.lower[self.search_end as usize + 1..]
    }

    fn compare(&self, other: &LeadRow, column: LeadColumn) -> Ordering {
        let primary = match column {
            LeadColumn::Name => cmp_text(self.name(), other.name()),
            LeadColumn::Email => self.email().cmp(other.email()),
            LeadColumn::LinkedIn => self.linkedin().cmp(other.linkedin()),
            LeadColumn::Company => self.company_lower().cmp(other.company_lower()),
            LeadColumn::Campaign => self.campaign_lower().cmp(other.campaign_lower()),
            LeadColumn::LastInteraction => self
                .last_event
                .map(EventType::as_str)
                .cmp(&other.last_event.map(EventType::as_str)),
            LeadColumn::Timestamp => self.last_event_at.cmp(&other.last_event_at),
        };
        primary.then_with(|| self.key().cmp(other.key()))
    }

    fn matches(&self, filter: &PreparedFilter) -> bool {
        if let Some(campaign) = &filter.campaign
            && campaign.find(self.campaign_lower().as_bytes()).is_none()
        {
            return false;
        }
        if let Some(id) = filter.campaign_id
            && !self.campaign_ids.contains(&id)
        {
            return false;
        }
        if let Some(company) = &filter.company
            && company.find(self.company_lower().as_bytes()).is_none()
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
        let haystack = self.haystack().as_bytes();
        filter
            .words
            .iter()
            .all(|word| word.find(haystack).is_some())
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
        let finder = |text: &str| Finder::new(text.as_bytes()).into_owned();
        PreparedFilter {
            words: self
                .search
                .to_lowercase()
                .split_whitespace()
                .map(finder)
                .collect(),
            campaign: self.campaign.as_ref().map(|c| finder(&c.to_lowercase())),
            campaign_id: self.campaign_id,
            company: self.company.as_ref().map(|c| finder(&c.to_lowercase())),
            event: self.event,
            since: self.since.and_then(day_start),
            until: self.until.and_then(|d| d.succ_opt()).and_then(day_start),
        }
    }
}

/// A filter ready to run over 100k rows: each needle's searcher is built
/// once, not once per row.
struct PreparedFilter {
    words: Vec<Finder<'static>>,
    campaign: Option<Finder<'static>>,
    campaign_id: Option<i64>,
    company: Option<Finder<'static>>,
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
    by_key: HashMap<Box<str>, u32>,
    /// Per column, the live row ids in ascending order.
    orders: Vec<Vec<u32>>,
    campaign_names: HashMap<(String, i64), String>,
    live: usize,
    /// The rep's tags on each person, by normalized email (a tag is on the
    /// person, whichever account's record a row shows).
    tags: HashMap<Box<str>, Vec<String>>,
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
        // Rows are made as the leads stream by: holding every full Lead at
        // once would cost several times the index itself.
        let mut rows = Vec::with_capacity(engine.store().count::<Lead>());
        for lead in engine.store().iter::<Lead>() {
            rows.push(LeadRow::from_lead(&lead?, &campaign_names));
        }
        let mut index = Self::from_rows(rows, campaign_names);
        for (email, tags) in engine.lead_tag_map()? {
            index.set_tags(&email, tags);
        }
        Ok(index)
    }

    /// The tags on the person with this email.
    pub fn tags_of(&self, email: &str) -> &[String] {
        self.tags
            .get(normalize_email(email).as_str())
            .map_or(&[], Vec::as_slice)
    }

    /// Replaces the tags on the person with this email (none: untagged).
    pub fn set_tags(&mut self, email: &str, tags: Vec<String>) {
        let email: Box<str> = normalize_email(email).into();
        if tags.is_empty() {
            self.tags.remove(&email);
        } else {
            self.tags.insert(email, tags);
        }
    }

    pub fn from_leads(leads: &[Lead], campaign_names: HashMap<(String, i64), String>) -> LeadIndex {
        let rows = leads
            .iter()
            .map(|l| LeadRow::from_lead(l, &campaign_names))
            .collect();
        Self::from_rows(rows, campaign_names)
    }

    fn from_rows(rows: Vec<LeadRow>, campaign_names: HashMap<(String, i64), String>) -> LeadIndex {
        let by_key = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (Box::from(r.key()), i as u32))
            .collect();
        let mut index = LeadIndex {
            live: rows.len(),
            rows: rows.into_iter().map(Some).collect(),
            by_key,
            orders: Vec::new(),
            campaign_names,
            tags: HashMap::new(),
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
        // Rows are tested in storage order (a sequential walk the CPU can
        // prefetch), then the column's order picks the kept ones: testing in
        // sort order would jump around memory once per row.
        let kept: Vec<bool> = self
            .rows
            .iter()
            .map(|row| row.as_ref().is_some_and(|r| r.matches(&prepared)))
            .collect();
        let keep = |id: &&u32| kept[**id as usize];
        let ids = &self.orders[order.column.slot()];
        if order.descending {
            ids.iter().rev().filter(keep).copied().collect()
        } else {
            ids.iter().filter(keep).copied().collect()
        }
    }

    /// Narrows a previous result (in `order`) with a stricter filter. A large
    /// previous result is cheaper to recompute in storage order.
    pub fn refine(&self, previous: &[u32], filter: &LeadFilter, order: LeadOrder) -> Vec<u32> {
        if previous.len() > self.rows.len() / 8 {
            return self.filter(filter, order);
        }
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
        let id = match self.by_key.get(row.key()).copied() {
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
                self.by_key.insert(Box::from(row.key()), id);
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

    /// Every campaign the index knows, by id and name (the campaign filter's
    /// list).
    pub fn campaigns(&self) -> Vec<(i64, String)> {
        let mut campaigns: Vec<(i64, String)> = self
            .campaign_names
            .iter()
            .map(|((_, id), name)| (*id, name.clone()))
            .collect();
        campaigns.sort_by(|a, b| {
            a.1.to_lowercase()
                .cmp(&b.1.to_lowercase())
                .then(a.0.cmp(&b.0))
        });
        campaigns.dedup();
        campaigns
    }

    /// Distinct campaign names, for the campaign filter.
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
            .map(|id| index.row(*id).unwrap().email().to_string())
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
            index.refine(&first, &narrow, LeadOrder::default()),
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
        assert_eq!(
            index.row(newest[0]).unwrap().email(),
            "p1@northwind.example"
        );
        assert_eq!(index.row(newest[1]).unwrap().email(), "p9@zeta.example");
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
