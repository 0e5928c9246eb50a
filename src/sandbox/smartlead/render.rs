//! Turns compact messages into the strings and JSON the API serves: subjects, bodies,
//! Message-IDs and history items. Rendering is pure, so the same record always reads the same.

use serde_json::{Value, json};

use super::model::{Content, Data, Lead, Membership, Message, MessageKind, ReplyKind, iso};

const REPLY_TEMPLATES: [[&str; 3]; 6] = [
    [
        "<div>Sounds interesting, {{sender}}. Send over a few times for next week.</div>",
        "<div>This is timely for us. Happy to take a look, what does a pilot involve?</div>",
        "<div>Yes, we are looking at this now. Can you share pricing?</div>",
    ],
    [
        "<div>Let's talk. Does Tuesday at 10:00 work? Send an invite.</div>",
        "<div>Happy to meet. Here is my calendar, grab any slot on Thursday.</div>",
        "<div>Book 30 minutes with me next week, I'll loop in our ops lead.</div>",
    ],
    [
        "<div>I am out of the office until next Monday with limited access to email.</div>",
        "<div>Thanks for your message. I'm on leave and will reply when I'm back.</div>",
        "<div>Out of office: travelling this week, expect a delayed response.</div>",
    ],
    [
        "<div>Not interested, please remove me from your list.</div>",
        "<div>We already have a solution for this. No thanks.</div>",
        "<div>Not a priority for us this year.</div>",
    ],
    [
        "<div>Can you send more details and a case study from our industry?</div>",
        "<div>What integrations do you support? Is there a one-pager?</div>",
        "<div>How is this priced for a team of 40?</div>",
    ],
    [
        "<div>I'm not the right person for this, try our finance team.</div>",
        "<div>I moved to a different role. Please contact my colleague instead.</div>",
        "<div>Wrong contact, I don't handle vendor decisions.</div>",
    ],
];

fn reply_kind_index(kind: ReplyKind) -> usize {
    ReplyKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Fills `{{first_name}}`-style variables from the lead; unknown variables stay as typed.
pub(crate) fn fill(template: &str, lead: &Lead, sender: &str) -> String {
    if !template.contains("{{") {
        return template.to_string();
    }
    let mut out = template
        .replace("{{first_name}}", &lead.first_name)
        .replace("{{last_name}}", &lead.last_name)
        .replace("{{company_name}}", &lead.company_name)
        .replace("{{email}}", &lead.email)
        .replace("{{phone_number}}", &lead.phone_number)
        .replace("{{website}}", &lead.website)
        .replace("{{sender}}", sender);
    for (key, value) in &lead.custom_fields {
        let pattern = format!("{{{{{key}}}}}");
        if out.contains(&pattern) {
            out = out.replace(&pattern, value);
        }
    }
    out
}

pub(crate) struct Renderer<'a> {
    pub data: &'a Data,
    pub membership: &'a Membership,
}

impl<'a> Renderer<'a> {
    pub fn new(data: &'a Data, membership: &'a Membership) -> Self {
        Self { data, membership }
    }

    pub fn lead(&self) -> &'a Lead {
        &self.data.leads[self.membership.lead as usize]
    }

    pub fn sender_email(&self) -> &'a str {
        &self.data.accounts[self.membership.account as usize].from_email
    }

    fn sender_first_name(&self) -> &'a str {
        let name = &self.data.accounts[self.membership.account as usize].from_name;
        name.split(' ').next().unwrap_or(name)
    }

    /// Subject of the first sequence email, which every later message threads under.
    fn thread_subject(&self) -> String {
        let first = self
            .membership
            .history
            .iter()
            .find(|m| m.seq_number == Some(1))
            .map(|m| self.step_text(m).0);
        first.unwrap_or_default()
    }

    /// (subject, body) of a sequence step as the lead received it.
    fn step_text(&self, msg: &Message) -> (String, String) {
        let campaign = &self.data.campaigns[self.membership.campaign as usize];
        let step_index = usize::from(msg.seq_number.unwrap_or(1).saturating_sub(1));
        let Some(step) = campaign.steps.get(step_index) else {
            return (String::new(), String::new());
        };
        let (subject, body) = match step.variants.get(usize::from(msg.variant)) {
            Some(v) => (v.subject.as_str(), v.body.as_str()),
            None => (step.subject.as_str(), step.body.as_str()),
        };
        let lead = self.lead();
        let sender = self.sender_first_name();
        (fill(subject, lead, sender), fill(body, lead, sender))
    }

    pub fn subject(&self, msg: &Message) -> String {
        match &msg.content {
            Content::Step if msg.seq_number == Some(1) => self.step_text(msg).0,
            Content::Custom(custom) if custom.subject.is_some() => {
                custom.subject.clone().unwrap_or_default()
            }
            _ => format!("Re: {}", self.thread_subject()),
        }
    }

    pub fn body(&self, msg: &Message) -> String {
        match &msg.content {
            Content::Step => self.step_text(msg).1,
            Content::Reply { kind, template } => {
                let templates = &REPLY_TEMPLATES[reply_kind_index(*kind)];
                let text = templates[usize::from(*template) % templates.len()];
                fill(text, self.lead(), self.sender_first_name())
            }
            Content::Custom(custom) => custom.body.clone(),
        }
    }

    pub fn message_id(&self, msg: &Message) -> String {
        match (&msg.content, msg.kind) {
            (Content::Custom(custom), _) => custom.message_id.clone(),
            (_, MessageKind::Sent) => {
                let domain = self
                    .sender_email()
                    .split('@')
                    .nth(1)
                    .unwrap_or("outreach.example");
                format!(
                    "<{:016x}.{}@mail.{domain}>",
                    msg.token,
                    msg.stats_id.simple()
                )
            }
            (_, MessageKind::Reply) => format!(
                "<CA{:016x}=r{:x}@mail.gmail.com>",
                msg.token,
                msg.token % 997
            ),
        }
    }

    /// One item of `message-history`, in Smartlead's shape.
    pub fn history_item(&self, msg: &Message) -> Value {
        let lead = self.lead();
        match msg.kind {
            MessageKind::Sent => {
                let mut click_details = serde_json::Map::new();
                if msg.click_count > 0 {
                    click_details.insert(lead.website.clone(), json!(msg.click_count));
                }
                json!({
                    "type": "SENT",
                    "stats_id": msg.stats_id.to_string(),
                    "message_id": self.message_id(msg),
                    "time": iso(msg.time),
                    "subject": self.subject(msg),
                    "email_body": self.body(msg),
                    "email_seq_number": msg.seq_number.map(|n| n.to_string()),
                    "open_count": msg.open_count,
                    "click_count": msg.click_count,
                    "click_details": click_details,
                    "from": self.sender_email(),
                    "to": lead.email,
                })
            }
            MessageKind::Reply => {
                let cc = match &msg.content {
                    Content::Custom(custom) => custom.cc.clone(),
                    _ => Vec::new(),
                };
                json!({
                    "type": "REPLY",
                    "stats_id": msg.stats_id.to_string(),
                    "message_id": self.message_id(msg),
                    "time": iso(msg.time),
                    "subject": self.subject(msg),
                    "email_body": self.body(msg),
                    "cc": cc,
                    "from": lead.email,
                    "to": self.sender_email(),
                })
            }
        }
    }
}
