//! [`RpcChain`]: the [`Chain`] over a JSON-RPC endpoint, as the keeper runs in production.
//!
//! Owns one nonblocking `RpcClient` with a commitment and a request timeout, the mapping
//! of each trait method onto one RPC call, and the classification of client errors into
//! [`ChainError`] kinds ([`classify`]).
//!
//! Must not: retry (the submitter does, with its own backoff and failover), wait for
//! confirmations, or let the RPC node rebroadcast (`maxRetries: 0`).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::RpcClientConfig;
use solana_rpc_client_api::client_error::{Error as ClientError, ErrorKind as ClientErrorKind};
use solana_rpc_client_api::config::{
    RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSendTransactionConfig,
    RpcSimulateTransactionConfig,
};
use solana_rpc_client_api::custom_error;
use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};
use solana_rpc_client_api::request::{RpcError, RpcRequest, RpcResponseErrorData};
use solana_rpc_client_api::response::{
    OptionalContext, Response, RpcKeyedAccount, RpcSimulateTransactionResult, UiAccount,
    UiAccountEncoding,
};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::{TransactionError, VersionedTransaction};

use crate::config::setting::InvalidSetting;

use super::decode::{decode_account, keyed_account};
use super::pubsub::ProgramSubscription;
use super::transport::{
    excerpt, BoundedHttpSender, ResponseLimits, MAX_RESPONSE_BYTES, MIN_RESPONSE_BYTES,
};
use super::{Chain, ChainError, DataMatch, KeyedAccount, ProgramNotices, Simulation, TxStatus};

/// Most keys `getMultipleAccounts` accepts in one request.
pub const MAX_MULTIPLE_ACCOUNTS: usize = 100;
/// Most signatures `getSignatureStatuses` accepts in one request.
pub const MAX_SIGNATURE_STATUSES: usize = 256;

/// `[daemon.rpc]`: how long a request may take and how large an answer may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Bound of one request, connecting and reading the whole answer included.
    pub timeout_ms: u64,
    /// Largest answer body of any call but the full scan, bytes.
    pub max_response_bytes: usize,
    /// Largest `getProgramAccounts` answer body, bytes.
    pub max_scan_response_bytes: usize,
}

/// The range [`RpcConfig::timeout_ms`] may take: a request needs a round trip, and a
/// timeout past two minutes would hold a worker (and a nonce) longer than a blockhash
/// lives.
pub const RPC_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=120_000;

impl Default for RpcConfig {
    fn default() -> Self {
        let limits = ResponseLimits::default();
        Self {
            timeout_ms: 10_000,
            max_response_bytes: limits.max_response_bytes,
            max_scan_response_bytes: limits.max_scan_response_bytes,
        }
    }
}

impl RpcConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn limits(&self) -> ResponseLimits {
        ResponseLimits {
            max_response_bytes: self.max_response_bytes,
            max_scan_response_bytes: self.max_scan_response_bytes,
        }
    }

    /// Checks every `[daemon.rpc]` value, naming the first bad one by its full key.
    pub fn validate_settings(&self) -> Result<(), InvalidSetting> {
        if !RPC_TIMEOUT_MS.contains(&self.timeout_ms) {
            return Err(InvalidSetting::new(
                "daemon.rpc.timeout_ms",
                self.timeout_ms,
                format!(
                    "expected {} to {} milliseconds",
                    RPC_TIMEOUT_MS.start(),
                    RPC_TIMEOUT_MS.end()
                ),
            ));
        }
        let caps = [
            ("daemon.rpc.max_response_bytes", self.max_response_bytes),
            (
                "daemon.rpc.max_scan_response_bytes",
                self.max_scan_response_bytes,
            ),
        ];
        match caps
            .into_iter()
            .find(|(_, bytes)| !(MIN_RESPONSE_BYTES..=MAX_RESPONSE_BYTES).contains(bytes))
        {
            Some((key, bytes)) => Err(InvalidSetting::new(
                key,
                bytes,
                format!("expected {MIN_RESPONSE_BYTES} to {MAX_RESPONSE_BYTES} bytes"),
            )),
            None => Ok(()),
        }
    }
}

/// The chain as a JSON-RPC endpoint sees it, at one commitment level.
pub struct RpcChain {
    client: RpcClient,
    url: String,
    /// Where [`Chain::subscribe_program`] connects; none: it cannot push.
    ws_url: Option<String>,
    commitment: CommitmentConfig,
    timeout: Duration,
    /// Caps on answers; a pushed notification takes the general one.
    limits: ResponseLimits,
}

impl RpcChain {
    /// A client for `url` that reads at `commitment` and gives up on a request after
    /// `timeout` (connecting included), with the default [`ResponseLimits`].
    pub fn new(url: impl Into<String>, commitment: CommitmentConfig, timeout: Duration) -> Self {
        Self::with_limits(url, commitment, timeout, ResponseLimits::default())
    }

