//! Pure building blocks for notifying a person: what to send, how to sign it,
//! when to retry, which contact method is due, and when to bundle.
//!
//! The delivery channels themselves (HTTP, SMTP) live outside the domain crate;
//! everything here is a function of its arguments, so the engine's decisions can
//! be tested with hand-picked instants and random numbers:
//!
//! - [`signature`]: the `Tocsin-Signature` header on outgoing webhooks.
//! - [`ack_link`]: signed, expiring one-click acknowledgement tokens.
//! - [`backoff`]: retry policy (full jitter) and HTTP outcome classification.
//! - [`rules`]: per-user contact methods, notification rules and fall-through.
//! - [`render`]: webhook JSON, Slack blocks and email bodies, single or bundled.
//! - [`ratelimit`]: per-method sliding-window limit that bundles instead of dropping.

pub mod ack_link;
pub mod backoff;
mod mac;
pub mod ratelimit;
pub mod render;
pub mod rules;
pub mod signature;

/// Header carrying the per-notification idempotency id, so a receiver can drop
/// the duplicates that at-least-once delivery produces.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
