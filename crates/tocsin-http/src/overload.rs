//! Request-level overload protection: a cap on requests in flight, a budget
//! of request-body bytes held in memory at once, and a deadline for reading
//! a body. What does not fit is shed at once with `503` + `Retry-After`
//! (a slow body gets `408`) instead of waiting in an unbounded queue; each
//! shed request is counted in `tocsin_requests_shed_total{reason}` and
//! logged at most once per [`LOG_EVERY`].
//!
//! Health, readiness and metrics are outside [`guard`] (see
//! [`crate::router`]): an orchestrator's probes and a scraper still get an
//! answer while every request slot is taken. Connection-level limits (the
//! cap on open connections, the header and idle timeouts) live with the
//! listener, in the `tocsin` crate's `connections` module.
//!
//! The byte budget is charged as a body is read, not when a request
//! arrives: a handler that rejects a request before reading its body (an
//! unknown integration key in the path) spends none of it. A body that
//! declares its length reserves all of it before the first byte is read, so
//! a request that cannot fit is refused without reading anything. The bytes
//! stay charged until the handler has answered, because a parsed body is
//! still in memory until then.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::state::AppState;

/// How often at most one kind of shedding is logged.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Limits on the requests one server handles at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverloadLimits {
    /// Requests handled at once (health, readiness and metrics excepted);
    /// one more is answered 503 at once. Keep it below the connection cap,
    /// so that a full server always has idle connections it can close to
    /// let a health check in.
    pub max_requests: usize,
    /// Request-body bytes held at once, from the first byte read until the
    /// handler has answered. A body that does not fit is answered 503.
    pub body_budget: usize,
    /// Longest time from the first read of a body to its last byte; a
    /// slower body is answered 408.
    pub body_timeout: Duration,
}

impl Default for OverloadLimits {
    fn default() -> Self {
        Self { max_requests: 256, body_budget: 64 * 1024 * 1024, body_timeout: Duration::from_secs(30) }
    }
}

/// Shared counters for [`OverloadLimits`], one per server.
#[derive(Clone)]
pub(crate) struct Overload {
    limits: OverloadLimits,
    requests: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    log: Arc<LogThrottle>,
}

impl Overload {
    pub(crate) fn new(limits: OverloadLimits) -> Self {
        let bytes = limits.body_budget.min(Semaphore::MAX_PERMITS);
        Self {
            limits,
            requests: Arc::new(Semaphore::new(limits.max_requests.min(Semaphore::MAX_PERMITS))),
            bytes: Arc::new(Semaphore::new(bytes)),
            log: Arc::new(LogThrottle::new(LOG_EVERY)),
        }
    }

    /// Counts and (rate-limited) logs one request shed for `reason`.
    fn shed(&self, reason: Shed) {
        metrics::counter!("tocsin_requests_shed_total", "reason" => reason.label()).increment(1);
        if let Some(suppressed) = self.log.ready() {
            tracing::warn!(
                reason = reason.label(),
                shed_since_last_report = suppressed,
                max_requests = self.limits.max_requests,
                body_budget = self.limits.body_budget,
                "shedding requests: {}",
                reason.describe()
            );
        }
    }

    /// Sets the gauges `/metrics` shows: how much of each limit is in use.
    pub(crate) fn export(&self) {
        let requests = self.limits.max_requests.saturating_sub(self.requests.available_permits());
        let bytes = self.limits.body_budget.saturating_sub(self.bytes.available_permits());
        metrics::gauge!("tocsin_requests_in_flight").set(requests as f64);
        metrics::gauge!("tocsin_requests_max_in_flight").set(self.limits.max_requests as f64);
        metrics::gauge!("tocsin_request_body_bytes_in_flight").set(bytes as f64);
        metrics::gauge!("tocsin_request_body_bytes_budget").set(self.limits.body_budget as f64);
    }
}

/// Why a request was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shed {
    Concurrency,
    BodyBudget,
    BodyTimeout,
}

impl Shed {
    fn label(self) -> &'static str {
        match self {
            Shed::Concurrency => "concurrency",
            Shed::BodyBudget => "body_budget",
            Shed::BodyTimeout => "body_timeout",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shed::Concurrency => "every request slot is taken (--max-requests); answered 503",
            Shed::BodyBudget => "the request-body byte budget is spent (--body-budget); answered 503",
            Shed::BodyTimeout => "a request body did not arrive in time (--body-timeout); answered 408",
        }
    }
}

/// Lets one message through per interval and counts the ones held back.
#[derive(Debug)]
pub struct LogThrottle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    pub fn new(every: Duration) -> Self {
        Self { every, state: Mutex::new((None, 0)) }
    }

    /// `Some(n)` when a message may be logged now, `n` being how many were
    /// held back since the last one; `None` when this one is held back.
    pub fn ready(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, held) = &mut *state;
        if last.is_some_and(|at| at.elapsed() < self.every) {
            *held += 1;
            return None;
        }
        *last = Some(Instant::now());
        Some(std::mem::take(held))
    }
}

