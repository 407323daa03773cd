//! What the tests that start real servers (etcd, nats-server) share: finding the binary,
//! running it with its output in a log until it is ready, killing it, and reading the
//! end of its log.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `name` binary (`$env`, else the first on `PATH`), or `None` (with a loud message)
/// when there is none and `CI` is not set: the test returns early, skipped. Under `CI` a
/// missing binary fails the test. `package` is the Debian package that has it (which
/// `scripts/test.sh` installs), `what` what goes untested without it.
pub fn server_binary(name: &str, env: &str, package: &str, what: &str) -> Option<PathBuf> {
    let found = std::env::var_os(env)
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|dir| dir.join(name)),
        )
        .chain([PathBuf::from("/usr/sbin").join(name)])
        .find(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed and CI is set: install the {package} package \
             (scripts/test.sh does)"
        );
        eprintln!(
            "\n!!! SKIPPED: {name} is not installed (apt-get install {package}, or run \
             scripts/test.sh). {what} is NOT tested here. !!!\n"
        );
    }
    found
}

/// The last 30 lines of the log at `path`.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A server process of a test, its output appended to `log`. Killed on drop.
pub struct ServerProcess {
    name: &'static str,
    log: PathBuf,
    child: Option<Child>,
}

impl ServerProcess {
    pub fn new(name: &'static str, log: PathBuf) -> Self {
        Self {
            name,
            log,
            child: None,
        }
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Runs `command` with its output in the log, and waits until `ready` says so (polled
    /// every 20 ms, for at most 20 s). `Err`: the log's tail, when the process exits
    /// first (a port taken, say).
    pub async fn start(
        &mut self,
        mut command: Command,
        mut ready: impl AsyncFnMut() -> bool,
    ) -> Result<(), String> {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("{} starts: {e}", self.name)),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ready().await {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("({status}) {}", tail(&self.log)));
            }
            assert!(
                Instant::now() < deadline,
                "{} was not ready within 20 s:\n{}",
                self.name,
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: the server is gone at once, without a word to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
