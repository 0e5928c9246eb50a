//! Deliverability preflight: what receiving servers check before they trust
//! mail from a sending domain (SPF covering the provider that sends, a DKIM
//! key, a DMARC policy), and whether a lead's domain accepts mail at all
//! (MX). Lookups go to the system resolver, or to `[sending] dns_server`;
//! each has a short timeout, so a dead resolver costs seconds, never a hang.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Serialize};

/// One lookup's wait; two tries each.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// DKIM selectors the common providers and panels publish under.
pub const COMMON_DKIM_SELECTORS: &[&str] = &[
    "google",
    "default",
    "selector1",
    "selector2",
    "k1",
    "k2",
    "s1",
    "s2",
    "dkim",
    "mail",
    "smtp",
    "zoho",
];
/// Includes followed while looking for the provider in an SPF record (RFC
/// 7208 allows 10 lookups in all).
const MAX_SPF_INCLUDES: usize = 10;

/// Who actually hands the domain's mail to the internet, which decides what
/// SPF must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailHost {
    Google,
    Microsoft,
    Zoho,
    /// A server of the rep's own (SMTP): any SPF record that is present.
    Other,
}

impl MailHost {
    /// From a Smartlead mailbox's `type` (`GMAIL`, `OUTLOOK`, `ZOHO`, `SMTP`).
    pub fn from_smartlead_type(kind: Option<&str>) -> MailHost {
        match kind.map(str::to_ascii_uppercase).as_deref() {
            Some("GMAIL") => MailHost::Google,
            Some("OUTLOOK") => MailHost::Microsoft,
            Some("ZOHO") => MailHost::Zoho,
            _ => MailHost::Other,
        }
    }

    /// The SPF include that authorises this host's servers.
    pub fn spf_include(self) -> Option<&'static str> {
        match self {
            MailHost::Google => Some("_spf.google.com"),
            MailHost::Microsoft => Some("spf.protection.outlook.com"),
            MailHost::Zoho => Some("zoho.com"),
            MailHost::Other => None,
        }
    }

    fn title(self) -> &'static str {
        match self {
            MailHost::Google => "Google",
            MailHost::Microsoft => "Microsoft 365",
            MailHost::Zoho => "Zoho",
            MailHost::Other => "your mail server",
        }
    }
}

/// A domain that mail is sent from, and through whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendingDomain {
    pub domain: String,
    pub host: MailHost,
    /// The mailbox it was found from, for the report.
    pub mailbox: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `SPF`, `DKIM`, `DMARC`, `List-Unsubscribe`.
    pub name: String,
    pub ok: bool,
    /// What was found, or what is missing.
    pub detail: String,
    /// The record to publish or the setting to change, when not ok.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainReport {
    pub domain: String,
    pub mailbox: String,
    pub checks: Vec<Check>,
}

