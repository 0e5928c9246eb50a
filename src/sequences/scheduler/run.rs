//! Running the scheduler: ticks on a timer, webhook steps delivered with retries.

use tokio_util::sync::CancellationToken;

use super::{Scheduler, WebhookJob};
use crate::clock::SharedClock;

impl Scheduler {
    /// Ticks until `shutdown`: at the next due time or every few seconds,
    /// whichever is sooner; delivers webhook steps with retries.
    pub async fn run(self, clock: SharedClock, shutdown: CancellationToken) {
        self.run_observed(clock, shutdown, |_| {}).await
    }

    /// `run`, reporting how long each tick took (the daemon's `/metrics`).
    /// The tick reads and writes the store, so it runs off the async workers.
    pub async fn run_observed(
        self,
        clock: SharedClock,
        shutdown: CancellationToken,
        on_tick: impl Fn(std::time::Duration) + Send,
    ) {
        let client = webhook_client();
        loop {
            let mut pause = self.config.tick_every;
            let started = std::time::Instant::now();
            let ticked = {
                let scheduler = self.clone();
                let now = clock.now();
                tokio::task::spawn_blocking(move || scheduler.tick(now)).await
            };
            on_tick(started.elapsed());
            match ticked {
                Ok(Ok(report)) => {
                    if report.more {
                        pause = std::time::Duration::ZERO;
                    }
                    self.deliver_webhooks(&client, &report.webhooks, &clock, &shutdown)
                        .await;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "sequence tick failed"),
                Err(e) => tracing::error!(error = %e, "sequence tick stopped"),
            }
            if let Ok(Some(next)) = self.next_due_at() {
                let until = (next - clock.now()).to_std().unwrap_or_default();
                pause = pause.min(until);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause.max(std::time::Duration::from_millis(50))) => {}
            }
        }
    }
}

/// The HTTP client webhook steps are delivered with.
pub fn webhook_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap_or_default()
}

impl Scheduler {
    /// Delivers a tick's webhook steps (with retries) and records each outcome.
    pub async fn deliver_webhooks(
        &self,
        client: &reqwest::Client,
        jobs: &[WebhookJob],
        clock: &SharedClock,
        shutdown: &CancellationToken,
    ) {
        for job in jobs {
            let (result, attempts) = deliver_webhook(client, job, shutdown).await;
            if let Err(e) = self.finish_webhook(job, result, attempts, clock.now()) {
                tracing::warn!(error = %e, "cannot record a webhook step");
            }
        }
    }
}

/// POSTs a webhook body, retrying 5xx and network errors with backoff.
/// Stops retrying once `shutdown` is cancelled, so a stop is never held up.
async fn deliver_webhook(
    client: &reqwest::Client,
    job: &WebhookJob,
    shutdown: &CancellationToken,
) -> (Result<(), String>, u32) {
    let mut attempts = 0;
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        attempts += 1;
        let outcome = client.post(&job.url).json(&job.body).send().await;
        let retryable = match outcome {
            Ok(resp) if resp.status().is_success() => return (Ok(()), attempts),
            Ok(resp) => {
                let status = resp.status();
                if !(status.is_server_error() || status.as_u16() == 429) {
                    return (Err(format!("the webhook answered {status}")), attempts);
                }
                format!("the webhook answered {status}")
            }
            Err(e) => format!("cannot reach the webhook: {}", e.without_url()),
        };
        if attempts >= 4 || shutdown.is_cancelled() {
            return (Err(retryable), attempts);
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::sequences::SchedulerConfig;
    use crate::store::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_nothing_due_it_ticks_as_often_as_configured() {
        let mut config = SchedulerConfig::new(chrono_tz::UTC);
        config.tick_every = std::time::Duration::from_millis(100);
        let scheduler = Scheduler::new(Store::temporary().unwrap(), config);
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        let ticks = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let counted = ticks.clone();
        let running = tokio::spawn(scheduler.run_observed(clock, shutdown.clone(), move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        // The default wait (5 s) would allow one tick by the deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while ticks.load(Ordering::SeqCst) < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "ticked {} times",
                ticks.load(Ordering::SeqCst)
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        shutdown.cancel();
        running.await.unwrap();
    }
}
