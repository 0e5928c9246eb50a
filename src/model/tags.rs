//! The rep's own words on conversations and leads (local tags), and the
//! names of each Gmail account's labels. Tags are local state no provider
//! sees and no sync writes; label names are what Gmail's `labels.list`
//! said last.

use serde::{Deserialize, Serialize};

/// What a tag set is on: one conversation, or one person (a lead by
/// address, across the accounts that know them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagOn {
    Conversation,
    Lead,
}

/// What a tag set is on, and which one: a conversation's key (its primary
/// thread's), or a lead's normalized address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TagTarget {
    pub on: TagOn,
    pub key: String,
}

impl TagTarget {
    pub fn conversation(key: &str) -> TagTarget {
        TagTarget {
            on: TagOn::Conversation,
            key: key.to_string(),
        }
    }

    pub fn lead(email: &str) -> TagTarget {
        TagTarget {
            on: TagOn::Lead,
            key: super::normalize_email(email),
        }
    }

    /// The record key: the two kinds of target never share one.
    pub fn record_key(&self) -> String {
        match self.on {
            TagOn::Conversation => format!("conversation:{}", self.key),
            TagOn::Lead => format!("lead:{}", self.key),
        }
    }
}

/// The tags on one conversation or lead, sorted, lower-case, no repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSet {
    pub target: TagTarget,
    pub tags: Vec<String>,
}

impl TagSet {
    pub fn key(&self) -> String {
        self.target.record_key()
    }
}

/// A tag as typed (`hot`, `Q3-renewal`), made canonical: lower-case, and
/// only letters, digits, `-`, `_`, `.` and `/`, so it reads back the same in
/// a search (`tag:hot`) and in a shell.
pub fn canonical_tag(text: &str) -> Result<String, String> {
    let tag = text.trim().to_lowercase();
    if tag.is_empty() {
        return Err("a tag needs a name after its + or -".into());
    }
    if tag.chars().count() > 40 {
        return Err(format!("tag {text:?} is longer than 40 characters"));
    }
    if let Some(bad) = tag
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
    {
        return Err(format!(
            "tag {text:?} has {bad:?}; tags are letters, digits, -, _, . and /"
        ));
    }
    Ok(tag)
}

/// One Gmail label: its id (what messages carry) and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelName {
    pub id: String,
    pub name: String,
    /// Gmail's own (INBOX, UNREAD, CATEGORY_*...): shown as flags, not names.
    pub system: bool,
}

/// The labels of one Gmail account, as `labels.list` gave them last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GmailLabels {
    pub account: String,
    pub labels: Vec<LabelName>,
}

impl GmailLabels {
    pub fn key(&self) -> String {
        self.account.clone()
    }

    /// The name of a user label, None for a system label or an unknown id.
    pub fn user_label(&self, id: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.id == id && !l.system)
            .map(|l| l.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_set_round_trips_through_the_store_encoding() {
        let set = TagSet {
            target: TagTarget::lead("Ann@Acme.io"),
            tags: vec!["hot".into()],
        };
        let bytes = postcard::to_allocvec(&set).unwrap();
        assert_eq!(postcard::from_bytes::<TagSet>(&bytes).unwrap(), set);
        assert_eq!(set.key(), "lead:ann@acme.io");
    }

    #[test]
    fn tags_are_canonical_or_refused() {
        assert_eq!(canonical_tag(" Hot ").unwrap(), "hot");
        assert_eq!(canonical_tag("q3-renewal").unwrap(), "q3-renewal");
        assert!(canonical_tag("").is_err());
        assert!(canonical_tag("two words").unwrap_err().contains("' '"));
        assert!(canonical_tag("a,b").is_err());
        assert!(canonical_tag(&"x".repeat(41)).is_err());
    }
}
