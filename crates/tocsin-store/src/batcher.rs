//! Group commit: ingestion requests that arrive while a transaction is being
//! committed wait in a queue and are written together in the next one, so a
//! single fsync acknowledges many requests.
//!
//! The writer task is supervised: after a panic it starts again on the same
//! queue, so requests waiting are still written; the requests whose commit
//! was under way are answered with an error (503, retry) when their reply
//! is dropped.

use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::supervise::{GiveUp, Policy, TaskStatus, supervise};
use crate::{IngestBatch, IngestOutcome, Result, StoreError};

/// Upper bound on events folded into one transaction, so one commit never
/// holds the write lock for long.
const MAX_EVENTS_PER_COMMIT: usize = 4096;
const QUEUE_DEPTH: usize = 4096;

/// Writes several batches in one transaction, all or nothing.
#[async_trait]
pub(crate) trait BatchWriter: Send + Sync + 'static {
    async fn write(&self, batches: &[&IngestBatch]) -> Result<Vec<Vec<IngestOutcome>>>;
}

struct Job {
    batch: IngestBatch,
    reply: oneshot::Sender<Result<Vec<IngestOutcome>>>,
}

pub(crate) struct Batcher {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    status: TaskStatus,
}

/// The queue outlives each run of the writer task, so a restart after a
/// panic picks up where the last run stopped.
type Queue = Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>;

impl Batcher {
    pub fn start(writer: Arc<dyn BatchWriter>) -> Self {
        Self::start_supervised(writer, GiveUp::exit_process())
    }

    pub fn start_supervised(writer: Arc<dyn BatchWriter>, give_up: GiveUp) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let rx: Queue = Arc::new(tokio::sync::Mutex::new(rx));
        let (task, status) =
            supervise("ingest_writer", Policy::default(), give_up, move || run(writer.clone(), rx.clone()));
        Self { queue: Mutex::new(Some(tx)), task: Mutex::new(Some(task)), status }
    }

    /// Whether the writer task runs (see [`TaskStatus::problem`]).
    pub fn status(&self) -> &TaskStatus {
        &self.status
    }

    /// Queues `batch` and waits until it is committed (or failed).
    pub async fn submit(&self, batch: IngestBatch) -> Result<Vec<IngestOutcome>> {
        let sender = self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let sender = sender.ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender.send(Job { batch, reply }).await.map_err(|_| StoreError::Closed)?;
        // A dropped reply: the writer panicked during this commit, which
        // therefore did not happen.
        answer.await.map_err(|_| StoreError::Unavailable("the ingest writer was interrupted; retry".into()))?
    }

    /// Stops taking new work and waits for everything queued to commit.
    pub async fn shutdown(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(writer: Arc<dyn BatchWriter>, rx: Queue) {
    let mut rx = rx.lock().await;
    while let Some(first) = rx.recv().await {
        let mut events = first.batch.events.len();
        let mut jobs = vec![first];
        while events < MAX_EVENTS_PER_COMMIT {
            match rx.try_recv() {
                Ok(job) => {
                    events += job.batch.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        commit(&*writer, jobs).await;
    }
}

async fn commit(writer: &dyn BatchWriter, jobs: Vec<Job>) {
    let batches: Vec<&IngestBatch> = jobs.iter().map(|j| &j.batch).collect();
    let started = std::time::Instant::now();
    let result = writer.write(&batches).await;
    metrics::histogram!("tocsin_store_group_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("tocsin_store_group_commit_requests").record(jobs.len() as f64);
    drop(batches);
    match result {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Err(err) if jobs.len() > 1 => {
            // One bad batch must not fail its neighbours: retry each alone.
            tracing::warn!(error = %err, batches = jobs.len(), "group commit failed; retrying batches one by one");
            for job in jobs {
                let result = writer.write(&[&job.batch]).await.map(|mut v| v.pop().unwrap_or_default());
                let _ = job.reply.send(result);
            }
        }
        Err(err) => {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(err));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::IntegrationRef;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    use tocsin_core::model::IntegrationKind;
    use tokio::sync::Notify;

    /// Panics in its first commit once released; then writes every batch.
    struct PanicsOnce {
        calls: AtomicUsize,
        entered: Notify,
        release: Notify,
    }

    #[async_trait]
    impl BatchWriter for PanicsOnce {
        async fn write(&self, batches: &[&IngestBatch]) -> Result<Vec<Vec<IngestOutcome>>> {
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                self.entered.notify_one();
                self.release.notified().await;
                panic!("writer bug");
            }
            Ok(batches.iter().map(|_| Vec::new()).collect())
        }
    }

    fn batch() -> IngestBatch {
        let origin =
            IntegrationRef { id: "i".into(), service_id: "s".into(), kind: IntegrationKind::Generic, route: None };
        IngestBatch { origin, events: Vec::new(), received_at: chrono::Utc::now(), noise: Default::default() }
    }

    #[tokio::test]
    async fn a_panic_fails_only_the_commit_under_way_and_the_queue_is_kept() {
        let writer =
            Arc::new(PanicsOnce { calls: AtomicUsize::new(0), entered: Notify::new(), release: Notify::new() });
        let batcher = Arc::new(Batcher::start_supervised(
            writer.clone(),
            GiveUp::call(|task| panic!("{task} given up after one panic")),
        ));
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.submit(batch()).await }
        });
        writer.entered.notified().await;
        // Two more wait in the queue while the first commit is under way.
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let b = batcher.clone();
                tokio::spawn(async move { b.submit(batch()).await })
            })
            .collect();
        let sender = batcher.queue.lock().unwrap().clone().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while sender.capacity() > QUEUE_DEPTH - 2 {
            assert!(Instant::now() < deadline, "the two requests never queued");
            tokio::task::yield_now().await;
        }
        drop(sender);
        writer.release.notify_one();
        match first.await.unwrap() {
            Err(StoreError::Unavailable(message)) => assert!(message.contains("interrupted"), "{message}"),
            other => panic!("the interrupted commit must fail as unavailable: {other:?}"),
        }
        for job in queued {
            assert!(job.await.unwrap().is_ok(), "a queued request is written by the restarted writer");
        }
        assert_eq!(batcher.status().problem(), None);
        assert_eq!(writer.calls.load(Ordering::SeqCst), 2, "the two queued requests share one commit");
        batcher.shutdown().await;
    }
}
