//! Read-only commands over the cache: inbox, thread, leads, lead, stats.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::Args;

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table, or_dash, percent, when};
use super::{Cli, CliError, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::engine::{
    InboxQuery, LeadQuery, LeadSort, StatsQuery, TaggedLead, TimelineItem, snippet,
};
use crate::model::EventType;

#[derive(Debug, Args)]
pub struct InboxArgs {
    #[command(flatten)]
    pub json: JsonFlag,
    /// Only threads with unread replies.
    #[arg(long)]
    pub unread: bool,
    /// Only this reply category (e.g. "Interested", "Out Of Office").
    #[arg(long, value_name = "C")]
    pub category: Option<String>,
    /// Only this account (config name).
    #[arg(long)]
    pub account: Option<String>,
    /// Only this Smartlead campaign id.
    #[arg(long, value_name = "ID")]
    pub campaign: Option<i64>,
    /// Words (all must match, each the start of a word: meet finds meeting;
    /// "quoted phrases" are whole words) over subjects, bodies, names and
    /// addresses, and from: to: category: campaign: tag: label: is:unread
    /// is:read is:snoozed is:archived has:attachment before:DATE after:DATE
    /// assigned:me|NAME|nobody; -term negates.
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub search: Option<String>,
    /// Only conversations with this Gmail label (by name).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// The conversations marked done instead (`outpost archive`).
    #[arg(long, conflicts_with = "snoozed")]
    pub archived: bool,
    /// The snoozed conversations instead (`outpost snooze`).
    #[arg(long)]
    pub snoozed: bool,
    /// Only the conversations assigned to me: the token's user over
    /// --remote, else the config's top-level `user`.
    #[arg(long)]
    pub mine: bool,
    /// At most this many threads.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ThreadArgs {
    /// Thread id as `inbox` prints it (account/thread).
    pub id: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct LeadsArgs {
    #[command(flatten)]
    pub json: JsonFlag,
    /// Only leads in this Smartlead campaign id.
    #[arg(long, value_name = "ID")]
    pub campaign: Option<i64>,
    /// Company name contains TEXT (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub company: Option<String>,
    /// Last interaction type: sent, opened, clicked, replied, bounced, unsubscribed, ...
    #[arg(long, value_name = "TYPE")]
    pub event: Option<String>,
    /// Last interaction on or after DATE (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Last interaction on or before DATE (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Words (all must match, each the start of a word) over name, email
    /// and company, and tag: and campaign: (by name); -term negates.
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub search: Option<String>,
    /// Only this account (config name).
    #[arg(long)]
    pub account: Option<String>,
    /// Most recent interaction first (default: by email).
    #[arg(long)]
    pub recent: bool,
    /// At most this many leads.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct LeadArgs {
    pub email: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// One Smartlead campaign id (default: every campaign and the totals).
    #[arg(long, value_name = "ID")]
    pub campaign: Option<i64>,
    /// Only this account (config name).
    #[arg(long)]
    pub account: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// The newest replies as a table (the demo's summary uses it too).
pub fn print_inbox(engine: &crate::engine::Engine, limit: usize) -> CliResult {
    let rows = engine
        .inbox(&InboxQuery {
            limit: Some(limit),
            ..InboxQuery::default()
        })
        .map_err(crate::engine::door::DoorError::from)?;
    inbox_table(&rows)
}

fn inbox_table(rows: &[crate::engine::ThreadView]) -> CliResult {
    let mut table = Table::new(vec![
        "",
        "WHEN",
        "WHO",
        "CATEGORY",
        "SUBJECT",
        "LAST WORDS",
        "ID",
    ]);
    for row in rows {
        let t = &row.thread;
        // ↩ when we answered after the person's last words.
        let words = if row.answered_last {
            format!("↩ {}", row.preview)
        } else {
            row.preview.clone()
        };
        table.row(vec![
            if t.unread { "●".into() } else { " ".into() },
            when(Some(t.last_message_at)),
            or_dash(Some(row.name.as_str()).filter(|n| !n.is_empty())),
            or_dash(t.category.as_ref().map(|c| c.name.as_str())),
            snippet(&marked_subject(row), 48),
            snippet(&words, 50),
            row.key.clone(),
        ]);
    }
    if table.is_empty() {
        println!("No replies match.");
        return Ok(());
    }
    table.print()
}

/// The subject with the conversation's labels and #tags before it.
fn marked_subject(row: &crate::engine::ThreadView) -> String {
    let marks: Vec<String> = row
        .labels
        .iter()
        .map(|l| format!("[{l}]"))
        .chain(row.tags.iter().map(|t| format!("#{t}")))
        .collect();
    if marks.is_empty() {
        return row.thread.subject.clone();
    }
    format!("{} {}", marks.join(" "), row.thread.subject)
}

pub fn inbox(cli: &Cli, args: &InboxArgs) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let query = InboxQuery {
        account: args.account.clone(),
        campaign_id: args.campaign,
        category: args.category.clone(),
        unread_only: args.unread,
        search: args.search.clone(),
        label: args.label.clone(),
        archived: args.archived,
        snoozed: args.snoozed,
        mine: args.mine,
        offset: 0,
        limit: args.limit,
        ..InboxQuery::default()
    };
    let rows = match door.call(Request::Inbox { query })? {
        Response::Threads(rows) => rows,
        other => return Err(unexpected(other)),
    };
    if args.json.json {
        return output::json(&rows);
    }
    inbox_table(&rows)
}

pub fn thread(cli: &Cli, args: &ThreadArgs) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let key = args.id.clone();
    let found = match door.call(Request::Thread { key })? {
        Response::Thread(found) => found,
        other => return Err(unexpected(other)),
    };
    let Some(view) = found else {
        return Err(CliError::usage(format!(
            "no thread {:?}; `outpost inbox` lists thread ids",
            args.id
        )));
    };
    if args.json.json {
        return output::json(&view);
    }
    let t = &view.thread;
    println!("{}", t.subject);
    println!(
        "with {} · {} · {} · {} message(s){}",
        view.name,
        view.accounts.join(" + "),
        t.campaign_name.as_deref().unwrap_or(t.provider.as_str()),
        view.messages.len(),
        t.category
            .as_ref()
            .map(|c| format!(" · {}", c.name))
            .unwrap_or_default()
    );
    for (i, m) in view.messages.iter().enumerate() {
        let via = match view.message_sources.get(i) {
            Some(accounts) if accounts.len() > 1 => format!(" · via {}", accounts.join(" + ")),
            _ => String::new(),
        };
        println!();
        println!("── {} · {}{via}", m.from, when(Some(m.date)));
        println!("{}", m.text_body.trim_end());
        for a in &m.attachments {
            println!(
                "[attachment: {} ({}, {} bytes)]",
                a.filename, a.mime_type, a.size
            );
        }
    }
    Ok(())
}

fn parse_date(text: &str, end_of_day: bool, flag: &str) -> CliResult<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        CliError::usage(format!(
            "{flag} {text:?} is not a date; use YYYY-MM-DD or an RFC 3339 time"
        ))
    })?;
    let time = if end_of_day {
        NaiveTime::from_hms_milli_opt(23, 59, 59, 999).expect("valid time")
    } else {
        NaiveTime::MIN
    };
    Ok(day.and_time(time).and_utc())
}

