//! Lenient reading of Smartlead webhook payloads: ids as strings or numbers,
//! deprecated fields as fallbacks, the lead from `sl_lead_email` (never from
//! `to_email`, which sometimes holds our own address).

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Every event type Smartlead sends (reference §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmartleadEvent {
    EmailSent,
    FirstEmailSent,
    EmailOpen,
    EmailLinkClick,
    EmailReply,
    EmailBounce,
    LeadUnsubscribed,
    LeadCategoryUpdated,
    CampaignStatusChanged,
    UntrackedReplies,
    ManualStepReached,
}

impl SmartleadEvent {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "EMAIL_SENT" => Self::EmailSent,
            "FIRST_EMAIL_SENT" => Self::FirstEmailSent,
            "EMAIL_OPEN" => Self::EmailOpen,
            "EMAIL_LINK_CLICK" => Self::EmailLinkClick,
            "EMAIL_REPLY" => Self::EmailReply,
            "EMAIL_BOUNCE" => Self::EmailBounce,
            "LEAD_UNSUBSCRIBED" => Self::LeadUnsubscribed,
            "LEAD_CATEGORY_UPDATED" => Self::LeadCategoryUpdated,
            "CAMPAIGN_STATUS_CHANGED" => Self::CampaignStatusChanged,
            "UNTRACKED_REPLIES" => Self::UntrackedReplies,
            "MANUAL_STEP_REACHED" => Self::ManualStepReached,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailSent => "EMAIL_SENT",
            Self::FirstEmailSent => "FIRST_EMAIL_SENT",
            Self::EmailOpen => "EMAIL_OPEN",
            Self::EmailLinkClick => "EMAIL_LINK_CLICK",
            Self::EmailReply => "EMAIL_REPLY",
            Self::EmailBounce => "EMAIL_BOUNCE",
            Self::LeadUnsubscribed => "LEAD_UNSUBSCRIBED",
            Self::LeadCategoryUpdated => "LEAD_CATEGORY_UPDATED",
            Self::CampaignStatusChanged => "CAMPAIGN_STATUS_CHANGED",
            Self::UntrackedReplies => "UNTRACKED_REPLIES",
            Self::ManualStepReached => "MANUAL_STEP_REACHED",
        }
    }
}

/// One email as a payload describes it (`sent_message`, `reply_message`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagePart {
    pub message_id: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub time: Option<DateTime<Utc>>,
}

impl MessagePart {
    fn is_empty(&self) -> bool {
        self.message_id.is_none() && self.html.is_none() && self.text.is_none()
    }
}

/// The new category of a LEAD_CATEGORY_UPDATED.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCategory {
    pub id: Option<i64>,
    pub name: String,
    pub sentiment: Option<String>,
}

/// A payload, read. Fields a type does not carry are None.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub event: SmartleadEvent,
    pub secret_key: Option<String>,
    pub campaign_id: Option<i64>,
    pub campaign_name: Option<String>,
    pub campaign_status: Option<String>,
    pub sequence_number: Option<u32>,
    pub lead_id: Option<i64>,
    pub map_id: Option<i64>,
    pub lead_email: Option<String>,
    pub lead_name: Option<String>,
    pub stats_id: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub from_email: Option<String>,
    pub subject: Option<String>,
    pub sent: Option<MessagePart>,
    pub reply: Option<MessagePart>,
    pub bounce_text: Option<String>,
    pub link: Option<String>,
    pub category: Option<NewCategory>,
    pub reply_category: Option<String>,
}

/// Why a payload was refused: the route turns these into 4xx JSON errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the payload is not a JSON object")]
    NotAnObject,
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    #[error("unknown event_type `{0}`")]
    UnknownEventType(String),
    #[error("field `{field}` is invalid: {detail}")]
    Invalid { field: &'static str, detail: String },
}

/// A string field, from a string or a number; blank counts as missing.
pub fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An id or count, from a number or a numeric string.
pub fn int(v: &Value, key: &str) -> Result<Option<i64>, PayloadError> {
    let invalid = |detail: String| PayloadError::Invalid {
        field: static_name(key),
        detail,
    };
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{n} is not a whole number"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid(format!("{s:?} is not a whole number"))),
        Some(other) => Err(invalid(format!("expected a number, got {other}"))),
    }
}

/// A timestamp in ISO 8601 (`Z` or an offset); unreadable counts as missing.
pub fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    let s = v.get(key)?.as_str()?.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").map(|t| t.and_utc())
        })
        .ok()
}

fn static_name(key: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "campaign_id",
        "sequence_number",
        "sl_email_lead_id",
        "sl_email_lead_map_id",
        "lead_id",
        "new_id",
        "webhook_id",
        "client_id",
    ];
    KNOWN.iter().find(|k| **k == key).copied().unwrap_or("id")
}

