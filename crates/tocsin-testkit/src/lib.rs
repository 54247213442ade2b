//! Real receivers on loopback for tests across the workspace: an HTTP server
//! that records requests and answers as told, and a small SMTP server that
//! keeps the mail it accepts.
//!
//! Both bind `127.0.0.1:0`, so tests run in parallel without port clashes,
//! and both wake waiters on every arrival, so tests wait for what they
//! expect instead of sleeping. Dropping a receiver stops it accepting.

mod http;
mod mime;
mod smtp;

use std::time::Duration;

pub use http::{HttpRecorder, Recorded};
pub use smtp::{ReceivedMail, SmtpSink};

/// A wait for arrivals that ran out of time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("waited {waited:?} for {wanted} arrivals, got {got}")]
pub struct WaitError {
    pub wanted: usize,
    pub got: usize,
    pub waited: Duration,
}

/// Waits until `count` reaches `n`, without polling.
async fn wait_count(
    rx: &mut tokio::sync::watch::Receiver<usize>,
    n: usize,
    timeout: Duration,
) -> Result<(), WaitError> {
    let reached = matches!(tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await, Ok(Ok(_)));
    if reached {
        return Ok(());
    }
    // A closed channel (the server is gone) counts as running out of time.
    let got = *rx.borrow();
    Err(WaitError { wanted: n, got, waited: timeout })
}
