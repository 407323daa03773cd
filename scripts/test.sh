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

step "cargo test"
cargo test --workspace
