#!/usr/bin/env bash
# Fleet load harness (keeper/examples/fleet_load.rs): builds it in release and runs keeper
# daemons sharing work through a real nats-server, leadership through a real etcd, on one
# in-process bank: first one keeper, then three, each on 10,000 fresh threads falling due
# within one simulated minute. Prints executions per second of each, the ratio, how the
# work was shared, and checks every thread ran exactly once. The README records the
# latest figures with the command that made them. Needs nats-server and etcd (the Debian
# packages nats-server and etcd-server; scripts/test.sh installs them).
#
#   scripts/fleet-load.sh            # the README's figures (~5 minutes after the build)
#   scripts/fleet-load.sh --quick    # 1,000 threads due over 6 s: a smoke run (~30 s)
#   scripts/fleet-load.sh --keepers 4 --spread-secs 10   # extra flags go to the harness
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"

args=(--threads 10000 --spread-secs 60 --keepers 3)
if [[ "${1:-}" == "--quick" ]]; then
    shift
    args=(--threads 1000 --spread-secs 6 --keepers 3 --drain-secs 60)
fi

exec cargo run --release -p keeper --example fleet_load -- "${args[@]}" "$@"
