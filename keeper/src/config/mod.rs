//! Configuration: the one typed [`Config`] the keeper runs with, where each
//! value came from, and the single validation pass at start.
//!
//! Owns the layers, lowest first:
//! 1. built-in defaults ([`DEFAULT_RPC_URL`], [`DEFAULT_KEYPAIR_PATH`], ...);
//! 2. the Solana CLI config file (`~/.config/solana/cli/config.yml`, or the
//!    path in `--solana-config` / `SOLANA_CLI_CONFIG`), read for the keys
//!    `json_rpc_url`, `websocket_url`, `keypair_path` and `commitment`;
//! 3. the keeper's own TOML file (`--config` / `KEEPER_CONFIG`), whose keys are
//!    the field names of [`Config`], with the daemon's settings in a `[daemon]`
//!    table ([`DaemonConfig`]); an unknown key is an error naming its full path
//!    (`daemon.tick_ms`);
//! 4. the environment (`KEEPER_RPC_URL`, `KEEPER_WS_URL`, `KEEPER_KEYPAIR`,
//!    `KEEPER_PROGRAM_ID`, `KEEPER_LOG`, `KEEPER_COMMITMENT`, `KEEPER_STORE`,
//!    `KEEPER_WORKERS`, `KEEPER_HEALTH_ADDR`);
//! 5. command-line flags ([`Flags`]).
//!
//! Must not: touch the network, open the keypair (that is [`crate::keypair`]),
//! or read the process environment anywhere but [`Environment::from_process`],
//! so that every layer can be tested with an explicit environment and home.
//!
//! Why hand-written layering rather than `figment` or clap's `env` attribute: clap's
//! `env` reads the process environment while parsing, which breaks the rule above (the
//! CLI tests give each run its own environment), and it cannot say that a value came
//! from the environment rather than a flag in `keeper config`. `figment` keeps
//! per-value sources, but has no reader for the Solana CLI's YAML subset, reports
//! unknown keys by name only, not by full path with a fix, and would add its own
//! crates to the lean operator build for the nine settings that have all five layers.
//!
//! Files: `solana_cli.rs` (the Solana CLI config.yml reader), `url.rs` (URL
//! and log-level checks), `file.rs` (the keeper TOML file, and
//! [`Resolved::daemon_fields`] from it), `daemon.rs` (the `[daemon]` table,
//! which asks each nested table to validate itself), [`setting`] (the error
//! every table reports and the range checks they share), `resolve.rs`
//! (layering, resolution and validation: [`Config::resolve`]) and `tests.rs`;
//! this file holds the public types and constants, and imports none of its
//! children but to re-export them.

mod daemon;
mod file;
mod resolve;
pub mod setting;
mod solana_cli;
#[cfg(test)]
mod tests;
mod url;

use std::{
    collections::BTreeMap,
    fmt, io,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    path::{Path, PathBuf},
};

use solana_sdk::pubkey::Pubkey;

pub use daemon::DaemonConfig;
pub use solana_cli::{expand_tilde, CliConfigParseError, SolanaCliConfig};
pub use url::websocket_url_for;

/// The thread program's declared id, used when no layer names another.
pub const DEFAULT_PROGRAM_ID: &str = "Ft6MdnsXTQt94meJ2SY1pe8UX5ZncJ5V3TVd8XR5rydz";
/// JSON-RPC endpoint of a local test validator.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8899";
/// Where `solana-keygen new` writes by default (`~` is the home directory).
pub const DEFAULT_KEYPAIR_PATH: &str = "~/.config/solana/id.json";
/// Where the Solana CLI keeps its config (`~` is the home directory).
pub const DEFAULT_SOLANA_CLI_CONFIG: &str = "~/.config/solana/cli/config.yml";
/// Default `tracing` filter.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// Default commitment level for reads and confirmations.
pub const DEFAULT_COMMITMENT: &str = "confirmed";
/// The keeper's SQLite store (executions and dead letters), relative to the
/// working directory.
pub const DEFAULT_STORE_PATH: &str = "./keeper.sqlite";
/// Where `keeper run` serves /health, /ready and /metrics unless told otherwise.
pub const DEFAULT_HEALTH_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));

