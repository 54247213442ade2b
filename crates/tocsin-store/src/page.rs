//! Result pages, shared by every list that pages.

use serde::Serialize;

/// A page of results, newest first. `next_cursor` is opaque to clients.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub const MAX_PAGE: i64 = 500;
pub const DEFAULT_PAGE: i64 = 50;

/// Encodes and decodes page cursors. Cursors are opaque strings so the
/// scheme can change without breaking clients.
pub mod cursor {
    pub fn encode(id: i64) -> String {
        format!("b{id}")
    }

    pub fn decode(s: &str) -> Option<i64> {
        s.strip_prefix('b')?.parse().ok().filter(|id: &i64| *id > 0)
    }
}