fn part(v: &Value, key: &str) -> Option<MessagePart> {
    let obj = v.get(key).filter(|o| o.is_object())?;
    let part = MessagePart {
        message_id: text(obj, "message_id"),
        html: text(obj, "html"),
        text: text(obj, "text"),
        time: time(obj, "time"),
    };
    (!part.is_empty()).then_some(part)
}

fn first_text(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(v, k))
}

fn first_time(v: &Value, keys: &[&str]) -> Option<DateTime<Utc>> {
    keys.iter().find_map(|k| time(v, k))
}

/// Reads one payload object.
pub fn parse(v: &Value) -> Result<Payload, PayloadError> {
    if !v.is_object() {
        return Err(PayloadError::NotAnObject);
    }
    let event_text = text(v, "event_type").ok_or(PayloadError::Missing("event_type"))?;
    let event = SmartleadEvent::parse(&event_text)
        .ok_or_else(|| PayloadError::UnknownEventType(event_text.clone()))?;
    let lead_data = v.get("lead_data").filter(|o| o.is_object());
    let correspondence = v.get("leadCorrespondence").filter(|o| o.is_object());
    // The lead: never `to_email` (it can hold our own address).
    let lead_email = text(v, "sl_lead_email")
        .or_else(|| correspondence.and_then(|c| text(c, "targetLeadEmail")))
        .or_else(|| text(v, "lead_email"))
        .or_else(|| lead_data.and_then(|d| text(d, "email")))
        .map(|e| crate::model::normalize_email(&e));
    if let Some(email) = &lead_email
        && !email.contains('@')
    {
        return Err(PayloadError::Invalid {
            field: "sl_lead_email",
            detail: format!("{email:?} is not an email address"),
        });
    }
    let lead_name = text(v, "lead_name").or_else(|| {
        lead_data.map(|d| {
            [text(d, "first_name"), text(d, "last_name")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        })
    });
    let sequence_number = int(v, "sequence_number")?
        .filter(|n| *n > 0)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));

    let type_time: &[&str] = match event {
        SmartleadEvent::EmailSent | SmartleadEvent::FirstEmailSent => &["time_sent"],
        SmartleadEvent::EmailOpen => &["time_opened"],
        SmartleadEvent::EmailLinkClick => &["time_clicked"],
        SmartleadEvent::EmailReply | SmartleadEvent::UntrackedReplies => &["time_replied"],
        _ => &[],
    };
    let sent = part(v, "sent_message").or_else(|| {
        let deprecated = MessagePart {
            message_id: None,
            html: first_text(v, &["sent_message_body", "custom_email_message"]),
            text: None,
            time: time(v, "time_sent"),
        };
        (!deprecated.is_empty()).then_some(deprecated)
    });
    let reply = part(v, "reply_message").or_else(|| {
        let deprecated = MessagePart {
            message_id: text(v, "message_id"),
            html: text(v, "reply_body"),
            text: text(v, "preview_text"),
            time: time(v, "time_replied"),
        };
        (deprecated.html.is_some() || deprecated.text.is_some()).then_some(deprecated)
    });
    let mut at = time(v, "event_timestamp").or_else(|| first_time(v, type_time));
    if at.is_none() && matches!(event, SmartleadEvent::EmailReply) {
        at = reply.as_ref().and_then(|r| r.time);
    }
    let bounce_text = part(v, "bounce_message")
        .and_then(|b| b.text.or(b.html))
        .or_else(|| first_text(v, &["bounce_reply_email_preview", "bounce_reply_email"]));
    let link = match v.get("link_clicked") {
        Some(Value::Array(links)) => links.iter().find_map(|l| l.as_str().map(str::to_string)),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let category = match event {
        SmartleadEvent::LeadCategoryUpdated => Some(category(v, lead_data)?),
        _ => None,
    };
    let payload = Payload {
        event,
        secret_key: text(v, "secret_key"),
        campaign_id: int(v, "campaign_id")?,
        campaign_name: text(v, "campaign_name"),
        campaign_status: text(v, "campaign_status").or_else(|| text(v, "status")),
        sequence_number,
        lead_id: match int(v, "sl_email_lead_id")? {
            Some(id) => Some(id),
            None => int(v, "lead_id")?,
        },
        map_id: int(v, "sl_email_lead_map_id")?,
        lead_email,
        lead_name: lead_name.filter(|n| !n.trim().is_empty()),
        stats_id: text(v, "stats_id"),
        at,
        from_email: text(v, "from_email").or_else(|| text(v, "from")),
        subject: text(v, "subject").or_else(|| text(v, "custom_subject")),
        sent,
        reply,
        bounce_text,
        link,
        category,
        reply_category: text(v, "reply_category"),
    };
    require_fields(&payload)?;
    Ok(payload)
}

