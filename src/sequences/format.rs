//! The sequence file format (TOML), documented by example in
//! `assets/sequences/`. Parsing checks everything that can be checked without
//! the store and points each problem at `file:line:column`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use super::template::Template;
use crate::config::SendingConfig;
use crate::model::*;

/// A problem in a sequence file, at a position in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct FormatError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Where a template sits in the file, for errors found later (unknown variables).
#[derive(Debug, Clone)]
pub struct TemplateSite {
    pub step: usize,
    pub field: &'static str,
    /// 1-based line of the template's first character.
    pub line: u32,
    pub template: Template,
}

#[derive(Debug, Clone)]
pub struct ParsedSequence {
    pub sequence: Sequence,
    pub declared_fields: Vec<String>,
    /// False when the file leaves `status` out (re-applying keeps the current one).
    pub status_given: bool,
    pub templates: Vec<TemplateSite>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequence {
    name: Spanned<String>,
    account: Spanned<String>,
    #[serde(default)]
    description: String,
    /// Custom fields the templates may use that the store may not know yet
    /// (e.g. columns of a CSV enrolled later).
    #[serde(default)]
    custom_fields: Vec<String>,
    category: Option<Spanned<String>>,
    status: Option<Spanned<String>>,
    #[serde(default)]
    settings: RawSettings,
    send_via: Spanned<RawSendVia>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    pause_on_reply: Option<bool>,
    pause_on_meeting_booked: Option<bool>,
    pause_on_bounce: Option<bool>,
    pause_on_unsubscribe: Option<Spanned<bool>>,
    stop_company_on_reply: Option<bool>,
    skip_weekends: Option<bool>,
    holidays: Option<Vec<Spanned<String>>>,
    daily_limit_per_mailbox: Option<Spanned<u32>>,
    window: Option<Spanned<RawWindow>>,
    timezone: Option<Spanned<String>>,
    random_gap_secs: Option<Spanned<RawGap>>,
    ooo_resume_days: Option<u32>,
    track_opens: Option<bool>,
    track_clicks: Option<bool>,
    plain_text: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGap {
    min: u32,
    max: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSendVia {
    provider: Spanned<String>,
    #[serde(default)]
    mailboxes: Vec<Spanned<String>>,
    campaign_id: Option<i64>,
    #[serde(default)]
    email_account_ids: Vec<i64>,
    #[serde(default)]
    email_accounts: Vec<Spanned<RawSender>>,
}

/// A Smartlead sender in `email_accounts`: an email account id, or its address.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSender {
    Id(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    name: Option<Spanned<String>>,
    subject: Option<Spanned<String>>,
    body: Option<Spanned<String>>,
    variants: Option<Vec<Spanned<RawVariant>>>,
    same_thread: Option<bool>,
    days: Option<u32>,
    hours: Option<u32>,
    business_days: Option<bool>,
    title: Option<Spanned<String>>,
    auto_skip_after_days: Option<Spanned<u32>>,
    #[serde(rename = "if")]
    condition: Option<Spanned<String>>,
    within_hours: Option<u32>,
    then: Option<Spanned<String>>,
    #[serde(rename = "else")]
    otherwise: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    payload: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    label: Option<String>,
    #[serde(default = "one")]
    weight: u32,
    subject: Spanned<String>,
    body: Spanned<String>,
}

fn one() -> u32 {
    1
}

/// Positions inside one file's text.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn position(&self, offset: usize) -> (u32, u32) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() as u32 + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
        (line, column)
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> FormatError {
        let (line, column) = self.position(offset);
        FormatError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn at<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> FormatError {
        self.error(spanned.span().start, message)
    }

    /// The line a string value's content starts on (a `"""` string that opens
    /// with a newline starts on the next line).
    fn content_line(&self, spanned: &Spanned<String>) -> u32 {
        let start = spanned.span().start;
        let (line, _) = self.position(start);
        let rest = &self.text[start.min(self.text.len())..];
        let multi = rest.starts_with("\"\"\"") || rest.starts_with("'''");
        if multi && (rest[3..].starts_with('\n') || rest[3..].starts_with("\r\n")) {
            line + 1
        } else {
            line
        }
    }

    fn template(
        &self,
        spanned: &Spanned<String>,
        step: usize,
        field: &'static str,
        sites: &mut Vec<TemplateSite>,
    ) -> Result<String, FormatError> {
        let line = self.content_line(spanned);
        let template = Template::parse(spanned.get_ref()).map_err(|e| FormatError {
            file: self.file.to_string(),
            line: line + e.line,
            column: 1,
            message: format!("in the {field}: {}", e.message),
        })?;
        sites.push(TemplateSite {
            step,
            field,
            line,
            template,
        });
        Ok(spanned.get_ref().clone())
    }
}

/// Parses and checks a sequence file. Settings left out come from `[sending]`.
pub fn parse_sequence(
    file: &str,
    text: &str,
    defaults: &SendingConfig,
    now: DateTime<Utc>,
) -> Result<ParsedSequence, FormatError> {
    let src = Source { file, text };
    let raw: RawSequence = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        src.error(offset, e.message().trim().to_string())
    })?;
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() || name.contains('/') {
        return Err(src.at(&raw.name, "name must be non-empty and contain no '/'"));
    }
    let account = raw.account.get_ref().trim().to_string();
    if account.is_empty() {
        return Err(src.at(&raw.account, "account must name a configured account"));
    }
    let category = match &raw.category {
        None => SequenceCategory::Custom,
        Some(c) => parse_category(c.get_ref()).ok_or_else(|| {
            src.at(c, format!(
                "unknown category {:?}: use cold_outreach, nurture, follow_up, win_back or custom",
                c.get_ref()
            ))
        })?,
    };
    let status = match &raw.status {
        None => SequenceStatus::Active,
        Some(s) => match s.get_ref().as_str() {
            "active" => SequenceStatus::Active,
            "paused" => SequenceStatus::Paused,
            other => {
                return Err(src.at(s, format!("unknown status {other:?}: use active or paused")));
            }
        },
    };
    let settings = settings(&src, &raw.settings, defaults)?;
    let send_via = send_via(&src, &raw.send_via, &account)?;
    let mut sites = Vec::new();
    let steps = steps(&src, &raw.steps, &mut sites)?;
    Ok(ParsedSequence {
        sequence: Sequence {
            name,
            account,
            description: raw.description,
            category,
            status,
            settings,
            send_via,
            steps,
            source_file: Some(file.to_string()),
            created_at: now,
            updated_at: now,
        },
        declared_fields: raw.custom_fields,
        status_given: raw.status.is_some(),
        templates: sites,
    })
}

fn parse_category(text: &str) -> Option<SequenceCategory> {
    Some(
        match text
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "cold_outreach" => SequenceCategory::ColdOutreach,
            "nurture" => SequenceCategory::Nurture,
            "follow_up" => SequenceCategory::FollowUp,
            "win_back" => SequenceCategory::WinBack,
            "custom" => SequenceCategory::Custom,
            _ => return None,
        },
    )
}

