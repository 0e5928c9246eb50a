//! The `[daemon]`, `[sending]`, `[ui]` and `[logging]` sections, and the
//! per-account `rate_limit`. Each has a default for every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use ratatui::style::Color;
use serde::Deserialize;
use serde::de::Deserializer;
use toml::Spanned;
use url::Url;

use super::secrets::{Secret, SecretFields};
use super::values::{self, CalendarDate, ClockTime, Colour, NonEmpty};

// ---------------------------------------------------------------- daemon

/// The headless daemon: HTTP listener, public links, webhook verification, logs.
#[derive(Debug)]
pub struct DaemonConfig {
    pub listen: SocketAddr,
    /// Base of tracking and unsubscribe links; without it the daemon adds none.
    pub public_url: Option<Url>,
    /// Compared with the `secret_key` in every Smartlead webhook payload.
    pub webhook_secret: Option<Secret>,
    /// Bearer token that a remote TUI presents to `/api/...`.
    pub api_token: Option<Secret>,
    pub log_format: LogFormat,
    /// Absolute (`~` expanded); `None` logs to stderr.
    pub log_file: Option<PathBuf>,
    /// How often the outbox and the scheduler look for due work; None: the
    /// outbox every second, the scheduler at the next due time or every
    /// five seconds.
    pub work_interval: Option<std::time::Duration>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8790";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    #[serde(default = "default_listen", deserialize_with = "values::socket_addr")]
    pub listen: SocketAddr,
    #[serde(default, deserialize_with = "values::optional_http_url")]
    pub public_url: Option<Url>,
    pub webhook_secret: Option<Spanned<String>>,
    pub webhook_secret_env: Option<Spanned<String>>,
    pub webhook_secret_cmd: Option<Spanned<String>>,
    pub api_token: Option<Spanned<String>>,
    pub api_token_env: Option<Spanned<String>>,
    pub api_token_cmd: Option<Spanned<String>>,
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(default, deserialize_with = "values::optional_non_empty")]
    pub log_file: Option<String>,
    #[serde(default, deserialize_with = "values::work_interval_ms")]
    pub work_interval_ms: Option<u64>,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            listen: default_listen(),
            public_url: None,
            webhook_secret: None,
            webhook_secret_env: None,
            webhook_secret_cmd: None,
            api_token: None,
            api_token_env: None,
            api_token_cmd: None,
            log_format: LogFormat::Text,
            log_file: None,
            work_interval_ms: None,
        }
    }
}

impl RawDaemon {
    pub fn take_webhook_secret(&mut self) -> SecretFields {
        SecretFields {
            literal: self.webhook_secret.take(),
            env: self.webhook_secret_env.take(),
            cmd: self.webhook_secret_cmd.take(),
        }
    }

    pub fn take_api_token(&mut self) -> SecretFields {
        SecretFields {
            literal: self.api_token.take(),
            env: self.api_token_env.take(),
            cmd: self.api_token_cmd.take(),
        }
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .expect("the built-in listen address is valid")
}

// ---------------------------------------------------------------- sending

/// Rules for when and how much a mailbox sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendingConfig {
    #[serde(
        default = "default_daily_limit",
        deserialize_with = "values::positive_u32"
    )]
    pub daily_limit_per_mailbox: u32,
    #[serde(default)]
    pub window: SendWindow,
    /// Used for leads whose own time zone is unknown.
    #[serde(default = "default_timezone", deserialize_with = "values::timezone")]
    pub timezone: Tz,
    #[serde(default = "default_true")]
    pub skip_weekends: bool,
    /// A random pause between two sends from one mailbox.
    #[serde(default)]
    pub random_gap_secs: GapRange,
    /// Days on which nothing is sent.
    #[serde(default, deserialize_with = "dates")]
    pub holidays: Vec<NaiveDate>,
    /// A mailbox stops sending sequence steps once more than this share of
    /// its mail bounced hard (counted once it has sent 50).
    #[serde(
        default = "default_bounce_pause_rate",
        deserialize_with = "values::share"
    )]
    pub bounce_pause_rate: f64,
    /// The DNS server the deliverability preflight asks ("IP" or "IP:PORT");
    /// None for the system resolver.
    #[serde(default, deserialize_with = "values::opt_dns_server")]
    pub dns_server: Option<SocketAddr>,
    /// DKIM selectors of the rep's domains, tried before the common ones.
    #[serde(default)]
    pub dkim_selectors: Vec<String>,
}

impl Default for SendingConfig {
    fn default() -> Self {
        SendingConfig {
            daily_limit_per_mailbox: default_daily_limit(),
            window: SendWindow::default(),
            timezone: default_timezone(),
            skip_weekends: true,
            random_gap_secs: GapRange::default(),
            holidays: Vec::new(),
            bounce_pause_rate: default_bounce_pause_rate(),
            dns_server: None,
            dkim_selectors: Vec::new(),
        }
    }
}

fn default_bounce_pause_rate() -> f64 {
    0.05
}

fn default_daily_limit() -> u32 {
    50
}

fn default_timezone() -> Tz {
    Tz::UTC
}

