//! Connections: the accept loop (with back-off on accept errors), per-connection timeouts, and a bounded,
//! graceful drain on shutdown — for the REST and metrics ports (hyper directly) and the gRPC port (tonic).
//!
//! - A client must send a request's headers within `header_read_timeout` of connecting or of its previous
//!   response (HTTP/1), so a half-sent request cannot hold a connection, and a shutdown, forever; and any
//!   connection (REST, metrics, gRPC) must start its request or HTTP/2 preface within the same time.
//! - A connection with no request in flight for `idle_timeout` is closed gracefully (HTTP/2: GOAWAY).
//! - An accept error that is not about one connection (EMFILE, ENFILE, ENOBUFS) backs off, 10 ms doubling to
//!   1 s, instead of spinning; once file descriptors free up the next accept serves new clients again.
//! - On shutdown the listener is closed first; then every HTTP/1 response carries `Connection: close`, HTTP/2
//!   connections get GOAWAY at once, and HTTP/1 connections left idle for [`SHUTDOWN_IDLE_GRACE`] are closed
//!   (a request a client had already sent on one is answered first). Whatever is still open at
//!   `drain_timeout` is cut, so the process exits within the deadline however clients behave.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, Request, Version, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::coalesce::Coalesce;

/// How long an HTTP/1 connection may stay idle once shutdown has started before it is closed: long enough for
/// a request a client had already sent to arrive and be answered (with `Connection: close`).
pub(crate) const SHUTDOWN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// The connection limits of one server (from [`crate::Config`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Time to send a request's headers (HTTP/1).
    pub(crate) header_read_timeout: Duration,
    /// Time a connection with no request in flight is kept.
    pub(crate) idle_timeout: Duration,
    /// Time in-flight requests get after shutdown starts.
    pub(crate) drain_timeout: Duration,
}

/// Waits until `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Exponential back-off for accept errors that are not about one connection.
#[derive(Debug, Default)]
struct Backoff(Option<Duration>);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn next(&mut self) -> Duration {
        let delay = self.0.map_or(Self::FIRST, |d| (d * 2).min(Self::MAX));
        self.0 = Some(delay);
        delay
    }

    fn reset(&mut self) {
        self.0 = None;
    }
}

/// Whether an accept error concerns only the connection being accepted (the next accept may well succeed).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

/// Accepts the next connection, backing off on errors that are not about one connection (file descriptors
/// exhausted: without the back-off the loop would spin and starve the clients it already has).
async fn accept(listener: &TcpListener, backoff: &mut Backoff) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.reset();
                return stream;
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                let delay = backoff.next();
                tracing::warn!(
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "cannot accept a connection; backing off"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A stream of accepted connections for tonic, with [`accept`]'s back-off (tonic's own loop retries at once),
/// each of which must send its first bytes within `first_bytes` (a client that connects and says nothing is
/// disconnected, as on the REST port).
pub(crate) fn incoming(
    listener: TcpListener,
    first_bytes: Duration,
) -> impl futures::Stream<Item = Result<FirstBytesDeadline, std::io::Error>> {
    futures::stream::unfold(
        (listener, Backoff::default()),
        move |(listener, mut backoff)| async move {
            let stream = accept(&listener, &mut backoff).await;
            let _ = stream.set_nodelay(true);
            Some((
                Ok(FirstBytesDeadline::new(stream, first_bytes)),
                (listener, backoff),
            ))
        },
    )
}

/// A TCP stream whose first [`FirstBytesDeadline::BYTES`] bytes must arrive before a deadline; after that, a
/// plain stream. hyper's header-read timeout only starts once it knows the protocol (HTTP/1 or the HTTP/2
/// preface, up to 24 bytes), and HTTP/2 has none: without this a client that connects and says nothing would
/// hold its connection (a file descriptor) forever. Its writes are coalesced across HTTP/2 streams
/// ([`crate::coalesce`]).
#[derive(Debug)]
pub(crate) struct FirstBytesDeadline {
    inner: TcpStream,
    received: usize,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// Its HTTP/2 replies, coalesced across streams.
    writes: Coalesce,
}

impl FirstBytesDeadline {
    /// The bytes that must arrive in time: the length of the HTTP/2 preface.
    const BYTES: usize = 24;

    fn new(inner: TcpStream, within: Duration) -> Self {
        FirstBytesDeadline {
            inner,
            received: 0,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
            writes: Coalesce::default(),
        }
    }
}