impl DomainReport {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// Whether a lead's domain takes mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxStatus {
    Accepts,
    /// The domain exists (or not) but names no mail server: mail bounces.
    NoMx,
    /// The lookup itself failed (timeout, resolver down): nothing is known.
    Unknown(String),
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct ResolverError(String);

/// A lookup that failed for a reason other than "no such record".
#[derive(Debug, Clone)]
struct LookupFailed(String);

/// DNS lookups for the preflight, on the system resolver or a configured one.
#[derive(Clone)]
pub struct DnsChecker {
    resolver: TokioResolver,
}

impl DnsChecker {
    /// `server`: `[sending] dns_server`; None for the system's resolver.
    pub fn new(server: Option<SocketAddr>) -> Result<DnsChecker, ResolverError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(addr) => {
                let mut name_server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut name_server.connections {
                    connection.port = addr.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![name_server]),
                    provider,
                )
            }
            None => Resolver::builder(provider).map_err(|e| ResolverError(e.to_string()))?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = LOOKUP_TIMEOUT;
        options.attempts = 2;
        // Names are always fully qualified here: no search-list guesses.
        options.ndots = 0;
        let resolver = builder.build().map_err(|e| ResolverError(e.to_string()))?;
        Ok(DnsChecker { resolver })
    }

    /// The TXT strings at `name`; empty when it has none (or does not exist).
    async fn txt(&self, name: &str) -> Result<Vec<String>, LookupFailed> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), RecordType::TXT).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(err) if err.is_no_records_found() || err.is_nx_domain() => Ok(Vec::new()),
            Err(err) => Err(LookupFailed(err.to_string())),
        }
    }

    /// Whether `domain` names a mail server.
    pub async fn mx(&self, domain: &str) -> MxStatus {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), RecordType::MX).await {
            Ok(lookup) => {
                let named = lookup.answers().iter().any(|record| match &record.data {
                    // A "null MX" (RFC 7505, exchange ".") says: no mail here.
                    RData::MX(mx) => !mx.exchange.is_root(),
                    _ => false,
                });
                if named {
                    MxStatus::Accepts
                } else {
                    MxStatus::NoMx
                }
            }
            Err(err) if err.is_no_records_found() || err.is_nx_domain() => MxStatus::NoMx,
            Err(err) => MxStatus::Unknown(err.to_string()),
        }
    }

    /// SPF, DKIM and DMARC for one sending domain. `selectors`: configured
    /// DKIM selectors, tried before the common ones.
    pub async fn check_domain(
        &self,
        sending: &SendingDomain,
        selectors: &[String],
    ) -> DomainReport {
        let domain = sending.domain.as_str();
        let (spf, dkim, dmarc) = tokio::join!(
            self.check_spf(domain, sending.host),
            self.check_dkim(domain, sending.host, selectors),
            self.check_dmarc(domain),
        );
        DomainReport {
            domain: domain.to_string(),
            mailbox: sending.mailbox.clone(),
            checks: vec![spf, dkim, dmarc],
        }
    }

    async fn check_spf(&self, domain: &str, host: MailHost) -> Check {
        let records = match self.txt(domain).await {
            Ok(records) => records,
            Err(LookupFailed(why)) => return unknown("SPF", domain, &why),
        };
        let Some(spf) = records.into_iter().find(|r| is_spf(r)) else {
            let include = host
                .spf_include()
                .map(|i| format!(" include:{i}"))
                .unwrap_or_default();
            return Check::fail(
                "SPF",
                format!("{domain} has no SPF record"),
                format!("{domain} TXT \"v=spf1{include} ~all\""),
            );
        };
        let Some(include) = host.spf_include() else {
            return Check::pass("SPF", format!("{domain}: {spf}"));
        };
        if self.spf_includes(&spf, include).await {
            Check::pass("SPF", format!("{domain} allows {}", host.title()))
        } else {
            Check::fail(
                "SPF",
                format!(
                    "{domain}'s SPF does not allow {} (no include:{include}): {spf}",
                    host.title()
                ),
                format!("add include:{include} before the all in {domain}'s SPF record"),
            )
        }
    }

    /// Whether `record` reaches `include`, directly or through nested includes.
    async fn spf_includes(&self, record: &str, include: &str) -> bool {
        let mut queue = vec![record.to_string()];
        let mut followed = 0;
        while let Some(record) = queue.pop() {
            for term in record.split_whitespace() {
                let Some(target) = term
                    .trim_start_matches(['+', '~', '?'])
                    .strip_prefix("include:")
                else {
                    continue;
                };
                if target.trim_end_matches('.').eq_ignore_ascii_case(include) {
                    return true;
                }
                if followed >= MAX_SPF_INCLUDES {
                    continue;
                }
                followed += 1;
                if let Ok(records) = self.txt(target).await {
                    queue.extend(records.into_iter().filter(|r| is_spf(r)));
                }
            }
        }
        false
    }

    async fn check_dkim(&self, domain: &str, host: MailHost, selectors: &[String]) -> Check {
        let tried: Vec<String> = selectors
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .chain(COMMON_DKIM_SELECTORS.iter().map(|s| s.to_string()))
            .fold(Vec::new(), |mut seen, s| {
                if !seen.contains(&s) {
                    seen.push(s);
                }
                seen
            });
        let lookups = tried.iter().map(|selector| async move {
            let name = format!("{selector}._domainkey.{domain}");
            (selector, self.txt(&name).await)
        });
        let mut failure = None;
        for (selector, found) in futures::future::join_all(lookups).await {
            match found {
                Ok(records) if records.iter().any(|r| is_dkim_key(r)) => {
                    return Check::pass(
                        "DKIM",
                        format!("{domain} has a DKIM key (selector {selector})"),
                    );
                }
                Ok(_) => {}
                Err(LookupFailed(why)) => failure = Some(why),
            }
        }
        if let Some(why) = failure {
            return unknown("DKIM", domain, &why);
        }
        let selector = match host {
            MailHost::Google => "google",
            MailHost::Microsoft => "selector1",
            _ => "SELECTOR",
        };
        Check::fail(
            "DKIM",
            format!(
                "no DKIM key found for {domain} (selectors tried: {})",
                tried.join(", ")
            ),
            format!(
                "publish the key {} gives you at {selector}._domainkey.{domain} TXT \"v=DKIM1; k=rsa; p=…\", \
                 or name your selector in [sending] dkim_selectors",
                host.title()
            ),
        )
    }

    async fn check_dmarc(&self, domain: &str) -> Check {
        let name = format!("_dmarc.{domain}");
        match self.txt(&name).await {
            Ok(records) => match records.into_iter().find(|r| is_dmarc(r)) {
                Some(record) => Check::pass("DMARC", format!("{name}: {record}")),
                None => Check::fail(
                    "DMARC",
                    format!("{domain} has no DMARC record"),
                    format!("{name} TXT \"v=DMARC1; p=none; rua=mailto:dmarc@{domain}\""),
                ),
            },
            Err(LookupFailed(why)) => unknown("DMARC", domain, &why),
        }
    }
}

