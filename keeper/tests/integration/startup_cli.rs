//! `keeper run` start-up checks that guard the store and the chain: the real binary, run
//! with an empty environment and HOME pointed at a fresh temp dir, against a loopback
//! JSON-RPC endpoint that records what it is asked. A store that is not the keeper's,
//! cannot be written or is in use by another daemon, and a health port that is taken,
//! each stop the start with the path (or address) and a fix, before a request reaches
//! the chain.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Output, Stdio},
    time::{Duration, Instant},
};

use crate::home::{stderr, stdout, wait_with_limit, Home, RecordingRpc};
use keeper::{
    execution::builder::priority::ExecutionPriority,
    store::{NewExecution, Store},
};
use solana_sdk::{pubkey::Pubkey, signature::Signature};

/// A fresh HOME holding the default keypair, and the loopback endpoint `keeper run` is
/// pointed at: what every start-up check of `keeper run` begins with.
fn home_with_rpc() -> (Home, RecordingRpc) {
    let home = Home::with_default_keypair();
    (home, RecordingRpc::start())
}

/// `keeper run` on `store` with health on `health_addr`, against `rpc`.
fn spawn_run(home: &Home, rpc: &RecordingRpc, store: &Path, health_addr: &str) -> Child {
    home.command(&["run"], &[])
        .args(["-u", &rpc.url, "--health-addr", health_addr, "--store"])
        .arg(store)
        .current_dir(home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keeper")
}

/// A run that must be refused at start: it ends within 20 s.
fn refused_run(home: &Home, rpc: &RecordingRpc, store: &Path, health_addr: &str) -> Output {
    let out = wait_with_limit(
        spawn_run(home, rpc, store, health_addr),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "");
    // Logging may have started (the health port is bound last); the refusal ends it.
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{err}");
    out
}

/// A keeper store at `path` holding one sent, unconfirmed execution: what a restart
/// would read the chain for and send again.
fn store_with_a_row_to_replay(path: &Path) {
    let store = Store::open(path).unwrap();
    let id = store
        .persist(NewExecution {
            thread: Pubkey::new_unique(),
            exec_count_at_build: 3,
            nonce_account: None,
            nonce_value: None,
            signature: Signature::from([9; 64]),
            transaction: vec![0; 64],
            priority: ExecutionPriority::High,
            max_retries: 5,
            context: None,
            due_at: None,
        })
        .unwrap();
    store.mark_sent(id, store.now()).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn run_refuses_a_store_file_that_is_not_the_keepers_leaving_it_untouched() {
    let (home, rpc) = home_with_rpc();
    let foreign = home.path().join("app.sqlite");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ann');")
            .unwrap();
    }
    let before = fs::read(&foreign).unwrap();

    let out = refused_run(&home, &rpc, &foreign, "127.0.0.1:0");

    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} is not a keeper store", foreign.display())),
        "{err}"
    );
    assert!(
        err.contains("tables the keeper did not create: users"),
        "{err}"
    );
    assert!(err.contains("Pass --store"), "{err}");
    assert_eq!(fs::read(&foreign).unwrap(), before, "the file was changed");
    rpc.assert_unasked();
}

#[test]
fn run_refuses_a_read_only_store_file_naming_it_and_the_fix() {
    let (home, rpc) = home_with_rpc();
    let store = home.store_path();
    drop(Store::open(&store).unwrap());
    chmod(&store, 0o444);
    let before = fs::read(&store).unwrap();

    let out = refused_run(&home, &rpc, &store, "127.0.0.1:0");

    assert_eq!(
        stderr(&out),
        format!(
            "error: keeper store {0} cannot be written: the file is read-only; make it \
             writable (chmod u+w {0}) or pass --store with a writable path\n",
            store.display()
        )
    );
    assert_eq!(fs::read(&store).unwrap(), before);
    rpc.assert_unasked();
}

#[test]
fn run_refuses_a_store_in_a_read_only_directory_naming_the_directory() {
    let (home, rpc) = home_with_rpc();
    let dir = home.path().join("ro");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o555);
    let store = dir.join("keeper.sqlite");

    let out = refused_run(&home, &rpc, &store, "127.0.0.1:0");

    chmod(&dir, 0o755);
    assert_eq!(
        stderr(&out),
        format!(
            "error: keeper store {} cannot be written: its directory {1} is read-only; make \
             it writable (chmod u+w {1}) or pass --store with a writable path\n",
            store.display(),
            dir.display()
        )
    );
    assert!(!store.exists(), "the store was created");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "files left behind");
}

