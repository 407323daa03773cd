#!/usr/bin/env bash
# Sets up a fresh machine and builds everything: checks the toolchain, fetches crates,
# builds the program, the keeper and the test harness, and shows the keeper's resolved
# configuration. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust 1.95 (https://rustup.rs) and run this again" >&2
    exit 1
fi
rustc --version
cargo --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "build (program, keeper, tests; first run takes ~6 min on 2 cores)"
cargo build --workspace --all-targets

step "keeper"
if ./target/debug/keeper config; then
    :
else
    echo "(the keeper needs a keypair: create one with 'solana-keygen new' or pass --keypair)"
fi
printf '\nBuilt. Run all tests with: scripts/test.sh\n'
