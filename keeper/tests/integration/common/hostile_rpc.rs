//! A hostile (or merely broken) JSON-RPC node on a loopback port, for the keeper's
//! hardening tests: it answers honestly from a small canned ledger, or in one of the
//! [`Mode`]s a bad node shows.
//!
//! Bounded: it listens on 127.0.0.1 only, every answer it writes stops at its mode's byte
//! count or when the client hangs up, every delay is finite, and the server is gone when
//! the [`HostileRpc`] is dropped. The listener itself is the tests' one
//! (`keeper::test_utils::loopback`); this module only decides what the node says.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use keeper::test_utils::loopback::{respond, Answer, Loopback};
use serde_json::{json, Value};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::pubkey::Pubkey;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How the node answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Correct answers from the canned ledger.
    Honest,
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// Valid JSON-RPC whose `result` is of the wrong shape for every method.
    WrongShape,
    /// A `result` string of `bytes` bytes; `declared`: with its Content-Length, else
    /// delimited by closing the connection.
    Huge { bytes: usize, declared: bool },
    /// A JSON-RPC error whose message is `bytes` long.
    HugeError { bytes: usize },
    /// Honest answers after `delay`.
    Slow { delay: Duration },
    /// Honest, except that no account exists (a node behind, or on another cluster).
    NotFound,
}

struct Ledger {
    slot: u64,
    accounts: BTreeMap<Pubkey, Account>,
}

struct Shared {
    mode: Mode,
    ledger: Mutex<Ledger>,
    requests: Mutex<HashMap<String, usize>>,
    bytes_written: AtomicU64,
}

pub struct HostileRpc {
    pub url: String,
    shared: Arc<Shared>,
    _server: Loopback,
}

impl HostileRpc {
    /// A node answering in `mode`, its ledger holding the Clock sysvar at slot 100.
    pub fn start(mode: Mode) -> Self {
        let shared = Arc::new(Shared {
            mode,
            ledger: Mutex::new(Ledger {
                slot: 100,
                accounts: BTreeMap::new(),
            }),
            requests: Mutex::new(HashMap::new()),
            bytes_written: AtomicU64::new(0),
        });
        let server = Loopback::start(shared.clone());
        let rpc = Self {
            url: server.url(),
            shared,
            _server: server,
        };
        rpc.put_clock(100, 1_800_000_000);
        rpc
    }

    /// Adds or replaces an account of the canned ledger.
    pub fn put_account(&self, key: Pubkey, account: Account) {
        let mut ledger = self.shared.ledger.lock().unwrap();
        ledger.accounts.insert(key, account);
    }

    /// Sets the slot answers are given at and the Clock sysvar to match.
    pub fn put_clock(&self, slot: u64, unix_timestamp: i64) {
        let clock = Clock {
            slot,
            unix_timestamp,
            ..Clock::default()
        };
        let account = Account {
            lamports: 1_169_280,
            data: bincode::serialize(&clock).unwrap(),
            owner: solana_sdk_ids::sysvar::ID,
            executable: false,
            rent_epoch: 0,
        };
        let mut ledger = self.shared.ledger.lock().unwrap();
        ledger.slot = slot;
        ledger
            .accounts
            .insert(solana_sdk_ids::sysvar::clock::ID, account);
    }

