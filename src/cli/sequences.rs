//! `sequence apply|list|show|pause|resume`, `enroll`, `enrollment
//! pause|resume|stop` and `plan`.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};

use super::door::{CliDoor, Reach, unexpected};
use super::output::{self, Table, or_dash};
use super::{Cli, CliError, CliResult, JsonFlag};
use crate::engine::door::{Request, Response};
use crate::sequences::{self, EnrollmentAction, LeadInput, PlanQuery, SequenceError};

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Sequences: apply a TOML file, list, show with metrics, pause, resume.
    #[command(subcommand)]
    Sequence(SequenceCommand),
    /// Enroll one lead or a CSV of leads in a sequence.
    Enroll(EnrollArgs),
    /// Pause, resume or stop one enrollment.
    #[command(subcommand)]
    Enrollment(EnrollmentCommand),
    /// Forecast every send the scheduler would make, and why others would not.
    Plan(PlanArgs),
}

#[derive(Debug, Subcommand)]
pub enum SequenceCommand {
    /// Validate and store a sequence file (exit 2 with file:line on errors).
    Apply {
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Every sequence with its totals.
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One sequence: steps, per-step funnel, per-variant metrics, enrollments.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Stop queuing sends for a sequence (queued, unsent emails are cancelled).
    Pause { name: String },
    /// Resume a paused sequence.
    Resume { name: String },
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The sequence's name.
    #[arg(long)]
    pub sequence: String,
    /// One lead's email address.
    #[arg(long, conflicts_with = "csv", required_unless_present = "csv")]
    pub lead: Option<String>,
    /// A CSV with an `email` column (first_name, last_name, company, timezone; others become custom fields).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// When the first step is due: RFC 3339 or YYYY-MM-DD (midnight UTC). Default: now.
    #[arg(long, value_name = "AT")]
    pub start: Option<String>,
    /// Enroll leads that are active in another sequence too.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum EnrollmentCommand {
    Pause(EnrollmentTarget),
    Resume(EnrollmentTarget),
    Stop(EnrollmentTarget),
}

#[derive(Debug, Args)]
pub struct EnrollmentTarget {
    /// Enrollment id (or a unique prefix of 6+ characters).
    pub id: String,
    /// Why, recorded with the state.
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[arg(long, value_name = "S")]
    pub sequence: Option<String>,
    #[arg(long, value_name = "EMAIL")]
    pub lead: Option<String>,
    /// How many days ahead.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    #[command(flatten)]
    pub json: JsonFlag,
}

impl From<SequenceError> for CliError {
    fn from(err: SequenceError) -> Self {
        match err {
            SequenceError::Format(_) | SequenceError::Invalid(_) | SequenceError::NotFound(_) => {
                CliError::usage(err.to_string())
            }
            other => CliError::runtime(other.to_string()),
        }
    }
}

pub fn run(cli: &Cli, command: &Commands) -> CliResult {
    match command {
        Commands::Sequence(c) => sequence(cli, c),
        Commands::Enroll(args) => enroll(cli, args),
        Commands::Enrollment(c) => enrollment(cli, c),
        Commands::Plan(args) => plan(cli, args),
    }
}

fn sequence(cli: &Cli, command: &SequenceCommand) -> CliResult {
    // The file is read before the door opens, so a bad path fails first.
    let applied = match command {
        SequenceCommand::Apply { file, .. } => Some(
            std::fs::read_to_string(file)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?,
        ),
        _ => None,
    };
    // Applying checks the sequence's sending domains, which may ask Smartlead.
    let reach = match command {
        SequenceCommand::Apply { .. } => Reach::ProvidersIfAny,
        _ => Reach::Cache,
    };
    let door = CliDoor::open(cli, reach)?;
    match command {
        SequenceCommand::Apply { file, json } => {
            let request = Request::SequenceApply {
                file: file.display().to_string(),
                text: applied.unwrap_or_default(),
            };
            let report = match door.call(request)? {
                Response::Applied(report) => report,
                other => return Err(unexpected(other)),
            };
            if json.json {
                output::json(&report)?;
            } else {
                let verb = if report.created { "created" } else { "updated" };
                println!(
                    "{verb} sequence {:?}: {} steps, sends via {} ({})",
                    report.sequence.name,
                    report.sequence.steps.len(),
                    report.sequence.send_via.provider,
                    report.sequence.send_via.mailboxes.join(", ")
                );
            }
            preflight(&door, &report.sequence.name, Vec::new(), json.json, true);
            Ok(())
        }
        SequenceCommand::List { json } => {
            let all = match door.call(Request::SequenceList)? {
                Response::Sequences(all) => all,
                other => return Err(unexpected(other)),
            };
            if json.json {
                return output::json(&all);
            }
            let mut table = Table::new(vec![
                "NAME", "STATUS", "VIA", "STEPS", "ENROLLED", "ACTIVE", "SENT", "REPLIED", "DONE",
            ]);
            for s in &all {
                table.row(vec![
                    s.name.clone(),
                    format!("{:?}", s.status).to_lowercase(),
                    s.provider.to_string(),
                    s.steps.to_string(),
                    s.enrolled.to_string(),
                    s.active.to_string(),
                    s.counts.sent.to_string(),
                    s.counts.replied.to_string(),
                    output::share(s.completion_rate),
                ]);
            }
            if table.is_empty() {
                println!(
                    "no sequences yet; `outpost sequence apply FILE` adds one (examples in assets/sequences/)"
                );
                return Ok(());
            }
            table.print()
        }
        SequenceCommand::Show { name, json } => {
            let found = match door.call(Request::SequenceShow { name: name.clone() })? {
                Response::SequenceDetail(found) => found,
                other => return Err(unexpected(other)),
            };
            let detail = found.ok_or_else(|| {
                CliError::usage(format!(
                    "no sequence named {name:?}; `outpost sequence list` shows them"
                ))
            })?;
            if json.json {
                return output::json(&detail);
            }
            let s = &detail.summary;
            println!(
                "{} ({:?}, {:?}) via {}",
                s.name, s.category, s.status, s.provider
            );
            println!(
                "enrolled {}  active {}  paused {}  completed {}  stopped {}  failed {}  completion {}",
                s.enrolled,
                s.active,
                s.paused,
                s.completed,
                s.stopped,
                s.failed,
                output::share(s.completion_rate)
            );
            let mut table = Table::new(vec![
                "#", "STEP", "KIND", "REACHED", "VARIANT", "SENT", "OPENED", "CLICKED", "REPLIED",
                "BOUNCED",
            ]);
            for step in &detail.step_stats {
                let c = &step.counts;
                table.row(vec![
                    step.number.to_string(),
                    step.name.clone(),
                    step.kind.clone(),
                    step.reached.to_string(),
                    "all".into(),
                    c.sent.to_string(),
                    c.opened.to_string(),
                    c.clicked.to_string(),
                    c.replied.to_string(),
                    c.bounced.to_string(),
                ]);
                for v in step.variants.iter().filter(|_| step.variants.len() > 1) {
                    let c = &v.counts;
                    table.row(vec![
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        format!("{} (w{})", v.label, v.weight),
                        c.sent.to_string(),
                        c.opened.to_string(),
                        c.clicked.to_string(),
                        c.replied.to_string(),
                        c.bounced.to_string(),
                    ]);
                }
            }
            table.print()
        }
        SequenceCommand::Pause { name } => {
            door.call(Request::SequencePause { name: name.clone() })?;
            println!("paused {name:?}");
            Ok(())
        }
        SequenceCommand::Resume { name } => {
            door.call(Request::SequenceResume { name: name.clone() })?;
            println!("resumed {name:?}");
            Ok(())
        }
    }
}

/// A time given on the command line as `flag`: RFC 3339, or a date (midnight UTC).
pub(super) fn parse_when(flag: &str, text: &str) -> CliResult<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| {
            CliError::usage(format!(
                "{flag} {text:?}: give RFC 3339 (2026-03-02T09:00:00-05:00) or YYYY-MM-DD"
            ))
        })
}

