//! Connection limits for the listener, the same for plain HTTP and TLS:
//! a cap on open connections, a header timeout and an idle timeout.
//!
//! Every accepted TCP connection passes [`Gate`] (an axum-server acceptor,
//! beneath TLS when TLS is on), which wraps the socket to watch it:
//!
//! - **Header timeout.** From accept (TLS handshake included), and from the
//!   first byte of each later request, the request's head must be complete
//!   within `header_timeout`, else the connection is closed.
//! - **Idle timeout.** A kept-alive connection with no request in flight
//!   and nothing received is closed after `idle_timeout`.
//! - **Cap.** At most `max_connections` are open. When a new connection
//!   arrives at the cap, the connection that has gone longest without a
//!   request in flight (one still sending its headers, or an idle one) is
//!   closed to make room; only when every connection has a request in
//!   flight is the new one closed instead. Reaching the cap is logged at
//!   most once per [`LOG_EVERY`] and everything shed is counted in
//!   `tocsin_connections_shed_total{reason}`.
//!
//! Why shed the oldest idle or slow connection, rather than refuse new
//! ones or reserve room for health checks: a health check cannot be told
//! apart from any other client before its headers are read, so a reserve
//! fills up with slow clients like the rest. A refusing cap would leave the
//! server deaf for as long as slow clients hold its connections, which is
//! the failure this guards against. Shedding the oldest idle connection
//! costs a well-behaved client nothing (it reconnects, as after any
//! keep-alive close) and a slow client its connection, while a new client
//! that sends its request at once (a probe, a sender) is in flight and safe
//! long before it could become the oldest. Requests in flight are bounded
//! separately ([`tocsin_http::OverloadLimits::max_requests`], below the
//! cap), so there is always something idle to shed.
//!
//! The timers run here rather than in hyper because hyper's HTTP/1 header
//! timer is also its only idle timer and HTTP/2 has neither; one sweep
//! ([`SWEEPS_PER_TIMEOUT`] per timeout) covers both protocols and TLS.

use axum_server::accept::Accept;
use std::collections::HashMap;
use std::future::{Future, Ready};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tocsin_http::overload::{LOG_EVERY, LogThrottle};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How many times per (shorter) timeout the sweep runs: a connection is
/// closed at most a tenth of its timeout late.
const SWEEPS_PER_TIMEOUT: u32 = 10;

/// Limits on the connections one listener holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once. The default leaves room under the common
    /// limit of 1024 open files for the database pool, outgoing deliveries
    /// and the process's own files.
    pub max_connections: usize,
    /// Time allowed for a request's head, from accept or from its first byte.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { max_connections: 512, header_timeout: Duration::from_secs(10), idle_timeout: Duration::from_secs(60) }
    }
}

/// What a connection is doing when it has no request in flight.
const WAITING_FOR_HEAD: u8 = 0;
const IDLE: u8 = 1;

/// One open connection, as the gate sees it.
struct Conn {
    /// Requests in flight (several at once on HTTP/2).
    busy: AtomicU32,
    /// [`WAITING_FOR_HEAD`] or [`IDLE`], meaningful when not busy.
    phase: AtomicU8,
    /// When the current phase began, in milliseconds since the gate's epoch.
    since: AtomicU64,
    /// Set (under the registry lock) once the gate has closed it.
    closing: AtomicBool,
    read_waker: Mutex<Option<Waker>>,
    write_waker: Mutex<Option<Waker>>,
}

