//! Lenient reading of Smartlead webhook payloads: ids as strings or numbers,
//! deprecated fields as fallbacks, the lead from `sl_lead_email` (never from
//! `to_email`, which sometimes holds our own address).
//!
//! The body is read straight into typed structs ([`RawPayload`], strings
//! borrowed from the body where JSON allows) rather than a
//! `serde_json::Value` first: a reply payload is about 2 KB of fields
//! outpost mostly ignores, and building a map of all of them cost more than
//! the rest of the route. Every field type here accepts any JSON value, so
//! a wrong type never fails the read: [`read`] judges it after the route has
//! checked the secret, as it did with a `Value`.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

pub use crate::ingest::payload::{MessagePart, NewCategory, Payload, SmartleadEvent};

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

/// One scalar field as the payload gave it. Any JSON value is accepted, so
/// reading the body never fails on a field's type.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<'a> {
    #[default]
    Absent,
    Null,
    Text(Cow<'a, str>),
    Int(i64),
    /// A whole number beyond `i64` or a fraction, as JSON wrote it.
    Number(serde_json::Number),
    /// A boolean, an object or an array, by what it was.
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
                Ok(Field::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
                Ok(match i64::try_from(v) {
                    Ok(v) => Field::Int(v),
                    Err(_) => Field::Number(v.into()),
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<Field<'de>, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Field::Null, Field::Number))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
                Ok(Field::Other(if v { "true" } else { "false" }))
            }
            fn visit_unit<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Null)
            }
            fn visit_none<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Null)
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Field<'de>, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other("an object"))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Field<'de>, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other("an array"))
            }
        }
        deserializer.deserialize_any(FieldVisitor)
    }
}

impl Field<'_> {
    /// A string field, from a string or a number; blank counts as missing.
    pub fn text(&self) -> Option<String> {
        match self {
            Field::Text(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Field::Int(n) => Some(n.to_string()),
            Field::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// An id or count, from a number or a numeric string.
    fn int(&self, field: &'static str) -> Result<Option<i64>, PayloadError> {
        let invalid = |detail: String| PayloadError::Invalid { field, detail };
        match self {
            Field::Absent | Field::Null => Ok(None),
            Field::Int(n) => Ok(Some(*n)),
            Field::Number(n) => Err(invalid(format!("{n} is not a whole number"))),
            Field::Text(s) if s.trim().is_empty() => Ok(None),
            Field::Text(s) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| invalid(format!("{s:?} is not a whole number"))),
            Field::Other(what) => Err(invalid(format!("expected a number, got {what}"))),
        }
    }

    /// A timestamp in ISO 8601 (`Z` or an offset); unreadable counts as missing.
    fn time(&self) -> Option<DateTime<Utc>> {
        let Field::Text(s) = self else {
            return None;
        };
        let s = s.trim();
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").map(|t| t.and_utc())
            })
            .ok()
    }
}

/// A field that may hold an object (read as `T`), an array (of scalars)
/// or text. Any JSON value is accepted; what a field expects and does not
/// get reads as absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Shape<'a, T> {
    #[default]
    Absent,
    Text(Cow<'a, str>),
    Object(T),
    Array(Vec<Field<'a>>),
    /// A number, a boolean or null.
    Scalar,
}

impl<T> Shape<'_, T> {
    fn object(&self) -> Option<&T> {
        match self {
            Shape::Object(t) => Some(t),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for Shape<'a, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ShapeVisitor<T> {
            type Value = Shape<'de, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Shape::Object)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Field<'de>>()? {
                    items.push(item);
                }
                Ok(Shape::Array(items))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Shape::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Shape::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Shape::Text(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Shape::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Shape::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Shape::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Shape::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Shape::Scalar)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Shape::Scalar)
            }
        }
        deserializer.deserialize_any(ShapeVisitor(std::marker::PhantomData))
    }
}