fn category(v: &Value, lead_data: Option<&Value>) -> Result<NewCategory, PayloadError> {
    let current = v.get("lead_category").filter(|o| o.is_object());
    let name = current
        .and_then(|c| text(c, "new_name"))
        .or_else(|| match v.get("category") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(obj @ Value::Object(_)) => text(obj, "name"),
            _ => None,
        })
        .or_else(|| {
            lead_data
                .and_then(|d| d.get("category"))
                .and_then(|c| text(c, "name"))
        })
        .ok_or(PayloadError::Missing("lead_category.new_name"))?;
    let id = match current {
        Some(c) => int(c, "new_id")?,
        None => None,
    };
    let id = match id {
        Some(id) => Some(id),
        None => int(v, "lead_category_id")?,
    };
    let sentiment = lead_data
        .and_then(|d| d.get("category"))
        .and_then(|c| text(c, "sentiment_type"));
    Ok(NewCategory {
        id,
        name,
        sentiment,
    })
}

fn require_fields(p: &Payload) -> Result<(), PayloadError> {
    match p.event {
        SmartleadEvent::CampaignStatusChanged => {
            if p.campaign_id.is_none() {
                return Err(PayloadError::Missing("campaign_id"));
            }
        }
        SmartleadEvent::LeadUnsubscribed => {
            if p.lead_email.is_none() {
                return Err(PayloadError::Missing("lead_email"));
            }
        }
        SmartleadEvent::LeadCategoryUpdated => {
            if p.lead_email.is_none() {
                return Err(PayloadError::Missing("lead_data.email"));
            }
        }
        _ => {
            if p.lead_email.is_none() {
                return Err(PayloadError::Missing("sl_lead_email"));
            }
        }
    }
    if matches!(p.event, SmartleadEvent::EmailReply) && p.reply.is_none() {
        return Err(PayloadError::Missing("reply_message"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_may_be_strings_or_numbers() {
        let v = json!({"a": "2995276770", "b": 2433664091_i64, "c": "", "d": "x1"});
        assert_eq!(int(&v, "a").unwrap(), Some(2995276770));
        assert_eq!(int(&v, "b").unwrap(), Some(2433664091));
        assert_eq!(int(&v, "c").unwrap(), None);
        assert!(int(&v, "d").is_err());
    }

    #[test]
    fn the_lead_is_never_to_email() {
        let v = json!({"event_type":"EMAIL_OPEN","to_email":"sam@ours.example",
            "sl_lead_email":"Dana@Ledgerly.example","event_timestamp":"2025-06-04T08:02:31+00:00"});
        let p = parse(&v).unwrap();
        assert_eq!(p.lead_email.as_deref(), Some("dana@ledgerly.example"));
        let v = json!({"event_type":"EMAIL_OPEN","to_email":"sam@ours.example"});
        assert_eq!(parse(&v), Err(PayloadError::Missing("sl_lead_email")));
    }

    #[test]
    fn deprecated_reply_fields_are_fallbacks() {
        let v = json!({"event_type":"EMAIL_REPLY","sl_lead_email":"dana@ledgerly.example",
            "time_replied":"2025-06-04T08:02:31+00:00","reply_body":"<p>Yes</p>",
            "message_id":"<r@x>","preview_text":"Yes"});
        let p = parse(&v).unwrap();
        let reply = p.reply.unwrap();
        assert_eq!(reply.message_id.as_deref(), Some("<r@x>"));
        assert_eq!(reply.text.as_deref(), Some("Yes"));
        assert!(p.at.is_some());
    }

    #[test]
    fn unknown_and_stale_event_types_are_refused() {
        for stale in ["EMAIL_OPENED", "EMAIL_REPLIED", "LEAD_REPLIED", "nonsense"] {
            let v = json!({"event_type": stale, "sl_lead_email": "a@b.example"});
            assert!(matches!(parse(&v), Err(PayloadError::UnknownEventType(_))));
        }
    }

    #[test]
    fn category_from_new_or_deprecated_fields() {
        let v = json!({"event_type":"LEAD_CATEGORY_UPDATED","lead_data":{"email":"a@b.example",
            "category":{"name":"Interested","sentiment_type":"positive"}},
            "lead_category":{"old_id":null,"old_name":null,"new_id":1,"new_name":"Interested"}});
        let c = parse(&v).unwrap().category.unwrap();
        assert_eq!((c.id, c.name.as_str()), (Some(1), "Interested"));
        assert_eq!(c.sentiment.as_deref(), Some("positive"));
        let v = json!({"event_type":"LEAD_CATEGORY_UPDATED","lead_email":"a@b.example",
            "category":"Out Of Office","lead_category_id":"6"});
        let c = parse(&v).unwrap().category.unwrap();
        assert_eq!((c.id, c.name.as_str()), (Some(6), "Out Of Office"));
    }
}
