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

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt, fs, io,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    ops::Range,
    path::{Path, PathBuf},
    str::FromStr,
};

use serde::Deserialize;
use solana_sdk::pubkey::Pubkey;

use crate::daemon::DaemonConfig;

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
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

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
    /// Builds the configuration from every layer and validates it once.
    pub fn resolve(flags: &Flags, env: &Environment) -> Result<Resolved, ConfigError> {
        resolve(flags, env)
    }

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

    /// Each daemon setting as `(key, value, where it came from)`, one row per
    /// value (`daemon.leases.lease_slots`), for display.
    pub fn daemon_fields(&self) -> Vec<(String, String, String)> {
        daemon_settings(&self.config.daemon)
            .into_iter()
            .map(|(key, value)| {
                let source = self.sources.daemon.get(&key).unwrap_or(&Source::Default);
                let source = source.to_string();
                (key, value, source)
            })
            .collect()
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
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field's value failed validation.
    #[error("invalid {field} {value:?} from {origin}: {reason}")]
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
        match self {
            ConfigError::Invalid { .. } => "invalid_value",
            ConfigError::InvalidProgramId { .. } => "invalid_program_id",
            ConfigError::MissingFile { .. } => "missing_file",
            ConfigError::ReadFile { .. } => "unreadable_file",
            ConfigError::SolanaCliConfig { .. } => "bad_solana_cli_config",
            ConfigError::KeeperConfig { .. } => "bad_keeper_config",
        }
    }
}

fn at_key(key: Option<&str>) -> String {
    key.map(|key| format!(" at {key}")).unwrap_or_default()
}

/// A line of a Solana CLI config file that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CliConfigParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: &'static str,
}

/// The keys the keeper reads from a Solana CLI config file. Other keys, and
/// nested mappings such as `address_labels`, are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SolanaCliConfig {
    /// `json_rpc_url`.
    pub json_rpc_url: Option<String>,
    /// `websocket_url` (the CLI writes `""` for "derive from json_rpc_url").
    pub websocket_url: Option<String>,
    /// `keypair_path`, as written (no `~` expansion).
    pub keypair_path: Option<String>,
    /// `commitment`.
    pub commitment: Option<String>,
}

impl SolanaCliConfig {
    /// Parses the top-level `key: value` lines of the CLI's YAML file.
    /// Values may be plain, `'single'` or `"double"` quoted, and followed by a
    /// `# comment`; empty, `~` and `null` values count as unset. Indented
    /// lines, comments, document markers and unknown keys are skipped. Only a
    /// broken quoted value of a key the keeper reads is an error.
    pub fn parse(text: &str) -> Result<Self, CliConfigParseError> {
        let mut out = SolanaCliConfig::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with([' ', '\t', '#', '-', '.']) {
                continue;
            }
            let Some((key, rest)) = split_key(line) else {
                continue;
            };
            let slot = match key {
                "json_rpc_url" => &mut out.json_rpc_url,
                "websocket_url" => &mut out.websocket_url,
                "keypair_path" => &mut out.keypair_path,
                "commitment" => &mut out.commitment,
                _ => continue,
            };
            let value = parse_scalar(rest).map_err(|reason| CliConfigParseError {
                line: index + 1,
                reason,
            })?;
            *slot = value.filter(|v| !v.is_empty());
        }
        Ok(out)
    }
}

/// Splits `key: value` (or `key:` at the end of the line); the key may be quoted.
fn split_key(line: &str) -> Option<(&str, &str)> {
    let (key, rest) = match line.find(": ") {
        Some(i) => (&line[..i], &line[i + 2..]),
        None => (line.strip_suffix(':')?, ""),
    };
    let key = key.trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    Some((key, rest))
}

/// Parses one YAML scalar: plain, single- or double-quoted, with an optional
/// trailing comment. `Ok(None)` is YAML's null.
fn parse_scalar(raw: &str) -> Result<Option<String>, &'static str> {
    let s = raw.trim();
    let (value, rest) = if let Some(body) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(e @ ('"' | '\\' | '/' | ' ')) => value.push(e),
                    _ => return Err("unsupported escape in double-quoted value"),
                },
                c => value.push(c),
            }
        }
        let end = end.ok_or("unterminated double-quoted value")?;
        (value, &body[end..])
    } else if let Some(body) = s.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().map(|&(_, n)| n) == Some('\'') {
                    chars.next();
                    value.push('\'');
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                value.push(c);
            }
        }
        let end = end.ok_or("unterminated single-quoted value")?;
        (value, &body[end..])
    } else {
        // A plain scalar ends at a comment: `#` at the start or after a blank.
        let cut = s
            .char_indices()
            .find(|&(i, c)| c == '#' && (i == 0 || s[..i].ends_with(|p: char| p.is_whitespace())))
            .map_or(s.len(), |(i, _)| i);
        let value = s[..cut].trim_end();
        if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
            return Ok(None);
        }
        return Ok(Some(value.to_string()));
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err("unexpected text after closing quote");
    }
    Ok(Some(value))
}

/// Replaces a leading `~` component with the home directory, if known.
pub fn expand_tilde(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) if rest.as_os_str().is_empty() => home.to_path_buf(),
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

/// The websocket URL the Solana CLI would derive from a JSON-RPC URL:
/// `http` -> `ws`, `https` -> `wss`, and an explicit port plus one.
/// `None` if `rpc_url` is not an http(s) URL.
pub fn websocket_url_for(rpc_url: &str) -> Option<String> {
    let url = split_url(rpc_url)?;
    let scheme = if url.scheme.eq_ignore_ascii_case("https") {
        "wss"
    } else if url.scheme.eq_ignore_ascii_case("http") {
        "ws"
    } else {
        return None;
    };
    let port = match url.port {
        Some(p) => {
            let p: u16 = p.parse().ok()?;
            format!(":{}", p.checked_add(1)?)
        }
        None => String::new(),
    };
    Some(format!(
        "{scheme}://{}{}{port}{}",
        url.userinfo, url.host, url.rest
    ))
}