fn default_true() -> bool {
    true
}

fn dates<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
    let dates = Vec::<CalendarDate>::deserialize(d)?;
    Ok(dates.into_iter().map(|date| date.0).collect())
}

/// The local hours in which sends may go out; `start` is before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawWindow")]
pub struct SendWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    start: ClockTime,
    end: ClockTime,
}

impl TryFrom<RawWindow> for SendWindow {
    type Error = String;

    fn try_from(raw: RawWindow) -> Result<Self, Self::Error> {
        let (start, end) = (raw.start.0, raw.end.0);
        if start >= end {
            return Err(format!(
                "window start {} is not before end {}: give a same-day window such as {{ start = \"09:00\", end = \"17:00\" }}",
                start.format("%H:%M"),
                end.format("%H:%M")
            ));
        }
        Ok(SendWindow { start, end })
    }
}

/// Inclusive bounds in seconds; `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawGap")]
pub struct GapRange {
    pub min: u64,
    pub max: u64,
}

impl GapRange {
    pub fn min_duration(&self) -> Duration {
        Duration::from_secs(self.min)
    }

    pub fn max_duration(&self) -> Duration {
        Duration::from_secs(self.max)
    }
}

impl Default for GapRange {
    fn default() -> Self {
        GapRange { min: 60, max: 300 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGap {
    min: u64,
    max: u64,
}

impl TryFrom<RawGap> for GapRange {
    type Error = String;

    fn try_from(raw: RawGap) -> Result<Self, Self::Error> {
        if raw.min > raw.max {
            return Err(format!(
                "min ({}) is greater than max ({}): give min <= max",
                raw.min, raw.max
            ));
        }
        Ok(GapRange {
            min: raw.min,
            max: raw.max,
        })
    }
}

// ---------------------------------------------------------------- accounts

/// Requests allowed to one account's API: at most `max` per `per_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(deserialize_with = "values::positive_u32")]
    pub max: u32,
    #[serde(deserialize_with = "values::positive_u64")]
    pub per_secs: u64,
}

impl RateLimit {
    pub fn period(&self) -> Duration {
        Duration::from_secs(self.per_secs)
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            max: 10,
            per_secs: 2,
        }
    }
}

// ---------------------------------------------------------------- ui

/// The full-screen client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// Seconds during which a sent reply can still be taken back (at most
    /// an hour: the engine refuses a longer hold, locally and over the API).
    #[serde(
        default = "default_undo_send_secs",
        deserialize_with = "values::undo_window_secs"
    )]
    pub undo_send_secs: u64,
    #[serde(default)]
    pub notify: Notify,
    /// The rep's own time zone, for snooze and reminder times they type
    /// (`tomorrow 9:00`). Default: the system's.
    #[serde(default, deserialize_with = "values::optional_timezone")]
    pub timezone: Option<Tz>,
    /// Colour overrides by theme slot name (slots are defined by the UI).
    #[serde(default, deserialize_with = "theme")]
    pub theme: BTreeMap<String, Color>,
    /// Key overrides: action name to the keys that trigger it (an empty list
    /// unbinds the action). Checked against the UI's action list, and for
    /// a key meaning two actions on one screen, when the config loads.
    #[serde(default, deserialize_with = "keymap")]
    pub keymap: BTreeMap<String, Vec<String>>,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            undo_send_secs: default_undo_send_secs(),
            notify: Notify::default(),
            timezone: None,
            theme: BTreeMap::new(),
            keymap: BTreeMap::new(),
        }
    }
}

fn default_undo_send_secs() -> u64 {
    10
}

/// How a new reply is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    /// The terminal bell.
    #[default]
    Bell,
    /// An OSC 9 desktop notification (terminals that support it).
    Osc,
    Off,
}

fn theme<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Color>, D::Error> {
    let raw = BTreeMap::<String, Colour>::deserialize(d)?;
    Ok(raw.into_iter().map(|(k, v)| (k, v.0)).collect())
}

fn keymap<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let raw = BTreeMap::<String, Vec<NonEmpty>>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(action, keys)| (action, keys.into_iter().map(|k| k.0).collect()))
        .collect())
}

// ---------------------------------------------------------------- notify

/// What runs once per new inbound reply, also when no TUI is open (the
/// daemon, `outpost sync`). Nothing runs when neither is set.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyHook {
    /// A shell command; the reply comes as one JSON document on its stdin.
    #[serde(default, deserialize_with = "values::optional_non_empty")]
    pub command: Option<String>,
    /// A URL the same JSON is posted to (with a Slack-style `text`). It
    /// often carries a token, so it is never printed or logged.
    #[serde(default)]
    pub webhook_url: Option<url::Url>,
    /// Only replies in these categories (case-insensitive); empty: all.
    #[serde(default)]
    pub categories: Vec<String>,
}

impl NotifyHook {
    pub fn is_set(&self) -> bool {
        self.command.is_some() || self.webhook_url.is_some()
    }
}

// ---------------------------------------------------------------- logging

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(default)]
    pub level: LogLevel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    pub fn to_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}