fn unknown(name: &str, domain: &str, why: &str) -> Check {
    Check::fail(
        name,
        format!("could not look up {name} for {domain}: {why}"),
        "check the network or [sending] dns_server, then run `outpost doctor` again",
    )
}

fn is_spf(record: &str) -> bool {
    let lower = record.trim_start().to_ascii_lowercase();
    lower == "v=spf1" || lower.starts_with("v=spf1 ")
}

fn is_dmarc(record: &str) -> bool {
    record
        .trim_start()
        .to_ascii_lowercase()
        .replace(' ', "")
        .starts_with("v=dmarc1;")
        || record.trim().eq_ignore_ascii_case("v=DMARC1")
}

/// A DKIM key record: tags with a non-empty public key (`p=` empty means revoked).
fn is_dkim_key(record: &str) -> bool {
    record.split(';').any(|tag| {
        let tag = tag.trim();
        tag.strip_prefix("p=")
            .is_some_and(|key| !key.trim().is_empty())
    })
}

/// The domain part of an address, lowercased.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.trim().rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('>').to_ascii_lowercase();
    (!domain.is_empty() && domain.contains('.')).then_some(domain)
}

/// The unsubscribe headers every sequence email carries: one-click (RFC
/// 8058) when outpost has a public address for its link, else a mailto to
/// the sending mailbox that the rep honours by hand.
pub fn unsubscribe_headers(one_click_url: Option<&str>, from: &str) -> Vec<(String, String)> {
    let mailto = format!("<mailto:{from}?subject=unsubscribe>");
    match one_click_url {
        Some(url) => vec![
            ("List-Unsubscribe".into(), format!("<{url}>, {mailto}")),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
        None => vec![("List-Unsubscribe".into(), mailto)],
    }
}

/// The List-Unsubscribe check on what sequences will send, from the same
/// headers the composer writes.
pub fn check_unsubscribe(public_url: Option<&url::Url>) -> Check {
    let sample = public_url.map(|u| format!("{}u/TOKEN", ensure_slash(u.as_str())));
    let headers = unsubscribe_headers(sample.as_deref(), "rep@example.com");
    let has = |name: &str| headers.iter().any(|(h, _)| h == name);
    if has("List-Unsubscribe") && has("List-Unsubscribe-Post") {
        Check::pass(
            "List-Unsubscribe",
            "sequence emails carry List-Unsubscribe and List-Unsubscribe-Post (one-click)",
        )
    } else {
        Check::fail(
            "List-Unsubscribe",
            "sequence emails carry only a mailto List-Unsubscribe (no one-click: no [daemon] public_url)",
            "set [daemon] public_url to the daemon's public address so emails carry one-click unsubscribe (RFC 8058), which Gmail and Yahoo expect from bulk senders",
        )
    }
}

fn ensure_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_recognised_by_their_tags() {
        assert!(is_spf("v=spf1 include:_spf.google.com ~all"));
        assert!(!is_spf("v=spf10"));
        assert!(is_dmarc("v=DMARC1; p=none"));
        assert!(is_dmarc("v=DMARC1 ; p=reject"));
        assert!(!is_dmarc("v=spf1 -all"));
        assert!(is_dkim_key("v=DKIM1; k=rsa; p=MIIBIjANBg"));
        assert!(!is_dkim_key("v=DKIM1; p="), "an empty key is a revoked one");
        assert_eq!(
            domain_of("Dana@Ledgerly.Example"),
            Some("ledgerly.example".into())
        );
        assert_eq!(domain_of("nobody"), None);
    }

    #[test]
    fn without_a_public_url_emails_carry_a_mailto_unsubscribe_only() {
        let headers = unsubscribe_headers(None, "sam@acme.io");
        assert_eq!(
            headers,
            [(
                "List-Unsubscribe".to_string(),
                "<mailto:sam@acme.io?subject=unsubscribe>".to_string()
            )]
        );
        assert!(!check_unsubscribe(None).ok);
        let url: url::Url = "https://track.acme.io".parse().unwrap();
        assert!(check_unsubscribe(Some(&url)).ok);
    }
}
