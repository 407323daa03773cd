//! [`EtcdClient`]: the elector's [`ElectionStore`] over etcd's v3 JSON gateway (HTTP or
//! HTTPS through `reqwest`, no gRPC stack), turning each way a call fails into an
//! [`ElectionStoreError`].
//!
//! Owns the endpoint list and which endpoint is tried first, the bound on each request,
//! auth tokens (one per endpoint: etcd's default tokens are known only to the member
//! that issued them; taken before the first call and again when one is refused), the
//! watch a follower waits on, and turning answers into [`super::store`]'s terms. A call
//! that cannot reach an endpoint (refused, timed out, or etcd answering "unavailable")
//! goes to the next one, in configured order starting from the last that answered; any
//! other answer, error bodies included, is *the* answer. Must not: retry an endpoint,
//! wait between calls or judge leadership (the elector does).
//!
//! Calls that might be repeated through a second endpoint are safe to repeat: a second
//! keepalive or revoke does the same again, a second grant leaves an unused lease that
//! expires, and a second claim finds the key held under this keeper's own lease, which
//! the elector counts as a win.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::access::{Credentials, EtcdAccess};
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
    credentials: Option<Credentials>,
    /// Auth tokens by endpoint index.
    tokens: Mutex<HashMap<usize, String>>,
}

impl EtcdClient {
    /// A client for `endpoints` (`http://host:port`, at least one) without auth; each
    /// request is bounded by `timeout`, connecting included.
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<Self, ElectionStoreError> {
        Self::with_access(endpoints, timeout, &EtcdAccess::default())
    }

