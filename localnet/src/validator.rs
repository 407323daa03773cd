//! Starting and stopping the validator with the thread program registered natively.
//!
//! Owns: the genesis (program account, funded keeper), the builtin registration on every
//! bank, the ledger's lifetime. Must not: create threads or send anything beyond what the
//! start-up needs (that is `examples`' and the caller's).

// program-test 3.1 marks its items deprecated (unstable API); its syscall stubs and
// `processor!` are what runs the program natively.
#![allow(deprecated)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use solana_program_runtime::invoke_context::BuiltinFunctionWithContext;
use solana_program_runtime::loaded_programs::ProgramCacheEntry;
use solana_program_test::{processor, ProgramTest};
use solana_rpc::rpc::JsonRpcConfig;
use solana_sdk::account::{AccountSharedData, WritableAccount};
use solana_sdk::signature::Keypair;
use solana_sdk::signer::Signer;
use solana_streamer::socket::SocketAddrSpace;
use solana_test_validator::{TestValidator, TestValidatorGenesis};
use tempfile::TempDir;

use crate::options::{Options, KEEPER_LAMPORTS};
use crate::ready::Endpoints;
use crate::{faucet, keys};

/// The name the runtime knows the builtin by.
const PROGRAM_NAME: &str = "thread";
/// The example program that answers its threads (`programs/responder`), loaded beside it.
const RESPONDER_NAME: &str = "responder";

/// Where the validator's own sockets (gossip, TPU, repair...) find free loopback ports.
/// A debug build of test-validator would otherwise use a fixed 25-port test range, too
/// narrow for one validator and shared by every other; this one stays clear of the
/// JSON-RPC default (8899) and of the ephemeral ports the OS hands out (32768 and up).
const NODE_PORT_RANGE: (u16, u16) = (11_000, 13_000);

/// How long after the first registration pass the second one runs: long enough for any
/// bank being made from a parent that was registered too late to be in the forks.
const REGISTRATION_SETTLE: Duration = Duration::from_millis(800);

/// A running localnet. Dropping it stops the validator, then removes a temporary ledger
/// unless it was asked to be kept (fields drop in declaration order).
pub struct Localnet {
    _validator: TestValidator,
    _ledger: LedgerDir,
    pub endpoints: Endpoints,
}

/// The ledger directory and who removes it.
enum LedgerDir {
    /// Removed on drop.
    Temporary(TempDir),
    /// The operator's (`--ledger`) or kept (`--keep-ledger`): never removed.
    Kept(PathBuf),
}

impl LedgerDir {
    fn path(&self) -> PathBuf {
        match self {
            LedgerDir::Temporary(dir) => dir.path().to_path_buf(),
            LedgerDir::Kept(path) => path.clone(),
        }
    }
}

impl Localnet {
    /// Starts the validator as `options` ask and returns once it serves JSON-RPC with the
    /// program registered. Blocking, and not to be called inside an async runtime: the
    /// validator starts runtimes of its own.
    pub fn start(options: &Options) -> anyhow::Result<Localnet> {
        options.check().map_err(anyhow::Error::msg)?;
        check_ports_free(options)?;
        install_native_syscall_stubs()?;

        let ledger = match (&options.ledger, options.keep_ledger) {
            (Some(dir), _) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating ledger directory {}", dir.display()))?;
                LedgerDir::Kept(dir.clone())
            }
            (None, keep) => {
                let dir = tempfile::Builder::new()
                    .prefix("localnet-ledger-")
                    .tempdir()
                    .context("creating a temporary ledger directory")?;
                if keep {
                    LedgerDir::Kept(dir.keep())
                } else {
                    LedgerDir::Temporary(dir)
                }
            }
        };
        let keeper_path = options
            .keeper_keypair
            .clone()
            .unwrap_or_else(|| ledger.path().join("keeper-keypair.json"));
        let keeper = keys::load_or_create(&keeper_path)?;

        let mint = Keypair::new();
        let faucet = faucet::start(mint.insecure_clone())?;

