//! Instants in request bodies: RFC 3339 only (no other layouts chrono would
//! take), with an error message a person can act on.

use chrono::{DateTime, Utc};
use serde::de::Error;
use serde::{Deserialize, Deserializer};

pub(crate) fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| D::Error::custom("must be an RFC 3339 timestamp such as 2026-01-31T09:00:00Z"))
}
