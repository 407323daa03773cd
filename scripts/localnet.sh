#!/usr/bin/env bash
# Builds and runs `localnet`, a local validator with the thread program (see
# localnet/src/lib.rs and the README's "Localnet" section). It is a workspace of its own
# (localnet/), built against patched copies of three Agave crates that
# localnet/patch-crates.sh writes first, so the main workspace never links a validator.
#
#   scripts/localnet.sh build          build the localnet binary (first time ~20-30 min)
#   scripts/localnet.sh run [ARGS]     build, then run it (ARGS: see `--help`)
#   scripts/localnet.sh test           build it and the keeper, then run the over-the-wire
#                                      tests (one binary, one test at a time)
#   scripts/localnet.sh check          fmt and clippy of the localnet crate
set -euo pipefail
cd "$(dirname "$0")/.."

localnet_cargo() { (cd localnet && cargo "$@"); }

# What the validator's native dependencies need to build: libclang for bindgen
# (RocksDB, zstd bindings), a C++ compiler for the bundled RocksDB.
ensure_build_packages() {
    local missing=()
    ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || missing+=(libclang-dev)
    command -v g++ >/dev/null || missing+=(g++)
    command -v make >/dev/null || missing+=(make)
    [ ${#missing[@]} -eq 0 ] && return
    echo "localnet: installing ${missing[*]} (apt)" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# node and npm, for the TypeScript SDK example the over-the-wire tests run.
ensure_node() {
    command -v npm >/dev/null && return
    echo "localnet: installing nodejs and npm (apt)" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
}

build() {
    ensure_build_packages
    localnet/patch-crates.sh
    localnet_cargo build --bin localnet
}

case "${1:-}" in
    build)
        build
        ;;
    run)
        shift
        build
        exec localnet/target/debug/localnet "$@"
        ;;
    test)
        shift
        build
        # The tests run the real keeper and owner CLI binaries as separate processes
        # (scripts/test.sh builds them with this same selection before this step).
        cargo build -p keeper --bin keeper -p thread-cli --bin threads
        # and the TypeScript SDK's example, from the packages app/'s lock file pins.
        ensure_node
        npm ci --prefix app --no-audit --no-fund
        npm run build --prefix app
        # Each test starts its own validator (~1.6 GB RSS, two cores busy): one at a time.
        localnet_cargo test "$@" -- --test-threads=1
        ;;
    check)
        ensure_build_packages
        localnet/patch-crates.sh
        localnet_cargo fmt -- --check
        localnet_cargo clippy --all-targets -- -D warnings
        ;;
    *)
        echo "usage: scripts/localnet.sh build | run [ARGS] | test [FILTER] | check" >&2
        exit 2
        ;;
esac
