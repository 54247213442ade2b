//! How single values are written: ids, emails, integration keys, URLs,
//! zones, instants, local times, weekdays and turns. Each check returns the
//! `Problem` that names what was expected; `validate` puts it in place.

use chrono::{DateTime, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use tocsin_core::duration::{DurationError, parse_duration};
use tocsin_core::model::IntegrationKind;
use tocsin_core::schedule::Turn;

use crate::error::Problem;

/// Longest id, in characters.
pub(crate) const ID_MAX_CHARS: usize = 64;

pub(crate) fn parse_zone(zone: &str) -> Result<Tz, Problem> {
    zone.parse().map_err(|_| Problem::UnknownZone { zone: zone.to_owned() })
}

/// True when `text` has `shape`'s length and a digit wherever `shape` has
/// `d`, and the same character elsewhere.
pub(crate) fn has_shape(text: &str, shape: &str) -> bool {
    text.len() == shape.len()
        && text.bytes().zip(shape.bytes()).all(|(t, s)| if s == b'd' { t.is_ascii_digit() } else { t == s })
}

/// `2026-03-02T09:00:00` (or without seconds): a wall time, no offset.
pub(crate) fn parse_local_datetime(text: &str) -> Result<NaiveDateTime, Problem> {
    let format = if has_shape(text, "dddd-dd-ddTdd:dd:dd") {
        Some("%Y-%m-%dT%H:%M:%S")
    } else if has_shape(text, "dddd-dd-ddTdd:dd") {
        Some("%Y-%m-%dT%H:%M")
    } else {
        None
    };
    format
        .and_then(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .filter(|datetime| datetime.nanosecond() == 0)
        .ok_or_else(|| Problem::LocalDateTime { found: text.to_owned() })
}

/// An RFC 3339 instant with its offset, such as `2026-03-06T18:00:00Z`.
pub(crate) fn parse_instant(text: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|_| Problem::Instant { found: text.to_owned() })
}

/// `09:00` or `09:00:30`, two digits each.
pub(crate) fn time_of_day(text: &str) -> Option<NaiveTime> {
    let format = if has_shape(text, "dd:dd") {
        "%H:%M"
    } else if has_shape(text, "dd:dd:dd") {
        "%H:%M:%S"
    } else {
        return None;
    };
    NaiveTime::parse_from_str(text, format).ok().filter(|time| time.nanosecond() == 0)
}

pub(crate) fn parse_time_of_day(text: &str) -> Result<NaiveTime, Problem> {
    time_of_day(text).ok_or_else(|| Problem::TimeOfDay { found: text.to_owned() })
}

/// `mon 09:00`: a weekday (`mon` or `monday`, any case) and a time of day.
pub(crate) fn parse_weekday_time(text: &str) -> Result<(Weekday, NaiveTime), Problem> {
    text.split_once(' ')
        .and_then(|(day, time)| Some((day.parse::<Weekday>().ok()?, time_of_day(time)?)))
        .ok_or_else(|| Problem::WeekdayTime { found: text.to_owned() })
}

/// A turn is one amount of one unit: `12h` (absolute hours), `1d` or `1w`
/// (calendar days and weeks). The unit decides how DST is handled, so `24h`
/// and `1d` differ and are kept as written.
pub(crate) fn parse_turn(text: &str) -> Result<Turn, Problem> {
    parse_duration(text).map_err(Problem::Duration)?;
    let turn_error = || Problem::Turn { found: text.to_owned() };
    let split = text.len().checked_sub(1).ok_or_else(turn_error)?;
    let (amount, unit) = (text.get(..split).ok_or_else(turn_error)?, text.get(split..).ok_or_else(turn_error)?);
    if amount.is_empty() || !amount.bytes().all(|b| b.is_ascii_digit()) {
        return Err(turn_error());
    }
    let amount: u32 =
        amount.parse().map_err(|_| Problem::Duration(DurationError::Overflow { input: text.to_owned() }))?;
    match unit {
        "h" => Ok(Turn::Hours(amount)),
        "d" => Ok(Turn::Days(amount)),
        "w" => Ok(Turn::Weeks(amount)),
        _ => Err(turn_error()),
    }
}

/// A whole number in `min..=max`, written in decimal.
pub(crate) fn whole_number(text: &str, min: u64, max: u64) -> Result<u64, Problem> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u64>().ok())
        .flatten()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| Problem::Number { found: text.to_owned(), min, max })
}

