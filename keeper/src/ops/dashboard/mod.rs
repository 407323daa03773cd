//! The operator's dashboard: a web page on the health address, for people who would
//! rather look than read logs.
//!
//! `GET /dashboard` is one server-sent HTML page with a small script and stylesheet, all
//! compiled into the binary (no CDN, works on an air-gapped node), under a strict
//! Content-Security-Policy (`default-src 'self'`, no inline script or style). The script
//! polls the JSON below every two seconds and redraws:
//!
//! - `GET /api/overview`: the keeper's key, operating mode, leadership, health checks,
//!   the breaker of each RPC endpoint, tracked threads counted by standing, the
//!   dead-letter queue's size;
//! - `GET /api/threads?q=<address prefix>`: tracked threads (at most [`MAX_THREADS`]);
//! - `GET /api/thread/<address>`: what `keeper explain` says of it, as JSON;
//! - `GET /api/executions`: the latest executions (persisted, sent and settled times,
//!   the fee);
//! - `GET /api/dlq`: the dead-letter queue, with each reason;
//! - `GET /api/series`: the charts' points ([`series`]).
//!
//! `POST /api/dlq/<id>/retry|purge` and `POST /api/keeper/pause|resume` (an operator's
//! pause: Maintenance, nothing sent, until resumed) act, only as [`actions`] allows. Owns: routing
//! these paths and their security headers. Must not: change anything but through an
//! allowed action, or put a secret on a page.

pub mod actions;
pub mod api;
pub mod series;

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use solana_sdk::pubkey::Pubkey;

use crate::chain::Chain;
use crate::ops::answer;
use crate::ops::degradation::DegradationMonitor;
use crate::ops::explain;
use crate::ops::health::HealthRegistry;
use crate::ops::metrics::Metrics;
use crate::store::Store;
use crate::tracking::discovery::{read_index, SharedIndex};
use actions::{authorize, DeadLetterAction};
pub use actions::{ActionToken, DashboardConfig};
use series::Series;

/// The most threads `/api/threads` lists; a search narrows the rest.
pub const MAX_THREADS: usize = 500;
/// The most executions and dead letters listed.
const MAX_ROWS: usize = 50;
/// How old the health checks' results the overview shows may be.
const CHECKS_AGE: Duration = Duration::from_secs(5);

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// Everything but the page's own origin is refused: no inline code, no other host.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// What the dashboard reads: the daemon's own parts, shared.
pub struct Dashboard {
    pub chain: Arc<dyn Chain>,
    pub index: SharedIndex,
    pub store: Store,
    pub me: Pubkey,
    pub registry: Arc<HealthRegistry>,
    pub metrics: Arc<Metrics>,
    pub series: Arc<Series>,
    /// The operating mode, which an operator's pause holds in Maintenance.
    pub degradation: Arc<DegradationMonitor>,
    pub token: Option<ActionToken>,
    /// Whether the keeper shares work through a fleet's queue (`[daemon.fleet]`): then
    /// the overview shows the queue, from the `keeper_fleet_*` gauges.
    pub fleet: bool,
}

type Answer = Response<Full<Bytes>>;

impl Dashboard {
    /// Whether `path` is the dashboard's.
    pub fn serves(path: &str) -> bool {
        matches!(path, "/" | "/dashboard" | "/favicon.ico")
            || path.starts_with("/dashboard/")
            || path.starts_with("/api/")
    }

    /// Answers a request for one of its paths ([`Dashboard::serves`]).
    pub async fn route(&self, request: Request<Incoming>) -> Answer {
        let mut answer = self.answer(request).await;
        with_security_headers(&mut answer);
        answer
    }

