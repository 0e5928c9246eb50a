//! `outpost doctor`: checks the config, each account's credentials and
//! reachability, and the data dir, and says what to fix.

use std::sync::Arc;

use super::live::runtime;
use super::{Cli, CliError, CliResult, sources};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, GmailSettings, ProviderSettings, SmartleadSettings};
use crate::providers::gmail::{GmailError, TokenStore};
use crate::providers::http::redact;
use crate::providers::registry::Providers;
use crate::providers::smartlead::SmartleadError;
use crate::store::{Store, current_holder};

struct Report {
    problems: usize,
}

impl Report {
    fn ok(&self, what: &str) {
        println!("  ok    {what}");
    }

    /// Worth knowing, not a problem.
    fn note(&self, what: &str) {
        println!("  --    {what}");
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
        for warning in config.warnings() {
            report.bad(
                warning,
                "chmod 600 the config, or move the secret to *_env / *_cmd",
            );
        }
    } else {
        // The loader's only warning then is this one, said with its fix.
        report.bad(
            &format!("no config file at {}", config.config_path().display()),
            "copy config.example.toml there and add an [accounts.<name>] section",
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
        if let ProviderSettings::Gmail(g) = &account.provider {
            let tokens = TokenStore::configured(config.data_dir(), &account.name, g.token_store)
                .and_then(|s| s.load());
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

    if config.store.backend == crate::config::StoreBackend::Postgres {
        println!("store postgres");
        match config.store_location() {
            Ok(location @ crate::store::Location::Postgres(_)) => {
                // Opening only reads the schema and pings: nothing is written
                // beyond migrations a start would apply anyway.
                match Store::open_unlocked(&location).and_then(|store| store.ping()) {
                    Ok(()) => report.ok("the database answers, migrations are applied"),
                    Err(err) => report.bad(
                        &err.to_string(),
                        "check [store] url_env and that Postgres runs",
                    ),
                }
            }
            Ok(_) => {}
            Err(err) => report.bad(&err.to_string(), "set the database URL [store] names"),
        }
    }

    println!("data dir {}", config.data_dir().display());
    if config.store.backend == crate::config::StoreBackend::Postgres {
        report.note("keeps this replica's lock, log and tokens; the records are in the database");
    } else if !Store::exists_in(config.data_dir()) {
        // Opening would create it: a check must leave the disk as it was.
        report.note(if config.data_dir().exists() {
            "no cache yet; the first `outpost sync` (or the TUI) fills it"
        } else {
            "does not exist yet; the first `outpost sync` (or the TUI) creates it"
        });
    } else {
        match current_holder(config.data_dir()) {
            Some(holder) => report.ok(&format!(
                "in use by outpost {} (pid {}); not opened here",
                holder.mode, holder.pid
            )),
            None => match Store::open(config.data_dir(), "doctor") {
                Ok(store) => {
                    report.ok("opens, schema is current");
                    match store.verify_indexes() {
                        Ok(problems) if problems.is_empty() => {
                            report.ok("every index agrees with its records")
                        }
                        Ok(problems) => report.bad(
                            &format!("{} index entries disagree with records", problems.len()),
                            "run `outpost sync` after moving the data dir aside to rebuild the cache",
                        ),
                        Err(err) => report.bad(&err.to_string(), CACHE_FIX),
                    }
                    gmail_bounce_rates(&mut report, &store);
                }
                Err(err) => report.bad(&err.to_string(), CACHE_FIX),
            },
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
                    let Some(ProviderSettings::Smartlead(settings)) =
                        config.account(&account.name).map(|a| &a.provider)
                    else {
                        continue;
                    };
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
                        Err(err) => {
                            let (what, fix) = smartlead_failure(&account.name, settings, &err);
                            report.bad(&what, &fix)
                        }
                    }
                }
                for account in providers.gmail.values() {
                    let Some(ProviderSettings::Gmail(settings)) =
                        config.account(&account.name).map(|a| &a.provider)
                    else {
                        continue;
                    };
                    match account.client.profile().await {
                        Ok(_) => report.ok(&format!("{}: Gmail answers", account.name)),
                        Err(err) => {
                            let (what, fix) = gmail_failure(&account.name, settings, &err);
                            report.bad(&what, &fix)
                        }
                    }
                }
                println!("deliverability");
                check_deliverability(&mut report, &config, &providers).await;
            }),
            Err(err) => report.bad(
                &err.to_string(),
                "fix the account named above in the config (see config.example.toml)",
            ),
        }
    }
    finish(report)
}

