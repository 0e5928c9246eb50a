//! The outbox worker: sends what the outbox holds once its time has come.
//!
//! Every item is marked `sending` durably *before* a provider sees it. A
//! crash leaves it in `sending`, and it is reconciled (for Gmail: search
//! Sent for the fixed Message-ID; for a Smartlead reply: look for it in the
//! lead's message history) before anything is retried, so a step is never
//! sent twice and never forgotten. A call whose outcome is unknown (a 5xx, a
//! dropped connection) is never repeated blindly: it is settled the same way
//! right away, or on a later pass if the provider cannot be asked yet (or,
//! for Smartlead, may not show the reply yet), without waiting for a restart.
//!
//! Several replicas may share the store. A `sending` item carries the lease
//! of the replica that claimed it ([`SEND_LEASE`], renewed while the call is
//! in flight), and only an item whose lease ran out, or one this replica left
//! from before a restart, is reconciled, on every pass: when a replica dies
//! mid-send another settles its item once the lease expires, and never
//! touches a send a live replica is making.

mod smartlead_reply;
mod smartlead_senders;

pub use smartlead_reply::{SMARTLEAD_REPLY_GRACE, adopt_synced_copies, next_lookup_at};

/// The provider id of the copy of a sent email kept in its thread until the
/// provider's own copy arrives (see `adopt_synced_copies`).
fn local_copy_id(outbox_id: &str) -> String {
    format!("{LOCAL_COPY_PREFIX}{outbox_id}")
}

const LOCAL_COPY_PREFIX: &str = "outbox-";

use std::sync::Arc;
use std::time::Duration;

use chrono::SecondsFormat;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::model::*;
use crate::providers::gmail::{GmailError, mime};
use crate::providers::smartlead::{
    CampaignId, LeadUploadSettings, NewLead, ReplyRequest, SmartleadError,
};
use crate::store::keys::KeyBuf;
use crate::store::{Change, Index, Kind, Record, StoreError};

/// How many times a send that certainly did not go out is tried again.
/// With the backoff of [`retry_backoff`], ten attempts span about three
/// hours: a provider down for an hour or two delays a step, it does not
/// fail it (and with 20% of calls failing, ten failures in a row are a
/// one-in-ten-million event, where five were one in three thousand).
const MAX_ATTEMPTS: u32 = 10;
/// The longest wait between two attempts.
const MAX_BACKOFF: chrono::Duration = chrono::Duration::hours(1);

/// The wait before attempt `attempts + 1`: 30 s, doubling each time, at
/// most [`MAX_BACKOFF`].
fn retry_backoff(attempts: u32) -> chrono::Duration {
    let doublings = attempts.saturating_sub(1).min(10);
    (chrono::Duration::seconds(30) * 2i32.pow(doublings)).min(MAX_BACKOFF)
}
/// How a reconcile says it could not look the message up (so: try later).
const LOOKUP_FAILED: &str = "could not check Sent yet";

/// How long a replica's claim on a `sending` item holds without renewal.
pub const SEND_LEASE: chrono::Duration = chrono::Duration::minutes(2);
/// How often a running worker looks for due items, unless
/// `[daemon].work_interval_ms` says otherwise.
pub const DEFAULT_PASS_EVERY: Duration = Duration::from_secs(1);
/// How often the lease of a send in flight is renewed (well within it).
const RENEW_SEND_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        provider_id: Option<String>,
        /// The provider's conversation id (Gmail threadId), for follow-ups.
        thread_id: Option<String>,
    },
    /// Certainly not sent; try again later.
    Retry(String),
    /// Will not be sent (refused, or the outcome cannot be known).
    Failed(String),
    /// The provider may have sent it; reconcile before doing anything else.
    Unknown(String),
    /// It may have been sent and cannot be settled yet (the provider could
    /// not be asked, or may not show it yet): it stays `sending` and is
    /// looked up again on the next pass.
    Unsettled(String),
}

/// What claiming a pending item came to.
enum Taken {
    /// Claimed: `sending`, this replica's lease, in flight here.
    Send(OutboxItem, crate::replica::InFlight),
    /// Its step is no longer the enrollment's: it will not be sent.
    Cancelled(OutboxItem),
    /// Its account waits for the rep's fix; it stays pending (by id).
    Held(String),
}

#[derive(Clone)]
pub struct OutboxWorker {
    engine: Engine,
    /// Campaign mailboxes already checked this run (Smartlead sends).
    senders: Arc<smartlead_senders::SenderMemory>,
}

