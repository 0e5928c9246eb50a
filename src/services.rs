//! The background work every interactive or headless face runs beside the
//! engine: sync pollers, the outbox worker and the sequence scheduler. None of
//! it runs on the UI task.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::outbox::OutboxWorker;
use crate::sync::SyncEngine;

pub struct Services {
    pub sync: SyncEngine,
    pub shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Services {
    /// Starts every background service on the current runtime.
    pub fn start(engine: &Engine) -> Services {
        let shutdown = CancellationToken::new();
        let sync = SyncEngine::new(engine.clone());
        let tasks = vec![
            tokio::spawn(sync.clone().run_pollers(shutdown.clone())),
            tokio::spawn(OutboxWorker::new(engine.clone()).run(shutdown.clone())),
        ];
        Services {
            sync,
            shutdown,
            tasks,
        }
    }

    /// Asks every service to stop and waits for them (in-flight work finishes).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
