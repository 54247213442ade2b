//! The optional listener for health checks and metrics (`--health-listen`):
//! `/healthz`, `/readyz` and `/metrics` only, plain HTTP, served by a thread
//! and a runtime of its own.
//!
//! The main listener keeps answering health checks under load too: slow
//! clients cannot hold all its connections (see [`crate::connections`]) and
//! health requests pass no request limit. But a flood of real work keeps
//! its runtime busy, and a probe then waits its turn behind hundreds of
//! busy connections, more so when other processes compete for the CPU. A
//! thread that only ever serves probes is idle between them, so the
//! operating system runs it as soon as one arrives: an orchestrator pointed
//! here sees how the process is, not how long its queue is. `/readyz` still
//! asks the database, through the same pool the server uses.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::time::Duration;

use crate::connections::{ConnectionLimits, Gate, accept_error_handler};

/// Connections the health listener holds at once: probes and a scraper need
/// few, and at the cap the oldest idle one makes room.
pub const HEALTH_CONNECTIONS: usize = 32;

/// A running health listener.
pub struct HealthListener {
    pub addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

/// Serves `router` on `listener` from a thread of its own, with at most
/// [`HEALTH_CONNECTIONS`] connections and `limits`' timeouts.
pub fn start(
    listener: std::net::TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
) -> Result<HealthListener> {
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::<SocketAddr>::new();
    let serving = handle.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the health listener's runtime")?;
    let limits = ConnectionLimits { max_connections: HEALTH_CONNECTIONS, ..limits };
    let thread = std::thread::Builder::new()
        .name("tocsin-health".into())
        .spawn(move || {
            runtime.block_on(async move {
                let gate = Gate::start("health", limits);
                axum_server::from_tcp(listener)?
                    .handle(serving)
                    .accept_error_handler(accept_error_handler("health"))
                    .acceptor(gate)
                    .serve(router.into_make_service())
                    .await
            })
        })
        .context("cannot start the health listener's thread")?;
    Ok(HealthListener { addr, handle, thread: Some(thread) })
}

/// A listener dropped without [`HealthListener::stop`] (a start that failed
/// later) stops at once.
impl Drop for HealthListener {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

impl HealthListener {
    /// Stops accepting, lets open probes finish (briefly) and ends the thread.
    pub async fn stop(mut self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        if let Some(thread) = self.thread.take() {
            match tokio::task::spawn_blocking(move || thread.join()).await {
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the health listener failed"),
                Ok(Err(_)) => tracing::error!("the health listener's thread panicked"),
                _ => {}
            }
        }
    }
}