impl OutboxWorker {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            senders: Arc::default(),
        }
    }

    /// Sends every pending item whose time has come; returns the items handled
    /// (sent or tried) and those a lookup settled. An item still waiting to be
    /// settled is not among them, so a caller looping until nothing changes
    /// does not spin on it.
    ///
    /// Due items are claimed one at a time off the pending index (see
    /// [`Store::claim`](crate::store::Store::claim)): replicas sending from
    /// one database take different items rather than reaching for the same.
    pub async fn send_due(&self) -> Result<Vec<OutboxItem>, StoreError> {
        let mut handled: Vec<OutboxItem> = self
            .reconcile()
            .await?
            .into_iter()
            .filter(|item| item.state != OutboxState::Sending)
            .collect();
        let now = self.engine.clock().now();
        let pending = [OutboxState::Pending.as_byte()];
        let due_end = KeyBuf::new()
            .byte(OutboxState::Pending.as_byte())
            .time(now + chrono::Duration::milliseconds(1))
            .into_prefix();
        // Each item is looked at once a pass: one that failed goes back to
        // `pending`, maybe still due, and waits for the next pass.
        let mut looked_at = std::collections::HashSet::new();
        while let Some(taken) = self.claim_pending(&pending, &due_end, &looked_at, true)? {
            match taken {
                Taken::Send(item, in_flight) => {
                    looked_at.insert(item.id.clone());
                    handled.push(self.send_claimed(item, in_flight).await?);
                }
                Taken::Cancelled(item) => {
                    looked_at.insert(item.id.clone());
                    handled.push(item);
                }
                // Waits, untried, until the rep fixes the account: trying
                // would only spend its attempts. Not "handled", so a loop
                // until idle does not spin on it.
                Taken::Held(id) => {
                    looked_at.insert(id);
                }
            }
        }
        Ok(handled)
    }

    /// Why an item's account cannot be used now, when it was set aside for
    /// a secret the rep must fix.
    fn set_aside(&self, item: &OutboxItem) -> Option<String> {
        let providers = self.engine.providers();
        let attention = providers.needs_attention.get(&item.account)?;
        Some(format!(
            "account {} {}",
            attention.account,
            attention.summary()
        ))
    }

    /// The outcome for an item whose account has no client: one set aside
    /// waits for the fix (nothing was sent); one not in the config never sends.
    fn unavailable(&self, item: &OutboxItem, provider: &str) -> Outcome {
        match self.set_aside(item) {
            Some(reason) => Outcome::Retry(reason),
            None => Outcome::Failed(format!(
                "{provider} account {} is not configured",
                item.account
            )),
        }
    }

    /// Settles the `sending` items no live send holds: those whose lease
    /// ran out (their replica died mid-send, or predates leases), and this
    /// replica's own that are not in flight here (left by a crash before a
    /// restart, or awaiting settlement after an unknown outcome, once the
    /// provider is due to be asked again). Each is claimed off the `sending`
    /// index with this replica's lease first, so one replica settles it.
    /// Returns every item looked at, settled or still waiting.
    pub async fn reconcile(&self) -> Result<Vec<OutboxItem>, StoreError> {
        let sending = [OutboxState::Sending.as_byte()];
        let end = crate::store::keys::prefix_end(&sending).expect("a state byte below 255");
        let mut looked_at = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some((item, _in_flight)) = self.take_over(&sending, &end, &seen)? {
            seen.insert(item.id.clone());
            let item = self.settle_unknown(item).await?;
            tracing::info!(id = %item.id, state = ?item.state, "reconciled an interrupted send");
            looked_at.push(item);
        }
        Ok(looked_at)
    }

    /// Claims one stranded `sending` item in `[start, end)` of the state
    /// index, not in `seen`, for this replica: its lease becomes this
    /// replica's, and it is in flight here until the guard drops. None when
    /// there is none left to take.
    fn take_over(
        &self,
        start: &[u8],
        end: &[u8],
        seen: &std::collections::HashSet<String>,
    ) -> Result<Option<(OutboxItem, crate::replica::InFlight)>, StoreError> {
        let now = self.engine.clock().now();
        let replica = self.engine.replica();
        let taken = self.engine.store().claim::<OutboxItem, _>(
            Index::OutboxByState,
            start,
            end,
            1,
            &[],
            |mut item, _| {
                if item.state != OutboxState::Sending
                    || seen.contains(&item.id)
                    || !replica.may_take(&item.id, item.lease.as_ref(), now)
                {
                    return Ok(None);
                }
                // Awaiting settlement: asked again once it is due.
                if item.last_error.is_some() && next_lookup_at(&item).is_some_and(|at| at > now) {
                    return Ok(None);
                }
                let in_flight = replica.begin(&item.id);
                item.lease = Some(crate::replica::Lease::new(replica.id(), now, SEND_LEASE));
                Ok(Some((item.clone(), (item, in_flight))))
            },
        )?;
        Ok(taken.into_iter().next())
    }

    /// Renews this replica's lease on an item it is sending; false when the
    /// item is no longer its own `sending` claim.
    fn renew_lease(&self, item: &OutboxItem) -> Result<bool, StoreError> {
        let now = self.engine.clock().now();
        let me = self.engine.replica().id().to_string();
        let renewed = self.engine.store().modify::<OutboxItem, ()>(
            std::slice::from_ref(&item.id),
            |_, stored| {
                let mut stored = stored.filter(|s| {
                    s.state == OutboxState::Sending
                        && s.attempts == item.attempts
                        && s.lease.as_ref().is_some_and(|l| l.holder == me)
                })?;
                stored.lease = Some(crate::replica::Lease::new(&me, now, SEND_LEASE));
                Some((stored, ()))
            },
        )?;
        Ok(!renewed.is_empty())
    }

    /// Hands the item to its provider, renewing the lease while the call
    /// runs: a call held up by retries and backoff must not look abandoned.
    async fn deliver_holding_lease(&self, item: &OutboxItem) -> Outcome {
        let delivery = self.deliver(item);
        tokio::pin!(delivery);
        let mut renew = tokio::time::interval(RENEW_SEND_EVERY);
        // The first tick is at once; the claim has just taken the lease.
        renew.tick().await;
        loop {
            tokio::select! {
                outcome = &mut delivery => return outcome,
                _ = renew.tick() => {
                    match self.renew_lease(item) {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(id = %item.id, "lost the lease of a send in flight"),
                        Err(err) => tracing::warn!(id = %item.id, error = %err, "renewing a send's lease failed"),
                    }
                }
            }
        }
    }

    async fn reconcile_one(&self, item: &OutboxItem) -> Outcome {
        match &item.delivery {
            Delivery::GmailSend { .. } => {
                let providers = self.engine.providers();
                let Some(account) = providers.gmail.get(&item.account) else {
                    // Settled once the rep fixes the account; until then it may have gone out.
                    if let Some(attention) = self.set_aside(item) {
                        return Outcome::Unsettled(attention);
                    }
                    return Outcome::Unknown(format!(
                        "account {} is not configured; cannot check whether it was sent",
                        item.account
                    ));
                };
                match account.client.find_by_message_id(&item.message_id).await {
                    Ok(Some(found)) => Outcome::Sent {
                        provider_id: found.id,
                        thread_id: found.thread_id,
                    },
                    Ok(None) => Outcome::Retry("not found in Sent; sending again".into()),
                    Err(err) => Outcome::Unsettled(format!("{LOOKUP_FAILED}: {err}")),
                }
            }
            // Adding a lead again only updates it, so it is safe to redo.
            Delivery::SmartleadAddLead(_) => Outcome::Retry("interrupted; adding again".into()),
            Delivery::SmartleadReply(reply) => self.settle_smartlead_reply(item, reply).await,
        }
    }

    /// Writes the worker's next state of an item it holds in `sending`. Its
    /// claim made the worker the item's only writer, so the write is a
    /// compare-and-swap on that: were the item changed meanwhile, nothing is
    /// overwritten and the error says so.
    fn save(&self, item: &mut OutboxItem) -> Result<(), StoreError> {
        let now = self.engine.clock().now();
        let me = self.engine.replica().id();
        item.updated_at = now;
        // Still `sending` (awaiting settlement), it stays ours for a lease;
        // settled, it needs none.
        item.lease = (item.state == OutboxState::Sending)
            .then(|| crate::replica::Lease::new(me, now, SEND_LEASE));
        let next = item.clone();
        let ours = |stored: &OutboxItem| {
            stored.state == OutboxState::Sending
                && stored.attempts == next.attempts
                && stored.lease.as_ref().is_some_and(|l| l.holder == me)
        };
        let written = self.engine.store().modify::<OutboxItem, ()>(
            std::slice::from_ref(&next.id),
            |_, stored| {
                stored.filter(ours)?;
                Some((next.clone(), ()))
            },
        )?;
        if written.is_empty() {
            return Err(StoreError::Changed {
                kind: Kind::Outbox,
                key: next.id,
            });
        }
        Ok(())
    }

    /// Claims one pending item in `[start, end)` of the state index, not
    /// in `skip`: `pending` becomes `sending` (durably, before any provider
    /// sees it) in the claim's transaction, so a cancel, a reply's pause or
    /// another worker landing at the same moment either comes first (and
    /// nothing is sent) or finds it taken; another replica claiming at once
    /// takes another item. A step whose enrollment is no longer active at
    /// that step is cancelled instead: a pause that found the item in
    /// `sending` left it alone, and a failed attempt may have put it back to
    /// `pending` since. With `hold_set_aside`, an item whose account waits
    /// for the rep's fix stays pending, saying why. None when there is
    /// nothing to take.
    fn claim_pending(
        &self,
        start: &[u8],
        end: &[u8],
        skip: &std::collections::HashSet<String>,
        hold_set_aside: bool,
    ) -> Result<Option<Taken>, StoreError> {
        let now = self.engine.clock().now();
        let replica = self.engine.replica();
        let taken = self.engine.store().claim::<OutboxItem, _>(
            Index::OutboxByState,
            start,
            end,
            1,
            &[Kind::Enrollment],
            |mut item, reads| {
                if item.state != OutboxState::Pending || skip.contains(&item.id) {
                    return Ok(None);
                }
                let enrollment = match &item.enrollment_id {
                    Some(enrollment_id) => reads.get::<Enrollment>(enrollment_id)?,
                    None => None,
                };
                if let Some(enr) = &enrollment {
                    let live =
                        enr.state == EnrollmentState::Active && item.step == Some(enr.current_step);
                    if !live {
                        item.state = OutboxState::Cancelled;
                        item.updated_at = now;
                        return Ok(Some((item.clone(), Taken::Cancelled(item))));
                    }
                }
                if hold_set_aside && let Some(reason) = self.set_aside(&item) {
                    let id = item.id.clone();
                    if item.last_error.as_deref() == Some(reason.as_str()) {
                        // Already says why: nothing to write.
                        return Ok(Some((item, Taken::Held(id))));
                    }
                    item.last_error = Some(reason);
                    item.updated_at = now;
                    return Ok(Some((item, Taken::Held(id))));
                }
                let in_flight = replica.begin(&item.id);
                item.state = OutboxState::Sending;
                // While `sending`, `not_before` says when this attempt began (what a
                // Smartlead settlement measures from); it was due, so nothing is lost.
                item.not_before = now;
                item.attempts += 1;
                // A `sending` item with an error is one awaiting settlement; a fresh
                // attempt must not look like one.
                item.last_error = None;
                item.updated_at = now;
                item.lease = Some(crate::replica::Lease::new(replica.id(), now, SEND_LEASE));
                Ok(Some((item.clone(), Taken::Send(item, in_flight))))
            },
        )?;
        Ok(taken.into_iter().next())
    }

    /// Marks the item `sending` (durably), hands it to its provider, records
    /// the result. The item is claimed as `send_due` claims due ones, through
    /// its own entry in the state index: one read of it since changed (or
    /// not pending) is reported as it is now, unsent.
    pub async fn send(&self, item: OutboxItem) -> Result<OutboxItem, StoreError> {
        let entry = item
            .index_entries()
            .into_iter()
            .find(|e| e.index == Index::OutboxByState)
            .map(|e| e.key)
            .expect("an outbox item has a state entry");
        let mut just_after = entry.clone();
        just_after.push(0);
        let none = std::collections::HashSet::new();
        match self.claim_pending(&entry, &just_after, &none, false)? {
            Some(Taken::Send(claimed, in_flight)) => self.send_claimed(claimed, in_flight).await,
            Some(Taken::Cancelled(cancelled)) => Ok(cancelled),
            // Sent, cancelled or taken meanwhile: reported as it is now.
            Some(Taken::Held(_)) | None => Ok(self
                .engine
                .store()
                .get::<OutboxItem>(&item.id)?
                .unwrap_or(item)),
        }
    }

    /// Sends an item this replica has just claimed (`sending`, its lease,
    /// in flight here until `_in_flight` drops) and records the result.
    async fn send_claimed(
        &self,
        mut item: OutboxItem,
        _in_flight: crate::replica::InFlight,
    ) -> Result<OutboxItem, StoreError> {
        self.engine.store().flush_async().await?;

        match self.deliver_holding_lease(&item).await {
            Outcome::Sent {
                provider_id,
                thread_id,
            } => self.record_sent(&mut item, provider_id, thread_id)?,
            Outcome::Retry(reason) if item.attempts < MAX_ATTEMPTS => {
                self.retry_later(&mut item, reason)?;
            }
            Outcome::Retry(reason) | Outcome::Failed(reason) => {
                self.finish_failed(&mut item, reason)?;
            }
            Outcome::Unknown(reason) | Outcome::Unsettled(reason) => {
                // Stays in `sending` until settled: it may have gone out.
                item.last_error = Some(reason);
                self.save(&mut item)?;
                self.engine.store().flush_async().await?;
                item = self.settle_unknown(item).await?;
            }
        }
        Ok(item)
    }

    /// One quick try at an item someone is waiting on (the CLI's `reply`):
    /// a single provider call, no transport retries, at most `limit`. What
    /// is not out by then stays in the outbox for this worker's next passes
    /// (a running TUI or daemon, or the next `outpost send`): certainly-unsent
    /// goes back to `pending` with its backoff; a call cut off by `limit`
    /// may have reached the provider, so it is marked for a lookup before any
    /// resend, as an unknown outcome is.
    pub async fn first_attempt(
        &self,
        item: OutboxItem,
        limit: Duration,
    ) -> Result<OutboxItem, StoreError> {
        let id = item.id.clone();
        let attempt = crate::providers::http::without_retries(self.send(item));
        if let Ok(done) = tokio::time::timeout(limit, attempt).await {
            return done;
        }
        let reason = format!(
            "the provider did not answer within {} s; outpost checks whether it went out before trying again",
            limit.as_secs()
        );
        let now = self.engine.clock().now();
        // Only a fresh `sending` claim (no error yet) is ours to mark.
        self.engine
            .store()
            .modify::<OutboxItem, ()>(std::slice::from_ref(&id), |_, stored| {
                let mut item =
                    stored.filter(|i| i.state == OutboxState::Sending && i.last_error.is_none())?;
                item.last_error = Some(reason.clone());
                item.updated_at = now;
                Some((item, ()))
            })?;
        self.engine.store().flush_async().await?;
        self.engine
            .store()
            .get::<OutboxItem>(&id)?
            .ok_or(StoreError::Changed {
                kind: Kind::Outbox,
                key: id,
            })
    }

    /// Settles a send that may have gone out: one whose call had an unknown
    /// outcome (at once, instead of at the next start), or one a crash or a
    /// dead replica left `sending` (from [`OutboxWorker::reconcile`]). Not
    /// found means not sent (Gmail's send is synchronous; a Smartlead reply
    /// is given a grace period first); a failed lookup leaves it for a later
    /// pass of `reconcile`.
    async fn settle_unknown(&self, mut item: OutboxItem) -> Result<OutboxItem, StoreError> {
        // No error recorded: the attempt was cut off, never answered, so
        // nothing refused it and there is no backoff to wait out.
        let interrupted = item.last_error.is_none();
        match self.reconcile_one(&item).await {
            Outcome::Sent {
                provider_id,
                thread_id,
            } => self.record_sent(&mut item, provider_id, thread_id)?,
            Outcome::Unsettled(reason) => {
                item.last_error = Some(reason);
                item.state = OutboxState::Sending;
                self.save(&mut item)?;
            }
            Outcome::Retry(reason) if interrupted => {
                item.state = OutboxState::Pending;
                item.last_error = Some(reason);
                self.save(&mut item)?;
            }
            Outcome::Retry(reason) if item.attempts < MAX_ATTEMPTS => {
                self.retry_later(&mut item, reason)?;
            }
            Outcome::Retry(reason) | Outcome::Failed(reason) | Outcome::Unknown(reason) => {
                self.finish_failed(&mut item, reason)?;
            }
        }
        Ok(item)
    }

    fn record_sent(
        &self,
        item: &mut OutboxItem,
        provider_id: Option<String>,
        thread_id: Option<String>,
    ) -> Result<(), StoreError> {
        item.provider_id = provider_id;
        note_thread(item, thread_id);
        self.finish_sent(item)
    }

    /// Back to `pending`, after a backoff that grows with each attempt.
    fn retry_later(&self, item: &mut OutboxItem, reason: String) -> Result<(), StoreError> {
        let backoff = retry_backoff(item.attempts);
        item.state = OutboxState::Pending;
        item.not_before = self.engine.clock().now() + backoff;
        item.last_error = Some(reason);
        self.save(item)
    }

    fn finish_failed(&self, item: &mut OutboxItem, reason: String) -> Result<(), StoreError> {
        tracing::warn!(id = %item.id, error = %reason, "send failed");
        item.state = OutboxState::Failed;
        item.last_error = Some(reason.clone());
        self.save(item)?;
        self.engine.after_outbox_failed(item, &reason)?;
        self.engine.store().publish(Change::Notice {
            level: "error".into(),
            text: format!("Could not send \"{}\": {reason}", item.email.subject),
        });
        Ok(())
    }

    /// Records a sent item: its state, the message in its thread, the event.
    fn finish_sent(&self, item: &mut OutboxItem) -> Result<(), StoreError> {
        // The item is marked sent last: a crash before that leaves it in
        // `sending`, and the reconcile that follows redoes every step below
        // (each one idempotent), so the enrollment always moves on.
        let now = self.engine.clock().now();
        item.state = OutboxState::Sent;
        item.last_error = None;
        let lead_email = item.email.to.first().cloned().unwrap_or_default();
        if let Some(thread_key) = &item.thread_key
            && let Some(thread) = self.engine.store().get::<Thread>(thread_key)?
        {
            let store = self.engine.store();
            let message = sent_message(item, &thread, thread_key, now);
            // Written only if absent (a replay after a crash finds it), then
            // the conversation's summary is recomputed as a compare-and-swap.
            if store.insert_new(std::slice::from_ref(&message))? > 0 {
                crate::conversation::settle(store, thread_key)?;
            }
        }
        let dedupe_key = format!("outbox|{}", item.idempotency_key);
        let event = EmailEvent {
            id: EmailEvent::id_for(&item.account, &dedupe_key),
            account: item.account.clone(),
            kind: EventType::EmailSent,
            lead_email,
            campaign_id: match &item.delivery {
                Delivery::SmartleadReply(r) => Some(r.campaign_id),
                Delivery::SmartleadAddLead(a) => Some(a.campaign_id),
                Delivery::GmailSend { .. } => None,
            },
            sequence_number: item.step.map(|s| s as u32 + 1),
            at: now,
            source: EventSource::Outbox,
            dedupe_key,
            message_id: Some(item.message_id.clone()),
            detail: Some(what_was_sent(self.engine.store(), item)?),
        };
        self.engine.record_events(&[event])?;
        self.engine.after_outbox_sent(item)?;
        self.save(item)?;
        self.engine.store().publish(Change::Notice {
            level: "info".into(),
            text: format!(
                "Sent \"{}\" to {}",
                what_was_sent(self.engine.store(), item)?,
                item.email.to.join(", ")
            ),
        });
        Ok(())
    }

    async fn deliver(&self, item: &OutboxItem) -> Outcome {
        match &item.delivery {
            Delivery::GmailSend { thread_id } => {
                self.deliver_gmail(item, thread_id.as_deref()).await
            }
            Delivery::SmartleadReply(reply) => self.deliver_smartlead_reply(item, reply).await,
            Delivery::SmartleadAddLead(enroll) => self.deliver_smartlead_add(item, enroll).await,
        }
    }

    async fn deliver_gmail(&self, item: &OutboxItem, thread_id: Option<&str>) -> Outcome {
        let providers = self.engine.providers();
        let Some(account) = providers.gmail.get(&item.account) else {
            return self.unavailable(item, "Gmail");
        };
        let mailbox = |a: &str| mime::Mailbox::new(None, a);
        let from_name = self.engine.settings().from_name(&item.account);
        let raw = match mime::build_message(mime::OutgoingEmail {
            from: mime::Mailbox::new(from_name, &item.email.from),
            to: item.email.to.iter().map(|a| mailbox(a)).collect(),
            cc: item.email.cc.iter().map(|a| mailbox(a)).collect(),
            bcc: item.email.bcc.iter().map(|a| mailbox(a)).collect(),
            subject: item.email.subject.clone(),
            message_id: item.message_id.clone(),
            in_reply_to: item.email.in_reply_to.clone(),
            references: item.email.references.clone(),
            extra_headers: item.email.headers.clone(),
            text_body: Some(item.email.text_body.clone()),
            html_body: item.email.html_body.clone(),
            date: Some(self.engine.clock().now()),
            attachments: item
                .email
                .attachments
                .iter()
                .map(|a| mime::AttachedFile {
                    filename: a.filename.clone(),
                    mime_type: a.mime_type.clone(),
                    data: a.data.clone(),
                })
                .collect(),
        }) {
            Ok(raw) => raw,
            Err(err) => return Outcome::Failed(format!("cannot build the message: {err}")),
        };
        match account.client.send(&raw, thread_id).await {
            Ok(sent) => Outcome::Sent {
                provider_id: sent.id,
                thread_id: sent.thread_id,
            },
            Err(GmailError::SendOutcomeUnknown { detail }) => Outcome::Unknown(detail),
            // The client reports a send that may have reached Gmail as
            // `SendOutcomeUnknown`; a transport error is a connection that
            // was never made, so nothing went out.
            Err(err @ GmailError::Transport(_)) => Outcome::Retry(err.to_string()),
            // The token is fetched before the send: nothing went out.
            Err(
                err @ (GmailError::NeedsLogin { .. } | GmailError::TokenEndpointUnavailable(_)),
            ) => Outcome::Retry(err.to_string()),
            Err(err) => match err.reason() {
                Some("rateLimitExceeded" | "userRateLimitExceeded" | "backendError") => {
                    Outcome::Retry(err.to_string())
                }
                _ => Outcome::Failed(err.to_string()),
            },
        }
    }

    async fn deliver_smartlead_reply(&self, item: &OutboxItem, reply: &SmartleadReply) -> Outcome {
        let providers = self.engine.providers();
        let Some(account) = providers.smartlead.get(&item.account) else {
            return self.unavailable(item, "Smartlead");
        };
        let body = smartlead_reply::reply_body(item);
        let join = |list: &[String]| Some(list.join(",")).filter(|s| !s.is_empty());
        let request = ReplyRequest {
            email_stats_id: reply.email_stats_id.clone(),
            email_body: body,
            reply_message_id: reply.reply_message_id.clone(),
            reply_email_time: reply
                .reply_email_time
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            reply_email_body: reply.reply_email_body.clone(),
            cc: join(&item.email.cc),
            bcc: join(&item.email.bcc),
            // The account's own signature, when set, was added by outpost;
            // Smartlead's mailbox signature would then be a second one.
            add_signature: Some(self.engine.settings().signature(&item.account).is_none()),
        };
        match account
            .client
            .reply_email_thread(CampaignId(reply.campaign_id), &request)
            .await
        {
            Ok(_) => Outcome::Sent {
                provider_id: None,
                thread_id: None,
            },
            Err(SmartleadError::RateLimited { .. }) => {
                Outcome::Retry("Smartlead rate limit; the reply was not accepted yet".into())
            }
            Err(err @ SmartleadError::Unreachable(_)) => Outcome::Retry(err.to_string()),
            // It may have gone out (or, on an unreadable 2xx, did): settled
            // through the lead's history, never resent blindly.
            Err(
                err @ (SmartleadError::Server(..)
                | SmartleadError::Transport(_)
                | SmartleadError::Decode(_)),
            ) => Outcome::Unknown(format!("{err}; Smartlead may have sent it")),
            Err(err) => Outcome::Failed(err.to_string()),
        }
    }

    async fn deliver_smartlead_add(&self, item: &OutboxItem, enroll: &SmartleadEnroll) -> Outcome {
        let providers = self.engine.providers();
        let Some(account) = providers.smartlead.get(&item.account) else {
            return self.unavailable(item, "Smartlead");
        };
        if let Err(outcome) = self.ensure_smartlead_senders(item, enroll, account).await {
            return outcome;
        }
        let email = item.email.to.first().cloned().unwrap_or_default();
        let lead = self
            .engine
            .store()
            .get::<Lead>(&Lead::key_for(&item.account, &email))
            .ok()
            .flatten();
        let new_lead = NewLead {
            email: email.clone(),
            first_name: lead.as_ref().and_then(|l| l.first_name.clone()),
            last_name: lead.as_ref().and_then(|l| l.last_name.clone()),
            company_name: lead.as_ref().and_then(|l| l.company.clone()),
            phone_number: lead.as_ref().and_then(|l| l.phone.clone()),
            website: lead.as_ref().and_then(|l| l.website.clone()),
            company_url: None,
            location: lead.as_ref().and_then(|l| l.location.clone()),
            linkedin_profile: lead.as_ref().and_then(|l| l.linkedin_url.clone()),
            custom_fields: lead.map(|l| l.custom_fields).unwrap_or_default(),
        };
        match account
            .client
            .add_leads(
                CampaignId(enroll.campaign_id),
                &[new_lead],
                LeadUploadSettings::default(),
            )
            .await
        {
            Ok(summary) if summary.added_count > 0 || summary.already_added_to_campaign > 0 => {
                Outcome::Sent {
                    provider_id: None,
                    thread_id: None,
                }
            }
            Ok(summary) => Outcome::Failed(format!(
                "Smartlead did not add {email} (invalid: {}, blocked: {}, duplicates: {})",
                summary.invalid_email_count, summary.block_count, summary.duplicate_count
            )),
            Err(
                err @ (SmartleadError::RateLimited { .. }
                | SmartleadError::Server(..)
                | SmartleadError::Transport(_)
                | SmartleadError::Unreachable(_)),
            ) => Outcome::Retry(err.to_string()),
            Err(err) => Outcome::Failed(err.to_string()),
        }
    }

    /// Sends due items every `every` until `shutdown`; each pass first
    /// reconciles what a crash or a dead replica left `sending`.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(err) = self.send_due().await {
                        tracing::error!(error = %err, "outbox pass failed");
                    }
                }
            }
        }
    }
}