    /// Requests received for `method` so far.
    pub fn requests(&self, method: &str) -> usize {
        self.shared
            .requests
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> usize {
        self.shared.requests.lock().unwrap().values().sum()
    }

    /// Body bytes the node managed to hand to the client's socket.
    pub fn bytes_written(&self) -> u64 {
        self.shared.bytes_written.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Answer for Shared {
    /// One JSON-RPC request, answered in the node's mode; a body that is not JSON closes
    /// the connection unanswered.
    async fn answer(&self, body: Vec<u8>, stream: &mut TcpStream) -> bool {
        let Ok(request) = serde_json::from_slice::<Value>(&body) else {
            return false;
        };
        let method = request["method"].as_str().unwrap_or("").to_string();
        *self
            .requests
            .lock()
            .unwrap()
            .entry(method.clone())
            .or_default() += 1;
        let mode = self.mode.clone();
        let id = request["id"].clone();
        match mode {
            Mode::Huge { bytes, declared } => {
                write_huge(stream, self, &id, bytes, declared).await;
                false
            }
            Mode::Slow { delay } => {
                tokio::time::sleep(delay.min(Duration::from_secs(60))).await;
                let body = honest(self, &method, &request["params"], false);
                write_body(stream, self, &rpc_reply(&id, body)).await
            }
            Mode::Garbage => write_body(stream, self, b"<html>502 upstream sad</html>{{{").await,
            Mode::WrongShape => {
                let body = json!({"jsonrpc": "2.0", "id": id, "result": {"unexpected": [1, 2, 3]}});
                write_body(stream, self, body.to_string().as_bytes()).await
            }
            Mode::HugeError { bytes } => {
                let body = json!({"jsonrpc": "2.0", "id": id, "error": {
                    "code": -32000, "message": "E".repeat(bytes.min(256 * 1024 * 1024))}});
                write_body(stream, self, body.to_string().as_bytes()).await
            }
            Mode::Honest => {
                let body = honest(self, &method, &request["params"], false);
                write_body(stream, self, &rpc_reply(&id, body)).await
            }
            Mode::NotFound => {
                let body = honest(self, &method, &request["params"], true);
                write_body(stream, self, &rpc_reply(&id, body)).await
            }
        }
    }
}

fn rpc_reply(id: &Value, body: Result<Value, Value>) -> Vec<u8> {
    match body {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    }
    .to_string()
    .into_bytes()
}

/// Writes a 200 answer with its length, counting the body's bytes once they are out;
/// false if the client is gone.
async fn write_body(stream: &mut TcpStream, shared: &Shared, body: &[u8]) -> bool {
    let ok = respond(stream, 200, body, true).await;
    if ok {
        shared
            .bytes_written
            .fetch_add(body.len() as u64, Ordering::Relaxed);
    }
    ok
}

/// `{"result": "AAAA..."}` of about `bytes` bytes, in 64 KiB writes, until done or the
/// client hangs up.
async fn write_huge(
    stream: &mut TcpStream,
    shared: &Shared,
    id: &Value,
    bytes: usize,
    declared: bool,
) {
    let prefix = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":""#);
    let suffix = "\"}";
    let length = prefix.len() + bytes + suffix.len();
    let head = if declared {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
    } else {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_string()
    };
    if stream.write_all(head.as_bytes()).await.is_err()
        || stream.write_all(prefix.as_bytes()).await.is_err()
    {
        return;
    }
    let block = vec![b'A'; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        if stream.write_all(&block[..n]).await.is_err() {
            return;
        }
        shared.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
        left -= n;
    }
    let _ = stream.write_all(suffix.as_bytes()).await;
}

fn ui_account(account: &Account) -> Value {
    json!({
        "data": [base64::engine::general_purpose::STANDARD.encode(&account.data), "base64"],
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": account.owner.to_string(),
        "rentEpoch": account.rent_epoch,
        "space": account.data.len(),
    })
}

/// What an honest node at the ledger's slot says; `hide_accounts`: as one that does not
/// have them (the Clock sysvar excepted).
fn honest(
    shared: &Shared,
    method: &str,
    params: &Value,
    hide_accounts: bool,
) -> Result<Value, Value> {
    let ledger = shared.ledger.lock().unwrap();
    let context = json!({"slot": ledger.slot, "apiVersion": "3.1.12"});
    let lookup = |key: &Value| -> Value {
        let Some(key) = key.as_str().and_then(|k| k.parse::<Pubkey>().ok()) else {
            return Value::Null;
        };
        if hide_accounts && key != solana_sdk_ids::sysvar::clock::ID {
            return Value::Null;
        }
        ledger
            .accounts
            .get(&key)
            .map(ui_account)
            .unwrap_or(Value::Null)
    };
    match method {
        "getAccountInfo" => Ok(json!({"context": context, "value": lookup(&params[0])})),
        "getMultipleAccounts" => {
            let keys = params[0].as_array().cloned().unwrap_or_default();
            let values: Vec<Value> = keys.iter().map(lookup).collect();
            Ok(json!({"context": context, "value": values}))
        }
        "getProgramAccounts" => {
            let program = params[0].as_str().and_then(|k| k.parse::<Pubkey>().ok());
            let value: Vec<Value> = ledger
                .accounts
                .iter()
                .filter(|(_, a)| !hide_accounts && Some(a.owner) == program)
                .map(|(k, a)| json!({"pubkey": k.to_string(), "account": ui_account(a)}))
                .collect();
            Ok(json!({"context": context, "value": value}))
        }
        "getSlot" => Ok(json!(ledger.slot)),
        "getLatestBlockhash" => Ok(json!({"context": context, "value": {
            "blockhash": solana_sdk::hash::Hash::new_from_array([7; 32]).to_string(),
            "lastValidBlockHeight": ledger.slot + 150,
        }})),
        "getRecentPrioritizationFees" => Ok(json!([])),
        "getSignatureStatuses" => {
            let n = params[0].as_array().map_or(0, |a| a.len());
            Ok(json!({"context": context, "value": vec![Value::Null; n]}))
        }
        "getHealth" => Ok(json!("ok")),
        "getVersion" => Ok(json!({"solana-core": "3.1.12", "feature-set": 0})),
        _ => Err(json!({"code": -32601, "message": "Method not found"})),
    }
}
