//! A thread of its own for one stage of the webhook writer, at the lowest
//! priority.
//!
//! When a burst outruns the stages, a request only parses, checks and
//! queues its delivery (see the ingest module); the stages apply the queue
//! afterwards. Run at the same priority, stages that cannot keep up take
//! the cores the requests need to be answered, so the burst is answered
//! more slowly and Smartlead times out and resends (more work). At nice 19
//! (Linux) the requests are answered first and the stages use every cycle
//! they leave, which on an idle machine is all of them. (With
//! `scripts/webhook-load.sh` on two cores, nice 10 answered 11.3k replies/s
//! over 4,096 leads and 6.8k/s in the third round into one conversation;
//! nice 19 12.5k/s and 9.9k/s.)

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

type Task = Box<dyn FnOnce() + Send>;

/// How far below normal priority the stage threads run (Linux `nice`).
const NICE: i32 = 19;

pub struct StageThread {
    tasks: mpsc::Sender<Task>,
}

impl StageThread {
    pub fn spawn(name: &str) -> StageThread {
        let (tasks, queue) = mpsc::channel::<Task>();
        thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                lower_priority();
                for task in queue {
                    // A panicking task fails only its own batch (its answer
                    // channel is dropped); the stage keeps running.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(task));
                }
            })
            .expect("the OS starts a thread");
        StageThread { tasks }
    }

    /// Runs `work` on the stage's thread; None if it panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = oneshot::channel();
        let task: Task = Box::new(move || {
            let _ = done.send(work());
        });
        self.tasks.send(task).ok()?;
        result.await.ok()
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux `nice` is per thread: PRIO_PROCESS with this thread's id.
    // SAFETY: plain syscalls on the calling thread, no memory handed over.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICE)
    };
    if result != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "the webhook writer runs at normal priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {
    // Elsewhere the priority is per process; the stage keeps the process's.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_stage_thread_and_a_panic_fails_only_its_own_task() {
        let stage = StageThread::spawn("test-stage");
        let name = stage
            .run(|| thread::current().name().map(str::to_string))
            .await;
        assert_eq!(name, Some(Some("test-stage".to_string())));
        let panicked: Option<()> = stage.run(|| panic!("a bad batch")).await;
        assert_eq!(panicked, None);
        assert_eq!(stage.run(|| 2 + 2).await, Some(4));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_stage_thread_runs_below_normal_priority() {
        let stage = StageThread::spawn("test-nice");
        let nice = stage
            .run(|| unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::getpriority(libc::PRIO_PROCESS, tid)
            })
            .await
            .expect("ran");
        let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert_eq!(nice, (ours + NICE).min(19));
    }
}
