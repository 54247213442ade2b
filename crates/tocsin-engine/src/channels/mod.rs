//! Delivery channels: the IO that hands one already-rendered notification to
//! a webhook receiver, a Slack-compatible incoming webhook or an SMTP relay.
//!
//! Each send is one attempt and answers an [`Outcome`]; retry timing, the
//! attempt budget and fall-through to the next contact method belong to the
//! caller (see [`tocsin_core::notify::backoff`]). Classification of HTTP
//! statuses and transport failures is the domain's, not re-decided here.
//!
//! Reasons are written for the person reading the incident timeline: they
//! name the receiver by `host:port` only, because webhook URLs (Slack's in
//! particular) carry their secret in the path and query, and they never
//! include signing secrets or SMTP credentials.

mod http;
mod smtp;

use std::time::Duration;

use thiserror::Error;
use tocsin_core::model::Smtp;
use tocsin_core::notify::backoff::Delivery;
use tocsin_core::notify::render::text::one_line;

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Temporary: timeout, connection error, 5xx, 429, SMTP 4xx. `retry_after` from a Retry-After header when present.
    Retry {
        reason: String,
        retry_after: Option<chrono::Duration>,
    },
    /// Permanent: 3xx, 4xx other than 408 and 429, SMTP 5xx, bad address, no SMTP configured.
    Permanent {
        reason: String,
    },
}

impl Outcome {
    /// The metrics label for this outcome.
    fn label(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Permanent { .. } => "permanent",
        }
    }

    /// Builds the outcome the domain's classification asks for.
    fn from_delivery(delivery: Delivery, reason: String, retry_after: Option<chrono::Duration>) -> Self {
        match delivery {
            Delivery::Delivered => Outcome::Delivered,
            Delivery::Retry => Outcome::Retry { reason, retry_after },
            Delivery::Permanent => Outcome::Permanent { reason },
        }
    }
}

/// Why the channels could not be set up; a configuration problem, found at
/// startup rather than on the first page.
#[derive(Debug, Error)]
pub enum ChannelError {
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error("cannot set up TLS for SMTP relay {host}: {reason}")]
    SmtpTls { host: String, reason: String },
}

/// The delivery channels of one node. Cheap to share behind an `Arc`; the
/// HTTP client keeps its connection pool across sends.
pub struct Channels {
    http: reqwest::Client,
    smtp: Option<smtp::Relay>,
    timeout: Duration,
}

impl Channels {
    /// `smtp`: the server's relay from config (None = email is not configured; email sends then return Permanent).
    /// `timeout`: per-attempt limit for HTTP and SMTP.
    pub fn new(smtp: Option<Smtp>, timeout: Duration) -> Result<Self, ChannelError> {
        let http = http::client(timeout)?;
        let smtp = smtp.map(|config| smtp::Relay::new(config, timeout)).transpose()?;
        Ok(Self { http, smtp, timeout })
    }

    /// POST JSON `body` with headers Content-Type: application/json, `Idempotency-Key: <idempotency_key>`,
    /// `Tocsin-Signature` (HMAC-SHA256 over the exact bytes sent, timestamp `now_unix`), User-Agent `tocsin/<version>`.
    pub async fn webhook(
        &self,
        url: &str,
        body: &serde_json::Value,
        idempotency_key: &str,
        secret: &[u8],
        now_unix: i64,
    ) -> Outcome {
        let outcome =
            http::post(&self.http, self.timeout, url, body, idempotency_key, Some(http::Signing { secret, now_unix }))
                .await;
        count("webhook", &outcome);
        outcome
    }

    /// POST a Slack-compatible incoming-webhook payload (also sends Idempotency-Key; no signature).
    pub async fn slack(&self, url: &str, body: &serde_json::Value, idempotency_key: &str) -> Outcome {
        let outcome = http::post(&self.http, self.timeout, url, body, idempotency_key, None).await;
        count("slack", &outcome);
        outcome
    }

    /// Send `email` to `to` via SMTP as multipart/alternative (text/plain + text/html, UTF-8), From = smtp.from,
    /// Message-ID derived from the idempotency key (`<key@tocsin>` after sanitising) so a retried send is recognisable.
    pub async fn email(&self, to: &str, email: &tocsin_core::notify::render::Email, idempotency_key: &str) -> Outcome {
        let outcome = match &self.smtp {
            Some(relay) => relay.send(to, email, idempotency_key).await,
            None => Outcome::Permanent { reason: "email is not configured: the server has no SMTP relay".into() },
        };
        count("email", &outcome);
        outcome
    }
}

fn count(channel: &'static str, outcome: &Outcome) {
    metrics::counter!("tocsin_notifications_attempts_total", "channel" => channel, "outcome" => outcome.label())
        .increment(1);
}

/// "10s" or "300ms": how long an attempt was allowed, for reasons.
fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// At most `max` characters of `s` on one line, for quoting a receiver's
/// answer in a reason.
fn snippet(s: &str, max: usize) -> String {
    // The render module's `one_line` also removes Unicode line separators.
    let line: String = one_line(s).split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = line.chars().take(max).collect();
    if line.chars().count() > max {
        out.push('…');
    }
    out
}

/// The kind of the first IO error in `e`'s chain of sources, if any: how a
/// connection failed (refused, reset) decides whether a retry can help.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tocsin_core::notify::render::Email;

    #[test]
    fn attempts_are_counted_by_channel_and_outcome() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let email = Email { subject: "s".into(), text: "t".into(), html: "h".into() };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let channels = Channels::new(None, Duration::from_secs(1)).expect("channels");
                // Neither needs the network: no relay, and a URL that is not http(s).
                channels.email("a@example.com", &email, "k").await;
                channels.email("a@example.com", &email, "k").await;
                channels.slack("ftp://example.com/x", &serde_json::json!({}), "k").await;
            });
        });
        let mut counts: Vec<(String, String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == "tocsin_notifications_attempts_total")
            .map(|(key, _, _, value)| {
                let label = |name: &str| {
                    key.key().labels().find(|l| l.key() == name).map(|l| l.value().to_owned()).unwrap_or_default()
                };
                let DebugValue::Counter(n) = value else { return (String::new(), String::new(), 0) };
                (label("channel"), label("outcome"), n)
            })
            .collect();
        counts.sort();
        assert_eq!(counts, [("email".into(), "permanent".into(), 2), ("slack".into(), "permanent".into(), 1)]);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(10)), "10s");
        assert_eq!(human_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn snippets_are_one_bounded_line() {
        assert_eq!(snippet("  no\r\nsuch\tchannel ", 100), "no such channel");
        assert_eq!(snippet("abcdef", 3), "abc…");
        assert_eq!(snippet("one\u{2028}two", 100), "one two", "Unicode line separators end no line here");
    }
}
