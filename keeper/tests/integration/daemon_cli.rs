//! `keeper run` given bad input: the real binary, run with an empty environment and HOME
//! pointed at a fresh temp dir. Each mistake is reported on stderr, naming what is wrong
//! and where it came from, with exit status 1, before the keeper connects anywhere,
//! binds its health port or creates its store.

use std::{fs, path::PathBuf, time::Duration};

use crate::home::{stderr, stdout, wait_with_limit, Home};

/// What a run printed, and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// How a run is told where its config file is.
enum ConfigNamed {
    ByFlag,
    ByEnv,
}

/// `keeper run` from a fake home, which also holds the store path the runs are given.
impl Home {
    /// `keeper run <args>` against an address nothing listens on, with a health port of
    /// the system's choosing and the store in the temp dir. A run that has not ended
    /// after 20 s (it got past the checks and is running) is killed and fails the test.
    fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let child = self.keeper_run(args, vars).spawn().expect("run keeper");
        let out = wait_with_limit(child, Duration::from_secs(20));
        Run {
            code: out.status.code(),
            stdout: stdout(&out),
            stderr: stderr(&out),
        }
    }

    /// `keeper run` with `contents` as its config file (keeper.toml in the home),
    /// named as `named` says; returns the file's path and the run.
    fn run_with_config(&self, contents: &[u8], named: ConfigNamed) -> (PathBuf, Run) {
        let toml = self.write("keeper.toml", contents);
        let path = toml.to_str().unwrap();
        let run = match named {
            ConfigNamed::ByFlag => self.run(&["--config", path], &[]),
            ConfigNamed::ByEnv => self.run(&[], &[("KEEPER_CONFIG", path)]),
        };
        (toml, run)
    }

    /// The run failed with `error: ...` on stderr alone, and left nothing behind.
    fn assert_refused(&self, run: &Run) {
        assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
        assert_eq!(run.stdout, "");
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        assert!(!self.store_path().exists(), "the store was created");
    }
}

#[test]
fn run_refuses_a_config_value_of_the_wrong_type_showing_the_key() {
    let home = Home::with_default_keypair();
    let (toml, run) = home.run_with_config(
        b"commitment = \"confirmed\"\nrpc_url = 5\n",
        ConfigNamed::ByFlag,
    );

    home.assert_refused(&run);
    assert_eq!(
        run.stderr,
        format!(
            "error: keeper config {} is invalid at rpc_url: TOML parse error at line 2, column \
             11\n  \
             |\n2 | rpc_url = 5\n  |           ^\ninvalid type: integer `5`, expected a \
             string\n\n",
            toml.display()
        )
    );
}

#[test]
fn run_refuses_a_config_file_that_is_not_toml_showing_where() {
    let home = Home::with_default_keypair();
    let (toml, run) =
        home.run_with_config(b"rpc_url = \"http://localhost:8899\n", ConfigNamed::ByEnv);

    home.assert_refused(&run);
    let first = run.stderr.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "error: keeper config {} is invalid: TOML parse error at line 1, column 33",
            toml.display()
        )
    );
    assert!(
        run.stderr.contains("1 | rpc_url = \"http://localhost:8899"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("invalid basic string"),
        "{}",
        run.stderr
    );
}

#[test]
fn run_refuses_a_bad_config_value_naming_the_field_and_the_file() {
    let home = Home::with_default_keypair();
    let (toml, run) = home.run_with_config(b"commitment = \"fast\"\n", ConfigNamed::ByFlag);

    home.assert_refused(&run);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "error: invalid commitment \"fast\" from keeper config {}: expected processed, \
             confirmed or finalized",
            toml.display()
        )
    );
}

