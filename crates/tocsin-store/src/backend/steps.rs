//! Group commit for engine steps: deliveries finish many at a time (up to
//! 64 in flight), and each used to commit its outcome alone. Steps that wait
//! together share one transaction; should it fail, each is written again
//! alone, so one step's conflict never fails its neighbours.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Pool;
use tokio::sync::{Notify, mpsc, oneshot};

use super::paging::write_step;
use super::{Db, begin_relaxed};
use crate::{EngineStep, Result, StoreError};

/// Most steps one transaction takes.
const STEPS_PER_COMMIT: usize = 128;

type Job = (EngineStep, oneshot::Sender<Result<()>>);

/// Writes engine steps, several to a transaction when they arrive together.
pub(super) struct Steps {
    queue: mpsc::UnboundedSender<Job>,
    writer: Arc<StepWriter>,
}

pub(super) struct StepWriter {
    write: Pool<Db>,
    signal: Arc<Notify>,
    /// Steps that completed an outbox item (`OutboxStore::outbox_writes`).
    pub(super) outbox_writes: Arc<AtomicU64>,
}

impl Steps {
    /// Starts the writer task; its handle is for the store to stop at close.
    pub(super) fn start(
        write: Pool<Db>,
        signal: Arc<Notify>,
        outbox_writes: Arc<AtomicU64>,
    ) -> (Self, tokio::task::AbortHandle) {
        let writer = Arc::new(StepWriter { write, signal, outbox_writes });
        let (queue, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(writer.clone(), rx));
        (Self { queue, writer }, task.abort_handle())
    }

    /// Writes `step` with whatever other steps are waiting, and returns once
    /// it is committed (or failed on its own).
    pub(super) async fn apply(&self, step: &EngineStep) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((step, _))) = self.queue.send((step.clone(), reply)) {
            // The writer task is gone (the store is closing): write alone.
            return self.writer.write(&[&step]).await;
        }
        answer.await.map_err(|_| StoreError::Unavailable("the step writer stopped; retry".into()))?
    }
}

impl StepWriter {
    async fn write(&self, steps: &[&EngineStep]) -> Result<()> {
        let mut w = begin_relaxed(&self.write).await?;
        for step in steps {
            write_step(&mut w, step).await?;
        }
        w.commit(&self.signal).await?;
        let completed = steps.iter().filter(|s| s.complete.is_some()).count();
        self.outbox_writes.fetch_add(completed as u64, Ordering::Relaxed);
        Ok(())
    }
}

async fn run(writer: Arc<StepWriter>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < STEPS_PER_COMMIT {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!("tocsin_engine_steps_per_commit").record(jobs.len() as f64);
        let steps: Vec<&EngineStep> = jobs.iter().map(|(s, _)| s).collect();
        let together = writer.write(&steps).await;
        drop(steps);
        match together {
            Ok(()) => {
                for (_, reply) in jobs {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(err) if jobs.len() == 1 => {
                if let Some((_, reply)) = jobs.into_iter().next() {
                    let _ = reply.send(Err(err));
                }
            }
            Err(_) => {
                for (step, reply) in jobs {
                    let _ = reply.send(writer.write(&[&step]).await);
                }
            }
        }
    }
}
