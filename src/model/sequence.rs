//! Sequences (multi-step outreach), enrollments and step executions.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::Provider;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceCategory {
    ColdOutreach,
    Nurture,
    FollowUp,
    WinBack,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceStatus {
    Active,
    Paused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendingWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceSettings {
    pub pause_on_reply: bool,
    pub pause_on_meeting_booked: bool,
    pub pause_on_bounce: bool,
    pub pause_on_unsubscribe: bool,
    pub stop_company_on_reply: bool,
    pub skip_weekends: bool,
    pub holidays: Vec<NaiveDate>,
    pub daily_limit_per_mailbox: u32,
    pub window: SendingWindow,
    pub timezone: String,
    pub random_gap_secs: (u32, u32),
    /// Out-of-office replies pause the lead for this many days, then resume.
    pub ooo_resume_days: u32,
    pub track_opens: bool,
    pub track_clicks: bool,
    pub plain_text: bool,
}

/// How a sequence's emails leave: through the rep's Gmail or their Smartlead account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendVia {
    pub provider: Provider,
    /// The account (config name) whose credentials send.
    pub account: String,
    /// Gmail: the mailbox addresses to rotate; Smartlead: email account ids as text.
    pub mailboxes: Vec<String>,
    /// Smartlead: the campaign the lead is added to.
    pub campaign_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub label: String,
    pub weight: u32,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Opened,
    Clicked,
    Replied,
    NoReply,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StepKind {
    Email {
        variants: Vec<Variant>,
        /// Reply in the previous email's thread (same subject, threading headers).
        same_thread: bool,
    },
    Wait {
        days: u32,
        hours: u32,
        business_days: bool,
    },
    Task {
        title: String,
        body: String,
        /// The task skips itself this many days after it fell due, and the
        /// sequence moves on; None: it waits for the rep however long.
        auto_skip_after_days: Option<u32>,
    },
    Conditional {
        condition: Condition,
        within_hours: u32,
        then_step: usize,
        else_step: usize,
    },
    Webhook {
        url: String,
        payload: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    /// The line in the sequence file, for errors that point at it.
    pub source_line: Option<u32>,
}

impl StepKind {
    /// What the step does, as the rep reads it ("wait 3 days", "email, in
    /// thread"); `outpost sequence show` and the TUI both say it this way.
    pub fn summary(&self) -> String {
        fn amount(n: u32, one: &str, many: &str) -> String {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        }
        match self {
            StepKind::Email {
                variants,
                same_thread,
            } => {
                let mut text = "email".to_string();
                if variants.len() > 1 {
                    text.push_str(&format!(" ({} variants)", variants.len()));
                }
                if *same_thread {
                    text.push_str(", in thread");
                }
                text
            }
            StepKind::Wait {
                days,
                hours,
                business_days,
            } => {
                let mut parts = Vec::new();
                if *days > 0 || *hours == 0 {
                    parts.push(if *business_days {
                        amount(*days, "business day", "business days")
                    } else {
                        amount(*days, "day", "days")
                    });
                }
                if *hours > 0 {
                    parts.push(amount(*hours, "hour", "hours"));
                }
                format!("wait {}", parts.join(" "))
            }
            StepKind::Task { title, .. } => format!("task: {title}"),
            StepKind::Conditional {
                condition,
                within_hours,
                ..
            } => {
                let condition = match condition {
                    Condition::Opened => "opened",
                    Condition::Clicked => "clicked",
                    Condition::Replied => "replied",
                    Condition::NoReply => "no reply",
                };
                format!(
                    "if {condition} within {}",
                    amount(*within_hours, "hour", "hours")
                )
            }
            StepKind::Webhook { .. } => "webhook".into(),
        }
    }
}

impl Step {
    /// The step's own name, or what it does when the file gave it none
    /// (the loader names those `step-N`, which tells the rep nothing).
    pub fn title(&self, position: usize) -> String {
        if self.name == format!("step-{}", position + 1) {
            self.kind.summary()
        } else {
            self.name.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    pub name: String,
    pub account: String,
    pub description: String,
    pub category: SequenceCategory,
    pub status: SequenceStatus,
    pub settings: SequenceSettings,
    pub send_via: SendVia,
    pub steps: Vec<Step>,
    pub source_file: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Sequence {
    pub fn key(&self) -> String {
        self.name.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentState {
    Active,
    Paused,
    Completed,
    Stopped,
    Failed,
}

impl EnrollmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentState::Active => "active",
            EnrollmentState::Paused => "paused",
            EnrollmentState::Completed => "completed",
            EnrollmentState::Stopped => "stopped",
            EnrollmentState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub id: String,
    pub account: String,
    pub sequence: String,
    pub lead_email: String,
    pub state: EnrollmentState,
    /// Why it is in that state (e.g. "replied on 2026-03-02", "bounced").
    pub reason: Option<String>,
    pub current_step: usize,
    /// When the scheduler should look at it next (indexed while active).
    pub next_due_at: Option<DateTime<Utc>>,
    pub enrolled_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The mailbox this lead is pinned to once the first email went out.
    pub mailbox: Option<String>,
    /// Threading for in-thread follow-ups.
    pub thread_id: Option<String>,
    pub last_message_id: Option<String>,
    pub references: Vec<String>,
    pub last_subject: Option<String>,
    /// Chosen A/B variant per step index.
    pub variants: BTreeMap<usize, String>,
    /// When a paused enrollment resumes by itself (out-of-office).
    pub resume_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionOutcome {
    Sent,
    Skipped,
    Blocked,
    Failed,
    TaskCreated,
    WebhookDelivered,
    Branched,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepExecution {
    pub enrollment_id: String,
    pub account: String,
    pub sequence: String,
    pub step: usize,
    pub variant: Option<String>,
    pub outcome: ExecutionOutcome,
    pub provider_id: Option<String>,
    pub message_id: Option<String>,
    pub error: Option<String>,
    pub attempts: u32,
    pub at: DateTime<Utc>,
}

impl StepExecution {
    pub fn key(&self) -> String {
        format!("{}/{:05}", self.enrollment_id, self.step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(days: u32, hours: u32, business_days: bool) -> StepKind {
        StepKind::Wait {
            days,
            hours,
            business_days,
        }
    }

    #[test]
    fn a_step_says_what_it_does() {
        assert_eq!(wait(3, 0, false).summary(), "wait 3 days");
        assert_eq!(wait(1, 0, true).summary(), "wait 1 business day");
        assert_eq!(wait(2, 4, false).summary(), "wait 2 days 4 hours");
        assert_eq!(wait(0, 5, false).summary(), "wait 5 hours");
        let unnamed = Step {
            name: "step-2".into(),
            kind: wait(3, 0, false),
            source_line: None,
        };
        assert_eq!(unnamed.title(1), "wait 3 days");
        let named = Step {
            name: "nudge".into(),
            ..unnamed
        };
        assert_eq!(named.title(1), "nudge");
    }
}
