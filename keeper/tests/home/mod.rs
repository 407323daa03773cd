//! A fake home directory for runs of the real `keeper` binary (`mod home;` in the CLI
//! test files): the binary runs with an empty environment and HOME pointed here, so
//! nothing depends on the machine's own Solana setup.

#![allow(dead_code)] // each test file uses its own part of it

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use solana_sdk::signature::Keypair;

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
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RecordingRpc {
    pub fn start() -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind rpc");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        let mut length = 0usize;
                        let mut line = String::new();
                        // Request line and headers, up to the blank line.
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length.min(1 << 20)];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        seen.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&body).into_owned());
                        let answer =
                            br#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"unavailable"},"id":1}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            answer.len()
                        );
                        if stream.write_all(head.as_bytes()).is_err()
                            || stream.write_all(answer).is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        RecordingRpc { url, bodies }
    }

    /// Every request body received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
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
