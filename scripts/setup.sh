#!/usr/bin/env bash
# Sets up a fresh machine, builds everything, and runs the main job:
#   scripts/setup.sh              -> the keeper sandbox: an in-process Agave bank with
#                                    example threads of every trigger kind, executed by
#                                    the real keeper pipeline (no validator, no network);
#                                    it prints the dashboard's address
#   scripts/setup.sh --localnet   -> a local validator with the thread program (JSON-RPC,
#                                    PubSub, faucet; loopback only) and example threads,
#                                    and the keeper daemon executing them over the wire for
#                                    LOCALNET_SECONDS (60); the first build takes ~30 min
#   scripts/setup.sh <RPC_URL>    -> the keeper daemon against that cluster
#                                    (keypair: ~/.config/solana/id.json or --keypair via
#                                    KEEPER_KEYPAIR; health on 127.0.0.1:9464)
# Extra arguments after the URL go to `keeper run`. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "toolchain"
if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust 1.95 (https://rustup.rs) and run this again" >&2
    exit 1
fi
rustc --version >&2
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "build (program, keeper, tests; the first build takes ~6-10 min on 2 cores)"
cargo build --workspace --all-targets

if [ $# -eq 0 ]; then
    step "keeper sandbox"
    exec ./target/debug/keeper sandbox --seconds "${SANDBOX_SECONDS:-30}"
fi

if [ "$1" = "--localnet" ]; then
    shift
    exec scripts/localnet-demo.sh "$@"
fi

url=$1
shift
step "keeper run against $url"
exec ./target/debug/keeper --rpc-url "$url" run "$@"
