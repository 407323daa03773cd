//! [`BoundedHttpSender`]: the HTTP transport under [`super::rpc::RpcChain`], one POST per
//! JSON-RPC request with a cap on every answer's body.
//!
//! Owns reading an answer: its size (refused past [`ResponseLimits`] before it is all in
//! memory, decompressed bytes counted), its parse into a JSON-RPC result or error, and
//! what of a node's words may travel on into errors, logs and `/health` (an
//! [`excerpt`], never the body). An answer the keeper cannot use (too large, not JSON,
//! not JSON-RPC, too slow) is an I/O error of the endpoint, which
//! [`super::rpc::classify`] makes [`super::ChainError::Unavailable`], so the breaker
//! counts it and failover moves on.
//!
//! Must not: retry (HTTP 429 included: the keeper's own backoff and failover decide), or
//! keep anything of an answer beyond the call.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use solana_rpc_client::rpc_sender::{RpcSender, RpcTransportStats};
use solana_rpc_client_api::client_error::{Error as ClientError, ErrorKind as ClientErrorKind};
use solana_rpc_client_api::custom_error;
use solana_rpc_client_api::error_object::RpcErrorObject;
use solana_rpc_client_api::request::{RpcError, RpcRequest, RpcResponseErrorData};
use solana_rpc_client_api::response::RpcSimulateTransactionResult;

/// The most characters of a node's text (an error message, a body) that an error
/// carries on: enough to recognise it, never enough to flood a log line or `/ready`.
pub const EXCERPT_CHARS: usize = 160;

/// Caps on the body of one answer, in bytes after decompression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseLimits {
    /// Every call but the full scan: accounts, blockhashes, statuses, simulations.
    pub max_response_bytes: usize,
    /// `getProgramAccounts`, whose answer grows with the number of threads (about 1 KiB
    /// each, base64).
    pub max_scan_response_bytes: usize,
}

/// Smallest cap either limit may be set to: a JSON-RPC error answer fits.
pub const MIN_RESPONSE_BYTES: usize = 4 * 1024;
/// Largest cap either limit may be set to.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024 * 1024;

impl Default for ResponseLimits {
    fn default() -> Self {
        Self {
            // A 10 MiB account (the largest Solana allows) base64-encoded, with room.
            max_response_bytes: 16 * 1024 * 1024,
            // About 200,000 threads.
            max_scan_response_bytes: 256 * 1024 * 1024,
        }
    }
}

impl ResponseLimits {
    /// The cap for one request, with the setting that sets it (for the error that
    /// refuses a larger answer).
    pub fn for_request(&self, request: RpcRequest) -> (usize, &'static str) {
        match request {
            RpcRequest::GetProgramAccounts => (
                self.max_scan_response_bytes,
                "daemon.rpc.max_scan_response_bytes",
            ),
            _ => (self.max_response_bytes, "daemon.rpc.max_response_bytes"),
        }
    }
}

/// At most [`EXCERPT_CHARS`] characters of `text`, on one line, marked when cut.
pub fn excerpt(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let total = text.chars().count();
    if total > EXCERPT_CHARS {
        out.push_str(&format!("… ({total} characters)"));
    }
    out
}

/// One POST per request to `url`, bodies capped by [`ResponseLimits`].
pub struct BoundedHttpSender {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    limits: ResponseLimits,
    request_id: AtomicU64,
    stats: Mutex<RpcTransportStats>,
}

impl BoundedHttpSender {
    /// A sender that gives up on a request (connect, answer and body) after `timeout`.
    pub fn new(url: impl Into<String>, timeout: Duration, limits: ResponseLimits) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(timeout)
            .build()
            // Building fails only when the TLS backend cannot initialise; the same
            // client without a custom timeout would fail the same way.
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            client,
            url: url.into(),
            timeout,
            limits,
            request_id: AtomicU64::new(0),
            stats: Mutex::new(RpcTransportStats::default()),
        }
    }

    /// An endpoint failure: what happened, naming the endpoint and the request.
    fn failure(&self, request: RpcRequest, kind: io::ErrorKind, what: String) -> ClientError {
        io::Error::new(kind, format!("{} {request}: {what}", self.url)).into()
    }

    fn timed_out(&self, request: RpcRequest) -> ClientError {
        self.failure(
            request,
            io::ErrorKind::TimedOut,
            format!("timed out: no complete answer within {:?}", self.timeout),
        )
    }

    /// The body, read chunk by chunk and refused as soon as it passes `cap`.
    async fn read_body(
        &self,
        request: RpcRequest,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, ClientError> {
        let (cap, setting) = self.limits.for_request(request);
        let too_large = |size: String| {
            self.failure(
                request,
                io::ErrorKind::InvalidData,
                format!("answer of {size} bytes is over the {cap}-byte limit ({setting})"),
            )
        };
        if let Some(length) = response.content_length() {
            if length > cap as u64 {
                return Err(too_large(length.to_string()));
            }
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        return Err(too_large(format!("more than {cap}")));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(self.timed_out(request)),
                Err(e) => {
                    return Err(self.failure(
                        request,
                        io::ErrorKind::InvalidData,
                        format!("answer body unreadable: {}", excerpt(&e.to_string())),
                    ))
                }
            }
        }
        Ok(body)
    }

    /// The JSON-RPC `result`, or the answer's `error` as the client's typed error.
    fn interpret(&self, request: RpcRequest, body: &[u8]) -> Result<Value, ClientError> {
        let malformed = |what: &str| {
            self.failure(
                request,
                io::ErrorKind::InvalidData,
                format!(
                    "{what}: {}",
                    excerpt(&String::from_utf8_lossy(&body[..body.len().min(256)]))
                ),
            )
        };
        let mut json: Value =
            serde_json::from_slice(body).map_err(|_| malformed("answer is not JSON"))?;
        let Some(object) = json.as_object_mut() else {
            return Err(malformed("answer is not a JSON-RPC object"));
        };
        if let Some(error) = object.get("error").filter(|e| e.is_object()) {
            return Err(rpc_error(error));
        }
        object
            .remove("result")
            .ok_or_else(|| malformed("answer has neither result nor error"))
    }
}

