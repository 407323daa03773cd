//! Where the CLI connects and whose keypair it signs with: the keeper's layered
//! configuration (defaults, then the Solana CLI config, then flags), so `threads` finds
//! the same cluster and keypair as `solana` and `keeper` do.
//!
//! Owns: turning the global flags into [`Settings`]. Must not: read the keeper's own
//! config file or its `KEEPER_*` variables (an owner's tool is not the keeper), open the
//! keypair or touch the network.

use std::path::PathBuf;

use clap::Args;
use keeper::config::{flag, Config, ConfigError, Environment, Flags, ENV_SOLANA_CLI_CONFIG};
use solana_commitment_config::CommitmentConfig;

use crate::refusal::Refusal;

/// The flags every command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// JSON-RPC URL, or a moniker: mainnet-beta, devnet, testnet, localhost (m, d, t, l)
    /// [default: the Solana CLI config's, else http://127.0.0.1:8899]
    #[arg(
        short = 'u',
        long,
        visible_alias = "url",
        global = true,
        value_name = "URL"
    )]
    pub rpc_url: Option<String>,

    /// The owner's keypair file [default: the Solana CLI config's, else ~/.config/solana/id.json]
    #[arg(short = 'k', long, global = true, value_name = "PATH")]
    pub keypair: Option<PathBuf>,

    /// Commitment: processed, confirmed or finalized [default: confirmed]
    #[arg(long, global = true, value_name = "LEVEL")]
    pub commitment: Option<String>,

    /// Solana CLI config file [default: ~/.config/solana/cli/config.yml] [env: SOLANA_CLI_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    pub solana_config: Option<PathBuf>,

    /// Thread program id; this build speaks to the program it was built with, whose id is
    /// the default
    #[arg(long, global = true, value_name = "PUBKEY")]
    pub program_id: Option<String>,
}

/// What the binary connects with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub rpc_url: String,
    pub keypair_path: PathBuf,
    pub commitment: CommitmentConfig,
}

/// Why the settings could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
}

impl GlobalArgs {
    /// Layers the flags over the Solana CLI config found through `env` (its home and
    /// `SOLANA_CLI_CONFIG` only).
    pub fn resolve(&self, env: &Environment) -> Result<Settings, SettingsError> {
        let mut owner_env = Environment::empty();
        if let Some(home) = env.home() {
            owner_env = owner_env.with_home(home);
        }
        if let Some(path) = env.var(ENV_SOLANA_CLI_CONFIG) {
            owner_env = owner_env.with_var(ENV_SOLANA_CLI_CONFIG, path);
        }
        let flags = Flags {
            rpc_url: self.rpc_url.clone(),
            keypair_path: self.keypair.clone(),
            program_id: self.program_id.clone(),
            commitment: self.commitment.clone(),
            solana_config: self.solana_config.clone(),
            ..Flags::default()
        };
        let config = Config::resolve(&flags, &owner_env)?.config;
        if config.program_id != thread::ID {
            return Err(Refusal::new(
                flag::PROGRAM_ID,
                format!(
                    "{}: this build of `threads` builds instructions for program {}",
                    config.program_id,
                    thread::ID
                ),
                "leave --program-id out, or use a `threads` built from that program's source",
            )
            .into());
        }
        let commitment = config.commitment.parse::<CommitmentConfig>().map_err(|_| {
            Refusal::new(
                flag::COMMITMENT,
                format!("{:?} is no commitment", config.commitment),
                "use processed, confirmed or finalized",
            )
        })?;
        Ok(Settings {
            rpc_url: config.rpc_url,
            keypair_path: config.keypair_path,
            commitment,
        })
    }
}
