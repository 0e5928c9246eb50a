//! Each Gmail mailbox's bounce rate, and its bounce pause: above
//! `[sending] bounce_pause_rate` (once it has sent 50) the mailbox stops
//! sending sequence steps until the rep resumes it. Counted from the
//! account's own events: what it sent, and the hard bounces reported back
//! to it (the notices arrive in the mailbox that sent).

use serde::{Deserialize, Serialize};

use super::{CommandError, CommandResult, Engine};
use crate::model::*;
use crate::store::StoreResult;

/// Fewer sends than this say nothing about a mailbox.
pub const BOUNCE_PAUSE_MIN_SENDS: u64 = 50;

/// One mailbox's deliverability, as `outpost mailbox list`, `doctor` and the
/// TUI show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxBounces {
    pub account: String,
    pub mailbox: String,
    pub sends: u64,
    pub hard_bounces: u64,
    pub soft_bounces: u64,
    /// Hard bounces / sends; None before the first send.
    pub bounce_rate: Option<f64>,
    /// Sequence steps from it wait until the rep resumes it.
    pub paused: bool,
    pub paused_at: Option<chrono::DateTime<chrono::Utc>>,
    pub resumed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Engine {
    /// Every Gmail mailbox's counts and pause.
    pub fn mailbox_bounces(&self) -> StoreResult<Vec<MailboxBounces>> {
        let mut out = Vec::new();
        for account in self.store.iter::<Account>() {
            let account = account?;
            if account.provider != Provider::Gmail {
                continue;
            }
            let Some(mailbox) = account.email.as_deref().map(normalize_email) else {
                continue;
            };
            out.push(self.health_of(&account.name, &mailbox)?);
        }
        Ok(out)
    }

    fn health_of(&self, account: &str, mailbox: &str) -> StoreResult<MailboxBounces> {
        let (mut sends, mut hard, mut soft) = (0, 0, 0);
        for event in self
            .store
            .activity_events_with_prefix(&format!("{account}/"))
        {
            let event = event?;
            match event.kind {
                EventType::EmailSent => sends += 1,
                EventType::EmailBounced => match BounceClass::of(event.detail.as_deref()) {
                    BounceClass::Hard => hard += 1,
                    BounceClass::Soft => soft += 1,
                },
                _ => {}
            }
        }
        let pause = self
            .store
            .get::<MailboxPause>(&MailboxPause::key_for(account, mailbox))?;
        Ok(MailboxBounces {
            account: account.to_string(),
            mailbox: mailbox.to_string(),
            sends,
            hard_bounces: hard,
            soft_bounces: soft,
            bounce_rate: (sends > 0).then(|| hard as f64 / sends as f64),
            paused: pause.as_ref().is_some_and(MailboxPause::is_paused),
            paused_at: pause.as_ref().map(|p| p.paused_at),
            resumed_at: pause.and_then(|p| p.resumed_at),
        })
    }

    /// After new events: a Gmail mailbox that got a hard bounce pauses when
    /// its rate is now above the limit (and it has sent enough to judge).
    /// A mailbox the rep resumed pauses again only on a bounce after that.
    pub(crate) fn check_bounce_pause(&self, fresh: &[EmailEvent]) -> StoreResult<()> {
        let mut accounts: Vec<&str> = fresh
            .iter()
            .filter(|e| {
                e.kind == EventType::EmailBounced
                    && BounceClass::of(e.detail.as_deref()) == BounceClass::Hard
            })
            .map(|e| e.account.as_str())
            .collect();
        accounts.sort();
        accounts.dedup();
        let limit = self.settings().sending.bounce_pause_rate;
        let now = self.clock.now();
        for name in accounts {
            let Some(account) = self.store.get::<Account>(name)? else {
                continue;
            };
            let Some(mailbox) = account.email.as_deref().map(normalize_email) else {
                continue;
            };
            if account.provider != Provider::Gmail {
                continue;
            }
            let health = self.health_of(name, &mailbox)?;
            let over = health.sends >= BOUNCE_PAUSE_MIN_SENDS
                && health.bounce_rate.is_some_and(|rate| rate > limit);
            if !over {
                continue;
            }
            let key = MailboxPause::key_for(name, &mailbox);
            self.store
                .modify::<MailboxPause, ()>(&[key], |_, current| {
                    let again = match &current {
                        None => true,
                        Some(p) => {
                            p.resumed_at.is_some() && health.hard_bounces > p.bounces_at_resume
                        }
                    };
                    again.then(|| {
                        tracing::warn!(
                            mailbox = %mailbox,
                            sends = health.sends,
                            hard_bounces = health.hard_bounces,
                            "mailbox paused: too much of its mail bounced"
                        );
                        let pause = MailboxPause {
                            account: name.to_string(),
                            mailbox: mailbox.clone(),
                            paused_at: now,
                            sends: health.sends,
                            hard_bounces: health.hard_bounces,
                            resumed_at: None,
                            bounces_at_resume: 0,
                        };
                        (pause, ())
                    })
                })?;
        }
        Ok(())
    }

    /// The rep resumes a paused mailbox (by address or account name).
    pub fn resume_mailbox(&self, name: &str) -> CommandResult<MailboxBounces> {
        let wanted = normalize_email(name);
        let health = self
            .mailbox_bounces()?
            .into_iter()
            .find(|h| h.mailbox == wanted || h.account == name)
            .ok_or_else(|| {
                CommandError::NotFound(format!(
                    "no Gmail mailbox {name:?}; `outpost mailbox list` shows them"
                ))
            })?;
        if !health.paused {
            return Err(CommandError::Invalid(format!(
                "{} is not paused (bounce rate {})",
                health.mailbox,
                rate_text(health.bounce_rate)
            )));
        }
        let now = self.clock.now();
        let key = MailboxPause::key_for(&health.account, &health.mailbox);
        self.store
            .modify::<MailboxPause, ()>(&[key], |_, current| {
                let mut pause = current?;
                pause.resumed_at = Some(now);
                pause.bounces_at_resume = health.hard_bounces;
                Some((pause, ()))
            })?;
        Ok(self.health_of(&health.account, &health.mailbox)?)
    }
}

/// A rate as a rep reads it: "6.0%", or "-" before any send.
pub fn rate_text(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}