    /// [`RpcChain::new`] with answers capped by `limits` (see [`super::transport`]).
    pub fn with_limits(
        url: impl Into<String>,
        commitment: CommitmentConfig,
        timeout: Duration,
        limits: ResponseLimits,
    ) -> Self {
        let url = url.into();
        let client = RpcClient::new_sender(
            BoundedHttpSender::new(url.clone(), timeout, limits),
            RpcClientConfig::with_commitment(commitment),
        );
        Self {
            client,
            url,
            ws_url: None,
            commitment,
            timeout,
            limits,
        }
    }

    /// Lets [`Chain::subscribe_program`] push changes through the node's websocket at
    /// `ws_url` (see [`super::pubsub`]).
    pub fn with_websocket(mut self, ws_url: impl Into<String>) -> Self {
        self.ws_url = Some(ws_url.into());
        self
    }

    pub fn commitment(&self) -> CommitmentConfig {
        self.commitment
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whole accounts, base64, at the chain's commitment.
    fn account_config(&self) -> RpcAccountInfoConfig {
        RpcAccountInfoConfig {
            encoding: Some(UiAccountEncoding::Base64),
            data_slice: None,
            commitment: Some(self.commitment),
            min_context_slot: None,
        }
    }

    /// Runs one request, bounded by the timeout as a whole (a client call may be more
    /// than one HTTP request, as `getProgramAccounts` without context is).
    async fn call<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ChainError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result.map_err(|e| classify(&e)),
            Err(_) => Err(ChainError::Unavailable(format!(
                "{}: timed out: no answer within {:?}",
                self.url, self.timeout
            ))),
        }
    }

    /// An answer that parsed but cannot be what was asked for: the endpoint is broken
    /// (or hostile) for this keeper, which the breaker must count.
    fn malformed(&self, what: String) -> ChainError {
        ChainError::Unavailable(format!(
            "{}: malformed answer: {}",
            self.url,
            excerpt(&what)
        ))
    }
}

/// Sorts a client error into a [`ChainError`] kind:
/// - no answer (connection, I/O, timeout), HTTP 5xx or 429, an unhealthy or lagging
///   node, a body that is too large, not JSON-RPC, or JSON-RPC of the wrong shape for
///   the request: [`ChainError::Unavailable`], so that the breaker counts the endpoint
///   as failing and failover moves on;
/// - a transaction error, from send or simulate preflight or a signature check:
///   [`ChainError::Rejected`];
/// - any other answer the endpoint gave: [`ChainError::Rpc`].
///
/// The error's text is cut to an [`excerpt`]: a node's words never reach a log line or
/// `/health` whole.
pub fn classify(error: &ClientError) -> ChainError {
    let text = excerpt(&error.to_string());
    match error.kind() {
        ClientErrorKind::Io(_) | ClientErrorKind::Middleware(_) | ClientErrorKind::SerdeJson(_) => {
            ChainError::Unavailable(text)
        }
        ClientErrorKind::Reqwest(e) => match e.status() {
            Some(status) if status.is_server_error() || status.as_u16() == 429 => {
                ChainError::Unavailable(text)
            }
            Some(_) => ChainError::Rpc(text),
            // No status: connect, timeout, body or decode failure.
            None => ChainError::Unavailable(text),
        },
        ClientErrorKind::TransactionError(e) => ChainError::Rejected(e.clone()),
        ClientErrorKind::RpcError(RpcError::RpcResponseError { code, data, .. }) => {
            match (code, data) {
                (
                    _,
                    RpcResponseErrorData::SendTransactionPreflightFailure(
                        RpcSimulateTransactionResult { err: Some(err), .. },
                    ),
                ) => ChainError::Rejected(err.clone().into()),
                (
                    &custom_error::JSON_RPC_SERVER_ERROR_TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
                    _,
                ) => ChainError::Rejected(TransactionError::SignatureFailure),
                (_, RpcResponseErrorData::NodeUnhealthy { .. })
                | (&custom_error::JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY, _)
                | (&custom_error::JSON_RPC_SERVER_ERROR_MIN_CONTEXT_SLOT_NOT_REACHED, _) => {
                    ChainError::Unavailable(text)
                }
                _ => ChainError::Rpc(text),
            }
        }
        ClientErrorKind::RpcError(_)
        | ClientErrorKind::SigningError(_)
        | ClientErrorKind::Custom(_) => ChainError::Rpc(text),
    }
}