impl Conn {
    /// Closes the connection: its next read or write fails, and a task
    /// waiting on either is woken to find out.
    fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        for waker in [&self.read_waker, &self.write_waker] {
            if let Some(w) = waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
                w.wake();
            }
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Keeps the waker of a pending read or write, then checks whether the
    /// connection was closed meanwhile (so no close goes unnoticed).
    fn park(&self, slot: &Mutex<Option<Waker>>, cx: &Context<'_>) -> bool {
        {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        self.is_closing()
    }
}

struct Registry {
    conns: HashMap<u64, Arc<Conn>>,
    /// Connections counted against the cap: open and not yet closed by the gate.
    admitted: usize,
}

struct Shared {
    /// The listener's name in metrics and logs (`main`, `probe`).
    listener: &'static str,
    limits: ConnectionLimits,
    epoch: Instant,
    next_id: AtomicU64,
    registry: Mutex<Registry>,
    cap_log: LogThrottle,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection, making room at the cap; `None` when
    /// every open connection has a request in flight.
    fn admit(&self) -> Option<(u64, Arc<Conn>)> {
        let now = self.now_ms();
        let mut registry = self.registry();
        if registry.admitted >= self.limits.max_connections {
            // Ties on the millisecond are common in a burst of accepts; the
            // id (admission order) breaks them so the newest is never shed
            // before an older one that arrived in the same millisecond.
            let oldest = registry
                .conns
                .iter()
                .filter(|(_, c)| !c.is_closing() && c.busy.load(Ordering::SeqCst) == 0)
                .min_by_key(|(id, c)| (c.since.load(Ordering::SeqCst), **id))
                .map(|(_, c)| c.clone());
            self.report_cap(registry.admitted, oldest.is_some());
            match oldest {
                Some(conn) => {
                    conn.close();
                    registry.admitted -= 1;
                    self.shed("cap");
                }
                None => {
                    self.shed("refused");
                    return None;
                }
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            busy: AtomicU32::new(0),
            phase: AtomicU8::new(WAITING_FOR_HEAD),
            since: AtomicU64::new(now),
            closing: AtomicBool::new(false),
            read_waker: Mutex::new(None),
            write_waker: Mutex::new(None),
        });
        registry.conns.insert(id, conn.clone());
        registry.admitted += 1;
        metrics::counter!("tocsin_connections_accepted_total", "listener" => self.listener).increment(1);
        self.export(&registry);
        Some((id, conn))
    }

    fn report_cap(&self, open: usize, shed_one: bool) {
        if let Some(held_back) = self.cap_log.ready() {
            let action = if shed_one {
                "closing the connection idle or waiting for headers longest"
            } else {
                "every connection has a request in flight; closing the new one"
            };
            tracing::warn!(
                listener = self.listener,
                open,
                max_connections = self.limits.max_connections,
                reports_held_back = held_back,
                "connection limit reached: {action} (see tocsin_connections_shed_total)"
            );
        }
    }

    /// Forgets a connection whose socket is gone.
    fn release(&self, id: u64) {
        let mut registry = self.registry();
        if let Some(conn) = registry.conns.remove(&id)
            && !conn.is_closing()
        {
            registry.admitted -= 1;
        }
        self.export(&registry);
    }

    fn export(&self, registry: &Registry) {
        metrics::gauge!("tocsin_connections_open", "listener" => self.listener).set(registry.admitted as f64);
    }

    fn shed(&self, reason: &'static str) {
        metrics::counter!("tocsin_connections_shed_total", "listener" => self.listener, "reason" => reason)
            .increment(1);
    }

    /// Closes every connection past its header or idle deadline.
    fn sweep(&self) {
        let now = self.now_ms();
        let header = self.limits.header_timeout.as_millis() as u64;
        let idle = self.limits.idle_timeout.as_millis() as u64;
        let mut registry = self.registry();
        let mut closed = 0;
        for conn in registry.conns.values() {
            if conn.is_closing() || conn.busy.load(Ordering::SeqCst) > 0 {
                continue;
            }
            let (allowed, reason) = match conn.phase.load(Ordering::SeqCst) {
                IDLE => (idle, "idle_timeout"),
                _ => (header, "header_timeout"),
            };
            if now.saturating_sub(conn.since.load(Ordering::SeqCst)) >= allowed {
                conn.close();
                self.shed(reason);
                closed += 1;
            }
        }
        registry.admitted -= closed;
        self.export(&registry);
    }
}

/// The acceptor that enforces [`ConnectionLimits`]; clones share one count.
#[derive(Clone)]
pub struct Gate {
    shared: Arc<Shared>,
}

impl Gate {
    /// A gate with these limits for the listener called `listener`, and its
    /// sweep (on the current runtime), which ends when the last clone of the
    /// gate is dropped (when the server has stopped).
    pub fn start(listener: &'static str, limits: ConnectionLimits) -> Self {
        let shared = Arc::new(Shared {
            listener,
            limits,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            registry: Mutex::new(Registry { conns: HashMap::new(), admitted: 0 }),
            cap_log: LogThrottle::new(LOG_EVERY),
        });
        metrics::gauge!("tocsin_connections_max", "listener" => listener).set(limits.max_connections as f64);
        metrics::gauge!("tocsin_connections_open", "listener" => listener).set(0.0);
        let period = (limits.header_timeout.min(limits.idle_timeout) / SWEEPS_PER_TIMEOUT)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        tokio::spawn(sweep(Arc::downgrade(&shared), period));
        Self { shared }
    }
}

async fn sweep(shared: Weak<Shared>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match shared.upgrade() {
            Some(shared) => shared.sweep(),
            None => return,
        }
    }
}

