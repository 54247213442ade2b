//! Durations as people write them in config: `30s`, `5m`, `1h`, `1d`, `1w`,
//! and compounds such as `1h30m`.
//!
//! One syntax everywhere (escalation delays, ack timeouts, rotation turns,
//! notification rules) so a value that works in one place works in all of
//! them, and so tests and small deployments can use seconds.
//!
//! The grammar is deliberately small and strict, because a typo in a paging
//! delay is worse than a rejected file:
//! - one or more `<whole number><unit>` parts, no spaces, no sign, no fractions;
//! - units `s`, `m`, `h`, `d` (24 hours) and `w` (7 days): fixed lengths, since
//!   a delay is elapsed time, not a calendar step (zones belong to schedules);
//! - units go from largest to smallest, each at most once, so `1h30h` (a
//!   likely slip for `1h30m`) is an error rather than 31 hours.
//!
//! Zero (`0s`) parses: whether zero is meaningful is the caller's rule (a
//! notification rule `after: 0s` is normal, an escalation delay of zero is
//! not). [`parse_positive_duration`] is the variant for the latter.

use chrono::Duration;
use thiserror::Error;

/// The unit list every "which unit?" message offers.
const UNITS_HINT: &str = "use s, m, h, d or w";

/// Why a duration string was rejected. Messages quote the input and say what
/// to write instead, because they end up verbatim in config errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    #[error("empty duration; write a number and a unit, for example `30s` or `5m`")]
    Empty,
    #[error("negative duration `{input}`; durations count forward, drop the `-`")]
    Negative { input: String },
    #[error("expected a number at `{rest}` in `{input}`; write for example `5m`")]
    MissingNumber { input: String, rest: String },
    #[error("missing unit after `{number}` in `{input}`; {UNITS_HINT}")]
    MissingUnit { input: String, number: String },
    #[error("unknown unit `{unit}` in `{input}`; {UNITS_HINT}")]
    UnknownUnit { input: String, unit: String },
    #[error("fractional amount in `{input}`; use whole numbers, for example `1h30m` instead of `1.5h`")]
    Fractional { input: String },
    #[error("units in `{input}` must go from largest to smallest, each at most once, for example `1h30m`")]
    UnitOrder { input: String },
    #[error("duration `{input}` is too large")]
    Overflow { input: String },
    #[error("duration must be greater than zero, got `{input}`")]
    NotPositive { input: String },
}

/// A unit's length in seconds; its place in the list is its rank (largest
/// first), which is how out-of-order compounds are caught.
const UNIT_TABLE: [(&str, i64); 5] = [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];

/// Parses a duration such as `30s`, `5m` or `1h30m` (see the module docs for
/// the grammar). Zero is accepted; see [`parse_positive_duration`].
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative { input: s.to_owned() });
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut previous_rank: Option<usize> = None;
    while !rest.is_empty() {
        let (seconds, rank, tail) = parse_part(s, rest)?;
        if previous_rank.is_some_and(|p| rank <= p) {
            return Err(DurationError::UnitOrder { input: s.to_owned() });
        }
        previous_rank = Some(rank);
        total = total.checked_add(seconds).ok_or_else(|| DurationError::Overflow { input: s.to_owned() })?;
        rest = tail;
    }
    Duration::try_seconds(total).ok_or_else(|| DurationError::Overflow { input: s.to_owned() })
}

/// Like [`parse_duration`], but zero is an error: for delays and timeouts,
/// where "after nothing" would mean "never wait" or a busy loop.
pub fn parse_positive_duration(s: &str) -> Result<Duration, DurationError> {
    let d = parse_duration(s)?;
    if d <= Duration::zero() {
        return Err(DurationError::NotPositive { input: s.to_owned() });
    }
    Ok(d)
}

