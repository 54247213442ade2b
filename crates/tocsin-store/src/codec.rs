//! Conversions between domain values and their stored columns.

use chrono::{DateTime, Utc};

use crate::StoreError;

/// Instants are stored as microseconds since the Unix epoch.
pub fn to_us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_us(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

pub fn opt_from_us(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(from_us).transpose()
}

pub fn json_from<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub fn json_to<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain data (maps of strings, JSON values, links) cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

pub fn parse_enum<T>(column: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("{column}: unknown value {value:?}")))
}