/// Environment variables read by the environment layer.
pub const ENV_RPC_URL: &str = "KEEPER_RPC_URL";
/// See [`ENV_RPC_URL`].
pub const ENV_WS_URL: &str = "KEEPER_WS_URL";
/// See [`ENV_RPC_URL`].
pub const ENV_KEYPAIR: &str = "KEEPER_KEYPAIR";
/// See [`ENV_RPC_URL`].
pub const ENV_PROGRAM_ID: &str = "KEEPER_PROGRAM_ID";
/// See [`ENV_RPC_URL`].
pub const ENV_LOG: &str = "KEEPER_LOG";
/// See [`ENV_RPC_URL`].
pub const ENV_COMMITMENT: &str = "KEEPER_COMMITMENT";
/// See [`ENV_RPC_URL`].
pub const ENV_STORE: &str = "KEEPER_STORE";
/// See [`ENV_RPC_URL`]; sets `daemon.workers`.
pub const ENV_WORKERS: &str = "KEEPER_WORKERS";
/// See [`ENV_RPC_URL`]; sets `daemon.health_addr`.
pub const ENV_HEALTH_ADDR: &str = "KEEPER_HEALTH_ADDR";
/// Path of the keeper's TOML config file.
pub const ENV_KEEPER_CONFIG: &str = "KEEPER_CONFIG";
/// Path of the Solana CLI config file (the Solana CLI honours it too).
pub const ENV_SOLANA_CLI_CONFIG: &str = "SOLANA_CLI_CONFIG";

/// Commitment levels the keeper accepts.
pub const COMMITMENTS: [&str; 3] = ["processed", "confirmed", "finalized"];

/// The resolved, validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// JSON-RPC endpoint (`http://` or `https://`).
    pub rpc_url: String,
    /// Websocket endpoint; `None` means derived from `rpc_url`
    /// (see [`Config::websocket_url`]).
    pub ws_url: Option<String>,
    /// The keeper's keypair file (a JSON array of 64 bytes, as written by
    /// `solana-keygen`), with `~` expanded.
    pub keypair_path: PathBuf,
    /// The thread program whose threads this keeper executes.
    pub program_id: Pubkey,
    /// A `tracing` filter: a level, or `target=level` directives.
    pub log_level: String,
    /// One of [`COMMITMENTS`].
    pub commitment: String,
    /// The SQLite store of executions and dead letters, with `~` expanded (a
    /// relative path in the keeper config file is relative to that file).
    pub store_path: PathBuf,
    /// What `keeper run` runs with: the `[daemon]` table of the keeper config
    /// file over [`DaemonConfig::default`], then `workers` and `health_addr`
    /// from the environment and flags. `health_addr` is always set
    /// ([`DEFAULT_HEALTH_ADDR`] unless a layer names another).
    pub daemon: DaemonConfig,
}

impl Config {
    /// The websocket endpoint: `ws_url` if set, else derived from `rpc_url`
    /// as the Solana CLI does (`http` -> `ws`, `https` -> `wss`, port + 1).
    pub fn websocket_url(&self) -> String {
        match &self.ws_url {
            Some(url) => url.clone(),
            None => websocket_url_for(&self.rpc_url).unwrap_or_else(|| self.rpc_url.clone()),
        }
    }
}