/// Each Gmail mailbox's bounce rate; a mailbox paused for bounces is a problem.
fn gmail_bounce_rates(report: &mut Report, store: &Store) {
    let engine = crate::engine::Engine::new(store.clone(), Arc::new(SystemClock));
    match engine.mailbox_bounces() {
        Ok(mailboxes) => {
            for m in mailboxes {
                let counts = format!(
                    "bounce rate {} ({} of {} sent bounced hard)",
                    crate::engine::rate_text(m.bounce_rate),
                    m.hard_bounces,
                    m.sends
                );
                if m.paused {
                    report.bad(
                        &format!("{}: paused for bounces, {counts}", m.mailbox),
                        &format!(
                            "clean the list, then `outpost mailbox resume {}`",
                            m.mailbox
                        ),
                    );
                } else {
                    report.ok(&format!("{}: {counts}", m.mailbox));
                }
            }
        }
        Err(err) => report.bad(&err.to_string(), CACHE_FIX),
    }
}

const CACHE_FIX: &str = "check that the data dir is yours and writable; if the cache is damaged, move the data dir aside and run `outpost sync` to rebuild it";

/// What a failed Smartlead check means and what to do, naming what was tried.
fn smartlead_failure(
    name: &str,
    settings: &SmartleadSettings,
    err: &SmartleadError,
) -> (String, String) {
    let url = redact(settings.base_url.as_str());
    match err {
        SmartleadError::Transport(detail) | SmartleadError::Unreachable(detail) => {
            network_failure(name, "base_url", &url, detail)
        }
        SmartleadError::Unauthorized(_) => (
            format!("{name}: {url} refused the API key ({err})"),
            format!(
                "check api_key (or api_key_env / api_key_cmd) in [accounts.{name}]; a key copied from Smartlead's settings page works as is"
            ),
        ),
        SmartleadError::NotFound(_) | SmartleadError::Decode(_) => (
            format!("{name}: {url} does not answer like the Smartlead API ({err})"),
            format!(
                "check base_url in [accounts.{name}]: it should end in /api/v1 (default {})",
                crate::config::SMARTLEAD_BASE_URL
            ),
        ),
        SmartleadError::RateLimited { .. } | SmartleadError::Server(..) => (
            format!("{name}: {url}: {err}"),
            "Smartlead's side is failing or busy; try `outpost doctor` again in a few minutes"
                .to_string(),
        ),
        _ => (
            format!("{name}: {url}: {err}"),
            format!("check [accounts.{name}] against config.example.toml"),
        ),
    }
}

/// What a failed Gmail check means and what to do, naming what was tried.
fn gmail_failure(name: &str, settings: &GmailSettings, err: &GmailError) -> (String, String) {
    match err {
        GmailError::Transport(detail) => network_failure(
            name,
            "api_base_url",
            &redact(settings.api_base_url.as_str()),
            detail,
        ),
        GmailError::TokenEndpointUnavailable(detail) => network_failure(
            name,
            "token_url",
            &redact(settings.token_url.as_str()),
            detail,
        ),
        GmailError::NeedsLogin { .. }
        | GmailError::Api {
            status: 401 | 403, ..
        } => (
            format!("{name}: Gmail refused the sign-in ({err})"),
            format!("run `outpost auth gmail --account {name}`"),
        ),
        _ => (
            format!("{name}: {}: {err}", redact(settings.api_base_url.as_str())),
            format!(
                "check [accounts.{name}] against config.example.toml, or sign in again with `outpost auth gmail --account {name}`"
            ),
        ),
    }
}

/// A request that never got an answer: say where it went and the likely
/// causes, most common first.
fn network_failure(name: &str, key: &str, url: &str, detail: &str) -> (String, String) {
    let lower = detail.to_ascii_lowercase();
    let cause = if lower.contains("refused") {
        "connection refused: nothing is listening there"
    } else if lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve") {
        "the host name does not resolve"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "no answer in time"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("ssl") {
        "the TLS handshake failed"
    } else {
        "the connection failed"
    };
    (
        format!("{name}: tried {url}: {cause} ({detail})"),
        format!(
            "is the server running and reachable from this machine? is {key} in [accounts.{name}] right? behind a proxy, check HTTPS_PROXY / HTTP_PROXY / NO_PROXY"
        ),
    )
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
