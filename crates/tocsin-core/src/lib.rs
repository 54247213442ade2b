//! The Tocsin domain: types, state machines and rules, pure and synchronous.
//!
//! Nothing here performs IO, spawns tasks or reads the wall clock: time comes in
//! through [`clock::Clock`] or as an argument, so every rule is testable in
//! milliseconds with hand-picked instants.

pub mod access;
pub mod alert;
pub mod audit;
pub mod auth;
pub mod catalog_diff;
pub mod clock;
pub mod dedup;
pub mod directory;
pub mod duration;
pub mod error;
pub mod escalation;
pub mod event;
pub mod fingerprint;
pub mod flapping;
pub mod grouping;
pub mod heartbeat;
pub mod holdback;
pub mod ical;
pub mod incident;
pub mod inhibit;
pub mod intake;
pub mod login_throttle;
pub mod maintenance;
pub mod matchers;
pub mod model;
pub mod noise;
pub mod notify;
pub mod oncall;
pub mod paging;
pub mod password;
pub mod ratelimit;
pub mod retention;
pub mod routing;
pub mod schedule;
pub mod secret_box;
pub mod session;
pub mod silence;
pub mod storm;
pub mod timeline;
pub mod work;

pub use error::CoreError;