#[test]
fn a_second_daemon_on_the_same_store_is_refused_naming_the_first() {
    let (home, rpc) = home_with_rpc();
    let store = home.store_path();
    let mut first = spawn_run(&home, &rpc, &store, "127.0.0.1:0");
    let lock = home.path().join("keeper.sqlite.lock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::read_to_string(&lock).unwrap_or_default().trim() != first.id().to_string() {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first keeper stopped"
        );
        assert!(
            Instant::now() < deadline,
            "the first keeper never locked the store"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let second = RecordingRpc::start();
    let out = refused_run(&home, &second, &store, "127.0.0.1:0");

    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(
        stderr(&out),
        format!(
            "error: keeper store {} is in use by another keeper (pid {}) (lock file {}); \
             stop that keeper, or pass --store with another file\n",
            store.display(),
            first.id(),
            lock.display()
        )
    );
    second.assert_unasked();
}

#[test]
fn a_taken_health_port_stops_the_start_before_anything_reaches_the_chain() {
    let (home, rpc) = home_with_rpc();
    let store = home.store_path();
    store_with_a_row_to_replay(&store);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    // A restart loop: every attempt must fail the same way, having sent nothing.
    for _ in 0..2 {
        let out = refused_run(&home, &rpc, &store, &addr);
        let err = stderr(&out);
        assert!(
            err.ends_with(&format!(
                "error: cannot serve /health, /ready and /metrics on {addr}: Address already in \
                 use (os error 98); stop what holds the port or set --health-addr \
                 (daemon.health_addr) to a free one. Nothing was sent\n"
            )),
            "{err}"
        );
    }
    let bodies = rpc.bodies();
    assert!(
        bodies.iter().all(|b| !b.contains("sendTransaction")),
        "sent: {bodies:?}"
    );
    assert!(
        bodies.is_empty(),
        "asked the chain before start-up passed: {bodies:?}"
    );
    let pending = Store::open_read_only(&store).unwrap().unfinished().unwrap();
    assert_eq!(pending.len(), 1, "the row to replay is still there");
}

#[test]
fn a_keypair_others_can_read_draws_a_warning_naming_the_file_and_the_fix() {
    let home = Home::new();
    let keypair = home.default_keypair();
    let path = home.path().join(".config/solana/id.json");
    chmod(&path, 0o644);

    let out = home.command(&["config"], &[]).output().unwrap();

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "warning: keypair file {0} has mode 0644: its group and others can read or change the \
             keeper's signing key; run `chmod 600 {0}`\n",
            path.display()
        )
    );
    assert!(stdout(&out).contains(&keypair_pubkey(&keypair)));

    for (mode, warning) in [
        (0o604, "has mode 0604: others can read"),
        (0o660, "has mode 0660: its group can read"),
    ] {
        chmod(&path, mode);
        let out = home.command(&["config"], &[]).output().unwrap();
        assert!(stderr(&out).contains(warning), "{}", stderr(&out));
    }

    chmod(&path, 0o600);
    let out = home.command(&["config"], &[]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(stderr(&out), "", "no warning for an owner-only keypair");
}

fn keypair_pubkey(keypair: &solana_sdk::signature::Keypair) -> String {
    use solana_sdk::signer::Signer;
    keypair.pubkey().to_string()
}

#[test]
fn a_period_beyond_its_bound_is_refused_naming_the_key_and_the_range() {
    let (home, rpc) = home_with_rpc();
    let toml = home.write(
        "keeper.toml",
        format!("[daemon]\ntick_ms = {}\n", u64::MAX).as_bytes(),
    );
    let out = wait_with_limit(
        home.command(&["run", "--config", toml.to_str().unwrap()], &[])
            .args(["-u", &rpc.url, "--health-addr", "127.0.0.1:0"])
            .current_dir(home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: invalid daemon.tick_ms \"{}\" from keeper config {}: expected 1 to 60000\n",
            u64::MAX,
            toml.display()
        )
    );
    assert!(rpc.bodies().is_empty());
}

