//! Program subscriptions over a node's websocket (`programSubscribe`), for
//! [`super::rpc::RpcChain`].
//!
//! Owns: connecting and subscribing with the same filter and encoding as the full scan,
//! turning each notification into a [`ProgramNotice`], and re-establishing a stream that
//! dropped (capped exponential backoff), announcing every (re)subscription with
//! [`ProgramNotice::Connected`] so the subscriber catches up on what it missed.
//!
//! Must not: decide what a notice means (discovery does), block its caller (the stream
//! lives in its own task, which ends when the receiver is dropped), or take a message
//! larger than [`ProgramSubscription::max_message_bytes`]: the node is not trusted with
//! the keeper's memory here either (a larger one ends the connection, which is then
//! re-established with backoff).
//!
//! A node pushes nothing while no matching account changes, so an idle stream and a
//! silently dead one look alike; the client's pings notice a dead socket eventually, and
//! the subscriber's full views cover the gap either way.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client_api::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};
use solana_rpc_client_api::response::{Response, RpcKeyedAccount, UiAccountEncoding};
use solana_sdk::pubkey::Pubkey;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::decode::keyed_account;
use super::transport::excerpt;
use super::{ChainError, ProgramNotice, ProgramNotices};

/// First pause before re-establishing a dropped stream; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What to subscribe to, and where.
#[derive(Clone, Debug)]
pub struct ProgramSubscription {
    pub ws_url: String,
    pub program: Pubkey,
    pub prefix: Vec<u8>,
    pub commitment: CommitmentConfig,
    /// Bound on connecting plus subscribing, each attempt.
    pub timeout: Duration,
    /// Largest websocket message taken from the node, bytes.
    pub max_message_bytes: usize,
}