        let mut genesis = TestValidatorGenesis::default();
        genesis
            // History so that `getTransaction` and `getSignatureStatuses` with
            // `searchTransactionHistory` answer for older transactions, as an RPC node
            // does; the faucet must be set after, since it lives in the same config.
            .rpc_config(JsonRpcConfig {
                enable_rpc_transaction_history: true,
                enable_extended_tx_metadata_storage: true,
                ..JsonRpcConfig::default_for_test()
            })
            .ledger_path(ledger.path())
            .bind_ip_addr(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .gossip_host(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .port_range(NODE_PORT_RANGE)
            // 0: a free port of the range rather than the range's first.
            .gossip_port(0)
            .faucet_addr(Some(faucet))
            .add_account(thread::ID, program_account(PROGRAM_NAME))
            .add_account(responder::ID, program_account(RESPONDER_NAME))
            .add_account(
                keeper.pubkey(),
                AccountSharedData::new(KEEPER_LAMPORTS, 0, &solana_sdk_ids::system_program::ID),
            );
        if options.rpc_port != 0 {
            genesis.rpc_port(options.rpc_port);
        }
        let validator = genesis
            .start_with_mint_address(mint.pubkey(), SocketAddrSpace::new(true))
            .map_err(|err| anyhow::anyhow!("the validator did not start: {err}"))?;
        register_program(&validator);

        let endpoints = Endpoints {
            rpc_url: validator.rpc_url(),
            websocket_url: validator.rpc_pubsub_url(),
            faucet,
            program_id: thread::ID,
            keeper_keypair: keeper_path,
            keeper_pubkey: keeper.pubkey(),
            ledger: ledger.path(),
            ledger_removed_on_exit: matches!(ledger, LedgerDir::Temporary(_)),
        };
        Ok(Localnet {
            _validator: validator,
            _ledger: ledger,
            endpoints,
        })
    }
}

/// Fails, naming the flag, when the JSON-RPC or PubSub port is taken, before anything is
/// written (the validator's own error would only say "Address already in use").
fn check_ports_free(options: &Options) -> anyhow::Result<()> {
    let ports = [Some(options.rpc_port), options.pubsub_port()];
    for port in ports.into_iter().flatten().filter(|&port| port != 0) {
        if let Err(err) = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            anyhow::bail!(
                "--rpc-port {}: 127.0.0.1:{port} is not free ({err}); stop what holds it or \
                 choose another port (--rpc-port 0 picks free ones)",
                options.rpc_port
            );
        }
    }
    Ok(())
}

/// The account a builtin lives at: owned by the native loader, executable, its data the
/// builtin's name. `Bank::add_builtin` finds it in genesis and leaves it as it is.
fn program_account(name: &str) -> AccountSharedData {
    let mut account = AccountSharedData::new(1, name.len(), &solana_sdk_ids::native_loader::ID);
    account.set_data_from_slice(name.as_bytes());
    account.set_executable(true);
    account
}

/// A native program calls Solana's syscalls (logs, CPI, sysvars) through process-wide
/// stubs, which solana-program-test installs when it first starts a bank; its stub type
/// is private, so a throwaway bank is the supported way to install them.
fn install_native_syscall_stubs() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime for the syscall stubs' bank")?;
    drop(runtime.block_on(ProgramTest::default().start()));
    Ok(())
}

/// Registers the program as a builtin on every bank the validator has. Banks made later
/// inherit it from their parent; a bank being made from a parent during the first pass
/// may not, so a second pass after a short settle catches it (registration is
/// idempotent).
fn register_program(validator: &TestValidator) {
    for pass in 0..2 {
        if pass > 0 {
            std::thread::sleep(REGISTRATION_SETTLE);
        }
        let forks = validator.bank_forks();
        let forks = forks.read().expect("bank forks lock");
        for bank in forks.banks().values() {
            bank.add_builtin(thread::ID, PROGRAM_NAME, program_entry());
            bank.add_builtin(responder::ID, RESPONDER_NAME, responder_entry());
        }
    }
}

fn program_entry() -> ProgramCacheEntry {
    let entry: Option<BuiltinFunctionWithContext> = processor!(thread::client::native_entry);
    ProgramCacheEntry::new_builtin(0, PROGRAM_NAME.len(), entry.expect("processor! gives Some"))
}

/// The example program whose instructions answer their threads, so that thread
/// responses are tried over the wire too.
fn responder_entry() -> ProgramCacheEntry {
    let entry: Option<BuiltinFunctionWithContext> = processor!(responder::process);
    ProgramCacheEntry::new_builtin(
        0,
        RESPONDER_NAME.len(),
        entry.expect("processor! gives Some"),
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn a_taken_pubsub_port_is_refused_naming_the_flag_before_anything_starts() {
        let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let pubsub = taken.local_addr().unwrap().port();
        let rpc = (pubsub - 1).to_string();
        let options = Options::try_parse_from(["localnet", "--rpc-port", rpc.as_str()]).unwrap();
        let err = check_ports_free(&options).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--rpc-port {rpc}: ")), "{err}");
        // The PubSub port is the taken one (unless the one below it is taken too).
        assert!(err.contains(" is not free ("), "{err}");
    }

    #[test]
    fn port_zero_asks_for_nothing_in_particular() {
        let options = Options::try_parse_from(["localnet", "--rpc-port", "0"]).unwrap();
        assert!(check_ports_free(&options).is_ok());
    }
}
