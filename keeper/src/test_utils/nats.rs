//! A real NATS server with JetStream for the fleet tests (Debian's `nats-server`, 2.9):
//! [`Nats::start`] runs one on a free loopback port with its JetStream store in a
//! temporary directory, optionally with user/password auth or TLS, and kills it on drop. It can
//! be killed and started again on the same port and store, for outage tests.

use std::path::PathBuf;
use std::process::Command;

use super::loopback::free_port;
use crate::fleet::FleetConfig;
use tempfile::TempDir;

use super::servers::{server_binary, tail, ServerProcess};
use super::tls::TestCa;

/// A nats-server of its own. Killed on drop.
pub struct Nats {
    /// First, so it is killed before its store goes.
    process: ServerProcess,
    binary: PathBuf,
    dir: TempDir,
    port: u16,
    auth: Option<(String, String)>,
    /// Served over TLS only: (certificate, key, CA certificate).
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl Nats {
    /// A running server without auth, or `None` when nats-server is not installed.
    pub async fn start() -> Option<Self> {
        Self::start_with(None).await
    }

    /// A running server that admits only `user` with `password`.
    pub async fn start_with_password(user: &str, password: &str) -> Option<Self> {
        Self::start_with(Some((user.into(), password.into()))).await
    }

    /// A running server that takes TLS connections only, with `ca`'s server certificate.
    pub async fn start_tls(ca: &TestCa) -> Option<Self> {
        let (cert, key) = ca.server();
        Self::start_configured(None, Some((cert, key, ca.ca()))).await
    }

    async fn start_with(auth: Option<(String, String)>) -> Option<Self> {
        Self::start_configured(auth, None).await
    }

    async fn start_configured(
        auth: Option<(String, String)>,
        tls: Option<(PathBuf, PathBuf, PathBuf)>,
    ) -> Option<Self> {
        let binary = server_binary(
            "nats-server",
            "NATS_SERVER_BIN",
            "nats-server",
            "The fleet queue",
        )?;
        let dir = tempfile::tempdir().unwrap();
        let mut nats = Self {
            process: ServerProcess::new("nats-server", dir.path().join("nats.log")),
            binary,
            dir,
            port: free_port(),
            auth,
            tls,
        };
        // A port free when picked can be taken before the server binds it (tests run in
        // parallel): then it is started again on another.
        for _ in 0..5 {
            match nats.try_spawn().await {
                Ok(()) => return Some(nats),
                Err(log) if log.contains("address already in use") => {
                    nats.port = free_port();
                    std::fs::remove_file(nats.log()).ok();
                }
                Err(log) => panic!("nats-server exited:\n{log}"),
            }
        }
        panic!(
            "nats-server found no free port in 5 tries:\n{}",
            tail(&nats.log())
        );
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.process.log().to_path_buf()
    }

    /// The fleet settings of a keeper using this server (the password in a file of the
    /// server's temporary directory).
    pub fn config(&self) -> FleetConfig {
        let mut config = FleetConfig {
            nats_urls: vec![self.url()],
            ..FleetConfig::default()
        };
        if let Some((_, _, ca)) = &self.tls {
            config.ca_file = Some(ca.clone());
        }
        if let Some((user, password)) = &self.auth {
            let path = self.dir.path().join("password");
            std::fs::write(&path, format!("{password}\n")).unwrap();
            config.user = Some(user.clone());
            config.password_file = Some(path);
        }
        config
    }

    /// Starts the server again on the same port and JetStream store.
    pub async fn spawn(&mut self) {
        if let Err(log) = self.try_spawn().await {
            panic!("nats-server exited:\n{log}");
        }
    }

    async fn try_spawn(&mut self) -> Result<(), String> {
        // The log is appended to across restarts: only a new "ready" counts.
        let log = self.log();
        let readies = move || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches("Server is ready")
                .count()
        };
        let ready_before = readies();
        let mut command = Command::new(&self.binary);
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js"])
            .arg("-sd")
            .arg(self.dir.path().join("jetstream"));
        if let Some((user, password)) = &self.auth {
            command.args(["--user", user, "--pass", password]);
        }
        if let Some((cert, key, _)) = &self.tls {
            command
                .arg("--tls")
                .arg("--tlscert")
                .arg(cert)
                .arg("--tlskey")
                .arg(key);
        }
        self.process
            .start(command, async || readies() > ready_before)
            .await
    }

    /// SIGKILL: the server is gone at once.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}
