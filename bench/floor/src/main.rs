//! HTTP+JSON floor for the ingest benchmark.
//!
//! An axum server that does the minimum any JSON ingest endpoint must do:
//! accept the request, read the body, parse it with
//! `serde_json::from_slice::<serde_json::Value>`, and answer. Nothing is
//! stored. Tocsin's ingest numbers are compared against this as the cost of
//! "HTTP + JSON" alone.
//!
//! Usage: `tocsin-bench-floor 127.0.0.1:PORT`
//!
//! Every path accepts `POST` (`/v2/enqueue`, `/api/v2/alerts` and, through
//! the fallback, anything else). Valid JSON gets `202` with a
//! PagerDuty-shaped body; invalid JSON gets `400`.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// Parse the body as JSON and answer like PagerDuty's Events v2 API does.
async fn ingest(body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) => {
            let dedup_key = value.get("dedup_key").and_then(Value::as_str).unwrap_or("floor").to_owned();
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({
                    "status": "success",
                    "message": "Event processed",
                    "dedup_key": dedup_key,
                })),
            )
                .into_response()
        }
        Err(err) => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            json!({
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": [err.to_string()],
            })
            .to_string(),
        )
            .into_response(),
    }
}

fn app() -> Router {
    Router::new().route("/v2/enqueue", post(ingest)).route("/api/v2/alerts", post(ingest)).fallback(ingest)
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("tocsin-bench-floor listening on {}", listener.local_addr()?);
    axum::serve(listener, app())
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(raw), None) = (args.next(), args.next()) else {
        eprintln!("usage: tocsin-bench-floor <listen-addr, e.g. 127.0.0.1:8080>");
        return ExitCode::from(2);
    };
    let addr: SocketAddr = match raw.parse() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("tocsin-bench-floor: invalid listen address {raw:?}: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("tocsin-bench-floor: cannot start runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tocsin-bench-floor: {err}");
            ExitCode::FAILURE
        }
    }
}