impl RpcChain {
    /// `getProgramAccounts` with base58 memcmp filters (the prefix at offset 0, then
    /// `matches`) and `withContext`, sent through the client's raw `send` with the typed
    /// config, since the client's typed variants (`get_program_accounts_with_config`,
    /// `get_program_ui_accounts_with_config`) drop the context. Only a node that ignores
    /// `withContext` (none since Solana 1.x) costs an extra `getSlot`, necessarily after
    /// the scan: that slot may then be later than the view it labels.
    async fn program_accounts(
        &self,
        program: &Pubkey,
        prefix: &[u8],
        matches: &[DataMatch],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        // Base58, the one encoding every provider's filter parser accepts.
        let filters = std::iter::once((0, prefix))
            .chain(matches.iter().map(|m| (m.offset, m.bytes.as_slice())))
            .map(|(offset, bytes)| RpcFilterType::Memcmp(Memcmp::new_base58_encoded(offset, bytes)))
            .collect();
        let config = RpcProgramAccountsConfig {
            filters: Some(filters),
            account_config: self.account_config(),
            with_context: Some(true),
            sort_results: Some(true),
        };
        let response = self
            .call(self.client.send::<OptionalContext<Vec<RpcKeyedAccount>>>(
                RpcRequest::GetProgramAccounts,
                json!([program.to_string(), config]),
            ))
            .await?;
        let (slot, keyed) = match response {
            OptionalContext::Context(response) => (response.context.slot, response.value),
            OptionalContext::NoContext(value) => (
                self.call(self.client.get_slot_with_commitment(self.commitment))
                    .await?,
                value,
            ),
        };
        let accounts = keyed
            .into_iter()
            .map(keyed_account)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((slot, accounts))
    }
}

#[async_trait]
impl Chain for RpcChain {
    fn endpoint(&self) -> &str {
        &self.url
    }

