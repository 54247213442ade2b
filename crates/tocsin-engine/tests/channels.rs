#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The delivery channels against real receivers on loopback.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use tocsin_core::event::Severity;
use tocsin_core::incident::IncidentStatus;
use tocsin_core::model::Smtp;
use tocsin_core::notify::render::{self, PageMessage};
use tocsin_core::notify::signature;
use tocsin_engine::channels::{Channels, Outcome};
use tocsin_testkit::{HttpRecorder, SmtpSink};

const WAIT: Duration = Duration::from_secs(10);
const SECRET: &[u8] = b"whsec_channels_test";
const NOW: i64 = 1_772_442_000; // 2026-03-02T09:00:00Z

fn message() -> PageMessage {
    PageMessage {
        incident_id: 42,
        title: "Überlast – checkout".into(),
        severity: Severity::Critical,
        service_id: "checkout".into(),
        service_name: "Checkout".into(),
        status: IncidentStatus::Triggered,
        created_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap(),
        ack_url: Some("https://tocsin.example/ack/42?token=42.61.1.ab".into()),
        incident_url: Some("https://tocsin.example/incidents/42".into()),
        summary_lines: vec!["p99 2.4s > 1s".into(), "région=eu-west-1".into()],
    }
}

fn channels(timeout: Duration) -> Channels {
    Channels::new(None, timeout).unwrap()
}

fn smtp_channels(sink: &SmtpSink) -> Channels {
    let smtp = Smtp {
        host: sink.host(),
        port: sink.port(),
        from: "tocsin@example.com".into(),
        username: None,
        password: None,
        starttls: false,
    };
    Channels::new(Some(smtp), Duration::from_secs(10)).unwrap()
}