fn enroll(cli: &Cli, args: &EnrollArgs) -> CliResult {
    let start = args
        .start
        .as_deref()
        .map(|s| parse_when("--start", s))
        .transpose()?;
    let inputs = match (&args.lead, &args.csv) {
        (Some(email), _) => vec![LeadInput::email(email)],
        (None, Some(path)) => {
            let file = std::fs::File::open(path)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
            sequences::read_leads_csv(file, &path.display().to_string())?
        }
        (None, None) => return Err(CliError::usage("give --lead EMAIL or --csv FILE")),
    };
    let door = CliDoor::open(cli, Reach::ProvidersIfAny)?;
    let start = start.unwrap_or_else(|| door.clock().now());
    let emails: Vec<String> = inputs.iter().map(|l| l.email.clone()).collect();
    let request = Request::Enroll {
        sequence: args.sequence.clone(),
        leads: inputs,
        start: Some(start),
        force: args.force,
    };
    let report = match door.call(request)? {
        Response::Enrolled(report) => report,
        other => return Err(unexpected(other)),
    };
    if args.json.json {
        output::json(&report)?;
        preflight(&door, &report.sequence, emails, true, false);
        return Ok(());
    }
    // A send time only means something for someone enrolled; it is the
    // plan's (window, gaps and caps included), as `plan` and the TUI show.
    if report.enrolled.is_empty() {
        println!("enrolled no one in {:?}", report.sequence);
    } else {
        let lead = match report.enrolled.as_slice() {
            [one] => Some(one.lead_email.clone()),
            _ => None,
        };
        let request = Request::NextSends {
            sequence: report.sequence.clone(),
            lead,
        };
        let next = match door.call(request)? {
            Response::NextSends(next) => next,
            other => return Err(unexpected(other)),
        };
        let first = report.enrolled.iter().filter_map(|e| next.get(&e.id)).min();
        match first {
            Some(at) => println!(
                "enrolled {} lead(s) in {:?}, first send {}",
                report.enrolled.len(),
                report.sequence,
                door.zone.show(*at)
            ),
            None => println!(
                "enrolled {} lead(s) in {:?}, nothing goes out in the next 30 days (`outpost plan` says why)",
                report.enrolled.len(),
                report.sequence,
            ),
        }
    }
    if !report.skipped.is_empty() {
        println!("refused {} lead(s):", report.skipped.len());
    }
    for skip in &report.skipped {
        let line = skip
            .line
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        println!("  {}{line}: {}", skip.email, skip.reason);
    }
    preflight(&door, &report.sequence, emails, false, false);
    Ok(())
}

