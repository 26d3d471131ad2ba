//! The listener: axum-server over plain TCP or rustls, with a per-connection kill switch.
//!
//! Dropped connections and lost replies must look like transport errors to the client, not like
//! a truncated HTTP response. Each accepted stream is wrapped so that, once its kill switch is
//! flipped by the request's handler, every read and write fails: hyper then abandons the
//! connection before a single response byte reaches the socket, and the socket is closed.

use std::future::{Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::http::Request;
use axum_server::Handle;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The kill switch of the connection a request arrived on (a request extension).
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnHandle(Arc<AtomicBool>);

impl ConnHandle {
    /// Closes the connection without a response: nothing written after this reaches the client.
    pub(crate) fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection killed by fault injection",
    )
}

/// A stream whose I/O fails once its connection is killed.
pub(crate) struct KillableStream<S> {
    inner: S,
    conn: ConnHandle,
}

impl<S: AsyncRead + Unpin> AsyncRead for KillableStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.conn.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for KillableStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.conn.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.conn.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Per-connection service: hands every request its connection's kill switch.
#[derive(Clone)]
pub(crate) struct WithConn<S> {
    inner: S,
    conn: ConnHandle,
}

impl<S, B> tower_service::Service<Request<B>> for WithConn<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.conn.clone());
        self.inner.call(request)
    }
}

#[derive(Clone, Copy, Debug)]
struct ConnAcceptor;

impl<S> Accept<TcpStream, S> for ConnAcceptor {
    type Stream = KillableStream<TcpStream>;
    type Service = WithConn<S>;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let conn = ConnHandle::default();
        let accepted = stream.set_nodelay(true).map(|()| {
            let stream = KillableStream {
                inner: stream,
                conn: conn.clone(),
            };
            (
                stream,
                WithConn {
                    inner: service,
                    conn,
                },
            )
        });
        ready(accepted)
    }
}

/// A running listener.
pub(crate) struct Server {
    handle: Handle<SocketAddr>,
    tls: Option<RustlsConfig>,
    task: JoinHandle<io::Result<()>>,
}

impl Server {
    /// A listener on 127.0.0.1 with a free port.
    pub(crate) fn bind() -> io::Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    /// Serves `router` on `listener` (HTTPS when `tls` is set).
    pub(crate) fn start(
        listener: std::net::TcpListener,
        router: Router,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let handle = Handle::new();
        // HTTP/1.1 only: one request per connection at a time, so a kill hits one request.
        let server = axum_server::from_tcp(listener)?
            .handle(handle.clone())
            .http1_only();
        let service = router.into_make_service();
        let (task, tls) = match tls {
            None => (
                tokio::spawn(server.acceptor(ConnAcceptor).serve(service)),
                None,
            ),
            Some(config) => {
                let config = RustlsConfig::from_config(config);
                let acceptor = RustlsAcceptor::new(config.clone()).acceptor(ConnAcceptor);
                (
                    tokio::spawn(server.acceptor(acceptor).serve(service)),
                    Some(config),
                )
            }
        };
        Ok(Self { handle, tls, task })
    }

    /// Swaps the certificate for new handshakes; false when serving plain HTTP.
    pub(crate) fn reload_tls(&self, config: Arc<rustls::ServerConfig>) -> bool {
        self.tls
            .as_ref()
            .map(|tls| tls.reload_from_config(config))
            .is_some()
    }

    pub(crate) fn stop(&self) {
        self.handle.shutdown();
    }

    pub(crate) async fn join(self) {
        self.handle.shutdown();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "emulator server task failed");
        }
    }
}
