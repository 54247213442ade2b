//! Supervised long-running tasks: a panic is logged and the task started
//! again, so one bug hit by one request does not leave ingestion or paging
//! dead while the process looks alive. A task that keeps panicking is given
//! up on, and the default for that is to exit the process non-zero, so that
//! systemd or Kubernetes restarts Tocsin as a whole.
//!
//! It lives in the store crate because the group-commit writer is the first
//! task that needs it; the server supervises the engine with it too.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How many panics within which window a task survives.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Restarts allowed within `window`; one more panic gives up.
    pub max_restarts: usize,
    pub window: Duration,
}

impl Default for Policy {
    /// More than five panics in a minute is a loop, not bad luck.
    fn default() -> Self {
        Self { max_restarts: 5, window: Duration::from_secs(60) }
    }
}

/// What to do when a task panics more often than its policy allows.
#[derive(Clone)]
pub struct GiveUp(Arc<dyn Fn(&'static str) + Send + Sync>);

impl GiveUp {
    /// Exits the process with status 70 (EX_SOFTWARE) after logging why, so
    /// that the service manager starts a fresh Tocsin. Every answer already
    /// sent was committed, so nothing acknowledged is lost.
    pub fn exit_process() -> Self {
        Self(Arc::new(|task| {
            tracing::error!(task, "a supervised task keeps panicking; exiting so the service manager restarts Tocsin");
            std::process::exit(70);
        }))
    }

    /// Calls `f` with the task's name instead (tests, or a caller that has
    /// its own way to stop).
    pub fn call(f: impl Fn(&'static str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

const RUNNING: u8 = 0;
const RESTARTING: u8 = 1;
const FINISHED: u8 = 2;
const GAVE_UP: u8 = 3;

/// Whether a supervised task is running now, for readiness checks.
#[derive(Clone, Debug)]
pub struct TaskStatus(Arc<AtomicU8>);

impl TaskStatus {
    fn new() -> Self {
        Self(Arc::new(AtomicU8::new(RUNNING)))
    }

    /// `None` while the task runs (or finished because it was told to stop);
    /// otherwise why it does not.
    pub fn problem(&self) -> Option<&'static str> {
        match self.0.load(Ordering::Acquire) {
            RESTARTING => Some("restarting after a panic"),
            GAVE_UP => Some("stopped after panicking too often"),
            _ => None,
        }
    }

    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Release);
    }
}

/// Runs `make()` as a task and starts it again whenever it panics. The
/// returned handle finishes when the task returns normally (it was told to
/// stop) or after the supervisor gave up.
pub fn supervise<F, Fut>(
    task: &'static str,
    policy: Policy,
    give_up: GiveUp,
    mut make: F,
) -> (JoinHandle<()>, TaskStatus)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let status = TaskStatus::new();
    let shown = status.clone();
    metrics::gauge!("tocsin_component_up", "component" => task).set(1.0);
    let handle = tokio::spawn(async move {
        let mut panics: VecDeque<Instant> = VecDeque::new();
        loop {
            status.set(RUNNING);
            metrics::gauge!("tocsin_component_up", "component" => task).set(1.0);
            let joined = tokio::spawn(make()).await;
            let err = match joined {
                Ok(()) => {
                    status.set(FINISHED);
                    return;
                }
                Err(err) if err.is_panic() => err,
                Err(_) => {
                    // Cancelled: the runtime is shutting down.
                    status.set(FINISHED);
                    return;
                }
            };
            status.set(RESTARTING);
            metrics::gauge!("tocsin_component_up", "component" => task).set(0.0);
            let message = panic_message(err.into_panic());
            let now = Instant::now();
            panics.push_back(now);
            while panics.front().is_some_and(|t| now.duration_since(*t) > policy.window) {
                panics.pop_front();
            }
            if panics.len() > policy.max_restarts {
                tracing::error!(
                    task,
                    panic = %message,
                    panics = panics.len(),
                    window_secs = policy.window.as_secs(),
                    "task panicked too often; giving up"
                );
                status.set(GAVE_UP);
                (give_up.0)(task);
                return;
            }
            tracing::error!(task, panic = %message, "task panicked; restarting it");
            metrics::counter!("tocsin_task_restarts_total", "task" => task).increment(1);
        }
    });
    (handle, shown)
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "(not a string)".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn a_panicking_task_is_restarted_and_keeps_its_state_outside() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let gave_up = Arc::new(AtomicUsize::new(0));
        let seen = gave_up.clone();
        let (handle, status) = supervise(
            "test_restart",
            Policy::default(),
            GiveUp::call(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            }),
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 3 {
                        panic!("run {n} fails");
                    }
                }
            },
        );
        handle.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 4, "three panics, then a run that returns");
        assert_eq!(gave_up.load(Ordering::SeqCst), 0);
        assert_eq!(status.problem(), None);
    }

    #[tokio::test]
    async fn a_task_that_keeps_panicking_is_given_up() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let gave_up = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = gave_up.clone();
        let policy = Policy { max_restarts: 5, window: Duration::from_secs(60) };
        let (handle, status) =
            supervise("test_give_up", policy, GiveUp::call(move |task| seen.lock().unwrap().push(task)), move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { panic!("always") }
            });
        handle.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 6, "five restarts are allowed, the sixth panic gives up");
        assert_eq!(*gave_up.lock().unwrap(), vec!["test_give_up"]);
        assert_eq!(status.problem(), Some("stopped after panicking too often"));
    }

    #[tokio::test]
    async fn panics_outside_the_window_are_forgiven() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let policy = Policy { max_restarts: 1, window: Duration::from_millis(20) };
        let (handle, _status) =
            supervise("test_window", policy, GiveUp::call(|task| panic!("{task} should not be given up")), move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 4 {
                        // Each panic comes after the previous one left the window.
                        tokio::time::sleep(Duration::from_millis(40)).await;
                        panic!("run {n} fails");
                    }
                }
            });
        handle.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 5);
    }
}