/// Warns about what would hurt this sequence's mail (sending domains,
/// unsubscribe headers, leads without a mail server): on stdout with the
/// rest, or on stderr beside a `--json` document. Never fails the verb.
/// `apply`: also say what unsubscribe headers every step will carry.
fn preflight(door: &CliDoor, sequence: &str, leads: Vec<String>, json: bool, apply: bool) {
    let request = Request::Preflight {
        sequence: sequence.to_string(),
        leads,
    };
    let lines = match door.call(request) {
        // What every step will carry, said once when the sequence is applied.
        Ok(Response::Preflight(report)) if apply => {
            let mut lines = report.warnings();
            let u = &report.unsubscribe;
            lines.push(match &u.fix {
                Some(fix) => format!("{}: {} → {fix}", u.name, u.detail),
                None => format!("{}: {}", u.name, u.detail),
            });
            lines
        }
        Ok(Response::Preflight(report)) => report.warnings(),
        Ok(other) => vec![format!("preflight: {}", unexpected(other))],
        Err(err) => vec![format!("the deliverability preflight did not run: {err}")],
    };
    for line in lines {
        if json {
            eprintln!("warning: {line}");
        } else {
            println!("warning: {line}");
        }
    }
}

fn enrollment(cli: &Cli, command: &EnrollmentCommand) -> CliResult {
    let door = CliDoor::open(cli, Reach::Cache)?;
    let (target, action) = match command {
        EnrollmentCommand::Pause(t) => (t, EnrollmentAction::Pause),
        EnrollmentCommand::Resume(t) => (t, EnrollmentAction::Resume),
        EnrollmentCommand::Stop(t) => (t, EnrollmentAction::Stop),
    };
    let request = Request::Enrollment {
        id: target.id.clone(),
        action,
        reason: target.reason.clone(),
    };
    let enr = match door.call(request)? {
        Response::Enrollment(enr) => enr,
        other => return Err(unexpected(other)),
    };
    if target.json.json {
        return output::json(&enr);
    }
    println!(
        "{} {} in {:?}: {}{}",
        enr.id,
        enr.lead_email,
        enr.sequence,
        enr.state.as_str(),
        enr.reason.map(|r| format!(" ({r})")).unwrap_or_default()
    );
    Ok(())
}

fn plan(cli: &Cli, args: &PlanArgs) -> CliResult {
    // With the providers, a Smartlead-sent step shows its campaign's own
    // subject; without them (a key unset), it still says who sends it.
    let door =
        CliDoor::open(cli, Reach::Providers).or_else(|_| CliDoor::open(cli, Reach::Cache))?;
    let query = PlanQuery {
        sequence: args.sequence.clone(),
        lead: args.lead.clone(),
        days: args.days,
    };
    let plan = match door.call(Request::Plan { query })? {
        Response::Plan(plan) => plan,
        other => return Err(unexpected(other)),
    };
    if args.json.json {
        return output::json(&plan);
    }
    let mut table = Table::new(vec![
        "WHEN", "SEQUENCE", "LEAD", "STEP", "ACTION", "MAILBOX", "VARIANT", "SUBJECT",
    ]);
    for e in &plan.entries {
        table.row(vec![
            door.zone.show(e.at),
            e.sequence.clone(),
            e.lead_email.clone(),
            format!("{} {}", e.step, e.step_name),
            e.action.clone(),
            or_dash(e.mailbox.as_deref()),
            or_dash(e.variant.as_deref()),
            match (&e.smartlead, &e.subject) {
                (Some(by), Some(subject)) => format!("{subject} ({})", by.sent_by),
                (Some(by), None) => by.sent_by.clone(),
                (None, subject) => or_dash(subject.as_deref()),
            },
        ]);
    }
    if table.is_empty() {
        println!("nothing would be sent in the next {} day(s)", args.days);
    } else {
        table.print()?;
    }
    if !plan.stalls.is_empty() {
        println!("\nnot sending in this period:");
        let mut stalls = Table::new(vec!["ENROLLMENT", "SEQUENCE", "LEAD", "STATE", "WHY"]);
        for s in &plan.stalls {
            stalls.row(vec![
                s.enrollment_id.clone(),
                s.sequence.clone(),
                s.lead_email.clone(),
                s.state.as_str().into(),
                s.reason.clone(),
            ]);
        }
        stalls.print()?;
    }
    Ok(())
}
