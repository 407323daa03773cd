//! A real etcd for the keeper's fleet tests (the `etcd-server` Debian package, 3.4):
//! [`Etcd::start`] runs one member on free loopback ports with its data in a temporary
//! directory (never the system one on 2379), and kills it on drop.
//!
//! Without an `etcd` binary [`Etcd::start`] answers `None` after a loud message, and the
//! test returns early: skipped, unless `CI` is set, in which case a missing etcd fails
//! it. `scripts/test.sh` installs etcd.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use keeper::test_utils::loopback::free_port;

use super::servers::{server_binary, tail, ServerProcess};
use tempfile::TempDir;

/// The `etcd` binary (`$ETCD_BIN`, else the first on `PATH`); see [`server_binary`].
pub fn etcd_binary() -> Option<PathBuf> {
    server_binary("etcd", "ETCD_BIN", "etcd-server", "Fleet leadership")
}

/// An etcd of its own: one member on loopback, its data in a temporary directory.
/// Killed on drop.
pub struct Etcd {
    /// First, so it is killed before its directory goes.
    process: ServerProcess,
    binary: PathBuf,
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
}

impl Etcd {
    /// A running etcd, or `None` when etcd is not installed (see [`etcd_binary`]).
    ///
    /// The ports were free when picked, but tests run in parallel and another process can
    /// take one before etcd binds it: then etcd exits with "address already in use", and
    /// it is started again on fresh ports and a fresh data directory (a few times).
    pub async fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let process = ServerProcess::new("etcd", dir.path().join("etcd.log"));
        let mut etcd = Self {
            binary: etcd_binary()?,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
            process,
        };
        for _ in 0..5 {
            match etcd.try_spawn().await {
                Ok(()) => return Some(etcd),
                Err(log) if log.contains("address already in use") => {
                    std::fs::remove_dir_all(etcd.dir.path().join("data")).ok();
                    std::fs::remove_file(etcd.log()).ok();
                    etcd.client_port = free_port();
                    etcd.peer_port = free_port();
                }
                Err(log) => panic!("etcd exited:\n{log}"),
            }
        }
        panic!(
            "etcd found no free ports in 5 tries:\n{}",
            tail(&etcd.log())
        );
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn log(&self) -> PathBuf {
        self.process.log().to_path_buf()
    }

    /// Starts the process on the same data directory and ports, and waits until it
    /// answers.
    pub async fn spawn(&mut self) {
        if let Err(log) = self.try_spawn().await {
            panic!("etcd exited:\n{log}");
        }
    }

    /// [`Etcd::spawn`], or the tail of etcd's log when it exits before answering.
    async fn try_spawn(&mut self) -> Result<(), String> {
        let client = self.url();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut command = Command::new(&self.binary);
        command
            .arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("default={peer}")]);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let range = format!("{client}/v3/kv/range");
        self.process
            .start(command, async || {
                let answer = http
                    .post(&range)
                    .body(r#"{"key":"AA=="}"#)
                    .timeout(Duration::from_millis(500))
                    .send()
                    .await;
                answer.is_ok_and(|a| a.status().is_success())
            })
            .await
    }

    /// SIGKILL: etcd is gone at once, without a word to its clients.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}
