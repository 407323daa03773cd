//! The ready file: what a script or test needs to talk to a running localnet, written
//! only once it serves requests.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use solana_sdk::pubkey::Pubkey;

/// Where a running localnet can be reached, and with which key.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub rpc_url: String,
    pub websocket_url: String,
    pub faucet: std::net::SocketAddr,
    pub program_id: Pubkey,
    pub keeper_keypair: PathBuf,
    pub keeper_pubkey: Pubkey,
    pub ledger: PathBuf,
    /// A temporary ledger, removed when localnet stops.
    pub ledger_removed_on_exit: bool,
}

impl Endpoints {
    /// The operator's view, printed at start-up.
    pub fn describe(&self) -> String {
        format!(
            "localnet is serving (loopback only)\n  JSON-RPC:       {}\n  PubSub:         {}\n  \
             faucet:         {}\n  thread program: {}\n  keeper keypair: {} ({}, funded)\n  \
             ledger:         {} ({})\n",
            self.rpc_url,
            self.websocket_url,
            self.faucet,
            self.program_id,
            self.keeper_keypair.display(),
            self.keeper_pubkey,
            self.ledger.display(),
            if self.ledger_removed_on_exit {
                "removed on exit; --keep-ledger keeps it"
            } else {
                "kept"
            },
        )
    }

    /// Writes the endpoints as JSON to `path`: whole to a sibling file, then renamed, so a
    /// reader polling for the file never reads half of it.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let body = json!({
            "rpc_url": self.rpc_url,
            "websocket_url": self.websocket_url,
            "faucet": self.faucet.to_string(),
            "program_id": self.program_id.to_string(),
            "keeper_keypair": self.keeper_keypair,
            "keeper_pubkey": self.keeper_pubkey.to_string(),
            "ledger": self.ledger,
            "ledger_removed_on_exit": self.ledger_removed_on_exit,
        });
        let partial = path.with_extension("partial");
        fs::write(&partial, serde_json::to_vec_pretty(&body)?)
            .with_context(|| format!("writing {}", partial.display()))?;
        fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
    }
}
