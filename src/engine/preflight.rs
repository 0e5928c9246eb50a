//! The deliverability preflight through the door: a sequence's sending
//! domains (SPF, DKIM, DMARC), its unsubscribe headers, and whether the
//! leads about to be enrolled have a mail server. Warnings, never refusals:
//! the rep decides. `outpost doctor` runs the same checks for every account.

use serde::{Deserialize, Serialize};

use super::Engine;
use super::door::{DoorError, ErrorKind};
use crate::deliverability::{
    Check, DnsChecker, DomainReport, MailHost, MxStatus, SendingDomain, check_unsubscribe,
    domain_of,
};
use crate::model::{Provider, Sequence};
use crate::providers::registry::Providers;

/// What the rep should know before a sequence sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    pub domains: Vec<DomainReport>,
    pub unsubscribe: Check,
    /// Leads whose domain names no mail server: their mail would bounce.
    pub no_mx: Vec<String>,
    /// What could not be checked, and why (a mailbox that could not be read,
    /// a resolver that did not answer).
    pub notes: Vec<String>,
}

impl PreflightReport {
    /// One line per problem, for the rep. A mailto-only List-Unsubscribe is
    /// not among them (the emails can still be unsubscribed from; `doctor`
    /// suggests one-click): it would repeat on every sequence of a rep
    /// without a daemon.
    pub fn warnings(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for report in &self.domains {
            for check in report.checks.iter().filter(|c| !c.ok) {
                lines.push(check_line(&report.domain, check));
            }
        }
        for email in &self.no_mx {
            let domain = domain_of(email).unwrap_or_default();
            lines.push(format!(
                "{email}: {domain} has no mail server (no MX record); mail to it will bounce"
            ));
        }
        lines.extend(self.notes.iter().cloned());
        lines
    }
}

/// `DOMAIN: DMARC: what is wrong → the fix`.
pub fn check_line(subject: &str, check: &Check) -> String {
    match &check.fix {
        Some(fix) => format!("{subject}: {}: {} → {fix}", check.name, check.detail),
        None => format!("{subject}: {}: {}", check.name, check.detail),
    }
}

/// The domains mail leaves from. With a sequence: its own mailboxes (a
/// Smartlead mailbox's provider read from Smartlead, since Smartlead sends
/// through it); without: every configured account's sending mailbox.
pub async fn sending_domains(
    providers: &Providers,
    sequence: Option<&Sequence>,
) -> (Vec<SendingDomain>, Vec<String>) {
    let mut mailboxes: Vec<(String, MailHost)> = Vec::new();
    let mut notes = Vec::new();
    let mut smartlead_ids: Vec<(String, i64)> = Vec::new();
    match sequence {
        Some(seq) => {
            let via = &seq.send_via;
            match via.provider {
                Provider::Gmail => {
                    let configured = providers.gmail.get(&via.account).map(|a| a.email.clone());
                    let addresses = if via.mailboxes.is_empty() {
                        configured.into_iter().collect()
                    } else {
                        via.mailboxes.clone()
                    };
                    mailboxes.extend(addresses.into_iter().map(|a| (a, MailHost::Google)));
                }
                Provider::Smartlead => {
                    for id in &via.mailboxes {
                        match id.trim().parse::<i64>() {
                            Ok(id) => smartlead_ids.push((via.account.clone(), id)),
                            Err(_) => mailboxes.push((id.clone(), MailHost::Other)),
                        }
                    }
                    if via.mailboxes.is_empty()
                        && let Some(id) = providers
                            .smartlead
                            .get(&via.account)
                            .and_then(|a| a.email_account_id)
                    {
                        smartlead_ids.push((via.account.clone(), id));
                    }
                }
            }
        }
        None => {
            for account in providers.gmail.values() {
                mailboxes.push((account.email.clone(), MailHost::Google));
            }
            for account in providers.smartlead.values() {
                if let Some(id) = account.email_account_id {
                    smartlead_ids.push((account.name.clone(), id));
                }
            }
        }
    }
    for (account, id) in smartlead_ids {
        let Some(client) = providers.smartlead.get(&account).map(|a| &a.client) else {
            notes.push(format!(
                "Smartlead mailbox {id}: account {account} is not usable, so its domain was not checked"
            ));
            continue;
        };
        match client.email_account(id.into()).await {
            Ok(mailbox) => mailboxes.push((
                mailbox.from_email,
                MailHost::from_smartlead_type(mailbox.account_type.as_deref()),
            )),
            Err(err) => notes.push(format!(
                "Smartlead mailbox {id} of {account} could not be read ({err}), so its domain was not checked"
            )),
        }
    }
    let mut domains: Vec<SendingDomain> = Vec::new();
    for (mailbox, host) in mailboxes {
        let Some(domain) = domain_of(&mailbox) else {
            continue;
        };
        if !domains.iter().any(|d| d.domain == domain && d.host == host) {
            domains.push(SendingDomain {
                domain,
                host,
                mailbox,
            });
        }
    }
    (domains, notes)
}

/// Leads (by address) whose domain has no mail server, looked up once per domain.
pub async fn leads_without_mx(
    checker: &DnsChecker,
    emails: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut domains: Vec<String> = emails.iter().filter_map(|e| domain_of(e)).collect();
    domains.sort();
    domains.dedup();
    let answers = futures::future::join_all(domains.iter().map(|d| checker.mx(d))).await;
    let mut no_mx = Vec::new();
    let mut notes = Vec::new();
    for (domain, status) in domains.iter().zip(answers) {
        match status {
            MxStatus::Accepts => {}
            MxStatus::NoMx => no_mx.extend(
                emails
                    .iter()
                    .filter(|e| domain_of(e).as_deref() == Some(domain.as_str()))
                    .cloned(),
            ),
            MxStatus::Unknown(why) => notes.push(format!(
                "could not look up the mail server of {domain}: {why}"
            )),
        }
    }
    (no_mx, notes)
}

impl Engine {
    /// The preflight of a sequence (its sending domains and unsubscribe
    /// headers) and of the leads about to be enrolled in it (MX).
    pub async fn preflight(
        &self,
        sequence: &str,
        leads: &[String],
    ) -> Result<PreflightReport, DoorError> {
        let Some(seq) = self
            .store()
            .get::<Sequence>(sequence)
            .map_err(|e| DoorError::runtime(e.to_string()))?
        else {
            return Err(DoorError::new(
                ErrorKind::NotFound,
                format!("no sequence named {sequence:?}; `outpost sequence list` shows them"),
            ));
        };
        let settings = self.settings();
        let checker = DnsChecker::new(settings.sending.dns_server)
            .map_err(|e| DoorError::runtime(e.to_string()))?;
        let (domains, mut notes) = sending_domains(&self.providers(), Some(&seq)).await;
        let selectors = &settings.sending.dkim_selectors;
        let reports =
            futures::future::join_all(domains.iter().map(|d| checker.check_domain(d, selectors)));
        let (reports, (no_mx, mx_notes)) = tokio::join!(reports, leads_without_mx(&checker, leads));
        notes.extend(mx_notes);
        Ok(PreflightReport {
            domains: reports,
            unsubscribe: check_unsubscribe(settings.public_url.as_ref()),
            no_mx,
            notes,
        })
    }
}