/// Reads one `<number><unit>` part from the front of `rest`; returns its
/// length in seconds, the unit's rank and what follows. `input` is the whole
/// string, for messages.
fn parse_part<'a>(input: &str, rest: &'a str) -> Result<(i64, usize, &'a str), DurationError> {
    let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (number, after) = rest.split_at(digits_end);
    if number.is_empty() {
        return Err(DurationError::MissingNumber { input: input.to_owned(), rest: rest.to_owned() });
    }
    let unit_end = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
    let (unit, tail) = after.split_at(unit_end);
    if unit.is_empty() {
        return Err(DurationError::MissingUnit { input: input.to_owned(), number: number.to_owned() });
    }
    if unit.starts_with('.') {
        return Err(DurationError::Fractional { input: input.to_owned() });
    }
    let (rank, unit_seconds) =
        unit_rank(unit).ok_or_else(|| DurationError::UnknownUnit { input: input.to_owned(), unit: unit.to_owned() })?;
    let overflow = || DurationError::Overflow { input: input.to_owned() };
    // Too many digits for i64 is the same problem as a product that overflows.
    let amount: i64 = number.parse().map_err(|_| overflow())?;
    let seconds = amount.checked_mul(unit_seconds).ok_or_else(overflow)?;
    Ok((seconds, rank, tail))
}

fn unit_rank(unit: &str) -> Option<(usize, i64)> {
    UNIT_TABLE.iter().enumerate().find(|(_, (name, _))| *name == unit).map(|(rank, (_, seconds))| (rank, *seconds))
}