/// An email as a payload part gives it (`sent_message`, `reply_message`, ...).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPart<'a> {
    #[serde(borrow)]
    message_id: Field<'a>,
    #[serde(borrow)]
    html: Field<'a>,
    #[serde(borrow)]
    text: Field<'a>,
    #[serde(borrow)]
    time: Field<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawCategory<'a> {
    #[serde(borrow)]
    name: Field<'a>,
    #[serde(borrow)]
    sentiment_type: Field<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawLeadData<'a> {
    #[serde(borrow)]
    email: Field<'a>,
    #[serde(borrow)]
    first_name: Field<'a>,
    #[serde(borrow)]
    last_name: Field<'a>,
    #[serde(borrow)]
    category: Shape<'a, RawCategory<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawCorrespondence<'a> {
    #[serde(rename = "targetLeadEmail", borrow)]
    target_lead_email: Field<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawLeadCategory<'a> {
    #[serde(borrow)]
    new_name: Field<'a>,
    #[serde(borrow)]
    new_id: Field<'a>,
}

/// One payload object as sent: the fields outpost reads (every other field
/// is skipped unread), each as whatever JSON value it holds.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPayload<'a> {
    #[serde(borrow)]
    event_type: Field<'a>,
    #[serde(borrow)]
    pub secret_key: Field<'a>,
    #[serde(borrow)]
    sl_lead_email: Field<'a>,
    #[serde(borrow)]
    lead_email: Field<'a>,
    #[serde(borrow)]
    lead_name: Field<'a>,
    #[serde(borrow)]
    lead_data: Shape<'a, RawLeadData<'a>>,
    #[serde(rename = "leadCorrespondence", borrow)]
    correspondence: Shape<'a, RawCorrespondence<'a>>,
    #[serde(borrow)]
    sequence_number: Field<'a>,
    #[serde(borrow)]
    campaign_id: Field<'a>,
    #[serde(borrow)]
    campaign_name: Field<'a>,
    #[serde(borrow)]
    campaign_status: Field<'a>,
    #[serde(borrow)]
    status: Field<'a>,
    #[serde(borrow)]
    sl_email_lead_id: Field<'a>,
    #[serde(borrow)]
    lead_id: Field<'a>,
    #[serde(borrow)]
    sl_email_lead_map_id: Field<'a>,
    #[serde(borrow)]
    stats_id: Field<'a>,
    #[serde(borrow)]
    event_timestamp: Field<'a>,
    #[serde(borrow)]
    time_sent: Field<'a>,
    #[serde(borrow)]
    time_opened: Field<'a>,
    #[serde(borrow)]
    time_clicked: Field<'a>,
    #[serde(borrow)]
    time_replied: Field<'a>,
    #[serde(borrow)]
    from_email: Field<'a>,
    #[serde(borrow)]
    from: Field<'a>,
    #[serde(borrow)]
    subject: Field<'a>,
    #[serde(borrow)]
    custom_subject: Field<'a>,
    #[serde(borrow)]
    sent_message: Shape<'a, RawPart<'a>>,
    #[serde(borrow)]
    reply_message: Shape<'a, RawPart<'a>>,
    #[serde(borrow)]
    bounce_message: Shape<'a, RawPart<'a>>,
    #[serde(borrow)]
    sent_message_body: Field<'a>,
    #[serde(borrow)]
    custom_email_message: Field<'a>,
    #[serde(borrow)]
    message_id: Field<'a>,
    #[serde(borrow)]
    reply_body: Field<'a>,
    #[serde(borrow)]
    preview_text: Field<'a>,
    #[serde(borrow)]
    bounce_reply_email_preview: Field<'a>,
    #[serde(borrow)]
    bounce_reply_email: Field<'a>,
    #[serde(borrow)]
    link_clicked: Shape<'a, IgnoredAny>,
    #[serde(borrow)]
    lead_category: Shape<'a, RawLeadCategory<'a>>,
    #[serde(borrow)]
    category: Shape<'a, RawCategory<'a>>,
    #[serde(borrow)]
    lead_category_id: Field<'a>,
    #[serde(borrow)]
    reply_category: Field<'a>,
}

