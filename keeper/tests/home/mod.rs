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
        self.write(".config/solana/id.json", &json);
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