/// The layer a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Built into the keeper.
    Default,
    /// The Solana CLI config file at this path.
    SolanaCliConfig(PathBuf),
    /// The keeper's TOML config file at this path.
    KeeperConfig(PathBuf),
    /// This environment variable.
    Env(&'static str),
    /// This command-line flag.
    Flag(&'static str),
}

impl Source {
    fn rank(&self) -> u8 {
        match self {
            Source::Default => 0,
            Source::SolanaCliConfig(_) => 1,
            Source::KeeperConfig(_) => 2,
            Source::Env(_) => 3,
            Source::Flag(_) => 4,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::SolanaCliConfig(path) => write!(f, "Solana CLI config {}", path.display()),
            Source::KeeperConfig(path) => write!(f, "keeper config {}", path.display()),
            Source::Env(name) | Source::Flag(name) => f.write_str(name),
        }
    }
}

/// Where each field of a [`Config`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources {
    /// Source of [`Config::rpc_url`].
    pub rpc_url: Source,
    /// Source of [`Config::ws_url`]; `None` when it is derived from `rpc_url`.
    pub ws_url: Option<Source>,
    /// Source of [`Config::keypair_path`].
    pub keypair_path: Source,
    /// Source of [`Config::program_id`].
    pub program_id: Source,
    /// Source of [`Config::log_level`].
    pub log_level: Source,
    /// Source of [`Config::commitment`].
    pub commitment: Source,
    /// Source of [`Config::store_path`].
    pub store_path: Source,
    /// Source of each setting of [`Config::daemon`], by its full key in the
    /// keeper config file (`daemon.workers`, `daemon.leases.lease_slots`).
    pub daemon: BTreeMap<String, Source>,
}

/// A validated [`Config`] with the provenance of each field.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The configuration.
    pub config: Config,
    /// Where each field came from.
    pub sources: Sources,
    /// The Solana CLI config file that was read, if one was.
    pub solana_cli_config: Option<PathBuf>,
    /// The keeper config file that was read, if one was.
    pub keeper_config: Option<PathBuf>,
}

impl Resolved {
    /// Each field as `(name, value, where it came from)`, in declaration order,
    /// for display. A derived `ws_url` shows its derived value.
    pub fn fields(&self) -> Vec<(&'static str, String, String)> {
        let c = &self.config;
        let s = &self.sources;
        let ws_source = match &s.ws_url {
            Some(source) => source.to_string(),
            None => "derived from rpc_url".to_string(),
        };
        vec![
            ("rpc_url", c.rpc_url.clone(), s.rpc_url.to_string()),
            ("ws_url", c.websocket_url(), ws_source),
            (
                "keypair_path",
                c.keypair_path.display().to_string(),
                s.keypair_path.to_string(),
            ),
            (
                "program_id",
                c.program_id.to_string(),
                s.program_id.to_string(),
            ),
            ("log_level", c.log_level.clone(), s.log_level.to_string()),
            ("commitment", c.commitment.clone(), s.commitment.to_string()),
            (
                "store_path",
                c.store_path.display().to_string(),
                s.store_path.to_string(),
            ),
        ]
    }
}

