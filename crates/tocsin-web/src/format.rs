//! How instants, durations and states read on a page. Times are shown in
//! the viewer's zone: the one their browser reports (the `tz` cookie the
//! page script sets), else the one config gives the user, else UTC.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tocsin_core::incident::IncidentStatus;

use crate::session::cookie;

/// The cookie the page script sets to the browser's IANA zone.
pub(crate) const TZ_COOKIE: &str = "tz";

/// The zone to show times in for this request.
pub(crate) fn viewer_zone(headers: &HeaderMap, configured: Option<Tz>) -> Tz {
    cookie(headers, TZ_COOKIE)
        .map(|v| v.replace("%2F", "/"))
        .and_then(|v| v.parse::<Tz>().ok())
        .or(configured)
        .unwrap_or(Tz::UTC)
}

/// `Tue 1 Dec, 14:05 CET`: a day and a time someone woken at night can
/// place without arithmetic.
pub(crate) fn instant(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%a %-d %b, %H:%M %Z").to_string()
}

/// `3 min ago`, `in 2 h 5 min`: how far `t` is from `now`.
pub(crate) fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let span = span(secs.unsigned_abs());
    if secs.abs() < 30 {
        "just now".into()
    } else if secs < 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// A duration in the two largest units that matter: `45 s`, `12 min`,
/// `3 h 20 min`, `2 d 4 h`.
pub(crate) fn span(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// The word a status is shown with (never colour alone).
pub(crate) fn status_label(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::Triggered => "Triggered",
        IncidentStatus::Acknowledged => "Acknowledged",
        IncidentStatus::Resolved => "Resolved",
    }
}

/// The CSS class that colours a status (alongside its word and icon).
pub(crate) fn status_class(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::Triggered => "triggered",
        IncidentStatus::Acknowledged => "acknowledged",
        IncidentStatus::Resolved => "resolved",
    }
}

/// `user:alice` → `alice`; `system` stays as it is.
pub(crate) fn actor(actor: &str) -> &str {
    actor.strip_prefix("user:").unwrap_or(actor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn spans_use_the_two_largest_units() {
        assert_eq!(span(45), "45 s");
        assert_eq!(span(12 * 60 + 5), "12 min");
        assert_eq!(span(3 * 3600), "3 h");
        assert_eq!(span(3 * 3600 + 20 * 60), "3 h 20 min");
        assert_eq!(span(2 * 86_400 + 4 * 3600 + 59), "2 d 4 h");
    }

    #[test]
    fn relative_times_read_both_ways() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert_eq!(relative(now - chrono::Duration::minutes(3), now), "3 min ago");
        assert_eq!(relative(now + chrono::Duration::minutes(125), now), "in 2 h 5 min");
        assert_eq!(relative(now, now), "just now");
    }

    #[test]
    fn instants_show_in_the_viewers_zone_with_its_abbreviation() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 13, 5, 0).unwrap();
        assert_eq!(instant(t, chrono_tz::Europe::Paris), "Tue 1 Dec, 14:05 CET");
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 13, 5, 0).unwrap();
        assert_eq!(instant(summer, chrono_tz::America::New_York), "Wed 1 Jul, 09:05 EDT");
    }

    #[test]
    fn the_zone_comes_from_the_cookie_then_config_then_utc() {
        let mut headers = HeaderMap::new();
        assert_eq!(viewer_zone(&headers, None), Tz::UTC);
        assert_eq!(viewer_zone(&headers, Some(chrono_tz::Asia::Tokyo)), chrono_tz::Asia::Tokyo);
        headers.insert("cookie", "tz=Europe%2FBerlin; other=1".parse().unwrap());
        assert_eq!(viewer_zone(&headers, Some(chrono_tz::Asia::Tokyo)), chrono_tz::Europe::Berlin);
        headers.insert("cookie", "tz=Not/AZone".parse().unwrap());
        assert_eq!(viewer_zone(&headers, None), Tz::UTC);
    }
}
