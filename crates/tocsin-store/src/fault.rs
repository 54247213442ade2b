//! Internal fault injection, for Tocsin's own fault tests only: makes the
//! next ingest commit or the next outbox claim of one store panic, so the
//! tests can watch the supervisor restart a real task. Nothing outside the
//! tests sets these; each is one relaxed atomic load on its path.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct FaultInjection {
    panic_ingest_commit: AtomicBool,
    panic_outbox_claim: AtomicBool,
}

impl FaultInjection {
    /// The next group commit panics (once) before it touches the database.
    pub fn panic_next_ingest_commit(&self) {
        self.panic_ingest_commit.store(true, Ordering::Relaxed);
    }

    /// The next outbox claim (the engine's) panics (once).
    pub fn panic_next_outbox_claim(&self) {
        self.panic_outbox_claim.store(true, Ordering::Relaxed);
    }

    #[allow(clippy::panic, reason = "the injected fault is a panic")]
    pub(crate) fn ingest_commit(&self) {
        if self.panic_ingest_commit.load(Ordering::Relaxed) && self.panic_ingest_commit.swap(false, Ordering::Relaxed) {
            panic!("injected fault: ingest commit");
        }
    }

    #[allow(clippy::panic, reason = "the injected fault is a panic")]
    pub(crate) fn outbox_claim(&self) {
        if self.panic_outbox_claim.load(Ordering::Relaxed) && self.panic_outbox_claim.swap(false, Ordering::Relaxed) {
            panic!("injected fault: outbox claim");
        }
    }
}
