//! The data set's shape, decided up front and deterministic: which service
//! each incident belongs to, whether it ends triggered, acknowledged or
//! resolved, and how many alerts it holds. Index 0 is the oldest incident.

use std::fmt::Write as _;

/// Days the incidents' ages spread over (so `since=30d` leaves some out).
pub const SPAN_DAYS: i64 = 45;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Triggered,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Triggered => "triggered",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "triggered" => Status::Triggered,
            "acknowledged" => Status::Acknowledged,
            "resolved" => Status::Resolved,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub service: usize,
    pub status: Status,
    /// Alerts it holds in the end (the first comes through ingestion).
    pub alerts: usize,
    /// Its id once ingested (0 before).
    pub incident_id: i64,
}

/// splitmix64: enough randomness for a data set, and the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// The service of a new incident: Zipf-like, service 0 busiest.
fn pick_service(rng: &mut Rng, services: usize) -> usize {
    let weights: Vec<f64> = (0..services).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let mut r = rng.unit() * weights.iter().sum::<f64>();
    for (k, w) in weights.iter().enumerate() {
        if r <= *w {
            return k;
        }
        r -= w;
    }
    services - 1
}

/// Plans `incidents` incidents holding `alerts` alerts over `services`
/// services. The newest 5% are mostly open (60% triggered, the rest
/// acknowledged); of the older ones 1% are still triggered and 2%
/// acknowledged, the rest resolved. Alerts per incident are skewed: 40% hold
/// one, three hold 2.5%, 1.5% and 1.2% of all alerts (the largest), one in
/// the middle holds exactly 10, the rest share what is left on a
/// heavy-tailed (Pareto) spread.
pub fn plan(incidents: usize, alerts: usize, services: usize) -> Vec<Planned> {
    let mut rng = Rng(0x0070_c51a_bec4);
    let n = incidents;
    let services = services.max(1);
    let mut out: Vec<Planned> = (0..n)
        .map(|i| {
            let service = pick_service(&mut rng, services);
            let r = rng.unit();
            let status = if i * 20 >= n * 19 {
                if r < 0.6 { Status::Triggered } else { Status::Acknowledged }
            } else if r < 0.01 {
                Status::Triggered
            } else if r < 0.03 {
                Status::Acknowledged
            } else {
                Status::Resolved
            };
            Planned { service, status, alerts: 1, incident_id: 0 }
        })
        .collect();
    if n < 10 || alerts <= n {
        return out;
    }
    // Fixed sizes first: the three large ones and one of exactly ten.
    let mut fixed =
        vec![(n * 3 / 10, alerts / 40), (n * 7 / 10, alerts / 66), (n - 1 - n / 500, alerts / 83), (n / 2, 10)];
    fixed.retain(|&(_, size)| size > 1);
    let mut budget = alerts - n;
    for &(i, size) in &fixed {
        let extra = (size - 1).min(budget);
        out[i].alerts += extra;
        budget -= extra;
    }
    // 40% keep one alert; the rest share the budget, at least one extra each.
    let sharing: Vec<usize> =
        (0..n).filter(|i| !fixed.iter().any(|&(f, _)| f == *i)).filter(|_| rng.unit() >= 0.4).collect();
    if sharing.is_empty() {
        return out;
    }
    let weights: Vec<f64> = sharing.iter().map(|_| rng.unit().powf(-1.0 / 1.5).min(40.0)).collect();
    let total: f64 = weights.iter().sum();
    let base = budget.min(sharing.len());
    let spread = budget - base;
    let mut given = 0;
    for (k, &i) in sharing.iter().enumerate() {
        let extra = usize::from(k < base) + (spread as f64 * weights[k] / total).floor() as usize;
        out[i].alerts += extra;
        given += extra;
    }
    // Rounding leftovers, one each, to the sharing incidents in turn.
    for &i in sharing.iter().cycle().take(budget.saturating_sub(given)) {
        out[i].alerts += 1;
    }
    out
}

/// The plan as TSV (index, service, status, alerts, incident id), kept
/// between the steps of a run.
pub fn to_tsv(plan: &[Planned]) -> String {
    let mut s = String::from("index\tservice\tstatus\talerts\tincident_id\n");
    for (i, p) in plan.iter().enumerate() {
        let _ = writeln!(s, "{i}\t{}\t{}\t{}\t{}", p.service, p.status.as_str(), p.alerts, p.incident_id);
    }
    s
}

pub fn from_tsv(text: &str) -> anyhow::Result<Vec<Planned>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || anyhow::anyhow!("plan line {}: `{line}`", n + 1);
        if f.len() != 5 {
            return Err(bad());
        }
        out.push(Planned {
            service: f[1].parse().map_err(|_| bad())?,
            status: Status::parse(f[2]).ok_or_else(bad)?,
            alerts: f[3].parse().map_err(|_| bad())?,
            incident_id: f[4].parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_holds_exactly_the_alerts_asked_for() {
        let p = plan(10_000, 100_000, 20);
        assert_eq!(p.len(), 10_000);
        assert_eq!(p.iter().map(|x| x.alerts).sum::<usize>(), 100_000);
        let ones = p.iter().filter(|x| x.alerts == 1).count();
        assert!((3_000..5_000).contains(&ones), "{ones} incidents with one alert");
        assert!(p.iter().any(|x| x.alerts == 10));
        assert_eq!(p.iter().map(|x| x.alerts).max(), Some(2_500));
        assert!(p.iter().filter(|x| x.alerts >= 1_000).count() >= 3);
        let open = p.iter().filter(|x| x.status != Status::Resolved).count();
        assert!((400..1_200).contains(&open), "{open} open");
        assert!((0..20).all(|s| p.iter().any(|x| x.service == s)));
    }

    #[test]
    fn plan_round_trips_through_tsv() {
        let mut p = plan(200, 900, 3);
        p[7].incident_id = 42;
        assert_eq!(from_tsv(&to_tsv(&p)).unwrap(), p);
    }
}