#[test]
fn run_refuses_an_unknown_config_key_listing_the_known_ones() {
    let home = Home::with_default_keypair();
    let (_, run) = home.run_with_config(
        b"rpc-url = \"http://localhost:8899\"\n",
        ConfigNamed::ByFlag,
    );

    home.assert_refused(&run);
    assert!(
        run.stderr.contains(
            "unknown field `rpc-url`, expected one of `rpc_url`, `ws_url`, `keypair_path`, \
             `program_id`, `log_level`, `commitment`, `store_path`, `daemon`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn run_refuses_a_bad_daemon_setting_naming_the_key_and_the_file() {
    let home = Home::with_default_keypair();
    let (toml, run) = home.run_with_config(
        b"[daemon]\ntick_ms = 250\nworkers = 0\n[daemon.leases]\nlease_slots = 3000\n",
        ConfigNamed::ByFlag,
    );

    home.assert_refused(&run);
    assert_eq!(
        run.stderr,
        format!(
            "error: invalid daemon.workers \"0\" from keeper config {}: expected 1 to 4096\n",
            toml.display()
        )
    );
}

#[test]
fn run_refuses_an_unknown_daemon_key_naming_its_full_path() {
    let home = Home::with_default_keypair();
    let (toml, run) =
        home.run_with_config(b"[daemon.leases]\nlease_slotz = 3000\n", ConfigNamed::ByEnv);

    home.assert_refused(&run);
    let first = run.stderr.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "error: keeper config {} is invalid at daemon.leases.lease_slotz: TOML parse error \
             at line 2, column 1",
            toml.display()
        )
    );
    assert!(
        run.stderr
            .contains("unknown field `lease_slotz`, expected one of `lease_slots`"),
        "{}",
        run.stderr
    );
}

#[test]
fn run_without_a_keypair_says_how_to_create_one() {
    let home = Home::new();

    let run = home.run(&[], &[]);

    home.assert_refused(&run);
    let path = home.path().join(".config/solana/id.json");
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "error: keypair file {p} does not exist; create one with `solana-keygen new -o {p}`",
            p = path.display()
        )
    );
}

#[test]
fn run_with_an_unreadable_keypair_names_the_file() {
    let home = Home::new();
    // A directory: unreadable as a file whoever runs the test (root ignores modes).
    let dir = home.path().join("keys");
    fs::create_dir_all(&dir).unwrap();

    let run = home.run(&["--keypair", dir.to_str().unwrap()], &[]);

    home.assert_refused(&run);
    assert!(
        run.stderr.starts_with(&format!(
            "error: keypair file {} cannot be read: ",
            dir.display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn run_with_a_corrupt_keypair_names_the_file_not_its_bytes() {
    let home = Home::new();
    let path = home.write("id.json", b"[201, 173, 97");

    let run = home.run(&[], &[("KEEPER_KEYPAIR", path.to_str().unwrap())]);

    home.assert_refused(&run);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "error: keypair file {} is not JSON (expected a JSON array of 64 bytes, as written \
             by solana-keygen): error at line 1, column 13",
            path.display()
        )
    );
    let message = run.stderr.replace(&path.display().to_string(), "");
    assert!(!message.contains("173"), "no byte of the file is shown");
}

#[test]
fn run_for_another_program_id_is_refused_naming_both() {
    let home = Home::with_default_keypair();
    let other = "11111111111111111111111111111111";
    let expected = format!(
        "error: program_id {other} is not the thread program this keeper was built for ({}); \
         the account layout and instructions would not match",
        thread::ID
    );

    let run = home.run(&["--program-id", other], &[]);
    home.assert_refused(&run);
    assert_eq!(run.stderr.trim_end(), expected);

    let run = home.run(&[], &[("KEEPER_PROGRAM_ID", other)]);
    home.assert_refused(&run);
    assert_eq!(run.stderr.trim_end(), expected);

    let (_, run) = home.run_with_config(
        format!("program_id = \"{other}\"\n").as_bytes(),
        ConfigNamed::ByFlag,
    );
    home.assert_refused(&run);
    assert_eq!(run.stderr.trim_end(), expected);
}

#[test]
fn run_with_a_program_id_that_is_no_key_names_its_layer() {
    let home = Home::with_default_keypair();

    let run = home.run(&["--program-id", "thread-program"], &[]);

    home.assert_refused(&run);
    assert_eq!(
        run.stderr.trim_end(),
        r#"error: program_id "thread-program" from --program-id is not a base58 public key"#
    );
}