/// A JSON-RPC error object as the client's typed error, its message cut to an excerpt.
fn rpc_error(error: &Value) -> ClientError {
    let Ok(object) = serde_json::from_value::<RpcErrorObject>(error.clone()) else {
        return RpcError::RpcRequestError(format!(
            "undecodable JSON-RPC error: {}",
            excerpt(&error.to_string())
        ))
        .into();
    };
    let data = match object.code {
        custom_error::JSON_RPC_SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE => {
            serde_json::from_value::<RpcSimulateTransactionResult>(error["data"].clone())
                .map(RpcResponseErrorData::SendTransactionPreflightFailure)
                .unwrap_or(RpcResponseErrorData::Empty)
        }
        custom_error::JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY => {
            serde_json::from_value::<custom_error::NodeUnhealthyErrorData>(error["data"].clone())
                .map(|d| RpcResponseErrorData::NodeUnhealthy {
                    num_slots_behind: d.num_slots_behind,
                })
                .unwrap_or(RpcResponseErrorData::Empty)
        }
        _ => RpcResponseErrorData::Empty,
    };
    RpcError::RpcResponseError {
        code: object.code,
        message: excerpt(&object.message),
        data,
    }
    .into()
}

#[async_trait]
impl RpcSender for BoundedHttpSender {
    async fn send(&self, request: RpcRequest, params: Value) -> Result<Value, ClientError> {
        let started = Instant::now();
        let id = self.request_id.fetch_add(1, Ordering::Relaxed);
        let body = request.build_request_json(id, params).to_string();
        let result = async {
            let response = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    if e.is_timeout() {
                        self.timed_out(request)
                    } else {
                        ClientError::from(ClientErrorKind::Reqwest(e.without_url()))
                    }
                })?;
            let status = response.status();
            if !status.is_success() {
                // The status alone decides (see `classify`); the body is not read.
                return Err(ClientErrorKind::Reqwest(
                    response
                        .error_for_status()
                        .expect_err("a non-success status is an error")
                        .without_url(),
                )
                .into());
            }
            let body = self.read_body(request, response).await?;
            self.interpret(request, &body)
        }
        .await;
        let mut stats = self.stats.lock();
        stats.request_count += 1;
        stats.elapsed_time += started.elapsed();
        drop(stats);
        result
    }

    fn get_transport_stats(&self) -> RpcTransportStats {
        self.stats.lock().clone()
    }

    fn url(&self) -> String {
        self.url.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_long_text_and_says_how_long_it_was() {
        let long = "x".repeat(10_000);
        let cut = excerpt(&long);
        assert!(cut.chars().count() < EXCERPT_CHARS + 40, "{cut}");
        assert!(cut.ends_with("(10000 characters)"), "{cut}");
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt("two\nlines"), "two lines");
    }

    #[test]
    fn limits_pick_the_scan_cap_for_get_program_accounts_only() {
        let limits = ResponseLimits::default();
        assert_eq!(
            limits.for_request(RpcRequest::GetProgramAccounts),
            (
                limits.max_scan_response_bytes,
                "daemon.rpc.max_scan_response_bytes"
            )
        );
        assert_eq!(
            limits.for_request(RpcRequest::GetAccountInfo),
            (limits.max_response_bytes, "daemon.rpc.max_response_bytes")
        );
    }

    #[test]
    fn error_objects_keep_their_code_and_an_excerpt_of_the_message() {
        let error = serde_json::json!({"code": -32602, "message": "m".repeat(100_000)});
        let error = rpc_error(&error);
        let text = error.to_string();
        assert!(text.len() < 400, "{} bytes", text.len());
        match error.kind() {
            ClientErrorKind::RpcError(RpcError::RpcResponseError { code, .. }) => {
                assert_eq!(*code, -32602)
            }
            other => panic!("{other:?}"),
        }
    }
}
