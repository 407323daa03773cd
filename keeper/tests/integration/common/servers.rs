//! What the tests that start real servers (etcd, nats-server) share: finding the binary
//! and reading the end of its log.

use std::path::{Path, PathBuf};

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
