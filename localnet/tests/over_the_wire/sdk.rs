//! The TypeScript SDK over JSON-RPC: its example (`app/examples/durable-thread.mjs`),
//! which uses nothing but the SDK and web3.js, creates a durable thread, waits for the
//! real keeper to execute it, reads it back, parses both transactions' events and maps a
//! refused withdrawal to the program's error name. Its summary is judged on chain.

use std::path::{Path, PathBuf};
use std::process::Command;

use localnet::examples::funded_owner;
use serde_json::Value;
use solana_sdk::pubkey::Pubkey;
use thread::errors::ThreadError;
use thread::state::Durability;

use crate::harness::{thread_state, write_keypair, Keeper, KeeperSetup, Localnet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_creates_a_durable_thread_the_keeper_executes_and_reads_it_back() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 5_000_000_000).await.unwrap();
    let owner_file = write_keypair(localnet.dir(), "owner.json", &owner);
    let keeper = Keeper::start(&KeeperSetup::against(&localnet));

    let summary = run_example(&localnet.rpc_url, &owner_file);

    let thread: Pubkey = parse(&summary["thread"]);
    let nonce: Pubkey = parse(&summary["nonceAccount"]);
    let state = thread_state(&rpc, &thread)
        .await
        .expect("the thread exists");
    assert_eq!(state.owner, solana_sdk::signer::Signer::pubkey(&owner));
    assert_eq!(
        state.durability,
        Durability::Durable {
            nonce_account: nonce
        }
    );
    assert!(
        rpc.get_account(&nonce).await.is_ok(),
        "the program made the nonce account"
    );

    assert_eq!(
        summary["created"]["events"],
        serde_json::json!(["threadCreated"])
    );
    let executed = &summary["executed"];
    assert_eq!(parse::<Pubkey>(&executed["thread"]), thread);
    assert_eq!(
        parse::<Pubkey>(&executed["executor"]),
        localnet.keeper,
        "the keeper ran it"
    );
    let executed_tx: solana_sdk::signature::Signature = parse(&executed["signature"]);
    let status = rpc.get_signature_status(&executed_tx).await.unwrap();
    assert_eq!(status, Some(Ok(())), "the execution the SDK read landed");

    let view = &summary["view"];
    let seen: u64 = parse(&view["execCount"]);
    assert!(
        seen >= 1 && seen <= state.exec_count,
        "{seen} vs {}",
        state.exec_count
    );
    assert_eq!(view["durable"], true);
    assert_eq!(parse::<Pubkey>(&view["nonceAccount"]), nonce);
    assert!(parse::<u64>(&view["runway"]) > 0, "{view}");

    assert_eq!(
        summary["listed"],
        serde_json::json!([thread.to_string()]),
        "the owner's threads, filtered on the node"
    );

    let refusal = &summary["refusal"];
    assert_eq!(refusal["name"], "WithdrawExceedsAvailable", "{refusal}");
    assert_eq!(
        refusal["code"],
        u32::from(ThreadError::WithdrawExceedsAvailable),
        "{refusal}"
    );
    assert!(keeper.stop().success());
}

/// Runs the SDK example as its README says, against `rpc_url` as the owner in
/// `keypair`; its JSON summary.
fn run_example(rpc_url: &str, keypair: &Path) -> Value {
    let example = app_dir().join("examples/durable-thread.mjs");
    let output = Command::new("node")
        .arg(&example)
        .env("THREAD_RPC_URL", rpc_url)
        .env("THREAD_OWNER_KEYPAIR", keypair)
        .output()
        .expect("node runs (scripts/localnet.sh test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}: {}\n{stdout}\n{stderr}",
        example.display(),
        output.status
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

/// The SDK's package, built (scripts/localnet.sh test runs `npm run build` in it).
fn app_dir() -> PathBuf {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../app");
    assert!(
        app.join("dist/index.js").exists() && app.join("node_modules").exists(),
        "the SDK is not built: run `npm ci --prefix app && npm run build --prefix app` at the \
         repository root (scripts/localnet.sh test does)"
    );
    app
}

fn parse<T: std::str::FromStr>(value: &Value) -> T
where
    T::Err: std::fmt::Debug,
{
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    text.parse().unwrap_or_else(|e| panic!("{text}: {e:?}"))
}