/// The global flags that point the keeper at a cluster, a key and a program (each with
/// a value), and the name each is refused by: no command that stays off the cluster
/// takes them.
const CLUSTER_FLAGS: [(&[&str], &str); 5] = [
    (&["-u", "http://127.0.0.1:9"], "-u/--rpc-url"),
    (&["--ws-url", "ws://127.0.0.1:9"], "--ws-url"),
    (&["-k", "/nonexistent.json"], "-k/--keypair"),
    (
        &["--program-id", "11111111111111111111111111111111"],
        "--program-id",
    ),
    (&["--commitment", "processed"], "--commitment"),
];

#[test]
fn the_sandbox_refuses_each_global_flag_it_would_ignore() {
    let home = Home::new();
    let config_files: [(&[&str], &str); 2] = [
        (&["--config", "/nonexistent.toml"], "--config"),
        (&["--solana-config", "/nonexistent.yml"], "--solana-config"),
    ];
    for (flags, name) in CLUSTER_FLAGS.into_iter().chain(config_files) {
        let out = home
            .command(flags, &[])
            .args(["sandbox", "--seconds", "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        assert_eq!(stdout(&out), "", "{flags:?} ran the sandbox");
        assert_eq!(
            stderr(&out),
            format!(
                "error: {name} does not apply to `keeper sandbox`: it runs its own in-process \
                 bank, program and keypair, and talks to no cluster; drop {name}\n"
            )
        );
    }
    let out = home
        .command(
            &[
                "--store",
                "a.sqlite",
                "sandbox",
                "--sandbox-store",
                "b.sqlite",
            ],
            &[],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("name different files"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_sandbox_honours_the_global_store() {
    let home = Home::new();
    let store = home.path().join("sandbox.sqlite");
    let out = wait_with_limit(
        home.command(
            &[
                "--store",
                store.to_str().unwrap(),
                "sandbox",
                "--seconds",
                "2",
            ],
            &[],
        )
        .current_dir(home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let counts = Store::open_read_only(&store).unwrap().counts().unwrap();
    assert!(
        counts.confirmed + counts.pending + counts.sent > 0,
        "the sandbox wrote nothing to --store: {counts:?}"
    );
}

#[test]
fn dlq_refuses_each_global_flag_it_would_ignore() {
    let home = Home::new();
    let store = home.store_path();
    drop(Store::open(&store).unwrap());
    for (flags, name) in CLUSTER_FLAGS {
        for action in [&["list"][..], &["purge", "--all"][..]] {
            let out = home
                .command(flags, &[])
                .arg("dlq")
                .args(action)
                .arg("--store")
                .arg(&store)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{flags:?} {action:?}");
            assert_eq!(stdout(&out), "");
            assert_eq!(
                stderr(&out),
                format!(
                    "error: {name} does not apply to `keeper dlq`: it reads and changes only \
                     the store file (--store); drop {name}\n"
                )
            );
        }
    }
    // The store is honoured; so is a keeper config naming it.
    let toml = home.write(
        "keeper.toml",
        format!("store_path = {:?}\n", store.to_str().unwrap()).as_bytes(),
    );
    let out = home
        .command(&["--config", toml.to_str().unwrap(), "dlq", "list"], &[])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "the dead-letter queue is empty\n");
}

/// `keeper explain` checks its input before it reads anything, and a reader never
/// writes: a bad address, a flag it would ignore and a store file that is not there are
/// each refused by name, and the missing store is not created.
#[test]
fn explain_refuses_bad_input_by_name_and_creates_no_store() {
    let home = Home::new();
    let cases: [(&[&str], &str); 3] = [
        (
            &["explain", "not-an-address"],
            "error: THREAD: \"not-an-address\" is not a base58 address; pass the thread's address",
        ),
        (
            &["--ws-url", "ws://127.0.0.1:9", "explain", "11111111111111111111111111111111"],
            "error: --ws-url does not apply to `keeper explain`: it reads over JSON-RPC only (-u); drop --ws-url",
        ),
        (
            &["--store", "missing.sqlite", "explain", "11111111111111111111111111111111"],
            "error: --store missing.sqlite",
        ),
    ];
    for (args, message) in cases {
        let out = home.command(args, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(
            stderr(&out).starts_with(message),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(
        !home.path().join("missing.sqlite").exists(),
        "a reader never writes"
    );
}