impl ProgramSubscription {
    /// Subscribes once, then hands the stream to a task of its own. `Err` when the first
    /// attempt fails: the caller may try another endpoint. Later drops are repaired by
    /// the task.
    pub async fn start(self) -> Result<ProgramNotices, ChainError> {
        let (notices, receiver) = mpsc::unbounded_channel();
        let (first_tx, first_rx) = oneshot::channel();
        tokio::spawn(self.run(notices, first_tx));
        match first_rx.await {
            Ok(Ok(())) => Ok(receiver),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ChainError::Unavailable(
                "program subscription task ended before subscribing".into(),
            )),
        }
    }

    /// Whole accounts, base64, filtered by the prefix at offset 0 (base58, as the scan).
    fn config(&self) -> RpcProgramAccountsConfig {
        RpcProgramAccountsConfig {
            filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
                0,
                &self.prefix,
            ))]),
            account_config: RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::Base64),
                data_slice: None,
                commitment: Some(self.commitment),
                min_context_slot: None,
            },
            with_context: None,
            sort_results: None,
        }
    }

    async fn run(
        self,
        notices: mpsc::UnboundedSender<ProgramNotice>,
        first: oneshot::Sender<Result<(), ChainError>>,
    ) {
        let mut first = Some(first);
        let mut backoff = MIN_BACKOFF;
        loop {
            let ended = self.session(&notices, &mut first).await;
            if let Some(first) = first.take() {
                // Never subscribed: the caller hears why, nothing is retried here.
                let _ = first.send(ended.map(|_| ()));
                return;
            }
            match ended {
                Ok(Ended::ReceiverGone) => return,
                Ok(Ended::Established) => backoff = MIN_BACKOFF,
                Err(error) => {
                    tracing::warn!(ws = %self.ws_url, %error, retry_in = ?backoff, "program subscription down");
                }
            }
            tokio::select! {
                _ = notices.closed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection: subscribe, announce it, forward notifications until the stream
    /// ends or the receiver is dropped.
    async fn session(
        &self,
        notices: &mpsc::UnboundedSender<ProgramNotice>,
        first: &mut Option<oneshot::Sender<Result<(), ChainError>>>,
    ) -> Result<Ended, ChainError> {
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            ChainError::Unavailable(format!(
                "{}: {what}: {}",
                self.ws_url,
                excerpt(&e.to_string())
            ))
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes));
        let (mut socket, _) = tokio::time::timeout(
            self.timeout,
            tokio_tungstenite::connect_async_with_config(self.ws_url.as_str(), Some(config), true),
        )
        .await
        .map_err(|e| unavailable("connect", &e))?
        .map_err(|e| unavailable("connect", &e))?;
        let request = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "programSubscribe",
            "params": [self.program.to_string(), self.config()],
        });
        socket
            .send(Message::Text(request.to_string().into()))
            .await
            .map_err(|e| unavailable("programSubscribe", &e))?;
        let subscription = tokio::time::timeout(self.timeout, async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let answer: Value = serde_json::from_str(&text).map_err(|_| {
                            unavailable("programSubscribe", &"an answer that is not JSON")
                        })?;
                        if answer["id"] != 1 {
                            continue;
                        }
                        if let Some(error) = answer.get("error") {
                            return Err(ChainError::Rpc(format!(
                                "{}: programSubscribe: {}",
                                self.ws_url,
                                excerpt(&error.to_string())
                            )));
                        }
                        return answer["result"].as_u64().ok_or_else(|| {
                            unavailable("programSubscribe", &"an answer without a subscription id")
                        });
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(unavailable("programSubscribe", &e)),
                    None => return Err(unavailable("programSubscribe", &"connection closed")),
                }
            }
        })
        .await
        .map_err(|e| unavailable("programSubscribe", &e))??;

        if let Some(first) = first.take() {
            let _ = first.send(Ok(()));
        }
        if notices.send(ProgramNotice::Connected).is_err() {
            return Ok(Ended::ReceiverGone);
        }
        tracing::debug!(ws = %self.ws_url, program = %self.program, subscription, "program subscription in place");
        loop {
            tokio::select! {
                _ = notices.closed() => {
                    let unsubscribe = json!({"jsonrpc": "2.0", "id": 2,
                        "method": "programUnsubscribe", "params": [subscription]});
                    let _ = socket.send(Message::Text(unsubscribe.to_string().into())).await;
                    let _ = socket.close(None).await;
                    return Ok(Ended::ReceiverGone);
                }
                next = socket.next() => match next {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(notice) = self.notice(&text, subscription) {
                            if notices.send(notice).is_err() {
                                return Ok(Ended::ReceiverGone);
                            }
                        }
                    }
                    // Pings are answered by the socket itself; binary frames are not ours.
                    Some(Ok(Message::Close(_))) | None => {
                        tracing::warn!(ws = %self.ws_url, "program subscription stream ended");
                        return Ok(Ended::Established);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(ws = %self.ws_url, error = %excerpt(&e.to_string()), "program subscription stream failed");
                        return Ok(Ended::Established);
                    }
                },
            }
        }
    }

    /// A `programNotification` of `subscription` as a notice; `None` (logged at debug)
    /// for anything else or what cannot be decoded.
    fn notice(&self, text: &str, subscription: u64) -> Option<ProgramNotice> {
        let message: Value = serde_json::from_str(text).ok()?;
        if message["method"] != "programNotification"
            || message["params"]["subscription"].as_u64() != Some(subscription)
        {
            return None;
        }
        let notification = match serde_json::from_value::<Response<RpcKeyedAccount>>(
            message["params"]["result"].clone(),
        ) {
            Ok(notification) => notification,
            Err(error) => {
                tracing::debug!(ws = %self.ws_url, %error, "undecodable program notification skipped");
                return None;
            }
        };
        let slot = notification.context.slot;
        match keyed_account(notification.value) {
            Ok(keyed) => Some(ProgramNotice::Account { slot, keyed }),
            Err(error) => {
                tracing::debug!(ws = %self.ws_url, %error, "undecodable program notification skipped");
                None
            }
        }
    }
}

/// How a session that subscribed ended.
enum Ended {
    /// The stream dropped after it was in place: re-establish it.
    Established,
    /// Nobody listens any more.
    ReceiverGone,
}

#[cfg(test)]
mod tests {
    //! Against a websocket server that speaks the node's pubsub protocol as the Agave
    //! pubsub client expects it (subscribe, notify, drop), since no validator runs here.

    use std::sync::{Arc, Mutex};