impl<S> Accept<TcpStream, S> for Gate {
    type Stream = Watched<TcpStream>;
    type Service = Counted<S>;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(match self.shared.admit() {
            Some((id, conn)) => {
                let counted = Counted { inner: service, conn: conn.clone(), shared: self.shared.clone() };
                Ok((Watched { io: stream, id, conn, shared: self.shared.clone(), linger: None }, counted))
            }
            None => Err(io::Error::other(Refused)),
        })
    }
}

/// The error for a connection closed at once because the cap was reached
/// and every open connection had a request in flight.
#[derive(Debug, thiserror::Error)]
#[error("connection limit reached with every connection busy")]
pub struct Refused;

/// A socket the gate watches: reads and writes fail once the gate closes it,
/// and the first bytes of a new request start its header clock.
pub struct Watched<T> {
    io: T,
    id: u64,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    /// Set once the server has sent its FIN: see [`LINGER`].
    linger: Option<Linger>,
}

/// How long, and how many bytes, a closing connection goes on reading what
/// the client still sends. A server that answers before reading a request's
/// body (an unknown key, a shed request, a 413) and then closes with unread
/// bytes makes the kernel send a reset, which can destroy the answer before
/// the client reads it; reading the rest first (a "lingering close") lets
/// the client see its 404, 413 or 503. Bounded, so it costs little: more
/// than the largest body limit, for a short while.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 8 * 1024 * 1024;

struct Linger {
    deadline: Pin<Box<tokio::time::Sleep>>,
    drained: usize,
}

fn closed_by_gate() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection closed by the server's connection limits")
}