    async fn answer(&self, request: Request<Incoming>) -> Answer {
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or("").to_string();
        if request.method() == Method::POST {
            return self.act(&path, request.headers()).await;
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return problem(StatusCode::METHOD_NOT_ALLOWED, "GET, or POST for an action");
        }
        match path.as_str() {
            "/" => redirect("/dashboard"),
            // Browsers ask for it unbidden; "none" beats a 404 in the console.
            "/favicon.ico" => answer::text(StatusCode::NO_CONTENT, "image/x-icon", ""),
            "/dashboard" | "/dashboard/" => asset(PAGE, "text/html; charset=utf-8"),
            "/dashboard/app.js" => asset(SCRIPT, "text/javascript; charset=utf-8"),
            "/dashboard/app.css" => asset(STYLE, "text/css; charset=utf-8"),
            "/api/overview" => self.overview().await,
            "/api/threads" => self.threads(&query).await,
            "/api/executions" => self.read_store(|store| {
                let rows = store.recent_executions(MAX_ROWS)?;
                Ok(json!({ "executions": rows.iter().map(api::execution_row).collect::<Vec<_>>() }))
            }).await,
            "/api/dlq" => self.read_store(|store| {
                let rows = store.dlq_list(MAX_ROWS)?;
                Ok(json!({ "dead_letters": rows.iter().map(api::dead_letter_row).collect::<Vec<_>>() }))
            }).await,
            "/api/series" => ok(json!({ "points": self.series.points() })),
            _ => match path.strip_prefix("/api/thread/") {
                Some(address) => self.thread(address).await,
                None => problem(StatusCode::NOT_FOUND, "no such page"),
            },
        }
    }

    async fn overview(&self) -> Answer {
        let clock = match self.chain.clock().await {
            Ok(clock) => Some(clock),
            Err(e) => {
                tracing::debug!(error = %e, "dashboard: no clock from the chain");
                None
            }
        };
        let threads = clock
            .as_ref()
            .map(|clock| api::thread_counts(&read_index(&self.index), clock, &self.me));
        let store = self.store.clone();
        let dlq = tokio::task::spawn_blocking(move || store.dlq_len().ok())
            .await
            .ok()
            .flatten();
        let endpoints: Vec<Value> = self
            .breakers()
            .into_iter()
            .map(|(endpoint, state)| json!({ "endpoint": endpoint, "breaker": state }))
            .collect();
        // /ready's answer, from results up to CHECKS_AGE old: every open page polls.
        let (ready, health) = self.registry.readiness_within(CHECKS_AGE).await;
        ok(json!({
            "keeper": self.me.to_string(),
            "ready": ready,
            "mode": health["mode"],
            "leadership": health["leadership"],
            "checks": health["checks"],
            "endpoints": endpoints,
            "slot": clock.as_ref().map(|c| c.slot),
            "chain_time": clock.as_ref().map(|c| c.unix_timestamp),
            "threads": threads,
            "dlq": dlq,
            "paused": self.degradation.paused(),
            "actions": self.token.is_some(),
            "fleet": self.fleet.then(|| json!({
                "pending": self.metrics.fleet_work_pending.get(),
                "dead_letters": self.metrics.fleet_dead_letters.get(),
                "spooled": self.metrics.fleet_spooled.get(),
            })),
        }))
    }

