//! The noise-control card of a service's page: what can hold its pages
//! back, from the applied config (dependencies, grouping, storm and flap
//! limits, maintenance windows, with which window is open now), and its
//! heartbeat monitors' state.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tocsin_app::HeartbeatView;
use tocsin_core::directory::Directory;
use tocsin_core::grouping::{GroupBy, Grouping};
use tocsin_core::heartbeat::HeartbeatStatus;
use tocsin_core::maintenance::{InclusiveRange, MONTHS, MaintenanceWindow, TimeInterval, WEEKDAYS, WindowKind};
use tocsin_core::model::Service;

use crate::format;

pub(crate) struct NoiseCard {
    pub depends_on: Vec<String>,
    pub dependents: Vec<String>,
    pub grouping: String,
    pub storm: String,
    pub flapping: String,
    pub windows: Vec<WindowLine>,
    pub heartbeats: Vec<HeartbeatLine>,
}

pub(crate) struct WindowLine {
    pub id: String,
    pub when: String,
    pub open: bool,
    /// When it next opens or closes, for people.
    pub change: Option<String>,
}

pub(crate) struct HeartbeatLine {
    pub id: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub detail: String,
    pub incident: Option<i64>,
}

pub(crate) fn card(
    directory: &Directory,
    service: &Service,
    heartbeats: &[HeartbeatView],
    now: DateTime<Utc>,
    zone: Tz,
) -> NoiseCard {
    let storm = service.storm_policy();
    let flap = service.flap_policy();
    let default = |set: bool| if set { "" } else { " (default)" };
    NoiseCard {
        depends_on: service.depends_on.clone(),
        dependents: directory.dependents(&service.id),
        grouping: service
            .grouping
            .as_ref()
            .map_or_else(|| "Off: every alert opens its own incident and pages at once.".to_string(), grouping),
        storm: if storm.is_off() {
            "Off.".into()
        } else {
            format!(
                "More than {} new alerts within {} collapse into one storm incident{}.",
                storm.max_new_alerts,
                span(storm.within),
                default(service.storm.is_some())
            )
        },
        flapping: if flap.is_off() {
            "Off.".into()
        } else {
            format!(
                "An alert that fires and resolves more than {} times within {} pages at most once per {}{}.",
                flap.max_changes,
                span(flap.within),
                span(flap.within),
                default(service.flapping.is_some())
            )
        },
        windows: service.maintenance_windows.iter().map(|w| window(w, now, zone)).collect(),
        heartbeats: heartbeats
            .iter()
            .filter(|h| h.row.heartbeat.service == service.id)
            .map(|h| heartbeat(h, now, zone))
            .collect(),
    }
}

fn span(d: chrono::Duration) -> String {
    format::span(d.num_seconds().unsigned_abs())
}

fn grouping(g: &Grouping) -> String {
    let by = match &g.group_by {
        GroupBy::All => "all labels".to_string(),
        GroupBy::Labels(names) if names.is_empty() => "nothing: one group for the whole service".to_string(),
        GroupBy::Labels(names) => names.join(", "),
    };
    let mut text = format!(
        "By {by}. The first page waits {}; alerts that join later are summed up at most every {}.",
        span(g.group_wait),
        span(g.group_interval)
    );
    if g.alertmanager_group_key {
        text.push_str(" Alerts from an Alertmanager webhook group by its groupKey.");
    }
    text
}

fn window(w: &MaintenanceWindow, now: DateTime<Utc>, zone: Tz) -> WindowLine {
    let open = w.active_at(now);
    let when = match &w.kind {
        WindowKind::OneOff { start, end } => {
            format!("{} to {}", format::instant(*start, zone), format::instant(*end, zone))
        }
        WindowKind::Recurring(interval) => recurring(interval),
    };
    let change = w.next_change(now).map(|t| {
        let verb = if open { "closes" } else { "opens" };
        format!("{verb} {} ({})", format::relative(t, now), format::instant(t, zone))
    });
    WindowLine { id: w.id.clone(), when, open, change }
}

