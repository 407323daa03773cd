//! The process's stop signals, for the binary's long-running commands (`run`,
//! `sandbox`): the first stops cleanly, a second exits at once.
//!
//! Must not: stop anything itself but the process on the second signal.

/// The stop signals, registered at once (a signal that arrives while the keeper starts
/// is kept, not fatal). The returned future completes on the first SIGINT, SIGTERM or
/// SIGHUP with its name: the caller stops cleanly. SIGHUP stops too rather than reloading:
/// the settings reach every subsystem at start, and half a reload is worse than a restart
/// under the supervisor. After the first, any second stop signal ends the process at
/// once with 128 + its number. That loses nothing the store holds: every write is one
/// SQLite transaction (WAL), and the executor commits an execution's row before it sends
/// it, so what was sent is on disk and the next start replays it; leases not yet handed
/// back expire on chain.
pub fn stop_signals(
) -> std::io::Result<impl std::future::Future<Output = &'static str> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        async fn next(
            int: &mut Signal,
            term: &mut Signal,
            hup: &mut Signal,
        ) -> (&'static str, i32) {
            tokio::select! {
                _ = int.recv() => ("SIGINT", 2),
                _ = term.recv() => ("SIGTERM", 15),
                _ = hup.recv() => ("SIGHUP", 1),
            }
        }
        Ok(async move {
            let (first, _) = next(&mut int, &mut term, &mut hup).await;
            tokio::spawn(async move {
                let (second, number) = next(&mut int, &mut term, &mut hup).await;
                eprintln!(
                    "{second} again: exiting now; unconfirmed executions stay in the store \
                     for the next start, leases not handed back expire"
                );
                std::process::exit(128 + number);
            });
            first
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                eprintln!("Ctrl-C again: exiting now");
                std::process::exit(130);
            });
            "Ctrl-C"
        })
    }
}