    /// `getAccountInfo`, sent through the client's raw `send`: its typed variant turns
    /// every failure into one "AccountNotFound" error, transport failures included.
    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        let response = self
            .call(self.client.send::<Response<Option<UiAccount>>>(
                RpcRequest::GetAccountInfo,
                json!([key.to_string(), self.account_config()]),
            ))
            .await?;
        response
            .value
            .map(|account| decode_account(key, &account))
            .transpose()
    }

    /// `getAccountInfo` as [`Chain::get_account`], with the answer's context slot.
    async fn get_account_with_slot(
        &self,
        key: &Pubkey,
    ) -> Result<(u64, Option<Account>), ChainError> {
        let response = self
            .call(self.client.send::<Response<Option<UiAccount>>>(
                RpcRequest::GetAccountInfo,
                json!([key.to_string(), self.account_config()]),
            ))
            .await?;
        let account = response
            .value
            .map(|account| decode_account(key, &account))
            .transpose()?;
        Ok((response.context.slot, account))
    }

    /// `getMultipleAccounts`, one request per [`MAX_MULTIPLE_ACCOUNTS`] keys.
    async fn get_multiple_accounts(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        let mut accounts = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_MULTIPLE_ACCOUNTS) {
            let response = self
                .call(
                    self.client
                        .get_multiple_ui_accounts_with_config(chunk, self.account_config()),
                )
                .await?;
            if response.value.len() != chunk.len() {
                return Err(self.malformed(format!(
                    "getMultipleAccounts returned {} accounts for {} keys",
                    response.value.len(),
                    chunk.len()
                )));
            }
            for (key, account) in chunk.iter().zip(response.value) {
                accounts.push(account.map(|a| decode_account(key, &a)).transpose()?);
            }
        }
        Ok(accounts)
    }

    /// `getProgramAccounts` with a base58 memcmp filter at offset 0 and `withContext`
    /// (see [`RpcChain::program_accounts`]).
    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        self.program_accounts(program, prefix, &[]).await
    }

    /// `getProgramAccounts` with one memcmp filter for the prefix and one per match, so
    /// the node does the narrowing.
    async fn get_program_accounts_matching(
        &self,
        program: &Pubkey,
        prefix: &[u8],
        matches: &[DataMatch],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        self.program_accounts(program, prefix, matches).await
    }

    /// `getLatestBlockhash`.
    async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        let (hash, _last_valid_block_height) = self
            .call(
                self.client
                    .get_latest_blockhash_with_commitment(self.commitment),
            )
            .await?;
        Ok(hash)
    }

    /// `getAccountInfo` of the Clock sysvar, bincode-decoded.
    async fn clock(&self) -> Result<Clock, ChainError> {
        let account = self
            .get_account(&solana_sdk_ids::sysvar::clock::ID)
            .await?
            .ok_or_else(|| self.malformed("the Clock sysvar account is missing".into()))?;
        solana_sdk::account::from_account::<Clock, _>(&account)
            .ok_or_else(|| self.malformed("undecodable Clock sysvar".into()))
    }

    /// `simulateTransaction` with `sigVerify: false` and `replaceRecentBlockhash: true`.
    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
        let config = RpcSimulateTransactionConfig {
            sig_verify: false,
            replace_recent_blockhash: true,
            commitment: Some(self.commitment),
            ..RpcSimulateTransactionConfig::default()
        };
        let response = self
            .call(self.client.simulate_transaction_with_config(tx, config))
            .await?;
        let result = response.value;
        Ok(Simulation {
            err: result.err.map(TransactionError::from),
            logs: result.logs.unwrap_or_default(),
            units_consumed: result.units_consumed.unwrap_or_default(),
        })
    }

    /// `sendTransaction` with `skipPreflight: true` and `maxRetries: 0`: the keeper
    /// rebroadcasts by itself.
    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        let config = RpcSendTransactionConfig {
            skip_preflight: true,
            preflight_commitment: Some(self.commitment.commitment),
            max_retries: Some(0),
            ..RpcSendTransactionConfig::default()
        };
        self.call(self.client.send_transaction_with_config(tx, config))
            .await
    }

    /// `getSignatureStatuses` (recent status cache only, no history), one request per
    /// [`MAX_SIGNATURE_STATUSES`] signatures. `confirmed` is true from `confirmed` up.
    async fn signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<Vec<Option<TxStatus>>, ChainError> {
        let mut statuses = Vec::with_capacity(signatures.len());
        for chunk in signatures.chunks(MAX_SIGNATURE_STATUSES) {
            let response = self.call(self.client.get_signature_statuses(chunk)).await?;
            if response.value.len() != chunk.len() {
                return Err(self.malformed(format!(
                    "getSignatureStatuses returned {} statuses for {} signatures",
                    response.value.len(),
                    chunk.len()
                )));
            }
            statuses.extend(response.value.into_iter().map(|status| {
                status.map(|s| TxStatus {
                    slot: s.slot,
                    confirmed: s.satisfies_commitment(CommitmentConfig::confirmed()),
                    err: s.err,
                })
            }));
        }
        Ok(statuses)
    }

    /// `getRecentPrioritizationFees`, oldest slot first.
    async fn recent_prioritization_fees(
        &self,
        accounts: &[Pubkey],
    ) -> Result<Vec<u64>, ChainError> {
        let mut fees = self
            .call(self.client.get_recent_prioritization_fees(accounts))
            .await?;
        fees.sort_by_key(|fee| fee.slot);
        Ok(fees.into_iter().map(|fee| fee.prioritization_fee).collect())
    }

    /// `programSubscribe` on the websocket given to [`RpcChain::with_websocket`], with
    /// the scan's filter and encoding (see [`super::pubsub`]).
    async fn subscribe_program(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<ProgramNotices, ChainError> {
        let Some(ws_url) = &self.ws_url else {
            return Err(ChainError::Rpc(format!(
                "{}: no websocket endpoint configured",
                self.url
            )));
        };
        ProgramSubscription {
            ws_url: ws_url.clone(),
            program: *program,
            prefix: prefix.to_vec(),
            commitment: self.commitment,
            timeout: self.timeout,
            max_message_bytes: self.limits.max_response_bytes,
        }
        .start()
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::TcpListener;
    use std::time::Instant;

    use serde_json::Value;
    use solana_rpc_client_api::response::transaction::TransactionError as RpcTxError;
    use solana_sdk::instruction::InstructionError;
    use solana_sdk::message::{Message, VersionedMessage};
    use solana_sdk::signature::Keypair;
    use solana_sdk::signer::Signer;
    use solana_sdk::transaction::Transaction;

    use super::*;
    use crate::config::setting::{refusal, Spoil};

    fn response_error(code: i64, data: RpcResponseErrorData) -> ClientError {
        ClientErrorKind::RpcError(RpcError::RpcResponseError {
            code,
            message: "message".into(),
            data,
        })
        .into()
    }

    fn preflight_failure(err: Option<TransactionError>) -> RpcResponseErrorData {
        RpcResponseErrorData::SendTransactionPreflightFailure(RpcSimulateTransactionResult {
            err: err.map(Into::into),
            logs: Some(vec!["log".into()]),
            accounts: None,
            units_consumed: Some(1_000),
            loaded_accounts_data_size: None,
            return_data: None,
            inner_instructions: None,
            replacement_blockhash: None,
            fee: None,
            pre_balances: None,
            post_balances: None,
            pre_token_balances: None,
            post_token_balances: None,
            loaded_addresses: None,
        })
    }

    #[test]
    fn io_and_middleware_errors_are_unavailable() {
        let io = ClientError::from(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        assert_eq!(classify(&io).kind(), "unavailable");
        let timeout = ClientError::from(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        assert!(classify(&timeout).is_retryable());
        let middleware: ClientError =
            ClientErrorKind::Middleware(anyhow::anyhow!("circuit open")).into();
        assert_eq!(classify(&middleware).kind(), "unavailable");
    }

    #[test]
    fn preflight_failure_is_rejected_with_its_transaction_error() {
        let tx_err = TransactionError::InstructionError(0, InstructionError::Custom(6001));
        let error = response_error(
            custom_error::JSON_RPC_SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE,
            preflight_failure(Some(tx_err.clone())),
        );
        assert_eq!(classify(&error), ChainError::Rejected(tx_err));

        let expired = response_error(
            custom_error::JSON_RPC_SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE,
            preflight_failure(Some(TransactionError::BlockhashNotFound)),
        );
        assert_eq!(
            classify(&expired),
            ChainError::Rejected(TransactionError::BlockhashNotFound)
        );
    }

    #[test]
    fn preflight_failure_without_an_error_is_an_rpc_error() {
        let error = response_error(
            custom_error::JSON_RPC_SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE,
            preflight_failure(None),
        );
        assert_eq!(classify(&error).kind(), "rpc");
    }

    #[test]
    fn client_side_transaction_error_is_rejected() {
        let error: ClientError =
            ClientErrorKind::TransactionError(RpcTxError::AlreadyProcessed).into();
        assert_eq!(
            classify(&error),
            ChainError::Rejected(TransactionError::AlreadyProcessed)
        );
    }

    #[test]
    fn signature_verification_failure_is_rejected() {
        let error = response_error(
            custom_error::JSON_RPC_SERVER_ERROR_TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
            RpcResponseErrorData::Empty,
        );
        assert_eq!(
            classify(&error),
            ChainError::Rejected(TransactionError::SignatureFailure)
        );
    }

    #[test]
    fn unhealthy_or_lagging_node_is_unavailable() {
        let unhealthy = response_error(
            custom_error::JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY,
            RpcResponseErrorData::NodeUnhealthy {
                num_slots_behind: Some(42),
            },
        );
        assert_eq!(classify(&unhealthy).kind(), "unavailable");
        let lagging = response_error(
            custom_error::JSON_RPC_SERVER_ERROR_MIN_CONTEXT_SLOT_NOT_REACHED,
            RpcResponseErrorData::Empty,
        );
        assert_eq!(classify(&lagging).kind(), "unavailable");
    }

    #[test]
    fn other_answers_are_rpc_errors() {
        let invalid_params = response_error(-32602, RpcResponseErrorData::Empty);
        assert_eq!(classify(&invalid_params).kind(), "rpc");
        let parse: ClientError =
            ClientErrorKind::RpcError(RpcError::ParseError("Pubkey".into())).into();
        assert_eq!(classify(&parse).kind(), "rpc");
        let request: ClientError =
            ClientErrorKind::RpcError(RpcError::RpcRequestError("mismatched".into())).into();
        assert_eq!(classify(&request).kind(), "rpc");
        let custom: ClientError = ClientErrorKind::Custom("serialization".into()).into();
        assert_eq!(classify(&custom).kind(), "rpc");
    }

    #[test]
    fn answer_caps_outside_their_range_are_named_by_their_full_key() {
        assert_eq!(RpcConfig::default().validate_settings(), Ok(()));
        let tiny = refusal(
            |c: &mut RpcConfig| c.max_response_bytes = 10,
            RpcConfig::validate_settings,
        );
        assert_eq!(
            (tiny.field, tiny.value.as_str()),
            ("daemon.rpc.max_response_bytes", "10")
        );
        let cases: [(&str, Spoil<RpcConfig>); 3] = [
            ("daemon.rpc.timeout_ms", |c| c.timeout_ms = u64::MAX),
            ("daemon.rpc.max_response_bytes", |c| {
                c.max_response_bytes = 0
            }),
            ("daemon.rpc.max_scan_response_bytes", |c| {
                c.max_scan_response_bytes = usize::MAX
            }),
        ];
        for (field, spoil) in cases {
            assert_eq!(refusal(spoil, RpcConfig::validate_settings).field, field);
        }
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_an_endpoint_failure() {
        let json: ClientError =
            ClientErrorKind::SerdeJson(serde_json::from_str::<u64>("{}").unwrap_err()).into();
        assert_eq!(classify(&json).kind(), "unavailable");
    }

    /// Answers every connection with one canned HTTP response, `count` times.
    fn serve_status(status_line: &'static str, count: usize) -> String {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(count) {
                let Ok(mut stream) = stream else { return };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let body = "unavailable";
                let length = body.len();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status_line}\r\nContent-Length: {length}\r\n\
                     Connection: close\r\n\r\n{body}"
                );
            }
        });
        url
    }

    #[tokio::test]
    async fn http_5xx_is_unavailable_and_4xx_is_rpc() {
        let chain = RpcChain::new(
            serve_status("503 Service Unavailable", 1),
            CommitmentConfig::confirmed(),
            Duration::from_secs(5),
        );
        let err = chain.latest_blockhash().await.unwrap_err();
        assert_eq!(err.kind(), "unavailable", "{err}");

        let chain = RpcChain::new(
            serve_status("404 Not Found", 1),
            CommitmentConfig::confirmed(),
            Duration::from_secs(5),
        );
        let err = chain.latest_blockhash().await.unwrap_err();
        assert_eq!(err.kind(), "rpc", "{err}");
    }

    #[tokio::test]
    async fn http_429_is_unavailable_within_the_timeout() {
        // The HTTP client retries 429 by itself, pausing between tries; the chain's
        // timeout bounds the whole call.
        let chain = RpcChain::new(
            serve_status("429 Too Many Requests", 10),
            CommitmentConfig::confirmed(),
            Duration::from_millis(300),
        );
        let started = Instant::now();
        let err = chain.latest_blockhash().await.unwrap_err();
        assert_eq!(err.kind(), "unavailable", "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    fn closed_port_url() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn every_method_is_unavailable_quickly_on_a_closed_port() {
        let chain = RpcChain::new(
            closed_port_url(),
            CommitmentConfig::confirmed(),
            Duration::from_secs(2),
        );
        let payer = Keypair::new();
        let message = Message::new(&[], Some(&payer.pubkey()));
        let tx = VersionedTransaction::from(Transaction::new(&[&payer], message, Hash::default()));
        assert!(matches!(tx.message, VersionedMessage::Legacy(_)));
        let key = Pubkey::new_unique();

        let started = Instant::now();
        let errors = vec![
            ("get_account", chain.get_account(&key).await.err()),
            (
                "get_multiple_accounts",
                chain.get_multiple_accounts(&[key]).await.err(),
            ),
            (
                "get_program_accounts",
                chain
                    .get_program_accounts(&thread::ID, b"prefix")
                    .await
                    .err(),
            ),
            ("latest_blockhash", chain.latest_blockhash().await.err()),
            ("clock", chain.clock().await.err()),
            ("simulate", chain.simulate(&tx).await.err()),
            ("send", chain.send(&tx).await.err()),
            (
                "signature_statuses",
                chain.signature_statuses(&[tx.signatures[0]]).await.err(),
            ),
            (
                "recent_prioritization_fees",
                chain.recent_prioritization_fees(&[key]).await.err(),
            ),
        ];
        for (method, error) in errors {
            match error {
                Some(ChainError::Unavailable(_)) => {}
                other => panic!("{method}: expected Unavailable, got {other:?}"),
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn empty_requests_need_no_round_trip() {
        let chain = RpcChain::new(
            closed_port_url(),
            CommitmentConfig::confirmed(),
            Duration::from_secs(2),
        );
        assert_eq!(chain.get_multiple_accounts(&[]).await, Ok(vec![]));
        assert_eq!(chain.signature_statuses(&[]).await, Ok(vec![]));
    }

    /// A JSON-RPC server on a local port that answers each request with `answer(method,
    /// params)` (a `result`, or an `error` object when it returns `Err`) and records
    /// what it was asked.
    struct FakeRpc {
        url: String,
        requests: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    }

    impl FakeRpc {
        fn start(answer: impl Fn(&str, &Value) -> Result<Value, Value> + Send + 'static) -> Self {
            use std::io::{BufRead, BufReader, Read, Write};
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let log = requests.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        let line = line.trim_end().to_ascii_lowercase();
                        if line.is_empty() {
                            break;
                        }
                        if let Some(value) = line.strip_prefix("content-length:") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        continue;
                    }
                    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let method = request["method"].as_str().unwrap().to_string();
                    let params = request["params"].clone();
                    let reply = match answer(&method, &params) {
                        Ok(result) => {
                            json!({"jsonrpc": "2.0", "id": request["id"], "result": result})
                        }
                        Err(error) => {
                            json!({"jsonrpc": "2.0", "id": request["id"], "error": error})
                        }
                    };
                    log.lock().unwrap().push((method, params));
                    let reply = reply.to_string();
                    let length = reply.len();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {length}\r\nConnection: close\r\n\r\n{reply}"
                    );
                }
            });
            Self { url, requests }
        }

        fn chain(&self) -> RpcChain {
            RpcChain::new(
                self.url.clone(),
                CommitmentConfig::confirmed(),
                Duration::from_secs(5),
            )
        }

        fn requests(&self) -> Vec<(String, serde_json::Value)> {
            self.requests.lock().unwrap().clone()
        }
    }

    fn ui_account(account: &Account) -> serde_json::Value {
        // The node answers in the encoding asked for; base58 decodes the same way and
        // needs no extra crate here.
        json!({
            "data": [solana_sdk::bs58::encode(&account.data).into_string(), "base58"],
            "executable": account.executable,
            "lamports": account.lamports,
            "owner": account.owner.to_string(),
            "rentEpoch": account.rent_epoch,
            "space": account.data.len(),
        })
    }

    fn context(slot: u64, value: serde_json::Value) -> serde_json::Value {
        json!({"context": {"slot": slot}, "value": value})
    }

    /// "Not found" is only worth its slot: the read with its slot is one
    /// `getAccountInfo`, and the slot is the answer's own context, not a clock read.
    #[tokio::test]
    async fn an_account_read_carries_the_slot_of_its_answer() {
        let thread = Pubkey::new_unique();
        let account = Account {
            lamports: 10,
            data: b"thread".to_vec(),
            owner: Pubkey::new_unique(),
            executable: false,
            rent_epoch: 0,
        };
        let a = account.clone();
        let rpc = FakeRpc::start(move |method, params| {
            Ok(match method {
                "getAccountInfo" if params[0] == thread.to_string() => context(42, ui_account(&a)),
                "getAccountInfo" => context(17, serde_json::Value::Null),
                other => panic!("unexpected {other}"),
            })
        });
        let chain = rpc.chain();
        assert_eq!(
            chain.get_account_with_slot(&thread).await,
            Ok((42, Some(account)))
        );
        assert_eq!(
            chain.get_account_with_slot(&Pubkey::new_unique()).await,
            Ok((17, None))
        );
        let methods: Vec<String> = rpc.requests().into_iter().map(|(m, _)| m).collect();
        assert_eq!(methods, ["getAccountInfo", "getAccountInfo"]);
    }

    #[tokio::test]
    async fn reads_map_onto_their_rpc_calls() {
        let program = Pubkey::new_unique();
        let thread = Pubkey::new_unique();
        let account = Account {
            lamports: 10,
            data: b"prefix and more".to_vec(),
            owner: program,
            executable: false,
            rent_epoch: 0,
        };
        let clock = Clock {
            slot: 321,
            epoch: 2,
            unix_timestamp: 1_700_000_000,
            ..Clock::default()
        };
        let clock_account = Account::new_data(1, &clock, &solana_sdk_ids::sysvar::ID).unwrap();
        let blockhash = Hash::new_unique();
        let (a, c) = (account.clone(), clock_account.clone());
        let rpc = FakeRpc::start(move |method, params| {
            Ok(match method {
                "getAccountInfo" if params[0] == solana_sdk_ids::sysvar::clock::ID.to_string() => {
                    context(5, ui_account(&c))
                }
                "getAccountInfo" if params[0] == thread.to_string() => context(5, ui_account(&a)),
                "getAccountInfo" => context(5, serde_json::Value::Null),
                "getMultipleAccounts" => {
                    let keys = params[0].as_array().unwrap();
                    let value: Vec<_> = keys
                        .iter()
                        .map(|k| {
                            if *k == thread.to_string() {
                                ui_account(&a)
                            } else {
                                serde_json::Value::Null
                            }
                        })
                        .collect();
                    context(5, json!(value))
                }
                "getProgramAccounts" => context(
                    77,
                    json!([{"pubkey": thread.to_string(), "account": ui_account(&a)}]),
                ),
                "getLatestBlockhash" => context(
                    5,
                    json!({"blockhash": blockhash.to_string(), "lastValidBlockHeight": 100}),
                ),
                "getRecentPrioritizationFees" => json!([
                    {"slot": 3, "prioritizationFee": 50},
                    {"slot": 2, "prioritizationFee": 10},
                ]),
                other => panic!("unexpected {other}"),
            })
        });
        let chain = rpc.chain();

        assert_eq!(chain.get_account(&thread).await, Ok(Some(account.clone())));
        assert_eq!(chain.get_account(&Pubkey::new_unique()).await, Ok(None));

        let mut keys: Vec<Pubkey> = (0..150).map(|_| Pubkey::new_unique()).collect();
        keys[120] = thread;
        let accounts = chain.get_multiple_accounts(&keys).await.unwrap();
        assert_eq!(accounts.len(), 150);
        assert_eq!(accounts[120], Some(account.clone()));
        assert_eq!(accounts.iter().filter(|a| a.is_some()).count(), 1);

        let (slot, found) = chain
            .get_program_accounts(&program, b"prefix")
            .await
            .unwrap();
        assert_eq!(slot, 77);
        assert_eq!(
            found,
            vec![KeyedAccount {
                pubkey: thread,
                account
            }]
        );

        assert_eq!(chain.latest_blockhash().await, Ok(blockhash));
        assert_eq!(chain.clock().await, Ok(clock));
        assert_eq!(
            chain.recent_prioritization_fees(&[thread]).await,
            Ok(vec![10, 50])
        );

        let requests = rpc.requests();
        let multiple: Vec<usize> = requests
            .iter()
            .filter(|(m, _)| m == "getMultipleAccounts")
            .map(|(_, p)| p[0].as_array().unwrap().len())
            .collect();
        assert_eq!(multiple, vec![100, 50], "chunked by 100");
        let (_, gpa) = requests
            .iter()
            .find(|(m, _)| m == "getProgramAccounts")
            .unwrap();
        assert_eq!(gpa[0], program.to_string());
        assert_eq!(gpa[1]["withContext"], true);
        assert_eq!(gpa[1]["encoding"], "base64");
        assert_eq!(gpa[1]["commitment"], "confirmed");
        let memcmp = &gpa[1]["filters"][0]["memcmp"];
        assert_eq!(memcmp["offset"], 0);
        assert_eq!(memcmp["encoding"], "base58");
        assert_eq!(
            memcmp["bytes"],
            solana_sdk::bs58::encode(b"prefix").into_string()
        );
    }

    #[tokio::test]
    async fn program_accounts_without_context_take_the_slot_from_get_slot() {
        let rpc = FakeRpc::start(|method, _| {
            Ok(match method {
                "getProgramAccounts" => json!([]),
                "getSlot" => json!(99),
                other => panic!("unexpected {other}"),
            })
        });
        let (slot, found) = rpc
            .chain()
            .get_program_accounts(&Pubkey::new_unique(), b"x")
            .await
            .unwrap();
        assert_eq!((slot, found), (99, vec![]));
    }

    fn signed_tx() -> VersionedTransaction {
        let payer = Keypair::new();
        let message = Message::new(&[], Some(&payer.pubkey()));
        Transaction::new(&[&payer], message, Hash::new_unique()).into()
    }

    #[tokio::test]
    async fn send_skips_preflight_and_node_retries() {
        let tx = signed_tx();
        let signature = tx.signatures[0].to_string();
        let rpc = FakeRpc::start(move |_, _| Ok(json!(signature)));
        assert_eq!(rpc.chain().send(&tx).await, Ok(tx.signatures[0]));
        let (method, params) = &rpc.requests()[0];
        assert_eq!(method, "sendTransaction");
        assert_eq!(params[1]["skipPreflight"], true);
        assert_eq!(params[1]["maxRetries"], 0);
        assert_eq!(params[1]["encoding"], "base64");
    }

    #[tokio::test]
    async fn send_preflight_failure_is_rejected() {
        let rpc = FakeRpc::start(|_, _| {
            Err(json!({
                "code": custom_error::JSON_RPC_SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE,
                "message": "Transaction simulation failed: Blockhash not found",
                "data": {"err": "BlockhashNotFound", "logs": [], "unitsConsumed": 0},
            }))
        });
        assert_eq!(
            rpc.chain().send(&signed_tx()).await,
            Err(ChainError::Rejected(TransactionError::BlockhashNotFound))
        );
    }

    #[tokio::test]
    async fn simulate_maps_error_logs_and_units() {
        let rpc = FakeRpc::start(|_, _| {
            Ok(context(
                5,
                json!({
                    "err": {"InstructionError": [0, {"Custom": 6001}]},
                    "logs": ["Program log: hello"],
                    "unitsConsumed": 1234,
                }),
            ))
        });
        let simulation = rpc.chain().simulate(&signed_tx()).await.unwrap();
        assert_eq!(
            simulation,
            Simulation {
                err: Some(TransactionError::InstructionError(
                    0,
                    InstructionError::Custom(6001)
                )),
                logs: vec!["Program log: hello".into()],
                units_consumed: 1234,
            }
        );
        let (method, params) = &rpc.requests()[0];
        assert_eq!(method, "simulateTransaction");
        assert_eq!(params[1]["sigVerify"], false);
        assert_eq!(params[1]["replaceRecentBlockhash"], true);
    }

    #[tokio::test]
    async fn statuses_are_confirmed_from_confirmed_up() {
        let rpc = FakeRpc::start(|_, params| {
            let n = params[0].as_array().unwrap().len();
            let failed = json!({"InstructionError": [1, {"Custom": 6000}]});
            let mut value = vec![
                json!({
                    "slot": 9, "confirmations": null, "status": {"Ok": null}, "err": null,
                    "confirmationStatus": "finalized",
                }),
                json!({
                    "slot": 10, "confirmations": 3, "status": {"Ok": null}, "err": null,
                    "confirmationStatus": "confirmed",
                }),
                json!({
                    "slot": 11, "confirmations": 0, "status": {"Err": failed}, "err": failed,
                    "confirmationStatus": "processed",
                }),
            ];
            value.resize(n, serde_json::Value::Null);
            Ok(context(12, json!(value)))
        });
        let signatures: Vec<Signature> = (0..300).map(|_| Signature::new_unique()).collect();
        let statuses = rpc.chain().signature_statuses(&signatures).await.unwrap();
        assert_eq!(statuses.len(), 300);
        assert_eq!(
            statuses[0],
            Some(TxStatus {
                slot: 9,
                err: None,
                confirmed: true
            })
        );
        assert_eq!(statuses[1].as_ref().map(|s| s.confirmed), Some(true));
        assert_eq!(
            statuses[2],
            Some(TxStatus {
                slot: 11,
                err: Some(TransactionError::InstructionError(
                    1,
                    InstructionError::Custom(6000)
                )),
                confirmed: false
            })
        );
        assert_eq!(statuses[3], None);
        // 256 + 44: the second chunk starts again with the canned three.
        assert_eq!(statuses[256].as_ref().map(|s| s.slot), Some(9));
        assert_eq!(rpc.requests().len(), 2);
    }

    #[test]
    fn endpoint_is_the_url() {
        let chain = RpcChain::new(
            "http://127.0.0.1:8899",
            CommitmentConfig::processed(),
            Duration::from_secs(1),
        );
        assert_eq!(chain.endpoint(), "http://127.0.0.1:8899");
        assert_eq!(chain.commitment(), CommitmentConfig::processed());
        assert_eq!(chain.timeout(), Duration::from_secs(1));
    }
}
