//! The real `threads` binary: argument parsing, `--help`, exit codes, and refusals that
//! happen before it opens a keypair or touches the network. Each run gets an empty
//! environment with HOME in a fresh temp dir, and an RPC URL where nothing listens, so a
//! command that got as far as the network would fail with exit code 1, not 2.

use std::path::Path;
use std::process::{Command, Output};

const NOTHING_LISTENS: &str = "http://127.0.0.1:9";
const COMMANDS: [&str; 13] = [
    "create",
    "list",
    "show",
    "explain",
    "pause",
    "resume",
    "update",
    "withdraw",
    "delete",
    "make-durable",
    "make-non-durable",
    "rotate-nonce",
    "revoke-lease",
];

fn threads(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_threads"))
        .args(args)
        .env_clear()
        .env("HOME", home)
        .output()
        .expect("run threads")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_lists_every_command_and_each_command_has_help() {
    let home = tempfile::tempdir().unwrap();
    let out = threads(home.path(), &["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in COMMANDS {
        assert!(text.contains(command), "--help lacks {command}:\n{text}");
        let sub = threads(home.path(), &[command, "--help"]);
        assert!(sub.status.success(), "{command} --help: {}", stderr(&sub));
        let sub_text = String::from_utf8_lossy(&sub.stdout);
        for flag in [
            "--rpc-url",
            "--keypair",
            "--commitment",
            "--solana-config",
            "--program-id",
            "--output",
        ] {
            assert!(sub_text.contains(flag), "{command} --help lacks {flag}");
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(threads(home.path(), &[]).status.code(), Some(2));
    assert_eq!(
        threads(home.path(), &["withdraw", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        threads(home.path(), &["list", "--output", "yaml"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_bad_spec_is_refused_with_exit_2_before_the_network() {
    let home = tempfile::tempdir().unwrap();
    let spec = home.path().join("bad.toml");
    std::fs::write(
        &spec,
        "id = \"x\"\nfee_per_exec = 1\ndeposit = 1\n[trigger]\nkind = \"cron\"\nschedule = \"every day\"\n\
         [[instructions]]\nprogram = \"MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr\"\n",
    )
    .unwrap();
    let before = std::fs::read(&spec).unwrap();
    let keypair = home.path().join("id.json");
    let secret = solana_sdk::signature::Keypair::new().to_bytes().to_vec();
    std::fs::write(&keypair, serde_json::to_string(&secret).unwrap()).unwrap();
    let out = threads(
        home.path(),
        &[
            "create",
            spec.to_str().unwrap(),
            "-u",
            NOTHING_LISTENS,
            "-k",
            keypair.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("trigger.schedule"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&spec).unwrap(),
        before,
        "the spec is never modified"
    );
}

#[test]
fn bad_addresses_amounts_and_program_ids_are_refused_with_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let runs: [(&[&str], &str); 3] = [
        (&["show", "not-a-key", "-u", NOTHING_LISTENS], "ADDRESS"),
        (
            &["list", "--owner", "zzz", "-u", NOTHING_LISTENS],
            "--owner",
        ),
        (
            &[
                "show",
                "11111111111111111111111111111111",
                "--program-id",
                "11111111111111111111111111111111",
                "-u",
                NOTHING_LISTENS,
            ],
            "--program-id",
        ),
    ];
    for (args, field) in runs {
        let out = threads(home.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(field), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn an_unreachable_cluster_is_a_failure_with_exit_1() {
    let home = tempfile::tempdir().unwrap();
    let out = threads(
        home.path(),
        &[
            "show",
            "11111111111111111111111111111111",
            "-u",
            NOTHING_LISTENS,
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("unavailable"), "{}", stderr(&out));
}