/// What a sent item put in the lead's mailbox, as the timeline says it: the
/// subject, or for a lead added to a Smartlead campaign, which campaign step
/// sends (the campaign's own copy, not the sequence step's text).
fn what_was_sent(store: &crate::store::Store, item: &OutboxItem) -> Result<String, StoreError> {
    let Delivery::SmartleadAddLead(add) = &item.delivery else {
        return Ok(item.email.subject.clone());
    };
    let enrollment = match &item.enrollment_id {
        Some(id) => store.get::<Enrollment>(id)?,
        None => None,
    };
    let sequence = match enrollment {
        Some(enr) => store.get::<Sequence>(&enr.sequence)?,
        None => None,
    };
    let step = sequence
        .zip(item.step)
        .and_then(|(seq, step)| crate::sequences::SmartleadStep::for_step(&seq, step));
    Ok(match step {
        Some(by) => by.sent_by,
        None => format!("sent by Smartlead campaign {}", add.campaign_id),
    })
}

/// The message an outbox item became, as its thread shows it.
fn sent_message(
    item: &OutboxItem,
    thread: &Thread,
    thread_key: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Message {
    let provider_id = match &item.provider_id {
        Some(id) if item.provider == Provider::Gmail => id.clone(),
        _ => local_copy_id(&item.id),
    };
    // A Smartlead reply settled through the lead's history knows the
    // Message-ID Smartlead gave it: the copy that sync brings back is then
    // the same message.
    let message_id = match (&item.delivery, &item.provider_id) {
        (Delivery::SmartleadReply(_), Some(id)) if id.starts_with('<') => id.clone(),
        _ => item.message_id.clone(),
    };
    Message {
        account: thread.account.clone(),
        provider_id,
        thread_key: thread_key.to_string(),
        direction: Direction::Outbound,
        message_id: Some(message_id),
        in_reply_to: item.email.in_reply_to.clone(),
        references: item.email.references.clone(),
        from: Address::new(item.email.from.clone()),
        to: item.email.to.iter().map(Address::new).collect(),
        cc: item.email.cc.iter().map(Address::new).collect(),
        subject: item.email.subject.clone(),
        date: now,
        text_body: item.email.text_body.clone(),
        html_body: item.email.html_body.clone(),
        attachments: item
            .email
            .attachments
            .iter()
            .map(|a| crate::model::Attachment {
                filename: a.filename.clone(),
                mime_type: a.mime_type.clone(),
                size: a.data.len() as u64,
            })
            .collect(),
        read: true,
        labels: vec!["SENT".into()],
        smartlead: None,
    }
}

/// Records the conversation a first email started, so follow-ups thread.
fn note_thread(item: &mut OutboxItem, thread_id: Option<String>) {
    let Some(thread_id) = thread_id else {
        return;
    };
    if let Delivery::GmailSend { thread_id: known } = &mut item.delivery {
        if known.is_none() {
            *known = Some(thread_id.clone());
        }
        if item.thread_key.is_none() {
            item.thread_key = Some(Thread::key_for(&item.account, &thread_id));
        }
    }
}

fn command_to_store(err: crate::engine::CommandError) -> StoreError {
    match err {
        crate::engine::CommandError::Store(e) => e,
        other => StoreError::Io {
            path: Default::default(),
            detail: other.to_string(),
        },
    }
}

/// Plain text as simple HTML paragraphs, escaped.
pub fn text_to_html(text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape(p.trim()).replace('\n', "<br>")))
        .collect::<Vec<_>>()
        .join("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour_and_span_hours_in_all() {
        let waits: Vec<i64> = (1..MAX_ATTEMPTS)
            .map(|n| retry_backoff(n).num_seconds())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        let total: i64 = waits.iter().sum();
        assert!((3 * 3600 - 600..3 * 3600 + 600).contains(&total), "{total}");
        assert_eq!(retry_backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn text_becomes_escaped_paragraphs() {
        assert_eq!(
            text_to_html("Hi <Dana>,\nthanks.\n\nBest"),
            "<p>Hi &lt;Dana&gt;,<br>thanks.</p><p>Best</p>"
        );
    }
}
