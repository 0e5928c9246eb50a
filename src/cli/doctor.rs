//! `outpost doctor`: checks the config, each account's credentials and
//! reachability, and the data dir, and says what to fix.

use std::sync::Arc;

use super::live::runtime;
use super::{Cli, CliError, CliResult, sources};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, ProviderSettings};
use crate::providers::gmail::TokenStore;
use crate::providers::registry::Providers;
use crate::store::{Store, current_holder};

struct Report {
    problems: usize,
}

impl Report {
    fn ok(&self, what: &str) {
        println!("  ok    {what}");
    }

    /// Worth fixing, but mail still goes out as it is.
    fn warn(&self, what: &str, fix: &str) {
        println!("  warn  {what}");
        println!("        → {fix}");
    }

    fn bad(&mut self, what: &str, fix: &str) {
        self.problems += 1;
        println!("  FAIL  {what}");
        println!("        → {fix}");
    }
}

pub fn doctor(cli: &Cli) -> CliResult {
    let mut report = Report { problems: 0 };
    println!("config");
    let config = match config::load_unresolved(&sources(cli)) {
        Ok(config) => config,
        Err(err) => {
            report.bad(&err.to_string(), "fix the line named above");
            return finish(report);
        }
    };
    if config.file_found() {
        report.ok(&format!("{} loads", config.config_path().display()));
    } else {
        report.bad(
            &format!("no config file at {}", config.config_path().display()),
            "copy config.example.toml there and add an [accounts.<name>] section",
        );
    }
    for warning in config.warnings() {
        report.bad(
            warning,
            "chmod 600 the config, or move the secret to *_env / *_cmd",
        );
    }

    println!("credentials");
    for secret in config.secrets() {
        match secret.resolve() {
            Ok(_) => report.ok(&format!("{} is set", secret.key_path())),
            // An account's own secret is reported with the account below.
            Err(_) if secret.key_path().starts_with("accounts.") => {}
            Err(err) => report.bad(&err.to_string(), "set the variable or fix the command"),
        }
    }
    for account in config.accounts.values() {
        if let ProviderSettings::Gmail(_) = account.provider {
            let tokens = TokenStore::new(config.data_dir(), &account.name).and_then(|s| s.load());
            match tokens {
                Ok(Some(t)) if t.refresh_token.is_some() => {
                    report.ok(&format!("{}: signed in", account.name))
                }
                Ok(_) => report.bad(
                    &format!("{}: not signed in", account.name),
                    &format!("run `outpost auth gmail --account {}`", account.name),
                ),
                Err(err) => report.bad(&format!("{}: {err}", account.name), "check the data dir"),
            }
        }
    }

    println!("data dir {}", config.data_dir().display());
    match current_holder(config.data_dir()) {
        Some(holder) => report.ok(&format!(
            "in use by outpost {} (pid {}); not opened here",
            holder.mode, holder.pid
        )),
        None => {
            match Store::open(config.data_dir(), "doctor") {
                Ok(store) => {
                    report.ok("opens, schema is current");
                    match store.verify_indexes() {
                    Ok(problems) if problems.is_empty() => report.ok("every index agrees with its records"),
                    Ok(problems) => report.bad(
                        &format!("{} index entries disagree with records", problems.len()),
                        "run `outpost sync` after moving the data dir aside to rebuild the cache",
                    ),
                    Err(err) => report.bad(&err.to_string(), "see the message"),
                }
                }
                Err(err) => report.bad(&err.to_string(), "see the message"),
            }
        }
    }

    if !config.accounts.is_empty() {
        println!("reachability");
        let clock: SharedClock = Arc::new(SystemClock);
        match Providers::from_config(&config, config.data_dir(), clock) {
            Ok(providers) => runtime()?.block_on(async {
                // Set aside: the others are still checked and still work.
                for attention in providers.needs_attention.values() {
                    report.bad(
                        &format!(
                            "{}: {} ({})",
                            attention.account,
                            attention.summary(),
                            attention.problem
                        ),
                        &format!(
                            "{}; until then {} neither syncs nor sends",
                            attention.fix, attention.account
                        ),
                    );
                }
                for account in providers.smartlead.values() {
                    match account.client.categories().await {
                        Ok(_) => report.ok(&format!("{}: Smartlead answers", account.name)),
                        Err(err @ crate::providers::smartlead::SmartleadError::Unauthorized(_)) => {
                            report.bad(
                                &format!(
                                    "{}: needs attention: replace the key in {} ({err})",
                                    account.name, account.key_origin
                                ),
                                &format!("replace the key in {}", account.key_origin),
                            )
                        }
                        Err(err) => report.bad(
                            &format!("{}: {err}", account.name),
                            "check api_key and base_url",
                        ),
                    }
                }
                for account in providers.gmail.values() {
                    match account.client.profile().await {
                        Ok(_) => report.ok(&format!("{}: Gmail answers", account.name)),
                        Err(err) => {
                            report.bad(&format!("{}: {err}", account.name), "see the message")
                        }
                    }
                }
                println!("deliverability");
                check_deliverability(&mut report, &config, &providers).await;
            }),
            Err(err) => report.bad(&err.to_string(), "see the message"),
        }
    }
    finish(report)
}

/// SPF, DKIM and DMARC of every sending domain (the accounts' mailboxes,
/// a Smartlead mailbox's own provider), and the unsubscribe headers
/// sequence emails carry.
async fn check_deliverability(report: &mut Report, config: &config::Config, providers: &Providers) {
    use crate::deliverability::{DnsChecker, check_unsubscribe};
    let checker = match DnsChecker::new(config.sending.dns_server) {
        Ok(checker) => checker,
        Err(err) => {
            report.bad(
                &err.to_string(),
                "set [sending] dns_server to a resolver's address",
            );
            return;
        }
    };
    let (domains, notes) = crate::engine::preflight::sending_domains(providers, None).await;
    for note in notes {
        report.bad(&note, "see the message");
    }
    let selectors = &config.sending.dkim_selectors;
    let reports =
        futures::future::join_all(domains.iter().map(|d| checker.check_domain(d, selectors))).await;
    for domain in reports {
        for check in &domain.checks {
            let what = format!("{}: {}: {}", domain.domain, check.name, check.detail);
            match &check.fix {
                None => report.ok(&what),
                Some(fix) => report.bad(&what, fix),
            }
        }
    }
    let unsubscribe = check_unsubscribe(config.daemon.public_url.as_ref());
    let what = format!("{}: {}", unsubscribe.name, unsubscribe.detail);
    match &unsubscribe.fix {
        None => report.ok(&what),
        Some(fix) => report.warn(&what, fix),
    }
}

fn finish(report: Report) -> CliResult {
    if report.problems == 0 {
        println!("all good");
        Ok(())
    } else {
        Err(CliError::runtime(format!(
            "{} problem(s) found (see above)",
            report.problems
        )))
    }
}
