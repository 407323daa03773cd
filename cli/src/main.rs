//! The `threads` binary: parses flags, resolves where to connect, runs one command
//! against JSON-RPC and prints its result as text or JSON. It owns presentation and exit
//! codes only (0 done, 1 failed, 2 refused input or bad usage); everything it does is in
//! the library. `anyhow` is used here and nowhere else.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use keeper::chain::rpc::RpcChain;
use keeper::config::Environment;
use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread_cli::commands::{self, CommandError, Owner};
use thread_cli::settings::{GlobalArgs, Settings, SettingsError};
use thread_cli::spec::{self, CreateSpec, RateLimitSpec, UpdateSpec, DEFAULT_MAX_LEASE_SLOTS};
use thread_cli::view::{list_header, ThreadView};
use thread_cli::Refusal;

/// How long one JSON-RPC request may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// Create, inspect, change, fund and delete your threads of the thread program.
#[derive(Debug, Parser)]
#[command(
    name = "threads",
    version,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,

    /// How results are printed
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a thread from a spec file (TOML or JSON; see cli/examples/)
    Create {
        /// The spec file; it is only read
        spec: PathBuf,
    },
    /// List threads by owner
    List {
        /// Whose threads [default: the keypair's public key]
        #[arg(long, value_name = "PUBKEY")]
        owner: Option<String>,
    },
    /// Show a thread: trigger, next due time (UTC and local), runway, lease, durability
    Show { address: String },
    /// Say why a thread did or did not run and what happens next, in one verdict
    /// (paused, cannot pay its fee, not due until ..., due now, ...)
    Explain { address: String },
    /// Stop a thread's executions until it is resumed
    Pause { address: String },
    /// Let a paused thread execute again
    Resume { address: String },
    /// Change a thread's trigger, instructions, fee, rate limit or priority
    Update {
        address: String,
        /// A spec of the changes (TOML or JSON: trigger, instructions, fee_per_exec,
        /// rate_limit, priority); flags override its values
        #[arg(long, value_name = "PATH")]
        spec: Option<PathBuf>,
        /// Lamports paid to the keeper of each execution
        #[arg(long, value_name = "LAMPORTS")]
        fee_per_exec: Option<u64>,
        /// Executions allowed per window (with --window-slots)
        #[arg(long, requires = "window_slots", value_name = "N")]
        max_execs: Option<u32>,
        /// Rate-limit window in slots (with --max-execs)
        #[arg(long, requires = "max_execs", value_name = "SLOTS")]
        window_slots: Option<u64>,
        /// low, medium, high, critical, or default (each keeper's default)
        #[arg(long, value_name = "PRIORITY")]
        priority: Option<String>,
    },
    /// Move lamports of the thread's spare balance back to the owner
    Withdraw {
        address: String,
        /// Lamports to withdraw
        amount: u64,
    },
    /// Close a thread (and its nonce account), returning its lamports to the owner
    Delete { address: String },
    /// Give a thread a durable nonce account of its own (created here)
    MakeDurable {
        address: String,
        /// Longest lease of the nonce authority a keeper may hold
        #[arg(long, value_name = "SLOTS", default_value_t = DEFAULT_MAX_LEASE_SLOTS)]
        max_lease_slots: u64,
    },
    /// Close a thread's nonce account; executions use recent blockhashes again
    MakeNonDurable { address: String },
    /// Move a durable thread to a fresh nonce account (created here)
    RotateNonce { address: String },
    /// End a keeper's lease of the thread's nonce authority now
    RevokeLease { address: String },
}

/// How a run ended badly, for the exit code.
enum Failure {
    Refused(Refusal),
    Failed(anyhow::Error),
}