impl<T> Drop for Watched<T> {
    fn drop(&mut self) {
        self.shared.release(self.id);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.conn.is_closing() {
            return Poll::Ready(Err(closed_by_gate()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let conn = &this.conn;
                if buf.filled().len() > before
                    && conn.busy.load(Ordering::SeqCst) == 0
                    && conn.phase.load(Ordering::SeqCst) == IDLE
                {
                    // The next request has begun: its head is now on the clock.
                    conn.since.store(this.shared.now_ms(), Ordering::SeqCst);
                    conn.phase.store(WAITING_FOR_HEAD, Ordering::SeqCst);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.conn.park(&this.conn.read_waker, cx) => Poll::Ready(Err(closed_by_gate())),
            other => other,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.conn.is_closing() {
            return Poll::Ready(Err(closed_by_gate()));
        }
        match Pin::new(&mut this.io).poll_write(cx, data) {
            Poll::Pending if this.conn.park(&this.conn.write_waker, cx) => Poll::Ready(Err(closed_by_gate())),
            other => other,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.conn.is_closing() {
            return Poll::Ready(Err(closed_by_gate()));
        }
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending if this.conn.park(&this.conn.write_waker, cx) => Poll::Ready(Err(closed_by_gate())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Sends the FIN, then lingers: reads and discards what the client still
    /// sends until it closes too, or for at most [`LINGER`] and
    /// [`LINGER_BYTES`]. A connection the gate closed does not linger.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            std::task::ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.linger = Some(Linger { deadline: Box::pin(tokio::time::sleep(LINGER)), drained: 0 });
        }
        let mut scratch = [0u8; 8192];
        loop {
            let Some(linger) = this.linger.as_mut() else { return Poll::Ready(Ok(())) };
            if this.conn.is_closing() || linger.drained > LINGER_BYTES || linger.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => linger.drained += buf.filled().len(),
                // The client has closed too, or the connection failed.
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending if this.conn.park(&this.conn.read_waker, cx) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The connection's service: counts its requests in flight, so that the
/// gate never closes a connection while it is answering.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl<S, R> tower::Service<R> for Counted<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = InFlight<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // Under the registry lock, as every check of the count is.
        let registry = self.shared.registry();
        self.conn.busy.fetch_add(1, Ordering::SeqCst);
        drop(registry);
        let busy = Busy { conn: self.conn.clone(), shared: self.shared.clone() };
        InFlight { inner: Box::pin(self.inner.call(request)), busy: Some(busy) }
    }
}

/// One request in flight on a connection; when the last one on it ends, the
/// connection is idle from then on.
struct Busy {
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Under the registry lock, so that no sweep sees the count at zero
        // before the idle clock has been started.
        let _registry = self.shared.registry();
        if self.conn.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.conn.since.store(self.shared.now_ms(), Ordering::SeqCst);
            self.conn.phase.store(IDLE, Ordering::SeqCst);
        }
    }
}

/// The response future of a [`Counted`] service.
pub struct InFlight<F> {
    inner: Pin<Box<F>>,
    busy: Option<Busy>,
}

impl<F: Future> Future for InFlight<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ready = self.inner.as_mut().poll(cx);
        if ready.is_ready() {
            self.busy = None;
        }
        ready
    }
}

/// Logs failures to accept (the listener's own, such as running out of
/// file descriptors, at most once per [`LOG_EVERY`]; a failed TLS handshake
/// only at debug level) and counts them.
pub fn accept_error_handler(
    listener: &'static str,
) -> impl Fn(Option<&std::net::SocketAddr>, &io::Error) + Send + Sync + 'static {
    let throttle = LogThrottle::new(LOG_EVERY);
    move |remote, error| {
        if error.get_ref().is_some_and(|e| e.is::<Refused>()) {
            return; // counted and logged by the gate
        }
        match remote {
            None => {
                metrics::counter!("tocsin_connections_accept_errors_total", "listener" => listener).increment(1);
                if let Some(held_back) = throttle.ready() {
                    tracing::warn!(listener, %error, reports_held_back = held_back, "cannot accept connections");
                }
            }
            Some(remote) => tracing::debug!(%remote, %error, "connection failed before its first request"),
        }
    }
}

/// Spare file descriptors wanted beside the connections: database pool,
/// outgoing deliveries, the database files, the listener.
const FILES_BESIDE_CONNECTIONS: u64 = 128;

/// Warns when the open-file limit leaves too little room for the caps.
pub fn check_open_file_limit(max_connections: usize) {
    if let Some(limit) = open_file_limit()
        && limit < max_connections as u64 + FILES_BESIDE_CONNECTIONS
    {
        tracing::warn!(
            open_file_limit = limit,
            max_connections,
            "the open-file limit leaves fewer than {FILES_BESIDE_CONNECTIONS} files beside --max-connections; \
             lower --max-connections or raise the limit (ulimit -n, LimitNOFILE=)"
        );
    }
}

/// Largest read buffer of an HTTP/1 connection, and so the longest request
/// head. hyper's default (about 400 KiB) lets every connection's buffer
/// grow that large while a body streams through it, memory that no body
/// budget sees; 64 KiB keeps reads efficient and heads generous.
pub const READ_BUFFER: usize = 64 * 1024;

/// Connections the kernel completes and queues for the server to accept.
/// More than the 128 the standard library asks for: while slow clients
/// churn through the cap, a short queue overflows, and a probe whose
/// connection is dropped there waits a whole second for its SYN to be sent
/// again. (Linux caps it at `net.core.somaxconn`.)
const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listener on `addr` (an address, or a name that resolves to one)
/// with a [`LISTEN_BACKLOG`]-long accept queue. Needs a Tokio runtime.
pub fn bind(addr: &str) -> io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "the address resolves to nothing");
    for candidate in addr.to_socket_addrs()? {
        let socket =
            if candidate.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
        let listening = socket.and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(candidate)?;
            socket.listen(LISTEN_BACKLOG)?.into_std()
        });
        match listening {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The process's soft limit on open files, where the system says (Linux).
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
