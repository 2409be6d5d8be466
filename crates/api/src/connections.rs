//! Serving plain-HTTP connections with bounds a hostile client cannot stretch: a client must
//! send a request's headers within the header-read timeout (which also closes a keep-alive
//! connection left idle that long), and one address may hold only so many connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
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
    /// Open connections from one client address; more are closed at once.
    pub connections_per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            connections_per_address: 256,
        }
    }
}

/// Accepts and serves connections until `stop` is cancelled, then lets every open
/// connection finish its request (graceful) and returns when they have all closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
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
        let timeout = limits.header_read_timeout;
        let held = open_tx.clone();
        tokio::spawn(async move {
            let _held = (slot, held);
            serve_one(stream, peer, service, timeout, stop).await;
        });
    }
    // Stop accepting now: a listener kept open while connections drain would let the kernel
    // complete new connections that nobody serves.
    drop(listener);
    drop(open_tx);
    let _ = all_closed.recv().await;
}

async fn serve_one<S>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    service: S,
    header_read_timeout: Duration,
    stop: CancellationToken,
) where
    S: tower::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let service = TowerToHyperService::new(service);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // Above our own limit, so a request with too many fields gets the 431 problem of
        // `request_limits` rather than hyper's bare status.
        .max_headers(crate::request_limits::HYPER_MAX_HEADERS)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(client = %peer, error = %e, "connection ended with an error");
            }
            return;
        }
        () = stop.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    if let Err(e) = conn.await {
        tracing::debug!(client = %peer, error = %e, "connection ended with an error");
    }
}
