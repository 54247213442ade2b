//! The `tocsin` server assembly: opens the store, applies config, starts the
//! engine, the HTTP listener and retention, and shuts them down in order. The binary's
//! `serve` command and the integration tests both start servers through
//! [`serve::start`].

pub mod connections;
pub mod probes;
pub mod retention;
pub mod serve;

/// `1 incident`, `2 incidents`, `0 incidents`: a count with the word that
/// agrees with it.
pub fn plural(n: impl TryInto<i64>, one: &str, many: &str) -> String {
    let n: i64 = n.try_into().unwrap_or(i64::MAX);
    format!("{n} {}", if n == 1 { one } else { many })
}
