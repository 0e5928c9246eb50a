//! The background work every interactive or headless face runs beside the
//! engine: sync pollers, the outbox worker, the sequence scheduler, and the
//! snooze and reminder timers, the notify hook, and the retry of
//! unsubscribes Smartlead has not taken yet. None of it runs on the UI task.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::engine::Engine;
use crate::outbox::OutboxWorker;
use crate::sequences::{Scheduler, SchedulerConfig};
use crate::sync::SyncEngine;

/// The same services for every face: the TUI and the daemon differ in what
/// they serve, never in what runs behind them.
pub struct Services {
    pub sync: SyncEngine,
    pub scheduler: Scheduler,
    pub shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Services {
    /// Starts every background service on the current runtime.
    pub fn start(
        engine: &Engine,
        config: &Config,
    ) -> Result<Services, crate::sequences::SequenceError> {
        Self::start_observed(engine, config, |_| {})
    }

    /// [`Services::start`], reporting how long each scheduler tick took
    /// (the daemon's `/metrics`).
    pub fn start_observed(
        engine: &Engine,
        config: &Config,
        on_tick: impl Fn(std::time::Duration) + Send + 'static,
    ) -> Result<Services, crate::sequences::SequenceError> {
        let shutdown = CancellationToken::new();
        let sync = SyncEngine::new(engine.clone());
        let mut scheduler_config = SchedulerConfig::from_config(config)?;
        if let Some(every) = config.daemon.work_interval {
            scheduler_config.tick_every = every;
        }
        let scheduler = engine.scheduler(scheduler_config);
        let outbox_every = config
            .daemon
            .work_interval
            .unwrap_or(crate::outbox::DEFAULT_PASS_EVERY);
        let tasks = vec![
            tokio::spawn(sync.clone().run_pollers(shutdown.clone())),
            tokio::spawn(OutboxWorker::new(engine.clone()).run(outbox_every, shutdown.clone())),
            tokio::spawn(scheduler.clone().run_observed(
                engine.clock().clone(),
                shutdown.clone(),
                on_tick,
            )),
            tokio::spawn(push_read_marks(engine.clone(), shutdown.clone())),
            tokio::spawn(crate::triage::timers::run(
                engine.clone(),
                config.notify.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(crate::notify::run(
                engine.clone(),
                config.notify.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(retry_unsubscribes(engine.clone(), shutdown.clone())),
        ];
        Ok(Services {
            sync,
            scheduler,
            shutdown,
            tasks,
        })
    }

    /// Asks every service to stop and gives in-flight work a grace period;
    /// what is still running after it is aborted (every write is atomic and
    /// every sync resumable, and an interrupted send is reconciled on the
    /// next start).
    pub async fn stop(self, grace: std::time::Duration) {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

/// How often waiting unsubscribes are looked at; each has its own due
/// time (on the engine's clock), so most looks send nothing.
const UNSUBSCRIBE_RETRY_TICK: std::time::Duration = std::time::Duration::from_secs(60);

/// Passes on unsubscribes Smartlead did not take when they were made, the
/// ones left from an earlier session first.
async fn retry_unsubscribes(engine: Engine, shutdown: CancellationToken) {
    loop {
        engine.retry_pending_unsubscribes().await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(UNSUBSCRIBE_RETRY_TICK) => {}
        }
    }
}

/// Takes the rep's read and unread marks to Gmail as they are made (each
/// sync pass also pushes what is waiting, so a failure here only delays).
async fn push_read_marks(engine: Engine, shutdown: CancellationToken) {
    use crate::store::{Change, Kind, Op};
    let mut feed = engine.subscribe();
    // Marks left from an earlier session first.
    crate::sync::read_state::push_all(&engine).await;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = feed.recv() => event,
        };
        match event {
            Ok(Change::Record {
                kind: Kind::ReadChange,
                op: Op::Put,
                ..
            })
            | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                // One push for a burst (a conversation marks several).
                while feed.try_recv().is_ok() {}
                crate::sync::read_state::push_all(&engine).await;
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