    /// Each RPC endpoint's breaker, from `keeper_rpc_breaker_state{endpoint}`.
    fn breakers(&self) -> Vec<(String, &'static str)> {
        self.metrics
            .registry()
            .gather()
            .iter()
            .filter(|f| f.name() == crate::chain::failover::BREAKER_STATE_METRIC)
            .flat_map(|f| f.get_metric())
            .map(|m| {
                let endpoint = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "endpoint")
                    .map(|l| l.value().to_string())
                    .unwrap_or_default();
                let state = match m.get_gauge().get_value() as i64 {
                    0 => "closed",
                    1 => "half_open",
                    _ => "open",
                };
                (endpoint, state)
            })
            .collect()
    }

    async fn threads(&self, query: &str) -> Answer {
        let search = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("q="))
            .unwrap_or("");
        if !search.chars().all(|c| c.is_ascii_alphanumeric()) {
            return problem(
                StatusCode::BAD_REQUEST,
                "q: the start of a thread address (base58 letters and digits only)",
            );
        }
        match self.chain.clock().await {
            Ok(clock) => ok(api::threads(
                &read_index(&self.index),
                search,
                MAX_THREADS,
                &clock,
                &self.me,
            )),
            Err(e) => problem(StatusCode::BAD_GATEWAY, &format!("the chain's clock: {e}")),
        }
    }

    async fn thread(&self, address: &str) -> Answer {
        let Ok(address) = address.parse::<Pubkey>() else {
            return problem(
                StatusCode::BAD_REQUEST,
                "not a thread address: expected a base58 public key",
            );
        };
        let store = Some(&self.store);
        match explain::explain(&*self.chain, &thread::ID, &address, store, Some(self.me)).await {
            Ok((_, explanation)) => ok(serde_json::to_value(&explanation).unwrap_or_default()),
            Err(e) => problem(StatusCode::NOT_FOUND, &e.to_string()),
        }
    }

    async fn read_store(
        &self,
        read: impl FnOnce(&Store) -> Result<Value, crate::store::StoreError> + Send + 'static,
    ) -> Answer {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || read(&store)).await {
            Ok(Ok(body)) => ok(body),
            Ok(Err(e)) => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the store: {e}"),
            ),
            Err(_) => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store read did not finish",
            ),
        }
    }

    async fn act(&self, path: &str, headers: &hyper::HeaderMap) -> Answer {
        let Some(action) = Action::parse(path) else {
            return problem(
                StatusCode::NOT_FOUND,
                "no such action: POST /api/dlq/<id>/retry, /api/dlq/<id>/purge, \
                 /api/keeper/pause or /api/keeper/resume",
            );
        };
        if let Err(refusal) = authorize(self.token.as_ref(), headers) {
            tracing::warn!(
                path,
                status = refusal.status.as_u16(),
                "dashboard action refused"
            );
            return problem(refusal.status, refusal.message);
        }
        tracing::info!(?action, "dashboard action taken");
        let (id, on_letter) = match action {
            Action::Pause(paused) => {
                let changed = self.degradation.pause(paused);
                let done = match (paused, changed) {
                    (true, true) => "paused: the keeper sends nothing until resumed",
                    (false, true) => "resumed",
                    (true, false) => "already paused",
                    (false, false) => "not paused",
                };
                return ok(json!({ "done": done }));
            }
            Action::DeadLetter(id, on_letter) => (id, on_letter),
        };
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || on_letter.run(&store, id)).await {
            Ok(Ok(done)) => ok(json!({ "done": done })),
            Ok(Err(e)) => problem(StatusCode::NOT_FOUND, &e.to_string()),
            Err(_) => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the action did not finish",
            ),
        }
    }
}

/// What a `POST` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    DeadLetter(i64, DeadLetterAction),
    /// Pause (`true`) or resume the keeper's work.
    Pause(bool),
}

impl Action {
    fn parse(path: &str) -> Option<Self> {
        match path {
            "/api/keeper/pause" => return Some(Self::Pause(true)),
            "/api/keeper/resume" => return Some(Self::Pause(false)),
            _ => {}
        }
        let (id, action) = path.strip_prefix("/api/dlq/")?.split_once('/')?;
        Some(Self::DeadLetter(
            id.parse().ok()?,
            DeadLetterAction::parse(action)?,
        ))
    }
}

fn ok(body: Value) -> Answer {
    answer::json(StatusCode::OK, &body)
}

/// An error the page shows as it is: `{"error": message}`.
fn problem(status: StatusCode, message: &str) -> Answer {
    answer::json(status, &json!({ "error": message }))
}

fn asset(body: &'static str, content_type: &'static str) -> Answer {
    answer::text(StatusCode::OK, content_type, body)
}

fn redirect(to: &'static str) -> Answer {
    let mut response = answer::text(StatusCode::FOUND, "text/plain; charset=utf-8", "");
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    response
}

/// What every answer of the dashboard carries: its Content-Security-Policy and the
/// headers that keep it out of frames and other sites' reach.
fn with_security_headers(answer: &mut Answer) {
    let headers = answer.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}