/// A body's payloads: one object, or an array whose items are objects
/// (None for an item that is not one).
#[derive(Debug)]
pub enum Body<'a> {
    One(Box<RawPayload<'a>>),
    Many(Vec<Option<RawPayload<'a>>>),
}

/// An array item: a payload object, or None for any other value.
struct Item<'a>(Option<RawPayload<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Item<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Shape::<RawPayload<'a>>::deserialize(deserializer)? {
            Shape::Object(payload) => Ok(Item(Some(payload))),
            _ => Ok(Item(None)),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Body<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = Body<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object or an array of objects")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Body<'de>, M::Error> {
                RawPayload::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|p| Body::One(Box::new(p)))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Body<'de>, S::Error> {
                let mut items = Vec::new();
                while let Some(Item(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Body::Many(items))
            }
        }
        deserializer.deserialize_any(BodyVisitor)
    }
}

/// Why a body could not be read at all (the route answers 400).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the payload must be a JSON object or an array of objects")]
    NotObjectOrArray,
}

/// Reads a webhook body: one payload object or an array of them. Anything
/// else that is valid JSON is `NotObjectOrArray`.
pub fn read_body(raw: &[u8]) -> Result<Body<'_>, BodyError> {
    match serde_json::from_slice::<Body<'_>>(raw) {
        Ok(body) => Ok(body),
        // Valid JSON of another shape: said so, as before a syntax error.
        Err(e) if e.is_data() => Err(BodyError::NotObjectOrArray),
        Err(e) => Err(BodyError::NotJson(e)),
    }
}

