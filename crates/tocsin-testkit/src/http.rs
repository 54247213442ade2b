//! [`HttpRecorder`]: an axum server that records every request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{WaitError, wait_count};

/// One request as the recorder saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, e.g. `/hooks/a?x=1`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub received_at: Instant,
    pub received_at_utc: DateTime<Utc>,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as UTF-8, lossily.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn body_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

#[derive(Debug)]
struct Plan {
    /// Answer for everything once the failures are used up.
    status: StatusCode,
    /// Failures still to give, and with which status.
    failures: usize,
    failure_status: StatusCode,
    /// `Retry-After` sent with every non-2xx answer, when set.
    retry_after: Option<String>,
    /// Requests still to record but never answer.
    hangs: usize,
}

struct Shared {
    requests: Mutex<Vec<Recorded>>,
    plan: Mutex<Plan>,
    count: watch::Sender<usize>,
}

impl Shared {
    fn requests(&self) -> MutexGuard<'_, Vec<Recorded>> {
        // A panicking test thread must not hide what was recorded.
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An HTTP server on `127.0.0.1:0` that records every request and answers
/// 200 unless told otherwise. Any method, any path.
pub struct HttpRecorder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    count: watch::Receiver<usize>,
    server: JoinHandle<()>,
}

impl HttpRecorder {
    /// Binds and starts serving.
    ///
    /// # Panics
    /// When no loopback port can be bound: a broken test environment.
    #[allow(clippy::expect_used)]
    pub async fn start() -> HttpRecorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address of a bound listener");
        let (count_tx, count) = watch::channel(0);
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            plan: Mutex::new(Plan {
                status: StatusCode::OK,
                failures: 0,
                failure_status: StatusCode::INTERNAL_SERVER_ERROR,
                retry_after: None,
                hangs: 0,
            }),
            count: count_tx,
        });
        let app = Router::new().fallback(record).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpRecorder { addr, shared, count, server }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`; `path` should start with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answer the next `n` requests with `status`, then go back to the
    /// standing status (200 unless [`set_status`](Self::set_status) changed it).
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut plan = self.shared.plan();
        plan.failures = n;
        plan.failure_status = to_status(status);
    }

    /// Answer every request (after any pending [`fail_next`](Self::fail_next)) with `status`.
    pub fn set_status(&self, status: u16) {
        self.shared.plan().status = to_status(status);
    }

    /// Record the next `n` requests but never answer them: the sender sees a
    /// receiver that hangs until it gives up or goes away.
    pub fn hang_next(&self, n: usize) {
        self.shared.plan().hangs = n;
    }

    /// Send `Retry-After: <value>` with every non-2xx answer (`None` stops it).
    pub fn set_retry_after(&self, value: Option<&str>) {
        self.shared.plan().retry_after = value.map(str::to_owned);
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests().clone()
    }

    /// Waits until at least `n` requests have arrived and returns them all;
    /// an error after `timeout` says how many did.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<Recorded>, WaitError> {
        let mut rx = self.count.clone();
        wait_count(&mut rx, n, timeout).await?;
        Ok(self.requests())
    }
}

impl Drop for HttpRecorder {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn to_status(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let request = Recorded { method, path, headers, body, received_at: Instant::now(), received_at_utc: Utc::now() };
    // Decide the answer before counting, so a waiter that wakes sees the
    // plan already advanced.
    let (status, retry_after, hang) = {
        let mut plan = shared.plan();
        let hang = plan.hangs > 0;
        plan.hangs = plan.hangs.saturating_sub(1);
        let status = if plan.failures > 0 {
            plan.failures -= 1;
            plan.failure_status
        } else {
            plan.status
        };
        let retry_after = if status.is_success() { None } else { plan.retry_after.clone() };
        (status, retry_after, hang)
    };
    let total = {
        let mut requests = shared.requests();
        requests.push(request);
        requests.len()
    };
    shared.count.send_replace(total);
    if hang {
        // Dropped, unanswered, when the sender closes the connection.
        std::future::pending::<()>().await;
    }
    let body = if status.is_success() { "ok" } else { "failing as the test asked" };
    let mut response = (status, body).into_response();
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