/// The canonical short form: largest units first, zero parts left out
/// (`90m` → `1h30m`, `7d` → `1w`, zero → `0s`).
///
/// For every whole-second duration `d ≥ 0`, `parse_duration(&format_duration(d)) == d`.
/// Sub-second parts are dropped (Tocsin's durations come from config, in
/// whole seconds). A negative duration prints with a leading `-` so it can be
/// shown ("overdue by -5m" is still readable), though it does not parse back.
pub fn format_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    let mut out = String::new();
    if seconds < 0 {
        out.push('-');
    }
    // `unsigned_abs` avoids the one value whose negation overflows.
    let mut remaining = seconds.unsigned_abs();
    for (name, unit_seconds) in UNIT_TABLE {
        let unit_seconds = unit_seconds.unsigned_abs();
        let amount = remaining / unit_seconds;
        if amount > 0 {
            out.push_str(&amount.to_string());
            out.push_str(name);
            remaining %= unit_seconds;
        }
    }
    if seconds == 0 {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("1h"), Ok(secs(3_600)));
        assert_eq!(parse_duration("1d"), Ok(secs(86_400)));
        assert_eq!(parse_duration("1w"), Ok(secs(604_800)));
    }

    #[test]
    fn parses_compounds_and_zero() {
        assert_eq!(parse_duration("1h30m"), Ok(secs(5_400)));
        assert_eq!(parse_duration("1w2d3h4m5s"), Ok(secs(604_800 + 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5)));
        assert_eq!(parse_duration("90m"), Ok(secs(5_400)));
        assert_eq!(parse_duration("0s"), Ok(secs(0)));
        assert_eq!(parse_duration("007s"), Ok(secs(7)));
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
    }

    #[test]
    fn rejects_missing_unit() {
        let err = parse_duration("5").err();
        assert_eq!(err, Some(DurationError::MissingUnit { input: "5".into(), number: "5".into() }));
        assert!(matches!(parse_duration("1h30"), Err(DurationError::MissingUnit { .. })));
    }

    #[test]
    fn rejects_missing_number() {
        assert!(matches!(parse_duration("m"), Err(DurationError::MissingNumber { .. })));
        assert!(matches!(parse_duration("1h m"), Err(DurationError::UnknownUnit { .. })));
    }

    #[test]
    fn rejects_unknown_unit_with_a_config_friendly_message() {
        let err = parse_duration("5x").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("unknown unit `x` in `5x`; use s, m, h, d or w"));
        assert!(matches!(parse_duration("5min"), Err(DurationError::UnknownUnit { unit, .. }) if unit == "min"));
        assert!(matches!(parse_duration("5ms"), Err(DurationError::UnknownUnit { unit, .. }) if unit == "ms"));
        assert!(matches!(parse_duration("5M"), Err(DurationError::UnknownUnit { .. })));
        assert!(matches!(parse_duration("5 m"), Err(DurationError::UnknownUnit { .. })));
        assert!(matches!(parse_duration("5mé"), Err(DurationError::UnknownUnit { .. })));
    }

    #[test]
    fn rejects_fractions_and_signs() {
        assert!(matches!(parse_duration("1.5h"), Err(DurationError::Fractional { .. })));
        assert!(matches!(parse_duration("1."), Err(DurationError::Fractional { .. })));
        assert!(matches!(parse_duration("-5m"), Err(DurationError::Negative { .. })));
        assert!(matches!(parse_duration("+5m"), Err(DurationError::MissingNumber { .. })));
    }

    #[test]
    fn rejects_units_out_of_order_or_repeated() {
        assert!(matches!(parse_duration("30m1h"), Err(DurationError::UnitOrder { .. })));
        assert!(matches!(parse_duration("1h30h"), Err(DurationError::UnitOrder { .. })));
    }

    #[test]
    fn rejects_overflow() {
        assert!(matches!(parse_duration("99999999999999999999s"), Err(DurationError::Overflow { .. })));
        assert!(matches!(parse_duration("9999999999999999w"), Err(DurationError::Overflow { .. })));
        // Each part fits, the sum does not.
        let big = format!("{}w{}d", i64::MAX / 604_800, i64::MAX / 86_400);
        assert!(matches!(parse_duration(&big), Err(DurationError::Overflow { .. })));
        // Fits in i64 seconds but not in chrono's range (± i64::MAX milliseconds).
        assert!(matches!(parse_duration(&format!("{}s", i64::MAX)), Err(DurationError::Overflow { .. })));
    }

    #[test]
    fn positive_variant_rejects_zero() {
        assert_eq!(parse_positive_duration("5m"), Ok(secs(300)));
        let err = parse_positive_duration("0s").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("duration must be greater than zero, got `0s`"));
        assert!(matches!(parse_positive_duration("0h0m"), Err(DurationError::NotPositive { .. })));
        assert!(matches!(parse_positive_duration("5x"), Err(DurationError::UnknownUnit { .. })));
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_duration(secs(0)), "0s");
        assert_eq!(format_duration(secs(30)), "30s");
        assert_eq!(format_duration(secs(5_400)), "1h30m");
        assert_eq!(format_duration(secs(7 * 86_400)), "1w");
        assert_eq!(format_duration(secs(8 * 86_400 + 1)), "1w1d1s");
        assert_eq!(format_duration(secs(-300)), "-5m");
        assert_eq!(format_duration(Duration::milliseconds(1_500)), "1s");
        // The extremes do not overflow.
        assert!(format_duration(Duration::MAX).ends_with('s'));
        assert!(format_duration(Duration::MIN).starts_with('-'));
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(n in 0i64..=(i64::MAX / 1_000)) {
            let d = secs(n);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn canonical_strings_round_trip(
            w in 0i64..1_000, d in 0i64..7, h in 0i64..24, m in 0i64..60, s in 0i64..60,
        ) {
            let total = secs((((w * 7 + d) * 24 + h) * 60 + m) * 60 + s);
            let text = format_duration(total);
            prop_assert_eq!(parse_duration(&text), Ok(total));
            prop_assert_eq!(format_duration(parse_duration(&text).unwrap_or_default()), text);
        }

        #[test]
        fn never_panics_on_arbitrary_input(s in ".{0,24}") {
            let _ = parse_duration(&s);
            let _ = parse_positive_duration(&s);
        }

        #[test]
        fn never_panics_on_duration_shaped_input(s in "[0-9smhdw.x-]{0,24}") {
            if let Ok(d) = parse_duration(&s) {
                prop_assert!(d >= Duration::zero());
                prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
            }
        }
    }
}