fn first_text(fields: &[&Field<'_>]) -> Option<String> {
    fields.iter().find_map(|f| f.text())
}

fn part(shape: &Shape<'_, RawPart<'_>>) -> Option<MessagePart> {
    let raw = shape.object()?;
    let part = MessagePart {
        message_id: raw.message_id.text(),
        html: raw.html.text(),
        text: raw.text.text(),
        time: raw.time.time(),
    };
    (!part.is_empty()).then_some(part)
}

/// Reads one payload object given as a `serde_json::Value` (tests, tools):
/// the same reading as the route's.
pub fn parse(v: &Value) -> Result<Payload, PayloadError> {
    if !v.is_object() {
        return Err(PayloadError::NotAnObject);
    }
    let raw = RawPayload::deserialize(v).map_err(|e| PayloadError::Invalid {
        field: "payload",
        detail: e.to_string(),
    })?;
    read(&raw)
}

/// Reads one payload.
pub fn read(v: &RawPayload<'_>) -> Result<Payload, PayloadError> {
    let event_text = v
        .event_type
        .text()
        .ok_or(PayloadError::Missing("event_type"))?;
    let event = SmartleadEvent::parse(&event_text)
        .ok_or_else(|| PayloadError::UnknownEventType(event_text.clone()))?;
    let lead_data = v.lead_data.object();
    let correspondence = v.correspondence.object();
    // The lead: never `to_email` (it can hold our own address).
    let lead_email = v
        .sl_lead_email
        .text()
        .or_else(|| correspondence.and_then(|c| c.target_lead_email.text()))
        .or_else(|| v.lead_email.text())
        .or_else(|| lead_data.and_then(|d| d.email.text()))
        .map(|e| crate::model::normalize_email(&e));
    if let Some(email) = &lead_email
        && !email.contains('@')
    {
        return Err(PayloadError::Invalid {
            field: "sl_lead_email",
            detail: format!("{email:?} is not an email address"),
        });
    }
    let lead_name = v.lead_name.text().or_else(|| {
        lead_data.map(|d| {
            [d.first_name.text(), d.last_name.text()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        })
    });
    let sequence_number = v
        .sequence_number
        .int("sequence_number")?
        .filter(|n| *n > 0)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));

    let type_time: &[&Field<'_>] = match event {
        SmartleadEvent::EmailSent | SmartleadEvent::FirstEmailSent => &[&v.time_sent],
        SmartleadEvent::EmailOpen => &[&v.time_opened],
        SmartleadEvent::EmailLinkClick => &[&v.time_clicked],
        SmartleadEvent::EmailReply | SmartleadEvent::UntrackedReplies => &[&v.time_replied],
        _ => &[],
    };
    let sent = part(&v.sent_message).or_else(|| {
        let deprecated = MessagePart {
            message_id: None,
            html: first_text(&[&v.sent_message_body, &v.custom_email_message]),
            text: None,
            time: v.time_sent.time(),
        };
        (!deprecated.is_empty()).then_some(deprecated)
    });
    let reply = part(&v.reply_message).or_else(|| {
        let deprecated = MessagePart {
            message_id: v.message_id.text(),
            html: v.reply_body.text(),
            text: v.preview_text.text(),
            time: v.time_replied.time(),
        };
        (deprecated.html.is_some() || deprecated.text.is_some()).then_some(deprecated)
    });
    let mut at = v
        .event_timestamp
        .time()
        .or_else(|| type_time.iter().find_map(|f| f.time()));
    if at.is_none() && matches!(event, SmartleadEvent::EmailReply) {
        at = reply.as_ref().and_then(|r| r.time);
    }
    let bounce_text = part(&v.bounce_message)
        .and_then(|b| b.text.or(b.html))
        .or_else(|| first_text(&[&v.bounce_reply_email_preview, &v.bounce_reply_email]));
    let link = match &v.link_clicked {
        Shape::Array(links) => links.iter().find_map(|l| match l {
            Field::Text(s) => Some(s.to_string()),
            _ => None,
        }),
        Shape::Text(s) if !s.is_empty() => Some(s.to_string()),
        _ => None,
    };
    let category = match event {
        SmartleadEvent::LeadCategoryUpdated => Some(category(v, lead_data)?),
        _ => None,
    };
    let payload = Payload {
        event,
        campaign_id: v.campaign_id.int("campaign_id")?,
        campaign_name: v.campaign_name.text(),
        campaign_status: v.campaign_status.text().or_else(|| v.status.text()),
        sequence_number,
        lead_id: match v.sl_email_lead_id.int("sl_email_lead_id")? {
            Some(id) => Some(id),
            None => v.lead_id.int("lead_id")?,
        },
        map_id: v.sl_email_lead_map_id.int("sl_email_lead_map_id")?,
        lead_email,
        lead_name: lead_name.filter(|n| !n.trim().is_empty()),
        stats_id: v.stats_id.text(),
        at,
        from_email: v.from_email.text().or_else(|| v.from.text()),
        subject: v.subject.text().or_else(|| v.custom_subject.text()),
        sent,
        reply,
        bounce_text,
        link,
        category,
        reply_category: v.reply_category.text(),
    };
    require_fields(&payload)?;
    Ok(payload)
}

