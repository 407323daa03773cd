//! The faucet behind `requestAirdrop`, on loopback. Agave's own helpers bind 0.0.0.0 (or
//! sit behind a test-only feature), so this runs the faucet server itself.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use solana_faucet::faucet::{run_faucet, Faucet};
use solana_sdk::signature::Keypair;

/// Most lamports one airdrop may ask for: 1,000 SOL, as a local faucet should allow.
const PER_REQUEST_CAP: u64 = 1_000 * 1_000_000_000;

/// Starts the faucet on 127.0.0.1 (a free port) in a thread of its own, paying from
/// `mint`, and returns its address once it listens.
pub fn start(mint: Keypair) -> anyhow::Result<SocketAddr> {
    let (sender, receiver) = crossbeam_channel::unbounded();
    let faucet = Arc::new(Mutex::new(Faucet::new(
        mint,
        None,
        None,
        Some(PER_REQUEST_CAP),
    )));
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    std::thread::Builder::new()
        .name("localnet-faucet".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds");
            runtime.block_on(run_faucet(faucet, address, Some(sender)));
        })
        .context("starting the faucet thread")?;
    let bound = receiver
        .recv()
        .context("the faucet thread ended before it listened")?
        .map_err(anyhow::Error::msg)?;
    Ok(bound)
}
