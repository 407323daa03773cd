//! A fake home directory for runs of the real `keeper` binary (`mod home;` in the CLI
//! test files): the binary runs with an empty environment and HOME pointed here, so
//! nothing depends on the machine's own Solana setup.

#![allow(dead_code)] // each test file uses its own part of it

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use keeper::test_utils::loopback::{respond, Answer, Loopback};
use solana_sdk::signature::Keypair;
use tokio::net::TcpStream;

pub struct Home(tempfile::TempDir);

impl Home {
    pub fn new() -> Self {
        Home(tempfile::tempdir().expect("temp dir"))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes `contents` at `rel` below the home, creating directories; returns the path.
    pub fn write(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        path
    }

    /// Writes a fresh keypair where `solana-keygen new` would, and returns it.
    pub fn default_keypair(&self) -> Keypair {
        let keypair = Keypair::new();
        let json = serde_json::to_vec(&keypair.to_bytes().to_vec()).unwrap();
        let path = self.write(".config/solana/id.json", &json);
        // Owner-only, as solana-keygen writes it: the keeper warns about anything looser.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        keypair
    }

    /// A store file in the home (not created).
    pub fn store_path(&self) -> PathBuf {
        self.path().join("keeper.sqlite")
    }

    /// The binary with `args`, only HOME (and `vars`) in its environment.
    pub fn command(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keeper"));
        command
            .args(args)
            .env_clear()
            .env("HOME", self.path())
            .envs(vars.iter().copied());
        command
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A JSON-RPC endpoint on loopback that records the body of every request and answers
/// each with a JSON-RPC error, so a test can tell what the binary asked of the chain
/// (`sendTransaction`, or anything at all).
pub struct RecordingRpc {
    pub url: String,
    bodies: Arc<Bodies>,
    _server: Loopback,
}

#[derive(Default)]
struct Bodies(Mutex<Vec<String>>);

#[async_trait]
impl Answer for Bodies {
    async fn answer(&self, body: Vec<u8>, stream: &mut TcpStream) -> bool {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        let error = br#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"unavailable"},"id":1}"#;
        respond(stream, 200, error, true).await
    }
}

impl RecordingRpc {
    pub fn start() -> Self {
        let bodies = Arc::new(Bodies::default());
        let server = Loopback::start(bodies.clone());
        RecordingRpc {
            url: server.url(),
            bodies,
            _server: server,
        }
    }

    /// Every request body received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.0.lock().unwrap().clone()
    }

    /// Fails the test if any request reached this endpoint: for runs that must stop
    /// before they touch the chain.
    pub fn assert_unasked(&self) {
        let bodies = self.bodies();
        assert!(bodies.is_empty(), "asked the chain: {bodies:?}");
    }
}

/// Sends signal `name` (`TERM`, `HUP`, `INT`, `STOP`, ...) to `child` with kill(1).
pub fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

/// Waits up to `limit` for `child` to exit, killing it (and failing) if it does not.
pub fn wait_with_limit(mut child: std::process::Child, limit: std::time::Duration) -> Output {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the keeper did not stop within {limit:?}; stderr: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
