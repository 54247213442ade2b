//! Webhook and Slack delivery over HTTP.
//!
//! Redirects are not followed: a signed request re-sent to wherever a
//! `Location` points would hand the payload (and its acknowledgement link) to
//! a host nobody configured, and 301/302 turn a POST into a GET anyway. A 3xx
//! therefore surfaces as a status, which the domain classifies as permanent
//! (a misconfigured URL), and the reason says to point the URL at the final
//! address.

use std::error::Error as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, DATE, LOCATION, RETRY_AFTER};
use tocsin_core::notify::IDEMPOTENCY_HEADER;
use tocsin_core::notify::backoff::{Delivery, TransportFailure, classify_http, classify_transport, parse_retry_after};
use tocsin_core::notify::signature;

use super::{ChannelError, Outcome, human_duration, snippet};

/// How much of an error response is read to quote in the reason. Receivers
/// answer errors with short messages; anything longer is not read at all.
const ERROR_BODY_LIMIT: usize = 4 * 1024;
/// How much of that is quoted.
const ERROR_SNIPPET_CHARS: usize = 200;

const USER_AGENT: &str = concat!("tocsin/", env!("CARGO_PKG_VERSION"));

pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, ChannelError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| ChannelError::Http(e.without_url().to_string()))
}

pub(super) struct Signing<'a> {
    pub secret: &'a [u8],
    pub now_unix: i64,
}

pub(super) async fn post(
    client: &reqwest::Client,
    timeout: Duration,
    url: &str,
    body: &serde_json::Value,
    idempotency_key: &str,
    signing: Option<Signing<'_>>,
) -> Outcome {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        // The URL itself may be a secret (Slack's are), so it is not quoted.
        _ => return Outcome::Permanent { reason: "the URL is not a valid http(s) URL".into() },
    };
    let receiver = receiver(&parsed);
    // Serialise once: the signature must cover exactly the bytes sent.
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(e) => return Outcome::Permanent { reason: format!("cannot serialise the payload: {e}") },
    };
    let mut request =
        client.post(parsed).header(CONTENT_TYPE, "application/json").header(IDEMPOTENCY_HEADER, idempotency_key);
    let reference_now = match signing {
        Some(Signing { secret, now_unix }) => {
            request = request.header(signature::HEADER, signature::header_value(secret, now_unix, &bytes));
            DateTime::from_timestamp(now_unix, 0)
        }
        None => None,
    };
    let response = match request.body(bytes).send().await {
        Ok(r) => r,
        Err(e) => return transport_outcome(&e, &receiver, timeout),
    };
    let status = response.status();
    let delivery = classify_http(status.as_u16());
    if delivery == Delivery::Delivered {
        return Outcome::Delivered;
    }
    let retry_after = retry_after(&response, reference_now);
    let mut reason = format!("HTTP {} from {receiver}", status.as_u16());
    if status.is_redirection() {
        let target = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| parsed_location(l, response.url()))
            .unwrap_or_else(|| "elsewhere".into());
        reason.push_str(&format!(" redirects to {target}; redirects are not followed, so configure the final URL"));
    } else if let Some(text) = error_text(response).await {
        reason.push_str(": ");
        reason.push_str(&text);
    }
    Outcome::from_delivery(delivery, reason, retry_after)
}

/// `host:port`, the part of a URL that is safe to show.
fn receiver(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Only the host of a redirect target: its path may carry a token.
fn parsed_location(location: &str, base: &reqwest::Url) -> Option<String> {
    base.join(location).ok().map(|u| receiver(&u))
}

/// The receiver's `Retry-After`, in seconds or as an HTTP date. A date is
/// measured against the response's own `Date` header when it has one, so the
/// two clocks' skew cancels; else against the caller's time, else ours.
fn retry_after(response: &reqwest::Response, reference_now: Option<DateTime<Utc>>) -> Option<chrono::Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    let server_now = response
        .headers()
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .map(|d| d.with_timezone(&Utc));
    let now = server_now.or(reference_now).unwrap_or_else(Utc::now);
    let wait = parse_retry_after(value, now)?;
    Some(chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX))
}

/// Up to [`ERROR_BODY_LIMIT`] bytes of the body, quoted on one line; `None`
/// when it is empty or unreadable (the status says enough then).
async fn error_text(mut response: reqwest::Response) -> Option<String> {
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    buf.truncate(ERROR_BODY_LIMIT);
    let text = snippet(&String::from_utf8_lossy(&buf), ERROR_SNIPPET_CHARS);
    (!text.is_empty()).then_some(text)
}

fn transport_outcome(e: &reqwest::Error, receiver: &str, timeout: Duration) -> Outcome {
    let (kind, reason) = if e.is_timeout() {
        (TransportFailure::Timeout, format!("timed out after {} waiting for {receiver}", human_duration(timeout)))
    } else if e.is_connect() {
        let reason = match io_kind(e) {
            Some(std::io::ErrorKind::ConnectionRefused) => format!("connection refused by {receiver}"),
            _ => format!("cannot connect to {receiver}: {}", innermost(e)),
        };
        (TransportFailure::Connect, reason)
    } else {
        (TransportFailure::Other, format!("request to {receiver} failed: {}", innermost(e)))
    };
    Outcome::from_delivery(classify_transport(kind), reason, None)
}

fn io_kind(e: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

/// The root cause's message: reqwest's own `Display` includes the URL, which
/// may be a secret; its sources (IO, TLS, DNS errors) do not.
fn innermost(e: &reqwest::Error) -> String {
    let mut last: Option<&dyn std::error::Error> = None;
    let mut source = e.source();
    while let Some(s) = source {
        last = Some(s);
        source = s.source();
    }
    last.map_or_else(|| "unknown error".into(), |s| snippet(&s.to_string(), ERROR_SNIPPET_CHARS))
}
