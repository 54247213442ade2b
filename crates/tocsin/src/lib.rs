//! The `tocsin` server assembly: opens the store, applies config, starts the
//! engine and the HTTP listener, and shuts them down in order. The binary's
//! `serve` command and the integration tests both start servers through
//! [`serve::start`].

pub mod serve;
