//! [`EtcdClient`]: the elector's [`ElectionStore`] over etcd's v3 JSON gateway (plain
//! HTTP through `reqwest`, no gRPC stack), with [`EtcdError`] for each way a call fails.
//!
//! Owns the endpoint list and which endpoint is tried first, the bound on each request,
//! and turning answers into [`super::elector`]'s terms. A call that cannot reach an
//! endpoint (refused, timed out, or etcd answering "unavailable") goes to the next one,
//! in configured order starting from the last that answered; any other answer, error
//! bodies included, is *the* answer. Must not: retry an endpoint, wait between calls or
//! judge leadership (the elector does).
//!
//! Calls that might be repeated through a second endpoint are safe to repeat: a second
//! keepalive or revoke does the same again, a second grant leaves an unused lease that
//! expires, and a second claim finds the key held under this keeper's own lease, which
//! the elector counts as a win.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::elector::{Claim, ElectionStore, Granted, Holder};
use super::gateway::{self, ErrorBody};

/// gRPC status codes that etcd puts in its error bodies, as far as they matter here.
const GRPC_NOT_FOUND: i64 = 5;
const GRPC_UNAVAILABLE: i64 = 14;

/// Longest excerpt of an unexpected body kept in an error.
const EXCERPT: usize = 200;

/// Why a call to etcd failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// The endpoint cannot be used as an etcd URL.
    #[error("bad etcd endpoint {endpoint:?}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    /// Nothing answered: connection refused, reset, DNS, ...
    #[error("etcd at {endpoint} is unreachable: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// No answer within the request timeout.
    #[error("etcd at {endpoint} did not answer within {after_ms} ms")]
    Timeout { endpoint: String, after_ms: u64 },
    /// etcd (or whatever listens there) answered with an error.
    #[error("etcd at {endpoint} answered HTTP {status}{}: {message}", code_suffix(*.code))]
    Api {
        endpoint: String,
        status: u16,
        /// The gRPC status code of etcd's error body, if it had one.
        code: Option<i64>,
        message: String,
    },
    /// An answer that is not what the gateway sends.
    #[error("unexpected answer from etcd at {endpoint}: {reason}")]
    Malformed { endpoint: String, reason: String },
    /// The HTTP client could not be built.
    #[error("building the etcd HTTP client: {0}")]
    Client(String),
}

fn code_suffix(code: Option<i64>) -> String {
    code.map(|c| format!(" (gRPC code {c})"))
        .unwrap_or_default()
}

impl EtcdError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadEndpoint { .. } => "bad_endpoint",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::Api { .. } => "api",
            Self::Malformed { .. } => "malformed",
            Self::Client(_) => "client",
        }
    }

    /// Whether another endpoint of the cluster may answer where this one did not.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Api { code, .. } => *code == Some(GRPC_UNAVAILABLE),
            _ => false,
        }
    }

    fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::Api {
                code: Some(GRPC_NOT_FOUND),
                ..
            }
        )
    }
}

/// An etcd cluster through its JSON gateway.
pub struct EtcdClient {
    endpoints: Vec<String>,
    http: reqwest::Client,
    timeout: Duration,
    /// Index of the endpoint tried first: the last that answered.
    preferred: AtomicUsize,
}