pub fn leads(cli: &Cli, args: &LeadsArgs) -> CliResult {
    let event = match &args.event {
        Some(text) => Some(EventType::parse(text).ok_or_else(|| {
            CliError::usage(format!(
                "--event {text:?} is not an event type; use one of: {}",
                EventType::ALL.map(|e| e.as_str()).join(", ")
            ))
        })?),
        None => None,
    };
    let since = args
        .since
        .as_deref()
        .map(|s| parse_date(s, false, "--since"))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_date(s, true, "--until"))
        .transpose()?;
    let door = CliDoor::open(cli, Reach::Cache)?;
    let query = LeadQuery {
        account: args.account.clone(),
        campaign_id: args.campaign,
        company: args.company.clone(),
        event,
        since,
        until,
        search: args.search.clone(),
        sort: if args.recent {
            LeadSort::LastEvent
        } else {
            LeadSort::Email
        },
        offset: 0,
        limit: args.limit,
        ..LeadQuery::default()
    };
    let leads = match door.call(Request::Leads { query })? {
        Response::Leads(leads) => leads,
        other => return Err(unexpected(other)),
    };
    if args.json.json {
        return output::json(&leads);
    }
    // Tags get a column once someone carries one.
    let tagged = leads.iter().any(|l| !l.tags.is_empty());
    let mut headers = vec![
        "NAME",
        "EMAIL",
        "LINKEDIN",
        "COMPANY",
        "CAMPAIGN",
        "LAST INTERACTION",
        "WHEN",
    ];
    if tagged {
        headers.push("TAGS");
    }
    let mut table = Table::new(headers);
    for TaggedLead { lead, tags } in &leads {
        let campaigns: Vec<String> = lead
            .memberships
            .iter()
            .map(|m| {
                m.campaign_name
                    .clone()
                    .unwrap_or_else(|| m.campaign_id.to_string())
            })
            .collect();
        let mut cells = vec![
            or_dash(Some(&lead.full_name())),
            lead.email.clone(),
            or_dash(lead.linkedin_url.as_deref()),
            or_dash(lead.company.as_deref()),
            or_dash(Some(&campaigns.join(", "))),
            or_dash(lead.last_event.map(|e| e.label())),
            when(lead.last_event_at),
        ];
        if tagged {
            let tags: Vec<String> = tags.iter().map(|t| format!("#{t}")).collect();
            cells.push(or_dash(Some(&tags.join(" "))));
        }
        table.row(cells);
    }
    if table.is_empty() {
        println!("No leads match.");
        return Ok(());
    }
    table.print()
}

