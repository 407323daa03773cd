//! What the operator asks `localnet` for, as command-line flags, checked before anything
//! starts.

use std::path::PathBuf;

use clap::Parser;

/// Default JSON-RPC port, as `solana-test-validator`'s; PubSub takes the next one.
pub const DEFAULT_RPC_PORT: u16 = 8899;

/// Lamports the keeper's keypair holds at genesis: enough for years of local executions.
pub const KEEPER_LAMPORTS: u64 = 1_000 * LAMPORTS_PER_SOL;

const LAMPORTS_PER_SOL: u64 = 1_000_000_000;

/// A local Solana validator with the thread program, on loopback only.
#[derive(Debug, Parser)]
#[command(name = "localnet", version)]
pub struct Options {
    /// Ledger directory, new or empty; kept on exit. Default: a fresh temporary directory,
    /// removed on exit. A ledger cannot be resumed: the thread program is registered once
    /// the validator runs, so replaying an old ledger would fail its transactions.
    #[arg(long, value_name = "DIR")]
    pub ledger: Option<PathBuf>,

    /// Keep the temporary ledger on exit (its path is printed at start-up).
    #[arg(long)]
    pub keep_ledger: bool,

    /// JSON-RPC port; PubSub listens on the next port. 0 picks two free ports.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_RPC_PORT)]
    pub rpc_port: u16,

    /// Keypair file for the keeper, funded at genesis. Created (mode 0600) if missing.
    /// Default: keeper-keypair.json in the ledger directory.
    #[arg(long, value_name = "PATH")]
    pub keeper_keypair: Option<PathBuf>,

    /// Once serving, write the URLs, program id and keypair path as JSON to this file
    /// (written whole, then renamed into place, so a reader never sees half of it).
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,

    /// Once serving, create example threads over JSON-RPC (an interval thread, a durable
    /// one and a cron one) for a keeper to execute.
    #[arg(long)]
    pub example_threads: bool,
}

impl Options {
    /// The PubSub port that goes with the JSON-RPC port.
    pub fn pubsub_port(&self) -> Option<u16> {
        match self.rpc_port {
            0 => None,
            port => port.checked_add(1),
        }
    }

    /// Checks what can be checked before starting: the port pair fits, a given ledger is
    /// a directory (or can become one), a ready file's directory exists.
    pub fn check(&self) -> Result<(), String> {
        if self.rpc_port != 0 && self.pubsub_port().is_none() {
            return Err(format!(
                "--rpc-port {}: PubSub needs the next port too; choose at most 65534, or 0 \
                 for any free pair",
                self.rpc_port
            ));
        }
        if let Some(ledger) = &self.ledger {
            if ledger.exists() && !ledger.is_dir() {
                return Err(format!(
                    "--ledger {}: not a directory; give a directory (it is created if missing)",
                    ledger.display()
                ));
            }
            if ledger.is_dir() && std::fs::read_dir(ledger).is_ok_and(|mut d| d.next().is_some()) {
                return Err(format!(
                    "--ledger {}: not empty; localnet cannot resume a ledger (its program is \
                     registered after start, so a replay would fail its transactions): give a \
                     new or empty directory",
                    ledger.display()
                ));
            }
            if self.keep_ledger {
                return Err(
                    "--keep-ledger: a --ledger directory is always kept; drop one of the two"
                        .to_string(),
                );
            }
        }
        if let Some(ready) = &self.ready_file {
            let parent = ready.parent().filter(|p| !p.as_os_str().is_empty());
            if parent.is_some_and(|p| !p.is_dir()) {
                return Err(format!(
                    "--ready-file {}: its directory does not exist; create it first",
                    ready.display()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        Options::try_parse_from(std::iter::once("localnet").chain(args.iter().copied()))
            .expect("flags parse")
    }

    #[test]
    fn defaults_are_the_usual_local_ports_and_a_temporary_ledger() {
        let options = parse(&[]);
        assert_eq!(options.rpc_port, 8899);
        assert_eq!(options.pubsub_port(), Some(8900));
        assert!(options.ledger.is_none());
        assert_eq!(options.check(), Ok(()));
    }

    #[test]
    fn the_last_port_leaves_no_room_for_pubsub() {
        let err = parse(&["--rpc-port", "65535"]).check().unwrap_err();
        assert!(err.contains("--rpc-port 65535"), "{err}");
        assert_eq!(parse(&["--rpc-port", "0"]).check(), Ok(()));
    }

    #[test]
    fn a_ledger_that_is_a_file_is_refused_by_name() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().to_str().unwrap();
        let err = parse(&["--ledger", path]).check().unwrap_err();
        assert!(
            err.contains("--ledger") && err.contains("not a directory"),
            "{err}"
        );
    }

    #[test]
    fn a_ledger_directory_that_is_not_empty_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("genesis.bin"), b"old").unwrap();
        let path = dir.path().to_str().unwrap();
        let err = parse(&["--ledger", path]).check().unwrap_err();
        assert!(
            err.contains("not empty") && err.contains("cannot resume"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(dir.path().join("genesis.bin")).unwrap(),
            b"old"
        );
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            parse(&["--ledger", empty.path().to_str().unwrap()]).check(),
            Ok(())
        );
    }

    #[test]
    fn keep_ledger_with_a_given_ledger_is_contradictory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let err = parse(&["--ledger", path, "--keep-ledger"])
            .check()
            .unwrap_err();
        assert!(err.contains("--keep-ledger"), "{err}");
    }

    #[test]
    fn a_ready_file_in_a_missing_directory_is_refused() {
        let err = parse(&["--ready-file", "/nonexistent-dir/ready.json"])
            .check()
            .unwrap_err();
        assert!(err.contains("--ready-file"), "{err}");
    }
}