/// `14:00–15:00 on Tuesday (Europe/Berlin)`: an Alertmanager time interval
/// in words; an empty field means "any".
fn recurring(i: &TimeInterval) -> String {
    let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    let mut text = if i.times.is_empty() {
        "All day".to_string()
    } else {
        i.times
            .iter()
            .map(|t| format!("{}–{}", hhmm(t.start_minute), hhmm(t.end_minute)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let named = |names: &[&str], offset: i32, r: &InclusiveRange| {
        let name = |n: i32| {
            let name = usize::try_from(n - offset).ok().and_then(|i| names.get(i)).copied().unwrap_or("?");
            let mut chars = name.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>()).unwrap_or_default()
        };
        if r.begin == r.end { name(r.begin) } else { format!("{}–{}", name(r.begin), name(r.end)) }
    };
    let plain = |r: &InclusiveRange| {
        if r.begin == r.end { r.begin.to_string() } else { format!("{}–{}", r.begin, r.end) }
    };
    let list = |ranges: &[InclusiveRange], show: &dyn Fn(&InclusiveRange) -> String| {
        ranges.iter().map(show).collect::<Vec<_>>().join(", ")
    };
    if !i.weekdays.is_empty() {
        text.push_str(&format!(" on {}", list(&i.weekdays, &|r| named(&WEEKDAYS, 0, r))));
    }
    if !i.days_of_month.is_empty() {
        text.push_str(&format!(", days {} of the month", list(&i.days_of_month, &plain)));
    }
    if !i.months.is_empty() {
        text.push_str(&format!(", in {}", list(&i.months, &|r| named(&MONTHS, 1, r))));
    }
    if !i.years.is_empty() {
        text.push_str(&format!(", {}", list(&i.years, &plain)));
    }
    format!("{text} ({})", i.time_zone.name())
}

fn heartbeat(h: &HeartbeatView, now: DateTime<Utc>, zone: Tz) -> HeartbeatLine {
    let deadline = |t: DateTime<Utc>| format!("overdue {} ({})", format::relative(t, now), format::instant(t, zone));
    let last = h.row.state.last_ping.map(|t| format!("last ping {}", format::relative(t, now)));
    let (status_class, detail) = match h.status {
        HeartbeatStatus::Up => ("ok", [last, h.deadline.map(deadline)].into_iter().flatten().collect::<Vec<_>>()),
        HeartbeatStatus::Waiting => {
            ("muted", std::iter::once("no ping yet".to_string()).chain(h.deadline.map(deadline)).collect())
        }
        HeartbeatStatus::Overdue => ("triggered", vec![last.unwrap_or_else(|| "never pinged".into())]),
    };
    HeartbeatLine {
        id: h.row.heartbeat.id.clone(),
        status: h.status.as_str(),
        status_class,
        detail: detail.join("; "),
        incident: h.row.open_incident,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_core::maintenance::{TimeIntervalSpec, TimeRangeSpec};

    #[test]
    fn a_recurring_window_reads_as_written() {
        let spec = TimeIntervalSpec {
            times: vec![TimeRangeSpec { start: "14:00".into(), end: "15:30".into() }],
            weekdays: vec!["monday:friday".into(), "sunday".into()],
            days_of_month: vec!["1:7".into()],
            months: vec!["december".into()],
            years: vec![],
            time_zone: Some("Europe/Berlin".into()),
        };
        let interval = TimeInterval::parse("w", &spec).unwrap();
        assert_eq!(
            recurring(&interval),
            "14:00–15:30 on Monday–Friday, Sunday, days 1–7 of the month, in December (Europe/Berlin)"
        );
        let always = TimeInterval::parse("w", &TimeIntervalSpec::default()).unwrap();
        assert_eq!(recurring(&always), "All day (UTC)");
    }
}
