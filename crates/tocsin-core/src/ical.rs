//! iCalendar (RFC 5545) feeds of on-call shifts, for calendar apps that
//! subscribe to a URL and poll it.
//!
//! Pure rendering: the caller computes the segments (with
//! [`crate::schedule::final_schedule`] over [`feed_window`]) and passes the
//! instant the feed is generated.
//!
//! **Stable UIDs.** A calendar client matches events across refreshes by UID,
//! so a shift must keep its UID however often the feed is fetched. The UID is
//! `<schedule>-<user>-<start as Unix seconds>@tocsin`: it depends only on the
//! shift, not on when or over which range the feed was asked for. Segments
//! are clipped to the range they are computed over, so the range itself must
//! not move with every request: [`feed_window`] runs from midnight UTC 30 days
//! before the request to midnight UTC 180 days after it, which changes once a
//! day. Only a shift that straddles the window's start changes its UID (its
//! start is clipped), and only when the day rolls over, 30 days after it
//! began. A shift that changes (an override, a config change) gets new
//! start/end and, if its start moved, a new UID; the old one disappears from
//! the feed, which clients treat as a deletion.

use chrono::{DateTime, Duration, NaiveTime, Utc};

/// Days before the request that a feed covers.
pub const FEED_PAST_DAYS: i64 = 30;
/// Days after the request that a feed covers.
pub const FEED_FUTURE_DAYS: i64 = 180;

/// Longest content line, in octets, before folding (RFC 5545 §3.1).
const MAX_LINE_OCTETS: usize = 75;

/// One on-call shift in a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    pub schedule_id: String,
    pub user_id: String,
    /// Display name, shown in the event's summary.
    pub user_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The range a feed requested at `now` covers: midnight UTC
/// [`FEED_PAST_DAYS`] days before `now` to midnight UTC [`FEED_FUTURE_DAYS`]
/// days after it. Fixed for a whole UTC day, so repeated fetches compute
/// identical segments (see the module docs).
pub fn feed_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |t: DateTime<Utc>| t.date_naive().and_time(NaiveTime::MIN).and_utc();
    (midnight(now - Duration::days(FEED_PAST_DAYS)), midnight(now + Duration::days(FEED_FUTURE_DAYS)))
}

/// The stable identifier of a shift (see the module docs).
pub fn event_uid(e: &FeedEvent) -> String {
    format!("{}-{}-{}@tocsin", e.schedule_id, e.user_id, e.start.timestamp())
}

