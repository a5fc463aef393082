//! The HTTP accept loop: TCP connections in, each served by the API's warp filter out, within
//! [`ConnectionLimits`]: a connection over the cap gets a `503` and is closed, a request head
//! must arrive within the header-read timeout, and a connection with no traffic either way for
//! the idle timeout is closed (event streams stay busy with keep-alives). Connection errors
//! (malformed requests, resets) are logged at debug level, not as server errors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use warp::Filter;

/// What one server lets its clients hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most (event streams included); one more gets a `503`.
    pub max_connections: usize,
    /// A request head must arrive completely within this long.
    pub header_read_timeout: Duration,
    /// A connection with no bytes read or written for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl ConnectionLimits {
    /// How often an event stream sends a keep-alive comment: well within the idle timeout.
    pub fn keep_alive(&self) -> Duration {
        (self.idle_timeout / 3).clamp(Duration::from_millis(50), Duration::from_secs(15))
    }
}

/// The body a connection over the cap gets.
const BUSY: &str = "{\"error\":\"too_many_connections\",\"message\":\"the server has as many open connections as it allows; retry shortly, and close idle connections or event streams you no longer read\"}";

/// Serves `filter` on `listener` until `shutdown` resolves, then waits for open connections.
pub async fn serve<F>(
    listener: TcpListener,
    filter: F,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors (or similar): back off instead of spinning.
                tracing::warn!(%error, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = TowerToHyperService::new(warp::service(filter.clone()));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let io = TokioIo::new(Idle::new(
                stream,
                limits.idle_timeout,
                limits.header_read_timeout,
            ));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection_with_upgrades(io, service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(error = %error, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over the cap with a `503` and closes it.
async fn refuse(mut stream: TcpStream) {
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BUSY}",
        BUSY.len()
    );
    let send = async {
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), send).await;
    tracing::debug!("refused an HTTP connection over the connection cap");
}

/// A stream that fails once nothing was read or written for `idle`, or when its first byte
/// has not arrived within `first_byte` (the header-read timeout: hyper's own timer starts only
/// after the protocol is detected from the first bytes, so a silent client would otherwise
/// hold its connection for the whole idle timeout).
struct Idle {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Idle {
    fn new(inner: TcpStream, idle: Duration, first_byte: Duration) -> Self {
        Idle {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle.min(first_byte))),
        }
    }

    fn touch(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// A pending operation: an error once the deadline has passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }

    fn timed_out() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "idle HTTP connection")
    }
}

impl AsyncRead for Idle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(Self::timed_out())),
            other => other,
        }
    }
}

impl AsyncWrite for Idle {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                self.touch();
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(Self::timed_out())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
