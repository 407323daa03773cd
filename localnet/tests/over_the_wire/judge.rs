//! Judging a run: every due time a thread executed on chain is one the keeper's store
//! recorded, once; nothing the store calls confirmed is missing on chain.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::VersionedTransaction;

use crate::harness::thread_state;

/// One execution row of the keeper's store.
#[derive(Clone, Debug)]
pub struct Row {
    pub thread: Pubkey,
    pub exec_count_at_build: u64,
    pub signature: Signature,
    pub state: String,
    pub tx: VersionedTransaction,
}

/// Every execution row of the store, read-only (the keeper must have stopped).
pub fn store_rows(store: &Path) -> Vec<Row> {
    let conn = Connection::open_with_flags(store, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the keeper's store opens read-only");
    let mut statement = conn
        .prepare("SELECT thread, exec_count_at_build, signature, state, tx FROM executions")
        .expect("executions table");
    statement
        .query_map([], |row| {
            let thread: String = row.get(0)?;
            let signature: String = row.get(2)?;
            let tx: Vec<u8> = row.get(4)?;
            Ok(Row {
                thread: thread.parse().expect("thread pubkey"),
                exec_count_at_build: row.get::<_, i64>(1)? as u64,
                signature: signature.parse().expect("signature"),
                state: row.get(3)?,
                tx: bincode::deserialize(&tx).expect("a serialized transaction"),
            })
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The store's rows whose transaction succeeded on chain.
pub async fn landed(rpc: &RpcClient, rows: &[Row]) -> Vec<Row> {
    let mut landed = Vec::new();
    for chunk in rows.chunks(200) {
        let signatures: Vec<Signature> = chunk.iter().map(|row| row.signature).collect();
        let statuses = rpc
            .get_signature_statuses_with_history(&signatures)
            .await
            .expect("getSignatureStatuses")
            .value;
        for (row, status) in chunk.iter().zip(statuses) {
            if status.is_some_and(|s| s.err.is_none()) {
                landed.push(row.clone());
            }
        }
    }
    landed
}

/// For each thread: the executions on chain (`exec_count`) are exactly the store's rows
/// that landed, one for each due time (`exec_count_at_build` 0, 1, ...), and every row
/// the store calls confirmed landed. Returns each thread's execution count.
pub async fn each_due_time_ran_once(
    rpc: &RpcClient,
    store: &Path,
    threads: &[Pubkey],
) -> BTreeMap<Pubkey, u64> {
    let rows = store_rows(store);
    let landed = landed(rpc, &rows).await;
    let landed_signatures: BTreeSet<Signature> = landed.iter().map(|r| r.signature).collect();
    for row in rows.iter().filter(|r| r.state == "confirmed") {
        assert!(
            landed_signatures.contains(&row.signature),
            "the store calls {} confirmed but it did not land: {row:?}",
            row.signature
        );
    }
    let mut counts = BTreeMap::new();
    for thread in threads {
        let state = thread_state(rpc, thread).await.expect("thread exists");
        let builds: Vec<u64> = landed
            .iter()
            .filter(|r| &r.thread == thread)
            .map(|r| r.exec_count_at_build)
            .collect();
        let distinct: BTreeSet<u64> = builds.iter().copied().collect();
        assert_eq!(
            builds.len(),
            distinct.len(),
            "thread {thread}: a due time landed twice: {builds:?}"
        );
        assert_eq!(
            distinct,
            (0..state.exec_count).collect::<BTreeSet<u64>>(),
            "thread {thread}: executions on chain ({}) are not the store's landed rows",
            state.exec_count
        );
        counts.insert(*thread, state.exec_count);
    }
    counts
}
