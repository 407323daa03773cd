//! The `keeper` binary: parses flags, resolves the configuration, starts
//! logging and runs one subcommand. It owns presentation and exit codes only;
//! everything it does is in the library. `anyhow` is used here and nowhere else.

use std::{io::IsTerminal, net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use keeper::{config, Config, Environment, Flags, Resolved};

/// The subcommands that only read and print (part of this binary, not of the library).
mod commands;
use solana_sdk::signer::Signer;

const ENV_HELP: &str = "\
Each setting is taken from, lowest first: built-in defaults, the Solana CLI config
(~/.config/solana/cli/config.yml or $SOLANA_CLI_CONFIG), the keeper config file
(--config or $KEEPER_CONFIG, whose [daemon] table holds the daemon's settings),
the environment, then flags.

Environment:
  KEEPER_RPC_URL, KEEPER_WS_URL, KEEPER_KEYPAIR, KEEPER_PROGRAM_ID, KEEPER_LOG,
  KEEPER_COMMITMENT, KEEPER_STORE, KEEPER_WORKERS, KEEPER_HEALTH_ADDR, KEEPER_CONFIG,
  SOLANA_CLI_CONFIG";

/// Executes the scheduled threads of the thread program on Solana.
#[derive(Debug, Parser)]
#[command(
    name = "keeper",
    version,
    subcommand_required = true,
    arg_required_else_help = true,
    after_help = ENV_HELP
)]
struct Cli {
    /// JSON-RPC URL, or a moniker: mainnet-beta, devnet, testnet, localhost (m, d, t, l)
    /// [env: KEEPER_RPC_URL]
    #[arg(
        short = 'u',
        long,
        visible_alias = "url",
        global = true,
        value_name = "URL"
    )]
    rpc_url: Option<String>,

    /// Websocket URL [default: derived from the RPC URL] [env: KEEPER_WS_URL]
    #[arg(long, visible_alias = "ws", global = true, value_name = "URL")]
    ws_url: Option<String>,

    /// Keeper keypair file [default: ~/.config/solana/id.json] [env: KEEPER_KEYPAIR]
    #[arg(short = 'k', long, global = true, value_name = "PATH")]
    keypair: Option<PathBuf>,

    /// Thread program id [env: KEEPER_PROGRAM_ID]
    #[arg(long, global = true, value_name = "PUBKEY")]
    program_id: Option<String>,

    /// Commitment: processed, confirmed or finalized [env: KEEPER_COMMITMENT]
    #[arg(long, global = true, value_name = "LEVEL")]
    commitment: Option<String>,

    /// Keeper config file (TOML) [env: KEEPER_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Solana CLI config file [default: ~/.config/solana/cli/config.yml] [env: SOLANA_CLI_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    solana_config: Option<PathBuf>,

    /// Log filter: a level or target=level directives [default: info] [env: KEEPER_LOG]
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,

    /// SQLite store of executions and dead letters [default: ./keeper.sqlite]
    /// [env: KEEPER_STORE]
    #[arg(long, global = true, value_name = "PATH")]
    store: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the resolved configuration (the daemon's settings too), where each
    /// value came from, and the keeper's public key (after loading and checking the
    /// keypair)
    Config,
    /// Explain why a thread did or did not run, and what happens next: its state, next
    /// due time, runway, nonce and lease, and with --store the keeper's executions of it;
    /// ends with a one-line verdict. Reads only
    Explain {
        /// The thread's address
        thread: String,
        /// text, or json
        #[arg(long, default_value = "text", value_name = "FORMAT")]
        output: OutputFormat,
    },
    /// Inspect and manage the dead-letter queue: executions that ran out of
    /// retries, in the store file (--store)
    Dlq {
        /// The fleet's dead-letter stream on NATS (daemon.fleet) instead of the store
        #[arg(long)]
        fleet: bool,
        #[command(subcommand)]
        action: DlqCommand,
    },
    /// Run the keeper daemon against the RPC URL: discover threads, execute each due
    /// thread once, replay and dead-letter, serve health and metrics. Stops cleanly on
    /// SIGINT, SIGTERM or SIGHUP within daemon.shutdown_ms (in-flight executions finish
    /// or stay persisted; leases are handed back); a second signal exits at once.
    Run {
        /// Further RPC URLs to fail over to, in order, when the first is unavailable
        #[arg(long = "fallback-url", value_name = "URL")]
        fallback_urls: Vec<String>,
        /// Address for /health, /ready and /metrics [default: daemon.health_addr in
        /// the keeper config, else 127.0.0.1:9464] [env: KEEPER_HEALTH_ADDR]
        #[arg(long, value_name = "ADDR")]
        health_addr: Option<std::net::SocketAddr>,
        /// Executions worked on at once [default: daemon.workers in the keeper config,
        /// else 16] [env: KEEPER_WORKERS]
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
    },
    /// Start an in-process bank with the thread program, create threads of every
    /// trigger kind (durable and not), run the real keeper pipeline against it while
    /// the clock moves, and print each execution and a summary. Needs no validator,
    /// no keypair and no network. SIGINT, SIGTERM or SIGHUP stops it early, cleanly; a
    /// second signal exits at once.
    Sandbox {
        /// How long to run, in seconds of wall-clock time
        #[arg(long, default_value_t = 20, value_name = "SECONDS")]
        seconds: u64,
        /// Store file (default: in memory, gone afterwards); the global --store works too
        #[arg(long = "sandbox-store", value_name = "PATH")]
        sandbox_store: Option<PathBuf>,
        /// Where the dashboard, /health, /ready and /metrics are served; the address is
        /// printed (default: a free port on 127.0.0.1, so sandboxes never collide)
        #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
        health_addr: SocketAddr,
        /// A file holding the token that allows the dashboard's actions (retry or purge a
        /// dead letter); read-only without one
        #[arg(long, value_name = "PATH")]
        dashboard_token_file: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// List dead-lettered executions, newest first
    List {
        /// Show at most this many entries
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
    },
    /// Show one entry in full: signature, thread, reason, attempts, priority, times
    Show {
        /// Dead-letter id, as listed
        id: i64,
    },
    /// Put an entry back into replay (pending, retry count 0, due now); the running
    /// keeper picks it up within one replay tick
    Retry {
        /// Dead-letter id, as listed
        id: i64,
    },
    /// Delete an entry and its execution, or every entry with --all
    #[command(group(clap::ArgGroup::new("target").required(true).args(["id", "all"])))]
    Purge {
        /// Dead-letter id, as listed
        id: Option<i64>,
        /// Delete every entry
        #[arg(long)]
        all: bool,
    },
}

impl Cli {
    fn flags(&self) -> Flags {
        let (workers, health_addr) = match self.command {
            Command::Run {
                workers,
                health_addr,
                ..
            } => (workers, health_addr),
            _ => (None, None),
        };
        Flags {
            rpc_url: self.rpc_url.clone(),
            ws_url: self.ws_url.clone(),
            keypair_path: self.keypair.clone(),
            program_id: self.program_id.clone(),
            log_level: self.log_level.clone(),
            commitment: self.commitment.clone(),
            config: self.config.clone(),
            solana_config: self.solana_config.clone(),
            store_path: self.store.clone(),
            workers,
            health_addr,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    refuse_ignored_flags(cli)?;
    let resolved = Config::resolve(&cli.flags(), &Environment::from_process())?;
    init_tracing(&resolved.config.log_level)?;
    tracing::debug!(
        solana_cli_config = ?resolved.solana_cli_config,
        keeper_config = ?resolved.keeper_config,
        "configuration resolved"
    );
    match cli.command {
        Command::Config => print_config(&resolved),
        Command::Dlq { fleet, ref action } => commands::dlq(&resolved, fleet, action),
        Command::Explain { ref thread, output } => {
            commands::explain(&resolved, cli.store.is_some(), thread, output)
        }
        Command::Run {
            ref fallback_urls, ..
        } => run_daemon(&resolved, fallback_urls),
        Command::Sandbox {
            seconds,
            ref sandbox_store,
            health_addr,
            ref dashboard_token_file,
        } => commands::sandbox(commands::SandboxRun {
            seconds,
            store: sandbox_store_of(cli, sandbox_store)?,
            health_addr,
            token_file: dashboard_token_file.clone(),
        }),
    }
}

/// Global flags a subcommand would silently ignore are refused instead, naming the
/// flag. The sandbox runs its own in-process bank, program and keypair, so nothing that
/// points at a cluster applies (`--log-level` and `--store` do); `keeper dlq` reads only
/// the store file (`--store`, or `store_path` from `--config`). Only flags are judged:
/// the environment (`KEEPER_RPC_URL`, ...) is ambient, set for the daemon.
fn refuse_ignored_flags(cli: &Cli) -> Result<()> {
    if let (Command::Explain { .. }, Some(_)) = (&cli.command, &cli.ws_url) {
        anyhow::bail!(
            "--ws-url does not apply to `keeper explain`: it reads over JSON-RPC only (-u); drop --ws-url"
        );
    }
    let (command, fix, ignores_config) = match cli.command {
        Command::Sandbox { .. } => (
            "keeper sandbox",
            "it runs its own in-process bank, program and keypair, and talks to no \
             cluster",
            true,
        ),
        Command::Dlq { .. } => (
            "keeper dlq",
            "it reads and changes only the store file (--store)",
            false,
        ),
        Command::Config | Command::Run { .. } | Command::Explain { .. } => return Ok(()),
    };
    let given = [
        ("-u/--rpc-url", cli.rpc_url.is_some()),
        ("--ws-url", cli.ws_url.is_some()),
        ("-k/--keypair", cli.keypair.is_some()),
        ("--program-id", cli.program_id.is_some()),
        ("--commitment", cli.commitment.is_some()),
        ("--config", ignores_config && cli.config.is_some()),
        (
            "--solana-config",
            ignores_config && cli.solana_config.is_some(),
        ),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        anyhow::bail!("{flag} does not apply to `{command}`: {fix}; drop {flag}");
    }
    Ok(())
}

/// The sandbox's store: the global `--store` or `--sandbox-store` (the same file if
/// both are given), else in memory. The environment's `KEEPER_STORE` is the daemon's
/// store and is never used: sandbox executions must not land in it unasked.
fn sandbox_store_of(cli: &Cli, sandbox_store: &Option<PathBuf>) -> Result<Option<PathBuf>> {
    match (&cli.store, sandbox_store) {
        (Some(global), Some(own)) if global != own => anyhow::bail!(
            "--store {} and --sandbox-store {} name different files; give one of them",
            global.display(),
            own.display()
        ),
        (Some(path), _) | (None, Some(path)) => Ok(Some(path.clone())),
        (None, None) => Ok(None),
    }
}

/// Loads the signing keypair and warns, as ssh does, when others can read or change it.
fn load_signing_keypair(path: &std::path::Path) -> Result<solana_sdk::signature::Keypair> {
    let keypair = keeper::load_keypair(path)?;
    if let Some(warning) = keeper::keypair::permission_warning(path) {
        // Printed, not logged: it must show whatever the log filter.
        eprintln!("warning: {warning}");
    }
    Ok(keypair)
}

/// The async runtime and a future that completes on the first stop signal, after
/// `announce` has told the user which one arrived. The signals are registered inside the
/// runtime (tokio needs one) before anything else starts.
fn runtime_with_stop(
    announce: impl FnOnce(&'static str) + Send + 'static,
) -> Result<(
    tokio::runtime::Runtime,
    impl std::future::Future<Output = ()> + Send + 'static,
)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let signals = {
        let _entered = runtime.enter();
        keeper::signals::stop_signals().context("cannot handle the stop signals")?
    };
    Ok((runtime, async move { announce(signals.await) }))
}

/// The configured commitment, parsed.
pub(crate) fn commitment_of(config: &Config) -> Result<solana_commitment_config::CommitmentConfig> {
    config
        .commitment
        .parse()
        .map_err(|e| anyhow::anyhow!("commitment {:?}: {e}", config.commitment))
}

fn run_daemon(resolved: &Resolved, fallback_urls: &[String]) -> Result<()> {
    use keeper::chain::rpc::RpcChain;
    use keeper::chain::Chain;
    use std::sync::Arc;

    let config = &resolved.config;
    let keypair = Arc::new(load_signing_keypair(&config.keypair_path)?);
    if config.program_id != thread::ID {
        anyhow::bail!(
            "program_id {} is not the thread program this keeper was built for ({}); \
             the account layout and instructions would not match",
            config.program_id,
            thread::ID
        );
    }
    let commitment = commitment_of(config)?;
    // Each endpoint pushes account changes through its websocket: the configured one for
    // the primary, the Solana CLI's derivation (port + 1) for the fallbacks.
    let primary = (config.rpc_url.clone(), Some(config.websocket_url()));
    let fallbacks = fallback_urls
        .iter()
        .map(|url| (url.clone(), keeper::config::websocket_url_for(url)));
    let endpoints: Vec<Arc<dyn Chain>> = std::iter::once(primary)
        .chain(fallbacks)
        .map(|(url, ws_url)| {
            let rpc = &config.daemon.rpc;
            let chain = RpcChain::with_limits(url, commitment, rpc.timeout(), rpc.limits());
            let chain = match ws_url {
                Some(ws_url) => chain.with_websocket(ws_url),
                None => chain,
            };
            Arc::new(chain) as Arc<dyn Chain>
        })
        .collect();
    let metrics = keeper::ops::metrics::Metrics::new();
    let chain: Arc<dyn Chain> = Arc::new(
        keeper::chain::failover::FailoverChain::new(
            endpoints,
            keeper::chain::breaker::BreakerConfig::default(),
            Some(metrics.registry()),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    // Before anything can send: one daemon per store, and a store it can write.
    let store = keeper::store::Store::open_exclusive(&config.store_path)?;
    let daemon_config = config.daemon.clone();
    tracing::info!(
        keeper = %keypair.pubkey(),
        rpc = %config.rpc_url,
        store = %config.store_path.display(),
        workers = daemon_config.workers,
        "starting the keeper"
    );
    let (runtime, stop) = runtime_with_stop(|signal| {
        tracing::info!(
            signal,
            "stop requested: stopping cleanly (a second SIGINT or SIGTERM exits at once)"
        )
    })?;
    let summary = runtime.block_on(
        keeper::daemon::Daemon::new(chain, keypair, store, metrics, daemon_config).run(stop),
    )?;
    println!(
        "stopped: {} confirmed, {} pending, {} dead-lettered, {} leases handed back, {} left to expire",
        summary.counts.confirmed,
        summary.counts.pending,
        summary.counts.dead,
        summary.leases_released,
        summary.leases_left.len()
    );
    Ok(())
}

/// Crates that log every RPC of the in-process bank at info; quieted unless the filter
/// names them.
const NOISY: &str = "tarpc=error,solana_runtime=warn,solana_metrics=warn,solana_program_test=warn";

fn init_tracing(filter: &str) -> Result<()> {
    let filter = if filter.contains("tarpc") {
        filter.to_string()
    } else {
        format!("{filter},{NOISY}")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

fn print_config(resolved: &Resolved) -> Result<()> {
    let keypair = load_signing_keypair(&resolved.config.keypair_path)?;
    let mut rows = resolved.fields();
    rows.push((
        "pubkey",
        keypair.pubkey().to_string(),
        "keypair_path".to_string(),
    ));
    let width = rows
        .iter()
        .map(|(_, value, _)| value.len())
        .max()
        .unwrap_or(0);
    for (name, value, source) in &rows {
        println!("{name:<14}{value:<width$}  [{source}]");
    }
    let files: Vec<String> = [
        resolved
            .solana_cli_config
            .as_ref()
            .map(|p| config::Source::SolanaCliConfig(p.clone()).to_string()),
        resolved
            .keeper_config
            .as_ref()
            .map(|p| config::Source::KeeperConfig(p.clone()).to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if files.is_empty() {
        println!("{:<14}none", "files read");
    } else {
        println!("{:<14}{}", "files read", files.join(", "));
    }
    // What `keeper run` would use, keyed as in the keeper config file.
    let daemon = resolved.daemon_fields();
    let name_width = daemon
        .iter()
        .map(|(name, ..)| name.len())
        .max()
        .unwrap_or(0);
    let width = daemon
        .iter()
        .map(|(_, value, _)| value.len())
        .max()
        .unwrap_or(0);
    println!();
    for (name, value, source) in &daemon {
        println!("{name:<name_width$}  {value:<width$}  [{source}]");
    }
    Ok(())
}
