//! Group commit: ingestion requests that arrive while a transaction is being
//! committed wait in a queue and are written together in the next one, so a
//! single fsync acknowledges many requests.

use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

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
}

impl Batcher {
    pub fn start(writer: Arc<dyn BatchWriter>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(run(writer, rx));
        Self { queue: Mutex::new(Some(tx)), task: Mutex::new(Some(task)) }
    }

    /// Queues `batch` and waits until it is committed (or failed).
    pub async fn submit(&self, batch: IngestBatch) -> Result<Vec<IngestOutcome>> {
        let sender = self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let sender = sender.ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender.send(Job { batch, reply }).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
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

async fn run(writer: Arc<dyn BatchWriter>, mut rx: mpsc::Receiver<Job>) {
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
