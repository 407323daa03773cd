//! Resolution: reads the config files, layers defaults, the Solana CLI
//! config, the keeper file, the environment and the flags, and validates the
//! result once into a [`Config`] with each field's [`Source`].

use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    net::SocketAddr,
    path::{Path, PathBuf},
    str::FromStr,
};

use solana_sdk::pubkey::Pubkey;

use super::daemon::DaemonConfig;
use super::{
    file::{daemon_settings, entries, key_at, DaemonTable, KeeperFile},
    flag,
    solana_cli::{expand_tilde, SolanaCliConfig},
    url::{check_log_level, check_url},
    Config, ConfigError, Environment, Flags, Resolved, Source, Sources, COMMITMENTS,
    DEFAULT_COMMITMENT, DEFAULT_HEALTH_ADDR, DEFAULT_KEYPAIR_PATH, DEFAULT_LOG_LEVEL,
    DEFAULT_PROGRAM_ID, DEFAULT_RPC_URL, DEFAULT_SOLANA_CLI_CONFIG, DEFAULT_STORE_PATH,
    ENV_COMMITMENT, ENV_HEALTH_ADDR, ENV_KEEPER_CONFIG, ENV_KEYPAIR, ENV_LOG, ENV_PROGRAM_ID,
    ENV_RPC_URL, ENV_SOLANA_CLI_CONFIG, ENV_STORE, ENV_WORKERS, ENV_WS_URL,
};

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

impl Config {
    /// Builds the configuration from every layer and validates it once.
    pub fn resolve(flags: &Flags, env: &Environment) -> Result<Resolved, ConfigError> {
        resolve(flags, env)
    }
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

    // A value TOML cannot write back (an integer above i64::MAX) is missing from
    // `sources`: its origin is still the file when the file set the key.
    let origin_of = |field: &str| {
        sources.get(field).cloned().unwrap_or_else(|| match &file {
            Some((src, keys)) if keys.contains(field) => src.clone(),
            _ => Source::Default,
        })
    };
    daemon.validate().map_err(|e| ConfigError::Invalid {
        field: e.field,
        origin: origin_of(e.field),
        value: e.value,
        reason: e.reason,
    })?;
    Ok((daemon, sources))
}