    use base64::Engine;
    use futures_util::SinkExt;
    use serde_json::{json, Value};
    use solana_sdk::account::Account;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    use super::*;
    use crate::chain::rpc::RpcChain;
    use crate::chain::{Chain, KeyedAccount};

    enum Command {
        Notify {
            slot: u64,
            keyed: KeyedAccount,
        },
        /// Closes the current connection, as a restarting node does.
        Drop,
        /// Sends this text as it is.
        Raw(String),
    }

    /// A pubsub endpoint: records every request, answers subscriptions with an id (or
    /// the error set in `refuse`), and pushes what the test tells it to.
    struct FakeNode {
        url: String,
        requests: Arc<Mutex<Vec<Value>>>,
        commands: mpsc::UnboundedSender<Command>,
    }

    impl FakeNode {
        async fn start(refuse: Option<&'static str>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}", listener.local_addr().unwrap());
            let requests = Arc::new(Mutex::new(Vec::new()));
            let (commands, mut rx) = mpsc::unbounded_channel::<Command>();
            let recorded = requests.clone();
            tokio::spawn(async move {
                let mut subscription = 0u64;
                while let Ok((socket, _)) = listener.accept().await {
                    let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
                    subscription += 1;
                    loop {
                        tokio::select! {
                            message = ws.next() => {
                                let Some(Ok(Message::Text(text))) = message else { break };
                                let request: Value = serde_json::from_str(&text).unwrap();
                                recorded.lock().unwrap().push(request.clone());
                                let answer = match refuse {
                                    Some(reason) => json!({"jsonrpc": "2.0", "id": request["id"],
                                        "error": {"code": -32602, "message": reason}}),
                                    None => json!({"jsonrpc": "2.0", "id": request["id"],
                                        "result": subscription}),
                                };
                                ws.send(Message::Text(answer.to_string().into())).await.unwrap();
                            }
                            command = rx.recv() => match command {
                                Some(Command::Notify { slot, keyed }) => {
                                    let note = notification(subscription, slot, &keyed);
                                    ws.send(Message::Text(note.to_string().into())).await.unwrap();
                                }
                                Some(Command::Raw(text)) => {
                                    // A client that refuses it hangs up: fine.
                                    let _ = ws.send(Message::Text(text.into())).await;
                                }
                                Some(Command::Drop) | None => break,
                            },
                        }
                    }
                }
            });
            Self {
                url,
                requests,
                commands,
            }
        }

        fn notify(&self, slot: u64, keyed: &KeyedAccount) {
            let keyed = keyed.clone();
            self.commands.send(Command::Notify { slot, keyed }).unwrap();
        }

        fn requests(&self) -> Vec<Value> {
            self.requests.lock().unwrap().clone()
        }
    }

    /// A `programNotification` as an Agave node writes it (base64 encoding).
    fn notification(subscription: u64, slot: u64, keyed: &KeyedAccount) -> Value {
        let account = &keyed.account;
        json!({
            "jsonrpc": "2.0",
            "method": "programNotification",
            "params": {
                "subscription": subscription,
                "result": {
                    "context": {"slot": slot},
                    "value": {
                        "pubkey": keyed.pubkey.to_string(),
                        "account": {
                            "lamports": account.lamports,
                            "data": [base64::engine::general_purpose::STANDARD.encode(&account.data), "base64"],
                            "owner": account.owner.to_string(),
                            "executable": account.executable,
                            "rentEpoch": account.rent_epoch,
                            "space": account.data.len(),
                        }
                    }
                }
            }
        })
    }

    fn thread_account(byte: u8) -> KeyedAccount {
        let mut data = b"discrim!".to_vec();
        data.extend_from_slice(&[byte; 40]);
        KeyedAccount {
            pubkey: Pubkey::new_unique(),
            account: Account {
                lamports: 2_000_000,
                data,
                owner: thread::ID,
                executable: false,
                rent_epoch: u64::MAX,
            },
        }
    }

    fn chain(ws_url: &str) -> RpcChain {
        // The HTTP side is never used here.
        RpcChain::new(
            "http://127.0.0.1:9",
            CommitmentConfig::confirmed(),
            Duration::from_secs(5),
        )
        .with_websocket(ws_url)
    }

