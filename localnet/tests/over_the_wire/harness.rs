//! The two processes under test and how a test talks to them: `Localnet` (the validator,
//! started from this crate's binary) and `Keeper` (the keeper binary the main workspace
//! builds), each stopped by a signal when the test ends.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Keypair;
use tempfile::TempDir;
use thread::state::Thread;

/// How long a validator may take to serve (the first start of a cold machine is slow).
const LOCALNET_START_WITHIN: Duration = Duration::from_secs(180);
/// How long the keeper may take to serve /health.
const KEEPER_START_WITHIN: Duration = Duration::from_secs(60);
/// How long a process may take to exit after SIGTERM: the keeper's shutdown_ms is 25 s.
const STOP_WITHIN: Duration = Duration::from_secs(60);

/// A running `localnet` process on free loopback ports, with a temporary ledger.
pub struct Localnet {
    child: Child,
    dir: TempDir,
    pub rpc_url: String,
    pub websocket_url: String,
    pub keeper_keypair: PathBuf,
    pub keeper: Pubkey,
}

impl Localnet {
    pub fn start() -> Localnet {
        Localnet::start_with(&[])
    }

    /// Starts localnet with `args` added to the flags every test uses.
    pub fn start_with(args: &[&str]) -> Localnet {
        let dir = tempfile::tempdir().expect("temp dir");
        let ready = dir.path().join("ready.json");
        let log = fs::File::create(dir.path().join("localnet.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_localnet"))
            .args(["--rpc-port", "0", "--ready-file"])
            .arg(&ready)
            .args(args)
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("localnet starts");
        let mut localnet = Localnet {
            child,
            dir,
            rpc_url: String::new(),
            websocket_url: String::new(),
            keeper_keypair: PathBuf::new(),
            keeper: Pubkey::default(),
        };
        let started = Instant::now();
        while !ready.exists() {
            if let Ok(Some(status)) = localnet.child.try_wait() {
                panic!(
                    "localnet exited ({status}) before serving:\n{}",
                    localnet.log()
                );
            }
            assert!(
                started.elapsed() < LOCALNET_START_WITHIN,
                "localnet did not serve within {LOCALNET_START_WITHIN:?}:\n{}",
                localnet.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let endpoints: Value =
            serde_json::from_slice(&fs::read(&ready).expect("ready file")).expect("ready JSON");
        let text = |key: &str| endpoints[key].as_str().expect(key).to_string();
        localnet.rpc_url = text("rpc_url");
        localnet.websocket_url = text("websocket_url");
        localnet.keeper_keypair = PathBuf::from(text("keeper_keypair"));
        localnet.keeper = text("keeper_pubkey").parse().expect("keeper pubkey");
        localnet
    }

    pub fn rpc(&self) -> RpcClient {
        RpcClient::new_with_commitment(self.rpc_url.clone(), CommitmentConfig::confirmed())
    }

    /// The keeper's keypair, as the funded file holds it.
    pub fn keeper_signer(&self) -> Keypair {
        let bytes: Vec<u8> =
            serde_json::from_slice(&fs::read(&self.keeper_keypair).expect("keypair file"))
                .expect("keypair JSON");
        Keypair::try_from(bytes.as_slice()).expect("keypair")
    }

    /// The JSON-RPC port, for a proxy in front of it.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_url
            .trim_start_matches("http://")
            .parse()
            .expect("rpc url is http://ip:port")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("localnet.log")).unwrap_or_default()
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        signal(&self.child, "TERM");
        if wait_with_limit(&mut self.child, STOP_WITHIN).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes `keypair` as a JSON keypair file `name` in `dir` (the Solana CLI's format);
/// its path.
pub fn write_keypair(dir: &Path, name: &str, keypair: &Keypair) -> PathBuf {
    let path = dir.join(name);
    let bytes = serde_json::to_vec(&keypair.to_bytes().to_vec()).expect("keypair JSON");
    fs::write(&path, bytes).expect("keypair file");
    path
}

/// How the keeper is started: its endpoints and the `[daemon]` settings a test needs.
pub struct KeeperSetup {
    pub rpc_url: String,
    pub websocket_url: String,
    pub fallback_urls: Vec<String>,
    pub keypair: PathBuf,
    pub store: PathBuf,
    /// Lines of the `[daemon]` table, e.g. `reconcile_ms = 2000`.
    pub daemon: Vec<String>,
}

impl KeeperSetup {
    /// The keeper against `localnet` directly, its store in the localnet's temp dir.
    pub fn against(localnet: &Localnet) -> KeeperSetup {
        KeeperSetup {
            rpc_url: localnet.rpc_url.clone(),
            websocket_url: localnet.websocket_url.clone(),
            fallback_urls: Vec::new(),
            keypair: localnet.keeper_keypair.clone(),
            store: localnet.dir().join("keeper.sqlite"),
            daemon: vec!["reconcile_ms = 2000".into()],
        }
    }
}

/// A running `keeper run` process.
pub struct Keeper {
    child: Option<Child>,
    pub health: SocketAddr,
    log: PathBuf,
}

impl Keeper {
    pub fn start(setup: &KeeperSetup) -> Keeper {
        let binary = keeper_binary();
        let dir = setup.store.parent().expect("store dir");
        let health = free_port();
        let config = dir.join("keeper.toml");
        fs::write(&config, format!("[daemon]\n{}\n", setup.daemon.join("\n"))).expect("config");
        let log = dir.join(format!("keeper-{}.log", health.port()));
        let out = fs::File::create(&log).expect("keeper log");
        let mut command = Command::new(binary);
        command
            .arg("--rpc-url")
            .arg(&setup.rpc_url)
            .arg("--ws-url")
            .arg(&setup.websocket_url)
            .arg("--keypair")
            .arg(&setup.keypair)
            .arg("--store")
            .arg(&setup.store)
            .arg("--config")
            .arg(&config)
            .args(["--commitment", "confirmed", "--log-level", "info", "run"])
            .arg("--health-addr")
            .arg(health.to_string());
        for url in &setup.fallback_urls {
            command.arg("--fallback-url").arg(url);
        }
        let child = command
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("keeper starts");
        let mut keeper = Keeper {
            child: Some(child),
            health,
            log,
        };
        let started = Instant::now();
        while http_get(health, "/health").is_none() {
            if let Some(Ok(Some(status))) = keeper.child.as_mut().map(|c| c.try_wait()) {
                panic!("keeper exited ({status}) at start:\n{}", keeper.log());
            }
            assert!(
                started.elapsed() < KEEPER_START_WITHIN,
                "keeper did not serve /health within {KEEPER_START_WITHIN:?}:\n{}",
                keeper.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        keeper
    }

    /// SIGTERM, then the exit status (the keeper stops within its shutdown_ms).
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(&child, "TERM");
        wait_with_limit(&mut child, STOP_WITHIN).unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "keeper did not stop within {STOP_WITHIN:?}:\n{}",
                self.log()
            )
        })
    }

    /// SIGKILL: no shutdown, no hand-back, nothing flushed beyond what was committed.
    pub fn kill_9(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }

    /// `/metrics` as text.
    pub fn metrics(&self) -> String {
        http_get(self.health, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// `/ready`: the status code and the JSON body.
    pub fn ready(&self) -> Option<(u16, Value)> {
        let (status, body) = http_get(self.health, "/ready")?;
        Some((status, serde_json::from_str(&body).ok()?))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The keeper binary the main workspace builds.
pub fn keeper_binary() -> PathBuf {
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/keeper");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p keeper` at the repository root \
         (scripts/localnet.sh test does)",
        binary.display()
    );
    binary
}

/// A loopback address nothing listens on right now.
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

fn wait_with_limit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A plain HTTP/1.1 GET on loopback: the status code and the body, `None` if nothing
/// answers.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The thread's state on chain, `None` once it is gone.
pub async fn thread_state(rpc: &RpcClient, address: &Pubkey) -> Option<Thread> {
    let account = rpc
        .get_account_with_commitment(address, CommitmentConfig::confirmed())
        .await
        .expect("getAccountInfo")
        .value?;
    Some(thread::client::decode_thread(&account.data).expect("a thread account"))
}

/// Polls `condition` every 250 ms until it holds; panics with `what` after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until each thread has executed at least `count` times on chain.
pub async fn executed_at_least(rpc: &RpcClient, threads: &[Pubkey], count: u64, limit: Duration) {
    for address in threads {
        eventually(
            limit,
            &format!("thread {address} executed {count} times"),
            || async {
                thread_state(rpc, address)
                    .await
                    .is_some_and(|t| t.exec_count >= count)
            },
        )
        .await;
    }
}