impl From<CommandError> for Failure {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Refused(refusal) => Failure::Refused(refusal),
            other => Failure::Failed(other.into()),
        }
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Failure::Refused(refusal)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Failed(error)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(refusal)) => {
            eprintln!("refused: {refusal}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<(), Failure> {
    // Inputs first: a bad spec or address is refused before the keypair is opened.
    let command = &cli.command;
    let create_spec: Option<CreateSpec> = match command {
        Command::Create { spec } => Some(spec::load(spec)?),
        _ => None,
    };
    let settings = match cli.global.resolve(&Environment::from_process()) {
        Ok(settings) => settings,
        Err(SettingsError::Refused(refusal)) => return Err(refusal.into()),
        Err(SettingsError::Config(e)) => return Err(anyhow::Error::from(e).into()),
    };
    let chain = RpcChain::new(settings.rpc_url.clone(), settings.commitment, RPC_TIMEOUT);
    let out = Printer(cli.output);
    match command {
        Command::Show { address } => {
            let address = commands::thread_address(address)?;
            out.view(&commands::show(&chain, &address).await?);
        }
        Command::Explain { address } => {
            let address = commands::thread_address(address)?;
            out.explanation(&commands::explain(&chain, &address).await?);
        }
        Command::List { owner } => {
            let owner = match owner {
                Some(text) => spec::pubkey("--owner", text)?,
                None => keypair(&settings)?.pubkey(),
            };
            out.views(&commands::list(&chain, &owner).await?);
        }
        Command::Create { .. } => {
            let keypair = keypair(&settings)?;
            let owner = Owner {
                chain: &chain,
                keypair: &keypair,
            };
            let spec = create_spec.as_ref().context("the spec was read above")?;
            out.written(&commands::create(owner, spec).await?);
        }
        write => {
            let (address, change) = single_thread_write(write)?;
            let keypair = keypair(&settings)?;
            let owner = Owner {
                chain: &chain,
                keypair: &keypair,
            };
            let written = match change {
                Change::Pause => commands::pause(owner, &address).await?,
                Change::Resume => commands::resume(owner, &address).await?,
                Change::Update(spec) => commands::update(owner, &address, &spec).await?,
                Change::Withdraw(amount) => commands::withdraw(owner, &address, amount).await?,
                Change::Delete => commands::delete(owner, &address).await?,
                Change::MakeDurable(slots) => {
                    commands::make_durable(owner, &address, slots).await?
                }
                Change::MakeNonDurable => commands::make_non_durable(owner, &address).await?,
                Change::RotateNonce => commands::rotate_nonce(owner, &address).await?,
                Change::RevokeLease => commands::revoke_lease(owner, &address).await?,
            };
            out.written(&written);
        }
    }
    Ok(())
}

/// A write to one existing thread, its inputs read and checked.
enum Change {
    Pause,
    Resume,
    Update(Box<UpdateSpec>),
    Withdraw(u64),
    Delete,
    MakeDurable(u64),
    MakeNonDurable,
    RotateNonce,
    RevokeLease,
}

fn single_thread_write(command: &Command) -> Result<(Pubkey, Change), Failure> {
    let (address, change) = match command {
        Command::Pause { address } => (address, Change::Pause),
        Command::Resume { address } => (address, Change::Resume),
        Command::Update {
            address,
            spec,
            fee_per_exec,
            max_execs,
            window_slots,
            priority,
        } => {
            let mut update: UpdateSpec = match spec {
                Some(path) => spec::load(path)?,
                None => UpdateSpec::default(),
            };
            update.fee_per_exec = fee_per_exec.or(update.fee_per_exec);
            if let (Some(max_execs), Some(window_slots)) = (max_execs, window_slots) {
                update.rate_limit = Some(RateLimitSpec {
                    max_execs: *max_execs,
                    window_slots: *window_slots,
                });
            }
            update.priority = priority.clone().or(update.priority);
            (address, Change::Update(Box::new(update)))
        }
        Command::Withdraw { address, amount } => (address, Change::Withdraw(*amount)),
        Command::Delete { address } => (address, Change::Delete),
        Command::MakeDurable {
            address,
            max_lease_slots,
        } => (address, Change::MakeDurable(*max_lease_slots)),
        Command::MakeNonDurable { address } => (address, Change::MakeNonDurable),
        Command::RotateNonce { address } => (address, Change::RotateNonce),
        Command::RevokeLease { address } => (address, Change::RevokeLease),
        Command::Create { .. }
        | Command::List { .. }
        | Command::Show { .. }
        | Command::Explain { .. } => {
            return Err(anyhow::anyhow!("not a write to one thread").into())
        }
    };
    Ok((commands::thread_address(address)?, change))
}

fn keypair(settings: &Settings) -> Result<Keypair, Failure> {
    keeper::load_keypair(&settings.keypair_path).map_err(|e| {
        Failure::Failed(anyhow::Error::from(e).context("the owner's keypair (-k/--keypair)"))
    })
}

/// Prints results in the chosen form.
struct Printer(Output);

impl Printer {
    fn view(&self, view: &ThreadView) {
        match self.0 {
            Output::Text => print!("{}", view.to_text()),
            Output::Json => json(view),
        }
    }

    fn explanation(&self, explanation: &keeper::ops::explain::Explanation) {
        match self.0 {
            Output::Text => print!("{}", explanation.to_text()),
            Output::Json => json(explanation),
        }
    }

    fn views(&self, views: &[ThreadView]) {
        match self.0 {
            Output::Text if views.is_empty() => println!("no threads"),
            Output::Text => {
                println!("{}", list_header());
                views.iter().for_each(|view| println!("{}", view.to_row()));
            }
            Output::Json => json(&views),
        }
    }

    fn written(&self, written: &commands::Written) {
        match self.0 {
            Output::Text => println!("{}", written.to_text()),
            Output::Json => json(written),
        }
    }
}

fn json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}
