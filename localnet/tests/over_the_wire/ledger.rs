//! The ledger's lifetime: a `--ledger` directory is kept on exit (and refused next time,
//! since a ledger cannot be resumed); the default temporary ledger is removed on exit.

use std::process::Command;

use serde_json::Value;

use crate::harness::Localnet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_ledger_is_kept_on_exit_and_not_resumed() {
    let kept = tempfile::tempdir().unwrap();
    let ledger = kept.path().join("ledger");
    let ledger_arg = ledger.to_str().unwrap();

    let localnet = Localnet::start_with(&["--ledger", ledger_arg]);
    assert_eq!(
        ready(&localnet)["ledger_removed_on_exit"],
        Value::Bool(false)
    );
    drop(localnet);
    assert!(ledger.join("genesis.bin").exists(), "the ledger was kept");

    let again = Command::new(env!("CARGO_BIN_EXE_localnet"))
        .args(["--rpc-port", "0", "--ledger", ledger_arg])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("--ledger") && stderr.contains("cannot resume"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_temporary_ledger_is_removed_on_exit() {
    let localnet = Localnet::start();
    let ready = ready(&localnet);
    assert_eq!(ready["ledger_removed_on_exit"], Value::Bool(true));
    let ledger = std::path::PathBuf::from(ready["ledger"].as_str().unwrap());
    assert!(ledger.join("genesis.bin").exists());
    drop(localnet);
    assert!(!ledger.exists(), "{} is still there", ledger.display());
}

fn ready(localnet: &Localnet) -> Value {
    serde_json::from_slice(&std::fs::read(localnet.dir().join("ready.json")).unwrap()).unwrap()
}