/// The flag layer: what the user passed on the command line. The binary fills
/// it from clap; every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--rpc-url` / `-u`.
    pub rpc_url: Option<String>,
    /// `--ws-url`.
    pub ws_url: Option<String>,
    /// `--keypair` / `-k`.
    pub keypair_path: Option<PathBuf>,
    /// `--program-id`.
    pub program_id: Option<String>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--commitment`.
    pub commitment: Option<String>,
    /// `--config`: the keeper's TOML file.
    pub config: Option<PathBuf>,
    /// `--solana-config`: the Solana CLI config file.
    pub solana_config: Option<PathBuf>,
    /// `--store`: the keeper's SQLite store.
    pub store_path: Option<PathBuf>,
    /// `keeper run --workers`: `daemon.workers`.
    pub workers: Option<usize>,
    /// `keeper run --health-addr`: `daemon.health_addr`.
    pub health_addr: Option<SocketAddr>,
}

/// Flag names, as reported in [`Source::Flag`].
pub mod flag {
    /// Flag for [`super::Flags::rpc_url`].
    pub const RPC_URL: &str = "--rpc-url";
    /// Flag for [`super::Flags::ws_url`].
    pub const WS_URL: &str = "--ws-url";
    /// Flag for [`super::Flags::keypair_path`].
    pub const KEYPAIR: &str = "--keypair";
    /// Flag for [`super::Flags::program_id`].
    pub const PROGRAM_ID: &str = "--program-id";
    /// Flag for [`super::Flags::log_level`].
    pub const LOG_LEVEL: &str = "--log-level";
    /// Flag for [`super::Flags::commitment`].
    pub const COMMITMENT: &str = "--commitment";
    /// Flag for [`super::Flags::config`].
    pub const CONFIG: &str = "--config";
    /// Flag for [`super::Flags::solana_config`].
    pub const SOLANA_CONFIG: &str = "--solana-config";
    /// Flag for [`super::Flags::store_path`].
    pub const STORE: &str = "--store";
    /// Flag for [`super::Flags::workers`].
    pub const WORKERS: &str = "--workers";
    /// Flag for [`super::Flags::health_addr`].
    pub const HEALTH_ADDR: &str = "--health-addr";
}

/// The environment the configuration is resolved in: variables and the home
/// directory. Tests build one explicitly; the binary takes the process's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    home: Option<PathBuf>,
}

impl Environment {
    /// An environment with no variables and no home directory.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The process's environment (variables that are not valid UTF-8 are
    /// skipped) and its home directory (`HOME`, else `USERPROFILE`).
    pub fn from_process() -> Self {
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Self { vars, home }
    }

    /// Sets the home directory used for `~` and the default paths.
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// Sets a variable.
    pub fn with_var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(key.into(), value.into());
        self
    }

    /// A variable's value; an empty value counts as unset.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The home directory, if known.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }
}

/// Why the configuration could not be resolved. Each message names the field
/// or file at fault and the layer it came from.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ConfigError {
    /// A field's value failed validation.
    #[error("invalid {field} {value:?} from {origin}: {reason}")]
    #[strum(serialize = "invalid_value")]
    Invalid {
        /// The field's name in [`Config`], or its full key below `[daemon]`
        /// (`daemon.workers`).
        field: &'static str,
        /// The offending value.
        value: String,
        /// The layer it came from.
        origin: Source,
        /// What was expected.
        reason: String,
    },
    /// The program id is not a public key.
    #[error("program_id {value:?} from {origin} is not a base58 public key")]
    InvalidProgramId {
        /// The offending value.
        value: String,
        /// The layer it came from.
        origin: Source,
    },
    /// A config file named explicitly (by flag or environment) does not exist.
    #[error("{what} {} (from {origin}) does not exist", path.display())]
    MissingFile {
        /// Which file: "Solana CLI config" or "keeper config".
        what: &'static str,
        /// The path looked at.
        path: PathBuf,
        /// The layer that named it.
        origin: Source,
    },
    /// A config file exists but could not be read.
    #[error("cannot read {what} {}", path.display())]
    #[strum(serialize = "unreadable_file")]
    ReadFile {
        /// Which file.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A line of the Solana CLI config could not be parsed.
    #[error("Solana CLI config {}: {source}", path.display())]
    #[strum(serialize = "bad_solana_cli_config")]
    SolanaCliConfig {
        /// The file.
        path: PathBuf,
        /// What was wrong, and on which line.
        #[source]
        source: CliConfigParseError,
    },
    /// The keeper config is not valid TOML, has an unknown key, or a value of
    /// the wrong type.
    #[error("keeper config {} is invalid{}", path.display(), at_key(key.as_deref()))]
    #[strum(serialize = "bad_keeper_config")]
    KeeperConfig {
        /// The file.
        path: PathBuf,
        /// The full dotted key at fault (`daemon.tick_ms`), when the error
        /// points at one: the parser names only its last part.
        key: Option<String>,
        /// The parser's message, with the line and column.
        #[source]
        source: Box<toml::de::Error>,
    },
}

impl ConfigError {
    /// A stable label for this kind of error, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

fn at_key(key: Option<&str>) -> String {
    key.map(|key| format!(" at {key}")).unwrap_or_default()
}
