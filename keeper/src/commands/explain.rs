//! `keeper explain THREAD`: the binary's side (flags, the chain, the read-only store,
//! printing); the explaining is `keeper::ops::explain`.

use anyhow::{Context, Result};
use keeper::Resolved;
use solana_sdk::signer::Signer;

use crate::{commitment_of, OutputFormat};

/// `keeper explain`: reads the thread over JSON-RPC and, when `--store` names the
/// keeper's store, that store (read-only) and the keeper's key; prints the explanation.
pub fn explain(
    resolved: &Resolved,
    with_store: bool,
    thread: &str,
    output: OutputFormat,
) -> Result<()> {
    use keeper::chain::rpc::RpcChain;
    let config = &resolved.config;
    let address: solana_sdk::pubkey::Pubkey = thread.parse().with_context(|| {
        format!("THREAD: {thread:?} is not a base58 address; pass the thread's address")
    })?;
    let store = with_store
        .then(|| keeper::store::Store::open_read_only(&config.store_path))
        .transpose()
        .with_context(|| format!("--store {}", config.store_path.display()))?;
    let me = match store {
        Some(_) => keeper::load_keypair(&config.keypair_path)
            .ok()
            .map(|k| k.pubkey()),
        None => None,
    };
    let commitment = commitment_of(config)?;
    let rpc = &config.daemon.rpc;
    let chain = RpcChain::with_limits(&config.rpc_url, commitment, rpc.timeout(), rpc.limits());
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (_, explanation) = runtime.block_on(keeper::ops::explain::explain(
        &chain,
        &config.program_id,
        &address,
        store.as_ref(),
        me,
    ))?;
    match output {
        OutputFormat::Text => print!("{}", explanation.to_text()),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&explanation)?),
    }
    Ok(())
}