fn clock_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

fn settings(
    src: &Source,
    raw: &RawSettings,
    defaults: &SendingConfig,
) -> Result<SequenceSettings, FormatError> {
    if let Some(flag) = &raw.pause_on_unsubscribe
        && !*flag.get_ref()
    {
        return Err(src.at(
            flag,
            "unsubscribes always stop a sequence (the law requires honouring opt-outs); remove pause_on_unsubscribe or set it to true",
        ));
    }
    let window = match &raw.window {
        None => SendingWindow {
            start: defaults.window.start,
            end: defaults.window.end,
        },
        Some(w) => {
            let bad = || {
                src.at(
                    w,
                    "window needs start and end as \"HH:MM\", start before end",
                )
            };
            let start = clock_time(&w.get_ref().start).ok_or_else(bad)?;
            let end = clock_time(&w.get_ref().end).ok_or_else(bad)?;
            if start >= end {
                return Err(bad());
            }
            SendingWindow { start, end }
        }
    };
    let timezone =
        match &raw.timezone {
            None => defaults.timezone.name().to_string(),
            Some(tz) => {
                let parsed: Tz =
                    tz.get_ref().trim().parse().map_err(|_| {
                        src.at(tz, format!(
                    "unknown timezone {:?}: use an IANA name such as \"America/New_York\"",
                    tz.get_ref()
                ))
                    })?;
                parsed.name().to_string()
            }
        };
    let holidays = match &raw.holidays {
        None => defaults.holidays.clone(),
        Some(list) => list
            .iter()
            .map(|d| {
                NaiveDate::parse_from_str(d.get_ref().trim(), "%Y-%m-%d").map_err(|_| {
                    src.at(
                        d,
                        format!("holiday {:?} is not a YYYY-MM-DD date", d.get_ref()),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let daily_limit_per_mailbox = match &raw.daily_limit_per_mailbox {
        None => defaults.daily_limit_per_mailbox,
        Some(n) if *n.get_ref() == 0 => {
            return Err(src.at(n, "daily_limit_per_mailbox must be at least 1"));
        }
        Some(n) => *n.get_ref(),
    };
    let random_gap_secs = match &raw.random_gap_secs {
        None => (
            u32::try_from(defaults.random_gap_secs.min).unwrap_or(u32::MAX),
            u32::try_from(defaults.random_gap_secs.max).unwrap_or(u32::MAX),
        ),
        Some(g) if g.get_ref().min > g.get_ref().max => {
            return Err(src.at(g, "random_gap_secs needs min <= max"));
        }
        Some(g) => (g.get_ref().min, g.get_ref().max),
    };
    Ok(SequenceSettings {
        pause_on_reply: raw.pause_on_reply.unwrap_or(true),
        pause_on_meeting_booked: raw.pause_on_meeting_booked.unwrap_or(true),
        pause_on_bounce: raw.pause_on_bounce.unwrap_or(true),
        pause_on_unsubscribe: true,
        stop_company_on_reply: raw.stop_company_on_reply.unwrap_or(false),
        skip_weekends: raw.skip_weekends.unwrap_or(defaults.skip_weekends),
        holidays,
        daily_limit_per_mailbox,
        window,
        timezone,
        random_gap_secs,
        ooo_resume_days: raw.ooo_resume_days.unwrap_or(7),
        track_opens: raw.track_opens.unwrap_or(false),
        track_clicks: raw.track_clicks.unwrap_or(false),
        plain_text: raw.plain_text.unwrap_or(false),
    })
}

fn send_via(
    src: &Source,
    raw: &Spanned<RawSendVia>,
    account: &str,
) -> Result<SendVia, FormatError> {
    let inner = raw.get_ref();
    match inner.provider.get_ref().as_str() {
        "gmail" => {
            if inner.mailboxes.is_empty() {
                return Err(src.at(
                    raw,
                    "a gmail sequence needs mailboxes = [\"you@example.com\"]",
                ));
            }
            let mut mailboxes = Vec::new();
            for m in &inner.mailboxes {
                let address = normalize_email(m.get_ref());
                if !address.contains('@') {
                    return Err(src.at(m, format!("{:?} is not an email address", m.get_ref())));
                }
                mailboxes.push(address);
            }
            if inner.campaign_id.is_some()
                || !inner.email_account_ids.is_empty()
                || !inner.email_accounts.is_empty()
            {
                return Err(src.at(
                    raw,
                    "campaign_id and email_accounts are for smartlead sequences",
                ));
            }
            Ok(SendVia {
                provider: Provider::Gmail,
                account: account.to_string(),
                mailboxes,
                campaign_id: None,
            })
        }
        "smartlead" => {
            let campaign_id = inner.campaign_id.ok_or_else(|| {
                src.at(
                    raw,
                    "a smartlead sequence needs campaign_id (the campaign leads are added to)",
                )
            })?;
            if !inner.mailboxes.is_empty() {
                return Err(src.at(raw, "a smartlead sequence picks senders with email_accounts = [..] (ids or addresses), not mailboxes"));
            }
            Ok(SendVia {
                provider: Provider::Smartlead,
                account: account.to_string(),
                mailboxes: smartlead_senders(src, inner)?,
                campaign_id: Some(campaign_id),
            })
        }
        other => Err(src.at(
            &inner.provider,
            format!("unknown provider {other:?}: use gmail or smartlead"),
        )),
    }
}

/// The senders a smartlead sequence names, as rotation keys: ids as text,
/// addresses lower-cased (the outbox resolves them to ids before sending).
fn smartlead_senders(src: &Source, inner: &RawSendVia) -> Result<Vec<String>, FormatError> {
    let mut senders: Vec<String> = Vec::new();
    let mut add = |key: String| {
        if !senders.contains(&key) {
            senders.push(key);
        }
    };
    for id in &inner.email_account_ids {
        add(id.to_string());
    }
    for sender in &inner.email_accounts {
        let key = match sender.get_ref() {
            RawSender::Id(id) if *id > 0 => id.to_string(),
            RawSender::Text(text) => match text.trim().parse::<i64>() {
                Ok(id) if id > 0 => id.to_string(),
                Ok(_) => String::new(),
                Err(_) => normalize_email(text),
            },
            RawSender::Id(_) => String::new(),
        };
        if !(key.contains('@') || key.parse::<i64>().is_ok()) {
            return Err(src.at(
                sender,
                "email_accounts takes Smartlead email account ids (4412) or sender addresses (\"sam@acme.io\")",
            ));
        }
        add(key);
    }
    Ok(senders)
}

fn steps(
    src: &Source,
    raw: &Spanned<Vec<Spanned<RawStep>>>,
    sites: &mut Vec<TemplateSite>,
) -> Result<Vec<Step>, FormatError> {
    if raw.get_ref().is_empty() {
        return Err(src.at(raw, "a sequence needs at least one [[steps]]"));
    }
    // Names first, so conditionals can jump forward by name.
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut step_names = Vec::new();
    for (i, step) in raw.get_ref().iter().enumerate() {
        let name = match &step.get_ref().name {
            Some(n) => n.get_ref().trim().to_string(),
            None => format!("step-{}", i + 1),
        };
        if name == "end" || names.insert(name.clone(), i).is_some() {
            return Err(src.at(
                step,
                format!("step name {name:?} is reserved or used twice"),
            ));
        }
        step_names.push(name);
    }
    let total = raw.get_ref().len();
    let mut out = Vec::new();
    let mut seen_email = false;
    for (i, spanned) in raw.get_ref().iter().enumerate() {
        let step = spanned.get_ref();
        let (line, _) = src.position(spanned.span().start);
        let allowed: &[&str] =
            match step.kind.get_ref().as_str() {
                "email" => &["subject", "body", "variants", "same_thread"],
                "wait" => &["days", "hours", "business_days"],
                "task" => &["title", "body", "auto_skip_after_days"],
                "conditional" => &["if", "within_hours", "then", "else"],
                "webhook" => &["url", "payload"],
                other => {
                    return Err(src.at(&step.kind, format!(
                    "unknown step type {other:?}: use email, wait, task, conditional or webhook"
                )));
                }
            };
        if let Some(field) = present_fields(step)
            .into_iter()
            .find(|f| !allowed.contains(f))
        {
            return Err(src.at(
                spanned,
                format!(
                    "`{field}` does not belong in a {} step (allowed: {})",
                    step.kind.get_ref(),
                    allowed.join(", ")
                ),
            ));
        }
        let kind = match step.kind.get_ref().as_str() {
            "email" => {
                let variants = variants(src, spanned, i, sites)?;
                let same_thread = step.same_thread.unwrap_or(seen_email);
                if !same_thread && variants.iter().any(|v| v.subject.trim().is_empty()) {
                    return Err(src.at(
                        spanned,
                        "this email needs a subject (only in-thread follow-ups may leave it out)",
                    ));
                }
                if same_thread && !seen_email {
                    return Err(src.at(
                        spanned,
                        "the first email step cannot be same_thread: there is no thread yet",
                    ));
                }
                seen_email = true;
                StepKind::Email {
                    variants,
                    same_thread,
                }
            }
            "wait" => {
                let (days, hours) = (step.days.unwrap_or(0), step.hours.unwrap_or(0));
                if days == 0 && hours == 0 {
                    return Err(src.at(spanned, "a wait step needs days or hours"));
                }
                StepKind::Wait {
                    days,
                    hours,
                    business_days: step.business_days.unwrap_or(false),
                }
            }
            "task" => {
                let title = step
                    .title
                    .as_ref()
                    .ok_or_else(|| src.at(spanned, "a task step needs a title"))?;
                let title = src.template(title, i, "title", sites)?;
                let body = match &step.body {
                    Some(b) => src.template(b, i, "body", sites)?,
                    None => String::new(),
                };
                let auto_skip_after_days = match &step.auto_skip_after_days {
                    Some(days) if *days.get_ref() == 0 => {
                        return Err(src.at(
                            days,
                            "auto_skip_after_days must be 1 or more (leave it out to wait for the rep)",
                        ));
                    }
                    days => days.as_ref().map(|d| *d.get_ref()),
                };
                StepKind::Task {
                    title,
                    body,
                    auto_skip_after_days,
                }
            }
            "conditional" => {
                let cond = step.condition.as_ref().ok_or_else(|| {
                    src.at(spanned, "a conditional step needs if = \"opened\" | \"clicked\" | \"replied\" | \"no_reply\"")
                })?;
                let condition = match cond.get_ref().as_str() {
                    "opened" => Condition::Opened,
                    "clicked" => Condition::Clicked,
                    "replied" => Condition::Replied,
                    "no_reply" => Condition::NoReply,
                    other => return Err(src.at(
                        cond,
                        format!(
                            "unknown condition {other:?}: use opened, clicked, replied or no_reply"
                        ),
                    )),
                };
                let within_hours = step.within_hours.filter(|h| *h > 0).ok_or_else(|| {
                    src.at(spanned, "a conditional step needs within_hours (> 0)")
                })?;
                let target =
                    |r: &Option<Spanned<String>>, default: usize| -> Result<usize, FormatError> {
                        let Some(r) = r else { return Ok(default) };
                        let to = if r.get_ref() == "end" {
                            total
                        } else {
                            *names.get(r.get_ref()).ok_or_else(|| {
                                src.at(
                                    r,
                                    format!(
                                        "no step named {:?} (names: {})",
                                        r.get_ref(),
                                        step_names.join(", ")
                                    ),
                                )
                            })?
                        };
                        if to <= i {
                            return Err(src.at(
                                r,
                                "a conditional can only jump forward (to a later step or \"end\")",
                            ));
                        }
                        Ok(to)
                    };
                let then_step = target(&step.then, i + 1)?;
                let else_step = target(&step.otherwise, i + 1)?;
                StepKind::Conditional {
                    condition,
                    within_hours,
                    then_step,
                    else_step,
                }
            }
            _ => {
                let url = step
                    .url
                    .as_ref()
                    .ok_or_else(|| src.at(spanned, "a webhook step needs url"))?;
                match url::Url::parse(url.get_ref()) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                    _ => {
                        return Err(
                            src.at(url, format!("{:?} is not an http(s) URL", url.get_ref()))
                        );
                    }
                }
                let payload = match &step.payload {
                    Some(p) => Some(src.template(p, i, "payload", sites)?),
                    None => None,
                };
                StepKind::Webhook {
                    url: url.get_ref().clone(),
                    payload,
                }
            }
        };
        out.push(Step {
            name: step_names[i].clone(),
            kind,
            source_line: Some(line),
        });
    }
    if !seen_email {
        return Err(src.at(raw, "a sequence needs at least one email step"));
    }
    Ok(out)
}

fn present_fields(step: &RawStep) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut add = |present: bool, name| {
        if present {
            out.push(name)
        }
    };
    add(step.subject.is_some(), "subject");
    add(step.body.is_some(), "body");
    add(step.variants.is_some(), "variants");
    add(step.same_thread.is_some(), "same_thread");
    add(step.days.is_some(), "days");
    add(step.hours.is_some(), "hours");
    add(step.business_days.is_some(), "business_days");
    add(step.title.is_some(), "title");
    add(step.auto_skip_after_days.is_some(), "auto_skip_after_days");
    add(step.condition.is_some(), "if");
    add(step.within_hours.is_some(), "within_hours");
    add(step.then.is_some(), "then");
    add(step.otherwise.is_some(), "else");
    add(step.url.is_some(), "url");
    add(step.payload.is_some(), "payload");
    out
}

fn variants(
    src: &Source,
    spanned: &Spanned<RawStep>,
    index: usize,
    sites: &mut Vec<TemplateSite>,
) -> Result<Vec<Variant>, FormatError> {
    let step = spanned.get_ref();
    match (&step.variants, &step.subject, &step.body) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(src.at(
            spanned,
            "give either subject and body, or [[steps.variants]], not both",
        )),
        (None, subject, Some(body)) => Ok(vec![Variant {
            label: "A".into(),
            weight: 1,
            subject: match subject {
                Some(subject) => src.template(subject, index, "subject", sites)?,
                None => String::new(),
            },
            body: src.template(body, index, "body", sites)?,
        }]),
        (None, _, _) => Err(src.at(
            spanned,
            "an email step needs subject and body (or [[steps.variants]])",
        )),
        (Some(list), None, None) => {
            if list.is_empty() {
                return Err(src.at(spanned, "variants is empty"));
            }
            let mut out: Vec<Variant> = Vec::new();
            for (n, v) in list.iter().enumerate() {
                let raw = v.get_ref();
                let label = raw
                    .label
                    .clone()
                    .unwrap_or_else(|| ((b'A' + (n % 26) as u8) as char).to_string());
                if out.iter().any(|o| o.label == label) {
                    return Err(src.at(v, format!("variant label {label:?} is used twice")));
                }
                if raw.weight == 0 {
                    return Err(src.at(
                        v,
                        "a variant's weight must be at least 1 (remove the variant to stop it)",
                    ));
                }
                out.push(Variant {
                    label,
                    weight: raw.weight,
                    subject: src.template(&raw.subject, index, "subject", sites)?,
                    body: src.template(&raw.body, index, "body", sites)?,
                });
            }
            Ok(out)
        }
    }
}
