//! Email delivery through the configured SMTP relay.
//!
//! No connection pool: pages are rare and bursty, and a fresh connection per
//! attempt means a relay restart never surfaces as a stale-connection error
//! on the next page.

use std::error::Error as _;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tocsin_core::model::Smtp;
use tocsin_core::notify::backoff::{TransportFailure, classify_transport};
use tocsin_core::notify::render::Email;

use super::{ChannelError, Outcome, human_duration, snippet};

/// Longest Message-ID local part taken from an idempotency key.
const MESSAGE_ID_MAX: usize = 128;
const REPLY_SNIPPET_CHARS: usize = 200;

pub(super) struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `Err` when the configured sender does not parse; every send then
    /// fails permanently with that reason.
    from: Result<Mailbox, String>,
    /// `host:port`, for reasons.
    name: String,
    timeout: Duration,
}

impl Relay {
    pub(super) fn new(config: Smtp, timeout: Duration) -> Result<Self, ChannelError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            .port(config.port)
            .timeout(Some(timeout));
        if config.starttls {
            // Required, not opportunistic: a relay that stops offering
            // STARTTLS must not receive credentials or pages in clear text.
            let tls = TlsParameters::new(config.host.clone())
                .map_err(|e| ChannelError::SmtpTls { host: config.host.clone(), reason: e.to_string() })?;
            builder = builder.tls(Tls::Required(tls));
        }
        if let (Some(user), Some(password)) = (config.username, config.password) {
            builder = builder.credentials(Credentials::new(user, password));
        }
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("the configured sender address {:?} is invalid: {e}", config.from));
        Ok(Self { transport: builder.build(), from, name: format!("{}:{}", config.host, config.port), timeout })
    }

    pub(super) async fn send(&self, to: &str, email: &Email, idempotency_key: &str) -> Outcome {
        let from = match &self.from {
            Ok(from) => from.clone(),
            Err(reason) => return Outcome::Permanent { reason: reason.clone() },
        };
        let to = match to.parse::<Mailbox>() {
            Ok(to) => to,
            Err(e) => return Outcome::Permanent { reason: format!("invalid recipient address {to:?}: {e}") },
        };
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject.as_str())
            .message_id(Some(message_id(idempotency_key)))
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()));
        let message = match message {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent { reason: format!("cannot build the email: {e}") },
        };
        // lettre's timeout bounds each command; this bounds the whole attempt.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Outcome::Delivered,
            Ok(Err(e)) => self.failure(&e),
            Err(_) => Outcome::Retry {
                reason: format!("timed out after {} talking to SMTP relay {}", human_duration(self.timeout), self.name),
                retry_after: None,
            },
        }
    }

    fn failure(&self, e: &lettre::transport::smtp::Error) -> Outcome {
        let relay = &self.name;
        if let Some(code) = e.status() {
            let reply = e.source().map(|s| snippet(&s.to_string(), REPLY_SNIPPET_CHARS)).unwrap_or_default();
            let reason = format!("SMTP {code} from {relay}: {reply}");
            return if e.is_permanent() {
                Outcome::Permanent { reason }
            } else {
                Outcome::Retry { reason, retry_after: None }
            };
        }
        if e.is_client() {
            // Our side cannot produce a valid exchange (e.g. no authentication
            // mechanism in common): only a configuration change helps.
            return Outcome::Permanent { reason: format!("SMTP relay {relay}: {}", describe(e)) };
        }
        let (kind, reason) = if e.is_timeout() {
            (
                TransportFailure::Timeout,
                format!("timed out after {} talking to SMTP relay {relay}", human_duration(self.timeout)),
            )
        } else if io_kind(e) == Some(std::io::ErrorKind::ConnectionRefused) {
            (TransportFailure::Connect, format!("connection refused by SMTP relay {relay}"))
        } else {
            (TransportFailure::Other, format!("SMTP relay {relay}: {}", describe(e)))
        };
        Outcome::from_delivery(classify_transport(kind), reason, None)
    }
}

/// `<key@tocsin>` with everything outside a conservative atom alphabet
/// replaced, so any idempotency key yields a valid, stable Message-ID and a
/// retried send carries the same one.
fn message_id(idempotency_key: &str) -> String {
    let mut local = String::new();
    for c in idempotency_key.chars().take(MESSAGE_ID_MAX) {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '=') { c } else { '.' };
        // Dot-atoms may not have empty atoms: no leading, trailing or double dots.
        if c == '.' && (local.is_empty() || local.ends_with('.')) {
            continue;
        }
        local.push(c);
    }
    let local = local.trim_end_matches('.');
    let local = if local.is_empty() { "notification" } else { local };
    format!("<{local}@tocsin>")
}

fn io_kind(e: &lettre::transport::smtp::Error) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

/// lettre's message with its sources; none of them carry the credentials.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    snippet(&e.to_string(), REPLY_SNIPPET_CHARS)
}

#[cfg(test)]
mod tests {
    use super::message_id;

    #[test]
    fn message_ids_are_valid_and_stable() {
        assert_eq!(message_id("notif-42-1"), "<notif-42-1@tocsin>");
        assert_eq!(message_id("a b<c>@d"), "<a.b.c.d@tocsin>");
        assert_eq!(message_id("..x..y.."), "<x.y@tocsin>");
        assert_eq!(message_id("<>"), "<notification@tocsin>");
        assert_eq!(message_id(""), "<notification@tocsin>");
        assert_eq!(message_id(&"k".repeat(500)).len(), MESSAGE_ID_MAX_LEN_WITH_BRACKETS);
    }

    const MESSAGE_ID_MAX_LEN_WITH_BRACKETS: usize = super::MESSAGE_ID_MAX + "<@tocsin>".len();
}