struct UrlParts<'a> {
    scheme: &'a str,
    /// `user@` including the `@`, or empty.
    userinfo: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    /// Path, query and fragment.
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let at = authority.rfind('@').map_or(0, |i| i + 1);
    let (userinfo, hostport) = authority.split_at(at);
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let (host, tail) = hostport.split_at(close + 1);
        match tail {
            "" => (host, None),
            _ => (host, Some(tail.strip_prefix(':')?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    Some(UrlParts {
        scheme,
        userinfo,
        host,
        port,
        rest,
    })
}

/// Checks that `url` is `<one of schemes>://host[:port][/...]`.
fn check_url(url: &str, schemes: [&str; 2]) -> Result<(), String> {
    let expected = format!("expected {}(s) URL", schemes[0]);
    if url.chars().any(char::is_whitespace) {
        return Err(format!("{expected}, found whitespace"));
    }
    let Some(parts) = split_url(url) else {
        return Err(expected);
    };
    if !schemes.iter().any(|s| parts.scheme.eq_ignore_ascii_case(s)) {
        return Err(expected);
    }
    if parts.host.is_empty() || parts.host == "[]" {
        return Err(format!("{expected} with a host"));
    }
    if let Some(port) = parts.port {
        if port.parse::<u16>().is_err() {
            return Err(format!("{expected} with a port from 0 to 65535"));
        }
    }
    Ok(())
}

/// The Solana CLI's cluster monikers for `-u`.
fn expand_moniker(url: &str) -> &str {
    match url {
        "m" | "mainnet-beta" => "https://api.mainnet-beta.solana.com",
        "d" | "devnet" => "https://api.devnet.solana.com",
        "t" | "testnet" => "https://api.testnet.solana.com",
        "l" | "localhost" => DEFAULT_RPC_URL,
        other => other,
    }
}

fn check_log_level(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Err("expected a level (trace, debug, info, warn, error, off)".into());
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let is_level = LEVELS.iter().any(|l| directive.eq_ignore_ascii_case(l));
        if !is_level && !directive.contains(['=', '[']) {
            return Err(format!(
                "{directive:?} is neither a level (trace, debug, info, warn, error, off) \
                 nor a target=level directive"
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| format!("not a tracing filter: {e}"))
}

/// A value and the layer it came from.
type Val<T> = Option<(T, Source)>;

/// One layer's contribution; `None` fields leave lower layers in place.
#[derive(Default)]
struct Layer {
    rpc_url: Val<String>,
    ws_url: Val<String>,
    keypair_path: Val<PathBuf>,
    program_id: Val<String>,
    log_level: Val<String>,
    commitment: Val<String>,
    store_path: Val<PathBuf>,
    workers: Val<usize>,
    health_addr: Val<SocketAddr>,
}

impl Layer {
    fn over(&mut self, higher: Layer) {
        fn set<T>(slot: &mut Val<T>, higher: Val<T>) {
            if higher.is_some() {
                *slot = higher;
            }
        }
        set(&mut self.rpc_url, higher.rpc_url);
        set(&mut self.ws_url, higher.ws_url);
        set(&mut self.keypair_path, higher.keypair_path);
        set(&mut self.program_id, higher.program_id);
        set(&mut self.log_level, higher.log_level);
        set(&mut self.commitment, higher.commitment);
        set(&mut self.store_path, higher.store_path);
        set(&mut self.workers, higher.workers);
        set(&mut self.health_addr, higher.health_addr);
    }
}

/// The keeper's TOML file. Keys are [`Config`]'s field names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeeperFile {
    rpc_url: Option<String>,
    ws_url: Option<String>,
    keypair_path: Option<PathBuf>,
    program_id: Option<String>,
    log_level: Option<String>,
    commitment: Option<String>,
    store_path: Option<PathBuf>,
    daemon: Option<DaemonConfig>,
}

/// The `[daemon]` table of the keeper's TOML file.
struct DaemonTable {
    /// The table over [`DaemonConfig::default`].
    config: DaemonConfig,
    /// The file.
    source: Source,
    /// The full keys of the values the file sets (`daemon.leases.lease_slots`).
    keys: BTreeSet<String>,
}

/// One entry of a TOML document: its full dotted key, where its key and value
/// are in the text, and whether the value is a table.
struct Entry {
    key: String,
    key_span: Range<usize>,
    value_span: Range<usize>,
    table: bool,
}

/// Every entry of a TOML document, a table before its entries; none if the
/// text is not TOML.
fn entries(text: &str) -> Vec<Entry> {
    fn walk(table: &toml::de::DeTable<'_>, prefix: &str, out: &mut Vec<Entry>) {
        for (key, value) in table {
            let key_text = key.get_ref();
            let full = match prefix {
                "" => key_text.to_string(),
                _ => format!("{prefix}.{key_text}"),
            };
            let inner = match value.get_ref() {
                toml::de::DeValue::Table(inner) => Some(inner),
                _ => None,
            };
            out.push(Entry {
                key: full.clone(),
                key_span: key.span(),
                value_span: value.span(),
                table: inner.is_some(),
            });
            if let Some(inner) = inner {
                walk(inner, &full, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(root) = toml::de::DeTable::parse(text) {
        walk(root.get_ref(), "", &mut out);
    }
    out
}

/// The full dotted key (`daemon.tick_ms`) that a parser error in `text`
/// points at: its key, or its value unless that is a table.
fn key_at(text: &str, error: &toml::de::Error) -> Option<String> {
    let span = error.span()?;
    let within = |outer: &Range<usize>| outer.start <= span.start && span.end <= outer.end;
    entries(text)
        .into_iter()
        .find(|e| within(&e.key_span) || (!e.table && within(&e.value_span)))
        .map(|e| e.key)
}

/// Each value of `daemon` as `(full key, value)`: scalars of a table before
/// its subtables. Strings are shown without quotes.
fn daemon_settings(daemon: &DaemonConfig) -> Vec<(String, String)> {
    fn walk(table: &toml::Table, prefix: &str, out: &mut Vec<(String, String)>) {
        let (tables, values): (Vec<_>, Vec<_>) =
            table.iter().partition(|(_, value)| value.is_table());
        for (key, value) in values {
            let shown = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push((format!("{prefix}.{key}"), shown));
        }
        for (key, value) in tables {
            if let toml::Value::Table(inner) = value {
                walk(inner, &format!("{prefix}.{key}"), out);
            }
        }
    }
    let mut out = Vec::new();
    // Serializing plain numbers, strings and tables cannot fail.
    if let Ok(toml::Value::Table(table)) = toml::Value::try_from(daemon) {
        walk(&table, "daemon", &mut out);
    }
    out
}

/// Reads a config file. `Ok(None)` if it does not exist and was not named
/// explicitly (its origin is the default).
fn read_file(
    what: &'static str,
    path: &Path,
    origin: &Source,
) -> Result<Option<String>, ConfigError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && *origin == Source::Default => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ConfigError::MissingFile {
            what,
            path: path.to_path_buf(),
            origin: origin.clone(),
        }),
        Err(source) => Err(ConfigError::ReadFile {
            what,
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Picks a file path from the flag, else the environment, else a default.
fn file_path(
    flag_value: Option<&Path>,
    flag_name: &'static str,
    env: &Environment,
    env_name: &'static str,
    default: Option<&str>,
) -> Option<(PathBuf, Source)> {
    let home = env.home();
    let (path, origin) = if let Some(p) = flag_value {
        (p.to_path_buf(), Source::Flag(flag_name))
    } else if let Some(p) = env.var(env_name) {
        (PathBuf::from(p), Source::Env(env_name))
    } else {
        (PathBuf::from(default?), Source::Default)
    };
    Some((expand_tilde(&path, home), origin))
}

fn resolve(flags: &Flags, env: &Environment) -> Result<Resolved, ConfigError> {
    let home = env.home();
    let mut acc = Layer {
        rpc_url: Some((DEFAULT_RPC_URL.into(), Source::Default)),
        ws_url: None,
        keypair_path: Some((DEFAULT_KEYPAIR_PATH.into(), Source::Default)),
        program_id: Some((DEFAULT_PROGRAM_ID.into(), Source::Default)),
        log_level: Some((DEFAULT_LOG_LEVEL.into(), Source::Default)),
        commitment: Some((DEFAULT_COMMITMENT.into(), Source::Default)),
        store_path: Some((DEFAULT_STORE_PATH.into(), Source::Default)),
        workers: Some((DaemonConfig::default().workers, Source::Default)),
        health_addr: Some((DEFAULT_HEALTH_ADDR, Source::Default)),
    };

    // Layer 2: the Solana CLI config. Its default path is read only if it exists.
    let mut solana_cli_config = None;
    let cli_default = home.map(|_| DEFAULT_SOLANA_CLI_CONFIG);
    if let Some((path, origin)) = file_path(
        flags.solana_config.as_deref(),
        flag::SOLANA_CONFIG,
        env,
        ENV_SOLANA_CLI_CONFIG,
        cli_default,
    ) {
        if let Some(text) = read_file("Solana CLI config", &path, &origin)? {
            let parsed =
                SolanaCliConfig::parse(&text).map_err(|source| ConfigError::SolanaCliConfig {
                    path: path.clone(),
                    source,
                })?;
            let src = Source::SolanaCliConfig(path.clone());
            let with = |v: Option<String>| v.map(|v| (v, src.clone()));
            acc.over(Layer {
                rpc_url: with(parsed.json_rpc_url),
                ws_url: with(parsed.websocket_url),
                keypair_path: parsed.keypair_path.map(|p| (PathBuf::from(p), src.clone())),
                program_id: None,
                log_level: None,
                commitment: with(parsed.commitment),
                store_path: None,
                workers: None,
                health_addr: None,
            });
            solana_cli_config = Some(path);
        }
    }

    // Layer 3: the keeper's TOML file, only when named.
    let mut keeper_config = None;
    let mut daemon_table = None;
    if let Some((path, origin)) = file_path(
        flags.config.as_deref(),
        flag::CONFIG,
        env,
        ENV_KEEPER_CONFIG,
        None,
    ) {
        if let Some(text) = read_file("keeper config", &path, &origin)? {
            let file: KeeperFile =
                toml::from_str(&text).map_err(|source| ConfigError::KeeperConfig {
                    path: path.clone(),
                    key: key_at(&text, &source),
                    source: Box::new(source),
                })?;
            let src = Source::KeeperConfig(path.clone());
            let with = |v: Option<String>| v.map(|v| (v, src.clone()));
            // A relative keypair or store path is relative to the file that names it.
            let base = path.parent().unwrap_or(Path::new(""));
            let relative_to_file = |p: Option<PathBuf>| {
                p.map(|p| {
                    let p = expand_tilde(&p, home);
                    (if p.is_relative() { base.join(p) } else { p }, src.clone())
                })
            };
            let keypair_path = relative_to_file(file.keypair_path);
            let store_path = relative_to_file(file.store_path);
            // `workers` and `health_addr` have layers above the file; the rest
            // of the table is used as it is.
            let (mut workers, mut health_addr) = (None, None);
            if let Some(daemon) = file.daemon {
                let keys: BTreeSet<String> = entries(&text)
                    .into_iter()
                    .filter(|e| !e.table && e.key.starts_with("daemon."))
                    .map(|e| e.key)
                    .collect();
                if keys.contains("daemon.workers") {
                    workers = Some((daemon.workers, src.clone()));
                }
                health_addr = daemon.health_addr.map(|addr| (addr, src.clone()));
                daemon_table = Some(DaemonTable {
                    config: daemon,
                    source: src.clone(),
                    keys,
                });
            }
            acc.over(Layer {
                rpc_url: with(file.rpc_url),
                ws_url: with(file.ws_url),
                keypair_path,
                program_id: with(file.program_id),
                log_level: with(file.log_level),
                commitment: with(file.commitment),
                store_path,
                workers,
                health_addr,
            });
            keeper_config = Some(path);
        }
    }

    // Layer 4: the environment.
    let var = |name: &'static str| env.var(name).map(|v| (v.to_string(), Source::Env(name)));
    let workers = parse_var(
        env,
        ENV_WORKERS,
        "daemon.workers",
        "expected a whole number",
    )?;
    let health_addr = parse_var(
        env,
        ENV_HEALTH_ADDR,
        "daemon.health_addr",
        "expected an IP address and port, such as 127.0.0.1:9464",
    )?;
    acc.over(Layer {
        rpc_url: var(ENV_RPC_URL),
        ws_url: var(ENV_WS_URL),
        keypair_path: var(ENV_KEYPAIR).map(|(v, s)| (PathBuf::from(v), s)),
        program_id: var(ENV_PROGRAM_ID),
        log_level: var(ENV_LOG),
        commitment: var(ENV_COMMITMENT),
        store_path: var(ENV_STORE).map(|(v, s)| (PathBuf::from(v), s)),
        workers,
        health_addr,
    });

    // Layer 5: flags.
    let flag = |v: &Option<String>, name: &'static str| {
        v.as_ref().map(|v| (v.clone(), Source::Flag(name)))
    };
    acc.over(Layer {
        rpc_url: flag(&flags.rpc_url, flag::RPC_URL),
        ws_url: flag(&flags.ws_url, flag::WS_URL),
        keypair_path: flags
            .keypair_path
            .as_ref()
            .map(|p| (p.clone(), Source::Flag(flag::KEYPAIR))),
        program_id: flag(&flags.program_id, flag::PROGRAM_ID),
        log_level: flag(&flags.log_level, flag::LOG_LEVEL),
        commitment: flag(&flags.commitment, flag::COMMITMENT),
        store_path: flags
            .store_path
            .as_ref()
            .map(|p| (p.clone(), Source::Flag(flag::STORE))),
        workers: flags.workers.map(|n| (n, Source::Flag(flag::WORKERS))),
        health_addr: flags
            .health_addr
            .map(|addr| (addr, Source::Flag(flag::HEALTH_ADDR))),
    });

    let (config, sources) = validate(acc, daemon_table, home)?;
    Ok(Resolved {
        config,
        sources,
        solana_cli_config,
        keeper_config,
    })
}

/// An environment variable parsed as `T`; unset or empty is `None`.
fn parse_var<T: FromStr>(
    env: &Environment,
    name: &'static str,
    field: &'static str,
    expected: &str,
) -> Result<Val<T>, ConfigError> {
    let Some(value) = env.var(name) else {
        return Ok(None);
    };
    match value.trim().parse() {
        Ok(parsed) => Ok(Some((parsed, Source::Env(name)))),
        Err(_) => Err(ConfigError::Invalid {
            field,
            value: value.to_string(),
            origin: Source::Env(name),
            reason: expected.to_string(),
        }),
    }
}

fn validate(
    acc: Layer,
    daemon_table: Option<DaemonTable>,
    home: Option<&Path>,
) -> Result<(Config, Sources), ConfigError> {
    let take = |v: Val<String>| v.unwrap_or_else(|| (String::new(), Source::Default));
    let invalid = |field, value: &str, origin: &Source, reason: String| ConfigError::Invalid {
        field,
        value: value.to_string(),
        origin: origin.clone(),
        reason,
    };

    let (rpc_url, rpc_src) = take(acc.rpc_url);
    let rpc_url = expand_moniker(&rpc_url).to_string();
    check_url(&rpc_url, ["http", "https"])
        .map_err(|r| invalid("rpc_url", &rpc_url, &rpc_src, r))?;

    // A websocket URL set below the layer that chose the RPC URL belongs to
    // another cluster: derive it from the RPC URL instead (as the Solana CLI
    // does when `-u` is given without `--ws`).
    let ws = acc.ws_url.filter(|(_, src)| src.rank() >= rpc_src.rank());
    if let Some((ws_url, src)) = &ws {
        check_url(ws_url, ["ws", "wss"]).map_err(|r| invalid("ws_url", ws_url, src, r))?;
    }

    let (keypair_path, keypair_src) = acc
        .keypair_path
        .unwrap_or_else(|| (PathBuf::new(), Source::Default));
    let shown = keypair_path.display().to_string();
    if shown.is_empty() {
        return Err(invalid(
            "keypair_path",
            &shown,
            &keypair_src,
            "expected a file path".into(),
        ));
    }
    if let Some((scheme, _)) = shown.split_once("://") {
        if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                "keypair_path",
                &shown,
                &keypair_src,
                "expected a keypair file; the keeper signs unattended and cannot use a \
                 signer URI such as usb:// or prompt://"
                    .into(),
            ));
        }
    }
    let keypair_path = expand_tilde(&keypair_path, home);

    let (program_id, program_src) = take(acc.program_id);
    let program_id =
        Pubkey::from_str(program_id.trim()).map_err(|_| ConfigError::InvalidProgramId {
            value: program_id.clone(),
            origin: program_src.clone(),
        })?;

    let (log_level, log_src) = take(acc.log_level);
    check_log_level(&log_level).map_err(|r| invalid("log_level", &log_level, &log_src, r))?;

    let (commitment, commitment_src) = take(acc.commitment);
    if !COMMITMENTS.contains(&commitment.as_str()) {
        return Err(invalid(
            "commitment",
            &commitment,
            &commitment_src,
            "expected processed, confirmed or finalized".into(),
        ));
    }

    let (store_path, store_src) = acc
        .store_path
        .unwrap_or_else(|| (PathBuf::new(), Source::Default));
    if store_path.as_os_str().is_empty() {
        return Err(invalid(
            "store_path",
            "",
            &store_src,
            "expected a file path".into(),
        ));
    }
    let store_path = expand_tilde(&store_path, home);

    let (daemon, daemon_sources) = daemon_config(acc.workers, acc.health_addr, daemon_table)?;

    let (ws_url, ws_src) = match ws {
        Some((url, src)) => (Some(url), Some(src)),
        None => (None, None),
    };
    Ok((
        Config {
            rpc_url,
            ws_url,
            keypair_path,
            program_id,
            log_level,
            commitment,
            store_path,
            daemon,
        },
        Sources {
            rpc_url: rpc_src,
            ws_url: ws_src,
            keypair_path: keypair_src,
            program_id: program_src,
            log_level: log_src,
            commitment: commitment_src,
            store_path: store_src,
            daemon: daemon_sources,
        },
    ))
}

/// The daemon's settings: the file's `[daemon]` table (or the defaults), with
/// `workers` and `health_addr` from the highest layer that set them; each
/// value's source; validated, naming the key and its layer.
fn daemon_config(
    workers: Val<usize>,
    health_addr: Val<SocketAddr>,
    table: Option<DaemonTable>,
) -> Result<(DaemonConfig, BTreeMap<String, Source>), ConfigError> {
    let (mut daemon, file) = match table {
        Some(t) => (t.config, Some((t.source, t.keys))),
        None => (DaemonConfig::default(), None),
    };
    let (workers, workers_src) = workers.unwrap_or((daemon.workers, Source::Default));
    let (health_addr, health_src) = health_addr.unwrap_or((DEFAULT_HEALTH_ADDR, Source::Default));
    daemon.workers = workers;
    daemon.health_addr = Some(health_addr);

    let sources: BTreeMap<String, Source> = daemon_settings(&daemon)
        .into_iter()
        .map(|(key, _)| {
            let source = match (key.as_str(), &file) {
                ("daemon.workers", _) => workers_src.clone(),
                ("daemon.health_addr", _) => health_src.clone(),
                (key, Some((src, keys))) if keys.contains(key) => src.clone(),
                _ => Source::Default,
            };
            (key, source)
        })
        .collect();

    daemon.validate().map_err(|e| ConfigError::Invalid {
        field: e.field,
        origin: sources.get(e.field).cloned().unwrap_or(Source::Default),
        value: e.value,
        reason: e.reason,
    })?;
    Ok((daemon, sources))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp directory that is a fake home, removed on drop.
    struct Home(tempfile::TempDir);

    impl Home {
        fn new() -> Self {
            Home(tempfile::tempdir().expect("temp dir"))
        }
        fn path(&self) -> &Path {
            self.0.path()
        }
        fn env(&self) -> Environment {
            Environment::empty().with_home(self.path())
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, text).unwrap();
            path
        }
        fn cli_config(&self, text: &str) -> PathBuf {
            self.write(".config/solana/cli/config.yml", text)
        }
    }

    fn resolve_ok(flags: &Flags, env: &Environment) -> Resolved {
        Config::resolve(flags, env).unwrap_or_else(|e| panic!("resolve failed: {e}"))
    }

    fn resolve_err(flags: &Flags, env: &Environment) -> String {
        match Config::resolve(flags, env) {
            Ok(r) => panic!("expected an error, resolved {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    const OTHER_ID: &str = "11111111111111111111111111111111";

    #[test]
    fn defaults_apply_when_nothing_is_configured() {
        let home = Home::new();
        let r = resolve_ok(&Flags::default(), &home.env());
        assert_eq!(r.config.rpc_url, DEFAULT_RPC_URL);
        assert_eq!(r.config.ws_url, None);
        assert_eq!(r.config.websocket_url(), "ws://127.0.0.1:8900");
        assert_eq!(
            r.config.keypair_path,
            home.path().join(".config/solana/id.json")
        );
        assert_eq!(r.config.program_id.to_string(), DEFAULT_PROGRAM_ID);
        assert_eq!(r.config.log_level, "info");
        assert_eq!(r.config.commitment, "confirmed");
        assert_eq!(r.sources.rpc_url, Source::Default);
        assert_eq!(r.sources.ws_url, None);
        assert_eq!(r.solana_cli_config, None);
        assert_eq!(r.keeper_config, None);
    }

    #[test]
    fn default_program_id_is_a_valid_pubkey() {
        assert!(Pubkey::from_str(DEFAULT_PROGRAM_ID).is_ok());
    }

    #[test]
    fn each_layer_overrides_the_one_below() {
        let home = Home::new();
        let cli = home.cli_config("json_rpc_url: http://cli:1\n");
        let file = home.write("keeper.toml", "rpc_url = \"http://file:2\"\n");
        let all_env = home
            .env()
            .with_var(ENV_KEEPER_CONFIG, file.to_str().unwrap())
            .with_var(ENV_RPC_URL, "http://env:3");
        let flags = Flags {
            rpc_url: Some("http://flag:4".into()),
            ..Flags::default()
        };

        let r = resolve_ok(&flags, &all_env);
        assert_eq!(r.config.rpc_url, "http://flag:4");
        assert_eq!(r.sources.rpc_url, Source::Flag("--rpc-url"));

        let r = resolve_ok(&Flags::default(), &all_env);
        assert_eq!(r.config.rpc_url, "http://env:3");
        assert_eq!(r.sources.rpc_url, Source::Env(ENV_RPC_URL));

        let file_env = home
            .env()
            .with_var(ENV_KEEPER_CONFIG, file.to_str().unwrap());
        let r = resolve_ok(&Flags::default(), &file_env);
        assert_eq!(r.config.rpc_url, "http://file:2");
        assert_eq!(r.sources.rpc_url, Source::KeeperConfig(file.clone()));
        assert_eq!(r.keeper_config, Some(file));

        let r = resolve_ok(&Flags::default(), &home.env());
        assert_eq!(r.config.rpc_url, "http://cli:1");
        assert_eq!(r.sources.rpc_url, Source::SolanaCliConfig(cli.clone()));
        assert_eq!(r.solana_cli_config, Some(cli));
    }

    #[test]
    fn layers_merge_field_by_field() {
        let home = Home::new();
        home.cli_config("json_rpc_url: https://cli.example\ncommitment: finalized\n");
        let env = home.env().with_var(ENV_PROGRAM_ID, OTHER_ID);
        let flags = Flags {
            log_level: Some("debug".into()),
            ..Flags::default()
        };
        let r = resolve_ok(&flags, &env);
        assert_eq!(r.config.rpc_url, "https://cli.example");
        assert_eq!(r.config.commitment, "finalized");
        assert_eq!(r.config.program_id.to_string(), OTHER_ID);
        assert_eq!(r.config.log_level, "debug");
        assert_eq!(r.sources.keypair_path, Source::Default);
        assert_eq!(r.sources.program_id, Source::Env(ENV_PROGRAM_ID));
        assert_eq!(r.sources.log_level, Source::Flag("--log-level"));
    }

    #[test]
    fn empty_environment_variable_counts_as_unset() {
        let home = Home::new();
        let env = home.env().with_var(ENV_RPC_URL, "");
        let r = resolve_ok(&Flags::default(), &env);
        assert_eq!(r.sources.rpc_url, Source::Default);
    }

    #[test]
    fn cli_config_is_read_from_solana_cli_config_env() {
        let home = Home::new();
        let path = home.write("elsewhere.yml", "json_rpc_url: https://elsewhere.example\n");
        let env = home
            .env()
            .with_var(ENV_SOLANA_CLI_CONFIG, path.to_str().unwrap());
        let r = resolve_ok(&Flags::default(), &env);
        assert_eq!(r.config.rpc_url, "https://elsewhere.example");
        assert_eq!(r.solana_cli_config, Some(path));
    }

    #[test]
    fn cli_config_flag_beats_env_and_expands_tilde() {
        let home = Home::new();
        home.write("a.yml", "json_rpc_url: https://a.example\n");
        let b = home.write("b.yml", "json_rpc_url: https://b.example\n");
        let env = home.env().with_var(ENV_SOLANA_CLI_CONFIG, "~/a.yml");
        let flags = Flags {
            solana_config: Some("~/b.yml".into()),
            ..Flags::default()
        };
        let r = resolve_ok(&flags, &env);
        assert_eq!(r.config.rpc_url, "https://b.example");
        assert_eq!(r.solana_cli_config, Some(b));
    }

    #[test]
    fn missing_default_cli_config_is_skipped_but_named_one_is_an_error() {
        let home = Home::new();
        resolve_ok(&Flags::default(), &home.env());
        let env = home
            .env()
            .with_var(ENV_SOLANA_CLI_CONFIG, "/nonexistent/config.yml");
        let err = resolve_err(&Flags::default(), &env);
        assert_eq!(
            err,
            "Solana CLI config /nonexistent/config.yml (from SOLANA_CLI_CONFIG) does not exist"
        );
    }

    #[test]
    fn missing_keeper_config_is_an_error_naming_the_flag() {
        let home = Home::new();
        let flags = Flags {
            config: Some("/nonexistent/keeper.toml".into()),
            ..Flags::default()
        };
        let err = resolve_err(&flags, &home.env());
        assert_eq!(
            err,
            "keeper config /nonexistent/keeper.toml (from --config) does not exist"
        );
    }

    #[test]
    fn cli_config_keypair_path_expands_tilde() {
        let home = Home::new();
        home.cli_config("keypair_path: ~/keys/op.json\n");
        let r = resolve_ok(&Flags::default(), &home.env());
        assert_eq!(r.config.keypair_path, home.path().join("keys/op.json"));
    }

    #[test]
    fn keypair_from_env_and_flag_expand_tilde() {
        let home = Home::new();
        let env = home.env().with_var(ENV_KEYPAIR, "~/env.json");
        let r = resolve_ok(&Flags::default(), &env);
        assert_eq!(r.config.keypair_path, home.path().join("env.json"));
        assert_eq!(r.sources.keypair_path, Source::Env(ENV_KEYPAIR));
        let flags = Flags {
            keypair_path: Some("~/flag.json".into()),
            ..Flags::default()
        };
        let r = resolve_ok(&flags, &env);
        assert_eq!(r.config.keypair_path, home.path().join("flag.json"));
        assert_eq!(r.sources.keypair_path, Source::Flag("--keypair"));
    }

    #[test]
    fn keeper_file_relative_keypair_is_relative_to_the_file() {
        let home = Home::new();
        let file = home.write("etc/keeper.toml", "keypair_path = \"keys/op.json\"\n");
        let flags = Flags {
            config: Some(file),
            ..Flags::default()
        };
        let r = resolve_ok(&flags, &home.env());
        assert_eq!(r.config.keypair_path, home.path().join("etc/keys/op.json"));
    }

    #[test]
    fn store_path_defaults_to_the_working_directory() {
        let home = Home::new();
        let r = resolve_ok(&Flags::default(), &home.env());
        assert_eq!(r.config.store_path, Path::new(DEFAULT_STORE_PATH));
        assert_eq!(r.sources.store_path, Source::Default);
        assert_eq!(
            r.fields().last().unwrap(),
            &(
                "store_path",
                "./keeper.sqlite".to_string(),
                "default".to_string()
            )
        );
    }

    #[test]
    fn store_path_layers_file_env_flag() {
        let home = Home::new();
        let file = home.write("etc/keeper.toml", "store_path = \"db/keeper.sqlite\"\n");
        let flags = Flags {
            config: Some(file.clone()),
            ..Flags::default()
        };
        let r = resolve_ok(&flags, &home.env());
        // Relative to the file that names it, like keypair_path.
        assert_eq!(
            r.config.store_path,
            home.path().join("etc/db/keeper.sqlite")
        );
        assert_eq!(r.sources.store_path, Source::KeeperConfig(file));

        let env = home.env().with_var(ENV_STORE, "~/env.sqlite");
        let r = resolve_ok(&flags, &env);
        assert_eq!(r.config.store_path, home.path().join("env.sqlite"));
        assert_eq!(r.sources.store_path, Source::Env(ENV_STORE));

        let flags = Flags {
            store_path: Some("flag.sqlite".into()),
            ..flags
        };
        let r = resolve_ok(&flags, &env);
        assert_eq!(r.config.store_path, Path::new("flag.sqlite"));
        assert_eq!(r.sources.store_path, Source::Flag("--store"));
    }

    #[test]
    fn empty_store_flag_is_rejected() {
        let home = Home::new();
        let flags = Flags {
            store_path: Some(PathBuf::new()),
            ..Flags::default()
        };
        let err = Config::resolve(&flags, &home.env()).unwrap_err();
        assert_eq!(err.kind(), "invalid_value");
        assert_eq!(
            err.to_string(),
            r#"invalid store_path "" from --store: expected a file path"#
        );
    }

    #[test]
    fn keeper_file_sets_every_field() {
        let home = Home::new();
        let file = home.write(
            "keeper.toml",
            &format!(
                "# operator config\nrpc_url = \"https://rpc.example\"\nws_url = \
                 \"wss://ws.example\"\nkeypair_path = \"/keys/op.json\"\nprogram_id = \
                 \"{OTHER_ID}\"\nlog_level = \"keeper=debug,warn\"\ncommitment = \"processed\"\n\
                 store_path = \"/var/lib/keeper/keeper.sqlite\"\n"
            ),
        );
        let env = home
            .env()
            .with_var(ENV_KEEPER_CONFIG, file.to_str().unwrap());
        let r = resolve_ok(&Flags::default(), &env);
        let src = Source::KeeperConfig(file);
        assert_eq!(
            r.config,
            Config {
                rpc_url: "https://rpc.example".into(),
                ws_url: Some("wss://ws.example".into()),
                keypair_path: "/keys/op.json".into(),
                program_id: Pubkey::from_str(OTHER_ID).unwrap(),
                log_level: "keeper=debug,warn".into(),
                commitment: "processed".into(),
                store_path: "/var/lib/keeper/keeper.sqlite".into(),
                daemon: DaemonConfig {
                    health_addr: Some(DEFAULT_HEALTH_ADDR),
                    ..DaemonConfig::default()
                },
            }
        );
        assert_eq!(
            r.sources,
            Sources {
                rpc_url: src.clone(),
                ws_url: Some(src.clone()),
                keypair_path: src.clone(),
                program_id: src.clone(),
                log_level: src.clone(),
                commitment: src.clone(),
                store_path: src,
                daemon: daemon_settings(&r.config.daemon)
                    .into_iter()
                    .map(|(key, _)| (key, Source::Default))
                    .collect(),
            }
        );
    }

    #[test]
    fn unknown_key_in_keeper_file_is_an_error_naming_it() {
        let home = Home::new();
        let file = home.write("keeper.toml", "rpc_ur = \"http://x\"\n");
        let flags = Flags {
            config: Some(file.clone()),
            ..Flags::default()
        };
        let err = Config::resolve(&flags, &home.env()).unwrap_err();
        assert_eq!(err.kind(), "bad_keeper_config");
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            chain.starts_with(&format!("keeper config {} is invalid", file.display())),
            "{chain}"
        );
        assert!(chain.contains("unknown field `rpc_ur`"), "{chain}");
    }

    // The [daemon] table.

    /// A keeper file holding `text`, named by `--config`.
    fn config_flag(home: &Home, text: &str) -> (PathBuf, Flags) {
        let file = home.write("keeper.toml", text);
        let flags = Flags {
            config: Some(file.clone()),
            ..Flags::default()
        };
        (file, flags)
    }

    /// The error, with its source when it has one.
    fn error_chain(err: &ConfigError) -> String {
        match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        }
    }

    #[test]
    fn without_a_daemon_table_the_daemon_runs_on_defaults_and_the_run_health_addr() {
        let home = Home::new();
        let r = resolve_ok(&Flags::default(), &home.env());
        assert_eq!(
            r.config.daemon,
            DaemonConfig {
                health_addr: Some("127.0.0.1:9464".parse().unwrap()),
                ..DaemonConfig::default()
            }
        );
        assert!(
            r.sources.daemon.values().all(|s| *s == Source::Default),
            "{:?}",
            r.sources.daemon
        );
    }

    #[test]
    fn daemon_table_in_keeper_file_is_used_with_its_sources() {
        let home = Home::new();
        let (file, flags) = config_flag(
            &home,
            "rpc_url = \"http://file:2\"\n\
             [daemon]\nworkers = 8\ntick_ms = 250\nhealth_addr = \"0.0.0.0:9100\"\n\
             [daemon.leases]\nlease_slots = 3000\n\
             [daemon.degradation]\nwindow_ms = 30000\n\
             [daemon.builder.compute]\nfee_percentile = 90\n",
        );
        let r = resolve_ok(&flags, &home.env());
        let defaults = DaemonConfig::default();
        let mut expected = DaemonConfig {
            workers: 8,
            tick_ms: 250,
            health_addr: Some("0.0.0.0:9100".parse().unwrap()),
            ..defaults.clone()
        };
        expected.leases.lease_slots = 3_000;
        expected.degradation.window = std::time::Duration::from_secs(30);
        expected.builder.compute.fee_percentile = 90;
        assert_eq!(r.config.daemon, expected);

        let src = Source::KeeperConfig(file);
        let from_file = [
            "daemon.workers",
            "daemon.tick_ms",
            "daemon.health_addr",
            "daemon.leases.lease_slots",
            "daemon.degradation.window_ms",
            "daemon.builder.compute.fee_percentile",
        ];
        for (key, source) in &r.sources.daemon {
            let want = if from_file.contains(&key.as_str()) {
                &src
            } else {
                &Source::Default
            };
            assert_eq!(source, want, "source of {key}");
        }
        let rows = r.daemon_fields();
        let row = |key: &str| rows.iter().find(|(k, ..)| k == key).cloned().unwrap();
        assert_eq!(
            row("daemon.leases.lease_slots"),
            (
                "daemon.leases.lease_slots".into(),
                "3000".into(),
                src.to_string()
            )
        );
        assert_eq!(
            row("daemon.leases.renew_below_slots"),
            (
                "daemon.leases.renew_below_slots".into(),
                "500".into(),
                "default".into()
            )
        );
    }

    #[test]
    fn every_daemon_setting_shown_can_be_set_in_the_file() {
        // Writes every setting `keeper config` shows, with values other than the
        // defaults, back into a file: each key is accepted and read from the file.
        let mut custom = DaemonConfig {
            workers: 3,
            tick_ms: 7,
            reconcile_ms: 9_000,
            confirm_ms: 300,
            replay_ms: 900,
            drain_ms: 0,
            health_addr: Some("127.0.0.2:1".parse().unwrap()),
            ..DaemonConfig::default()
        };
        custom.builder.lease_ttl = std::time::Duration::from_secs(5);
        custom.builder.compute.max_unit_price = 5;
        custom.leases.renew_below_slots = 10;
        custom.executor.max_retries = 0;
        custom.degradation.maintenance_above = 0.75;
        let mut table = toml::Table::new();
        table.insert("daemon".into(), toml::Value::try_from(&custom).unwrap());
        let home = Home::new();
        let (file, flags) = config_flag(&home, &toml::to_string(&table).unwrap());

        let r = resolve_ok(&flags, &home.env());
        assert_eq!(r.config.daemon, custom);
        let rows = r.daemon_fields();
        assert_eq!(rows.len(), r.sources.daemon.len());
        assert!(rows.len() >= 30, "{rows:?}");
        let src = Source::KeeperConfig(file).to_string();
        for (key, _, source) in &rows {
            assert_eq!(source, &src, "source of {key}");
        }
    }

    #[test]
    fn unknown_key_in_daemon_table_is_an_error_naming_its_full_path() {
        let home = Home::new();
        let (file, flags) = config_flag(&home, "[daemon]\nworkers = 4\ntick_msx = 5\n");
        let err = Config::resolve(&flags, &home.env()).unwrap_err();
        assert_eq!(err.kind(), "bad_keeper_config");
        assert_eq!(
            err.to_string(),
            format!(
                "keeper config {} is invalid at daemon.tick_msx",
                file.display()
            )
        );
        let chain = error_chain(&err);
        assert!(chain.contains("line 3, column 1"), "{chain}");
        assert!(chain.contains("unknown field `tick_msx`"), "{chain}");

        for (text, key) in [
            (
                "[daemon.leases]\nlease_slotz = 1\n",
                "daemon.leases.lease_slotz",
            ),
            ("[daemon.leasez]\nlease_slots = 1\n", "daemon.leasez"),
            (
                "[daemon]\nbuilder = { compute = { fee_percentil = 5 } }\n",
                "daemon.builder.compute.fee_percentil",
            ),
            (
                "daemon.executor.max_retry = 1\n",
                "daemon.executor.max_retry",
            ),
        ] {
            let (file, flags) = config_flag(&home, text);
            let err = Config::resolve(&flags, &home.env()).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("keeper config {} is invalid at {key}", file.display()),
                "{text}"
            );
        }
    }

    #[test]
    fn wrong_type_in_daemon_table_is_an_error_naming_its_full_path() {
        let home = Home::new();
        for (text, key, reason) in [
            (
                "[daemon]\nworkers = \"many\"\n",
                "daemon.workers",
                "invalid type: string \"many\", expected usize",
            ),
            (
                "[daemon]\nexecutor = { max_retries = -1 }\n",
                "daemon.executor.max_retries",
                "invalid value: integer `-1`, expected u32",
            ),
            (
                "[daemon]\nhealth_addr = \"localhost\"\n",
                "daemon.health_addr",
                "invalid socket address syntax",
            ),
            (
                "[daemon]\nleases = 5\n",
                "daemon.leases",
                "invalid type: integer `5`",
            ),
        ] {
            let (file, flags) = config_flag(&home, text);
            let err = Config::resolve(&flags, &home.env()).unwrap_err();
            assert_eq!(err.kind(), "bad_keeper_config");
            let chain = error_chain(&err);
            assert!(
                chain.starts_with(&format!(
                    "keeper config {} is invalid at {key}: TOML parse error at line 2",
                    file.display()
                )),
                "{chain}"
            );
            assert!(chain.contains(reason), "{chain}");
        }
    }

    #[test]
    fn zero_workers_in_keeper_file_is_refused_naming_daemon_workers_and_the_file() {
        let home = Home::new();
        let (file, flags) = config_flag(&home, "[daemon]\nworkers = 0\n");
        let err = Config::resolve(&flags, &home.env()).unwrap_err();
        assert_eq!(err.kind(), "invalid_value");
        assert_eq!(
            err.to_string(),
            format!(
                r#"invalid daemon.workers "0" from keeper config {}: expected 1 to 4096"#,
                file.display()
            )
        );
    }

    #[test]
    fn bad_nested_daemon_values_are_refused_naming_key_and_layer() {
        let home = Home::new();
        let (file, flags) = config_flag(
            &home,
            "[daemon.degradation]\ndegraded_above = 0.7\nmaintenance_above = 0.5\n",
        );
        assert_eq!(
            resolve_err(&flags, &home.env()),
            format!(
                "invalid daemon.degradation.degraded_above \"0.7\" from keeper config {}: \
                 degradation thresholds must satisfy 0 <= degraded_above (0.7) <= \
                 maintenance_above (0.5) < 1",
                file.display()
            )
        );

        let (file, flags) = config_flag(&home, "[daemon]\nconfirm_ms = 0\n");
        assert_eq!(
            resolve_err(&flags, &home.env()),
            format!(
                r#"invalid daemon.confirm_ms "0" from keeper config {}: expected at least 1"#,
                file.display()
            )
        );

        // The bad value is the default, made bad by what the file set beside it.
        let (_, flags) = config_flag(&home, "[daemon.leases]\nlease_slots = 100\n");
        assert_eq!(
            resolve_err(&flags, &home.env()),
            "invalid daemon.leases.renew_below_slots \"500\" from default: expected less \
             than daemon.leases.lease_slots (100), or every pass renews"
        );
    }

    #[test]
    fn workers_and_health_addr_flags_override_the_file_only_when_given() {
        let home = Home::new();
        let (file, flags) = config_flag(
            &home,
            "[daemon]\nworkers = 8\nhealth_addr = \"0.0.0.0:9100\"\n",
        );
        let src = Source::KeeperConfig(file);
        let r = resolve_ok(&flags, &home.env());
        assert_eq!(r.config.daemon.workers, 8);
        assert_eq!(r.sources.daemon["daemon.workers"], src);

        let env = home.env().with_var(ENV_WORKERS, "4");
        let r = resolve_ok(&flags, &env);
        assert_eq!(r.config.daemon.workers, 4);
        assert_eq!(r.sources.daemon["daemon.workers"], Source::Env(ENV_WORKERS));

        let flags = Flags {
            workers: Some(2),
            ..flags
        };
        let r = resolve_ok(&flags, &env);
        assert_eq!(r.config.daemon.workers, 2);
        assert_eq!(
            r.sources.daemon["daemon.workers"],
            Source::Flag("--workers")
        );
        // Not given: the file's address stays.
        assert_eq!(
            r.config.daemon.health_addr,
            Some("0.0.0.0:9100".parse().unwrap())
        );
        assert_eq!(r.sources.daemon["daemon.health_addr"], src);

        let flags = Flags {
            health_addr: Some("127.0.0.1:0".parse().unwrap()),
            ..flags
        };
        let r = resolve_ok(&flags, &env);
        assert_eq!(
            r.config.daemon.health_addr,
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            r.sources.daemon["daemon.health_addr"],
            Source::Flag("--health-addr")
        );
    }

    #[test]
    fn a_flag_replaces_a_bad_file_value_before_validation() {
        let home = Home::new();
        let (_, flags) = config_flag(&home, "[daemon]\nworkers = 0\n");
        let flags = Flags {
            workers: Some(1),
            ..flags
        };
        assert_eq!(resolve_ok(&flags, &home.env()).config.daemon.workers, 1);

        let flags = Flags {
            workers: Some(0),
            ..Flags::default()
        };
        assert_eq!(
            resolve_err(&flags, &home.env()),
            r#"invalid daemon.workers "0" from --workers: expected 1 to 4096"#
        );
    }

    #[test]
    fn bad_daemon_environment_values_name_the_variable() {
        let home = Home::new();
        let env = home.env().with_var(ENV_WORKERS, "lots");
        assert_eq!(
            resolve_err(&Flags::default(), &env),
            r#"invalid daemon.workers "lots" from KEEPER_WORKERS: expected a whole number"#
        );
        let env = home.env().with_var(ENV_HEALTH_ADDR, "9464");
        assert_eq!(
            resolve_err(&Flags::default(), &env),
            r#"invalid daemon.health_addr "9464" from KEEPER_HEALTH_ADDR: expected an IP address and port, such as 127.0.0.1:9464"#
        );
        let env = home.env().with_var(ENV_HEALTH_ADDR, "0.0.0.0:80");
        let r = resolve_ok(&Flags::default(), &env);
        assert_eq!(
            r.config.daemon.health_addr,
            Some("0.0.0.0:80".parse().unwrap())
        );
    }

    #[test]
    fn wrong_type_in_keeper_file_is_an_error() {
        let home = Home::new();
        let file = home.write("keeper.toml", "rpc_url = 8899\n");
        let flags = Flags {
            config: Some(file),
            ..Flags::default()
        };
        let err = Config::resolve(&flags, &home.env()).unwrap_err();
        assert!(err.to_string().ends_with(" is invalid at rpc_url"), "{err}");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("rpc_url"), "{source}");
    }

    #[test]
    fn ws_url_from_a_lower_layer_than_rpc_url_is_replaced_by_derivation() {
        let home = Home::new();
        home.cli_config("json_rpc_url: https://cli.example\nwebsocket_url: wss://cli.example\n");
        let r = resolve_ok(&Flags::default(), &home.env());
        assert_eq!(r.config.ws_url.as_deref(), Some("wss://cli.example"));

        let flags = Flags {
            rpc_url: Some("http://127.0.0.1:9000".into()),
            ..Flags::default()
        };
        let r = resolve_ok(&flags, &home.env());
        assert_eq!(r.config.ws_url, None);
        assert_eq!(r.sources.ws_url, None);
        assert_eq!(r.config.websocket_url(), "ws://127.0.0.1:9001");
        let fields = r.fields();
        assert_eq!(
            fields[1],
            (
                "ws_url",
                "ws://127.0.0.1:9001".into(),
                "derived from rpc_url".into()
            )
        );
    }

    #[test]
    fn ws_url_flag_is_kept_with_any_rpc_url() {
        let home = Home::new();
        let env = home.env().with_var(ENV_RPC_URL, "https://env.example");
        let flags = Flags {
            ws_url: Some("wss://flag.example".into()),
            ..Flags::default()
        };
        let r = resolve_ok(&flags, &env);
        assert_eq!(r.config.websocket_url(), "wss://flag.example");
        assert_eq!(r.sources.ws_url, Some(Source::Flag("--ws-url")));
    }

    #[test]
    fn rpc_url_monikers_expand() {
        let home = Home::new();
        let flags = Flags {
            rpc_url: Some("devnet".into()),
            ..Flags::default()
        };
        let r = resolve_ok(&flags, &home.env());
        assert_eq!(r.config.rpc_url, "https://api.devnet.solana.com");
        assert_eq!(r.config.websocket_url(), "wss://api.devnet.solana.com");
    }

    #[test]
    fn websocket_derivation_matches_the_solana_cli() {
        assert_eq!(
            websocket_url_for("http://127.0.0.1:8899").as_deref(),
            Some("ws://127.0.0.1:8900")
        );
        assert_eq!(
            websocket_url_for("https://rpc.example/path?k=1").as_deref(),
            Some("wss://rpc.example/path?k=1")
        );
        assert_eq!(
            websocket_url_for("http://[::1]:8899").as_deref(),
            Some("ws://[::1]:8900")
        );
        assert_eq!(websocket_url_for("ftp://x"), None);
    }

    // Validation: each error names the field, the value and the layer.

    #[test]
    fn bad_rpc_url_from_flag_names_field_and_flag() {
        let home = Home::new();
        let flags = Flags {
            rpc_url: Some("ftp://x".into()),
            ..Flags::default()
        };
        let err = Config::resolve(&flags, &home.env()).unwrap_err();
        assert_eq!(err.kind(), "invalid_value");
        assert_eq!(
            err.to_string(),
            r#"invalid rpc_url "ftp://x" from --rpc-url: expected http(s) URL"#
        );
    }

    #[test]
    fn bad_rpc_url_from_cli_config_names_the_file() {
        let home = Home::new();
        let cli = home.cli_config("json_rpc_url: localhost:8899\n");
        let err = resolve_err(&Flags::default(), &home.env());
        assert_eq!(
            err,
            format!(
                r#"invalid rpc_url "localhost:8899" from Solana CLI config {}: expected http(s) URL"#,
                cli.display()
            )
        );
    }

    #[test]
    fn rpc_url_without_host_or_with_bad_port_is_rejected() {
        let home = Home::new();
        for (url, reason) in [
            ("http://", "expected http(s) URL with a host"),
            (
                "http://h:99999",
                "expected http(s) URL with a port from 0 to 65535",
            ),
            ("http://a b", "expected http(s) URL, found whitespace"),
        ] {
            let env = home.env().with_var(ENV_RPC_URL, url);
            assert_eq!(
                resolve_err(&Flags::default(), &env),
                format!("invalid rpc_url {url:?} from KEEPER_RPC_URL: {reason}")
            );
        }
    }

    #[test]
    fn bad_ws_url_names_field_and_layer() {
        let home = Home::new();
        let env = home.env().with_var(ENV_WS_URL, "http://x");
        assert_eq!(
            resolve_err(&Flags::default(), &env),
            r#"invalid ws_url "http://x" from KEEPER_WS_URL: expected ws(s) URL"#
        );
    }

    #[test]
    fn bad_program_id_names_field_and_layer() {
        let home = Home::new();
        let env = home.env().with_var(ENV_PROGRAM_ID, "abc");
        let err = Config::resolve(&Flags::default(), &env).unwrap_err();
        assert_eq!(err.kind(), "invalid_program_id");
        assert_eq!(
            err.to_string(),
            r#"program_id "abc" from KEEPER_PROGRAM_ID is not a base58 public key"#
        );
    }

    #[test]
    fn bad_log_level_names_field_and_layer() {
        let home = Home::new();
        let flags = Flags {
            log_level: Some("verbose".into()),
            ..Flags::default()
        };
        let err = resolve_err(&flags, &home.env());
        assert!(
            err.starts_with(r#"invalid log_level "verbose" from --log-level: "#),
            "{err}"
        );
        let env = home.env().with_var(ENV_LOG, "keeper=loud");
        let err = resolve_err(&Flags::default(), &env);
        assert!(
            err.starts_with(r#"invalid log_level "keeper=loud" from KEEPER_LOG: "#),
            "{err}"
        );
    }

    #[test]
    fn bad_commitment_names_field_and_layer() {
        let home = Home::new();
        let cli = home.cli_config("commitment: max\n");
        assert_eq!(
            resolve_err(&Flags::default(), &home.env()),
            format!(
                r#"invalid commitment "max" from Solana CLI config {}: expected processed, confirmed or finalized"#,
                cli.display()
            )
        );
    }

    #[test]
    fn signer_uri_keypair_is_rejected() {
        let home = Home::new();
        let cli = home.cli_config("keypair_path: usb://ledger?key=0\n");
        let err = resolve_err(&Flags::default(), &home.env());
        assert!(
            err.starts_with(&format!(
                r#"invalid keypair_path "usb://ledger?key=0" from Solana CLI config {}: "#,
                cli.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn empty_keypair_flag_is_rejected() {
        let home = Home::new();
        let flags = Flags {
            keypair_path: Some(PathBuf::new()),
            ..Flags::default()
        };
        assert_eq!(
            resolve_err(&flags, &home.env()),
            r#"invalid keypair_path "" from --keypair: expected a file path"#
        );
    }

    // The Solana CLI config parser.

    #[test]
    fn cli_config_parses_what_solana_config_set_writes() {
        let text = "---\n\
            json_rpc_url: https://api.devnet.solana.com\n\
            websocket_url: ''\n\
            keypair_path: /home/op/.config/solana/id.json\n\
            address_labels:\n  \
              '11111111111111111111111111111111': System Program\n\
            commitment: confirmed\n";
        let c = SolanaCliConfig::parse(text).unwrap();
        assert_eq!(
            c,
            SolanaCliConfig {
                json_rpc_url: Some("https://api.devnet.solana.com".into()),
                websocket_url: None,
                keypair_path: Some("/home/op/.config/solana/id.json".into()),
                commitment: Some("confirmed".into()),
            }
        );
    }

    #[test]
    fn cli_config_handles_quotes_and_comments() {
        let text = "# a comment\n\
            json_rpc_url: \"http://h:1/a#b\"   # trailing comment\n\
            websocket_url: 'ws://it''s' # comment\n\
            keypair_path: /keys/id#1.json # comment\n\
            commitment: finalized#not-a-comment\n";
        let c = SolanaCliConfig::parse(text).unwrap();
        assert_eq!(c.json_rpc_url.as_deref(), Some("http://h:1/a#b"));
        assert_eq!(c.websocket_url.as_deref(), Some("ws://it's"));
        assert_eq!(c.keypair_path.as_deref(), Some("/keys/id#1.json"));
        assert_eq!(c.commitment.as_deref(), Some("finalized#not-a-comment"));
    }

    #[test]
    fn cli_config_null_empty_and_indented_values_are_unset() {
        let text = "json_rpc_url: ~\nwebsocket_url: \"\"\nkeypair_path:\ncommitment: null\n  \
                    json_rpc_url: http://nested\n";
        assert_eq!(
            SolanaCliConfig::parse(text).unwrap(),
            SolanaCliConfig::default()
        );
    }

    #[test]
    fn cli_config_handles_crlf_bom_and_escapes() {
        let text = "\u{feff}json_rpc_url: \"http://h/\\\"q\\\"\"\r\ncommitment: processed\r\n";
        let c = SolanaCliConfig::parse(text).unwrap();
        assert_eq!(c.json_rpc_url.as_deref(), Some("http://h/\"q\""));
        assert_eq!(c.commitment.as_deref(), Some("processed"));
    }

    #[test]
    fn cli_config_unterminated_quote_is_an_error_with_line() {
        let err = SolanaCliConfig::parse("commitment: confirmed\njson_rpc_url: \"http://x\n")
            .unwrap_err();
        assert_eq!(err.to_string(), "line 2: unterminated double-quoted value");
        // ...but only for keys the keeper reads.
        assert!(SolanaCliConfig::parse("other: 'broken\n").is_ok());
    }

    #[test]
    fn bad_cli_config_file_error_names_the_file() {
        let home = Home::new();
        let cli = home.cli_config("keypair_path: 'x\n");
        let err = Config::resolve(&Flags::default(), &home.env()).unwrap_err();
        assert_eq!(err.kind(), "bad_solana_cli_config");
        assert_eq!(
            err.to_string(),
            format!(
                "Solana CLI config {}: line 1: unterminated single-quoted value",
                cli.display()
            )
        );
    }

    #[test]
    fn tilde_expansion() {
        let home = Path::new("/home/op");
        assert_eq!(expand_tilde(Path::new("~"), Some(home)), home);
        assert_eq!(
            expand_tilde(Path::new("~/a/b"), Some(home)),
            home.join("a/b")
        );
        assert_eq!(
            expand_tilde(Path::new("~other/a"), Some(home)),
            Path::new("~other/a")
        );
        assert_eq!(
            expand_tilde(Path::new("/a/~"), Some(home)),
            Path::new("/a/~")
        );
        assert_eq!(expand_tilde(Path::new("~/a"), None), Path::new("~/a"));
    }

    #[test]
    fn without_home_the_default_cli_config_is_not_read() {
        let r = resolve_ok(&Flags::default(), &Environment::empty());
        assert_eq!(r.solana_cli_config, None);
        assert_eq!(r.config.keypair_path, Path::new(DEFAULT_KEYPAIR_PATH));
    }
}
