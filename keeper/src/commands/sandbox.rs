//! `keeper sandbox`: the binary's side (its flags, the stop signals, printing); the run
//! itself is `keeper::sandbox`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;

#[cfg(feature = "bank")]
use crate::runtime_with_stop;

/// What `keeper sandbox` was asked to do.
// The lean build refuses the sandbox before reading what it was asked.
#[cfg_attr(not(feature = "bank"), allow(dead_code))]
pub struct SandboxRun {
    pub seconds: u64,
    pub store: Option<PathBuf>,
    pub health_addr: SocketAddr,
    pub token_file: Option<PathBuf>,
}

#[cfg(not(feature = "bank"))]
pub fn sandbox(_run: SandboxRun) -> Result<()> {
    anyhow::bail!(
        "this keeper was built without the sandbox (the lean operator build, \
         --no-default-features, links no in-process bank); run `cargo run -p keeper -- \
         sandbox` from the repository, or build with default features"
    )
}

#[cfg(feature = "bank")]
pub fn sandbox(run: SandboxRun) -> Result<()> {
    // The bank logs every instruction at debug through its own logger unless told
    // otherwise; the sandbox prints executions itself.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    let mut options = keeper::sandbox::SandboxOptions {
        seconds: run.seconds,
        store: run.store,
        ..Default::default()
    };
    options.daemon.health_addr = Some(run.health_addr);
    options.daemon.dashboard.token_file = run.token_file;
    let (runtime, stop) = runtime_with_stop(|signal| {
        eprintln!("{signal}: stopping cleanly (a second SIGINT or SIGTERM exits at once)")
    })?;
    runtime
        .block_on(keeper::sandbox::run_until(
            options,
            |line| println!("{line}"),
            stop,
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
