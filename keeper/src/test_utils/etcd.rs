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

use super::loopback::free_port;

use super::servers::{server_binary, tail, ServerProcess};
use super::tls::TestCa;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
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
    /// Served over TLS: (certificate, key, CA certificate).
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// Auth enabled: the root user's token for [`Etcd::admin`] calls.
    root_token: Option<String>,
}

impl Etcd {
    /// A running etcd, or `None` when etcd is not installed (see [`etcd_binary`]).
    ///
    /// The ports were free when picked, but tests run in parallel and another process can
    /// take one before etcd binds it: then etcd exits with "address already in use", and
    /// it is started again on fresh ports and a fresh data directory (a few times).
    pub async fn start() -> Option<Self> {
        Self::start_with(None).await
    }

    /// [`Etcd::start`], serving clients over TLS with `ca`'s server certificate.
    pub async fn start_tls(ca: &TestCa) -> Option<Self> {
        let (cert, key) = ca.server();
        Self::start_with(Some((cert, key, ca.ca()))).await
    }

    async fn start_with(tls: Option<(PathBuf, PathBuf, PathBuf)>) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let process = ServerProcess::new("etcd", dir.path().join("etcd.log"));
        let mut etcd = Self {
            binary: etcd_binary()?,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
            process,
            tls,
            root_token: None,
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
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// An HTTP client that trusts this etcd's certificate, if it has one.
    fn http(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some((_, _, ca)) = &self.tls {
            let pem = std::fs::read(ca).unwrap();
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    }

    /// Calls the gateway at `path` with `body` as root once auth is on; panics on an
    /// error answer.
    async fn admin(&self, path: &str, body: Value) -> Value {
        let mut request = self.http().post(format!("{}{path}", self.url()));
        if let Some(token) = &self.root_token {
            request = request.header("Authorization", token);
        }
        let answer = request.body(body.to_string()).send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert!(status.is_success(), "etcd {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Turns auth on: a root user, and `user` with `password` and read-write access
    /// to the keys under `prefix` only (what a keeper's account gets).
    pub async fn enable_auth(&mut self, user: &str, password: &str, prefix: &str) {
        let b64 = |text: &str| STANDARD.encode(text);
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().unwrap() += 1;
        let end = STANDARD.encode(&end);
        let root_password = "root-pass";
        for (path, body) in [
            (
                "/v3/auth/user/add",
                json!({"name": "root", "password": root_password}),
            ),
            (
                "/v3/auth/user/grant",
                json!({"user": "root", "role": "root"}),
            ),
            ("/v3/auth/role/add", json!({"name": "keepers"})),
            (
                "/v3/auth/role/grant",
                json!({"name": "keepers", "perm": {"permType": "READWRITE",
                    "key": b64(prefix), "range_end": end}}),
            ),
            (
                "/v3/auth/user/add",
                json!({"name": user, "password": password}),
            ),
            (
                "/v3/auth/user/grant",
                json!({"user": user, "role": "keepers"}),
            ),
            ("/v3/auth/enable", json!({})),
        ] {
            self.admin(path, body).await;
        }
        let answer = self
            .admin(
                "/v3/auth/authenticate",
                json!({"name": "root", "password": root_password}),
            )
            .await;
        self.root_token = Some(answer["token"].as_str().unwrap().to_string());
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
        if let Some((cert, key, _)) = &self.tls {
            command
                .arg("--cert-file")
                .arg(cert)
                .arg("--key-file")
                .arg(key);
        }
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
        let http = self.http();
        // Answered (an auth error counts: it is up) once etcd serves clients.
        let range = format!("{client}/v3/maintenance/status");
        self.process
            .start(command, async || {
                let answer = http
                    .post(&range)
                    .body("{}")
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
