//! Lenient deserializers for Smartlead's drifting JSON: ids and counts arrive
//! as numbers or strings, optional values as `null`, `""` or absent,
//! timestamps with `Z` or `+00:00`, lists sometimes as one string.
//!
//! Use with `#[serde(default, deserialize_with = "de::…")]`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn value_to_i64(value: &Value) -> Result<Option<i64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|f| f.fract() == 0.0)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| format!("expected an integer, got {number}")),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("expected an integer, got the string {text:?}")),
        other => Err(format!("expected an integer, got {}", describe(other))),
    }
}

fn value_to_f64(value: &Value) -> Result<Option<f64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => Ok(number.as_f64()),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => text
            .trim()
            .trim_end_matches('%')
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("expected a number, got the string {text:?}")),
        other => Err(format!("expected a number, got {}", describe(other))),
    }
}

/// A required integer given as a number or a string.
pub fn i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = Value::deserialize(deserializer)?;
    value_to_i64(&value)
        .map_err(D::Error::custom)?
        .ok_or_else(|| D::Error::custom("expected an integer, got null or \"\""))
}

/// An optional integer: number, string, `null` or `""`.
pub fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    value_to_i64(&value).map_err(D::Error::custom)
}

/// A count: number or string; `null` or `""` count as zero.
pub fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let parsed = value_to_i64(&value).map_err(D::Error::custom)?;
    u64::try_from(parsed.unwrap_or(0)).map_err(|_| D::Error::custom("a count cannot be negative"))
}

/// An optional non-negative number: number, string, `null` or `""`.
pub fn opt_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value_to_i64(&value).map_err(D::Error::custom)? {
        None => Ok(None),
        Some(number) => u64::try_from(number)
            .map(Some)
            .map_err(|_| D::Error::custom("expected a non-negative integer")),
    }
}

/// An optional decimal: number, string (a trailing `%` is dropped), `null`, `""`.
pub fn opt_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    value_to_f64(&value).map_err(D::Error::custom)
}

/// A decimal that defaults to zero.
pub fn f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    opt_f64(deserializer).map(|value| value.unwrap_or(0.0))
}

/// A boolean given as `true`, `"true"`, `1` or `"1"`; `null` is false.
pub fn bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    opt_bool(deserializer).map(|value| value.unwrap_or(false))
}

/// An optional boolean in any of the forms [`bool`] accepts.
pub fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match &value {
        Value::Null => Ok(None),
        Value::Bool(flag) => Ok(Some(*flag)),
        Value::Number(number) => Ok(Some(number.as_f64().is_some_and(|n| n != 0.0))),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            _ => Err(D::Error::custom(format!(
                "expected a boolean, got {text:?}"
            ))),
        },
        other => Err(D::Error::custom(format!(
            "expected a boolean, got {}",
            describe(other)
        ))),
    }
}

/// Optional text; `null` and `""` become `None`, numbers become text.
pub fn opt_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Ok(None),
        Value::String(text) => Ok(Some(text)),
        Value::Number(number) => Ok(Some(number.to_string())),
        Value::Bool(flag) => Ok(Some(flag.to_string())),
        other => Err(D::Error::custom(format!(
            "expected text, got {}",
            describe(&other)
        ))),
    }
}

/// Text that may be `null` (read as `""`).
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    opt_string(deserializer).map(Option::unwrap_or_default)
}

/// A list of strings given as an array, one string (comma-separated values
/// are split), or `null`.
pub fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(str::to_owned)
            .collect()),
        Value::Array(items) => items
            .into_iter()
            .filter(|item| !item.is_null())
            .map(|item| match item {
                Value::String(text) => Ok(text),
                Value::Number(number) => Ok(number.to_string()),
                other => Err(D::Error::custom(format!(
                    "expected text in a list, got {}",
                    describe(&other)
                ))),
            })
            .collect(),
        other => Err(D::Error::custom(format!(
            "expected a list, got {}",
            describe(&other)
        ))),
    }
}

/// A list of integers (numbers or strings); `null` is empty.
pub fn i64_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| value_to_i64(item).transpose())
            .collect::<Result<_, _>>()
            .map_err(D::Error::custom),
        other => value_to_i64(&other)
            .map(|single| single.into_iter().collect())
            .map_err(D::Error::custom),
    }
}