fn category(
    v: &RawPayload<'_>,
    lead_data: Option<&RawLeadData<'_>>,
) -> Result<NewCategory, PayloadError> {
    let current = v.lead_category.object();
    let lead_category = lead_data.and_then(|d| d.category.object());
    let name = current
        .and_then(|c| c.new_name.text())
        .or_else(|| match &v.category {
            Shape::Text(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Shape::Object(named) => named.name.text(),
            _ => None,
        })
        .or_else(|| lead_category.and_then(|c| c.name.text()))
        .ok_or(PayloadError::Missing("lead_category.new_name"))?;
    let id = match current {
        Some(c) => c.new_id.int("new_id")?,
        None => None,
    };
    let id = match id {
        Some(id) => Some(id),
        None => v.lead_category_id.int("id")?,
    };
    let sentiment = lead_category.and_then(|c| c.sentiment_type.text());
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
        let int = |v: Value| Field::deserialize(&v).unwrap().int("campaign_id");
        assert_eq!(int(json!("2995276770")).unwrap(), Some(2995276770));
        assert_eq!(int(json!(2433664091_i64)).unwrap(), Some(2433664091));
        assert_eq!(int(json!("")).unwrap(), None);
        assert_eq!(int(json!(null)).unwrap(), None);
        assert!(int(json!("x1")).is_err());
        assert!(int(json!(1.5)).is_err());
        assert!(int(json!(u64::MAX)).is_err());
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
    fn the_body_is_read_without_copying_plain_strings_and_types_are_judged_later() {
        let body = br#"{"event_type":"EMAIL_REPLY","secret_key":"s3cret",
            "sl_lead_email":"a@b.example","campaign_id":{"odd":true},
            "reply_message":{"text":"Yes \"please\"","time":"2025-06-04T08:02:31Z"}}"#;
        let Ok(Body::One(raw)) = read_body(body) else {
            panic!("one payload")
        };
        assert!(matches!(
            raw.secret_key,
            Field::Text(Cow::Borrowed("s3cret"))
        ));
        // A wrong type does not fail the read (the route checks the secret
        // first); reading the payload refuses it.
        assert_eq!(
            read(&raw),
            Err(PayloadError::Invalid {
                field: "campaign_id",
                detail: "expected a number, got an object".into()
            })
        );
        let fixed = String::from_utf8(body.to_vec())
            .unwrap()
            .replace(r#"{"odd":true}"#, "7");
        let Ok(Body::One(raw)) = read_body(fixed.as_bytes()) else {
            panic!("one payload")
        };
        let payload = read(&raw).unwrap();
        assert_eq!(payload.campaign_id, Some(7));
        assert_eq!(
            payload.reply.and_then(|r| r.text).as_deref(),
            Some("Yes \"please\"")
        );
    }

    #[test]
    fn bodies_of_other_shapes_are_refused_and_array_items_may_be_anything() {
        assert!(matches!(
            read_body(b"\"a string\""),
            Err(BodyError::NotObjectOrArray)
        ));
        assert!(matches!(
            read_body(b"{not json"),
            Err(BodyError::NotJson(_))
        ));
        let Ok(Body::Many(items)) =
            read_body(br#"[{"event_type":"EMAIL_OPEN"}, 3, "x", null, []]"#)
        else {
            panic!("an array")
        };
        let objects: Vec<bool> = items.iter().map(Option::is_some).collect();
        assert_eq!(objects, [true, false, false, false, false]);
    }

    #[test]
    fn bytes_and_a_value_read_the_same() {
        let v = json!({"event_type":"EMAIL_REPLY","campaign_id":"7","sl_email_lead_id":42,
            "sl_lead_email":"Dana@Ledgerly.example","from_email":"rep@acme.example",
            "stats_id":"st1","subject":"Re: Hello","sequence_number":2,
            "link_clicked":[1,"https://x.example"],
            "lead_data":{"first_name":"Dana","last_name":"Reyes","category":null},
            "sent_message":{"message_id":"<s1@x>","html":"<p>Hi</p>","time":"2025-06-04T08:00:00Z"},
            "reply_message":{"message_id":"<r1@x>","text":"Call me","time":"2025-06-04T09:00:00+02:00"},
            "time_replied":"2025-06-04 07:00:00"});
        let bytes = serde_json::to_vec(&v).unwrap();
        let Ok(Body::One(raw)) = read_body(&bytes) else {
            panic!("one payload")
        };
        let from_bytes = read(&raw).unwrap();
        assert_eq!(from_bytes, parse(&v).unwrap());
        assert_eq!(from_bytes.lead_name.as_deref(), Some("Dana Reyes"));
        assert_eq!(from_bytes.link.as_deref(), Some("https://x.example"));
        assert_eq!(
            from_bytes.at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-06-04T07:00:00+00:00")
        );
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