fn reason(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Delivered => panic!("expected a failure, got Delivered"),
        Outcome::Retry { reason, .. } | Outcome::Permanent { reason } => reason,
    }
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn webhook_sends_the_exact_json_with_key_and_a_verifiable_signature() {
    let recorder = HttpRecorder::start().await;
    let body = render::webhook_payload(&message(), "notif-42-1");
    let outcome = channels(Duration::from_secs(10))
        .webhook(&recorder.url("/hooks/pager"), &body, "notif-42-1", SECRET, NOW)
        .await;
    assert_eq!(outcome, Outcome::Delivered);

    let got = recorder.wait_for(1, WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hooks/pager");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("idempotency-key"), Some("notif-42-1"));
    assert_eq!(req.header("user-agent"), Some(concat!("tocsin/", env!("CARGO_PKG_VERSION"))));
    assert_eq!(req.body_json().unwrap(), body);
    assert_eq!(req.body.as_ref(), serde_json::to_vec(&body).unwrap().as_slice());

    let header = req.header("tocsin-signature").expect("signature header");
    assert!(header.starts_with(&format!("t={NOW},v1=")), "{header}");
    let at = Utc.timestamp_opt(NOW, 0).single().unwrap();
    assert_eq!(signature::verify(SECRET, header, &req.body, at, signature::DEFAULT_TOLERANCE), Ok(()));
    assert!(signature::verify(b"another secret", header, &req.body, at, signature::DEFAULT_TOLERANCE).is_err());
}

#[tokio::test]
async fn http_statuses_map_to_retry_or_permanent() {
    let cases = [(500, true), (502, true), (429, true), (404, false), (400, false), (410, false)];
    for (status, retry) in cases {
        let recorder = HttpRecorder::start().await;
        recorder.set_status(status);
        let outcome = channels(Duration::from_secs(10))
            .webhook(&recorder.url("/h"), &serde_json::json!({"a": 1}), "k", SECRET, NOW)
            .await;
        let want = format!("HTTP {status} from {}", recorder.addr());
        assert!(reason(&outcome).starts_with(&want), "{status}: {outcome:?}");
        match outcome {
            Outcome::Retry { retry_after, .. } if retry => assert_eq!(retry_after, None, "{status}"),
            Outcome::Permanent { .. } if !retry => {}
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(recorder.requests().len(), 1, "{status}: exactly one attempt");
    }
}

#[tokio::test]
async fn retry_after_from_a_503_is_passed_on() {
    let recorder = HttpRecorder::start().await;
    recorder.fail_next(1, 503);
    recorder.set_retry_after(Some("7"));
    let ch = channels(Duration::from_secs(10));
    let body = serde_json::json!({"a": 1});
    let outcome = ch.webhook(&recorder.url("/h"), &body, "k", SECRET, NOW).await;
    match &outcome {
        Outcome::Retry { reason, retry_after } => {
            assert_eq!(*retry_after, Some(chrono::Duration::seconds(7)));
            assert!(reason.starts_with(&format!("HTTP 503 from {}", recorder.addr())), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The failure was one-off: the retry goes through, with the same key.
    assert_eq!(ch.webhook(&recorder.url("/h"), &body, "k", SECRET, NOW).await, Outcome::Delivered);
    let got = recorder.wait_for(2, WAIT).await.unwrap();
    assert!(got.iter().all(|r| r.header("idempotency-key") == Some("k")));
}

#[tokio::test]
async fn a_redirect_is_reported_not_followed() {
    let recorder = HttpRecorder::start().await;
    recorder.set_status(307);
    let outcome = channels(Duration::from_secs(10)).slack(&recorder.url("/h"), &serde_json::json!({}), "k").await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("redirects are not followed"), "{outcome:?}");
}

#[tokio::test]
async fn reasons_never_quote_the_url_path() {
    let recorder = HttpRecorder::start().await;
    recorder.set_status(404);
    let url = recorder.url("/services/T000/B000/XXSECRETXX?token=YYSECRETYY");
    let outcome = channels(Duration::from_secs(10)).slack(&url, &serde_json::json!({"text": "x"}), "k").await;
    let why = reason(&outcome);
    assert!(!why.contains("SECRET"), "{why}");

    let closed = format!("http://127.0.0.1:{}/services/XXSECRETXX", closed_port());
    let outcome = channels(Duration::from_secs(10)).slack(&closed, &serde_json::json!({}), "k").await;
    assert!(!reason(&outcome).contains("SECRET"), "{outcome:?}");
}

#[tokio::test]
async fn connection_refused_is_retried() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/h");
    let outcome = channels(Duration::from_secs(10)).webhook(&url, &serde_json::json!({}), "k", SECRET, NOW).await;
    match &outcome {
        Outcome::Retry { reason, retry_after: None } => {
            assert_eq!(reason, &format!("connection refused by 127.0.0.1:{port}"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_and_is_retried() {
    // Bound and listening, so the connection is made, but nothing ever reads
    // or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/h", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let outcome = channels(Duration::from_millis(300)).webhook(&url, &serde_json::json!({}), "k", SECRET, NOW).await;
    match &outcome {
        Outcome::Retry { reason, retry_after: None } => {
            assert!(reason.starts_with("timed out after 300ms"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "the timeout bounds the attempt: {:?}", started.elapsed());
    drop(silent);
}

#[tokio::test]
async fn slack_payload_arrives_as_sent_with_key_and_no_signature() {
    let recorder = HttpRecorder::start().await;
    let body = render::slack_payload(&message());
    let outcome = channels(Duration::from_secs(10)).slack(&recorder.url("/services/T/B/x"), &body, "notif-9").await;
    assert_eq!(outcome, Outcome::Delivered);
    let got = recorder.wait_for(1, WAIT).await.unwrap();
    assert_eq!(got[0].body_json().unwrap(), body);
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].header("idempotency-key"), Some("notif-9"));
    assert_eq!(got[0].header("tocsin-signature"), None);
}

#[tokio::test]
async fn email_arrives_as_multipart_alternative_with_both_parts() {
    let sink = SmtpSink::start().await;
    let email = render::email(&message());
    let outcome = smtp_channels(&sink).email("oncall@example.com", &email, "notif-42-1").await;
    assert_eq!(outcome, Outcome::Delivered);

    let mails = sink.wait_for(1, WAIT).await.unwrap();
    let mail = &mails[0];
    assert_eq!(mail.from, "tocsin@example.com");
    assert_eq!(mail.to, ["oncall@example.com"]);
    assert_eq!(mail.subject().as_deref(), Some(email.subject.as_str()));
    assert!(email.subject.contains("Überlast – checkout"), "{}", email.subject);
    assert_eq!(mail.header("From").as_deref(), Some("tocsin@example.com"));
    assert_eq!(mail.header("To").as_deref(), Some("oncall@example.com"));
    assert_eq!(mail.header("Message-ID").as_deref(), Some("<notif-42-1@tocsin>"));
    let content_type = mail.header("Content-Type").unwrap();
    assert!(content_type.starts_with("multipart/alternative"), "{content_type}");
    assert_eq!(mail.text_part().as_deref(), Some(email.text.as_str()));
    assert_eq!(mail.html_part().as_deref(), Some(email.html.as_str()));
    assert!(email.text.contains("https://tocsin.example/ack/42?token=42.61.1.ab"));
}

#[tokio::test]
async fn smtp_451_is_retried_and_the_retry_carries_the_same_message_id() {
    let sink = SmtpSink::start().await;
    sink.reject_next(1, 451);
    let ch = smtp_channels(&sink);
    let email = render::email(&message());
    let outcome = ch.email("oncall@example.com", &email, "notif-42-2").await;
    match &outcome {
        Outcome::Retry { reason, retry_after: None } => {
            assert!(reason.starts_with(&format!("SMTP 451 from {}", sink.addr())), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.messages().is_empty());
    assert_eq!(ch.email("oncall@example.com", &email, "notif-42-2").await, Outcome::Delivered);
    let mails = sink.wait_for(1, WAIT).await.unwrap();
    assert_eq!(mails[0].header("Message-ID").as_deref(), Some("<notif-42-2@tocsin>"));
}

#[tokio::test]
async fn smtp_550_is_permanent() {
    let sink = SmtpSink::start().await;
    sink.reject_next(1, 550);
    let outcome = smtp_channels(&sink).email("oncall@example.com", &render::email(&message()), "k").await;
    match &outcome {
        Outcome::Permanent { reason } => {
            assert!(reason.starts_with(&format!("SMTP 550 from {}", sink.addr())), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_rejection_after_data_is_classified_too() {
    let sink = SmtpSink::start().await;
    sink.reject_next_data(1, 452);
    let outcome = smtp_channels(&sink).email("oncall@example.com", &render::email(&message()), "k").await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    sink.reject_next_data(1, 554);
    let outcome = smtp_channels(&sink).email("oncall@example.com", &render::email(&message()), "k").await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
}

#[tokio::test]
async fn email_without_smtp_or_with_a_bad_address_is_permanent() {
    let outcome = channels(Duration::from_secs(10)).email("oncall@example.com", &render::email(&message()), "k").await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("not configured"), "{outcome:?}");

    let sink = SmtpSink::start().await;
    let outcome = smtp_channels(&sink).email("not an address", &render::email(&message()), "k").await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn smtp_connection_refused_is_retried() {
    let port = closed_port();
    let smtp = Smtp {
        host: "127.0.0.1".into(),
        port,
        from: "tocsin@example.com".into(),
        username: Some("tocsin".into()),
        password: Some("hunter2".into()),
        starttls: false,
    };
    let ch = Channels::new(Some(smtp), Duration::from_secs(10)).unwrap();
    let outcome = ch.email("oncall@example.com", &render::email(&message()), "k").await;
    match &outcome {
        Outcome::Retry { reason, .. } => {
            assert_eq!(reason, &format!("connection refused by SMTP relay 127.0.0.1:{port}"));
        }
        other => panic!("{other:?}"),
    }
}