/// `http://` or `https://` (any case) and a non-empty host; no spaces or
/// control characters anywhere.
/// Whether `host` names this machine: a password sent to it in clear never
/// crosses a network.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    !host.is_empty() && !host.starts_with(':') && !url.chars().any(|ch| ch.is_whitespace() || ch.is_control())
}

/// Ids are stable, URL- and shell-safe handles: 1–64 characters of
/// `[a-z0-9][a-z0-9_-]*`.
pub(crate) fn check_id(id: &str) -> Result<(), Problem> {
    let len = id.chars().count();
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return Err(Problem::IdEmpty);
    };
    if len > ID_MAX_CHARS {
        return Err(Problem::IdTooLong { len, max: ID_MAX_CHARS });
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(Problem::IdBadStart { id: id.to_owned() });
    }
    if let Some(ch) = chars.find(|&ch| !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')) {
        return Err(Problem::IdBadChar { id: id.to_owned(), ch });
    }
    Ok(())
}

/// `<service>-<kind>`, then `-2`, `-3` … for the second and later
/// integrations of a kind. The ordinal counts every integration of the kind,
/// explicit ids included, so giving one integration an id never renames
/// another.
pub(crate) fn default_integration_id(service_id: &str, kind: IntegrationKind, ordinal: usize) -> String {
    if ordinal <= 1 {
        format!("{service_id}-{}", kind.as_str())
    } else {
        format!("{service_id}-{}-{ordinal}", kind.as_str())
    }
}

/// Deliberately loose: exactly one `@` with something on both sides. Real
/// validation is delivering a message.
pub(crate) fn is_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    }
}

/// Keys travel in URL paths (`/integrations/alertmanager/{key}`): printable
/// ASCII, no space, no `/`.
pub(crate) fn is_key_char(ch: char) -> bool {
    ch.is_ascii_graphic() && ch != '/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules() {
        assert!(check_id("payments").is_ok());
        assert!(check_id("0-a_b").is_ok());
        assert!(check_id(&"a".repeat(64)).is_ok());
        let message = |id: &str| check_id(id).unwrap_err().to_string();
        assert_eq!(message(""), "id must not be empty");
        assert_eq!(message(&"a".repeat(65)), "id is 65 characters long; the limit is 64");
        assert_eq!(message("-a"), "id `-a` must start with a lowercase letter or a digit");
        assert_eq!(message("Pay"), "id `Pay` must start with a lowercase letter or a digit");
        assert_eq!(message("pay ments"), "id `pay ments` contains ` `; ids use only a-z, 0-9, `_` and `-`");
        assert_eq!(message("pay\nments"), "id `pay\\nments` contains `\\n`; ids use only a-z, 0-9, `_` and `-`");
    }

    #[test]
    fn email_rules() {
        assert!(is_email("alice@example.com"));
        assert!(!is_email("alice"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("alice@"));
        assert!(!is_email("a@b@c"));
    }

    #[test]
    fn default_ids_number_repeats_of_a_kind() {
        let kind = IntegrationKind::Pagerduty;
        assert_eq!(default_integration_id("checkout", kind, 1), "checkout-pagerduty");
        assert_eq!(default_integration_id("checkout", kind, 2), "checkout-pagerduty-2");
        assert_eq!(default_integration_id("checkout", kind, 3), "checkout-pagerduty-3");
    }

    #[test]
    fn key_characters() {
        assert!("am-checkout-0123456789abcdef".chars().all(is_key_char));
        assert!(!is_key_char(' '));
        assert!(!is_key_char('/'));
        assert!(!is_key_char('é'));
        assert!(!is_key_char('\t'));
    }
}
