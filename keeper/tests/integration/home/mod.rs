//! A fake home directory for runs of the real `keeper` binary (`crate::home` in the CLI
//! tests): the binary runs with an empty environment and HOME pointed here, so nothing
//! depends on the machine's own Solana setup.

use std::{
    fs,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
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

    /// A home whose default keypair is in place: where `keeper run` starts by default.
    pub fn with_default_keypair() -> Self {
        let home = Self::new();
        home.default_keypair();
        home
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

    /// `keeper run <args>` from this home against an RPC address nothing listens on (it
    /// runs, finding nothing), with a health port of the system's choosing and the
    /// store in the home; stdout and stderr piped.
    pub fn keeper_run(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut command = self.command(&["run"], vars);
        command
            .args(args)
            .args(["-u", "http://127.0.0.1:9", "--health-addr", "127.0.0.1:0"])
            .arg("--store")
            .arg(self.store_path())
            .current_dir(self.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
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
pub fn wait_with_limit(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the keeper did not stop within {limit:?}; stderr: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One output of a running child (its stdout or stderr), read line by line on a thread
/// of its own, so a test can wait for a line while the child runs.
pub struct Lines {
    incoming: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Lines {
    pub fn follow(pipe: impl Read + Send + 'static) -> Self {
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            incoming,
            seen: Vec::new(),
        }
    }

    /// The next line (kept in `seen` too), or `None` if the output ended or `deadline`
    /// passed first.
    pub fn next_before(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.incoming.recv_timeout(left).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Reads until a line contains `text`; false if none did within `within`.
    pub fn wait_for(&mut self, text: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while let Some(line) = self.next_before(deadline) {
            if line.contains(text) {
                return true;
            }
        }
        false
    }

    /// Reads the rest, until the output ends or stays silent for five seconds.
    pub fn drain(&mut self) {
        while let Ok(line) = self.incoming.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
    }

    pub fn text(&self) -> String {
        self.seen.join("\n")
    }
}