impl EtcdClient {
    /// A client for `endpoints` (`http://host:port`, at least one); each request is
    /// bounded by `timeout`, connecting included.
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<Self, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError::BadEndpoint {
                endpoint: String::new(),
                reason: "no etcd endpoint given".into(),
            });
        }
        let endpoints = endpoints
            .iter()
            .map(|endpoint| {
                let url = reqwest::Url::parse(endpoint).map_err(|e| EtcdError::BadEndpoint {
                    endpoint: endpoint.clone(),
                    reason: e.to_string(),
                })?;
                if url.scheme() != "http" {
                    return Err(EtcdError::BadEndpoint {
                        endpoint: endpoint.clone(),
                        reason: "only http:// is supported".into(),
                    });
                }
                Ok(endpoint.trim_end_matches('/').to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            // etcd is reached directly, never through a proxy from the environment.
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| EtcdError::Client(chain(&e)))?;
        Ok(Self {
            endpoints,
            http,
            timeout,
            preferred: AtomicUsize::new(0),
        })
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// POSTs `body` to `path`, endpoint after endpoint while they are unavailable.
    async fn call(&self, path: &str, body: &Value) -> Result<(String, Vec<u8>), EtcdError> {
        let count = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed) % count;
        let mut last = None;
        for step in 0..count {
            let index = (first + step) % count;
            match self.call_one(&self.endpoints[index], path, body).await {
                Err(error) if error.is_unavailable() => {
                    tracing::debug!(%error, path, "etcd endpoint unavailable, trying the next");
                    last = Some(error);
                }
                result => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return result.map(|bytes| (self.endpoints[index].clone(), bytes));
                }
            }
        }
        Err(last.expect("at least one endpoint was tried"))
    }

    async fn call_one(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
    ) -> Result<Vec<u8>, EtcdError> {
        let transport = |e: reqwest::Error| self.transport_error(endpoint, e);
        let response = self
            .http
            .post(format!("{endpoint}{path}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?.to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        let parsed = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|value| ErrorBody::from_value(&value));
        let (code, message) = match parsed {
            Some(ErrorBody { code, message }) => (code, message),
            None => (None, excerpt(&bytes)),
        };
        Err(EtcdError::Api {
            endpoint: endpoint.to_string(),
            status: status.as_u16(),
            code,
            message,
        })
    }

    fn transport_error(&self, endpoint: &str, error: reqwest::Error) -> EtcdError {
        let endpoint = endpoint.to_string();
        if error.is_timeout() {
            EtcdError::Timeout {
                endpoint,
                after_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            }
        } else if error.is_builder() {
            EtcdError::BadEndpoint {
                endpoint,
                reason: chain(&error),
            }
        } else {
            EtcdError::Unreachable {
                endpoint,
                reason: chain(&error),
            }
        }
    }
}

/// `bytes` as a `T`, or why not.
fn parse<T: DeserializeOwned>(endpoint: &str, bytes: &[u8]) -> Result<T, EtcdError> {
    serde_json::from_slice(bytes).map_err(|e| EtcdError::Malformed {
        endpoint: endpoint.to_string(),
        reason: format!("{e} in {}", excerpt(bytes)),
    })
}

#[async_trait]
impl ElectionStore for EtcdClient {
    async fn grant(&self, ttl_secs: i64) -> Result<Granted, EtcdError> {
        let (endpoint, bytes) = self
            .call("/v3/lease/grant", &gateway::grant(ttl_secs))
            .await?;
        let answer: gateway::GrantResponse = parse(&endpoint, &bytes)?;
        if !answer.error.is_empty() {
            return Err(EtcdError::Api {
                endpoint,
                status: 200,
                code: None,
                message: answer.error,
            });
        }
        if answer.ttl <= 0 {
            return Err(EtcdError::Malformed {
                endpoint,
                reason: format!("lease {} granted with TTL {}", answer.id, answer.ttl),
            });
        }
        Ok(Granted {
            id: answer.id,
            ttl_secs: answer.ttl,
        })
    }

    async fn keep_alive(&self, lease: i64) -> Result<Option<i64>, EtcdError> {
        let (endpoint, bytes) = self
            .call("/v3/lease/keepalive", &gateway::lease(lease))
            .await?;
        // The gateway streams one JSON message per line; one request, one message.
        let text = String::from_utf8_lossy(&bytes);
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let message: gateway::KeepAliveMessage =
            serde_json::from_str(line).map_err(|e| EtcdError::Malformed {
                endpoint: endpoint.clone(),
                reason: format!("{e} in {}", excerpt(&bytes)),
            })?;
        if let Some(error) = message.error {
            let body = ErrorBody::from_value(&error).unwrap_or(ErrorBody {
                code: None,
                message: error.to_string(),
            });
            return Err(EtcdError::Api {
                endpoint,
                status: 200,
                code: body.code,
                message: body.message,
            });
        }
        match message.result {
            Some(result) if result.ttl > 0 => Ok(Some(result.ttl)),
            Some(_) => Ok(None),
            None => Err(EtcdError::Malformed {
                endpoint,
                reason: format!("keepalive without result: {}", excerpt(&bytes)),
            }),
        }
    }

    async fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        match self.call("/v3/lease/revoke", &gateway::lease(lease)).await {
            Ok(_) => Ok(()),
            // Already expired or revoked: what was asked for.
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn claim(&self, key: &str, value: &str, lease: i64) -> Result<Claim, EtcdError> {
        let (endpoint, bytes) = self
            .call("/v3/kv/txn", &gateway::claim(key, value, lease))
            .await?;
        let malformed = |reason: String| EtcdError::Malformed {
            endpoint: endpoint.clone(),
            reason,
        };
        let answer: gateway::TxnResponse = parse(&endpoint, &bytes)?;
        if answer.succeeded {
            return Ok(Claim::Won);
        }
        let range = answer
            .responses
            .into_iter()
            .find_map(|r| r.response_range)
            .ok_or_else(|| malformed("failed claim without the key's range".into()))?;
        match holder(range).map_err(malformed)? {
            Some(holder) => Ok(Claim::Held(holder)),
            // The compare failed because the key exists, so the range found it.
            None => Err(malformed("failed claim but the key is absent".into())),
        }
    }

    async fn holder(&self, key: &str) -> Result<Option<Holder>, EtcdError> {
        let (endpoint, bytes) = self.call("/v3/kv/range", &gateway::range(key)).await?;
        let range: gateway::RangeResponse = parse(&endpoint, &bytes)?;
        holder(range).map_err(|reason| EtcdError::Malformed { endpoint, reason })
    }
}

fn holder(range: gateway::RangeResponse) -> Result<Option<Holder>, String> {
    match range.kvs.into_iter().next() {
        None => Ok(None),
        Some(kv) => Ok(Some(Holder {
            id: gateway::decode(&kv.value)?,
            lease: kv.lease,
        })),
    }
}

/// An error and its sources, `: `-separated (reqwest's own message hides the cause).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}