pub fn lead(cli: &Cli, args: &LeadArgs) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let email = args.email.clone();
    let found = match door.call(Request::Lead { email })? {
        Response::Lead(found) => found,
        other => return Err(unexpected(other)),
    };
    let Some(view) = found else {
        return Err(CliError::usage(format!(
            "no lead or message with {:?} in the cache; run `outpost sync` or check the address",
            args.email
        )));
    };
    if args.json.json {
        return output::json(&view);
    }
    if !view.tags.is_empty() {
        let tags: Vec<String> = view.tags.iter().map(|t| format!("#{t}")).collect();
        println!("Tags: {}", tags.join(" "));
    }
    for lead in &view.records {
        println!("{} <{}>  [{}]", lead.full_name(), lead.email, lead.account);
        let fields = [
            ("Company", lead.company.as_deref()),
            ("LinkedIn", lead.linkedin_url.as_deref()),
            ("Phone", lead.phone.as_deref()),
            ("Website", lead.website.as_deref()),
            ("Location", lead.location.as_deref()),
            ("Timezone", lead.timezone.as_deref()),
            ("Category", lead.category.as_ref().map(|c| c.name.as_str())),
            ("Status", lead.status.as_deref()),
        ];
        for (label, value) in fields {
            if let Some(value) = value {
                println!("  {label:<10} {value}");
            }
        }
        for (name, value) in &lead.custom_fields {
            println!("  {name:<10} {value}");
        }
        for m in &lead.memberships {
            println!(
                "  Campaign   {} ({}) {}",
                m.campaign_name.as_deref().unwrap_or("-"),
                m.campaign_id,
                m.status.as_deref().unwrap_or("")
            );
        }
    }
    for e in &view.enrollments {
        println!(
            "  Sequence   {} step {} {}{}",
            e.sequence,
            e.current_step + 1,
            e.state.as_str(),
            e.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    for s in &view.suppressed {
        println!("  Suppressed {:?} since {}", s.reason, when(Some(s.at)));
    }
    println!();
    println!("Activity (newest first):");
    for item in &view.timeline {
        match item {
            TimelineItem::Event(e) => println!(
                "  {}  {:<24} {}{}",
                when(Some(e.at)),
                e.kind.label(),
                e.campaign_id
                    .map(|c| view.campaign_label(c))
                    .unwrap_or_default(),
                e.detail
                    .as_ref()
                    .map(|d| format!(" · {}", snippet(d, 60)))
                    .unwrap_or_default()
            ),
            TimelineItem::Message {
                date,
                direction,
                subject,
                snippet: text,
                ..
            } => println!(
                "  {}  {:<24} {} · {}",
                when(Some(*date)),
                match direction {
                    crate::model::Direction::Inbound => "message from lead",
                    crate::model::Direction::Outbound => "message to lead",
                },
                subject,
                text
            ),
        }
    }
    Ok(())
}

pub fn stats(cli: &Cli, args: &StatsArgs) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let query = StatsQuery {
        account: args.account.clone(),
        campaign_id: args.campaign,
        ..StatsQuery::default()
    };
    let report = match door.call(Request::Stats {
        query: query.clone(),
    })? {
        Response::Stats(report) => report,
        other => return Err(unexpected(other)),
    };
    if args.json.json {
        if args.campaign.is_some() && report.campaigns.is_empty() {
            return Err(no_campaign(args.campaign));
        }
        return output::json(&report);
    }
    stats_table(&report, &query)
}

