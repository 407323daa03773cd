//! The owner CLI (`threads`) over JSON-RPC: a thread created from a spec file is listed
//! (the owner filter runs on the node, as a `memcmp`), shown, executed by the keeper,
//! paused and deleted, each judged on chain.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use localnet::examples::funded_owner;
use serde_json::Value;
use solana_sdk::pubkey::Pubkey;

use crate::harness::{
    eventually, executed_at_least, keeper_binary, thread_state, write_keypair, Keeper, KeeperSetup,
    Localnet,
};

const SPEC: &str = r#"
id = "cli-every-2s"
fee_per_exec = 20000
deposit = 100000000
durable = true

[trigger]
kind = "interval"
seconds = 2
skippable = true

[[instructions]]
program = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
data = "utf8:made by the owner CLI"

[[instructions.accounts]]
pubkey = "thread"
is_signer = true
is_writable = false
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_made_with_the_owner_cli_is_listed_shown_executed_paused_and_deleted() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 5_000_000_000).await.unwrap();
    let owner_file = write_keypair(localnet.dir(), "owner.json", &owner);
    let spec = localnet.dir().join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let threads = |args: &[&str]| run_threads(&localnet.rpc_url, &owner_file, args);

    let created = threads(&["create", spec.to_str().unwrap()]);
    let address: Pubkey = created["thread"].as_str().unwrap().parse().unwrap();
    assert!(created["nonce_account"].is_string(), "{created}");
    assert!(thread_state(&rpc, &address).await.is_some());

    let listed = threads(&["list"]);
    let addresses: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, vec![address.to_string()]);

    let shown = threads(&["show", &address.to_string()]);
    assert_eq!(shown["id"], "cli-every-2s");
    assert_eq!(shown["durable"], true);
    assert_eq!(shown["paused"], false);

    let keeper = Keeper::start(&KeeperSetup::against(&localnet));
    executed_at_least(&rpc, &[address], 2, Duration::from_secs(90)).await;
    assert!(
        keeper.stop().success(),
        "the lease is handed back, so the owner may delete"
    );

    threads(&["pause", &address.to_string()]);
    eventually(
        Duration::from_secs(10),
        "the thread is paused on chain",
        || async { thread_state(&rpc, &address).await.is_some_and(|t| t.paused) },
    )
    .await;
    // The keeper's `explain`, as an owner runs it (no store): the owner paused it.
    let explained = explain(&localnet.rpc_url, &address);
    assert_eq!(explained["verdict"]["kind"], "paused", "{explained}");
    assert_eq!(explained["address"], address.to_string());
    threads(&["delete", &address.to_string()]);
    assert!(thread_state(&rpc, &address).await.is_none(), "deleted");
}

/// Runs `threads --output json ARGS` against `rpc_url` as the owner; its JSON answer.
fn run_threads(rpc_url: &str, keypair: &Path, args: &[&str]) -> Value {
    let output = Command::new(threads_binary())
        .args([
            "--rpc-url",
            rpc_url,
            "--commitment",
            "confirmed",
            "--output",
            "json",
        ])
        .arg("--keypair")
        .arg(keypair)
        .args(args)
        .output()
        .expect("threads runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "threads {args:?}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("threads {args:?}: {e}: {stdout}"))
}

/// `keeper explain ADDRESS --output json` against `rpc_url`; its JSON answer.
fn explain(rpc_url: &str, address: &Pubkey) -> Value {
    let output = Command::new(keeper_binary())
        .args([
            "explain",
            &address.to_string(),
            "--output",
            "json",
            "--rpc-url",
            rpc_url,
        ])
        .output()
        .expect("keeper runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "keeper explain: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("keeper explain: {e}: {stdout}"))
}

/// The owner CLI the main workspace builds.
fn threads_binary() -> PathBuf {
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/threads");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p thread-cli` at the repository root \
         (scripts/localnet.sh test does)",
        binary.display()
    );
    binary
}
