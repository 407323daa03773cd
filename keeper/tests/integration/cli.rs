//! The real `keeper` binary, run with an empty environment and HOME pointed
//! at a fresh temp dir, so nothing depends on the machine's own Solana setup.

use std::process::Output;

use crate::home::{stderr, stdout, Home};

use solana_sdk::{signature::Keypair, signer::Signer};

const OTHER_ID: &str = "11111111111111111111111111111111";

/// The binary run from `home` with only HOME (and `vars`) in its environment.
fn run(home: &Home, args: &[&str], vars: &[(&str, &str)]) -> Output {
    home.command(args, vars).output().expect("run keeper")
}

/// The row for `name` in `keeper config` output: the words after the name.
fn row<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&name))
        .map(|cols| cols[1..].to_vec())
        .unwrap_or_else(|| panic!("no {name} row in:\n{text}"))
}

#[test]
fn config_prints_defaults_and_the_pubkey() {
    let home = Home::new();
    let keypair = home.default_keypair();
    let out = run(&home, &["config"], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(
        row(&text, "pubkey"),
        [&*keypair.pubkey().to_string(), "[keypair_path]"]
    );
    assert_eq!(
        row(&text, "rpc_url"),
        ["http://127.0.0.1:8899", "[default]"]
    );
    assert_eq!(
        row(&text, "ws_url"),
        ["ws://127.0.0.1:8900", "[derived", "from", "rpc_url]"]
    );
    assert_eq!(
        row(&text, "program_id"),
        ["Ft6MdnsXTQt94meJ2SY1pe8UX5ZncJ5V3TVd8XR5rydz", "[default]"]
    );
    let keypair_path = home.path().join(".config/solana/id.json");
    assert_eq!(
        row(&text, "keypair_path"),
        [&*keypair_path.display().to_string(), "[default]"]
    );
    assert!(text.lines().any(|l| l == "files read    none"), "{text}");
    // The secret half never reaches the output.
    let secret = serde_json::to_string(&keypair.to_bytes()[..32].to_vec()).unwrap();
    assert!(!text.contains(secret.trim_matches(['[', ']'])));
}

#[test]
fn config_shows_each_value_with_its_layer() {
    let home = Home::new();
    let cli = home.write(
        ".config/solana/cli/config.yml",
        b"---\njson_rpc_url: \"https://api.devnet.solana.com\"\nwebsocket_url: ''\n\
          keypair_path: ~/keys/op.json # operator key\ncommitment: finalized\n",
    );
    let keypair = Keypair::new();
    let json = serde_json::to_vec(&keypair.to_bytes().to_vec()).unwrap();
    home.write("keys/op.json", &json);
    let toml = home.write("keeper.toml", b"log_level = \"warn\"\n");

    let out = run(
        &home,
        &[
            "--config",
            toml.to_str().unwrap(),
            "config",
            "-u",
            "testnet",
        ],
        &[("KEEPER_PROGRAM_ID", OTHER_ID)],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(
        row(&text, "rpc_url"),
        ["https://api.testnet.solana.com", "[--rpc-url]"]
    );
    assert_eq!(row(&text, "program_id"), [OTHER_ID, "[KEEPER_PROGRAM_ID]"]);
    let cli_source = format!("{}]", cli.display());
    assert_eq!(
        row(&text, "commitment"),
        ["finalized", "[Solana", "CLI", "config", &*cli_source]
    );
    let toml_source = format!("{}]", toml.display());
    assert_eq!(
        row(&text, "log_level"),
        ["warn", "[keeper", "config", &*toml_source]
    );
    assert_eq!(row(&text, "pubkey")[0], keypair.pubkey().to_string());
}

#[test]
fn config_shows_the_daemon_settings_with_their_layers() {
    let home = Home::with_default_keypair();
    let toml = home.write(
        "keeper.toml",
        b"[daemon]\nworkers = 8\ntick_ms = 250\n[daemon.leases]\nlease_slots = 3000\n",
    );
    let toml_source = format!("{}]", toml.display());

    let out = run(&home, &["--config", toml.to_str().unwrap(), "config"], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let from_file = |value| vec![value, "[keeper", "config", &*toml_source];
    assert_eq!(row(&text, "daemon.workers"), from_file("8"));
    assert_eq!(row(&text, "daemon.tick_ms"), from_file("250"));
    assert_eq!(row(&text, "daemon.leases.lease_slots"), from_file("3000"));
    assert_eq!(
        row(&text, "daemon.leases.renew_below_slots"),
        ["500", "[default]"]
    );
    assert_eq!(
        row(&text, "daemon.health_addr"),
        ["127.0.0.1:9464", "[default]"]
    );

    // The environment is above the file.
    let out = run(
        &home,
        &["--config", toml.to_str().unwrap(), "config"],
        &[("KEEPER_WORKERS", "2")],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(row(&text, "daemon.workers"), ["2", "[KEEPER_WORKERS]"]);
}

#[test]
fn missing_keypair_fails_with_how_to_create_one() {
    let home = Home::new();
    let out = run(&home, &["config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let path = home.path().join(".config/solana/id.json");
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "error: keypair file {p} does not exist; create one with `solana-keygen new -o {p}`",
            p = path.display()
        )
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn corrupt_keypair_fails_naming_the_problem() {
    let home = Home::new();
    let path = home.write("bad.json", b"[1, 2, 3");
    let out = run(&home, &["config", "--keypair", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: keypair file {} is not JSON",
            path.display()
        )),
        "{err}"
    );

    let mut bytes = Keypair::new().to_bytes();
    bytes[40] ^= 0xff;
    let path = home.write(
        "mismatch.json",
        &serde_json::to_vec(&bytes.to_vec()).unwrap(),
    );
    let out = run(&home, &["-k", path.to_str().unwrap(), "config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "error: keypair file {} is not a valid ed25519 keypair: its public key does not \
             match its secret key",
            path.display()
        )
    );
}

#[test]
fn bad_program_id_fails_naming_field_and_layer() {
    let home = Home::with_default_keypair();
    let out = run(&home, &["config"], &[("KEEPER_PROGRAM_ID", "abc")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        r#"error: program_id "abc" from KEEPER_PROGRAM_ID is not a base58 public key"#
    );

    let out = run(&home, &["config", "--program-id", "not-a-key"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        r#"error: program_id "not-a-key" from --program-id is not a base58 public key"#
    );
}

#[test]
fn bad_rpc_url_fails_naming_field_and_flag() {
    let home = Home::with_default_keypair();
    let out = run(&home, &["config", "--rpc-url", "ftp://x"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        r#"error: invalid rpc_url "ftp://x" from --rpc-url: expected http(s) URL"#
    );
}

#[test]
fn unknown_key_in_keeper_config_fails_naming_it() {
    let home = Home::with_default_keypair();
    let toml = home.write(
        "keeper.toml",
        b"rpc_url = \"http://x\"\nprogramid = \"y\"\n",
    );
    let out = run(
        &home,
        &["config"],
        &[("KEEPER_CONFIG", toml.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: keeper config {} is invalid",
            toml.display()
        )),
        "{err}"
    );
    assert!(err.contains("unknown field `programid`"), "{err}");
}

#[test]
fn no_subcommand_prints_help() {
    let home = Home::new();
    let out = run(&home, &[], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("Usage: keeper [OPTIONS] <COMMAND>"), "{err}");
    assert!(err.contains("config"), "{err}");
}
