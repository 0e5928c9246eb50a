//! Value types that validate themselves while the file is read, so a bad value
//! is reported with the toml crate's span (and thus its key and line).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use ratatui::style::Color;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use url::Url;

/// A time of day written `"HH:MM"` (24-hour).
pub(crate) struct ClockTime(pub NaiveTime);

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_clock_time(&text).map(ClockTime).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid time `{text}`: expected \"HH:MM\" on a 24-hour clock, e.g. \"09:00\""
            ))
        })
    }
}

fn parse_clock_time(text: &str) -> Option<NaiveTime> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u32 = hours.parse().ok()?;
    let minutes: u32 = minutes.parse().ok()?;
    NaiveTime::from_hms_opt(hours, minutes, 0)
}

/// An IANA time zone name such as `America/New_York`.
pub(crate) fn timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(d)?;
    Tz::from_str(&name).map_err(|_| {
        de::Error::custom(format!(
            "unknown time zone `{name}`: expected an IANA name such as \"America/New_York\" or \"UTC\""
        ))
    })
}

/// An optional IANA time zone name.
pub(crate) fn optional_timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    timezone(d).map(Some)
}

/// A DNS server: "IP:PORT", or a bare IP on port 53.
pub(crate) fn opt_dns_server<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if let Ok(addr) = SocketAddr::from_str(&text) {
        return Ok(Some(addr));
    }
    std::net::IpAddr::from_str(&text)
        .map(|ip| Some(SocketAddr::new(ip, 53)))
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is not a DNS server address; write an IP, or IP:PORT such as \"127.0.0.1:5353\""
            ))
        })
}

/// A socket address such as `127.0.0.1:8790` or `[::1]:8790`.
pub(crate) fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    SocketAddr::from_str(&text).map_err(|_| {
        de::Error::custom(format!(
            "invalid address `{text}`: expected IP:PORT such as \"127.0.0.1:8790\" or \"0.0.0.0:8790\""
        ))
    })
}

/// An absolute http(s) URL with a host.
pub(crate) struct HttpUrl(pub Url);

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let url = Url::parse(&text)
            .map_err(|e| de::Error::custom(format!("invalid URL `{text}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(de::Error::custom(format!(
                "invalid URL `{text}`: expected an http:// or https:// address with a host"
            )));
        }
        Ok(HttpUrl(url))
    }
}

pub(crate) fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    HttpUrl::deserialize(d).map(|u| u.0)
}

pub(crate) fn optional_http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    HttpUrl::deserialize(d).map(|u| Some(u.0))
}

/// A whole number of at least 1 (intervals, limits: zero would stall or spin).
pub(crate) fn positive_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

/// How often due work is looked for, in milliseconds: at least 50 (more
/// often would only spin on the store), at most a minute.
pub(crate) fn work_interval_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = u64::deserialize(d)?;
    if !(50..=60_000).contains(&n) {
        return Err(de::Error::custom(
            "must be between 50 and 60000 (milliseconds)",
        ));
    }
    Ok(Some(n))
}

pub(crate) fn undo_window_secs<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n > 3600 {
        return Err(de::Error::custom("must be at most 3600 (an hour)"));
    }
    Ok(n)
}

pub(crate) fn positive_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

/// A share between 0 and 1 (0.05 is 5%).
pub(crate) fn share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let n = f64::deserialize(d)?;
    if !(0.0..=1.0).contains(&n) {
        return Err(de::Error::custom(format!(
            "{n} is not a share: give a number from 0 to 1 (0.05 is 5%)"
        )));
    }
    Ok(n)
}

/// A string that is not blank.
pub(crate) struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(NonEmpty(text))
    }
}

pub(crate) fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    NonEmpty::deserialize(d).map(|s| s.0)
}

pub(crate) fn optional_non_empty<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    NonEmpty::deserialize(d).map(|s| Some(s.0))
}

/// A colour as ratatui reads it: a name (`"red"`, `"lightblue"`), `"#rrggbb"`,
/// or an indexed colour `"0"`..`"255"`.
pub(crate) struct Colour(pub Color);

impl<'de> Deserialize<'de> for Colour {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Color::from_str(&text).map(Colour).map_err(|_| {
            de::Error::custom(format!(
                "invalid colour `{text}`: expected a name such as \"cyan\", \"#rrggbb\" or 0-255"
            ))
        })
    }
}

/// A calendar date, written either as a TOML date (`2025-12-25`) or a string.
pub(crate) struct CalendarDate(pub NaiveDate);

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DateVisitor)
    }
}

struct DateVisitor;

impl DateVisitor {
    fn parse<E: de::Error>(text: &str) -> Result<CalendarDate, E> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(CalendarDate)
            .map_err(|_| {
                E::custom(format!(
                    "invalid date `{text}`: expected a date such as 2025-12-25 (no time of day)"
                ))
            })
    }
}

impl<'de> Visitor<'de> for DateVisitor {
    type Value = CalendarDate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date such as 2025-12-25")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<CalendarDate, E> {
        DateVisitor::parse(text)
    }

    // TOML dates arrive as a one-entry map holding their text form.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CalendarDate, A::Error> {
        let Some((_, text)) = map.next_entry::<String, String>()? else {
            return Err(de::Error::custom("expected a date such as 2025-12-25"));
        };
        DateVisitor::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_need_two_digit_hours_and_minutes() {
        assert_eq!(parse_clock_time("09:30"), NaiveTime::from_hms_opt(9, 30, 0));
        assert_eq!(
            parse_clock_time("23:59"),
            NaiveTime::from_hms_opt(23, 59, 0)
        );
        for bad in ["9:30", "24:00", "12:60", "12:3", "noon", "12:30:00", ""] {
            assert_eq!(parse_clock_time(bad), None, "{bad}");
        }
    }
}
