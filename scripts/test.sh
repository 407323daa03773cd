#!/usr/bin/env bash
# Runs every check CI runs, in the order a failure is cheapest to find: formatting,
# lints (warnings are errors), then all tests of the workspace, including the program
# inside a real Agave bank. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
export RUST_LOG="${RUST_LOG:-error}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "IDL builds"
python3 scripts/idl.py

step "etcd for the fleet leadership tests"
# keeper/tests/leadership_etcd.rs starts its own etcd (loopback, free ports) and fails
# under CI without one.
if ! command -v etcd >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server
fi
etcd --version | sed -n 1p

step "cargo test"
cargo test --workspace