    /// [`EtcdClient::new`] for `http://` or `https://` endpoints, authenticating with
    /// `access`'s credentials and trusting its CA.
    pub fn with_access(
        endpoints: &[String],
        timeout: Duration,
        access: &EtcdAccess,
    ) -> Result<Self, ElectionStoreError> {
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
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ElectionStoreError::BadEndpoint {
                        endpoint: endpoint.clone(),
                        reason: "only http:// and https:// are supported".into(),
                    });
                }
                Ok(endpoint.trim_end_matches('/').to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder = reqwest::Client::builder()
            // etcd is reached directly, never through a proxy from the environment.
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout);
        if let Some(pem) = &access.ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ElectionStoreError::Client(format!("ca_file: {}", chain(&e))))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ElectionStoreError::Client(chain(&e)))?;
        Ok(Self {
            endpoints,
            http,
            timeout,
            preferred: AtomicUsize::new(0),
            credentials: access.credentials.clone(),
            tokens: Mutex::new(HashMap::new()),
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
            match self.call_at(index, path, body).await {
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

    /// POSTs `body` to `path` at endpoint `index`, with its auth token when the cluster
    /// wants one: a token refused (expired, or the member restarted) is taken anew once.
    async fn call_at(
        &self,
        index: usize,
        path: &str,
        body: &Value,
    ) -> Result<Vec<u8>, ElectionStoreError> {
        let token = self.token(index).await?;
        match self.call_one(index, path, body, token.as_deref()).await {
            Err(error) if token.is_some() && is_refused_token(&error) => {
                self.tokens.lock().remove(&index);
                let token = self.token(index).await?;
                self.call_one(index, path, body, token.as_deref()).await
            }
            result => result,
        }
    }

    /// The auth token for endpoint `index`: `None` without credentials; taken from the
    /// endpoint when it has none yet.
    async fn token(&self, index: usize) -> Result<Option<String>, ElectionStoreError> {
        let Some(credentials) = &self.credentials else {
            return Ok(None);
        };
        if let Some(token) = self.tokens.lock().get(&index) {
            return Ok(Some(token.clone()));
        }
        let body = gateway::authenticate(&credentials.user, &credentials.password);
        let bytes = self
            .call_one(index, "/v3/auth/authenticate", &body, None)
            .await?;
        let answer: gateway::AuthenticateResponse = parse(&self.endpoints[index], &bytes)?;
        self.tokens.lock().insert(index, answer.token.clone());
        Ok(Some(answer.token))
    }

    async fn call_one(
        &self,
        index: usize,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Result<Vec<u8>, ElectionStoreError> {
        let endpoint = &self.endpoints[index];
        let transport = |e: reqwest::Error| self.transport_error(endpoint, e);
        let response = self
            .request(endpoint, path, body, token)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?.to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        Err(api_error(endpoint, status.as_u16(), &bytes))
    }

    fn request(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(format!("{endpoint}{path}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        match token {
            Some(token) => request.header(AUTHORIZATION, token),
            None => request,
        }
    }

    /// Who holds `key`, and the store's revision when it answered.
    async fn read_key(&self, key: &str) -> Result<(Option<Holder>, i64), ElectionStoreError> {
        let (endpoint, bytes) = self.call("/v3/kv/range", &gateway::range(key)).await?;
        let range: gateway::RangeResponse = parse(&endpoint, &bytes)?;
        let revision = range.header.revision;
        let holder =
            holder(range).map_err(|reason| ElectionStoreError::Malformed { endpoint, reason })?;
        Ok((holder, revision))
    }

    /// Watches `key` at endpoint `index` from `start_revision` until an event (or a
    /// watch that can no longer tell) or `at_most` without one.
    async fn watch(
        &self,
        index: usize,
        key: &str,
        start_revision: i64,
        at_most: Duration,
    ) -> Result<(), ElectionStoreError> {
        let endpoint = &self.endpoints[index];
        let transport = |e: reqwest::Error| self.transport_error(endpoint, e);
        let token = self.token(index).await?;
        let body = gateway::watch(key, start_revision);
        let mut response = self
            .request(endpoint, "/v3/watch", &body, token.as_deref())
            // The stream stays open for as long as nothing happens.
            .timeout(at_most + self.timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(transport)?;
            return Err(api_error(endpoint, status.as_u16(), &bytes));
        }
        let deadline = tokio::time::Instant::now() + at_most;
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => return Ok(()),
                Ok(Err(e)) if e.is_timeout() => return Ok(()),
                Ok(Err(e)) => return Err(transport(e)),
                // Ended without a word: an error, so the follower pauses for its poll
                // interval before reading the key again, rather than spinning on a
                // gateway that closes every watch at once.
                Ok(Ok(None)) => {
                    return Err(ElectionStoreError::Malformed {
                        endpoint: endpoint.clone(),
                        reason: "the watch ended without an event".into(),
                    })
                }
                Ok(Ok(Some(chunk))) => chunk,
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let message: gateway::WatchMessage = parse(endpoint, &line)?;
                if let Some(error) = message.error {
                    return Err(stream_error(endpoint, &error));
                }
                if message.result.is_some_and(|r| r.may_have_changed()) {
                    return Ok(());
                }
            }
        }
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
            return Err(stream_error(&endpoint, &error));
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
        self.read_key(key).await.map(|(holder, _)| holder)
    }

    /// Reads the key, then watches it from the revision of that read on, so a change
    /// between the two is not missed.
    async fn wait_while_held(
        &self,
        key: &str,
        held_by: &Holder,
        at_most: Duration,
    ) -> Result<(), ElectionStoreError> {
        let (now, revision) = self.read_key(key).await?;
        if now.as_ref().is_none_or(|now| now.lease != held_by.lease) {
            return Ok(());
        }
        let index = self.preferred.load(Ordering::Relaxed) % self.endpoints.len();
        self.watch(index, key, revision + 1, at_most).await
    }
}

/// Whether etcd refused the auth token a call carried (expired, or unknown to a member
/// that restarted), rather than the call itself.
fn is_refused_token(error: &ElectionStoreError) -> bool {
    matches!(error, ElectionStoreError::Api { message, .. }
        if message.contains("invalid auth token") || message.contains("user name is empty"))
}

/// The error a message of a gateway stream (keepalive, watch) carries: the HTTP answer
/// was 200, the failure is inside it.
fn stream_error(endpoint: &str, error: &Value) -> ElectionStoreError {
    let body = ErrorBody::from_value(error).unwrap_or(ErrorBody {
        code: None,
        message: error.to_string(),
    });
    ElectionStoreError::Api {
        endpoint: endpoint.to_string(),
        status: 200,
        code: body.code,
        message: body.message,
    }
}

/// The error an unsuccessful answer of `endpoint` stands for.
fn api_error(endpoint: &str, status: u16, bytes: &[u8]) -> ElectionStoreError {
    let parsed = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|value| ErrorBody::from_value(&value));
    let (code, message) = match parsed {
        Some(ErrorBody { code, message }) => (code, message),
        None => (None, excerpt(bytes)),
    };
    ElectionStoreError::Api {
        endpoint: endpoint.to_string(),
        status,
        code,
        message,
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
