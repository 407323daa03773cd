//! The health server: one HTTP/1 port with three read-only paths.
//!
//! - `GET /health`: liveness, always 200 with [`HealthRegistry::liveness`] (JSON);
//! - `GET /ready`: readiness, 200 when every critical check is healthy, else 503, with
//!   [`HealthRegistry::readiness`] (JSON, naming the failing checks);
//! - `GET /metrics`: [`Metrics::render`](crate::ops::metrics::Metrics::render) in the
//!   Prometheus text format.
//!
//! With a [`Dashboard`] (the daemon's default), its page and `/api/...` paths too (see
//! [`crate::ops::dashboard`]). Anything else is 404; another method on the health paths
//! is 405. Owns the listening
//! socket and its connections; must not run checks of its own or change state.
//! Shutdown is an argument: [`HealthServer::serve`] stops accepting when the shutdown
//! future completes, lets requests in flight finish (bounded by a drain timeout) and
//! returns.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::ops::answer::{json, text};
use crate::ops::dashboard::Dashboard;
use crate::ops::health::HealthRegistry;

/// The health server, bound but not yet serving.
pub struct HealthServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    registry: Arc<HealthRegistry>,
    dashboard: Option<Arc<Dashboard>>,
    drain_timeout: Duration,
}

impl HealthServer {
    /// Binds `addr` (port 0 picks a free port: see [`HealthServer::local_addr`]).
    pub async fn bind(addr: SocketAddr, registry: Arc<HealthRegistry>) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            local_addr,
            registry,
            dashboard: None,
            drain_timeout: Duration::from_secs(5),
        })
    }

    /// Serves `dashboard` beside the health paths.
    pub fn with_dashboard(mut self, dashboard: Arc<Dashboard>) -> Self {
        self.dashboard = Some(dashboard);
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How long requests in flight may take to finish after shutdown (5 s unless set);
    /// connections still open then are dropped.
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Serves until `shutdown` completes, then drains and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            local_addr,
            registry,
            dashboard,
            drain_timeout,
        } = self;
        tracing::info!(addr = %local_addr, "health server listening");
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(error) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "health server accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let (registry, dashboard) = (registry.clone(), dashboard.clone());
            let service = service_fn(move |request| {
                let (registry, dashboard) = (registry.clone(), dashboard.clone());
                async move {
                    let response = match dashboard {
                        Some(d) if Dashboard::serves(request.uri().path()) => {
                            d.route(request).await
                        }
                        _ => route(&registry, request).await,
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "health server connection ended with an error");
                }
            });
        }
        drop(listener);
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(drain_timeout) => {
                tracing::warn!(?drain_timeout, "health server connections still open after the drain timeout");
            }
        }
        tracing::info!(addr = %local_addr, "health server stopped");
    }
}

/// Binds `addr` and serves on a task until `shutdown`; the bound address and the task,
/// which ends once the server has drained.
pub async fn spawn(
    addr: SocketAddr,
    registry: Arc<HealthRegistry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let server = HealthServer::bind(addr, registry).await?;
    let local_addr = server.local_addr();
    Ok((local_addr, tokio::spawn(server.serve(shutdown))))
}

async fn route(registry: &HealthRegistry, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if !matches!(path, "/health" | "/ready" | "/metrics") {
        return text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/health" => json(StatusCode::OK, &registry.liveness()),
        "/ready" => {
            let (ready, body) = registry.readiness().await;
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(status, &body)
        }
        _ => text(
            StatusCode::OK,
            prometheus::TEXT_FORMAT,
            registry.metrics().render(),
        ),
    }
}