/// Admits a request if a slot is free, and meters its body.
///
/// An HTTP/1 request answered before its body was read to the end (an
/// unknown key, a body the budget cannot hold, a 413) keeps its slot while
/// the rest of the body is read and dropped (at most [`DISCARD_LIMIT`]
/// bytes, within the body deadline), so that the client reads the answer
/// and the connection can carry its next request. When that is not
/// possible, and for a request shed before it got a slot, the answer says
/// `Connection: close` (the listener then lingers briefly before closing).
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let overload = &state.overload;
    let http1 = request.version() <= axum::http::Version::HTTP_11;
    let has_body = !request.body().is_end_stream();
    let Ok(slot) = overload.requests.clone().try_acquire_owned() else {
        overload.shed(Shed::Concurrency);
        return close_if(http1 && has_body, ApiError::overloaded().into_response());
    };
    let timeout = overload.limits.body_timeout;
    let (request, account) = if has_body {
        let account = Arc::new(Account::default());
        let (metered, overload) = (account.clone(), overload.clone());
        (request.map(|body| Body::new(Metered::new(body, metered, overload, timeout))), Some(account))
    } else {
        (request, None)
    };
    let response = next.run(request).await;
    let Some(account) = account else { return response };
    let finished = account.finished.load(Ordering::SeqCst);
    let rest = account.rest.lock().unwrap_or_else(|e| e.into_inner()).take();
    // The bytes read are released before the rest is dropped unread.
    drop(account);
    let reusable = finished
        || !http1
        || match rest {
            Some(rest) => discard(rest, timeout).await,
            None => false,
        };
    drop(slot);
    close_if(!reusable, response)
}

/// Most bytes of an unread body [`guard`] reads and drops to keep a
/// connection: more than any route's body limit.
pub const DISCARD_LIMIT: u64 = 8 * 1024 * 1024;

/// Reads and drops what is left of a body; whether it ended within
/// [`DISCARD_LIMIT`] bytes and `timeout`.
async fn discard(mut rest: Body, timeout: Duration) -> bool {
    if rest.size_hint().lower() > DISCARD_LIMIT {
        return false;
    }
    let mut dropped = 0u64;
    let read_all = async {
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut rest).poll_frame(cx)).await {
            match frame.map(|f| f.into_data()) {
                Ok(Ok(data)) => dropped += data.len() as u64,
                Ok(Err(_trailers)) => {}
                Err(_) => return false,
            }
            if dropped > DISCARD_LIMIT {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(timeout, read_all).await.unwrap_or(false)
}

fn close_if(close: bool, mut response: Response) -> Response {
    if close {
        response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}

/// The body bytes one request holds; released when both the body and the
/// middleware that admitted the request are done with it.
#[derive(Default)]
struct Account {
    held: Mutex<Option<OwnedSemaphorePermit>>,
    /// The body was read to its end.
    finished: AtomicBool,
    /// What the handler left unread, handed back for [`guard`] to discard
    /// (not after a body timeout: a client that slow is not waited for).
    rest: Mutex<Option<Body>>,
}

impl Account {
    fn add(&self, permit: OwnedSemaphorePermit) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(all) => all.merge(permit),
            None => *held = Some(permit),
        }
    }
}

/// Why a body was not read to its end; carried as the body's error and
/// turned into an answer by [`crate::error::read_body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyRefused {
    #[error("the request-body byte budget is spent")]
    Budget,
    #[error("the request body did not arrive in time")]
    Timeout,
}

impl BodyRefused {
    /// The refusal somewhere in `err`'s chain of sources, if any.
    pub(crate) fn find(err: &(dyn std::error::Error + 'static)) -> Option<BodyRefused> {
        let mut current = Some(err);
        while let Some(e) = current {
            if let Some(refused) = e.downcast_ref::<BodyRefused>() {
                return Some(*refused);
            }
            current = e.source();
        }
        None
    }
}

/// A request body that charges its bytes to the byte budget as they are
/// read and fails once its deadline passes.
struct Metered {
    inner: Body,
    account: Arc<Account>,
    overload: Overload,
    timeout: Duration,
    /// Started by the first read.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bytes charged so far and bytes read so far.
    charged: u64,
    read: u64,
    refused: Option<BodyRefused>,
}

impl Metered {
    fn new(inner: Body, account: Arc<Account>, overload: Overload, timeout: Duration) -> Self {
        Self { inner, account, overload, timeout, deadline: None, charged: 0, read: 0, refused: None }
    }

    /// Charges `n` more bytes, or refuses the body.
    fn charge(&mut self, n: u64) -> Result<(), BodyRefused> {
        let permit = u32::try_from(n)
            .ok()
            .filter(|&n| n as usize <= self.overload.limits.body_budget)
            .and_then(|n| self.overload.bytes.clone().try_acquire_many_owned(n).ok());
        match permit {
            Some(permit) => {
                self.account.add(permit);
                self.charged += n;
                Ok(())
            }
            None => Err(self.refuse(BodyRefused::Budget)),
        }
    }

