//! Group commit: ingestion requests that arrive while a transaction is being
//! committed wait in a queue and are written together in the next one, so a
//! single fsync acknowledges many requests.
//!
//! Where the writer commits without waiting for the disk (SQLite, see
//! [`crate::wal_sync`]), a syncer task beside it makes each commit durable
//! before its requests are answered; one sync covers every commit that
//! finished before it started, and the writer goes on with the next commit
//! meanwhile.
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
/// Most commits in a row the writer makes on one write connection before it
/// hands the connection back, so that other writes (the engine's paging
/// among them) wait for at most this many commits under a steady load.
const COMMITS_PER_HOLD: usize = 4;

/// Writes several batches in one transaction, all or nothing.
#[async_trait]
pub(crate) trait BatchWriter: Send + Sync + 'static {
    async fn write(&self, batches: &[&IngestBatch]) -> Result<Vec<Vec<IngestOutcome>>>;

    /// Whether a `write` that returned is durable only after [`Self::sync`].
    fn defers_sync(&self) -> bool {
        false
    }

    /// Makes every `write` that returned before this call durable.
    async fn sync(&self) -> Result<()> {
        Ok(())
    }

    /// Hands back the write connection a `write` may keep for the next one
    /// (SQLite has one, which the engine and every other write share).
    fn release_connection(&self) {}
}

type Reply = oneshot::Sender<Result<Vec<IngestOutcome>>>;
/// What one commit answers: each request's reply and its result.
type Answers = Vec<(Reply, Result<Vec<IngestOutcome>>)>;

struct Job {
    batch: IngestBatch,
    reply: Reply,
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
    let mut syncer = writer.defers_sync().then(|| Syncer::start(writer.clone()));
    let mut held = 0;
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
        let answers = commit(&*writer, jobs).await;
        held += 1;
        if held >= COMMITS_PER_HOLD || rx.is_empty() {
            writer.release_connection();
            held = 0;
        }
        match &mut syncer {
            Some(syncer) => syncer.answer_when_durable(answers),
            None => answer(answers),
        }
    }
    writer.release_connection();
    if let Some(syncer) = syncer {
        syncer.finish().await;
    }
}

fn answer(answers: Answers) {
    for (reply, result) in answers {
        let _ = reply.send(result);
    }
}

/// Answers commits once a sync made them durable.
struct Syncer {
    writer: Arc<dyn BatchWriter>,
    queue: mpsc::UnboundedSender<Answers>,
    task: JoinHandle<()>,
}

impl Syncer {
    fn start(writer: Arc<dyn BatchWriter>) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(sync_then_answer(writer.clone(), rx));
        Self { writer, queue, task }
    }

    /// Queues a commit's answers for the next sync, which starts after this
    /// call and so covers the commit.
    fn answer_when_durable(&mut self, answers: Answers) {
        if let Err(mpsc::error::SendError(answers)) = self.queue.send(answers) {
            // The syncer died (a bug): start another; it syncs before answering.
            tracing::error!("the log syncer stopped; starting it again");
            *self = Self::start(self.writer.clone());
            let _ = self.queue.send(answers);
        }
    }

    /// Waits until everything queued is answered.
    async fn finish(self) {
        drop(self.queue);
        let _ = self.task.await;
    }
}

async fn sync_then_answer(writer: Arc<dyn BatchWriter>, mut rx: mpsc::UnboundedReceiver<Answers>) {
    while let Some(mut waiting) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            waiting.extend(more);
        }
        let synced = writer.sync().await;
        metrics::histogram!("tocsin_store_wal_sync_requests").record(waiting.len() as f64);
        for (reply, result) in waiting {
            let result = match (&synced, result) {
                (Ok(()), result) => result,
                (Err(err), Ok(_)) => {
                    Err(StoreError::Unavailable(format!("the write may not have reached the disk ({err}); retry")))
                }
                (Err(_), Err(err)) => Err(err),
            };
            let _ = reply.send(result);
        }
    }
}

async fn commit(writer: &dyn BatchWriter, jobs: Vec<Job>) -> Answers {
    let batches: Vec<&IngestBatch> = jobs.iter().map(|j| &j.batch).collect();
    let started = std::time::Instant::now();
    let result = writer.write(&batches).await;
    metrics::histogram!("tocsin_store_group_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("tocsin_store_group_commit_requests").record(jobs.len() as f64);
    drop(batches);
    match result {
        Ok(outcomes) => jobs.into_iter().zip(outcomes).map(|(job, outcome)| (job.reply, Ok(outcome))).collect(),
        Err(err) if jobs.len() > 1 => {
            // One bad batch must not fail its neighbours: retry each alone.
            tracing::warn!(error = %err, batches = jobs.len(), "group commit failed; retrying batches one by one");
            let mut answers = Vec::with_capacity(jobs.len());
            for job in jobs {
                let result = writer.write(&[&job.batch]).await.map(|mut v| v.pop().unwrap_or_default());
                answers.push((job.reply, result));
            }
            answers
        }
        Err(err) => jobs.into_iter().next().map(|job| (job.reply, Err(err))).into_iter().collect(),
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

    /// Commits at once, and makes them durable only when a test lets a sync
    /// through; the first sync fails.
    struct SyncsLater {
        syncs: AtomicUsize,
        sync_entered: Notify,
        sync_release: Notify,
    }

    #[async_trait]
    impl BatchWriter for SyncsLater {
        async fn write(&self, batches: &[&IngestBatch]) -> Result<Vec<Vec<IngestOutcome>>> {
            Ok(batches.iter().map(|_| Vec::new()).collect())
        }

        fn defers_sync(&self) -> bool {
            true
        }

        async fn sync(&self) -> Result<()> {
            self.sync_entered.notify_one();
            self.sync_release.notified().await;
            match self.syncs.fetch_add(1, Ordering::SeqCst) {
                0 => Err(StoreError::Unavailable("EIO".into())),
                _ => Ok(()),
            }
        }
    }

    #[tokio::test]
    async fn a_commit_is_answered_only_after_a_sync_and_a_failed_sync_fails_it() {
        let writer = Arc::new(SyncsLater {
            syncs: AtomicUsize::new(0),
            sync_entered: Notify::new(),
            sync_release: Notify::new(),
        });
        let batcher = Arc::new(Batcher::start_supervised(writer.clone(), GiveUp::call(|task| panic!("{task} died"))));
        let submit = |b: &Arc<Batcher>| {
            let b = b.clone();
            tokio::spawn(async move { b.submit(batch()).await })
        };
        let first = submit(&batcher);
        writer.sync_entered.notified().await;
        tokio::task::yield_now().await;
        assert!(!first.is_finished(), "committed but not yet synced: no answer");
        writer.sync_release.notify_one();
        match first.await.unwrap() {
            Err(StoreError::Unavailable(message)) => {
                assert!(message.contains("may not have reached the disk"), "{message}")
            }
            other => panic!("a failed sync must fail the commit it covers: {other:?}"),
        }
        let second = submit(&batcher);
        writer.sync_entered.notified().await;
        writer.sync_release.notify_one();
        assert!(second.await.unwrap().is_ok(), "a synced commit is answered with its outcome");
        assert_eq!(writer.syncs.load(Ordering::SeqCst), 2);
        batcher.shutdown().await;
    }
}