impl tokio::io::AsyncRead for FirstBytesDeadline {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                self.writes.read(new);
                self.received += new.len();
                if self.received >= Self::BYTES {
                    self.deadline = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = self
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client did not start a request before the header-read timeout",
                    )))
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }
}

impl tokio::io::AsyncWrite for FirstBytesDeadline {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::ready!(self.writes.poll_write_due(cx));
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let flushed = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_flush(cx));
        self.writes.flushed();
        std::task::Poll::Ready(flushed)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::ready!(self.writes.poll_write_due(cx));
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for FirstBytesDeadline {
    type ConnectInfo = <TcpStream as tonic::transport::server::Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// Runs `server` until it ends, or until `drain_timeout` after `stop`: the bound on a graceful shutdown.
pub(crate) async fn bounded_drain<T>(
    name: &'static str,
    server: impl Future<Output = T>,
    stop: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> Option<T> {
    tokio::select! {
        out = server => Some(out),
        () = async {
            stopped(stop).await;
            tokio::time::sleep(drain_timeout).await;
        } => {
            tracing::warn!(
                server = name,
                drain_timeout_s = drain_timeout.as_secs_f64(),
                "drain deadline passed; closing the connections still open"
            );
            None
        }
    }
}

/// What a connection's request handlers tell its watchdog: requests in flight, since when it is idle, and
/// whether it speaks HTTP/2.
#[derive(Debug)]
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    idle_since_ms: AtomicU64,
    h2: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            h2: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long the connection has had no request in flight; `None` while one is.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.idle_since_ms.load(Ordering::Acquire);
        Some(Duration::from_millis(self.now_ms().saturating_sub(since)))
    }
}

/// One request in flight on a connection; dropping it (answered or cancelled) marks the connection idle from
/// now if it was the last.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .idle_since_ms
            .store(self.0.now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `app` on `listener` until `stop`, then drains (see the module's docs) and returns.
pub(crate) async fn serve_http(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: watch::Receiver<bool>,
) {
    let (draining_tx, draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = Backoff::default();
    loop {
        tokio::select! {
            () = stopped(stop.clone()) => break,
            stream = accept(&listener, &mut backoff) => {
                connections.spawn(serve_connection(stream, app.clone(), limits, draining.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Close the listener before any response says `Connection: close`: a client that reconnects is refused,
    // never accepted into a backlog that is about to be dropped.
    drop(listener);
    let _ = draining_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if bounded_drain(name, drain, stop, limits.drain_timeout)
        .await
        .is_none()
    {
        connections.abort_all();
    }
}

/// Serves one connection: the app with `Connection: close` once draining, plus a watchdog that closes it when
/// idle (after `idle_timeout`, or [`SHUTDOWN_IDLE_GRACE`] once draining).
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    limits: ConnLimits,
    mut draining: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = activity.clone();
        let draining = draining.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = InFlight::begin(&activity);
            let http1 = request.version() < Version::HTTP_2;
            if !http1 {
                activity.h2.store(true, Ordering::Relaxed);
            }
            let app = app.clone();
            let draining = draining.clone();
            async move {
                let mut response = match tower::ServiceExt::oneshot(app, request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                if http1 && *draining.borrow() {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let io = TokioIo::new(FirstBytesDeadline::new(stream, limits.header_read_timeout));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let period = (limits.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut drain_started: Option<Instant> = None;
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = draining.wait_for(|d| *d), if drain_started.is_none() => {
                drain_started = Some(Instant::now());
                // Finer checks while draining: idle connections close SHUTDOWN_IDLE_GRACE after it starts.
                tick = tokio::time::interval(SHUTDOWN_IDLE_GRACE / 4);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                if activity.h2.load(Ordering::Relaxed) {
                    // GOAWAY: streams in flight finish, the client opens no new ones here.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
            _ = tick.tick(), if !closing => {
                let Some(idle) = activity.idle_for() else { continue };
                let close = match drain_started {
                    Some(at) => idle >= SHUTDOWN_IDLE_GRACE && at.elapsed() >= SHUTDOWN_IDLE_GRACE,
                    None => idle >= limits.idle_timeout,
                };
                if close {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..9).map(|_| b.next().as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.next(), Backoff::FIRST);
    }

    #[test]
    fn only_per_connection_errors_skip_the_back_off() {
        use std::io::{Error, ErrorKind};
        assert!(is_connection_error(&Error::from(
            ErrorKind::ConnectionAborted
        )));
        // EMFILE
        assert!(!is_connection_error(&Error::from_raw_os_error(24)));
    }
}
