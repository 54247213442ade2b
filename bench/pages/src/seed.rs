//! Seeding through the real doors: every incident is opened by an alert
//! sent to its service's Alertmanager webhook, acknowledged through the API
//! (`POST /api/v1/incidents/{id}/acknowledge`, as a person would) and
//! resolved by its alert's `resolved` notification. Meanwhile a receiver on
//! loopback answers the pages the engine sends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::shape::{Planned, Status};

/// The Alertmanager integration key of service `k`.
pub fn key(k: usize) -> String {
    format!("pagesbench-{k:02}-alertmanager-00000001")
}

pub fn service_id(k: usize) -> String {
    format!("svc-{k:02}")
}

const ALERT_NAMES: &[&str] = &[
    "HighRequestLatency",
    "ErrorBudgetBurn",
    "DiskWillFillIn4Hours",
    "InstanceDown",
    "CertificateExpiresSoon",
    "QueueBacklogGrowing",
    "ReplicationLag",
    "OOMKilled",
];

/// The alert's Alertmanager fingerprint: the plan index in 16 hex digits,
/// so the `resolved` notification names the same alert.
fn fingerprint(index: usize) -> String {
    format!("{:016x}", 0xbe00_0000_0000_0000_u64 | index as u64)
}

fn alert(index: usize, p: &Planned, status: &str) -> Value {
    let name = ALERT_NAMES[index % ALERT_NAMES.len()];
    let service = service_id(p.service);
    let severity = ["critical", "warning", "warning", "info"][index % 4];
    json!({
        "status": status,
        "fingerprint": fingerprint(index),
        "labels": {
            "alertname": name,
            "service": service,
            "instance": format!("host-{:03}.{service}.bench.invalid:9100", index % 97),
            "job": "node",
            "severity": severity,
            "seq": index.to_string(),
        },
        "annotations": {
            "summary": format!("{name} on {service} (host-{:03})", index % 97),
            "description": format!("{name} has been firing on {service}; see the runbook for what to check first."),
            "runbook_url": format!("https://runbooks.bench.invalid/{service}/{name}"),
        },
        "generatorURL": format!("http://prometheus.bench.invalid/graph?g0.expr={name}"),
    })
}

pub struct Seeder {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
    pub concurrency: usize,
}

impl Seeder {
    /// Posts one webhook notification per service for these plan indices,
    /// all at once, and returns the incident each alert opened or touched.
    async fn notify(&self, plan: &[Planned], indices: &[usize], status: &str) -> Result<HashMap<usize, i64>> {
        let mut by_service: HashMap<usize, Vec<usize>> = HashMap::new();
        for &i in indices {
            by_service.entry(plan[i].service).or_default().push(i);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (service, idx) in by_service {
            let body = json!({
                "version": "4",
                "groupKey": format!("{{}}:{{service=\"{}\"}}", service_id(service)),
                "status": status,
                "receiver": "tocsin",
                "externalURL": "http://alertmanager.bench.invalid",
                "alerts": idx.iter().map(|&i| alert(i, &plan[i], status)).collect::<Vec<_>>(),
            });
            let req = self.http.post(format!("{}/integrations/alertmanager/{}", self.url, key(service))).json(&body);
            tasks.spawn(async move {
                let resp = req.send().await.context("webhook")?;
                let code = resp.status();
                let text = resp.text().await.context("webhook answer")?;
                if !code.is_success() {
                    bail!("webhook answered {code}: {text}");
                }
                let v: Value = serde_json::from_str(&text).context("webhook answer is not JSON")?;
                let mut found = HashMap::new();
                for o in v["outcomes"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    let index = o["dedup_key"]
                        .as_str()
                        .and_then(|k| u64::from_str_radix(k, 16).ok())
                        .map(|k| (k & 0x00ff_ffff_ffff_ffff) as usize);
                    if let (Some(index), Some(id)) = (index, o["incident_id"].as_i64()) {
                        found.insert(index, id);
                    }
                }
                Ok(found)
            });
        }
        let mut all = HashMap::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done.context("webhook task")??);
        }
        Ok(all)
    }

    /// Acknowledges these incidents through the API, `concurrency` at once.
    async fn acknowledge(&self, ids: Vec<i64>) -> Result<()> {
        let ids = Arc::new(ids);
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.concurrency.max(1) {
            let (ids, next, http) = (ids.clone(), next.clone(), self.http.clone());
            let (url, token) = (self.url.clone(), self.token.clone());
            tasks.spawn(async move {
                loop {
                    let Some(&id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) else { return Ok(()) };
                    let resp = http
                        .post(format!("{url}/api/v1/incidents/{id}/acknowledge"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .context("acknowledge")?;
                    if !resp.status().is_success() {
                        let code = resp.status();
                        bail!("acknowledging incident {id} answered {code}: {}", resp.text().await.unwrap_or_default());
                    }
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.context("acknowledge task")??;
        }
        Ok(())
    }
}

/// Counts the pages the engine sends.
async fn hook(State(count): State<Arc<AtomicUsize>>) -> StatusCode {
    count.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

/// Waits until the engine has sent no page for 3 s, and at least one
/// page or 30 s have passed (at most 5 minutes in all);
/// returns how many it sent in all.
async fn settle(pages: &AtomicUsize) -> usize {
    let t = Instant::now();
    let (mut last, mut quiet_since) = (usize::MAX, Instant::now());
    while t.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = pages.load(Ordering::Relaxed);
        if now != last {
            (last, quiet_since) = (now, Instant::now());
        } else if quiet_since.elapsed() >= Duration::from_secs(3) && (now > 0 || t.elapsed() >= Duration::from_secs(30))
        {
            break;
        }
    }
    last
}

/// Seeds the plan and fills in each incident's id. `chunk` consecutive
/// incidents (oldest first) are sent at a time, so ids follow age closely.
pub async fn run(seeder: &Seeder, plan: &mut [Planned], chunk: usize, listen: SocketAddr) -> Result<()> {
    let pages = Arc::new(AtomicUsize::new(0));
    let app = Router::new().fallback(hook).with_state(pages.clone());
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let started = Instant::now();
    let all: Vec<usize> = (0..plan.len()).collect();
    for part in all.chunks(chunk.max(1)) {
        let opened = seeder.notify(plan, part, "firing").await?;
        for &i in part {
            plan[i].incident_id = *opened.get(&i).with_context(|| format!("no incident for alert {i}"))?;
        }
    }
    eprintln!("[pages] opened {} incidents in {:.1} s", plan.len(), started.elapsed().as_secs_f64());
    // Page for every incident before resolving most of them, as happens
    // when they are not resolved within seconds.
    let paged = settle(&pages).await;
    eprintln!("[pages] engine sent {paged} pages after {:.1} s", started.elapsed().as_secs_f64());

    let t = Instant::now();
    let acks: Vec<i64> = plan.iter().filter(|p| p.status == Status::Acknowledged).map(|p| p.incident_id).collect();
    let n_acks = acks.len();
    seeder.acknowledge(acks).await?;
    eprintln!("[pages] acknowledged {n_acks} through the API in {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let resolved: Vec<usize> = all.iter().copied().filter(|&i| plan[i].status == Status::Resolved).collect();
    for part in resolved.chunks(1_000) {
        seeder.notify(plan, part, "resolved").await?;
    }
    eprintln!("[pages] resolved {} by their alerts in {:.1} s", resolved.len(), t.elapsed().as_secs_f64());

    let last = settle(&pages).await;
    eprintln!("[pages] engine sent {last} pages; seeding took {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