    fn refuse(&mut self, why: BodyRefused) -> BodyRefused {
        if self.refused.is_none() {
            self.overload.shed(match why {
                BodyRefused::Budget => Shed::BodyBudget,
                BodyRefused::Timeout => Shed::BodyTimeout,
            });
        }
        self.refused = Some(why);
        why
    }
}

/// A body dropped before its end goes back to the account, for [`guard`]
/// to discard.
impl Drop for Metered {
    fn drop(&mut self) {
        if !self.account.finished.load(Ordering::SeqCst) && self.refused != Some(BodyRefused::Timeout) {
            let rest = std::mem::take(&mut self.inner);
            *self.account.rest.lock().unwrap_or_else(|e| e.into_inner()) = Some(rest);
        }
    }
}

impl HttpBody for Metered {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Some(why) = this.refused {
            return Poll::Ready(Some(Err(why.into())));
        }
        if this.deadline.is_none() {
            this.deadline = Some(Box::pin(tokio::time::sleep(this.timeout)));
            // A body that says how long it is reserves all of it up front.
            if let Some(declared) = this.inner.size_hint().exact()
                && declared > 0
                && let Err(why) = this.charge(declared)
            {
                return Poll::Ready(Some(Err(why.into())));
            }
        }
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(this.refuse(BodyRefused::Timeout).into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read += data.len() as u64;
                    if this.read > this.charged
                        && let Err(why) = this.charge(this.read - this.charged)
                    {
                        return Poll::Ready(Some(Err(why.into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.account.finished.store(true, Ordering::SeqCst);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.refused.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_lets_one_through_per_interval_and_counts_the_rest() {
        let throttle = LogThrottle::new(Duration::from_millis(50));
        assert_eq!(throttle.ready(), Some(0));
        assert_eq!(throttle.ready(), None);
        assert_eq!(throttle.ready(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(throttle.ready(), Some(2));
    }

    fn metered(body: Body, overload: &Overload) -> (Body, Arc<Account>) {
        let account = Arc::new(Account::default());
        let body = Body::new(Metered::new(body, account.clone(), overload.clone(), overload.limits.body_timeout));
        (body, account)
    }

    #[tokio::test]
    async fn bytes_stay_charged_until_the_request_is_done() {
        let overload = Overload::new(OverloadLimits { body_budget: 100, ..OverloadLimits::default() });
        let (body, account) = metered(Body::from(vec![b'x'; 60]), &overload);
        assert_eq!(crate::error::read_body(body, 1000).await.unwrap().len(), 60);
        assert_eq!(overload.bytes.available_permits(), 40, "the read bytes are still held");
        let (second, _other) = metered(Body::from(vec![b'y'; 60]), &overload);
        let refused = crate::error::read_body(second, 1000).await.unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        drop(account);
        assert_eq!(overload.bytes.available_permits(), 100);
    }

    /// A body of unknown length: these chunks, then (if `stall`) nothing ever.
    struct Chunks {
        chunks: std::collections::VecDeque<Bytes>,
        stall: bool,
    }

    impl HttpBody for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            match self.chunks.pop_front() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                None if self.stall => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn chunks(sizes: &[usize], stall: bool) -> Body {
        Body::new(Chunks { chunks: sizes.iter().map(|&n| Bytes::from(vec![b'x'; n])).collect(), stall })
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_is_charged_as_it_arrives() {
        let overload = Overload::new(OverloadLimits { body_budget: 100, ..OverloadLimits::default() });
        let (body, account) = metered(chunks(&[60, 30], false), &overload);
        assert_eq!(crate::error::read_body(body, 1000).await.unwrap().len(), 90);
        assert_eq!(overload.bytes.available_permits(), 10);
        drop(account);
        let (body, account) = metered(chunks(&[60, 60], false), &overload);
        let refused = crate::error::read_body(body, 1000).await.unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        drop(account);
        assert_eq!(overload.bytes.available_permits(), 100, "a refused body gives back what it held");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_budget_is_refused_before_reading() {
        let overload = Overload::new(OverloadLimits { body_budget: 100, ..OverloadLimits::default() });
        let (body, _account) = metered(Body::from(vec![b'x'; 101]), &overload);
        let refused = crate::error::read_body(body, 1000).await.unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        let (body, _account) = metered(Body::from(vec![b'x'; 101]), &overload);
        let too_large = crate::error::read_body(body, 100).await.unwrap_err();
        assert_eq!(too_large.status, axum::http::StatusCode::PAYLOAD_TOO_LARGE, "the route's limit comes first");
    }

    #[tokio::test]
    async fn a_body_that_stalls_past_its_deadline_is_a_408() {
        let overload =
            Overload::new(OverloadLimits { body_timeout: Duration::from_millis(50), ..OverloadLimits::default() });
        let (body, _account) = metered(chunks(&[10], true), &overload);
        let started = Instant::now();
        let refused = crate::error::read_body(body, 1000).await.unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::REQUEST_TIMEOUT);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