    async fn next(notices: &mut ProgramNotices) -> ProgramNotice {
        tokio::time::timeout(Duration::from_secs(10), notices.recv())
            .await
            .expect("a notice within 10 s")
            .expect("the stream is open")
    }

    #[tokio::test]
    async fn rpc_program_subscription_forwards_notifications_and_repairs_a_dropped_stream() {
        let node = FakeNode::start(None).await;
        let chain = chain(&node.url);
        let mut notices = chain
            .subscribe_program(&thread::ID, b"discrim!")
            .await
            .unwrap();
        assert_eq!(next(&mut notices).await, ProgramNotice::Connected);

        // The subscription asks for what the full scan asks for.
        let request = &node.requests()[0];
        assert_eq!(request["method"], "programSubscribe");
        assert_eq!(request["params"][0], thread::ID.to_string());
        let config = &request["params"][1];
        assert_eq!(config["encoding"], "base64");
        assert_eq!(config["commitment"], "confirmed");
        assert_eq!(
            config["filters"][0]["memcmp"],
            serde_json::to_value(Memcmp::new_base58_encoded(0, b"discrim!")).unwrap()
        );
        assert_eq!(config["filters"][0]["memcmp"]["encoding"], "base58");

        let first = thread_account(1);
        node.notify(42, &first);
        assert_eq!(
            next(&mut notices).await,
            ProgramNotice::Account {
                slot: 42,
                keyed: first
            }
        );

        // The node restarts: the stream is re-established and says so.
        node.commands.send(Command::Drop).unwrap();
        assert_eq!(next(&mut notices).await, ProgramNotice::Connected);
        assert_eq!(node.requests().len(), 2);
        let second = thread_account(2);
        node.notify(43, &second);
        assert_eq!(
            next(&mut notices).await,
            ProgramNotice::Account {
                slot: 43,
                keyed: second
            }
        );
    }

    #[tokio::test]
    async fn a_notification_over_the_cap_is_refused_and_the_stream_comes_back() {
        let node = FakeNode::start(None).await;
        let limits = crate::chain::transport::ResponseLimits {
            max_response_bytes: 64 * 1024,
            max_scan_response_bytes: 64 * 1024,
        };
        let chain = RpcChain::with_limits(
            "http://127.0.0.1:9",
            CommitmentConfig::confirmed(),
            Duration::from_secs(5),
            limits,
        )
        .with_websocket(&node.url);
        let mut notices = chain
            .subscribe_program(&thread::ID, b"discrim!")
            .await
            .unwrap();
        assert_eq!(next(&mut notices).await, ProgramNotice::Connected);

        // A 1 MiB notification: the socket refuses it and the connection ends.
        let mut huge = thread_account(9);
        huge.account.data.resize(1024 * 1024, 7);
        let text = notification(1, 50, &huge).to_string();
        node.commands.send(Command::Raw(text)).unwrap();
        assert_eq!(
            next(&mut notices).await,
            ProgramNotice::Connected,
            "re-established, the huge notice never delivered"
        );
        // A notice of ordinary size still goes through on the new connection.
        let small = thread_account(3);
        node.notify(51, &small);
        assert_eq!(
            next(&mut notices).await,
            ProgramNotice::Account {
                slot: 51,
                keyed: small
            }
        );
    }

    #[tokio::test]
    async fn rpc_program_subscription_reports_why_it_could_not_start() {
        // Nothing listens: unavailable, worth trying elsewhere or later.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", closed.local_addr().unwrap());
        drop(closed);
        let error = chain(&url)
            .subscribe_program(&thread::ID, b"discrim!")
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error:?}");

        // The node refuses the subscription (a provider without programSubscribe).
        let node = FakeNode::start(Some("Method not found")).await;
        let error = chain(&node.url)
            .subscribe_program(&thread::ID, b"discrim!")
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ChainError::Rpc(m) if m.contains("Method not found")),
            "{error:?}"
        );

        // No websocket configured: this endpoint cannot push.
        let http_only = RpcChain::new(
            "http://127.0.0.1:9",
            CommitmentConfig::confirmed(),
            Duration::from_secs(5),
        );
        let error = http_only
            .subscribe_program(&thread::ID, b"discrim!")
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{error:?}");
    }
}
