//! The JSON of etcd's v3 gRPC gateway, for the calls the elector makes (leases, the
//! key, its watch, and authenticating): request bodies and the parts of the answers it
//! reads.
//!
//! Owns the wire shapes: keys and values in base64, 64-bit integers sent as JSON numbers
//! and read as either numbers or strings (the gateway writes them as strings and omits
//! zero values), and the error bodies (`{"error", "message", "code"}` on a failed call,
//! `{"error": {...}}` inside a keepalive stream). Must not: do I/O (that is
//! [`super::etcd`]).
//!
//! Checked against etcd 3.4.23: a keepalive of an unknown lease answers
//! `{"result": {"ID": ..}}` without a `TTL`, which is how a lost lease shows.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::{json, Value};

/// Reads an int64 the gateway wrote as a string (or a number).
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => s.parse().map_err(de::Error::custom),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| de::Error::custom(format!("{n} is not an int64"))),
        other => Err(de::Error::custom(format!("{other} is not an int64"))),
    }
}

pub fn encode(bytes: &str) -> String {
    STANDARD.encode(bytes)
}

pub fn grant(ttl_secs: i64) -> Value {
    json!({ "TTL": ttl_secs })
}

pub fn lease(id: i64) -> Value {
    json!({ "ID": id })
}

pub fn range(key: &str) -> Value {
    json!({ "key": encode(key) })
}

/// Watches `key` from `start_revision` on.
pub fn watch(key: &str, start_revision: i64) -> Value {
    json!({ "create_request": { "key": encode(key), "start_revision": start_revision } })
}

pub fn authenticate(user: &str, password: &str) -> Value {
    json!({ "name": user, "password": password })
}

/// `/v3/auth/authenticate`.
#[derive(Debug, Deserialize)]
pub struct AuthenticateResponse {
    pub token: String,
}

/// Creates `key = value` under `lease` if the key does not exist, else reads it.
pub fn claim(key: &str, value: &str, lease: i64) -> Value {
    let key = encode(key);
    json!({
        "compare": [{ "target": "CREATE", "key": key, "create_revision": 0 }],
        "success": [{ "request_put": { "key": key, "value": encode(value), "lease": lease } }],
        "failure": [{ "request_range": { "key": key } }],
    })
}

/// `/v3/lease/grant`.
#[derive(Debug, Deserialize)]
pub struct GrantResponse {
    #[serde(rename = "ID", deserialize_with = "int64")]
    pub id: i64,
    #[serde(rename = "TTL", default, deserialize_with = "int64")]
    pub ttl: i64,
    /// Set when the lease could not be granted.
    #[serde(default)]
    pub error: String,
}

/// One message of the `/v3/lease/keepalive` stream.
#[derive(Debug, Deserialize)]
pub struct KeepAliveMessage {
    pub result: Option<KeepAliveResult>,
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct KeepAliveResult {
    /// Missing (zero) when the lease no longer exists.
    #[serde(rename = "TTL", default, deserialize_with = "int64")]
    pub ttl: i64,
}

/// A key-value pair of a range answer.
#[derive(Debug, Deserialize)]
pub struct KeyValue {
    #[serde(default)]
    pub value: String,
    #[serde(default, deserialize_with = "int64")]
    pub lease: i64,
}

/// The header of an answer: the store's revision when it answered.
#[derive(Debug, Default, Deserialize)]
pub struct Header {
    #[serde(default, deserialize_with = "int64")]
    pub revision: i64,
}

/// `/v3/kv/range`, and the range inside a txn answer.
#[derive(Debug, Default, Deserialize)]
pub struct RangeResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub kvs: Vec<KeyValue>,
}

/// One message of the `/v3/watch` stream.
#[derive(Debug, Deserialize)]
pub struct WatchMessage {
    pub result: Option<WatchResult>,
    pub error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WatchResult {
    #[serde(default)]
    pub events: Vec<Value>,
    /// The watch was ended by the server (with `compact_revision` when the revision it
    /// started from is compacted away).
    #[serde(default)]
    pub canceled: bool,
    #[serde(default, deserialize_with = "int64")]
    pub compact_revision: i64,
}

impl WatchResult {
    /// Whether the key may have changed: an event, or a watch that can no longer tell.
    pub fn may_have_changed(&self) -> bool {
        !self.events.is_empty() || self.canceled || self.compact_revision != 0
    }
}

/// `/v3/kv/txn`.
#[derive(Debug, Deserialize)]
pub struct TxnResponse {
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub responses: Vec<TxnOpResponse>,
}

#[derive(Debug, Deserialize)]
pub struct TxnOpResponse {
    pub response_range: Option<RangeResponse>,
}

/// An error body: `{"error": "...", "message": "...", "code": 5}` for a failed call, or
/// `{"grpc_code", "http_code", "message", "http_status"}` inside a stream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: Option<i64>,
    pub message: String,
}

