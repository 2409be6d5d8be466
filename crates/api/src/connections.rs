//! Serving connections (plain HTTP or TLS) with bounds a hostile client cannot stretch: one
//! address may hold only so many connections, a TLS client must finish its handshake within
//! the handshake timeout, and an HTTP/1 client must send a request's headers within the
//! header-read timeout (which also closes a keep-alive connection left idle that long).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::limits::SlotCounter;

/// Connection bounds (`[limits]`).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time allowed to send a request's headers, counted from when the server waits for
    /// them: a new connection that sends nothing, a client that trickles a header, and an
    /// idle keep-alive connection are all closed after it.
    pub header_read_timeout: Duration,
    /// Time a client has to complete the TLS handshake (when serving TLS); a connection that
    /// sends nothing or stalls mid-handshake is closed after it.
    pub tls_handshake_timeout: Duration,
    /// Open connections from one client address (TLS or not); more are closed at once.
    pub connections_per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            connections_per_address: 256,
        }
    }
}

/// Accepts and serves connections (over TLS with `tls`, its configuration read per
/// connection so a reloaded certificate applies to the next one) until `stop` is cancelled,
/// then lets every open connection finish its request (graceful) and returns when they have
/// all closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<RustlsConfig>,
    stop: CancellationToken,
) {
    let open = Arc::new(SlotCounter::default());
    // Each connection task holds a sender; when all are gone, every connection has closed.
    let (open_tx, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = open.try_take(&peer.ip().to_string(), limits.connections_per_address)
        else {
            tracing::info!(client = %peer.ip(), "too many connections from one address; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let stop = stop.clone();
        let limits = limits.clone();
        let tls = tls.clone();
        let held = open_tx.clone();
        tokio::spawn(async move {
            let _held = (slot, held);
            let Some(tls) = tls else {
                serve_http1(stream, peer, service, limits.header_read_timeout, stop).await;
                return;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.get_inner());
            let handshake = tokio::select! {
                () = stop.cancelled() => return,
                r = tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream)) => r,
            };
            match handshake {
                Ok(Ok(stream)) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    if h2 {
                        serve_http2(stream, peer, service, stop).await;
                    } else {
                        serve_http1(stream, peer, service, limits.header_read_timeout, stop).await;
                    }
                }
                Ok(Err(e)) => {
                    tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    tracing::debug!(client = %peer, "TLS handshake not completed in time; closing");
                }
            }
        });
    }
    // Stop accepting now: a listener kept open while connections drain would let the kernel
    // complete new connections that nobody serves.
    drop(listener);
    drop(open_tx);
    let _ = all_closed.recv().await;
}

/// What a connection's service must be.
trait ConnService:
    tower::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> ConnService for S where
    S: tower::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

async fn serve_http1<IO, S>(
    io: IO,
    peer: SocketAddr,
    service: S,
    header_read_timeout: Duration,
    stop: CancellationToken,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: ConnService,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // Above our own limit, so a request with too many fields gets the 431 problem of
        // `request_limits` rather than hyper's bare status.
        .max_headers(crate::request_limits::HYPER_MAX_HEADERS)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades();
    drive(conn, peer, stop, |c| c.graceful_shutdown()).await;
}

/// HTTP/2 (negotiated by ALPN over TLS): idle connections are bounded by the per-address cap.
async fn serve_http2<IO, S>(io: IO, peer: SocketAddr, service: S, stop: CancellationToken)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: ConnService,
{
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    drive(conn, peer, stop, |c| c.graceful_shutdown()).await;
}

/// Runs a connection until it ends; when `stop` fires first, asks it to finish its requests
/// and close.
async fn drive<C>(
    conn: C,
    peer: SocketAddr,
    stop: CancellationToken,
    graceful: impl FnOnce(std::pin::Pin<&mut C>),
) where
    C: std::future::Future<Output = Result<(), hyper::Error>>,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(client = %peer, error = %e, "connection ended with an error");
            }
            return;
        }
        () = stop.cancelled() => graceful(conn.as_mut()),
    }
    if let Err(e) = conn.await {
        tracing::debug!(client = %peer, error = %e, "connection ended with an error");
    }
}
