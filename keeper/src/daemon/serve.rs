//! The daemon's last start-up check: the health port, and the dashboard on it or on its
//! own address.
//!
//! Owns: building the health registry from the daemon's parts, the dashboard and its
//! chart sampler, and binding the ports. Must not: send anything (this runs before
//! anything may).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::signature::Signer;
use tokio::task::JoinHandle;

use super::{scheduler_stale_after, Daemon, DaemonError, StopSignal, Wired};
use crate::ops::dashboard::series::Series;
use crate::ops::dashboard::Dashboard;
use crate::ops::health::{HealthRegistry, HeartbeatCheck, NonceAccountsCheck, RpcCheck};
use crate::ops::http::HealthServer;
use crate::tracking::discovery::SharedIndex;

impl Daemon {
    /// The last start-up check, before anything can send: binds the health port (when
    /// one is configured) and the dashboard (unless disabled: on the health port, or on
    /// `daemon.dashboard.addr` when set). A restart loop with a port taken, or the
    /// dashboard's token file unreadable, must fail here every time, not after recovery
    /// has replayed (sent) what the store holds. Returns one task that ends when every
    /// server has drained.
    pub(super) async fn serve_health(
        &mut self,
        wired: &Wired,
        index: &SharedIndex,
        stop: &StopSignal,
    ) -> Result<Option<JoinHandle<()>>, DaemonError> {
        let own_addr = self.config.dashboard.addr;
        if self.config.health_addr.is_none() && own_addr.is_none() {
            return Ok(None);
        }
        let registry = self.health_registry(wired);
        let dashboard = self.dashboard(wired, &registry, index, stop)?;
        let mut servers = Vec::new();
        if let Some(addr) = self.config.health_addr {
            let mut server = HealthServer::bind(addr, registry.clone())
                .await
                .map_err(|cause| DaemonError::HealthBind { addr, cause })?;
            let addr = server.local_addr();
            tracing::info!(%addr, "serving /health, /ready and /metrics");
            if let (Some(dashboard), None) = (&dashboard, own_addr) {
                server = server.with_dashboard(dashboard.clone());
                log_dashboard(addr);
            }
            servers.push(server);
            if let Some(tx) = self.bound.take() {
                let _ = tx.send(addr);
            }
        }
        if let (Some(dashboard), Some(addr)) = (&dashboard, own_addr) {
            let server = HealthServer::bind(addr, registry)
                .await
                .map_err(|cause| DaemonError::DashboardBind { addr, cause })?
                .with_dashboard(dashboard.clone());
            log_dashboard(server.local_addr());
            servers.push(server);
        }
        let tasks: Vec<JoinHandle<()>> = servers
            .into_iter()
            .map(|server| tokio::spawn(server.serve(stop.stopped())))
            .collect();
        Ok(Some(tokio::spawn(async move {
            for task in tasks {
                let _ = task.await;
            }
        })))
    }

    fn health_registry(&self, wired: &Wired) -> Arc<HealthRegistry> {
        let (chain, metrics) = (&self.chain, &self.metrics);
        Arc::new(
            HealthRegistry::new(metrics.clone())
                .with_check(RpcCheck::new(chain.clone(), Duration::from_secs(5)))
                .with_check(NonceAccountsCheck::new(
                    chain.clone(),
                    metrics.clone(),
                    wired.watched.clone(),
                ))
                .with_check(HeartbeatCheck::new(
                    "scheduler",
                    wired.heartbeat.clone(),
                    scheduler_stale_after(self.config.tick_ms),
                ))
                .with_degradation(wired.degradation.clone())
                .with_leadership(wired.leadership.clone()),
        )
    }

    /// The dashboard over the daemon's parts, its chart sampler started; `None` when
    /// disabled.
    fn dashboard(
        &self,
        wired: &Wired,
        registry: &Arc<HealthRegistry>,
        index: &SharedIndex,
        stop: &StopSignal,
    ) -> Result<Option<Arc<Dashboard>>, DaemonError> {
        if self.config.dashboard.disabled {
            return Ok(None);
        }
        let token = self
            .config
            .dashboard
            .load_token()
            .map_err(|e| DaemonError::Config(e.to_string()))?;
        let series = Arc::new(Series::default());
        tokio::spawn(series.clone().run(self.metrics.clone(), stop.stopped()));
        Ok(Some(Arc::new(Dashboard {
            chain: self.chain.clone(),
            index: index.clone(),
            store: self.store.clone(),
            me: self.keypair.pubkey(),
            registry: registry.clone(),
            metrics: self.metrics.clone(),
            series,
            degradation: wired.degradation.clone(),
            token,
            fleet: self.config.fleet.enabled(),
        })))
    }
}

fn log_dashboard(addr: SocketAddr) {
    tracing::info!(%addr, "dashboard at http://{addr}/dashboard");
}
