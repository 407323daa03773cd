//! [`EtcdClient`]: the elector's [`ElectionStore`] over etcd's v3 JSON gateway (plain
//! HTTP through `reqwest`, no gRPC stack), turning each way a call fails into an [`ElectionStoreError`].
//!
//! Owns the endpoint list and which endpoint is tried first, the bound on each request,
//! and turning answers into [`super::store`]'s terms. A call that cannot reach an
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

use super::gateway::{self, ErrorBody};
use super::store::{Claim, ElectionStore, ElectionStoreError, Granted, Holder};

/// Longest excerpt of an unexpected body kept in an error.
const EXCERPT: usize = 200;

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
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<Self, ElectionStoreError> {
        if endpoints.is_empty() {
            return Err(ElectionStoreError::BadEndpoint {
                endpoint: String::new(),
                reason: "no etcd endpoint given".into(),
            });
        }
        let endpoints = endpoints
            .iter()
            .map(|endpoint| {
                let url =
                    reqwest::Url::parse(endpoint).map_err(|e| ElectionStoreError::BadEndpoint {
                        endpoint: endpoint.clone(),
                        reason: e.to_string(),
                    })?;
                if url.scheme() != "http" {
                    return Err(ElectionStoreError::BadEndpoint {
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
            .map_err(|e| ElectionStoreError::Client(chain(&e)))?;
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
    async fn call(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<(String, Vec<u8>), ElectionStoreError> {
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
    ) -> Result<Vec<u8>, ElectionStoreError> {
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
        Err(ElectionStoreError::Api {
            endpoint: endpoint.to_string(),
            status: status.as_u16(),
            code,
            message,
        })
    }

    fn transport_error(&self, endpoint: &str, error: reqwest::Error) -> ElectionStoreError {
        let endpoint = endpoint.to_string();
        if error.is_timeout() {
            ElectionStoreError::Timeout {
                endpoint,
                after_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            }
        } else if error.is_builder() {
            ElectionStoreError::BadEndpoint {
                endpoint,
                reason: chain(&error),
            }
        } else {
            ElectionStoreError::Unreachable {
                endpoint,
                reason: chain(&error),
            }
        }
    }
}

/// `bytes` as a `T`, or why not.
fn parse<T: DeserializeOwned>(endpoint: &str, bytes: &[u8]) -> Result<T, ElectionStoreError> {
    serde_json::from_slice(bytes).map_err(|e| ElectionStoreError::Malformed {
        endpoint: endpoint.to_string(),
        reason: format!("{e} in {}", excerpt(bytes)),
    })
}

#[async_trait]
impl ElectionStore for EtcdClient {
    async fn grant(&self, ttl_secs: i64) -> Result<Granted, ElectionStoreError> {
        let (endpoint, bytes) = self
            .call("/v3/lease/grant", &gateway::grant(ttl_secs))
            .await?;
        let answer: gateway::GrantResponse = parse(&endpoint, &bytes)?;
        if !answer.error.is_empty() {
            return Err(ElectionStoreError::Api {
                endpoint,
                status: 200,
                code: None,
                message: answer.error,
            });
        }
        if answer.ttl <= 0 {
            return Err(ElectionStoreError::Malformed {
                endpoint,
                reason: format!("lease {} granted with TTL {}", answer.id, answer.ttl),
            });
        }
        Ok(Granted {
            id: answer.id,
            ttl_secs: answer.ttl,
        })
    }

    async fn keep_alive(&self, lease: i64) -> Result<Option<i64>, ElectionStoreError> {
        let (endpoint, bytes) = self
            .call("/v3/lease/keepalive", &gateway::lease(lease))
            .await?;
        // The gateway streams one JSON message per line; one request, one message.
        let text = String::from_utf8_lossy(&bytes);
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let message: gateway::KeepAliveMessage =
            serde_json::from_str(line).map_err(|e| ElectionStoreError::Malformed {
                endpoint: endpoint.clone(),
                reason: format!("{e} in {}", excerpt(&bytes)),
            })?;
        if let Some(error) = message.error {
            let body = ErrorBody::from_value(&error).unwrap_or(ErrorBody {
                code: None,
                message: error.to_string(),
            });
            return Err(ElectionStoreError::Api {
                endpoint,
                status: 200,
                code: body.code,
                message: body.message,
            });
        }
        match message.result {
            Some(result) if result.ttl > 0 => Ok(Some(result.ttl)),
            Some(_) => Ok(None),
            None => Err(ElectionStoreError::Malformed {
                endpoint,
                reason: format!("keepalive without result: {}", excerpt(&bytes)),
            }),
        }
    }

    async fn revoke(&self, lease: i64) -> Result<(), ElectionStoreError> {
        match self.call("/v3/lease/revoke", &gateway::lease(lease)).await {
            Ok(_) => Ok(()),
            // Already expired or revoked: what was asked for.
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn claim(&self, key: &str, value: &str, lease: i64) -> Result<Claim, ElectionStoreError> {
        let (endpoint, bytes) = self
            .call("/v3/kv/txn", &gateway::claim(key, value, lease))
            .await?;
        let malformed = |reason: String| ElectionStoreError::Malformed {
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

    async fn holder(&self, key: &str) -> Result<Option<Holder>, ElectionStoreError> {
        let (endpoint, bytes) = self.call("/v3/kv/range", &gateway::range(key)).await?;
        let range: gateway::RangeResponse = parse(&endpoint, &bytes)?;
        holder(range).map_err(|reason| ElectionStoreError::Malformed { endpoint, reason })
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