/// A complete `VCALENDAR` named `name` holding `events`, stamped `now`:
/// CRLF line endings, lines folded at 75 octets on character boundaries,
/// TEXT values escaped, instants in UTC.
pub fn calendar(name: &str, events: &[FeedEvent], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for line in ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Tocsin//On-call feed//EN", "CALSCALE:GREGORIAN"] {
        push_line(&mut out, line);
    }
    push_line(&mut out, "METHOD:PUBLISH");
    push_line(&mut out, &format!("X-WR-CALNAME:{}", escape_text(name)));
    let stamp = utc(now);
    for e in events {
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(&mut out, &format!("UID:{}", escape_text(&event_uid(e))));
        push_line(&mut out, &format!("DTSTAMP:{stamp}"));
        push_line(&mut out, &format!("DTSTART:{}", utc(e.start)));
        push_line(&mut out, &format!("DTEND:{}", utc(e.end)));
        push_line(
            &mut out,
            &format!("SUMMARY:{}", escape_text(&format!("On call: {} ({})", e.schedule_id, e.user_name))),
        );
        push_line(&mut out, "TRANSP:TRANSPARENT");
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

/// `20260306T180000Z`: a DATE-TIME in UTC form, to the second.
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and
/// line breaks. Other control characters are not allowed in values and are
/// dropped.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so no physical line exceeds 75 octets
/// (continuations start with a space, which counts), never splitting a
/// UTF-8 sequence.
fn push_line(out: &mut String, line: &str) {
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > MAX_LINE_OCTETS {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    fn shift(user: &str, name: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> FeedEvent {
        FeedEvent { schedule_id: "primary".into(), user_id: user.into(), user_name: name.into(), start, end }
    }

    #[test]
    fn renders_an_exact_calendar() {
        let events = [
            shift("alice", "Alice Example", t(2026, 3, 2, 14, 0), t(2026, 3, 6, 18, 0)),
            shift("bob", "Bob Example", t(2026, 3, 6, 18, 0), t(2026, 3, 9, 9, 0)),
        ];
        let text = calendar("Tocsin: primary", &events, t(2026, 3, 1, 12, 30));
        assert_eq!(
            text,
            "BEGIN:VCALENDAR\r\n\
             VERSION:2.0\r\n\
             PRODID:-//Tocsin//On-call feed//EN\r\n\
             CALSCALE:GREGORIAN\r\n\
             METHOD:PUBLISH\r\n\
             X-WR-CALNAME:Tocsin: primary\r\n\
             BEGIN:VEVENT\r\n\
             UID:primary-alice-1772460000@tocsin\r\n\
             DTSTAMP:20260301T123000Z\r\n\
             DTSTART:20260302T140000Z\r\n\
             DTEND:20260306T180000Z\r\n\
             SUMMARY:On call: primary (Alice Example)\r\n\
             TRANSP:TRANSPARENT\r\n\
             END:VEVENT\r\n\
             BEGIN:VEVENT\r\n\
             UID:primary-bob-1772820000@tocsin\r\n\
             DTSTAMP:20260301T123000Z\r\n\
             DTSTART:20260306T180000Z\r\n\
             DTEND:20260309T090000Z\r\n\
             SUMMARY:On call: primary (Bob Example)\r\n\
             TRANSP:TRANSPARENT\r\n\
             END:VEVENT\r\n\
             END:VCALENDAR\r\n"
        );
    }

    #[test]
    fn an_empty_feed_is_still_a_calendar() {
        assert_eq!(
            calendar("x", &[], t(2026, 3, 1, 0, 0)),
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tocsin//On-call feed//EN\r\nCALSCALE:GREGORIAN\r\n\
             METHOD:PUBLISH\r\nX-WR-CALNAME:x\r\nEND:VCALENDAR\r\n"
        );
    }

    #[test]
    fn uids_depend_only_on_the_shift() {
        let e = shift("alice", "Alice", t(2026, 3, 2, 14, 0), t(2026, 3, 6, 18, 0));
        let a = calendar("a", std::slice::from_ref(&e), t(2026, 3, 1, 0, 0));
        let b = calendar("b", std::slice::from_ref(&e), t(2026, 4, 1, 0, 0));
        let uid = |s: &str| s.lines().find(|l| l.starts_with("UID:")).map(str::to_owned);
        assert_eq!(uid(&a), Some("UID:primary-alice-1772460000@tocsin".into()));
        assert_eq!(uid(&a), uid(&b));
    }

    #[test]
    fn text_values_are_escaped() {
        assert_eq!(escape_text(r"a\b;c,d"), r"a\\b\;c\,d");
        assert_eq!(escape_text("one\ntwo\r\nthree\rfour"), r"one\ntwo\nthree\nfour");
        assert_eq!(escape_text("bell\u{7}tab\there"), "belltab\there");
        let e = shift("bob", "Smith, Bob; \"Ops\"", t(2026, 3, 6, 18, 0), t(2026, 3, 9, 9, 0));
        let text = calendar("On call; team A, B", &[e], t(2026, 3, 1, 0, 0));
        assert!(text.contains("X-WR-CALNAME:On call\\; team A\\, B\r\n"), "{text}");
        assert!(text.contains("SUMMARY:On call: primary (Smith\\, Bob\\; \"Ops\")\r\n"), "{text}");
    }

    #[test]
    fn long_lines_fold_at_75_octets() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "x".repeat(150));
        push_line(&mut out, &line);
        let physical: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(physical.len(), 4, "{out:?}");
        assert_eq!(physical[0], format!("SUMMARY:{}", "x".repeat(67)));
        assert_eq!(physical[1], format!(" {}", "x".repeat(74)));
        assert_eq!(physical[2], format!(" {}", "x".repeat(9)));
        assert_eq!(physical[3], "");
        // Unfolding (drop CRLF + one space) restores the line.
        assert_eq!(out.trim_end_matches("\r\n").replace("\r\n ", ""), line);
    }

    #[test]
    fn folding_never_splits_a_multibyte_character() {
        // "SUMMARY:" is 8 octets; each "€" is 3. 22 of them reach 74 octets,
        // the 23rd would make 77, so it starts the continuation line.
        let line = format!("SUMMARY:{}", "€".repeat(30));
        let mut out = String::new();
        push_line(&mut out, &line);
        let physical: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(physical, [format!("SUMMARY:{}", "€".repeat(22)), format!(" {}", "€".repeat(8))]);
        assert!(physical.iter().all(|l| l.len() <= MAX_LINE_OCTETS));
        // Four-octet characters and an exact fit of 75 octets.
        let emoji = format!("SUMMARY:{}{}", "a".repeat(63), "😀😀😀");
        let mut out = String::new();
        push_line(&mut out, &emoji);
        assert_eq!(out, format!("SUMMARY:{}😀\r\n 😀😀\r\n", "a".repeat(63)));
        let exact = format!("SUMMARY:{}", "b".repeat(67));
        let mut out = String::new();
        push_line(&mut out, &exact);
        assert_eq!(out, format!("{exact}\r\n"));
    }

    #[test]
    fn the_window_is_fixed_for_a_utc_day() {
        let (from, to) = feed_window(t(2026, 3, 10, 0, 0));
        assert_eq!((from, to), (t(2026, 2, 8, 0, 0), t(2026, 9, 6, 0, 0)));
        assert_eq!(feed_window(t(2026, 3, 10, 23, 59)), (from, to));
        assert_ne!(feed_window(t(2026, 3, 11, 0, 0)), (from, to));
        assert!(to - from <= Duration::days(crate::schedule::MAX_RANGE_DAYS));
    }
}
