//! Tocsin's own metrics, rendered in Prometheus text format on `/metrics`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder on first use and returns its handle.
/// `None` only if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("tocsin_ingest_duration_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

pub fn received(source: &str, events: usize) {
    metrics::counter!("tocsin_events_received_total", "source" => source.to_string()).increment(events as u64);
}

pub fn accepted(source: &str, events: usize, started: Instant) {
    metrics::counter!("tocsin_events_accepted_total", "source" => source.to_string()).increment(events as u64);
    metrics::histogram!("tocsin_ingest_duration_seconds", "source" => source.to_string())
        .record(started.elapsed().as_secs_f64());
}

/// One refused request. `reason` is `invalid` (bad input, whether the parser
/// or the store found it), `too_large`, `unknown_key`, `rate_limited` or
/// `storage` (the database failed; the sender should retry).
pub fn rejected(source: &str, reason: &'static str) {
    metrics::counter!("tocsin_events_rejected_total", "source" => source.to_string(), "reason" => reason).increment(1);
}