fn no_campaign(id: Option<i64>) -> CliError {
    CliError::usage(format!(
        "no campaign {} in the cache; `outpost stats` lists them",
        id.unwrap_or_default()
    ))
}

/// Every campaign's counts and rates, then the totals, as a table.
pub fn print_stats(engine: &crate::engine::Engine, query: &StatsQuery) -> CliResult {
    stats_table(&engine.stats(query)?, query)
}

fn stats_table(report: &crate::engine::StatsReport, query: &StatsQuery) -> CliResult {
    if query.campaign_id.is_some() && report.campaigns.is_empty() {
        return Err(no_campaign(query.campaign_id));
    }
    let mut table = Table::new(vec![
        "CAMPAIGN", "ID", "STATUS", "SENT", "OPENED", "CLICKED", "REPLIED", "BOUNCED", "UNSUB",
    ]);
    let rate_of = |rates: &[crate::engine::Rate], name: &str| -> String {
        rates
            .iter()
            .find(|r| r.name == name)
            .map(|r| format!("{} ({})", r.count, percent(r.percent)))
            .unwrap_or_default()
    };
    for c in &report.campaigns {
        table.row(vec![
            c.name.clone(),
            c.campaign_id.to_string(),
            c.status.clone(),
            c.counts.sent.to_string(),
            rate_of(&c.rates, "opened"),
            rate_of(&c.rates, "clicked"),
            rate_of(&c.rates, "replied"),
            rate_of(&c.rates, "bounced"),
            rate_of(&c.rates, "unsubscribed"),
        ]);
    }
    table.row(vec![
        "TOTAL".into(),
        String::new(),
        String::new(),
        report.totals.sent.to_string(),
        rate_of(&report.total_rates, "opened"),
        rate_of(&report.total_rates, "clicked"),
        rate_of(&report.total_rates, "replied"),
        rate_of(&report.total_rates, "bounced"),
        rate_of(&report.total_rates, "unsubscribed"),
    ]);
    table.print()?;
    println!();
    println!(
        "Rates: opened/clicked/replied/unsubscribed = leads / leads contacted; bounced = bounces / emails sent."
    );
    Ok(())
}
