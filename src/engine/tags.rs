//! Local tags on conversations and leads (`outpost tag KEY +hot -later`).
//! Each change is a compare-and-swap of the target's [`TagSet`] record;
//! sync never writes these records, so tags survive every sync.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{CommandError, CommandResult, Engine};
use crate::model::{Lead, TagOn, TagSet, TagTarget, canonical_tag, normalize_email};
use crate::store::{Index, StoreResult, keys::KeyBuf};

/// One tag in use, and on how many conversations and leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagCount {
    pub name: String,
    pub conversations: usize,
    pub leads: usize,
}

/// `+hot -later` (one change a word) split into tags to add and to
/// remove, canonical. A word without a sign adds, as `tag KEY hot` reads.
pub fn parse_tag_changes(words: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut add = Vec::new();
    let mut remove = Vec::new();
    for word in words {
        match word.strip_prefix('-') {
            Some(name) => remove.push(canonical_tag(name)?),
            None => add.push(canonical_tag(word.strip_prefix('+').unwrap_or(word))?),
        }
    }
    if add.is_empty() && remove.is_empty() {
        return Err("say which tags to add (+name) or remove (-name)".into());
    }
    Ok((add, remove))
}

impl Engine {
    /// What a KEY names: a conversation (as `outpost inbox` prints its key),
    /// else a lead by address or by lead key (`account/email`).
    pub(crate) fn tag_target(&self, key: &str) -> CommandResult<TagTarget> {
        let key = key.trim();
        match self.conversation(key) {
            Ok(thread) => return Ok(TagTarget::conversation(&thread.key())),
            Err(CommandError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
        let email = match self.store.get::<Lead>(key)? {
            Some(lead) => normalize_email(&lead.email),
            None => normalize_email(key),
        };
        let prefix = KeyBuf::new().text(&email).into_prefix();
        if email.contains('@') && self.store.index_len(Index::LeadsByEmail, &prefix) > 0 {
            return Ok(TagTarget::lead(&email));
        }
        Err(CommandError::NotFound(format!(
            "no conversation or lead {key:?}; a KEY is a conversation key from \
             `outpost inbox` or a lead's email from `outpost leads`"
        )))
    }

    /// Adds and removes tags on one conversation or lead (what `KEY` names,
    /// see [`Engine::tag_target`]); the tags as they are after. Names are
    /// made canonical first, and a bad one changes nothing.
    pub fn tag(&self, key: &str, add: &[String], remove: &[String]) -> CommandResult<TagSet> {
        Ok(self.retag(key, add, remove)?.1)
    }

    /// [`Engine::tag`], also giving the tags as they were just before the
    /// change (read in the same compare-and-swap, for a bulk change's undo).
    pub(crate) fn retag(
        &self,
        key: &str,
        add: &[String],
        remove: &[String],
    ) -> CommandResult<(Vec<String>, TagSet)> {
        let canonical = |names: &[String]| -> CommandResult<Vec<String>> {
            names
                .iter()
                .map(|n| canonical_tag(n).map_err(CommandError::Invalid))
                .collect()
        };
        let (add, remove) = (canonical(add)?, canonical(remove)?);
        let target = self.tag_target(key)?;
        let record_key = target.record_key();
        let written = self.store.modify::<TagSet, (Vec<String>, TagSet)>(
            std::slice::from_ref(&record_key),
            |_, current| {
                let before = current.map(|t| t.tags).unwrap_or_default();
                let mut tags = before.clone();
                tags.retain(|t| !remove.contains(t));
                tags.extend(add.iter().cloned());
                tags.sort();
                tags.dedup();
                let set = TagSet {
                    target: target.clone(),
                    tags,
                };
                Some((set.clone(), (before, set)))
            },
        )?;
        Ok(written.into_iter().next().unwrap_or((
            Vec::new(),
            TagSet {
                target,
                tags: Vec::new(),
            },
        )))
    }

    /// A tag record back to `before`, if it still holds `after`; false when
    /// someone changed its tags since.
    pub(crate) fn untag(
        &self,
        record: &str,
        before: &[String],
        after: &[String],
    ) -> CommandResult<bool> {
        let restored = self
            .store
            .modify::<TagSet, ()>(&[record.to_string()], |_, current| {
                let mut set = current.filter(|t| t.tags == after)?;
                set.tags = before.to_vec();
                Some((set, ()))
            })?;
        Ok(!restored.is_empty())
    }

    /// Every tag set by record key (a small tree, read whole per query).
    pub(crate) fn tag_map(&self) -> StoreResult<HashMap<String, Vec<String>>> {
        self.store
            .iter::<TagSet>()
            .map(|t| t.map(|t| (t.key(), t.tags)))
            .collect()
    }

    /// The tags on every tagged person, by email.
    pub(crate) fn lead_tag_map(&self) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut map = HashMap::new();
        for set in self.store.iter::<TagSet>() {
            let set = set?;
            if set.target.on == TagOn::Lead && !set.tags.is_empty() {
                map.insert(set.target.key, set.tags);
            }
        }
        Ok(map)
    }

    /// Tags in use, by name, with how many conversations and leads carry each.
    pub fn tags(&self) -> StoreResult<Vec<TagCount>> {
        let mut counts: BTreeMap<String, TagCount> = BTreeMap::new();
        for set in self.store.iter::<TagSet>() {
            let set = set?;
            for tag in set.tags {
                let count = counts.entry(tag.clone()).or_insert(TagCount {
                    name: tag,
                    conversations: 0,
                    leads: 0,
                });
                match set.target.on {
                    TagOn::Conversation => count.conversations += 1,
                    TagOn::Lead => count.leads += 1,
                }
            }
        }
        Ok(counts.into_values().collect())
    }
}

/// The tags on a conversation, from a [`Engine::tag_map`].
pub(crate) fn conversation_tags(map: &HashMap<String, Vec<String>>, key: &str) -> Vec<String> {
    map.get(&TagTarget::conversation(key).record_key())
        .cloned()
        .unwrap_or_default()
}

/// The tags on a lead (by address), from a [`Engine::tag_map`].
pub(crate) fn lead_tags(map: &HashMap<String, Vec<String>>, email: &str) -> Vec<String> {
    map.get(&TagTarget::lead(email).record_key())
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_typed() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_tag_changes(&words(&["+Hot", "-later", "vip"])).unwrap(),
            (vec!["hot".into(), "vip".into()], vec!["later".into()])
        );
        assert!(parse_tag_changes(&words(&[])).is_err());
        assert!(parse_tag_changes(&words(&["+"])).is_err());
        assert!(parse_tag_changes(&words(&["+no way"])).is_err());
    }
}