impl ErrorBody {
    /// The error in `value` (a whole body or a stream's `error`), if it holds one.
    pub fn from_value(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let message = object
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| object.get("error").and_then(Value::as_str))?
            .to_string();
        let code = object
            .get("code")
            .or_else(|| object.get("grpc_code"))
            .and_then(Value::as_i64);
        Some(Self { code, message })
    }
}

/// The decoded value of a key-value pair, lossily as UTF-8.
pub fn decode(base64: &str) -> Result<String, String> {
    let bytes = STANDARD
        .decode(base64)
        .map_err(|e| format!("value is not base64: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_etcd_3_4_parse() {
        let grant: GrantResponse = serde_json::from_str(
            r#"{"header":{"revision":"1"},"ID":"4111120196711372805","TTL":"2"}"#,
        )
        .unwrap();
        assert_eq!((grant.id, grant.ttl), (4111120196711372805, 2));

        let alive: KeepAliveMessage =
            serde_json::from_str(r#"{"result":{"header":{},"ID":"7","TTL":"5"}}"#).unwrap();
        assert_eq!(alive.result.unwrap().ttl, 5);
        let gone: KeepAliveMessage =
            serde_json::from_str(r#"{"result":{"header":{},"ID":"12345"}}"#).unwrap();
        assert_eq!(gone.result.unwrap().ttl, 0, "a lost lease has no TTL");

        let lost: TxnResponse = serde_json::from_str(
            r#"{"header":{"revision":"2"},"responses":[{"response_range":{"header":{},
            "kvs":[{"key":"L2s=","create_revision":"2","mod_revision":"2","version":"1",
            "value":"bWU=","lease":"4111120196711372807"}],"count":"1"}}]}"#,
        )
        .unwrap();
        assert!(!lost.succeeded);
        let range = lost.responses[0].response_range.as_ref().unwrap();
        assert_eq!(decode(&range.kvs[0].value).unwrap(), "me");
        assert_eq!(range.kvs[0].lease, 4111120196711372807);

        let empty: RangeResponse = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert!(empty.kvs.is_empty());
        let read: RangeResponse =
            serde_json::from_str(r#"{"header":{"revision":"41"},"count":"0"}"#).unwrap();
        assert_eq!(read.header.revision, 41);
    }

    #[test]
    fn watch_messages_say_whether_the_key_may_have_changed() {
        let message = |text: &str| -> WatchResult {
            serde_json::from_str::<WatchMessage>(text)
                .unwrap()
                .result
                .unwrap_or_default()
        };
        let created = message(r#"{"result":{"header":{"revision":"7"},"created":true}}"#);
        assert!(!created.may_have_changed());
        let deleted = message(
            r#"{"result":{"header":{"revision":"8"},"events":[{"type":"DELETE",
            "kv":{"key":"L2s=","mod_revision":"8"}}]}}"#,
        );
        assert!(deleted.may_have_changed());
        let compacted =
            message(r#"{"result":{"header":{},"canceled":true,"compact_revision":"5"}}"#);
        assert!(compacted.may_have_changed());
        let body = watch("/k", 9);
        assert_eq!(body["create_request"]["key"], "L2s=");
        assert_eq!(body["create_request"]["start_revision"], 9);
    }

    #[test]
    fn claim_compares_the_create_revision_and_puts_under_the_lease() {
        let body = claim("/k", "me", 42);
        assert_eq!(body["compare"][0]["target"], "CREATE");
        assert_eq!(body["compare"][0]["create_revision"], 0);
        assert_eq!(body["success"][0]["request_put"]["key"], "L2s=");
        assert_eq!(body["success"][0]["request_put"]["value"], "bWU=");
        assert_eq!(body["success"][0]["request_put"]["lease"], 42);
        assert_eq!(body["failure"][0]["request_range"]["key"], "L2s=");
    }

    #[test]
    fn error_bodies_of_calls_and_streams_parse() {
        let call: Value = serde_json::from_str(
            r#"{"error":"etcdserver: requested lease not found",
            "message":"etcdserver: requested lease not found","code":5}"#,
        )
        .unwrap();
        assert_eq!(
            ErrorBody::from_value(&call),
            Some(ErrorBody {
                code: Some(5),
                message: "etcdserver: requested lease not found".into()
            })
        );
        let stream: Value = serde_json::from_str(
            r#"{"grpc_code":14,"http_code":503,"message":"no leader","http_status":"x"}"#,
        )
        .unwrap();
        assert_eq!(ErrorBody::from_value(&stream).unwrap().code, Some(14));
        assert_eq!(ErrorBody::from_value(&json!({"kvs": []})), None);
    }
}
