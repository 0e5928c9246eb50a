//! A query that names an account, campaign, category or sequence must name
//! one that exists: a typo would otherwise answer "nothing matches", which
//! reads as a fact about the data. Refused instead, with the valid values.

use std::collections::BTreeSet;

use super::search::{Condition, LabelNames, SearchQuery};
use super::{CommandError, CommandResult, Engine, default_categories};
use crate::model::{Account, Campaign, Sequence};

/// How many valid values an error lists before it points at the full list.
const LISTED: usize = 30;

/// The names one query filters on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filters<'a> {
    pub account: Option<&'a str>,
    pub campaign_id: Option<i64>,
    pub category: Option<&'a str>,
    pub sequence: Option<&'a str>,
}

impl Engine {
    /// Refuses a search naming a label or a category this outpost does not
    /// know (`--label` is a `label:` condition by then).
    pub(crate) fn check_search_names(
        &self,
        search: &SearchQuery,
        labels: &LabelNames,
    ) -> CommandResult<()> {
        for condition in search.conditions() {
            match condition {
                Condition::Label(name) => check_label(name, labels)?,
                Condition::Category(name) => self.check_filters(Filters {
                    category: Some(name),
                    ..Filters::default()
                })?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Refuses the first filter that names nothing this outpost knows.
    pub fn check_filters(&self, filters: Filters<'_>) -> CommandResult<()> {
        if let Some(account) = filters.account {
            let known = self.account_names()?;
            if !known.contains(account) {
                return Err(unknown(
                    "account",
                    account,
                    known.iter().cloned(),
                    "a newly configured account appears after its first `outpost sync`",
                ));
            }
        }
        if let Some(id) = filters.campaign_id {
            let mut campaigns: Vec<(i64, String)> = Vec::new();
            for campaign in self.store().iter::<Campaign>() {
                let campaign = campaign?;
                campaigns.push((campaign.id, campaign.name));
            }
            if !campaigns.iter().any(|(known, _)| *known == id) {
                campaigns.sort();
                campaigns.dedup();
                return Err(unknown(
                    "campaign",
                    &id.to_string(),
                    campaigns
                        .into_iter()
                        .map(|(id, name)| format!("{id} ({name})")),
                    "`outpost stats` lists them with their figures",
                ));
            }
        }
        if let Some(category) = filters.category {
            let known = self.category_names()?;
            let wanted = category.trim();
            // Matched as the inbox matches it: case-insensitively.
            if !known.iter().any(|name| name.eq_ignore_ascii_case(wanted)) {
                return Err(unknown(
                    "category",
                    category,
                    known.into_iter(),
                    "categories are Smartlead's lead categories; quote names with spaces",
                ));
            }
        }
        if let Some(sequence) = filters.sequence
            && self.store().get::<Sequence>(sequence)?.is_none()
        {
            let mut names = Vec::new();
            for found in self.store().iter::<Sequence>() {
                names.push(found?.name);
            }
            return Err(unknown(
                "sequence",
                sequence,
                names.into_iter(),
                "`outpost sequence apply FILE` adds one",
            ));
        }
        Ok(())
    }

    /// Accounts in the cache, and those this process is configured with
    /// (they may not have synced yet).
    fn account_names(&self) -> CommandResult<BTreeSet<String>> {
        let mut names: BTreeSet<String> = self
            .providers()
            .smartlead
            .keys()
            .chain(self.providers().gmail.keys())
            .cloned()
            .collect();
        for account in self.store().iter::<Account>() {
            names.insert(account?.name);
        }
        Ok(names)
    }

    /// Smartlead's default categories, then each account's own, once each.
    fn category_names(&self) -> CommandResult<Vec<String>> {
        let mut names: Vec<String> = default_categories().into_iter().map(|c| c.name).collect();
        for account in self.store().iter::<Account>() {
            for category in account?.categories {
                if !names.iter().any(|n| n.eq_ignore_ascii_case(&category.name)) {
                    names.push(category.name);
                }
            }
        }
        Ok(names)
    }
}

/// Refuses a label name (any case) no Gmail account has.
pub(crate) fn check_label(name: &str, labels: &LabelNames) -> CommandResult<()> {
    let mut known: Vec<String> = labels
        .values()
        .flat_map(|l| l.labels.iter().filter(|l| !l.system))
        .map(|l| l.name.clone())
        .collect();
    known.sort();
    known.dedup();
    let wanted = name.trim().to_lowercase();
    if known.iter().any(|k| k.to_lowercase() == wanted) {
        return Ok(());
    }
    Err(unknown(
        "label",
        name,
        known.into_iter(),
        "labels are the Gmail accounts' own labels, read on each `outpost sync`; \
         quote names with spaces",
    ))
}

/// `what` names the kind of thing once; its plural adds an `s` except for
/// "category".
fn unknown(
    what: &str,
    given: &str,
    valid: impl Iterator<Item = String>,
    hint: &str,
) -> CommandError {
    let plural = match what.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{what}s"),
    };
    let valid: Vec<String> = valid.collect();
    let listed = match valid.len() {
        0 => format!("there are no {plural} here yet"),
        n if n > LISTED => format!(
            "valid {plural}: {}, … and {} more",
            valid[..LISTED].join(", "),
            n - LISTED
        ),
        _ => format!("valid {plural}: {}", valid.join(", ")),
    };
    CommandError::Invalid(format!("unknown {what} {given:?}; {listed}; {hint}"))
}
