//! `localnet`: start a local validator with the thread program, print where it serves,
//! and run until SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use localnet::options::Options;
use localnet::validator::Localnet;

fn main() -> ExitCode {
    let options = Options::parse();
    if let Err(problem) = options.check() {
        eprintln!("localnet: {problem}");
        return ExitCode::from(2);
    }
    eprintln!("localnet: starting the validator (4-10 s)");
    let localnet = match Localnet::start(&options) {
        Ok(localnet) => localnet,
        Err(err) => {
            eprintln!("localnet: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("localnet: cannot build a runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(&options, &localnet));
    eprintln!("localnet: stopping");
    drop(localnet);
    eprintln!("localnet: stopped");
    code
}

/// Creates the example threads if asked, announces the endpoints, then waits for a
/// signal to stop.
async fn serve(options: &Options, localnet: &Localnet) -> ExitCode {
    let endpoints = &localnet.endpoints;
    if options.example_threads {
        match localnet::examples::create(&endpoints.rpc_url).await {
            Ok((owner, threads)) => {
                println!(
                    "example threads (owner {}):",
                    solana_sdk::signer::Signer::pubkey(&owner)
                );
                for thread in threads {
                    let kind = if thread.durable {
                        "durable"
                    } else {
                        "not durable"
                    };
                    println!("  {:<18} {} ({kind})", thread.label, thread.address);
                }
            }
            Err(err) => {
                eprintln!("localnet: creating the example threads failed: {err:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", endpoints.describe());
    if let Some(path) = &options.ready_file {
        if let Err(err) = endpoints.write(path) {
            eprintln!("localnet: {err:#}");
            return ExitCode::FAILURE;
        }
    }
    println!("Stop with Ctrl-C (SIGINT) or SIGTERM.");
    match wait_for_stop_signal().await {
        Ok(name) => {
            eprintln!("localnet: {name} received");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("localnet: cannot listen for signals: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_stop_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    })
}