/// A `null`-tolerant list of structs.
pub fn vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Vec<T>>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// String-valued map (custom fields); numbers and booleans become text,
/// `null` values are dropped, a `null` map is empty.
pub fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::String(text) if text.trim().is_empty() => Ok(BTreeMap::new()),
        Value::Object(entries) => Ok(entries
            .into_iter()
            .filter_map(|(name, value)| match value {
                Value::Null => None,
                Value::String(text) => Some((name, text)),
                other => Some((name, other.to_string())),
            })
            .collect()),
        other => Err(D::Error::custom(format!(
            "expected an object, got {}",
            describe(&other)
        ))),
    }
}

/// Parses `2025-06-02T09:14:11.201Z`, `…+00:00`, `2025-06-02 09:14:11` (UTC)
/// and a bare date (midnight UTC).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Some(parsed.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    if let Ok(parsed) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(parsed.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// An optional timestamp in any form [`parse_timestamp`] reads.
pub fn opt_datetime<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match opt_string(deserializer)? {
        None => Ok(None),
        Some(text) => parse_timestamp(&text)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("unreadable timestamp {text:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "i64")]
        id: i64,
        #[serde(default, deserialize_with = "opt_i64")]
        parent: Option<i64>,
        #[serde(default, deserialize_with = "count")]
        sent: u64,
        #[serde(default, deserialize_with = "opt_f64")]
        rate: Option<f64>,
        #[serde(default, deserialize_with = "bool")]
        flag: bool,
        #[serde(default, deserialize_with = "string_list")]
        tracks: Vec<String>,
        #[serde(default, deserialize_with = "opt_datetime")]
        at: Option<DateTime<Utc>>,
        #[serde(default, deserialize_with = "string_map")]
        custom: BTreeMap<String, String>,
    }

    fn parse(value: serde_json::Value) -> Result<Sample, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn numbers_arrive_as_strings_or_numbers() {
        let from_strings =
            parse(json!({"id":"2995276770","parent":"12","sent":"812","rate":"98%"}))
                .expect("strings");
        let from_numbers =
            parse(json!({"id":2995276770_i64,"parent":12,"sent":812,"rate":98})).expect("numbers");
        assert_eq!(from_strings.id, 2_995_276_770);
        assert_eq!(from_strings.id, from_numbers.id);
        assert_eq!(from_strings.parent, Some(12));
        assert_eq!(from_strings.sent, 812);
        assert_eq!(from_strings.rate, Some(98.0));
        assert_eq!(from_numbers.rate, Some(98.0));
    }

    #[test]
    fn empty_and_null_become_none_or_zero() {
        let sample = parse(
            json!({"id":1,"parent":"","sent":null,"rate":null,"flag":null,
            "tracks":null,"at":"","custom":null}),
        )
        .expect("nulls");
        assert_eq!(sample.parent, None);
        assert_eq!(sample.sent, 0);
        assert_eq!(sample.rate, None);
        assert!(!sample.flag);
        assert!(sample.tracks.is_empty());
        assert_eq!(sample.at, None);
        assert!(sample.custom.is_empty());
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(parse(json!({"id":"abc"})).is_err());
        assert!(parse(json!({"id":null})).is_err());
        assert!(parse(json!({"id":1,"sent":"-3"})).is_err());
        assert!(parse(json!({"id":1,"at":"yesterday"})).is_err());
        assert!(parse(json!({"id":1,"flag":"maybe"})).is_err());
    }

    #[test]
    fn track_settings_as_array_or_string() {
        let array =
            parse(json!({"id":1,"tracks":["DONT_LINK_CLICK","DONT_EMAIL_OPEN"]})).expect("array");
        let text =
            parse(json!({"id":1,"tracks":"DONT_LINK_CLICK, DONT_EMAIL_OPEN"})).expect("string");
        assert_eq!(array.tracks, text.tracks);
        assert_eq!(array.tracks, ["DONT_LINK_CLICK", "DONT_EMAIL_OPEN"]);
    }

    #[test]
    fn timestamps_with_z_or_offset_agree() {
        let zulu = parse_timestamp("2025-06-04T08:02:31.000Z");
        let offset = parse_timestamp("2025-06-04T08:02:31+00:00");
        let spaced = parse_timestamp("2025-06-04 08:02:31");
        assert!(zulu.is_some());
        assert_eq!(zulu, offset);
        assert_eq!(zulu, spaced);
        assert!(parse_timestamp("2025-06-04").is_some());
    }

    #[test]
    fn custom_fields_become_text() {
        let sample = parse(json!({"id":1,"custom":{"Title":"CFO","Seats":40,"Gone":null}}))
            .expect("custom fields");
        assert_eq!(sample.custom.get("Title").map(String::as_str), Some("CFO"));
        assert_eq!(sample.custom.get("Seats").map(String::as_str), Some("40"));
        assert!(!sample.custom.contains_key("Gone"));
    }
}
